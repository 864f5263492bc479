/* rendezvous_probe.c — one rank of a real launch (torchrun), for
   test/test_torchrun.sh: what the launcher told us, and what rendezvous.h
   made of it.

     rendezvous_probe              run by the launcher, once per rank
     rendezvous_probe --free-port  prints a port P where P and P + 1 are free

   As a rank: ut_launch_from_env, then ut_rendezvous on a 128-byte blob (the
   size of NCCL's id). Rank 0's bytes come from its pid and the clock, so
   they differ from run to run; every other rank starts with its own bytes.
   Each rank prints one line (one write, so that two ranks' lines do not mix):
     rank R of W local L of LW: blob HASH port P (WHY) MASTER_PORT=...
         TORCHELASTIC_USE_AGENT_STORE=... master_port_free=yes|no|-
   HASH is a 64-bit FNV-1a of the blob after the rendezvous: the same on
   every rank if rank 0's blob reached it. master_port_free (rank 0 only,
   before it listens): whether this machine could bind MASTER_PORT now;
   "no" means someone else (torchrun's agent store) holds it.
   An error: one line on stderr, exit 1. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "../rendezvous.h"
#include <signal.h>

#define BLOB 128

/* 1 if a TCP socket can bind `port` on every interface now (as rank 0 would), else 0 */
static int port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons((uint16_t)port);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* a port P with P and P + 1 free: the kernel picks P (bind to port 0), we check P + 1 */
static int free_port_pair(void) {
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || getsockname(fd, (struct sockaddr *)&sa, &len)) {
            if (fd >= 0) close(fd);
            return -1;
        }
        int p = ntohs(sa.sin_port);
        close(fd);
        if (p < 65535 && port_free(p) && port_free(p + 1)) return p;
    }
    return -1;
}

/* 64-bit FNV-1a: a short fingerprint of the blob */
static uint64_t fnv1a(const unsigned char *b, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ull; }
    return h;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "--free-port")) {
        int p = free_port_pair();
        if (p < 0) { fprintf(stderr, "rendezvous_probe: no free port pair found\n"); return 1; }
        printf("%d\n", p);
        return 0;
    }
    if (argc > 1) { fprintf(stderr, "usage: rendezvous_probe [--free-port]\n"); return 2; }

    ut_launch L;
    char err[512] = "";
    if (ut_launch_from_env(&L, err, sizeof err)) { fprintf(stderr, "rendezvous_probe: %s\n", err); return 1; }
    /* rank 0: bytes from its pid and the clock (splitmix64); the others: their own bytes */
    unsigned char blob[BLOB];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000000ull ^ (uint64_t)ts.tv_nsec;
    for (int i = 0; i < BLOB; i++) {
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        blob[i] = L.rank == 0 ? (unsigned char)(z ^ (z >> 31)) : (unsigned char)(L.rank * 31 + i);
    }
    /* rank 0 looks at MASTER_PORT before it listens anywhere: is it free? */
    const char *mp = getenv("MASTER_PORT"), *agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
    const char *free_s = "-";
    if (L.rank == 0 && mp && !L.file[0]) free_s = port_free(atoi(mp)) ? "yes" : "no";
    if (ut_rendezvous(&L, blob, BLOB, err, sizeof err)) {
        fprintf(stderr, "rendezvous_probe: rank %d: %s\n", L.rank, err);
        return 1;
    }
    char line[600];
    snprintf(line, sizeof line, "rank %d of %d local %d of %d: blob %016llx port %d (%s) MASTER_PORT=%s "
             "TORCHELASTIC_USE_AGENT_STORE=%s master_port_free=%s\n", L.rank, L.world, L.local_rank, L.local_world,
             (unsigned long long)fnv1a(blob, BLOB), L.port, L.port_why, mp ? mp : "(unset)", agent ? agent : "(unset)",
             free_s);
    ssize_t w = write(1, line, strlen(line));
    return w == (ssize_t)strlen(line) ? 0 : 1;
}
