// rendezvous.h: the method chosen by comm.init, and what fs and tcp share.
#include "comm/rendezvous.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

void rendezvous_exchange(const CommConfig *cfg, int rank, int world, void *id, size_t bytes) {
    if (strcmp(cfg->init, "fs") == 0) {
        if (!cfg->dir[0])
            fail("comm.init fs needs comm.dir: a directory on a file system every node shares (e.g. the run's "
                 "output.dir)");
        rendezvous_fs(cfg->dir, rank, world, id, bytes, cfg->timeout_s);
    } else if (strcmp(cfg->init, "tcp") == 0) {
        if (!cfg->host[0] && rank > 0)  // rank 0 listens on every address
            fail("comm.init tcp needs comm.host: rank 0's host name or address, which every rank can reach");
        rendezvous_tcp(cfg->host, cfg->port, rank, world, id, bytes, cfg->timeout_s);
    } else {
        fail("internal: rendezvous_exchange with comm.init \"%s\" (fs or tcp)", cfg->init);
    }
}

double rendezvous_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void rendezvous_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void rendezvous_token(char *buf, size_t cap) {
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p <= ' ' || *p == ':') *p = '_';
    uint64_t r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&r, sizeof r, 1, f) != 1) {  // no /dev/urandom: the clock's bits still differ per process
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    if (f) fclose(f);
    snprintf(buf, cap, "%s:%ld:%016llx", host, (long)getpid(), (unsigned long long)r);
}

void rendezvous_missing(const unsigned char *have, int world, char *buf, size_t cap) {
    size_t len = 0;
    int shown = 0, more = 0;
    buf[0] = '\0';
    for (int r = 1; r < world; r++) {
        if (have[r]) continue;
        if (shown == 8) {
            more++;
            continue;
        }
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%d", shown ? ", " : "", r);
        shown++;
    }
    if (more && len < cap) snprintf(buf + len, cap - len, " and %d more", more);
}
