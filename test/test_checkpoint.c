// Model files (llm.c format) and training-state files: layout, round trip,
// and a clear one-line error for every kind of bad file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/crc32.h"
#include "common/error.h"
#include "model/gpt2.h"
#include "model/model_file.h"
#include "test/check.h"

static char dir[256];
static GPT2Config shape = {.max_seq_len = 9, .vocab_size = 70, .padded_vocab_size = 128,
                           .num_layers = 3, .num_heads = 2, .channels = 8};

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = xfopen(path, "wb");
    xfwrite(data, 1, n, f, path);
    xfclose(f, path);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = xfopen(path, "rb");
    *n = (size_t)xfilesize(f, path);
    char *b = xmalloc(*n, path);
    xfread(b, 1, *n, f, path);
    fclose(f);
    return b;
}

static const char *load_path;
static void load_child(void *arg) {
    GPT2 m;
    gpt2_build(&m, &shape);
    model_file_load(&m, load_path);
}

static void expect_load_error(const char *name, const void *data, size_t n, const char *needle) {
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    write_bytes(path, data, n);
    load_path = path;
    int rc = run_in_child(load_child, NULL, err, sizeof err);
    char label[128];
    snprintf(label, sizeof label, "model file rejected: %s", name);
    CHECK(rc == 1 && is_one_line_error(err, path) && strstr(err, needle), label,
          "exit %d, message: %s", rc, err);
}

static const char *state_path_arg;
static uint64_t state_bytes_arg;
static void state_child(void *arg) {
    StateReader r;
    state_reader_open(&r, state_path_arg);
    state_read_section(&r, "adamw.m", NULL, state_bytes_arg);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_checkpoint_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    // CRC-32 check value of the standard (zlib) polynomial, whole and in pieces
    uint32_t crc = crc32_update(0, "123456789", 9);
    uint32_t pieces = crc32_update(crc32_update(0, "1234", 4), "56789", 5);
    CHECK(crc == 0xCBF43926u && pieces == crc, "CRC-32 check value", "got %08x / %08x", crc, pieces);

    GPT2 a, b;
    gpt2_build(&a, &shape);
    gpt2_init_random(&a, 42);
    char path[512];
    snprintf(path, sizeof path, "%s/model_00000007.bin", dir);
    model_file_save(&a, path);

    // header and llm.c's tensor-major layout, checked against the table
    size_t n;
    char *file = read_all(path, &n);
    int *h = (int *)file;
    CHECK(h[0] == 20240326 && h[1] == 3 && h[2] == 9 && h[3] == 70 && h[4] == 3 && h[5] == 2 &&
              h[6] == 8 && h[7] == 128,
          "model file header", "got %d %d %d %d %d %d %d %d", h[0], h[1], h[2], h[3], h[4], h[5],
          h[6], h[7]);
    CHECK(n == 1024 + a.table.num_params * 4, "model file size", "%zu", n);
    // llm.c order: wte, wpe, then ln1w of all layers, ...; compare ln1b of layer 2 and fcw of layer 1
    size_t C = 8, L = 3, Vp = 128, T = 9;
    size_t off = Vp * C + T * C + L * C + 2 * C;  // wte, wpe, ln1w[3], ln1b[0..1]
    const ParamTensor *ln1b2 = &a.table.tensors[param_index(&a.table, T_LN1B, 2)];
    CHECK(memcmp(file + 1024 + off * 4, a.params + ln1b2->offset, C * 4) == 0,
          "llm.c order: ln1b of block 2", "bytes differ");
    off = Vp * C + T * C + L * C * 2 + L * 3 * C * C + L * 3 * C + L * C * C + L * C + 2 * L * C +
          1 * 4 * C * C;  // ... up to fcw[1]
    const ParamTensor *fcw1 = &a.table.tensors[param_index(&a.table, T_FCW, 1)];
    CHECK(memcmp(file + 1024 + off * 4, a.params + fcw1->offset, 4 * C * C * 4) == 0,
          "llm.c order: fcw of block 1", "bytes differ");
    size_t lnf_off = n - 2 * C * 4;
    const ParamTensor *lnfw = &a.table.tensors[param_index(&a.table, T_LNFW, 0)];
    CHECK(memcmp(file + lnf_off, a.params + lnfw->offset, 2 * C * 4) == 0,
          "llm.c order: lnfw, lnfb last", "bytes differ");

    // round trip
    gpt2_build(&b, &shape);
    model_file_load(&b, path);
    CHECK(memcmp(a.params, b.params, a.table.num_params * 4) == 0, "model file round trip",
          "parameters differ after save + load");
    CHECK(checkpoint_step_from_path(path) == 7, "step from checkpoint name", "wrong step");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *leftover = fopen(tmp, "rb");
    CHECK(leftover == NULL, "no temporary file left after save", "%s exists", tmp);
    if (leftover) fclose(leftover);

    // bad model files
    expect_load_error("truncated", file, n - 5, "expected");
    expect_load_error("header_only_cut", file, 100, "header");
    expect_load_error("empty", file, 0, "header");
    char *bad = xmalloc(n + 4, "copy");
    memcpy(bad, file, n);
    ((int *)bad)[0] = 12345;
    expect_load_error("bad_magic", bad, n, "magic");
    memcpy(bad, file, n);
    ((int *)bad)[1] = 5;
    expect_load_error("fp32_data_labelled_bf16", bad, n, "not bf16");  // version 5 = bf16 weights: half the size
    memcpy(bad, file, n);
    ((int *)bad)[6] = 9;  // channels 9 with 2 heads
    expect_load_error("heads_do_not_divide", bad, n, "heads");
    memcpy(bad, file, n);
    ((int *)bad)[4] = 2;  // depth 2: size no longer matches
    expect_load_error("wrong_depth", bad, n, "bytes");
    memcpy(bad, file, n);
    bad[n] = 0;
    expect_load_error("extra_bytes", bad, n + 1, "expected");
    {
        // a valid file of another shape: refused when loading into this model
        GPT2Config other = shape;
        other.channels = 12;
        other.num_heads = 3;
        GPT2 o;
        gpt2_build(&o, &other);
        gpt2_init_random(&o, 1);
        char opath[512], err[1024];
        snprintf(opath, sizeof opath, "%s/other.bin", dir);
        model_file_save(&o, opath);
        load_path = opath;
        int rc = run_in_child(load_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "differs"), "model file of another shape rejected",
              "exit %d: %s", rc, err);
        gpt2_free(&o);
    }
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does_not_exist.bin", dir);
    {
        char err[1024];
        load_path = missing;
        int rc = run_in_child(load_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, missing), "missing model file", "exit %d: %s", rc, err);
    }

    // state file: sections round trip and rejection
    size_t np = a.table.num_params;
    float *m = xmalloc(np * 4, "m"), *v = xmalloc(np * 4, "v");
    for (size_t i = 0; i < np; i++) {
        m[i] = (float)i * 0.5f;
        v[i] = 1.0f / (float)(i + 1);
    }
    int64_t step = 7;
    char spath[512];
    checkpoint_state_path(spath, sizeof spath, dir, 7);
    StateWriter w;
    state_writer_open(&w, spath);
    state_write_section(&w, "step", &step, sizeof step);
    state_write_section(&w, "adamw.m", m, np * 4);
    state_write_zeros(&w, "zeros", 100000);
    state_write_section(&w, "adamw.v", v, np * 4);
    state_writer_commit(&w);
    float *m2 = xcalloc(np, 4, "m2"), *v2 = xcalloc(np, 4, "v2");
    char *z = xmalloc(100000, "zeros");
    memset(z, 1, 100000);
    int64_t step2 = 0;
    StateReader r;
    state_reader_open(&r, spath);
    state_read_section(&r, "adamw.v", v2, np * 4);  // any order
    state_read_section(&r, "step", &step2, sizeof step2);
    state_read_section(&r, "adamw.m", m2, np * 4);
    state_read_section(&r, "zeros", z, 100000);
    int zero = 1;
    for (int i = 0; i < 100000; i++) zero &= z[i] == 0;
    CHECK(step2 == 7 && memcmp(m, m2, np * 4) == 0 && memcmp(v, v2, np * 4) == 0 && zero &&
              !state_has_section(&r, "nope"),
          "state file sections round trip", "contents differ");
    state_reader_close(&r);
    CHECK(checkpoint_find_latest(dir) == 7, "latest complete checkpoint found", "got %ld",
          checkpoint_find_latest(dir));

    size_t sn;
    char *sfile = read_all(spath, &sn);
    struct { const char *name; size_t len; int corrupt_byte; const char *needle; } cases[] = {
        {"state_truncated", sn - 3, -1, "truncated"},
        {"state_cut_in_header", 20, -1, "truncated"},
        {"state_empty", 0, -1, "truncated"},
        {"state_bad_magic", sn, 0, "magic"},
        {"state_bad_version", sn, 4, "version"},
        {"state_bad_section_size", sn, 24 + 32 + 7, "truncated"},
        {"state_flipped_data_byte", sn, (int)sn - 100, "checksum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p2[600], err[1024], label[128];
        snprintf(p2, sizeof p2, "%s/%s.bin", dir, cases[i].name);
        if (cases[i].corrupt_byte >= 0) sfile[cases[i].corrupt_byte] ^= 0x55;
        write_bytes(p2, sfile, cases[i].len);
        if (cases[i].corrupt_byte >= 0) sfile[cases[i].corrupt_byte] ^= 0x55;
        state_path_arg = p2;
        state_bytes_arg = np * 4;
        int rc = run_in_child(state_child, NULL, err, sizeof err);
        snprintf(label, sizeof label, "state file rejected: %s", cases[i].name);
        CHECK(rc == 1 && is_one_line_error(err, p2) && strstr(err, cases[i].needle), label,
              "exit %d: %s", rc, err);
    }
    {
        // moments of a different model size
        char err[1024];
        state_path_arg = spath;
        state_bytes_arg = np * 4 + 4;
        int rc = run_in_child(state_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "adamw.m"), "state section of another size rejected",
              "exit %d: %s", rc, err);
    }

    // keep_last pruning keeps the newest complete checkpoints only
    for (long st = 8; st <= 10; st++) {
        char p3[512];
        checkpoint_model_path(p3, sizeof p3, dir, st);
        model_file_save(&a, p3);
        checkpoint_state_path(p3, sizeof p3, dir, st);
        StateWriter w3;
        state_writer_open(&w3, p3);
        state_write_section(&w3, "step", &st, sizeof st);
        state_writer_commit(&w3);
    }
    checkpoint_prune(dir, 2);
    char p4[512];
    checkpoint_model_path(p4, sizeof p4, dir, 8);
    FILE *gone = fopen(p4, "rb");
    CHECK(gone == NULL && checkpoint_find_latest(dir) == 10, "keep_last prunes older checkpoints",
          "model_8 %s, latest %ld", gone ? "still there" : "gone", checkpoint_find_latest(dir));
    if (gone) fclose(gone);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    free(file); free(bad); free(sfile); free(m); free(v); free(m2); free(v2); free(z);
    gpt2_free(&a);
    gpt2_free(&b);
    CHECK_EXIT();
}
