"""The C GPT-2 encoder (data/bpe/, build/libgpt2bpe.so) and the parallel
tokenize tool (data/tokenize_files.py) that uses it.

Checked:
  - the C encoder's ids equal those of the npm gpt-3-encoder (JavaScript,
    the project's independent reference) and of data/gpt2_bpe.py (Python,
    GPT-2's own regex semantics) on the whole Brown corpus, on hostile text
    (CRLF, tabs, every Unicode space, zero-width characters, emoji with
    joiners, flags, tag sequences, combining marks, CJK, very long words and
    runs of spaces, digits, punctuation) and on random strings drawn from
    those characters; where JavaScript's \\s is not GPT-2's (U+0085,
    U+FEFF; see test_tokenizer.py) the C encoder follows the Python one;
  - decode(encode(x)) gives back x's bytes, for all of the above;
  - invalid UTF-8 is refused at the offset Python's strict decoder gives;
  - the tool's shards are byte-identical with 1, 2 and 3 worker processes,
    with the C and the Python encoder, for text, .jsonl and .jsonl.gz input,
    in both layouts; --llmc-layout's shard sizes and names;
  - one-line errors: bad tokenizer files, bad JSON lines, lone surrogates,
    broken gzip, missing C library.
Exact equality everywhere: token ids are integers, there is no tolerance.
Needs `npm install` (node_modules/), `node` and `make bpe`.
"""
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "data"))
sys.path.insert(0, os.path.join(REPO, "test"))
import test_tokenizer as tt  # noqa: E402  (the JavaScript bridge and its inputs)

LIB = os.path.join(REPO, "build", "libgpt2bpe.so")
EOT = 50256
failures = 0


def check(cond, name, why=""):
    global failures
    if cond:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {why}")
    sys.stdout.flush()
    return cond


UNICODE_SPACES = "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
                 "\u2028\u2029\u202f\u205f\u3000"

HOSTILE = {
    "CRLF line ends": "line one\r\nline two\r\n\r\n  \r\n\rlone CR\r",
    "tabs": "\t\tindented\t code\t\t\n\t \t\n\tx\t",
    "every Unicode space, alone and in runs": "".join(f"a{c}b {c}c{c}{c}d " for c in UNICODE_SPACES)
                                              + UNICODE_SPACES * 3 + "z" + UNICODE_SPACES,
    "NBSP between words and numbers": "100\xa0km\xa0/\xa0h, M.\xa0Dupont, «\xa0citation\xa0»",
    "zero-width characters": "zero\u200bwidth\u200c non\u200djoiner\u2060word \u200b\u200b \u180e x\u00ad",
    "emoji with joiners and modifiers": "👩🏽\u200d💻 👨\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈 ❤️\u200d🔥 1️⃣ 👍🏿👍🏻 "
                                        "🧑\u200d🤝\u200d🧑",
    "flags and tag sequences": "🇯🇵🇩🇪🇬🇧🇺🇳 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f 🇦",
    "heavy combining marks": "Z\u0324\u0354\u0367\u0311\u0343a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036b "
                             "g\u030c\u0317\u035a\u031a o\u0319\u0314\u036e\u0307\u0350\u0307 \u0301\u0301\u0301",
    "decomposed Hangul and Indic clusters": "\u1112\u1161\u11ab\u1100\u1173\u11af क्षत्रिय ஸ்ரீ ශ්‍රී",
    "CJK paragraph and ideographs outside the BMP": "我们在这里测试中文分词，以及日本語のかな混じり文。"
                                                   "𠀀𠀁𠀂 𪚥 한국어도 섞어서.",
    "very long word": "a" * 5000,
    "very long repeated word": "Supercalifragilisticexpialidocious" * 150,
    "very long mixed-case word": "".join(random.Random(1).choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                                         for _ in range(4000)),
    "long run of spaces": " " * 3000 + "x" + " " * 3000,
    "long run of newlines": "a" + "\n" * 2000 + "b",
    "long mixed whitespace": (" \t" * 500) + "\n" + (" \n" * 500) + "end",
    "long run of digits": "1234567890" * 500,
    "long run of punctuation": "!?." * 1500 + " " + "-" * 2000,
    "apostrophes and contractions in runs": "''''s't're've'm'll'd's x's'''''s 's 'S 'T",
    "long URL": "https://example.com/" + "a1-_~." * 400 + "?q=" + "%20" * 300,
}


def js_comparable(text):
    # JavaScript's \s differs from GPT-2's on these two characters only
    return "\x85" not in text and "\ufeff" not in text


def random_texts(n, seed=16):
    rng = random.Random(seed)
    pool = (list("aZ09 '.,!-\t\n\r") + list(UNICODE_SPACES) + ["\x85", "\ufeff", "\u200b", "\u200d", "\u0301",
            "é", "ß", "Ω", "Я", "中", "日", "한", "😀", "🏽", "🇯", "ä", "٣", "४", "𝔘", "𝟘", "\x00", "\x1f", "'s",
            "'ll", "  ", "\u3000", "\U000e0067", "\ufe0f", "$", "€", "½", "²"])
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, 120))) for _ in range(n)]


def compare_encoders(c, ref, brown_docs):
    texts = [t for _, t in brown_docs]
    ours = [list(c.encode(t)) for t in texts]
    theirs = tt.js_encode(texts)
    bad = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    why = ""
    if bad:
        i = bad[0]
        k = tt.first_difference(ours[i], theirs[i])
        why = f"{len(bad)} documents differ, first {brown_docs[i][0]} at token {k}: C {ours[i][k:k + 5]} js {theirs[i][k:k + 5]}"
    check(not bad and len(texts) == 500,
          f"Brown corpus: {len(texts)} documents, {sum(map(len, ours)):,} tokens, C ids == JavaScript ids", why)
    check(all(ref.encode(t) == o for t, o in zip(texts, ours)), "Brown corpus: C ids == Python reference ids",
          "a document differs")
    check(all(c.decode_bytes(o) == t.encode() for t, o in zip(texts, ours)), "Brown corpus: decode(encode(x)) == x",
          "a document does not round-trip")

    cases = dict(tt.TRICKY)
    cases.update(HOSTILE)
    names = [n for n in cases if js_comparable(cases[n])]
    js = dict(zip(names, tt.js_encode([cases[n] for n in names])))
    for name, text in cases.items():
        ids = list(c.encode(text))
        want = js.get(name)
        k = tt.first_difference(ids, want) if want is not None else 0
        check((want is None or ids == want) and ids == ref.encode(text) and c.decode_bytes(ids) == text.encode(),
              f"hostile text, C == JavaScript == Python, round trip: {name}",
              f"at token {k}: C {ids[k:k + 4]} js {(want or [])[k:k + 4]} py {ref.encode(text)[k:k + 4]}")
    for name, (text, _) in tt.KNOWN_JS_DIFFERENCES.items():
        check(list(c.encode(text)) == ref.encode(text), f"where JavaScript's \\s differs, C follows GPT-2's: {name}",
              f"C {list(c.encode(text))} python {ref.encode(text)}")

    rnd = random_texts(400)
    bad_py = [t for t in rnd if list(c.encode(t)) != ref.encode(t)]
    check(not bad_py, "400 random hostile strings: C == Python reference",
          f"{len(bad_py)} differ, first {bad_py[:1]!r}")
    comparable = [t for t in rnd if js_comparable(t)]
    js_ids = tt.js_encode(comparable)
    bad_js = [t for t, j in zip(comparable, js_ids) if list(c.encode(t)) != j]
    check(not bad_js and len(comparable) > 100, f"{len(comparable)} of them (no U+0085/U+FEFF): C == JavaScript",
          f"{len(bad_js)} differ, first {bad_js[:1]!r}")
    check(all(c.decode_bytes(c.encode(t)) == t.encode() for t in rnd), "random strings round-trip", "one does not")


def test_invalid_utf8(c, InvalidUTF8):
    bad = [b"caf\xe9", b"\xff", b"\x80abc", b"a\xc0\xaf", b"\xe0\x80\x80", b"ab\xed\xa0\x80cd", b"\xf4\x90\x80\x80",
           b"abc\xe2\x82", b"\xe2\x82abc", b"ok\xf8\x88\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"x\xc2", b"good \xf0\x9f\x98"]
    for data in bad:
        try:
            data.decode("utf-8")
            want = None
        except UnicodeDecodeError as e:
            want = e.start
        got = None
        try:
            c.encode_bytes(data)
        except InvalidUTF8 as e:
            got = e.offset
        check(want is not None and got == want, f"invalid UTF-8 refused at Python's offset: {data!r}",
              f"C offset {got}, Python offset {want}")
    good = [b"\xf4\x8f\xbf\xbf", b"\xef\xbf\xbf", b"\xed\x9f\xbf", b"\xf0\x90\x80\x80", b"\xc2\x80", b"\x00\x7f"]
    ref = tt.__dict__.get("_ref")
    for data in good:
        try:
            ids = list(c.encode_bytes(data))
            ok = ids == ref.encode(data.decode("utf-8")) and c.decode_bytes(ids) == data
        except InvalidUTF8 as e:
            ok, ids = False, str(e)
        check(ok, f"valid edge of UTF-8 accepted, same ids as Python: {data!r}", f"{ids}")


def test_load_errors(CEncoder, TokenizerError, tmp):
    def err_of(enc_dir, lib=None):
        try:
            CEncoder(enc_dir, lib)
            return ""
        except TokenizerError as e:
            return str(e)

    e = err_of(tmp)
    check("encoder.json" in e and "cannot open" in e, "missing encoder.json named", e)
    d = os.path.join(tmp, "enc")
    os.makedirs(d)
    shutil.copy(os.path.join(tt.ENCODER_DIR, "encoder.json"), d)
    with open(os.path.join(tt.ENCODER_DIR, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    with open(os.path.join(d, "vocab.bpe"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:10] + ["Ġt zzzzqq"] + lines[10:]))
    e = err_of(d)
    check("vocab.bpe: line 11" in e and "not a merge" in e, "malformed merge line named with its line", e)
    with open(os.path.join(d, "encoder.json"), "w") as f:
        f.write('{"a": 0, "b": ')
    e = err_of(d)
    check("encoder.json" in e and "not a JSON object" in e, "truncated encoder.json named", e)
    with open(os.path.join(d, "encoder.json"), "w") as f:
        json.dump({"a": 0, "b": 0}, f)
    e = err_of(d)
    check("encoder.json" in e and "repeated id" in e, "repeated id in encoder.json named", e)
    e = err_of(None, os.path.join(tmp, "nolib.so"))
    check("make bpe" in e, "missing C library: says to run make bpe", e)


# --- the tool ---------------------------------------------------------------------


def run_tool(args):
    return subprocess.run([tt.PY, os.path.join(REPO, "data", "tokenize_files.py")] + args, capture_output=True,
                          text=True, cwd=REPO)


def dir_bytes(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}


def test_tool(ref, brown_docs, tmp):
    # inputs: 60 Brown documents as text files, 200 as JSON lines (plain and
    # gzip), one line holding hostile text
    txt = []
    for name, text in brown_docs[:60]:
        p = os.path.join(tmp, name + ".txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        txt.append(p)
    lines = [{"text": t, "id": n} for n, t in brown_docs[60:260]] + [{"text": HOSTILE["emoji with joiners and modifiers"]}]
    jl = os.path.join(tmp, "docs.jsonl")
    with open(jl, "w", encoding="utf-8") as f:
        for obj in lines:
            f.write(json.dumps(obj) + "\n")
    jgz = os.path.join(tmp, "more.jsonl.gz")
    with gzip.open(jgz, "wt", encoding="utf-8") as f:
        for obj in lines[:50]:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    inputs = txt + [jl, jgz]
    want_docs = [t for _, t in brown_docs[:60]] + [o["text"] for o in lines] + [o["text"] for o in lines[:50]]
    want = [i for t in want_docs for i in [EOT] + ref.encode(t)]

    for layout in ([], ["--llmc-layout"]):
        label = "llmc layout" if layout else "default layout"
        outs = {}
        for enc, w in (("c", 1), ("c", 2), ("c", 3), ("python", 2)):
            out = os.path.join(tmp, f"out_{enc}_{w}_{bool(layout)}")
            r = run_tool(["--out-dir", out, "--name", "mix", "--shard-tokens", "100000", "--workers", str(w),
                          "--encoder", enc, "--progress", "off"] + layout + inputs)
            check(r.returncode == 0, f"{label}: runs with --encoder {enc} --workers {w}",
                  f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
            outs[(enc, w)] = dir_bytes(out) if r.returncode == 0 else {}
        base = outs[("c", 1)]
        check(base and all(o == base for o in outs.values()),
              f"{label}: shards byte-identical with 1, 2, 3 workers and with the Python encoder",
              f"{[(k, sorted(v)) for k, v in outs.items() if v != base][:1]}")
        names = sorted((f for f in base if f.startswith("mix_")), key=lambda f: int(f[-10:-4]))  # by shard number
        stream, sizes = [], []
        for f in names:
            h, toks, _ = tt.read_shard(os.path.join(tmp, f"out_c_1_{bool(layout)}", f))
            stream.extend(toks)
            sizes.append(len(toks))
        if layout:
            n = len(names)
            check(names == ["mix_val_000000.bin"] + [f"mix_train_{i:06d}.bin" for i in range(1, n)]
                  and all(s == 100000 for s in sizes[:-1]) and 0 < sizes[-1] <= 100000,
                  f"llmc layout: val 000000 then train 000001..{n - 1:06d}, every shard but the last exactly "
                  f"--shard-tokens", f"{names} {sizes}")
        else:
            stream = []
            for split in ("val", "train"):
                for f in sorted(f for f in names if f"_{split}_" in f):
                    stream.extend(tt.read_shard(os.path.join(tmp, "out_c_1_False", f))[1])
        check(stream == want, f"{label}: text, .jsonl and .jsonl.gz documents in order, EOT before each, "
                              f"ids of the Python reference", f"{len(stream)} vs {len(want)} tokens")

    # --split-lines on a text file
    p = os.path.join(tmp, "lines.txt")
    with open(p, "w") as f:
        f.write("first line\n\n  \nsecond line\nthird\n")
    out = os.path.join(tmp, "lines")
    r = run_tool(["--out-dir", out, "--name", "l", "--val-docs", "1", "--split-lines", "--progress", "off", p])
    got = list(tt.read_shard(os.path.join(out, "l_train_000000.bin"))[1]) if r.returncode == 0 else []
    check(got == [EOT] + ref.encode("second line") + [EOT] + ref.encode("third"),
          "--split-lines: each non-blank line a document", f"exit {r.returncode}: {r.stderr.strip()}")

    # --progress on: a progress line with MB/s and an ETA on stderr
    r = run_tool(["--out-dir", os.path.join(tmp, "prog"), "--name", "p", "--progress", "on", "--workers", "1"] + txt)
    check(r.returncode == 0 and "MB/s" in r.stderr and "ETA" in r.stderr and "100.0%" in r.stderr,
          "--progress on: MB read, MB/s and ETA on stderr", f"stderr {r.stderr[-200:]!r}")

    # bad input: one line, exit 1, nothing left behind
    def bad_file(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    latin = bad_file("latin1.txt", b"caf\xe9\n")
    r_c = run_tool(["--out-dir", os.path.join(tmp, "e1"), "--name", "e", "--encoder", "c", latin])
    r_py = run_tool(["--out-dir", os.path.join(tmp, "e1"), "--name", "e", "--encoder", "python", latin])
    check(tt.one_line_error(r_c, "invalid byte 0xe9 at offset 3") and r_c.stderr == r_py.stderr,
          "non-UTF-8 text file: the same one-line error with both encoders", f"{r_c.stderr!r} {r_py.stderr!r}")
    good_line = json.dumps({"text": "fine"}).encode() + b"\n"
    cases = [
        ("JSON line not JSON", bad_file("b1.jsonl", good_line + b"{not json\n"), "b1.jsonl: line 2: not JSON"),
        ("JSON line without text", bad_file("b2.jsonl", good_line * 2 + b'{"txt": "x"}\n'),
         'b2.jsonl: line 3: expected an object with a "text" string'),
        ("JSON text with a lone surrogate", bad_file("b3.jsonl", good_line + b'{"text": "a\\ud800b"}\n'),
         "b3.jsonl: line 2: the text holds an unpaired surrogate (\\ud800)"),
        ("JSON line not UTF-8", bad_file("b4.jsonl", good_line + b'{"text": "caf\xe9"}\n'),
         f"b4.jsonl: line 2: not UTF-8 text (invalid byte 0xe9 at offset {len(good_line) + 13})"),
        ("broken gzip", bad_file("b5.jsonl.gz", gzip.compress(good_line * 100)[:-30]), "b5.jsonl.gz: line"),
        ("not gzip at all", bad_file("b6.jsonl.gz", b"plain text\n"), "b6.jsonl.gz: line 1: cannot read"),
    ]
    for name, path, needle in cases:
        for layout in ([], ["--llmc-layout"]):
            out = os.path.join(tmp, "err_out")
            r = run_tool(["--out-dir", out, "--name", "e", "--shard-tokens", "1000", "--workers", "2"] + layout
                         + txt[:3] + [path])
            left = [f for f in os.listdir(out) if f.startswith("e_")] if os.path.isdir(out) else []
            check(tt.one_line_error(r, needle) and not left,
                  f"refuses {name}{' (llmc layout)' if layout else ''}, leaves no shard",
                  f"exit {r.returncode}, stderr {r.stderr!r}, left {left}")
    out = os.path.join(tmp, "e3")
    r = run_tool(["--out-dir", out, "--name", "e", "--llmc-layout", "--shard-tokens", "1000000"] + txt[:3])
    check(tt.one_line_error(r, "fill only the validation shard") and not os.path.exists(os.path.join(out, "e_val_000000.bin")),
          "--llmc-layout refuses an input that fills only the validation shard, leaves no shard", r.stderr)
    r = run_tool(["--out-dir", os.path.join(tmp, "e2"), "--name", "e", "--workers", "0", txt[0]])
    check(tt.one_line_error(r, "--workers must be at least 1"), "refuses --workers 0", r.stderr)
    r = run_tool(["--out-dir", os.path.join(tmp, "e2"), "--name", "e", "--llmc-layout", "--val-docs", "1", txt[0]])
    check(tt.one_line_error(r, "not allowed with"), "refuses --llmc-layout with --val-docs", r.stderr)


def main():
    tt.setup_or_exit()
    if not os.path.isfile(LIB):
        print(f"not ok - setup: {LIB} is missing (run `make bpe`)")
        return 1
    import gpt2_bpe
    import gpt2_bpe_c
    import prepare_brown
    c = gpt2_bpe_c.CEncoder()
    ref = gpt2_bpe.GPT2Encoder()
    tt._ref = ref
    brown_docs = prepare_brown.brown_documents(tt.CORPUS_DIR)
    check(list(c.encode("Hello world")) == [15496, 995] and list(c.encode("")) == [],
          "known GPT-2 ids; empty text", f"{list(c.encode('Hello world'))}")
    compare_encoders(c, ref, brown_docs)
    test_invalid_utf8(c, gpt2_bpe_c.InvalidUTF8)
    with tempfile.TemporaryDirectory() as tmp:
        test_load_errors(gpt2_bpe_c.CEncoder, gpt2_bpe.TokenizerError, tmp)
        test_tool(ref, brown_docs, tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
