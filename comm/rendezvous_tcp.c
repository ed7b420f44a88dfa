// The TCP rendezvous (comm.init "tcp"): rank 0 listens on comm.port; every
// other rank connects to comm.host:comm.port (retrying until rank 0
// listens), says hello (magic, rank, world size) and receives the magic and
// the id. Every read, write, accept and connect is bounded by the deadline.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "comm/rendezvous.h"
#include "common/error.h"

static const char MAGIC[8] = "OMGDRV1";

static int remaining_ms(double deadline) {
    double left = deadline - rendezvous_now();
    return left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
}

// Moves n bytes (send or receive) before the deadline; 0 on timeout or a
// closed connection.
static int transfer(int fd, void *buf, size_t n, int sending, double deadline) {
    char *p = buf;
    while (n > 0) {
        struct pollfd pf = {fd, (short)(sending ? POLLOUT : POLLIN), 0};
        int ms = remaining_ms(deadline);
        if (ms == 0 || poll(&pf, 1, ms) <= 0) return 0;
        ssize_t k = sending ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static void rank0(int port, int world, const void *id, size_t bytes, double timeout_s) {
    int lfd = socket(AF_INET6, SOCK_STREAM, 0), v6 = 1;
    if (lfd < 0) lfd = socket(AF_INET, SOCK_STREAM, 0), v6 = 0;
    if (lfd < 0) fail("comm.init tcp: rank 0 cannot open a socket: %s", strerror(errno));
    int one = 1, zero = 0;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (v6) {  // both IPv6 and IPv4 peers
        setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_any;
        a.sin6_port = htons((uint16_t)port);
        rc = bind(lfd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        a.sin_port = htons((uint16_t)port);
        rc = bind(lfd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0 || listen(lfd, world) != 0)
        fail("comm.init tcp: rank 0 cannot listen on port %d: %s (set comm.port to a free port)", port, strerror(errno));
    int *fds = xmalloc((size_t)world * sizeof(int), "rendezvous");
    unsigned char *have = xcalloc((size_t)world, 1, "rendezvous");
    double deadline = rendezvous_now() + timeout_s;
    char missing[96];
    for (int got = 1; got < world;) {
        struct pollfd pf = {lfd, POLLIN, 0};
        int ms = remaining_ms(deadline);
        if (ms == 0 || poll(&pf, 1, ms) <= 0) {
            rendezvous_missing(have, world, missing, sizeof missing);
            fail("comm.init tcp: rank 0 waited %g s (comm.timeout_s) on port %d for rank%s %s of %d: start every "
                 "rank with comm.host naming this machine and the same comm.port",
                 timeout_s, port, strchr(missing, ',') ? "s" : "", missing, world);
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        unsigned char hello[16];
        uint32_t r, w;
        // a stray connection (a port scan, another program) is dropped, not fatal
        if (!transfer(fd, hello, sizeof hello, 0, rendezvous_now() + 5.0) || memcmp(hello, MAGIC, 8) != 0) {
            close(fd);
            continue;
        }
        memcpy(&r, hello + 8, 4), memcpy(&w, hello + 12, 4);
        r = ntohl(r), w = ntohl(w);
        if ((int)w != world)
            fail("comm.init tcp: rank %u says the job has %u ranks, rank 0 says %d: start every rank with the same "
                 "launcher, and one comm.port per job",
                 r, w, world);
        if (r == 0 || (int)r >= world) fail("comm.init tcp: a peer says it is rank %u of %d", r, world);
        if (have[r]) fail("comm.init tcp: rank %u connected twice (two jobs on one comm.host:comm.port?)", r);
        have[r] = 1;
        fds[r] = fd;
        got++;
    }
    close(lfd);
    unsigned char *reply = xmalloc(8 + bytes, "rendezvous");
    memcpy(reply, MAGIC, 8);
    memcpy(reply + 8, id, bytes);
    for (int r = 1; r < world; r++) {
        if (!transfer(fds[r], reply, 8 + bytes, 1, deadline))
            fail("comm.init tcp: rank 0 could not send the id to rank %d before comm.timeout_s (%g s)", r, timeout_s);
        close(fds[r]);
    }
    free(reply);
    free(fds);
    free(have);
}

static void other_rank(const char *host, int port, int rank, int world, void *id, size_t bytes, double timeout_s) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) fail("comm.init tcp: comm.host \"%s\": %s (rank 0's host name or address)", host, gai_strerror(gai));
    double deadline = rendezvous_now() + timeout_s;
    int fd = -1, last_err = 0;
    while (fd < 0) {  // rank 0 may not listen yet: try again until the deadline
        for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
            fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd < 0) continue;
            if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
                last_err = errno;
                close(fd);
                fd = -1;
            }
        }
        if (fd >= 0) break;
        if (rendezvous_now() > deadline)
            fail("comm.init tcp: rank %d of %d could not reach rank 0 at %s:%d for %g s (comm.timeout_s): %s; is rank "
                 "0 running, and comm.host its address?",
                 rank, world, host, port, timeout_s, strerror(last_err));
        rendezvous_sleep_ms(100);
    }
    freeaddrinfo(res);
    unsigned char hello[16], *reply = xmalloc(8 + bytes, "rendezvous");
    uint32_t r = htonl((uint32_t)rank), w = htonl((uint32_t)world);
    memcpy(hello, MAGIC, 8), memcpy(hello + 8, &r, 4), memcpy(hello + 12, &w, 4);
    if (!transfer(fd, hello, sizeof hello, 1, deadline) || !transfer(fd, reply, 8 + bytes, 0, deadline))
        fail("comm.init tcp: rank %d of %d reached %s:%d but got no id before comm.timeout_s (%g s): are all %d ranks "
             "started, with the same comm.port?",
             rank, world, host, port, timeout_s, world);
    if (memcmp(reply, MAGIC, 8) != 0)
        fail("comm.init tcp: %s:%d answered, but not as this trainer's rank 0 (another program on comm.port?)", host,
             port);
    memcpy(id, reply + 8, bytes);
    free(reply);
    close(fd);
}

void rendezvous_tcp(const char *host, int port, int rank, int world, void *id, size_t bytes, double timeout_s) {
    if (world == 1) return;
    if (rank == 0) rank0(port, world, id, bytes, timeout_s);
    else other_rank(host, port, rank, world, id, bytes, timeout_s);
}
