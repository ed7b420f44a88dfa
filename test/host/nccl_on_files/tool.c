// comm/comm_nccl.c on the stand-ins of this folder (no GPU, no NCCL): N
// processes started with Slurm's variables meet through comm.init fs (or
// tcp), then run every collective of comm.h and check the results; with
// TOOL_FAIL_RANK=R rank R fails after the checks and the others must stop
// with its message; TOOL_DISAGREE=1 makes rank 1 disagree in
// comm_check_agree. Prints "rank R: ..." lines (test/test_comm_nccl_on_files.sh).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "common/config.h"
#include "common/error.h"

static int bad;
static void expect(int ok, const char *what, int rank) {
    if (!ok) bad = 1;
    printf("rank %d: %s %s\n", rank, what, ok ? "ok" : "WRONG");
}

int main(int argc, char **argv) {
    Comm c;
    comm_init(&c, &argc, &argv);
    Config cfg;
    config_from_args(&cfg, argc, argv);
    comm_connect(&c, &cfg.comm);
    int N = c.size, R = c.rank;
    for (size_t n = 12; n <= 13; n++) {  // equal chunks (ncclReduceScatter/AllGather) and unequal (rooted groups)
        float send[13], recv[13];
        for (size_t i = 0; i < n; i++) send[i] = (float)((R + 1) * 1000 + (int)i);
        size_t lo = comm_chunk_start(n, R, N), hi = comm_chunk_start(n, R + 1, N);
        comm_reduce_scatter(&c, send, recv, n);
        comm_wait(&c);
        int ok = 1;
        for (size_t j = 0; j < hi - lo; j++)
            ok &= recv[j] == (float)(1000 * N * (N + 1) / 2 + N * (int)(lo + j));
        char what[64];
        snprintf(what, sizeof what, "reduce_scatter of %zu", n);
        expect(ok, what, R);
        uint16_t w[13];
        for (size_t i = 0; i < n; i++) w[i] = i >= lo && i < hi ? (uint16_t)(R * 100 + (int)i) : 0xffff;
        comm_allgather_bytes(&c, w, n, sizeof w[0]);
        comm_wait(&c);
        ok = 1;
        for (int r = 0; r < N; r++)
            for (size_t i = comm_chunk_start(n, r, N); i < comm_chunk_start(n, r + 1, N); i++) ok &= w[i] == r * 100 + (int)i;
        snprintf(what, sizeof what, "allgather of %zu 2-byte elements", n);
        expect(ok, what, R);
    }
    double x[2] = {(double)R, 1.0};
    comm_allreduce_sum_host(&c, x, 2);
    expect(x[0] == N * (N - 1) / 2.0 && x[1] == N, "allreduce_sum_host", R);
    expect(comm_allreduce_max_int_host(&c, R) == N - 1, "allreduce_max_int_host", R);
    char msg[32] = "";
    if (R == N - 1) snprintf(msg, sizeof msg, "from %d", R);
    comm_broadcast_host(&c, msg, sizeof msg, N - 1);
    char want[32];
    snprintf(want, sizeof want, "from %d", N - 1);
    expect(strcmp(msg, want) == 0, "broadcast_host", R);
    int mine = R * 7, all[16] = {0};
    comm_allgather_host(&c, &mine, all, sizeof mine);
    int ok = 1;
    for (int r = 0; r < N; r++) ok &= all[r] == r * 7;
    expect(ok, "allgather_host", R);
    comm_barrier(&c);
    printf("rank %d: bytes_sent %llu bytes_collective %llu\n", R, (unsigned long long)c.bytes_sent,
           (unsigned long long)c.bytes_collective);
    if (getenv("TOOL_DISAGREE")) comm_check_agree(&c, R == 1 ? 2 : 1, "a planted value", "(the test's)");
    const char *f = getenv("TOOL_FAIL_RANK");
    if (f && atoi(f) == R) fail("planted failure on rank %d", R);
    comm_barrier(&c);  // the others wait here for the failed rank
    printf("rank %d: %s\n", R, bad ? "SOME COLLECTIVES WRONG" : "all collectives ok");
    fflush(stdout);
    comm_finalize(&c);
    return bad;
}
