// A thread block of a tensor-core kernel run on the CPU: every thread of the
// block is a fiber (ucontext), running the kernel's own per-thread code
// (kernels/attention_tc.cuh); the warp-level calls of kernels/warp_mma.cuh
// (mma, lane shuffles, block barriers) are where the fibers meet. Define
// WARP_MMA_ON_HOST before including the kernels, then this file.
//
// At each meeting point every fiber publishes its inputs and switches to the
// next fiber; the last one switches back to the first, so that when a fiber
// resumes, every thread of the block has published. The host mma then
// rebuilds the 16 x 16 A, 16 x 8 B and C matrices of the warp from the 32
// lanes' registers with the fragment layout the PTX ISA documents for
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (formulas in
// kernels/warp_mma.cuh), multiplies in fp32 (bf16 products are exact in
// fp32), and hands each lane its D fragment by the same layout. A kernel
// that puts an element in the wrong register computes with the wrong matrix.
//
// Every thread must meet the same number of times (as on a GPU, where a
// barrier or mma.sync reached by only part of the block hangs or is
// undefined): host_block_run fails if the counts differ.
#ifndef TEST_HOST_WARP_ON_HOST_CUH
#define TEST_HOST_WARP_ON_HOST_CUH
#include <ucontext.h>

#include <functional>
#include <vector>

#include "kernels/warp_mma.cuh"

#define HOST_MAX_THREADS 128
#define HOST_FIBER_STACK (256 * 1024)

struct HostSlot {
    uint32_t a[4], b[2];
    float c[4], v;
    const void *row;  // ldmatrix: this lane's row address
};
static ucontext_t host_fiber[HOST_MAX_THREADS], host_main;
static char *host_stack[HOST_MAX_THREADS];
static int host_nthreads, host_cur;
static long long host_meets[HOST_MAX_THREADS];
static HostSlot host_slots[2][HOST_MAX_THREADS];  // by the parity of the meeting: read before the next is written
static float host_mma_d[2][HOST_MAX_THREADS][4];
static long long host_mma_done[2][HOST_MAX_THREADS / 32];  // meeting number whose D a warp's lane 0 computed
static std::function<void(int)> host_body;
// cp.async: per thread, its committed groups (oldest first) and the open one
struct HostCopy {
    void *dst;
    const void *src;
    bool valid;
};
static std::vector<std::vector<HostCopy>> host_cp_groups[HOST_MAX_THREADS];
static std::vector<HostCopy> host_cp_open[HOST_MAX_THREADS];

// Switches to the next fiber; returns when every fiber has reached this point.
static void host_meet(void) {
    int me = host_cur;
    host_meets[me]++;
    int next = me + 1 < host_nthreads ? me + 1 : 0;
    if (host_nthreads > 1) {
        host_cur = next;
        if (swapcontext(&host_fiber[me], &host_fiber[next]) != 0) fail("host fibers: swapcontext failed");
        host_cur = me;
    }
}

static void host_fiber_entry(int tid) {
    host_body(tid);
    host_cur = tid + 1;  // uc_link resumes the next fiber (or returns to host_block_run)
}

// Runs body(tid) for tid = 0..nthreads-1 as the threads of one block.
static void host_block_run(int nthreads, std::function<void(int)> body) {
    if (nthreads > HOST_MAX_THREADS || nthreads % 32) fail("host fibers: %d threads per block", nthreads);
    host_nthreads = nthreads;
    host_body = body;
    for (int t = 0; t < nthreads; t++) {
        if (!host_stack[t]) host_stack[t] = (char *)xmalloc(HOST_FIBER_STACK, "fiber stack");
        host_meets[t] = 0;
        if (getcontext(&host_fiber[t]) != 0) fail("host fibers: getcontext failed");
        host_fiber[t].uc_stack.ss_sp = host_stack[t];
        host_fiber[t].uc_stack.ss_size = HOST_FIBER_STACK;
        host_fiber[t].uc_link = t + 1 < nthreads ? &host_fiber[t + 1] : &host_main;
        makecontext(&host_fiber[t], (void (*)(void))host_fiber_entry, 1, t);
    }
    for (int w = 0; w < nthreads / 32; w++) host_mma_done[0][w] = host_mma_done[1][w] = -1;
    host_cur = 0;
    if (swapcontext(&host_main, &host_fiber[0]) != 0) fail("host fibers: swapcontext failed");
    for (int t = 0; t < nthreads; t++)
        if (!host_cp_groups[t].empty() || !host_cp_open[t].empty())
            fail("host fibers: thread %d ended with cp.async copies not waited for", t);
    for (int t = 1; t < nthreads; t++)
        if (host_meets[t] != host_meets[0])
            fail("host fibers: thread %d met the block %lld times, thread 0 %lld times (divergent barriers or mma)", t,
                 host_meets[t], host_meets[0]);
}

static int host_cp_cur(void) { return host_cur; }

static float host_bf16_lo(uint32_t r) { return __bfloat162float(__ushort_as_bfloat16((unsigned short)(r & 0xffffu))); }
static float host_bf16_hi(uint32_t r) { return __bfloat162float(__ushort_as_bfloat16((unsigned short)(r >> 16))); }

// D = A B + C for one warp, fragments in and out as PTX lays them out
// (lane L: g = L / 4, t = L % 4).
static void host_mma_m16n8k16(const uint32_t a[32][4], const uint32_t b[32][2], const float c[32][4],
                              float d[32][4]) {
    float A[16][16], B[16][8], Cm[16][8];
    for (int L = 0; L < 32; L++) {
        int g = L >> 2, t = L & 3;
        for (int i = 0; i < 8; i++) {  // a_i: register i / 2, low half for even i
            int row = g + 8 * ((i >> 1) & 1), col = 2 * t + (i & 1) + 8 * (i >> 2);
            A[row][col] = (i & 1) ? host_bf16_hi(a[L][i >> 1]) : host_bf16_lo(a[L][i >> 1]);
        }
        for (int i = 0; i < 4; i++) {
            int k = 2 * t + (i & 1) + 8 * (i >> 1);
            B[k][g] = (i & 1) ? host_bf16_hi(b[L][i >> 1]) : host_bf16_lo(b[L][i >> 1]);
        }
        for (int i = 0; i < 4; i++) Cm[g + 8 * (i >> 1)][2 * t + (i & 1)] = c[L][i];
    }
    for (int L = 0; L < 32; L++) {
        int g = L >> 2, t = L & 3;
        for (int i = 0; i < 4; i++) {
            int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
            float acc = 0.0f;
            for (int k = 0; k < 16; k++) acc += A[row][k] * B[k][col];
            d[L][i] = Cm[row][col] + acc;
        }
    }
}

// ---- the twins of kernels/warp_mma.cuh's device calls (the host pass only:
// nvcc's device pass has the device ones)
#ifndef __CUDA_ARCH__
void block_barrier(void) { host_meet(); }

void cp_async_16(void *smem, const void *gmem, bool valid) { host_cp_open[host_cp_cur()].push_back({smem, gmem, valid}); }
void cp_async_commit(void) {
    int me = host_cp_cur();
    host_cp_groups[me].push_back(host_cp_open[me]);
    host_cp_open[me].clear();
}
void host_cp_async_wait(int pending) {
    std::vector<std::vector<HostCopy>> &g = host_cp_groups[host_cp_cur()];
    while ((int)g.size() > pending) {
        for (const HostCopy &c : g.front()) {
            if (c.valid) memcpy(c.dst, c.src, 16);
            else memset(c.dst, 0, 16);
        }
        g.erase(g.begin());
    }
}

float lane_shfl_xor(float v, int mask) {
    int me = host_cur, p = (int)(host_meets[me] & 1);
    host_slots[p][me].v = v;
    host_meet();
    int lane = me & 31;
    return host_slots[p][me - lane + (lane ^ mask)].v;
}

// ldmatrix's twin: every lane gives a row address; each reads, by PTX's
// layout, the pairs it gets from the rows the other lanes named.
static void host_ldmatrix(uint32_t r[4], const void *row, int trans) {
    int me = host_cur, p = (int)(host_meets[me] & 1);
    host_slots[p][me].row = row;
    host_meet();
    int lane = me & 31, base = me - lane, g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++) {
        if (!trans) {
            r[i] = load_bf16x2((const __nv_bfloat16 *)host_slots[p][base + 8 * i + g].row + 2 * t);
        } else {
            const __nv_bfloat16 *r0 = (const __nv_bfloat16 *)host_slots[p][base + 8 * i + 2 * t].row;
            const __nv_bfloat16 *r1 = (const __nv_bfloat16 *)host_slots[p][base + 8 * i + 2 * t + 1].row;
            r[i] = (uint32_t)__bfloat16_as_ushort(r0[g]) | ((uint32_t)__bfloat16_as_ushort(r1[g]) << 16);
        }
    }
}
void ldmatrix_x4(uint32_t r[4], const void *row) { host_ldmatrix(r, row, 0); }
void ldmatrix_x4_trans(uint32_t r[4], const void *row) { host_ldmatrix(r, row, 1); }

void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    int me = host_cur, p = (int)(host_meets[me] & 1);
    long long meeting = host_meets[me];
    HostSlot &s = host_slots[p][me];
    memcpy(s.a, a, sizeof s.a);
    memcpy(s.b, b, sizeof s.b);
    memcpy(s.c, d, sizeof s.c);
    host_meet();
    int lane = me & 31, w = me >> 5, base = me - lane;
    if (host_mma_done[p][w] != meeting) {  // the first lane of the warp to resume computes for all 32
        uint32_t A[32][4], B[32][2];
        float Cm[32][4], D[32][4];
        for (int L = 0; L < 32; L++) {
            memcpy(A[L], host_slots[p][base + L].a, sizeof A[L]);
            memcpy(B[L], host_slots[p][base + L].b, sizeof B[L]);
            memcpy(Cm[L], host_slots[p][base + L].c, sizeof Cm[L]);
        }
        host_mma_m16n8k16(A, B, Cm, D);
        for (int L = 0; L < 32; L++) memcpy(host_mma_d[p][base + L], D[L], sizeof D[L]);
        host_mma_done[p][w] = meeting;
    }
    memcpy(d, host_mma_d[p][me], 4 * sizeof(float));
}
#endif

#endif
