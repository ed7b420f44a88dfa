// The fs and tcp rendezvous (comm/rendezvous.h) on their own, for
// test/test_rendezvous.sh: rank, world size and local rank from the
// launcher's environment (comm/launcher.h), comm.* from --config/--set;
// rank 0 draws a fake 128-byte id (NCCL's unique id is 128 bytes) and every
// rank prints the id it ends up with:
//   rank R of W (local L, LAUNCHER): id HEX
#include <stdio.h>
#include <string.h>

#include "comm/launcher.h"
#include "comm/rendezvous.h"
#include "common/config.h"
#include "common/error.h"

int main(int argc, char **argv) {
    Config cfg;
    config_from_args(&cfg, argc, argv);
    LauncherRanks lr;
    char why[256];
    if (launcher_ranks_from_env(&lr, why, sizeof why) < 0) fail("launcher environment: %s", why);
    if (strcmp(cfg.comm.init, "fs") != 0 && strcmp(cfg.comm.init, "tcp") != 0)
        fail("tool_rendezvous: set comm.init to fs or tcp (got %s)", cfg.comm.init);
    unsigned char id[128] = {0};
    if (lr.rank == 0) {
        FILE *f = xfopen("/dev/urandom", "rb");
        xfread(id, 1, sizeof id, f, "/dev/urandom");
        xfclose(f, "/dev/urandom");
    }
    rendezvous_exchange(&cfg.comm, lr.rank, lr.world, id, sizeof id);
    printf("rank %d of %d (local %d, %s): id ", lr.rank, lr.world, lr.local_rank, lr.launcher ? lr.launcher : "none");
    for (size_t i = 0; i < sizeof id; i++) printf("%02x", id[i]);
    printf("\n");
    return 0;
}
