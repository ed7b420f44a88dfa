// The data loader: random reshuffling is a permutation of the windows in
// every epoch, sequential mode follows llm.c's order, positions restore
// exactly, ranks split the windows, and bad shards are refused with one line.
// Every shard is written here with tokens that encode their own position,
// so each micro-batch tells which shard and window it came from.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "data/dataloader.h"
#include "test/check.h"

#define B 2
#define T 5
#define BT (B * T)
#define VOCAB 60000

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

// Identifies a micro-batch as shard * 1000 + window, checking that it is a
// contiguous window and that targets are inputs shifted by one.
static int batch_id(const int *in, const int *tg, int *shifted_ok) {
    int s = in[0] / 10000, start = in[0] % 10000;
    for (int i = 0; i < BT; i++) {
        if (in[i] != token_at(s, start + i) || tg[i] != token_at(s, start + i + 1)) *shifted_ok = 0;
    }
    if (start % BT != 0) *shifted_ok = 0;
    return s * 1000 + start / BT;
}

// Windows of the test data set: shard_a 53 tokens (5 windows), shard_b 21
// (2), shard_c 8 (none: smaller than B*T+1), shard_d 31 (3).
static const int expected_windows[] = {0, 1, 2, 3, 4, 1000, 1001, 3000, 3001, 3002};
#define NWIN 10

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static const char *child_glob;
static void init_child(void *arg) {
    DataLoader l;
    dataloader_init(&l, child_glob, B, T, 1, 1, 0, 1, VOCAB);
}

static DataLoader *set_loader;
static DataLoaderState *set_state;
static void set_child(void *arg) { dataloader_set_state(set_loader, set_state); }

static void expect_bad(const char *label, const char *name, const char *needle) {
    char glob[256], err[1024], path[256], full[128];
    snprintf(glob, sizeof glob, "%s/%s", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    child_glob = glob;
    int rc = run_in_child(init_child, NULL, err, sizeof err);
    snprintf(full, sizeof full, "bad shard refused: %s", label);
    CHECK(rc == 1 && is_one_line_error(err, path) && strstr(err, needle), full, "exit %d: %s", rc, err);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_dataloader_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    good_shard("s_train_a.bin", 0, 53);
    good_shard("s_train_b.bin", 1, 21);
    good_shard("s_train_c.bin", 2, 8);
    good_shard("s_train_d.bin", 3, 31);
    char glob[128];
    snprintf(glob, sizeof glob, "%s/s_train_*.bin", dir);
    int in[BT], tg[BT], shifted_ok = 1;

    // shuffle: each epoch is a permutation of all windows; epochs differ
    DataLoader l;
    dataloader_init(&l, glob, B, T, 1, 42, 0, 1, VOCAB);
    CHECK(dataloader_windows_per_epoch(&l) == NWIN && dataloader_num_shards(&l) == 4 &&
              dataloader_total_tokens(&l) == 113,
          "windows, shards and tokens counted", "%lld windows", (long long)dataloader_windows_per_epoch(&l));
    int orders[4][NWIN], perm_ok = 1, epoch_ok = 1;
    for (int e = 0; e < 4; e++) {
        for (int w = 0; w < NWIN; w++) {
            epoch_ok &= dataloader_epoch(&l) == e;
            dataloader_next_batch(&l, in, tg);
            orders[e][w] = batch_id(in, tg, &shifted_ok);
        }
        int sorted[NWIN];
        memcpy(sorted, orders[e], sizeof sorted);
        qsort(sorted, NWIN, sizeof(int), cmp_int);
        perm_ok &= memcmp(sorted, expected_windows, sizeof sorted) == 0;
    }
    CHECK(perm_ok, "shuffle: every epoch visits every window exactly once", "an epoch lost or repeated a window");
    CHECK(shifted_ok, "targets are the inputs shifted by one, windows start at multiples of B*T", "bad window");
    CHECK(epoch_ok && dataloader_epoch(&l) == 4, "epoch counter advances after each full pass", "wrong epoch");
    int differ = 0;
    for (int e = 1; e < 4; e++) differ += memcmp(orders[e], orders[0], sizeof orders[0]) != 0;
    CHECK(differ == 3, "shuffle: the order differs between epochs", "%d of 3 epochs differ from epoch 0", differ);
    // shard order is shuffled too: in some epoch, the first window is not from shard 0
    int first_not_a = 0;
    for (int e = 0; e < 4; e++) first_not_a |= orders[e][0] >= 1000;
    CHECK(first_not_a, "shuffle: the shard order is reshuffled", "shard a always first");

    // same seed, same order; another seed, another order
    DataLoader l2, l3;
    dataloader_init(&l2, glob, B, T, 1, 42, 0, 1, VOCAB);
    dataloader_init(&l3, glob, B, T, 1, 43, 0, 1, VOCAB);
    int same = 1, other = 0;
    for (int w = 0; w < NWIN; w++) {
        dataloader_next_batch(&l2, in, tg);
        same &= batch_id(in, tg, &shifted_ok) == orders[0][w];
        dataloader_next_batch(&l3, in, tg);
        other |= batch_id(in, tg, &shifted_ok) != orders[0][w];
    }
    CHECK(same && other, "shuffle is reproducible from the seed and changes with it", "same %d other %d", same, other);

    // get/set state mid-epoch and across an epoch boundary
    int restore_ok = 1;
    for (int cut = 3; cut <= 17; cut += 7) {
        DataLoader x, y;
        dataloader_init(&x, glob, B, T, 1, 9, 0, 1, VOCAB);
        for (int i = 0; i < cut; i++) dataloader_next_batch(&x, in, tg);
        DataLoaderState st;
        dataloader_get_state(&x, &st);
        dataloader_init(&y, glob, B, T, 1, 9, 0, 1, VOCAB);
        dataloader_set_state(&y, &st);
        for (int i = 0; i < 2 * NWIN; i++) {
            int a[BT], at[BT];
            dataloader_next_batch(&x, in, tg);
            dataloader_next_batch(&y, a, at);
            restore_ok &= memcmp(in, a, sizeof in) == 0 && memcmp(tg, at, sizeof tg) == 0;
        }
        dataloader_free(&x);
        dataloader_free(&y);
    }
    CHECK(restore_ok, "a restored position continues with the same batches", "batches differ after restore");

    // sequential: llm.c's order, written out independently: positions 0, BT,
    // ... in shard a while a window fits, then shard b, (c has none), d, wrap
    DataLoader s;
    dataloader_init(&s, glob, B, T, 0, 42, 0, 1, VOCAB);
    int seq_ok = 1;
    for (int e = 0; e < 2; e++)
        for (int w = 0; w < NWIN; w++) {
            dataloader_next_batch(&s, in, tg);
            seq_ok &= batch_id(in, tg, &shifted_ok) == expected_windows[w];
        }
    CHECK(seq_ok, "sequential mode follows llm.c's order and wraps", "order differs");
    dataloader_reset(&s);
    dataloader_next_batch(&s, in, tg);
    CHECK(batch_id(in, tg, &shifted_ok) == 0 && dataloader_epoch(&s) == 0, "reset goes back to the start", "not at start");

    // two ranks together see exactly the one-process windows of each epoch
    DataLoader r0, r1;
    dataloader_init(&r0, glob, B, T, 1, 42, 0, 2, VOCAB);
    dataloader_init(&r1, glob, B, T, 1, 42, 1, 2, VOCAB);
    int ranks_ok = dataloader_windows_per_epoch(&r0) == 5 && dataloader_windows_per_epoch(&r1) == 5;
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < NWIN / 2; k++) {
            dataloader_next_batch(&r0, in, tg);
            ranks_ok &= batch_id(in, tg, &shifted_ok) == orders[e][2 * k];
            dataloader_next_batch(&r1, in, tg);
            ranks_ok &= batch_id(in, tg, &shifted_ok) == orders[e][2 * k + 1];
        }
    CHECK(ranks_ok, "two ranks split each epoch's windows round robin", "rank batches differ");

    // a restored position that does not fit the data is refused
    {
        DataLoaderState st;
        dataloader_get_state(&l, &st);
        st.total_windows += 1;
        DataLoader z;
        dataloader_init(&z, glob, B, T, 1, 42, 0, 1, VOCAB);
        char err[1024];
        set_loader = &z;
        set_state = &st;
        int rc = run_in_child(set_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "windows"), "position for other data refused", "exit %d: %s", rc, err);
        dataloader_free(&z);
    }

    // bad shards
    write_shard("bad_magic.bin", 0, 40, 1234, SHARD_VERSION, 40, 0, -1);
    expect_bad("wrong magic", "bad_magic.bin", "magic");
    write_shard("bad_version.bin", 0, 40, SHARD_MAGIC, 7, 40, 0, -1);
    expect_bad("wrong version", "bad_version.bin", "version");
    write_shard("truncated.bin", 0, 30, SHARD_MAGIC, SHARD_VERSION, 40, 0, -1);
    expect_bad("truncated", "truncated.bin", "expected");
    write_shard("extra.bin", 0, 40, SHARD_MAGIC, SHARD_VERSION, 40, 3, -1);
    expect_bad("extra bytes", "extra.bin", "expected");
    write_shard("bad_token.bin", 0, 40, SHARD_MAGIC, SHARD_VERSION, 40, 0, 17);
    expect_bad("token outside the vocabulary", "bad_token.bin", "vocabulary");
    write_shard("zero_tokens.bin", 0, 0, SHARD_MAGIC, SHARD_VERSION, 0, 0, -1);
    expect_bad("header claims 0 tokens", "zero_tokens.bin", "tokens");
    {
        char path[256];
        snprintf(path, sizeof path, "%s/empty.bin", dir);
        FILE *f = xfopen(path, "wb");
        xfclose(f, path);
    }
    expect_bad("empty file", "empty.bin", "header");
    good_shard("tiny.bin", 0, 8);
    expect_bad("no shard holds a window", "tiny.bin", "window");
    expect_bad("glob matches nothing", "nothing_*.bin", "no files match");

    dataloader_free(&l);
    dataloader_free(&l2);
    dataloader_free(&l3);
    dataloader_free(&s);
    dataloader_free(&r0);
    dataloader_free(&r1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    CHECK_EXIT();
}
