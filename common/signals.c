#include "common/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) {
    if (stop_signal) {
        static const char msg[] = "second signal: exiting at once (the last complete checkpoint is intact)\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
        }
        _exit(128 + sig);
    }
    stop_signal = sig;
}

void signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // reads and writes in flight carry on
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        fail("cannot install the SIGINT/SIGTERM handlers");
}

int signals_stop_requested(void) { return stop_signal; }

const char *signals_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

void signals_ignore_file_size_limit(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGXFSZ, &sa, NULL) != 0) fail("cannot ignore SIGXFSZ");
}
