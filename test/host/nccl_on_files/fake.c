// The stand-ins declared in cuda_runtime.h and nccl.h here (see there).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nccl.h"

enum { OP_COPY, OP_ALLREDUCE, OP_RS, OP_AG, OP_REDUCE, OP_BCAST };
typedef struct Op {
    int kind, written;
    void *dst;
    const void *src;
    size_t n;  // copy: bytes; collectives: elements
    ncclDataType_t t;
    ncclRedOp_t op;
    int root;
    long seq;
    struct FakeNccl *comm;
    struct Op *next;
} Op;
struct FakeStream { Op *head, *tail; };
struct FakeNccl { int rank, size; long seq; char dir[512]; };

static void die(const char *what) {
    fprintf(stderr, "fake NCCL: %s (%s)\n", what, strerror(errno));
    exit(99);
}
static size_t tsize(ncclDataType_t t) { return t == ncclDouble ? 8 : t == ncclFloat || t == ncclInt32 ? 4 : 1; }

cudaError_t cudaGetDeviceCount(int *n) {
    const char *d = getenv("FAKE_CUDA_DEVICES");
    *n = d ? atoi(d) : 1;
    return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}
cudaError_t cudaSetDevice(int d) { return d >= 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaMalloc(void **p, size_t n) { return (*p = calloc(1, n ? n : 1)) ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k) { (void)k; memmove(dst, src, n); return cudaSuccess; }
static void push(cudaStream_t s, Op *o) {
    o->next = NULL;
    if (s->tail) s->tail->next = o;
    else s->head = o;
    s->tail = o;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
    (void)k;
    Op *o = calloc(1, sizeof *o);
    if (!o) die("out of memory");
    o->kind = OP_COPY, o->dst = dst, o->src = src, o->n = n;
    push(s, o);
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) { (void)f; *s = calloc(1, sizeof **s); return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t s) { free(s); return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e == cudaErrorNoDevice ? "no device (fake)" : "fake CUDA error"; }
const char *cudaGetErrorName(cudaError_t e) { return e == cudaErrorNoDevice ? "cudaErrorNoDevice" : "cudaErrorFake"; }

static void file_of(char *buf, size_t cap, const struct FakeNccl *c, const char *what, long seq, int rank) {
    snprintf(buf, cap, "%s/%s.%ld.%d", c->dir, what, seq, rank);
}
static void write_file(const char *path, const void *p, size_t n) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0 || rename(tmp, path) != 0) die(path);
}
// The file's bytes (malloc'd), or NULL when it is not there yet.
static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    if (!p || (len && fread(p, 1, (size_t)len, f) != (size_t)len)) die(path);
    fclose(f);
    *n = (size_t)len;
    return p;
}
static double get(const char *p, size_t i, ncclDataType_t t) {
    if (t == ncclDouble) return ((const double *)p)[i];
    if (t == ncclFloat) return ((const float *)p)[i];
    if (t == ncclInt32) return ((const int32_t *)p)[i];
    return ((const uint8_t *)p)[i];
}
static void put(void *p, size_t i, ncclDataType_t t, double v) {
    if (t == ncclDouble) ((double *)p)[i] = v;
    else if (t == ncclFloat) ((float *)p)[i] = (float)v;
    else if (t == ncclInt32) ((int32_t *)p)[i] = (int32_t)v;
    else ((uint8_t *)p)[i] = (uint8_t)v;
}
// Runs the collective at the head of the queue if every rank's part is
// there: 1 done, 0 not yet.
static int run_collective(Op *o) {
    struct FakeNccl *c = o->comm;
    size_t es = tsize(o->t), mine = o->kind == OP_RS ? o->n * (size_t)c->size : o->n;
    char path[600];
    if (!o->written) {  // this rank's part, read now (in stream order)
        file_of(path, sizeof path, c, "coll", o->seq, c->rank);
        int sends = o->kind != OP_BCAST || c->rank == o->root;
        write_file(path, o->src, sends ? mine * es : 0);
        o->written = 1;
    }
    char **parts = calloc((size_t)c->size, sizeof *parts);
    size_t len;
    int ready = 1;
    for (int r = 0; r < c->size && ready; r++) {
        file_of(path, sizeof path, c, "coll", o->seq, r);
        parts[r] = read_file(path, &len);
        ready = parts[r] != NULL;
    }
    if (ready) {
        if (o->kind == OP_AG) {
            for (int r = 0; r < c->size; r++) memcpy((char *)o->dst + (size_t)r * o->n * es, parts[r], o->n * es);
        } else if (o->kind == OP_BCAST) {
            memcpy(o->dst, parts[o->root], o->n * es);
        } else if (o->kind != OP_REDUCE || c->rank == o->root) {
            size_t base = o->kind == OP_RS ? (size_t)c->rank * o->n : 0;
            for (size_t i = 0; i < o->n; i++) {
                double v = get(parts[0], base + i, o->t);
                for (int r = 1; r < c->size; r++) {
                    double x = get(parts[r], base + i, o->t);
                    v = o->op == ncclMax ? (x > v ? x : v) : v + x;
                }
                put(o->dst, i, o->t, v);
            }
        }
    }
    for (int r = 0; r < c->size; r++) free(parts[r]);
    free(parts);
    return ready;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
    while (s->head) {
        Op *o = s->head;
        if (o->kind == OP_COPY) memmove(o->dst, o->src, o->n);
        else if (!run_collective(o)) return cudaErrorNotReady;
        s->head = o->next;
        if (!s->head) s->tail = NULL;
        free(o);
    }
    return cudaSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(id->internal, 1, sizeof id->internal, f) != sizeof id->internal) die("/dev/urandom");
    fclose(f);
    return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    const char *dir = getenv("FAKE_NCCL_DIR");
    if (!dir) return ncclInvalidUsage;
    struct FakeNccl *c = calloc(1, sizeof *c);
    c->rank = rank, c->size = nranks;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    char path[600];
    file_of(path, sizeof path, c, "id", 0, rank);
    write_file(path, id.internal, sizeof id.internal);
    for (int r = 0; r < nranks; r++) {  // every rank must hold the same id
        size_t len = 0;
        char *other = NULL;
        file_of(path, sizeof path, c, "id", 0, r);
        for (int tries = 0; !(other = read_file(path, &len)); tries++) {
            if (tries > 3000) return ncclSystemError;
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        int same = len == sizeof id.internal && memcmp(other, id.internal, len) == 0;
        free(other);
        if (!same) return ncclInvalidUsage;
    }
    *comm = c;
    return ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t c) { free(c); return ncclSuccess; }
ncclResult_t ncclCommAbort(ncclComm_t c) { (void)c; return ncclSuccess; }
ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *err) {
    const char *r = getenv("FAKE_NCCL_ASYNC_ERROR_RANK");
    *err = r && atoi(r) == c->rank ? ncclRemoteError : ncclSuccess;
    return ncclSuccess;
}
const char *ncclGetErrorString(ncclResult_t r) {
    return r == ncclRemoteError ? "remote process exited or there was a network error" : r == ncclInvalidUsage ? "invalid usage" : "fake NCCL error";
}
ncclResult_t ncclGroupStart(void) { return ncclSuccess; }
ncclResult_t ncclGroupEnd(void) { return ncclSuccess; }
static ncclResult_t enqueue(int kind, const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, int root,
                            ncclComm_t c, cudaStream_t s) {
    Op *o = calloc(1, sizeof *o);
    if (!o) die("out of memory");
    o->kind = kind, o->src = send, o->dst = recv, o->n = n, o->t = t, o->op = op, o->root = root, o->comm = c;
    o->seq = ++c->seq;
    push(s, o);
    return ncclSuccess;
}
ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c, cudaStream_t s) {
    return enqueue(OP_ALLREDUCE, send, recv, n, t, op, 0, c, s);
}
ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                               cudaStream_t s) {
    return enqueue(OP_RS, send, recv, n, t, op, 0, c, s);
}
ncclResult_t ncclAllGather(const void *send, void *recv, size_t n, ncclDataType_t t, ncclComm_t c, cudaStream_t s) {
    return enqueue(OP_AG, send, recv, n, t, ncclSum, 0, c, s);
}
ncclResult_t ncclReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, int root, ncclComm_t c,
                        cudaStream_t s) {
    return enqueue(OP_REDUCE, send, recv, n, t, op, root, c, s);
}
ncclResult_t ncclBroadcast(const void *send, void *recv, size_t n, ncclDataType_t t, int root, ncclComm_t c, cudaStream_t s) {
    return enqueue(OP_BCAST, send, recv, n, t, ncclSum, root, c, s);
}
