// data/tokenizer.c: loads llm.c tokenizer files (versions 1 and 2), decodes
// ids (out-of-range ids decode to ""), and refuses malformed files with one
// "error: <file>: ..." line and exit status 1. The real GPT-2 file in
// data/brown/ is checked when it exists (scripts/prepare_data.sh makes it).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "data/tokenizer.h"
#include "test/check.h"

static char scratch[4096];

static const char *tmp_path(const char *name) {
    static char buf[4][4200];
    static int next = 0;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", scratch, name);
    return p;
}

// Writes a tokenizer file: header words, then tokens (length-prefixed),
// then `extra` raw bytes; `cut` > 0 truncates the file to that many bytes.
static void write_file(const char *path, uint32_t magic, uint32_t version, uint32_t vocab, uint32_t eot,
                       const char *const *toks, const size_t *lens, int ntoks, const char *extra,
                       size_t extra_len, long cut) {
    unsigned char *buf = xmalloc(1 << 20, "test file");
    size_t n = 0;
    uint32_t header[256] = {0};
    header[0] = magic;
    header[1] = version;
    header[2] = vocab;
    header[3] = eot;
    memcpy(buf, header, sizeof header);
    n = sizeof header;
    for (int i = 0; i < ntoks; i++) {
        buf[n++] = (unsigned char)lens[i];
        memcpy(buf + n, toks[i], lens[i]);
        n += lens[i];
    }
    memcpy(buf + n, extra, extra_len);
    n += extra_len;
    if (cut > 0 && (size_t)cut < n) n = (size_t)cut;
    FILE *f = xfopen(path, "wb");
    xfwrite(buf, 1, n, f, path);
    xfclose(f, path);
    free(buf);
}

static const char *const TINY[] = {"a", "bc", "\xe2\x82", "\0z", "<|endoftext|>"};
static const size_t TINY_LEN[] = {1, 2, 2, 2, 13};
#define TINY_N 5

static void load(void *arg) {
    Tokenizer t;
    tokenizer_init(&t, (const char *)arg);
    tokenizer_free(&t);
}

// Expects loading path to fail with exit 1 and one error line containing
// the path and `needle`.
static void expect_refused(const char *name, const char *path, const char *needle) {
    char err[2048];
    int rc = run_in_child(load, (void *)path, err, sizeof err);
    int named = is_one_line_error(err, path) && (needle == NULL || strstr(err, needle) != NULL);
    CHECK(rc == 1 && named, name, "exit %d, stderr \"%s\" (wanted exit 1 naming %s%s%s)", rc, err, path,
          needle ? " and " : "", needle ? needle : "");
}

static void test_valid_v2(void) {
    const char *path = tmp_path("tiny_v2.bin");
    write_file(path, TOKENIZER_MAGIC, 2, TINY_N, 4, TINY, TINY_LEN, TINY_N, "", 0, 0);
    Tokenizer t;
    tokenizer_init(&t, path);
    CHECK(t.vocab_size == TINY_N && t.eot_token == 4, "v2 header fields", "vocab %d eot %d", t.vocab_size,
          t.eot_token);
    int same = 1;
    for (int i = 0; i < TINY_N; i++)
        same &= t.lengths[i] == TINY_LEN[i] && memcmp(t.tokens[i], TINY[i], TINY_LEN[i]) == 0 &&
                t.tokens[i][TINY_LEN[i]] == '\0';
    CHECK(same, "v2 token bytes and lengths", "a token's bytes differ");
    CHECK(strcmp(tokenizer_decode(&t, 1), "bc") == 0 && strcmp(tokenizer_decode(&t, 4), "<|endoftext|>") == 0,
          "decode ids", "got \"%s\" and \"%s\"", tokenizer_decode(&t, 1), tokenizer_decode(&t, 4));
    CHECK(strcmp(tokenizer_decode(&t, 3), "") == 0 && t.lengths[3] == 2, "token with a NUL byte",
          "decoded \"%s\"", tokenizer_decode(&t, 3));
    CHECK(strcmp(tokenizer_decode(&t, TINY_N), "") == 0 && strcmp(tokenizer_decode(&t, UINT32_MAX), "") == 0,
          "out-of-range ids decode to empty", "not empty");
    char joined[16] = {0};
    strcat(joined, tokenizer_decode(&t, 2));
    strcat(joined, "\xac");
    CHECK(strcmp(joined, "\xe2\x82\xac") == 0, "partial UTF-8 token concatenates", "bad bytes");
    tokenizer_free(&t);
    CHECK(t.tokens == NULL && strcmp(tokenizer_decode(&t, 0), "") == 0, "decode after free is safe",
          "table not cleared");
}

static void test_valid_v1(void) {
    // Version 1 (older llm.c files): GPT-2's vocabulary, EOT implied as 50256.
    enum { V = 50257 };
    const char **toks = xmalloc(V * sizeof *toks, "toks");
    size_t *lens = xmalloc(V * sizeof *lens, "lens");
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < V; i++) {
        toks[i] = &letters[i % 26];
        lens[i] = 1;
    }
    const char *path = tmp_path("v1.bin");
    write_file(path, TOKENIZER_MAGIC, 1, V, 0, toks, lens, V, "", 0, 0);
    Tokenizer t;
    tokenizer_init(&t, path);
    CHECK(t.vocab_size == V && t.eot_token == 50256 && strcmp(tokenizer_decode(&t, 27), "b") == 0,
          "v1 file: GPT-2 sizes, EOT 50256", "vocab %d eot %d", t.vocab_size, t.eot_token);
    tokenizer_free(&t);
    free(toks);
    free(lens);
}

static void test_refused(void) {
    const char *p;
    expect_refused("missing file refused", tmp_path("does_not_exist.bin"), "cannot open");

    p = tmp_path("bad_magic.bin");
    write_file(p, 20240520, 2, TINY_N, 4, TINY, TINY_LEN, TINY_N, "", 0, 0);
    expect_refused("bad magic refused (a data shard)", p, "magic");

    p = tmp_path("bad_version.bin");
    write_file(p, TOKENIZER_MAGIC, 3, TINY_N, 4, TINY, TINY_LEN, TINY_N, "", 0, 0);
    expect_refused("unknown version refused", p, "version 3");

    p = tmp_path("v1_small.bin");
    write_file(p, TOKENIZER_MAGIC, 1, TINY_N, 0, TINY, TINY_LEN, TINY_N, "", 0, 0);
    expect_refused("version 1 with a non-GPT-2 vocabulary refused", p, "version 1");

    p = tmp_path("zero_vocab.bin");
    write_file(p, TOKENIZER_MAGIC, 2, 0, 0, TINY, TINY_LEN, 0, "", 0, 0);
    expect_refused("vocabulary size 0 refused", p, "vocabulary size");

    p = tmp_path("bad_eot.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N, TINY_N, TINY, TINY_LEN, TINY_N, "", 0, 0);
    expect_refused("EOT outside the vocabulary refused", p, "end-of-text");

    p = tmp_path("short_header.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N, 4, TINY, TINY_LEN, TINY_N, "", 0, 100);
    expect_refused("file shorter than the header refused", p, "header");

    p = tmp_path("header_only.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N, 4, TINY, TINY_LEN, 0, "", 0, 0);
    expect_refused("header without tokens refused", p, "truncated");

    p = tmp_path("cut_token.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N, 4, TINY, TINY_LEN, TINY_N, "", 0, 1024 + 2 + 3 + 3 + 3 + 5);
    expect_refused("file cut inside the last token refused", p, "truncated");

    p = tmp_path("missing_token.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N + 1, 4, TINY, TINY_LEN, TINY_N, "", 0, 0);
    expect_refused("fewer tokens than the header says refused", p, "truncated");

    p = tmp_path("trailing.bin");
    write_file(p, TOKENIZER_MAGIC, 2, TINY_N, 4, TINY, TINY_LEN, TINY_N, "\x01x", 2, 0);
    expect_refused("bytes after the last token refused", p, "after the last token");

    static const char *const ZERO[] = {"a", "", "bc", "d", "e"};
    static const size_t ZERO_LEN[] = {1, 0, 2, 1, 1};
    p = tmp_path("zero_len.bin");
    write_file(p, TOKENIZER_MAGIC, 2, 5, 4, ZERO, ZERO_LEN, 5, "zz", 2, 0);
    expect_refused("zero-length token refused", p, "length 0");
}

static void test_gpt2_file(void) {
    const char *path = "data/brown/gpt2_tokenizer.bin";
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("ok - GPT-2 tokenizer file # SKIP %s missing (run scripts/prepare_data.sh)\n", path);
        return;
    }
    fclose(f);
    Tokenizer t;
    tokenizer_init(&t, path);
    CHECK(t.vocab_size == 50257 && t.eot_token == 50256, "GPT-2 tokenizer sizes", "vocab %d eot %d",
          t.vocab_size, t.eot_token);
    // "Hello world" is [15496, 995] in GPT-2; 198 is "\n", 50256 is <|endoftext|>
    char text[64] = {0};
    strcat(text, tokenizer_decode(&t, 15496));
    strcat(text, tokenizer_decode(&t, 995));
    strcat(text, tokenizer_decode(&t, 198));
    CHECK(strcmp(text, "Hello world\n") == 0, "GPT-2 tokens decode", "got \"%s\"", text);
    CHECK(strcmp(tokenizer_decode(&t, 50256), "<|endoftext|>") == 0 && strcmp(tokenizer_decode(&t, 50257), "") == 0,
          "GPT-2 EOT and first out-of-range id", "EOT \"%s\"", tokenizer_decode(&t, 50256));
    tokenizer_free(&t);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/test_tokenizer_c.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(scratch)) {
        printf("not ok - scratch directory: cannot create %s\n", scratch);
        return 1;
    }
    test_valid_v2();
    test_valid_v1();
    test_refused();
    test_gpt2_file();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", scratch);
    CHECK_EXIT();
}
