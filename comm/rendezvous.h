// Starting a job's communicator without MPI: rank 0 hands a small id (NCCL's
// unique id, 128 bytes) to every other rank, through a directory on a file
// system all nodes share (comm.init "fs", rendezvous_fs.c) or over TCP to
// rank 0's host and port (comm.init "tcp", rendezvous_tcp.c). Rank, world
// size and local rank come from the launcher's environment (launcher.h).
//
// Every wait is bounded by comm.timeout_s; a rank that gives up, or finds
// the other side inconsistent (another world size, a rank twice), fails
// with one line naming the method, the place and what is missing.
#ifndef COMM_RENDEZVOUS_H
#define COMM_RENDEZVOUS_H

#include <stddef.h>

#include "common/config.h"

// Exchanges id: rank 0's `bytes` bytes end up in every rank's id. cfg's
// comm.init picks the method ("fs" or "tcp").
void rendezvous_exchange(const CommConfig *cfg, int rank, int world, void *id, size_t bytes);

void rendezvous_fs(const char *dir, int rank, int world, void *id, size_t bytes, double timeout_s);
void rendezvous_tcp(const char *host, int port, int rank, int world, void *id, size_t bytes, double timeout_s);

// Shared by both: seconds on a monotonic clock, a short sleep, and a token
// that names this process (host, pid and random bits: a stale file or a
// stray connection from another job does not carry it).
double rendezvous_now(void);
void rendezvous_sleep_ms(int ms);
void rendezvous_token(char *buf, size_t cap);
// Rank list "2, 3" of the ranks in [1, world) with have[r] == 0 (at most a few).
void rendezvous_missing(const unsigned char *have, int world, char *buf, size_t cap);

#endif
