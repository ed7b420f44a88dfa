#!/usr/bin/env python3
"""Never lose a run: the trainer under signals, crashes, bad numbers, a full
disk and damaged files (issue 6), end to end on the CPU.

Each check prints "ok - NAME" or "not ok - NAME: WHY". What is compared:
- killed and resumed runs against one uninterrupted run: the final model and
  state files must be byte-identical and every logged train loss equal (the
  CPU build is deterministic, so "identical" is the right tolerance);
- damaged files: exit status 1, exactly one stderr line naming the file, and
  every existing checkpoint byte-for-byte unchanged.
Run from the repository root (test/run_tests.sh does); needs the Brown shards.
"""
import glob
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from tap import check, failed, not_ok, ok

BIN = "./train_gpt2"


# A small GPT-2 (vocab 50257, so checkpoints are several MiB and take a while
# to write) under OMGD with short periods, shuffled data and a checkpoint at
# every step: every piece of training state has to survive a stop.
STEPS = 24
BASE = [
    "--config", "configs/default.json",
    "--set", "model.preset=", "--set", "model.depth=3", "--set", "model.channels=32",
    "--set", "model.heads=2", "--set", "model.context=32",
    "--set", "train.batch_size=2", "--set", "train.seq_len=16", "--set", "train.total_batch_tokens=64",
    "--set", "train.val_every=0", "--set", "train.sample_every=0",
    "--set", "optimizer.warmup_steps=2", "--set", "omgd.mode=omgd", "--set", "omgd.active_layers=1",
    "--set", "omgd.switch_interval=4", "--set", "data.shuffle=true",
    "--set", "output.checkpoint_every=1", "--set", "output.keep_last=3",
]


def args(run_dir, *extra, steps=STEPS):
    a = [BIN] + BASE + ["--set", f"train.steps={steps}", "--set", f"output.dir={run_dir}"]
    for e in extra:
        a += ["--set", e]
    return a


def run(cmd, env=None, preexec=None):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, preexec_fn=preexec)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def digest(path):
    return hashlib.sha256(read(path)).hexdigest()


def dir_digests(d):
    return {os.path.basename(p): digest(p) for p in sorted(glob.glob(os.path.join(d, "*_*.bin")))}


def train_losses(run_dir):
    """step -> loss string of the train lines of log.jsonl, exactly as written."""
    out = {}
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("type") == "train":
                out[rec["step"]] = rec["loss"]
    return out


def events(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(l) for l in f if '"type":"event"' in l]


def one_line_error(stderr, needle):
    lines = stderr.strip("\n").split("\n")
    return len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def final_files(run_dir):
    return (os.path.join(run_dir, f"model_{STEPS:08d}.bin"), os.path.join(run_dir, f"state_{STEPS:08d}.bin"))


def run_complete(run_dir):
    # the state file is written last: a run killed between the final model
    # file and its state file has not finished (the next resume redoes it)
    return os.path.exists(final_files(run_dir)[1])


def same_as_reference(name, run_dir, ref_dir):
    m, s = final_files(run_dir)
    rm, rs = final_files(ref_dir)
    if not (os.path.exists(m) and os.path.exists(s)):
        not_ok(name, f"{m} or its state file is missing")
        return
    check(read(m) == read(rm), f"{name}: final weights identical to the uninterrupted run", "model files differ")
    check(read(s) == read(rs), f"{name}: final optimizer/data/schedule state identical", "state files differ")
    got, want = train_losses(run_dir), train_losses(ref_dir)
    check(got == want, f"{name}: every logged train loss identical",
          f"{len(got)} vs {len(want)} steps; first difference at step "
          f"{next((k for k in sorted(want) if got.get(k) != want[k]), None)}")


def wait_for_step_line(proc, timeout=60.0):
    """Reads the trainer's stdout until its first progress line (the signal
    handlers are installed by then)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            return False
        if line.startswith("step "):
            return True
    return False


def main():
    if not glob.glob("data/brown/brown_train_*.bin"):
        not_ok("Brown shards present", "run scripts/prepare_data.sh first")
        return 1
    rng = random.Random(int(os.environ.get("ROBUSTNESS_SEED", "12345")))
    tmp = tempfile.mkdtemp(prefix="omgd_robust.")
    try:
        body(tmp, rng)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed() else 0


def body(tmp, rng):
    ref = os.path.join(tmp, "ref")
    r = run(args(ref))
    if r.returncode != 0:
        not_ok("uninterrupted reference run", r.stderr.strip()[-300:])
        return
    ok("uninterrupted reference run")
    t0 = time.time()
    run(args(os.path.join(tmp, "timing")))
    run_s = time.time() - t0

    # ---- SIGTERM at random moments, resume=latest each time
    d = os.path.join(tmp, "sigterm")
    stops, early, attempts, bad = 0, 0, 0, []
    while attempts < 60 and not run_complete(d):
        attempts += 1
        p = subprocess.Popen(args(d, "output.resume=latest"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if attempts % 3 == 1:  # any moment, start-up included
            time.sleep(rng.uniform(0.0, run_s / 3))
        else:  # during training, a few steps in: every run gets stopped several times before it completes
            wait_for_step_line(p)
            time.sleep(rng.uniform(0.0, run_s / 12))
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate()
        if p.returncode == 0 and "stopped by SIGTERM" in out:
            stops += 1
            if "--set output.resume=latest" not in out:
                bad.append("stop message does not say how to resume")
        elif p.returncode == -signal.SIGTERM:
            early += 1  # before the handlers were installed: the default action, like a crash
        elif p.returncode != 0:
            bad.append(f"exit {p.returncode}: {err.strip()[-200:]}")
    check(not bad, "SIGTERM: every stop exits 0 with a message saying how to resume", "; ".join(bad[:3]))
    check(stops >= 3, f"SIGTERM: run stopped and resumed {stops} times ({early} more before start-up finished)",
          f"only {stops} stops in {attempts} attempts")
    same_as_reference("SIGTERM/resume", d, ref)
    stopped = [e for e in events(d) if e.get("event") == "stopped"]
    check(len(stopped) >= 1 and all(e.get("signal") == "SIGTERM" for e in stopped),
          "SIGTERM: the log records the stops", f"{len(stopped)} stopped events")

    # ---- SIGKILL (a crash) at random moments and in the middle of checkpoint writes
    d = os.path.join(tmp, "sigkill")
    kills, mid_write, attempts = 0, 0, 0
    while attempts < 80 and not run_complete(d):
        attempts += 1
        p = subprocess.Popen(args(d, "output.resume=latest"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if attempts % 4 == 1:  # any moment, start-up included
            time.sleep(rng.uniform(0.0, run_s / 3))
        elif attempts % 2:  # a few steps in: a resumed run near the end may finish sooner than run_s / 3
            wait_for_step_line(p)
            time.sleep(rng.uniform(0.0, run_s / 12))
        else:  # wait for a checkpoint's temporary file to appear, then kill
            deadline = time.time() + run_s
            while time.time() < deadline and p.poll() is None and not glob.glob(os.path.join(d, "*.tmp")):
                time.sleep(0.0005)
        p.kill()
        p.wait()
        if p.returncode == -signal.SIGKILL:
            kills += 1
            if glob.glob(os.path.join(d, "*.tmp")):
                mid_write += 1
        elif p.returncode != 0:
            not_ok("SIGKILL: resumed run", f"exit {p.returncode}: {p.stderr.read()[-300:]}")
            break
        p.stdout.close()
        p.stderr.close()
    check(kills >= 3 and mid_write >= 1, f"SIGKILL: killed {kills} times, {mid_write} in the middle of a checkpoint write",
          f"{kills} kills, {mid_write} mid-write in {attempts} attempts")
    same_as_reference("SIGKILL/resume", d, ref)
    check(not glob.glob(os.path.join(d, "*.tmp")), "SIGKILL: no temporary file left once the run completes",
          str(glob.glob(os.path.join(d, "*.tmp"))))
    models = sorted(glob.glob(os.path.join(d, "model_*.bin")))
    check(len(models) == 3, "keep_last=3 holds after crashes", f"{len(models)} model files: {models}")

    # ---- a second signal exits at once, the checkpoints stay valid
    d = os.path.join(tmp, "double")
    # Two signals pending at once merge into one, so the second is sent a
    # moment later; if the run managed to stop cleanly in between, try again.
    results = []
    for delay in (0.001, 0.003, 0.001, 0.005, 0.002):
        p = subprocess.Popen(args(d, "output.resume=latest"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = wait_for_step_line(p)
        p.send_signal(signal.SIGTERM)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate()
        results.append((started, p.returncode, err.strip()[-200:]))
        if p.returncode == 128 + signal.SIGTERM:
            break
    check(all(s for s, _, _ in results) and results[-1][1] == 128 + signal.SIGTERM and "second signal" in results[-1][2]
          and all(rc == 0 for _, rc, _ in results[:-1]),
          f"double SIGTERM: exits at once with status 143 (attempt {len(results)})", str(results))
    r = run(args(d, "output.resume=latest"))
    check(r.returncode == 0 and not glob.glob(os.path.join(d, "*.tmp")),
          "double SIGTERM: the newest checkpoint verifies and the run resumes", r.stderr.strip()[-300:])
    same_as_reference("double SIGTERM/resume", d, ref)

    nonfinite(tmp, ref)
    orphans(tmp, ref)
    disk_full(tmp, ref)
    damaged_files(tmp, ref)


def nonfinite(tmp, ref):
    """OMGD_FAULT_NAN_STEP makes the gradient norm of one step NaN."""
    env = dict(os.environ, OMGD_FAULT_NAN_STEP="5")
    d = os.path.join(tmp, "nan_skip")
    r = run(args(d, "train.on_nonfinite=skip", "output.keep_last=0", steps=8), env=env)
    ev = [e for e in events(d) if e.get("event") == "nonfinite"] if os.path.exists(d) else []
    check(r.returncode == 0 and len(ev) == 1 and ev[0]["step"] == 5 and ev[0]["action"] == "skipped"
          and ev[0]["grad_norm"] is None, "NaN gradient, skip: the run goes on and logs the event",
          f"exit {r.returncode}, events {ev}")
    line5 = [json.loads(l) for l in open(os.path.join(d, "log.jsonl")) if '"type":"train","step":5,' in l]
    check(len(line5) == 1 and line5[0].get("skipped") is True and line5[0]["grad_norm"] is None,
          "NaN gradient, skip: the train line of step 5 says skipped", str(line5))
    check(read(os.path.join(d, "model_00000005.bin")) == read(os.path.join(d, "model_00000006.bin")),
          "NaN gradient, skip: update 5 was not applied (weights after step 5 = before)", "weights changed")
    check(read(os.path.join(d, "model_00000004.bin")) != read(os.path.join(d, "model_00000005.bin")),
          "NaN gradient, skip: the other updates were applied", "weights did not change at step 4")
    check("warning: step 5: non-finite" in r.stdout, "NaN gradient, skip: a warning on the console", r.stdout[-300:])

    d = os.path.join(tmp, "nan_stop")
    r = run(args(d, "train.on_nonfinite=stop", "output.checkpoint_every=0", "output.keep_last=0", steps=8), env=env)
    check(r.returncode == 1 and one_line_error(r.stderr, "non-finite") and "model_00000005.bin" in r.stderr,
          "NaN gradient, stop: exit 1 with one line naming the checkpoint", f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    check(os.path.exists(os.path.join(d, "model_00000005.bin")) and
          read(os.path.join(d, "model_00000005.bin")) == read(os.path.join(tmp, "nan_skip", "model_00000005.bin")),
          "NaN gradient, stop: the checkpoint holds the last good weights (before update 5)", "differs or missing")
    ev = [e for e in events(d) if e.get("event") == "nonfinite"] if os.path.exists(d) else []
    check(len(ev) == 1 and ev[0]["action"] == "stopped", "NaN gradient, stop: the log records the event", str(ev))
    # the stop checkpoint is a normal one: resuming without the fault finishes the run
    r = run(args(d, "output.resume=latest", "output.keep_last=0", steps=8))
    check(r.returncode == 0 and os.path.exists(os.path.join(d, "model_00000008.bin")),
          "NaN gradient, stop: the run resumes from that checkpoint", r.stderr.strip()[-300:])


def orphans(tmp, ref):
    """Pieces of checkpoints that never completed (a model file whose state
    file was never written, a rank's shard without rank 0's state file) are
    removed once older than the checkpoints keep_last keeps."""
    d = os.path.join(tmp, "orphans")
    shutil.copytree(ref, d)
    model = read(os.path.join(d, f"model_{STEPS:08d}.bin"))
    planted = [f"model_{3:08d}.bin", f"state_{4:08d}.rank001.bin"]
    for name in planted:
        with open(os.path.join(d, name), "wb") as f:
            f.write(model)
    r = run(args(d, "output.resume=latest", steps=STEPS + 1))
    left = [n for n in planted if os.path.exists(os.path.join(d, n))]
    models = sorted(glob.glob(os.path.join(d, "model_*.bin")))
    check(r.returncode == 0 and not left and len(models) == 3,
          "pieces of incomplete checkpoints are removed with the old checkpoints (keep_last=3)",
          f"exit {r.returncode}, left {left}, {len(models)} model files")


def disk_full(tmp, ref):
    """A file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail
    with EFBIG as on a full disk) below the size of one checkpoint."""
    full = os.path.join(tmp, "disk_ref")
    run(args(full, "output.keep_last=0", steps=8))
    d = os.path.join(tmp, "disk")
    shutil.copytree(full, d)
    for s in range(5, 9):  # back to the state after step 4
        for kind in ("model", "state"):
            os.remove(os.path.join(d, f"{kind}_{s:08d}.bin"))
    before = dir_digests(d)
    model_size = os.path.getsize(os.path.join(d, "model_00000004.bin"))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (model_size // 2, model_size // 2))

    r = run(args(d, "output.resume=latest", "output.keep_last=0", steps=8), preexec=limit)
    check(r.returncode == 1 and one_line_error(r.stderr, "model_00000005.bin"),
          "full disk: exit 1 with one line naming the checkpoint being written",
          f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    check(not glob.glob(os.path.join(d, "*.tmp")) and not os.path.exists(os.path.join(d, "model_00000005.bin")),
          "full disk: no temporary or half-written checkpoint left", str(os.listdir(d)))
    check(dir_digests(d) == before, "full disk: earlier checkpoints untouched", "checkpoint files changed")
    r = run(args(d, "output.resume=latest", "output.keep_last=0", steps=8))
    check(r.returncode == 0 and read(os.path.join(d, "model_00000008.bin")) == read(os.path.join(full, "model_00000008.bin")),
          "full disk: with space again the run resumes and matches an uninterrupted one", r.stderr.strip()[-300:])


def damaged_files(tmp, ref):
    """Every file the trainer reads, damaged: one clear line, exit 1, and the
    checkpoints in the run directory untouched."""
    d = os.path.join(tmp, "damage")
    shutil.copytree(ref, d)
    for f in glob.glob(os.path.join(d, "*.tmp")):
        os.remove(f)
    before = dir_digests(d)
    newest = STEPS
    model = os.path.join(d, f"model_{newest:08d}.bin")
    state = os.path.join(d, f"state_{newest:08d}.bin")
    pristine = {p: read(p) for p in (model, state)}
    shard = sorted(glob.glob("data/brown/brown_train_*.bin"))[0]
    shard_bytes = read(shard)
    tok_bytes = read("data/brown/gpt2_tokenizer.bin")

    def put(path, data):
        with open(path, "wb") as f:
            f.write(data)

    def flip(data, at):
        b = bytearray(data)
        b[at] ^= 0x40
        return bytes(b)

    def set_int(data, index, value):
        b = bytearray(data)
        struct.pack_into("<i", b, 4 * index, value)
        return bytes(b)

    explicit = [f"output.resume={model}"]
    cases = [
        # (name, file to damage, new contents, extra --set, needle in the message)
        ("model: flipped byte in a weight", model, flip(pristine[model], len(pristine[model]) - 100), explicit, "checksum"),
        ("model: truncated", model, pristine[model][:5000], explicit, "model_"),
        ("model: empty", model, b"", explicit, "model_"),
        ("model: wrong magic", model, set_int(pristine[model], 0, 1234), explicit, "checksum"),
        ("model: wrong version", model, set_int(pristine[model], 1, 5), explicit, "checksum"),
        ("model: other depth in the header", model, set_int(pristine[model], 4, 4), explicit, "model_"),
        ("state: flipped byte", state, flip(pristine[state], len(pristine[state]) // 2), explicit, "state_"),
        ("state: truncated", state, pristine[state][: len(pristine[state]) // 3], explicit, "state_"),
        ("state: empty", state, b"", explicit, "state_"),
        ("state: wrong magic", state, set_int(pristine[state], 0, 99), explicit, "state_"),
    ]
    for name, path, data, extra, needle in cases:
        put(path, data)
        r = run(args(d, *extra, steps=STEPS + 2))
        check(r.returncode == 1 and one_line_error(r.stderr, os.path.basename(path)) and needle in r.stderr,
              f"{name}: refused with one line naming the file", f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
        put(path, pristine[path])
        check(dir_digests(d) == before, f"{name}: checkpoints untouched", "a checkpoint changed")

    # resume=latest passes over a damaged newest checkpoint with a warning
    put(model, flip(pristine[model], 2000))
    r = run(args(d, "output.resume=latest", steps=STEPS + 1))
    prev = f"model_{newest - 1:08d}.bin"
    check(r.returncode == 0 and "warning" in (r.stdout + r.stderr) and f"resumed from {os.path.join(d, prev)}" in r.stdout,
          "resume=latest skips a corrupt newest checkpoint with a warning and uses the one before",
          f"exit {r.returncode}: {(r.stdout + r.stderr)[-400:]}")
    put(model, pristine[model])

    # inputs other than checkpoints; each into a fresh run directory
    bad = os.path.join(tmp, "bad_inputs")
    os.makedirs(bad)
    hdr = list(struct.unpack_from("<256i", shard_bytes))
    ntok = hdr[2]
    big_token = shard_bytes[:1024] + struct.pack("<H", 60000) + shard_bytes[1026:]
    inputs = [
        ("shard: wrong magic", "s_train_000.bin", set_int(shard_bytes, 0, 7), "data.train", "s_train_000.bin"),
        ("shard: wrong version", "v_train_000.bin", set_int(shard_bytes, 1, 9), "data.train", "v_train_000.bin"),
        ("shard: truncated", "t_train_000.bin", shard_bytes[: 1024 + ntok], "data.train", "t_train_000.bin"),
        ("shard: empty", "e_train_000.bin", b"", "data.train", "e_train_000.bin"),
        ("shard: token id beyond the vocabulary", "o_train_000.bin", big_token, "data.train", "60000"),
        ("tokenizer: wrong magic", "tok_magic.bin", set_int(tok_bytes, 0, 3), "data.tokenizer", "tok_magic.bin"),
        ("tokenizer: truncated", "tok_cut.bin", tok_bytes[: len(tok_bytes) // 2], "data.tokenizer", "tok_cut.bin"),
        ("tokenizer: empty", "tok_empty.bin", b"", "data.tokenizer", "tok_empty.bin"),
        ("replay: block index out of range", "replay_range.txt", b"0\n7\n", "omgd.replay", "replay_range.txt"),
        ("replay: not numbers", "replay_text.txt", b"0\nzero\n", "omgd.replay", "replay_text.txt"),
        ("replay: empty", "replay_empty.txt", b"", "omgd.replay", "replay_empty.txt"),
        ("config: not JSON", "cfg_bad.json", b'{"train": {', "--config", "cfg_bad.json"),
        ("config: empty", "cfg_empty.json", b"", "--config", "cfg_empty.json"),
        ("init_from: other channels in the header", "init_dim.bin", set_int(pristine[model], 6, 48), "model.init_from", "init_dim.bin"),
        ("init_from: wrong magic", "init_magic.bin", set_int(pristine[model], 0, 1234), "model.init_from", "init_magic.bin"),
        ("init_from: wrong version", "init_version.bin", set_int(pristine[model], 1, 5), "model.init_from", "init_version.bin"),
        ("init_from: truncated", "init_cut.bin", pristine[model][:100000], "model.init_from", "init_cut.bin"),
        ("init_from: empty", "init_empty.bin", b"", "model.init_from", "init_empty.bin"),
    ]
    for i, (name, fname, data, key, needle) in enumerate(inputs):
        path = os.path.join(bad, fname)
        put(path, data)
        run_dir = os.path.join(bad, f"run{i}")
        if key == "--config":
            cmd = [BIN, "--config", path]
        else:
            cmd = args(run_dir, f"{key}={path}", steps=3)
            if key == "data.tokenizer":
                cmd += ["--set", "train.sample_every=1"]
        r = run(cmd)
        check(r.returncode == 1 and one_line_error(r.stderr, needle),
              f"{name}: refused with one line", f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
        check(not glob.glob(os.path.join(run_dir, "model_*.bin")), f"{name}: refused before any checkpoint",
              "a checkpoint was written")


if __name__ == "__main__":
    sys.exit(main())
