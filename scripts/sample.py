#!/usr/bin/env python3
"""Samples from a trained model with a text prompt.

    scripts/sample.py MODEL --prompt "The meaning of life is" [sample_gpt2 options]

Encodes the prompt with the project's GPT-2 encoder (data/gpt2_bpe.py) and
runs ./sample_gpt2 (the CPU engine; --binary ./sample_gpt2cu for the GPU
engine) with --prompt-ids; every other option (--tokens, --temperature,
--top-k, --top-p, --num-samples, --seed, --tokenizer, --print-ids) is passed
through. See ./sample_gpt2 --help.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "data"))


def main(argv):
    binary = os.path.join(ROOT, "sample_gpt2")
    prompt, rest, i = None, [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("--prompt", "--binary"):
            if i + 1 >= len(argv):
                sys.exit(f"error: {a}: expected a value after it")
            if a == "--prompt":
                prompt = argv[i + 1]
            else:
                binary = argv[i + 1]
            i += 2
            continue
        rest.append(a)
        i += 1
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {binary}: not built (run make)")
    if prompt is not None:
        if prompt == "":
            sys.exit("error: --prompt: empty text (leave it out to start from <|endoftext|>)")
        from gpt2_bpe import GPT2Encoder
        try:
            ids = GPT2Encoder().encode(prompt)
        except Exception as e:  # missing vocabulary files: one line
            sys.exit(f"error: {e}")
        rest += ["--prompt-ids", ",".join(str(t) for t in ids)]
    sys.stdout.flush()
    os.execv(binary, [binary] + rest)


if __name__ == "__main__":
    main(sys.argv[1:])
