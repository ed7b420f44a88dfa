// The data loader: random reshuffling is a permutation of the windows in
// every epoch, sequential mode follows llm.c's order, positions restore
// exactly, ranks split the global sequence round robin, and bad shards (or
// positions) are refused with one line.
// Every shard is written here with tokens that encode their own position,
// so each micro-batch tells which shard and window it came from.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "data/dataloader.h"
#include "test/check.h"

#define B 3
#define T 5
#define BT (B * T)  // odd on purpose
#define VOCAB 60000
#define EPOCHS 4

static char dir[64];

// Token at position i of shard s: unique across shards for i < 10000.
static uint16_t token_at(int s, int64_t i) { return (uint16_t)(s * 10000 + i); }

static void write_shard(const char *name, int s, int64_t n, int magic, int version, int64_t claimed,
                        int extra_bytes, int bad_token_at) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = xfopen(path, "wb");
    int32_t h[256] = {0};
    h[0] = magic;
    h[1] = version;
    h[2] = (int32_t)claimed;
    xfwrite(h, sizeof h, 1, f, path);
    for (int64_t i = 0; i < n; i++) {
        uint16_t t = i == bad_token_at ? (uint16_t)VOCAB : token_at(s, i);
        xfwrite(&t, 2, 1, f, path);
    }
    for (int i = 0; i < extra_bytes; i++) fputc(0, f);
    xfclose(f, path);
}

static void good_shard(const char *name, int s, int64_t n) {
    write_shard(name, s, n, SHARD_MAGIC, SHARD_VERSION, n, 0, -1);
}

// The training set: sizes chosen around the window boundary. With B*T = 15:
// a 53 tokens (3 windows), b 31 (2), c 15 (none: B*T, one short), d 16 (1:
// exactly B*T+1), e 76 (5: the last window ends on the last token), f 8
// (none). 11 windows in all: divisible neither by 2 nor by 3 ranks.
#define NSHARDS 6
static const int shard_sizes[NSHARDS] = {53, 31, 15, 16, 76, 8};
static const char *shard_names[NSHARDS] = {"s_train_a.bin", "s_train_b.bin", "s_train_c.bin",
                                           "s_train_d.bin", "s_train_e.bin", "s_train_f.bin"};
#define NWIN 11

// Identifies a micro-batch as shard * 1000 + window, checking that it is one
// contiguous window starting at a multiple of B*T and that targets are the
// inputs shifted by one.
static int batch_id(const int *in, const int *tg, int *shifted_ok) {
    int s = in[0] / 10000, start = in[0] % 10000;
    for (int i = 0; i < BT; i++)
        if (in[i] != token_at(s, start + i) || tg[i] != token_at(s, start + i + 1)) *shifted_ok = 0;
    if (start % BT != 0 || start + BT + 1 > shard_sizes[s]) *shifted_ok = 0;
    return s * 1000 + start / BT;
}

// llm.c's sequential loader, written out independently: start at shard 0
// token 0; read at the position and advance by B*T; when the next window
// would not fit (pos + B*T + 1 > N) go to the next shard, after the last
// back to shard 0. (llm.c refuses shards without a window; here they are
// skipped.) Fills the first n ids.
static void llmc_order(int *ids, int n) {
    int shard = 0, pos = 0;
    for (int k = 0; k < n; k++) {
        while (pos + BT + 1 > shard_sizes[shard]) {
            shard = (shard + 1) % NSHARDS;
            pos = 0;
        }
        ids[k] = shard * 1000 + pos / BT;
        pos += BT;
    }
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// Whether a[0..n) is, as a multiset, `copies` times the set of all windows.
static int is_all_windows(const int *a, int n, int copies) {
    int all[NWIN], sorted[4 * NWIN], want[4 * NWIN];
    if (n != copies * NWIN || copies > 4) return 0;
    llmc_order(all, NWIN);
    for (int c = 0; c < copies; c++) memcpy(want + c * NWIN, all, sizeof all);
    memcpy(sorted, a, (size_t)n * sizeof(int));
    qsort(sorted, (size_t)n, sizeof(int), cmp_int);
    qsort(want, (size_t)n, sizeof(int), cmp_int);
    return memcmp(sorted, want, (size_t)n * sizeof(int)) == 0;
}

static char glob_train[128];

// A loader on the training set; reads n batches into ids (if not NULL).
static void open_train(DataLoader *l, int shuffle, uint64_t seed, int rank, int ranks) {
    dataloader_init(l, glob_train, B, T, shuffle, seed, rank, ranks, VOCAB);
}
static void read_ids(DataLoader *l, int *ids, int n, int *shifted_ok) {
    int in[BT], tg[BT];
    for (int k = 0; k < n; k++) {
        dataloader_next_batch(l, in, tg);
        if (ids) ids[k] = batch_id(in, tg, shifted_ok);
    }
}

// ---- children for the refusal checks
static const char *child_glob;
static int child_reads;
static void init_child(void *arg) {
    (void)arg;
    DataLoader l;
    int in[BT], tg[BT];
    dataloader_init(&l, child_glob, B, T, 1, 1, 0, 1, VOCAB);
    for (int i = 0; i < child_reads; i++) dataloader_next_batch(&l, in, tg);
    dataloader_free(&l);
}

static DataLoaderState child_state;
static void set_child(void *arg) {
    (void)arg;
    DataLoader l;
    open_train(&l, 1, 42, 0, 1);
    dataloader_set_state(&l, &child_state);
}

// Runs init on dir/<pattern> in a child: exit 1, one line naming
// dir/<named> and containing each of the needles (NULL-terminated).
static void expect_bad(const char *label, const char *pattern, const char *named, const char *const *needles) {
    char glob[256], err[2048], path[256], full[160];
    snprintf(glob, sizeof glob, "%s/%s", dir, pattern);
    snprintf(path, sizeof path, "%s/%s", dir, named);
    child_glob = glob;
    child_reads = 0;
    int rc = run_in_child(init_child, NULL, err, sizeof err);
    int ok = rc == 1 && is_one_line_error(err, path);
    for (int i = 0; needles && needles[i]; i++) ok &= strstr(err, needles[i]) != NULL;
    snprintf(full, sizeof full, "refused with one line naming the file: %s", label);
    CHECK(ok, full, "exit %d: %s", rc, err);
}

static void expect_bad_state(const char *label, DataLoaderState st, const char *needle) {
    char err[2048], full[160];
    child_state = st;
    int rc = run_in_child(set_child, NULL, err, sizeof err);
    snprintf(full, sizeof full, "restoring a bad position refused: %s", label);
    CHECK(rc == 1 && is_one_line_error(err, needle), full, "exit %d: %s", rc, err);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_dataloader_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    for (int s = 0; s < NSHARDS; s++) good_shard(shard_names[s], s, shard_sizes[s]);
    snprintf(glob_train, sizeof glob_train, "%s/s_train_*.bin", dir);
    int shifted_ok = 1;
    int64_t tokens = 0;
    for (int s = 0; s < NSHARDS; s++) tokens += shard_sizes[s];

    // ---- shuffle: each epoch is a permutation of all windows; epochs differ
    DataLoader l;
    open_train(&l, 1, 42, 0, 1);
    CHECK(dataloader_windows_per_epoch(&l) == NWIN && dataloader_total_windows(&l) == NWIN &&
              dataloader_num_shards(&l) == NSHARDS && dataloader_total_tokens(&l) == tokens,
          "windows, shards and tokens counted (shards without a window skipped)", "%lld windows, %d shards, %lld tokens",
          (long long)dataloader_windows_per_epoch(&l), dataloader_num_shards(&l),
          (long long)dataloader_total_tokens(&l));
    int orders[EPOCHS][NWIN], perm_ok = 1, epoch_ok = 1;
    for (int e = 0; e < EPOCHS; e++) {
        for (int w = 0; w < NWIN; w++) {
            epoch_ok &= dataloader_epoch(&l) == e;
            read_ids(&l, &orders[e][w], 1, &shifted_ok);
        }
        perm_ok &= is_all_windows(orders[e], NWIN, 1);
    }
    CHECK(perm_ok, "shuffle: every epoch visits every window exactly once", "an epoch lost or repeated a window");
    CHECK(epoch_ok && dataloader_epoch(&l) == EPOCHS, "epoch counter: the epoch of the next batch", "wrong epoch");
    int differ = 1;
    for (int a = 0; a < EPOCHS; a++)
        for (int b = a + 1; b < EPOCHS; b++) differ &= memcmp(orders[a], orders[b], sizeof orders[a]) != 0;
    CHECK(differ, "shuffle: the order differs between every two epochs", "two epochs have the same order");
    // shards are reshuffled (the first shard varies), each shard's windows
    // are read together, and within a shard the windows are permuted
    int first_varies = 0, contiguous = 1, within_shuffled = 0;
    for (int e = 0; e < EPOCHS; e++) {
        first_varies |= orders[e][0] / 1000 != orders[0][0] / 1000;
        int seen[NSHARDS] = {0};
        for (int w = 0; w < NWIN; w++) {
            int s = orders[e][w] / 1000;
            if (w > 0 && s != orders[e][w - 1] / 1000) contiguous &= !seen[s];
            seen[s] = 1;
            if (w > 0 && s == orders[e][w - 1] / 1000 && orders[e][w] < orders[e][w - 1]) within_shuffled = 1;
        }
    }
    CHECK(first_varies && contiguous && within_shuffled,
          "shuffle: shard order and the windows within each shard are permuted", "first varies %d, shards read "
          "together %d, windows permuted %d", first_varies, contiguous, within_shuffled);

    // ---- same seed, same order; another seed, another order
    {
        DataLoader l2, l3;
        open_train(&l2, 1, 42, 0, 1);
        open_train(&l3, 1, 43, 0, 1);
        int a[EPOCHS * NWIN], c[EPOCHS * NWIN];
        read_ids(&l2, a, EPOCHS * NWIN, &shifted_ok);
        read_ids(&l3, c, EPOCHS * NWIN, &shifted_ok);
        int other = 1;
        for (int e = 0; e < EPOCHS; e++) other &= memcmp(c + e * NWIN, orders[e], sizeof orders[e]) != 0;
        CHECK(memcmp(a, orders, sizeof a) == 0 && other, "shuffle is reproducible from the seed and changes with it",
              "same seed differs or another seed repeats an epoch");
        dataloader_free(&l2);
        dataloader_free(&l3);
    }

    // ---- get/set state: at the start, mid-epoch, on and across epoch
    // boundaries, into a fresh loader and into one that has read elsewhere
    {
        const int cuts[] = {0, 3, 10, 11, 12, 25, 33};
        int restore_ok = 1, epoch_same = 1;
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
            for (int shuffle = 0; shuffle <= 1; shuffle++) {
                DataLoader x, y;
                open_train(&x, shuffle, 9, 0, 1);
                read_ids(&x, NULL, cuts[c], &shifted_ok);
                DataLoaderState st;
                dataloader_get_state(&x, &st);
                open_train(&y, shuffle, 9, 0, 1);
                read_ids(&y, NULL, (int)c * 5, &shifted_ok);  // elsewhere, maybe another epoch
                dataloader_set_state(&y, &st);
                epoch_same &= dataloader_epoch(&x) == dataloader_epoch(&y);
                for (int i = 0; i < 2 * NWIN + 1; i++) {
                    int in[BT], tg[BT], a[BT], at[BT];
                    dataloader_next_batch(&x, in, tg);
                    dataloader_next_batch(&y, a, at);
                    restore_ok &= memcmp(in, a, sizeof in) == 0 && memcmp(tg, at, sizeof tg) == 0;
                }
                dataloader_free(&x);
                dataloader_free(&y);
            }
        CHECK(restore_ok && epoch_same, "a restored position continues with the same batches (mid-epoch, epoch "
              "boundary, shuffle on and off)", "batches differ after restore");
        // the position is computed, not replayed: epoch 3 from a hand-made state
        DataLoader z;
        open_train(&z, 1, 42, 0, 1);
        DataLoaderState st;
        dataloader_get_state(&z, &st);
        st.epoch = 3;
        dataloader_set_state(&z, &st);
        int ids[NWIN];
        read_ids(&z, ids, NWIN, &shifted_ok);
        CHECK(memcmp(ids, orders[3], sizeof ids) == 0 && dataloader_epoch(&z) == 4,
              "a position in epoch 3 gives epoch 3's order without replaying", "order differs");
        dataloader_free(&z);
    }

    // ---- sequential: llm.c's order over several epochs, and reset
    {
        DataLoader s;
        open_train(&s, 0, 42, 0, 1);
        int got[3 * NWIN], want[3 * NWIN], epochs_ok = 1;
        llmc_order(want, 3 * NWIN);
        for (int k = 0; k < 3 * NWIN; k++) {
            epochs_ok &= dataloader_epoch(&s) == k / NWIN;
            read_ids(&s, &got[k], 1, &shifted_ok);
        }
        CHECK(memcmp(got, want, sizeof got) == 0 && epochs_ok,
              "sequential mode follows llm.c's order (skips windowless shards, wraps into new epochs)",
              "order differs: first %d, want %d", got[0], want[0]);
        CHECK(is_all_windows(want, NWIN, 1), "llm.c's windows are the loader's windows", "window sets differ");
        dataloader_reset(&s);
        int first[3];
        read_ids(&s, first, 3, &shifted_ok);
        CHECK(memcmp(first, want, sizeof first) == 0 && dataloader_epoch(&s) == 0, "reset goes back to the start",
              "not at start");
        dataloader_free(&s);
    }

    // ---- ranks: rank r reads global windows r, r+R, ...; together the
    // ranks read exactly the one-process sequence; state and epoch agree
    for (int R = 2; R <= 3; R++)
        for (int shuffle = 0; shuffle <= 1; shuffle++) {
            int steps = (R == 2 ? 2 : 3) * NWIN / R;  // whole epochs: 22 / 2, 33 / 3
            int global[3 * NWIN], got[3 * NWIN];
            DataLoader one;
            open_train(&one, shuffle, 42, 0, 1);
            read_ids(&one, global, steps * R, &shifted_ok);
            dataloader_free(&one);
            DataLoader rk[3];
            for (int r = 0; r < R; r++) open_train(&rk[r], shuffle, 42, r, R);
            int follows = 1, agree = 1;
            for (int k = 0; k < steps; k++) {
                for (int r = 1; r < R; r++) {  // before the step's reads
                    DataLoaderState s0, sr;
                    dataloader_get_state(&rk[0], &s0);
                    dataloader_get_state(&rk[r], &sr);
                    agree &= memcmp(&s0, &sr, sizeof s0) == 0 && dataloader_epoch(&rk[r]) == dataloader_epoch(&rk[0]);
                }
                for (int r = 0; r < R; r++) {
                    read_ids(&rk[r], &got[k * R + r], 1, &shifted_ok);
                    follows &= got[k * R + r] == global[k * R + r];
                }
            }
            char name[160];
            snprintf(name, sizeof name, "%d ranks (shuffle %d): rank r reads global windows r, r+R, ...; together "
                     "every window once per epoch", R, shuffle);
            CHECK(follows && is_all_windows(got, steps * R, steps * R / NWIN), name, "rank batches differ");
            snprintf(name, sizeof name, "%d ranks (shuffle %d): same state and epoch on every rank", R, shuffle);
            CHECK(agree, name, "states differ between ranks");
            // a checkpointed position (the same on every rank) restores each rank
            DataLoaderState st;
            dataloader_get_state(&rk[0], &st);
            int restore_ok = 1;
            for (int r = 0; r < R; r++) {
                DataLoader fresh;
                open_train(&fresh, shuffle, 42, r, R);
                dataloader_set_state(&fresh, &st);
                int a[4], b[4];
                read_ids(&rk[r], a, 4, &shifted_ok);
                read_ids(&fresh, b, 4, &shifted_ok);
                restore_ok &= memcmp(a, b, sizeof a) == 0;
                dataloader_free(&fresh);
                dataloader_free(&rk[r]);
            }
            snprintf(name, sizeof name, "%d ranks (shuffle %d): every rank restores from the saved position", R,
                     shuffle);
            CHECK(restore_ok, name, "batches differ after restore");
        }
    {
        DataLoader r0, r1;
        open_train(&r0, 1, 42, 0, 2);
        open_train(&r1, 1, 42, 1, 2);
        CHECK(dataloader_windows_per_epoch(&r0) == NWIN / 2 && dataloader_windows_per_epoch(&r1) == NWIN / 2 &&
                  dataloader_total_windows(&r1) == NWIN,
              "windows per epoch per rank: total / ranks rounded down", "%lld", (long long)dataloader_windows_per_epoch(&r0));
        dataloader_free(&r0);
        dataloader_free(&r1);
    }
    CHECK(shifted_ok, "every batch is one window at a multiple of B*T; targets are the inputs shifted by one",
          "bad window");

    // ---- positions that do not fit are refused
    {
        DataLoaderState good;
        dataloader_get_state(&l, &good);
        DataLoaderState st = good;
        st.total_windows += 1;
        expect_bad_state("other windows per epoch (batch size)", st, "windows");
        st = good;
        st.seed = 7;
        expect_bad_state("other seed", st, "seed");
        st = good;
        st.num_shards = 2;
        expect_bad_state("other shard count", st, "shards");
        st = good;
        st.shard_pos = NSHARDS;
        expect_bad_state("shard past the end", st, "out of range");
        st = good;
        st.epoch = -1;
        expect_bad_state("negative epoch", st, "out of range");
        st = good;
        st.shard_pos = 0;
        st.window_pos = 1000;
        expect_bad_state("window past the end", st, "out of range");
    }

    // ---- bad shards
    write_shard("bad_magic.bin", 0, 40, 1234, SHARD_VERSION, 40, 0, -1);
    expect_bad("wrong magic", "bad_magic.bin", "bad_magic.bin", NEEDLES("magic", "20240520", "1234"));
    write_shard("bad_version.bin", 0, 40, SHARD_MAGIC, 7, 40, 0, -1);
    expect_bad("wrong version", "bad_version.bin", "bad_version.bin", NEEDLES("version", "got 7"));
    write_shard("truncated.bin", 0, 30, SHARD_MAGIC, SHARD_VERSION, 40, 0, -1);
    expect_bad("truncated", "truncated.bin", "truncated.bin", NEEDLES("truncated", "expected 1104", "got 1084"));
    write_shard("extra.bin", 0, 40, SHARD_MAGIC, SHARD_VERSION, 40, 3, -1);
    expect_bad("extra bytes", "extra.bin", "extra.bin", NEEDLES("extra", "expected 1104", "got 1107"));
    write_shard("bad_token.bin", 0, 40, SHARD_MAGIC, SHARD_VERSION, 40, 0, 17);
    expect_bad("token id >= vocab size", "bad_token.bin", "bad_token.bin", NEEDLES("vocabulary", "position 17", "60000"));
    write_shard("zero_tokens.bin", 0, 0, SHARD_MAGIC, SHARD_VERSION, 0, 0, -1);
    expect_bad("header claims 0 tokens", "zero_tokens.bin", "zero_tokens.bin", NEEDLES("got 0 tokens"));
    write_shard("neg_tokens.bin", 0, 0, SHARD_MAGIC, SHARD_VERSION, -5, 0, -1);
    expect_bad("header claims -5 tokens", "neg_tokens.bin", "neg_tokens.bin", NEEDLES("got -5 tokens"));
    {
        char path[256];
        snprintf(path, sizeof path, "%s/empty.bin", dir);
        FILE *f = xfopen(path, "wb");
        xfclose(f, path);
        snprintf(path, sizeof path, "%s/short.bin", dir);
        f = xfopen(path, "wb");
        int32_t h[3] = {SHARD_MAGIC, SHARD_VERSION, 10};
        xfwrite(h, sizeof h, 1, f, path);
        xfclose(f, path);
        snprintf(path, sizeof path, "%s/dir.bin", dir);
        if (mkdir(path, 0700) != 0) fail("%s: mkdir failed", path);
    }
    expect_bad("empty file (0 bytes)", "empty.bin", "empty.bin", NEEDLES("header", "got a file of 0 bytes"));
    expect_bad("file shorter than the header", "short.bin", "short.bin", NEEDLES("header", "12 bytes"));
    expect_bad("a directory", "dir.bin", "dir.bin", NEEDLES("regular file"));
    // one bad shard among good ones: refused at init, before any batch
    good_shard("mix_a.bin", 0, 100);
    write_shard("mix_b.bin", 1, 40, SHARD_MAGIC, SHARD_VERSION, 40, 0, 39);
    expect_bad("a bad shard after a good one", "mix_*.bin", "mix_b.bin", NEEDLES("vocabulary"));
    good_shard("tiny_a.bin", 0, 8);
    good_shard("tiny_b.bin", 1, BT);
    expect_bad("no shard holds a window", "tiny_*.bin", "tiny_*.bin", NEEDLES("B*T+1 = 16", "8, 15 tokens"));
    expect_bad("glob matches nothing", "nothing_*.bin", "nothing_*.bin", NEEDLES("no files match"));
    expect_bad("missing file", "missing.bin", "missing.bin", NEEDLES("no files match"));
    // a good shard still reads after all this
    {
        char err[256];
        child_glob = glob_train;
        child_reads = 3 * NWIN;
        int rc = run_in_child(init_child, NULL, err, sizeof err);
        CHECK(rc == 0 && err[0] == '\0', "the good shards read cleanly in a child", "exit %d: %s", rc, err);
    }

    dataloader_free(&l);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    CHECK_EXIT();
}
