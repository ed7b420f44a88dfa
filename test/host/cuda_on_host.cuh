// The CUDA runtime calls of the GPU code, as host stand-ins: memory is
// host memory, copies are memcpy, there is one "device" with 16 GiB (8
// free). Included after <cuda_runtime.h> (via kernels/common.cuh) and
// before the code under test, whose calls the macros below redirect. For
// the CPU tests of GPU code in test/host/.
//
// Streams behave like streams, each at the moment that exposes a missing or
// misplaced wait (every schedule below is one a GPU may pick):
//   - the legacy stream 0 runs its work at once (the tests that call GPU
//     code directly use it as their compute stream);
//   - a stream from cudaStreamCreate (the engine's compute stream) queues
//     its work (launches via emu_launch, copies, memsets) and runs it, in
//     order, only when the host synchronizes with it or another stream
//     waits for one of its events; a cudaStreamWaitEvent on it runs when
//     the stream reaches it;
//   - a cudaStreamNonBlocking stream (the device slice's copy stream)
//     resolves its event waits at once and reads each copy's source when
//     the copy is enqueued, but writes the destination only when something
//     waits for it (an event wait reached by another stream, a stream or
//     device synchronize). A consumer that does not wait reads stale data;
//     copies that do not wait for their producer read stale data.
// Copies from or to pageable host memory are what CUDA makes them: a
// pageable source is read at the call; a pageable destination makes the
// call synchronous. Freeing or unregistering memory that queued copies
// still read or write fails with one line (the code must wait first).
// Environment (for tests of the engine's error paths):
//   OMGD_EMU_DEVICE_COUNT_ERROR=N  cudaGetDeviceCount returns error N
//   OMGD_EMU_DEVICES=N             N devices (default 1; each the same host
//                                  memory): ranks on one node pick theirs
//   OMGD_EMU_NO_PINNING=1          cudaHostRegister fails, and cudaMallocHost
//                                  of more than 256 KiB (the parked moments;
//                                  not the engine's small staging buffers)
#ifndef TEST_HOST_CUDA_ON_HOST_CUH
#define TEST_HOST_CUDA_ON_HOST_CUH
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "kernels/common.cuh"

enum { EMU_EAGER, EMU_IN_ORDER, EMU_COPY };
struct EmuOp {
    std::function<void()> run;
    const char *src;  // ranges a copy or memset touches (launches: none)
    size_t src_n;
    const char *dst;
    size_t dst_n;
};
struct EmuStream {
    int kind;
    std::deque<EmuOp> queue;
    long long enqueued, done;
};
#define EMU_MAX_STREAMS 64
static EmuStream emu_streams[EMU_MAX_STREAMS];  // [0]: the legacy stream (eager)
static int emu_num_streams = 1;
struct EmuEvent {
    int stream;
    long long pos;  // the stream's work enqueued before the record
};
static std::vector<EmuEvent> emu_events(1);
static std::map<const char *, size_t> emu_pinned, emu_allocs;  // host ranges that are pinned; device allocations

static inline EmuStream &emu_stream(cudaStream_t s) {
    uintptr_t i = (uintptr_t)s;
    if (i >= (uintptr_t)emu_num_streams) fail("CUDA emulation: unknown stream %p", (void *)s);
    return emu_streams[i];
}
// Runs stream i's work up to position pos (its ops may run other streams' work).
static inline void emu_run_to(int i, long long pos) {
    EmuStream &st = emu_streams[i];
    while (st.done < pos && !st.queue.empty()) {
        EmuOp op = st.queue.front();
        st.queue.pop_front();
        st.done++;
        op.run();
    }
}
static inline void emu_run_all(int i) { emu_run_to(i, emu_streams[i].enqueued); }
static inline void emu_device_sync(void) {
    for (int again = 1; again;) {
        again = 0;
        for (int i = 0; i < emu_num_streams; i++)
            if (!emu_streams[i].queue.empty()) emu_run_all(i), again = 1;
    }
}
static inline int emu_overlap(const char *a, size_t an, const char *b, size_t bn) {
    return a && b && an && bn && a < b + bn && b < a + an;
}
static inline void emu_enqueue(cudaStream_t s, EmuOp op) {
    EmuStream &st = emu_stream(s);
    st.enqueued++;
    if (st.kind == EMU_EAGER) {
        st.done++;
        op.run();
    } else {
        st.queue.push_back(op);
    }
}
// A kernel launch on stream s (the CPU code that stands in for the kernel).
static inline void emu_launch(cudaStream_t s, std::function<void()> fn) { emu_enqueue(s, EmuOp{fn, NULL, 0, NULL, 0}); }

static inline int emu_is_pinned(const void *p, size_t n) {
    const char *c = (const char *)p;
    auto it = emu_pinned.upper_bound(c);
    if (it == emu_pinned.begin()) return 0;
    --it;
    return c >= it->first && c + n <= it->first + it->second;
}
// Fails if queued work still reads or writes [p, p + n).
static inline void emu_check_idle(const void *p, size_t n, const char *call) {
    for (int i = 0; i < emu_num_streams; i++)
        for (const EmuOp &op : emu_streams[i].queue)
            if (emu_overlap(op.src, op.src_n, (const char *)p, n) || emu_overlap(op.dst, op.dst_n, (const char *)p, n))
                fail("CUDA emulation: %s of memory that stream %d's queued copies still use (a missing wait or "
                     "synchronize before it)",
                     call, i);
}

static inline cudaError_t emu_malloc(void **p, size_t n) {
    *p = malloc(n ? n : 1);
    if (*p) emu_allocs[(const char *)*p] = n;
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t emu_free(void *p) {
    if (!p) return cudaSuccess;
    auto it = emu_allocs.find((const char *)p);
    if (it != emu_allocs.end()) {
        emu_check_idle(p, it->second, "cudaFree");
        emu_allocs.erase(it);
    }
    free(p);
    return cudaSuccess;
}
static inline cudaError_t emu_malloc_host(void **p, size_t n) {
    if (getenv("OMGD_EMU_NO_PINNING") && n > ((size_t)256 << 10)) return cudaErrorMemoryAllocation;
    *p = malloc(n ? n : 1);
    if (!*p) return cudaErrorMemoryAllocation;
    emu_pinned[(const char *)*p] = n;
    return cudaSuccess;
}
static inline cudaError_t emu_free_host(void *p) {
    if (!p) return cudaSuccess;
    auto it = emu_pinned.find((const char *)p);
    if (it != emu_pinned.end()) {
        emu_check_idle(p, it->second, "cudaFreeHost");
        emu_pinned.erase(it);
    }
    free(p);
    return cudaSuccess;
}
static inline cudaError_t emu_register(void *p, size_t n, unsigned) {
    if (getenv("OMGD_EMU_NO_PINNING")) return cudaErrorMemoryAllocation;
    emu_pinned[(const char *)p] = n;
    return cudaSuccess;
}
static inline cudaError_t emu_unregister(void *p) {
    auto it = emu_pinned.find((const char *)p);
    if (it == emu_pinned.end()) return cudaErrorHostMemoryNotRegistered;
    emu_check_idle(p, it->second, "cudaHostUnregister");
    emu_pinned.erase(it);
    return cudaSuccess;
}

// Legacy-stream copy: waits for every blocking stream (not the non-blocking ones).
static inline cudaError_t emu_memcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    for (int i = 0; i < emu_num_streams; i++)
        if (emu_streams[i].kind != EMU_COPY) emu_run_all(i);
    memmove(dst, src, n);
    return cudaSuccess;
}
static inline cudaError_t emu_memcpy_async(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
    EmuStream &st = emu_stream(s);
    int host_dst = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost;
    int host_src = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyHostToHost;
    if (host_dst && !emu_is_pinned(dst, n)) {  // pageable destination: the call returns when the copy is done
        emu_run_all((int)(uintptr_t)s);
        memmove(dst, src, n);
        return cudaSuccess;
    }
    if ((host_src && !emu_is_pinned(src, n)) || st.kind == EMU_COPY) {
        // read the source now: a pageable one is staged by the call; a copy
        // stream reads as early as its waits allow (after its own queued
        // writes to that source)
        if (st.kind == EMU_COPY)
            for (const EmuOp &op : st.queue)
                if (emu_overlap(op.dst, op.dst_n, (const char *)src, n)) {
                    emu_run_all((int)(uintptr_t)s);
                    break;
                }
        auto data = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
        emu_enqueue(s, EmuOp{[=] { memcpy(dst, data->data(), n); }, (const char *)src, n, (const char *)dst, n});
    } else {
        emu_enqueue(s, EmuOp{[=] { memmove(dst, src, n); }, (const char *)src, n, (const char *)dst, n});
    }
    return cudaSuccess;
}
static inline cudaError_t emu_memset_async(void *p, int v, size_t n, cudaStream_t s) {
    emu_enqueue(s, EmuOp{[=] { memset(p, v, n); }, NULL, 0, (const char *)p, n});
    return cudaSuccess;
}
static inline cudaError_t emu_stream_create_kind(cudaStream_t *s, int kind) {
    if (emu_num_streams == EMU_MAX_STREAMS) fail("CUDA emulation: more than %d streams", EMU_MAX_STREAMS);
    emu_streams[emu_num_streams].kind = kind;
    *s = (cudaStream_t)(uintptr_t)emu_num_streams++;
    return cudaSuccess;
}
static inline cudaError_t emu_stream_create(cudaStream_t *s) { return emu_stream_create_kind(s, EMU_IN_ORDER); }
static inline cudaError_t emu_stream_create_flags(cudaStream_t *s, unsigned flags) {
    return emu_stream_create_kind(s, (flags & cudaStreamNonBlocking) ? EMU_COPY : EMU_IN_ORDER);
}
static inline cudaError_t emu_stream_sync(cudaStream_t s) {
    emu_stream(s);
    emu_run_all((int)(uintptr_t)s);
    return cudaSuccess;
}
static inline cudaError_t emu_stream_destroy(cudaStream_t s) { return emu_stream_sync(s); }  // its work still completes
static inline cudaError_t emu_device_synchronize(void) {
    emu_device_sync();
    return cudaSuccess;
}
static inline cudaError_t emu_event_create_flags(cudaEvent_t *e, unsigned) {
    emu_events.push_back(EmuEvent{0, 0});
    *e = (cudaEvent_t)(uintptr_t)(emu_events.size() - 1);
    return cudaSuccess;
}
static inline EmuEvent &emu_event(cudaEvent_t e) {
    uintptr_t i = (uintptr_t)e;
    if (i == 0 || i >= emu_events.size()) fail("CUDA emulation: unknown event %p", (void *)e);
    return emu_events[i];
}
static inline cudaError_t emu_event_destroy(cudaEvent_t e) {
    emu_event(e);
    return cudaSuccess;
}
static inline cudaError_t emu_record(cudaEvent_t e, cudaStream_t s) {
    emu_event(e) = EmuEvent{(int)(uintptr_t)s, emu_stream(s).enqueued};
    return cudaSuccess;
}
static inline cudaError_t emu_event_sync(cudaEvent_t e) {
    EmuEvent ev = emu_event(e);
    emu_run_to(ev.stream, ev.pos);
    return cudaSuccess;
}
static inline cudaError_t emu_wait(cudaStream_t s, cudaEvent_t e, unsigned) {
    EmuEvent ev = emu_event(e);
    EmuStream &st = emu_stream(s);
    if (st.kind == EMU_IN_ORDER) st.enqueued++, st.queue.push_back(EmuOp{[=] { emu_run_to(ev.stream, ev.pos); }, NULL, 0, NULL, 0});
    else emu_run_to(ev.stream, ev.pos);  // eager and copy streams: the wait is met now
    return cudaSuccess;
}
static inline cudaError_t emu_device_count(int *n) {
    const char *err = getenv("OMGD_EMU_DEVICE_COUNT_ERROR");
    if (err) {
        *n = 0;
        return (cudaError_t)atoi(err);
    }
    const char *devs = getenv("OMGD_EMU_DEVICES");
    *n = devs ? atoi(devs) : 1;
    return cudaSuccess;
}
static int emu_current_device;
static inline cudaError_t emu_set_device(int d) {
    int n = 0;
    emu_device_count(&n);
    if (d < 0 || d >= n) return cudaErrorInvalidDevice;
    emu_current_device = d;
    return cudaSuccess;
}
static inline cudaError_t emu_get_device(int *d) {
    *d = emu_current_device;
    return cudaSuccess;
}
static inline cudaError_t emu_properties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "the CPU (emulation of the CUDA engine, a test build)");
    p->totalGlobalMem = (size_t)16 << 30;
    return cudaSuccess;
}
static inline cudaError_t emu_mem_info(size_t *free_b, size_t *total_b) {
    *free_b = (size_t)8 << 30;
    *total_b = (size_t)16 << 30;
    return cudaSuccess;
}
static inline cudaError_t emu_last_error(void) { return cudaSuccess; }
#define cudaMalloc emu_malloc
#define cudaFree emu_free
#define cudaMemcpy emu_memcpy
#define cudaMemcpyAsync emu_memcpy_async
#define cudaMemsetAsync emu_memset_async
#define cudaStreamCreate emu_stream_create
#define cudaStreamCreateWithFlags emu_stream_create_flags
#define cudaEventCreateWithFlags emu_event_create_flags
#define cudaStreamSynchronize emu_stream_sync
#define cudaStreamDestroy emu_stream_destroy
#define cudaDeviceSynchronize emu_device_synchronize
#define cudaEventDestroy emu_event_destroy
#define cudaEventRecord emu_record
#define cudaEventSynchronize emu_event_sync
#define cudaStreamWaitEvent emu_wait
#define cudaGetDeviceCount emu_device_count
#define cudaSetDevice emu_set_device
#define cudaGetDevice emu_get_device
#define cudaGetDeviceProperties emu_properties
#define cudaMemGetInfo emu_mem_info
#define cudaHostRegister emu_register
#define cudaHostUnregister emu_unregister
#define cudaMallocHost emu_malloc_host
#define cudaFreeHost emu_free_host
#define cudaGetLastError emu_last_error

#endif
