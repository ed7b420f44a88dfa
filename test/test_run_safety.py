#!/usr/bin/env python3
"""Runs that share a directory, limits and slow stops (issue 18): the ways a
run could still lose work, each tried end to end on the CPU trainer.

1. two processes in one output.dir: the second refuses without touching a file
2. resuming an older checkpoint (a branch): refused unless output.branch, and
   then the newer checkpoints and their log are moved aside, never deleted
3. no checkpoint is written with a non-finite weight; settings that make the
   update undefined are refused
4. a file-size limit (SIGXFSZ) ends in one line naming the file
5. one SIGTERM during a long sample or a long validation stops within seconds
6. files the trainer did not write are never overwritten
7. resume choices are said out loud (missing state file, steps, changed settings)
8. settings refused up front (omgd warmup, short replay file, replay comments)
9. messages that name the right thing (config not a file, --set vs file,
   the start line's values, one line under mpirun)

Each check prints "ok - NAME" or "not ok - NAME: WHY".
"""
import glob
import json
import os
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

from tap import check, failed, not_ok, ok

BIN = os.environ.get("TRAIN_GPT2", "./train_gpt2")  # another build to compare with (e.g. the code before a fix)
# tiny models: one thread each (OpenMP's spinning threads crawl on a busy 2-core machine)
os.environ["OMP_NUM_THREADS"] = "1"


# A small GPT-2 with the full vocabulary (checkpoints of ~7 MB take a moment
# to write) under OMGD: 2 blocks, one active, periods of 2 steps.
BASE = [
    "--config", "configs/default.json",
    "--set", "model.preset=", "--set", "model.depth=2", "--set", "model.channels=32",
    "--set", "model.heads=2", "--set", "model.context=32",
    "--set", "train.batch_size=2", "--set", "train.seq_len=16", "--set", "train.total_batch_tokens=64",
    "--set", "train.val_every=0", "--set", "train.sample_every=0",
    "--set", "optimizer.warmup_steps=2", "--set", "omgd.mode=omgd", "--set", "omgd.active_layers=1",
    "--set", "omgd.switch_interval=2",
]


def args(run_dir, *extra, steps=8):
    a = [BIN] + BASE + ["--set", f"train.steps={steps}", "--set", f"output.dir={run_dir}"]
    for e in extra:
        a += ["--set", e]
    return a


def run(cmd, env=None, preexec=None, timeout=300):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", env=env, preexec_fn=preexec, timeout=timeout)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def log_records(run_dir, path=None):
    with open(path or os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def one_line_error(stderr, needle):
    lines = stderr.strip("\n").split("\n")
    return len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def snapshot(d):
    """name -> bytes of every file in d (not recursive), but the lock file (whose holder changes)."""
    return {n: read(os.path.join(d, n)) for n in sorted(os.listdir(d))
            if os.path.isfile(os.path.join(d, n)) and n != ".lock"}


def model_floats_finite(path):
    """Whether an llm.c fp32 model file holds only finite numbers."""
    data = read(path)
    n = (len(data) - 1024) // 4
    import math
    vals = struct.unpack_from(f"<{n}f", data, 1024)
    return all(math.isfinite(v) for v in vals)


def steps_of(d, kind="model"):
    return sorted(int(os.path.basename(p)[len(kind) + 1:len(kind) + 9])
                  for p in glob.glob(os.path.join(d, f"{kind}_????????.bin")))


# ---------------------------------------------------------------- 1
def two_processes(tmp):
    d = os.path.join(tmp, "shared")
    first = subprocess.Popen(args(d, "output.checkpoint_every=1", "output.keep_last=2", steps=30),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    tries, refused, bad = 0, 0, []
    deadline = time.time() + 120
    while first.poll() is None and time.time() < deadline and tries < 40:
        if not glob.glob(os.path.join(d, "log.jsonl")):
            time.sleep(0.01)
            continue
        tries += 1
        extra = ["output.resume=latest"] if tries % 2 else []
        before = set(os.listdir(d))
        r = run(args(d, *extra, steps=30))
        if r.returncode == 1 and one_line_error(r.stderr, "in use"):
            refused += 1
        else:
            bad.append(f"exit {r.returncode}: {r.stderr.strip()[-200:]}")
        time.sleep(0.02)
    out, err = first.communicate(timeout=120)
    check(tries >= 5 and not bad, f"two processes: every second start ({tries}) refused in one line naming the directory in use",
          f"{tries} tries; {bad[:2]}")
    check(first.returncode == 0 and os.path.exists(os.path.join(d, "state_00000030.bin")),
          "two processes: the first run finishes with its final checkpoint", f"exit {first.returncode}: {err.strip()[-300:]}")
    # the lock dies with its process: a crash never leaves a stale lock
    p = subprocess.Popen(args(d, "output.resume=latest", steps=400), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    while p.poll() is None and "step " not in (p.stdout.readline() or "step "):
        pass
    p.kill()
    p.wait()
    r = run(args(d, "output.resume=latest", steps=31))
    check(r.returncode == 0, "two processes: after a SIGKILL the directory is free again (no stale lock)", r.stderr.strip()[-300:])


# ---------------------------------------------------------------- 2
def branch(tmp):
    d = os.path.join(tmp, "branch")
    r = run(args(d, "output.checkpoint_every=1", "output.keep_last=3", steps=8))
    if r.returncode != 0:
        not_ok("branch: first run", r.stderr[-300:])
        return
    older = os.path.join(tmp, "model_00000004.bin")  # keep_last=3 removed step 4 from the directory
    run(args(os.path.join(tmp, "branch_src"), "output.checkpoint_every=4", steps=4))
    shutil.copy(os.path.join(tmp, "branch_src", "model_00000004.bin"), older)
    shutil.copy(os.path.join(tmp, "branch_src", "state_00000004.bin"), os.path.join(tmp, "state_00000004.bin"))
    before = snapshot(d)
    changed = ["optimizer.lr=3e-4", "output.checkpoint_every=1", "output.keep_last=3"]
    r = run(args(d, f"output.resume={older}", *changed, steps=10))
    check(r.returncode == 1 and one_line_error(r.stderr, "output.branch") and snapshot(d) == before,
          "branch: resuming step 4 where step 8 exists is refused in one line naming output.branch, nothing touched",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    r = run(args(d, f"output.resume={older}", "output.branch=true", *changed, steps=10))
    aside = os.path.join(d, "history_after_00000004")
    check(r.returncode == 0 and "history_after_00000004" in r.stdout,
          "branch: with output.branch=true the run continues and says where the newer checkpoints went",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    moved = snapshot(aside) if os.path.isdir(aside) else {}
    check(all(moved.get(n) == before[n] for n in before if n.startswith(("model_", "state_"))) and
          "log.jsonl" in moved and moved["log.jsonl"] == before["log.jsonl"],
          "branch: the older run's checkpoints 6-8 and its log are moved aside byte for byte, not deleted",
          f"moved {sorted(moved)}")
    check(steps_of(d) == [8, 9, 10] and steps_of(d, "state") == [8, 9, 10],
          "branch: retention keeps this run's newest 3 checkpoints (8, 9, 10)", f"model steps {steps_of(d)}")
    check(read(os.path.join(d, "model_00000008.bin")) != before["model_00000008.bin"],
          "branch: model_00000008.bin is the branch's (trained with the new lr), not the older run's", "same bytes")
    recs = log_records(d)
    lrs = {x["step"]: x["lr"] for x in recs if x["type"] == "train"}
    ckpts = [x["step"] for x in recs if x.get("event") == "checkpoint"]
    old_lrs = {x["step"]: x["lr"] for x in log_records(None, os.path.join(aside, "log.jsonl")) if x["type"] == "train"} \
        if "log.jsonl" in moved else {}
    check(sorted(lrs) == list(range(10)) and all(lrs[s] == old_lrs.get(s) for s in range(4))
          and all(lrs[s] != old_lrs.get(s) for s in range(4, 8)) and ckpts == sorted(set(ckpts)),
          "branch: the log describes this history (steps 0-3 of the old run, 4-9 of the branch, one record per step)",
          f"steps {sorted(lrs)}, checkpoint events {ckpts}")
    check(any(x.get("event") == "branch" and x.get("step") == 4 for x in recs),
          "branch: the log records the branch", str([x for x in recs if x["type"] == "event"]))


# ---------------------------------------------------------------- 3
def nonfinite_weights(tmp):
    d = os.path.join(tmp, "eps")
    r = run(args(d, "optimizer.eps=0"))
    check(r.returncode == 1 and one_line_error(r.stderr, "optimizer.eps") and not os.path.exists(os.path.join(d, "log.jsonl")),
          "undefined update: optimizer.eps=0 (0/0 for a parameter with no gradient) refused up front",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    # a weight made NaN after update 3 (test hook): no checkpoint may hold it
    for policy in ("skip", "stop"):
        d = os.path.join(tmp, f"nanw_{policy}")
        env = dict(os.environ, OMGD_FAULT_NAN_WEIGHT_STEP="3")
        r = run(args(d, "output.checkpoint_every=1", "output.keep_last=0", f"train.on_nonfinite={policy}", steps=30), env=env)
        models = sorted(glob.glob(os.path.join(d, "model_*.bin")))
        all_finite = all(model_floats_finite(m) for m in models)
        check(r.returncode == 1 and one_line_error(r.stderr, "non-finite") and "model_00000003.bin" in r.stderr,
              f"non-finite weights ({policy}): exit 1 with one line naming the last good checkpoint (step 3)",
              f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
        check(all_finite and steps_of(d) == [0, 1, 2, 3],
              f"non-finite weights ({policy}): no checkpoint after the bad update, every written one finite",
              f"steps {steps_of(d)}, finite {all_finite}")
        r2 = run(args(d, "output.resume=latest", "output.checkpoint_every=1", steps=6))
        check(r2.returncode == 0 and os.path.exists(os.path.join(d, "state_00000006.bin")),
              f"non-finite weights ({policy}): the last good checkpoint resumes", r2.stderr.strip()[-300:])


# ---------------------------------------------------------------- 4
def file_size_limit(tmp):
    d = os.path.join(tmp, "fsize")

    def limit():  # SIGXFSZ's default action, as a shell's `ulimit -f` leaves it
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    r = run(args(d, "output.checkpoint_every=1"), preexec=limit)
    check(r.returncode == 1 and one_line_error(r.stderr, "model_00000000.bin") and "too large" in r.stderr.lower(),
          "file-size limit: exit 1 with one line naming the file (not a silent SIGXFSZ)",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    check(not glob.glob(os.path.join(d, "*.tmp")), "file-size limit: no .tmp left behind", str(os.listdir(d)) if os.path.isdir(d) else "")


# ---------------------------------------------------------------- 5
def stop_during(tmp, name, extra, marker):
    """Starts a run whose step 0 spends a long time in `marker` work (the
    loop validates and samples at step 0 first), sends one SIGTERM once it is
    in there, and times the stop."""
    d = os.path.join(tmp, name)
    p = subprocess.Popen(args(d, "output.checkpoint_every=0", *extra, steps=4),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    seen = False
    t_start = time.time()
    log = os.path.join(d, "log.jsonl")
    while time.time() - t_start < 120 and p.poll() is None:
        if os.path.exists(log) and os.path.getsize(log) > 0:  # the start event: the loop begins
            seen = True
            break
        time.sleep(0.05)
    time.sleep(1.5)
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    took = time.time() - t0
    recs = log_records(d) if os.path.exists(os.path.join(d, "log.jsonl")) else []
    stopped = [x for x in recs if x.get("event") == "stopped"]
    check(seen and p.returncode == 0 and took < 5.0 and stopped and stopped[0]["step"] == 0
          and os.path.exists(os.path.join(d, "state_00000000.bin")) and "train" not in [x["type"] for x in recs],
          f"one SIGTERM during a long {marker}: stops in {took:.1f} s (< 5) with a checkpoint of step 0",
          f"exit {p.returncode} after {took:.1f} s, stopped events {stopped}, files {os.listdir(d) if os.path.isdir(d) else []}")
    partial = [x for x in recs if x["type"] == marker]
    check(not partial, f"one SIGTERM during a long {marker}: no partial {marker} record", str(partial)[:200])
    r = run(args(d, "output.checkpoint_every=0", *extra, "output.resume=latest", "train.sample_tokens=4", "train.val_steps=2",
                 steps=4))
    check(r.returncode == 0, f"one SIGTERM during a long {marker}: the run resumes and finishes", r.stderr.strip()[-300:])


def stop_in_long_step(tmp):
    """A step of many micro-batches (here 1024, about 7 s) is cut short by
    one SIGTERM: the run stops within seconds with a checkpoint of the last
    completed step, and resuming it gives the uninterrupted run's weights."""
    long_step = ["model.channels=64", "train.batch_size=1", "train.seq_len=16", "train.total_batch_tokens=16384",
                 "optimizer.warmup_steps=0", "omgd.switch_interval=1", "output.checkpoint_every=0"]
    ref = os.path.join(tmp, "long_step_ref")
    r = run(args(ref, *long_step, steps=2))
    d = os.path.join(tmp, "long_step")
    p = subprocess.Popen(args(d, *long_step, steps=2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace")
    log = os.path.join(d, "log.jsonl")
    t_start = time.time()
    while time.time() - t_start < 120 and p.poll() is None and '"type":"train"' not in \
            (open(log).read() if os.path.exists(log) else ""):
        time.sleep(0.05)  # step 0 done: step 1 (a new mask period) is under way
    time.sleep(1.0)
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    took = time.time() - t0
    recs = log_records(d) if os.path.exists(log) else []
    steps = [x["step"] for x in recs if x["type"] == "train"]
    check(r.returncode == 0 and p.returncode == 0 and took < 3.0 and steps == [0]
          and os.path.exists(os.path.join(d, "state_00000001.bin")),
          f"one SIGTERM in a step of 1024 micro-batches: stops in {took:.1f} s (< 3) with a checkpoint of step 1",
          f"exit {p.returncode} after {took:.1f} s, train steps {steps}: {err.strip()[-200:]}")
    r = run(args(d, *long_step, "output.resume=latest", steps=2))
    check(r.returncode == 0 and os.path.exists(os.path.join(d, "model_00000002.bin"))
          and read(os.path.join(d, "model_00000002.bin")) == read(os.path.join(ref, "model_00000002.bin"))
          and read(os.path.join(d, "state_00000002.bin")) == read(os.path.join(ref, "state_00000002.bin")),
          "one SIGTERM in a long step: the resumed run ends with the uninterrupted run's weights and state, byte for byte",
          f"exit {r.returncode}: {r.stderr.strip()[-200:]}")


def slow_stops(tmp):
    stop_during(tmp, "long_sample", ["train.sample_every=2", "train.sample_tokens=65536"], "sample")
    # a wider model and the whole validation split (1,000 windows) at every val step
    stop_during(tmp, "long_val", ["model.channels=128", "model.heads=4", "model.context=64", "train.seq_len=64",
                                  "train.batch_size=1", "train.total_batch_tokens=64", "train.val_every=2",
                                  "train.val_steps=100000"], "val")


# ---------------------------------------------------------------- 6
def foreign_files(tmp):
    for name, content in (("config.json", '{"train": {"steps": 5}}\n'), ("log.jsonl", "my notes\n")):
        d = os.path.join(tmp, f"foreign_{name}")
        os.makedirs(d)
        with open(os.path.join(d, name), "w") as f:
            f.write(content)
        for extra in ([], ["output.resume=latest"]):
            r = run(args(d, *extra))
            check(r.returncode == 1 and one_line_error(r.stderr, name) and read(os.path.join(d, name)).decode() == content
                  and sorted(os.listdir(d)) in ([name], [".lock", name]),
                  f"foreign {name} in output.dir ({'resume=latest' if extra else 'fresh'}): refused, the file untouched",
                  f"exit {r.returncode}: {r.stderr.strip()[-200:]}; dir {os.listdir(d)}")
    # the trainer's own leftovers of a run killed before its first checkpoint
    d = os.path.join(tmp, "killed_early")
    p = subprocess.Popen(args(d, "output.checkpoint_every=0", steps=100000), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace")
    while p.poll() is None and not (p.stdout.readline() or "step ").startswith("step "):
        pass
    p.kill()
    p.wait()
    old_log = read(os.path.join(d, "log.jsonl"))
    r = run(args(d, steps=2))
    moved = glob.glob(os.path.join(d, "*", "log.jsonl"))
    check(r.returncode == 0 and len(moved) == 1 and read(moved[0]) == old_log and "moved" in r.stdout,
          "a run killed before its first checkpoint: a fresh start moves its log and config aside and says so",
          f"exit {r.returncode}, moved {moved}: {r.stderr.strip()[-200:]}")


# ---------------------------------------------------------------- 7
def resume_choices(tmp):
    d = os.path.join(tmp, "choices")
    run(args(d, "output.checkpoint_every=2", steps=6))
    os.remove(os.path.join(d, "state_00000006.bin"))
    r = run(args(d, "output.resume=latest", steps=6))
    check(r.returncode == 0 and "model_00000006.bin" in r.stderr and "warning" in r.stderr,
          "resume=latest warns about a newest checkpoint without its state file", r.stderr.strip()[-300:])
    before = snapshot(d)
    r = run(args(d, "output.resume=latest", steps=4))
    check(r.returncode == 1 and one_line_error(r.stderr, "train.steps") and snapshot(d) == before,
          "resume with train.steps below the checkpoint's step: refused in one line, nothing touched",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    r = run(args(d, "output.resume=latest", steps=6))
    check(r.returncode == 0 and "nothing to train" in r.stdout and snapshot(d) == before,
          "resume with train.steps at the checkpoint's step: says there is nothing to train, nothing touched",
          f"exit {r.returncode}: {r.stdout.strip()[-300:]}")
    r = run(args(d, "output.resume=latest", "omgd.mode=lisa", "train.total_batch_tokens=128", "data.shuffle=false", steps=8))
    warn = [l for l in r.stderr.splitlines() if l.startswith("warning")]
    check(r.returncode == 0 and any("omgd.mode" in l and "lisa" in l for l in warn)
          and any("train.total_batch_tokens" in l for l in warn) and any("data.shuffle" in l for l in warn),
          "resume with omgd.mode, train.total_batch_tokens and data.shuffle changed: a warning names each", str(warn))
    r = run(args(d, "output.resume=latest", "omgd.mode=omgd_tensor", "omgd.active_layers=2", steps=10))
    check(r.returncode == 1 and one_line_error(r.stderr, "omgd.mode"),
          "resume switching to omgd_tensor: refused in one line naming omgd.mode", f"exit {r.returncode}: {r.stderr.strip()[-300:]}")


# ---------------------------------------------------------------- 8
def late_refusals(tmp):
    d = os.path.join(tmp, "late")
    r = run(args(d, "omgd.warmup_steps=8"))
    check(r.returncode == 1 and one_line_error(r.stderr, "omgd.warmup_steps") and not os.path.exists(d),
          "omgd.warmup_steps at or above train.steps (masking never starts): refused up front",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    replay = os.path.join(tmp, "replay.txt")
    with open(replay, "w") as f:
        f.write("0\n1\n# a comment line\n0\n")
    d = os.path.join(tmp, "late_replay_short")  # each case in its own directory
    r = run(args(d, f"omgd.replay={replay}"))  # 8 steps / 2 per period = 4 periods
    check(r.returncode == 1 and one_line_error(r.stderr, replay) and "needs 4" in r.stderr and "step " not in r.stdout,
          "a replay file with too few periods: refused before training, naming the counts",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    with open(replay, "a") as f:
        f.write("1 # and block 1 again\n")
    d = os.path.join(tmp, "late_replay_comment")
    r = run(args(d, f"omgd.replay={replay}"))
    act = [x["active_layers"] for x in log_records(d) if x["type"] == "train"] if r.returncode == 0 else []
    check(r.returncode == 0 and act == [[0], [0], [1], [1], [0], [0], [1], [1]],
          "a # comment at the end of a replay line is accepted", f"exit {r.returncode}: {r.stderr.strip()[-200:]} {act}")


# ---------------------------------------------------------------- 9
def messages(tmp):
    d = os.path.join(tmp, "msg")
    os.makedirs(d)
    r = run([BIN, "--config", d])
    check(r.returncode == 1 and one_line_error(r.stderr, d) and "directory" in r.stderr,
          "a directory as the config: one line saying it is a directory", r.stderr.strip()[-200:])
    fifo = os.path.join(tmp, "fifo.json")
    os.mkfifo(fifo)
    try:
        r = run([BIN, "--config", fifo], timeout=10)
        check(r.returncode == 1 and one_line_error(r.stderr, fifo) and "regular file" in r.stderr,
              "a FIFO as the config: one line, no hang", r.stderr.strip()[-200:])
    except subprocess.TimeoutExpired:
        not_ok("a FIFO as the config: one line, no hang", "hung for 10 s")
    cfg = os.path.join(tmp, "warm.json")
    with open(cfg, "w") as f:
        json.dump({"optimizer": {"warmup_steps": 50}}, f)
    r = run([BIN, "--config", cfg, "--set", "train.steps=40", "--set", f"output.dir={d}/a"])
    check(r.returncode == 1 and one_line_error(r.stderr, f"{cfg}: optimizer.warmup_steps") and "--set" in r.stderr,
          "a value from the file checked against one from --set: the file named for its key, --set for the other",
          r.stderr.strip()[-300:])
    r = run([BIN, "--config", cfg, "--set", "optimizer.warmup_steps=2000", "--set", f"output.dir={d}/b"])
    check(r.returncode == 1 and one_line_error(r.stderr, "--set optimizer.warmup_steps") and cfg not in r.stderr,
          "a value from --set checked against a default: --set named, not the file", r.stderr.strip()[-300:])
    run(args(os.path.join(tmp, "msg_src"), steps=2))
    src = os.path.join(tmp, "msg_src", "model_00000002.bin")
    r = run(args(d + "/c", f"model.init_from={src}", "omgd.active_layers=3", "model.depth=2"))
    check(r.returncode == 1 and one_line_error(r.stderr, "--set omgd.active_layers"),
          "omgd.active_layers from --set beyond an init_from model's depth: --set named", r.stderr.strip()[-300:])
    r = run(args(d + "/e", "train.plan_only=true"))
    start = [l for l in r.stdout.splitlines() if l.startswith("optimizer:")]
    check(r.returncode == 0 and start and "switch_interval 2" in start[0] and "grad scale 2" in start[0],
          "the start line gives switch_interval and the grad scale as numbers", str(start))
    if shutil.which("mpirun"):
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
        r = run(["mpirun", "--oversubscribe", "-np", "2"] + args(d + "/f", "optimizer.beta1=2"), env=env, timeout=60)
        errs = [l for l in (r.stderr + r.stdout).splitlines() if "error:" in l]
        check(r.returncode != 0 and len(errs) == 1 and errs[0].startswith("error: ") and "optimizer.beta1" in errs[0],
              "under mpirun a config error is printed once, on one clean line", str(errs)[:300])
    else:
        not_ok("under mpirun a config error is printed once", "mpirun not installed")


def main():
    if not glob.glob("data/brown/brown_train_*.bin"):
        not_ok("Brown shards present", "run scripts/prepare_data.sh first")
        return 1
    only = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="omgd_safety.")
    try:
        for fn in (two_processes, branch, nonfinite_weights, file_size_limit, stop_in_long_step, slow_stops, foreign_files,
                   resume_choices, late_refusals, messages):
            if not only or fn.__name__ in only:
                fn(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed() else 0


if __name__ == "__main__":
    sys.exit(main())
