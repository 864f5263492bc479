/* rendezvous.h — how the ranks of a GPU job find each other without MPI.

   WHY. NCCL (the GPU collectives, comm.h) joins W processes into one
   communicator once every process holds the same 128-byte ncclUniqueId,
   which rank 0 creates. Under mpirun, MPI_Bcast carries it. Without MPI
   (torchrun, srun, or processes started by hand) two things are needed:
     1. each process must learn who it is: its rank, the world size, and
        which GPU of its machine to take (the local rank);
     2. rank 0's id must reach the others (the "rendezvous").
   Both are plain C and POSIX here, with no CUDA, so that test/test_rendezvous.c
   checks them on any machine (they move a blob; what is in it is NCCL's business).

   1. WHO AM I: the launcher's environment variables, read by ut_launch_from_env
        torchrun style   RANK, WORLD_SIZE, LOCAL_RANK (default: RANK, one machine),
                         LOCAL_WORLD_SIZE (default: WORLD_SIZE)
        Slurm (srun)     SLURM_PROCID, SLURM_STEP_NUM_TASKS (srun's count of
                         the step's tasks; else SLURM_NTASKS), SLURM_LOCALID,
                         SLURM_NTASKS_PER_NODE ("4" or "4(x2)": its first number).
                         Slurm also sets SLURM_PROCID=0 (and SLURM_NTASKS, if the
                         job asked for tasks) in a batch script and in an
                         salloc shell, where the program was started by the
                         shell, not by srun: one task (or no count) is a
                         single process, as a plain start is
        none of them     rank 0 of 1: a single process, no rendezvous
      RANK/WORLD_SIZE win over the Slurm names when both are set (torchrun
      inside an sbatch job). Every value must be a whole number, and
      0 <= RANK < WORLD_SIZE: a wrong launch is one clear error line, never
      a job that waits for a rank that cannot come.

   2. THE RENDEZVOUS: rank 0's blob to every rank, ut_rendezvous
        UT_RENDEZVOUS=PATH  a file on a file system every rank sees: rank 0
                 writes PATH.tmp.PID, then renames it to PATH (a rename is
                 atomic: a reader sees no file or the whole file); the others
                 look for it every 50 ms. PATH must be new for each job (put
                 $SLURM_JOB_ID in it): rank 0 refuses a PATH that exists, since
                 the others might already have read an old job's id.
        otherwise TCP  MASTER_ADDR, MASTER_PORT (as torchrun): rank 0 listens
                 on MASTER_PORT; each other rank connects to it (trying again
                 every 100 ms until rank 0 is up) and says hello; rank 0
                 checks the hello and answers with the blob.
                 Under torchrun, MASTER_PORT is free or not depending on its
                 rendezvous backend, and torchrun says which in
                 TORCHELASTIC_USE_AGENT_STORE (tried with torch 1.13's
                 torchrun, both backends: test/test_torchrun.sh):
                   "True"  (--rdzv_backend static, torchrun's default, with
                           --master_addr/--master_port): torchrun's own
                           key-value store (its "agent store") listens on
                           MASTER_PORT, so rank 0 takes MASTER_PORT + 1;
                   "False" (c10d, e.g. --standalone): MASTER_PORT is a port
                           torchrun found free and closed again: ours.
                 Unset (not torchrun, or an older one): MASTER_PORT.
      Both wait at most UT_RENDEZVOUS_TIMEOUT seconds (default 300), then fail
      with a line saying who did not come: rank 0 lists the missing ranks,
      the others say that rank 0 never came.

   THE TCP EXCHANGE, all numbers as 4-byte big-endian ("network order"):
        rank r -> rank 0    "UTRV", r, W, n        (16 bytes: who r is, what it expects)
        rank 0 -> rank r    status, then            status 0: the blob (n bytes)
                                                    status 1: a 256-byte reason
      rank 0 answers status 1 (and fails itself) when r's W differs from its
      own, when r is out of range or came twice, or when n differs: the
      whole job must stop, and both ends say why in one line.

   ERRORS. Functions return 0, or -1 with one line (no newline) in err.
   They never exit (the caller decides: train.c prints and ends the job). */
#ifndef UT_RENDEZVOUS_H
#define UT_RENDEZVOUS_H

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

typedef struct {
    int rank, world;            /* this process is rank `rank` of `world` */
    int local_rank, local_world;/* its place among the ranks of its machine: the GPU it takes */
    const char *how;            /* "env" (RANK, WORLD_SIZE), "slurm", or "none" (a single process) */
    char addr[256];             /* MASTER_ADDR ("" if unset) */
    int port;                   /* rank 0's port: MASTER_PORT, or MASTER_PORT + 1 (0 if unset) */
    const char *port_why;       /* where `port` comes from, for the error lines */
    char file[4096];            /* UT_RENDEZVOUS ("" if unset: TCP) */
    double timeout_s;           /* UT_RENDEZVOUS_TIMEOUT */
} ut_launch;

#define UT_RV_MAGIC 0x55545256u   /* "UTRV" */

/* err <- one formatted line; returns -1 so that callers write `return rv_err(...)` */
static inline int rv_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int rv_err(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* A whole number from the environment variable `name`, in [lo, hi].
   1: read into *v; 0: not set; -1: set but not such a number (err says so). */
static inline int rv_env_int(const char *name, long lo, long hi, int *v, char *err, size_t n) {
    const char *s = getenv(name);
    if (!s) return 0;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    /* SLURM_NTASKS_PER_NODE (the one name with PER_NODE in it) may read
       "4(x2)": four tasks on each of two nodes. (strstr, not strcmp: gcc
       warns, wrongly, about a strcmp of a name known after inlining.) */
    int ok = end != s && errno == 0 && (*end == 0 || (strstr(name, "PER_NODE") && *end == '('));
    if (!ok || x < lo || x > hi)
        return rv_err(err, n, "%s=\"%s\" is not a whole number in [%ld, %ld]", name, s, lo, hi);
    *v = (int)x;
    return 1;
}

static inline double rv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static inline void rv_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fills L from the environment (see the top of the file). */
static inline int ut_launch_from_env(ut_launch *L, char *err, size_t n) {
    memset(L, 0, sizeof *L);
    L->world = L->local_world = 1;
    L->how = "none";
    L->port_why = "MASTER_PORT";
    L->timeout_s = 300;
    const char *rank_v, *world_v, *local_v, *lworld_v;
    if (getenv("RANK") || getenv("WORLD_SIZE")) {
        L->how = "env"; rank_v = "RANK"; world_v = "WORLD_SIZE"; local_v = "LOCAL_RANK"; lworld_v = "LOCAL_WORLD_SIZE";
    } else if (getenv("SLURM_PROCID") || getenv("SLURM_NTASKS") || getenv("SLURM_STEP_NUM_TASKS")) {
        world_v = getenv("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
        int w = 1;
        if (rv_env_int(world_v, 1, 1 << 30, &w, err, n) < 0) return -1;
        if (w == 1) return 0;   /* one task (a batch script, an salloc shell, srun -n 1): a single process */
        L->how = "slurm"; rank_v = "SLURM_PROCID"; local_v = "SLURM_LOCALID"; lworld_v = "SLURM_NTASKS_PER_NODE";
    } else {
        return 0;   /* a single process */
    }
    int got_rank = rv_env_int(rank_v, 0, 1 << 30, &L->rank, err, n);
    if (got_rank < 0) return -1;
    int got_world = rv_env_int(world_v, 1, 1 << 30, &L->world, err, n);
    if (got_world < 0) return -1;
    if (!got_rank) return rv_err(err, n, "%s is set but %s is not: a launch sets both (this rank's number)", world_v, rank_v);
    if (!got_world) return rv_err(err, n, "%s is set but %s is not: a launch sets both (the number of ranks)", rank_v, world_v);
    if (L->rank >= L->world)
        return rv_err(err, n, "%s=%d is not below %s=%d: ranks are numbered 0 to %d", rank_v, L->rank, world_v, L->world,
                      L->world - 1);
    /* the local rank picks the GPU; on one machine it is the rank itself */
    L->local_rank = L->rank;
    L->local_world = L->world;
    if (rv_env_int(local_v, 0, 1 << 30, &L->local_rank, err, n) < 0) return -1;
    if (rv_env_int(lworld_v, 1, 1 << 30, &L->local_world, err, n) < 0) return -1;
    if (rv_env_int("MASTER_PORT", 1, 65535, &L->port, err, n) < 0) return -1;
    /* torchrun tells its workers whether its own key-value store (the
       "agent store") listens on MASTER_PORT: "True" with its static backend.
       Then that port is taken and rank 0 listens on the next one. "False"
       (the c10d backend, e.g. --standalone) or unset: MASTER_PORT is ours. */
    const char *agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
    if (L->port && agent && !strcmp(agent, "True")) {
        if (L->port == 65535)
            return rv_err(err, n, "MASTER_PORT=65535 leaves no port after it for the rendezvous "
                          "(TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent store holds MASTER_PORT)");
        L->port++;
        L->port_why = "MASTER_PORT + 1: torchrun's agent store holds MASTER_PORT";
    }
    const char *a = getenv("MASTER_ADDR"), *f = getenv("UT_RENDEZVOUS"), *t = getenv("UT_RENDEZVOUS_TIMEOUT");
    if (a) snprintf(L->addr, sizeof L->addr, "%s", a);
    if (f) snprintf(L->file, sizeof L->file, "%s", f);
    if (t) {
        char *end;
        L->timeout_s = strtod(t, &end);
        if (end == t || *end || !(L->timeout_s > 0) || L->timeout_s > 1e6)
            return rv_err(err, n, "UT_RENDEZVOUS_TIMEOUT=\"%s\" is not a number of seconds in (0, 1e6]", t);
    }
    if (!L->file[0] && (!L->addr[0] || !L->port))
        return rv_err(err, n, "%s is not set: the ranks meet at rank 0's MASTER_ADDR:MASTER_PORT "
                      "(or set UT_RENDEZVOUS=PATH, a new file on a shared file system)",
                      !L->addr[0] ? "MASTER_ADDR" : "MASTER_PORT");
    return 0;
}

/* ---- TCP --------------------------------------------------------------- */

/* Send or receive exactly `len` bytes before the monotonic time `deadline`.
   0 ok; -1 timeout, error, or the other end closed (errno = 0 then). */
static inline int rv_io(int fd, void *buf, size_t len, int sending, double deadline) {
    char *p = (char *)buf;
    while (len > 0) {
        int ms = (int)((deadline - rv_now()) * 1000);
        if (ms <= 0) { errno = ETIMEDOUT; return -1; }
        struct pollfd pf = {fd, (short)(sending ? POLLOUT : POLLIN), 0};
        int r = poll(&pf, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { if (r == 0) errno = ETIMEDOUT; return -1; }
        /* MSG_NOSIGNAL: a peer that is gone gives EPIPE, not the SIGPIPE that would kill us */
        ssize_t k = sending ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { if (k == 0) errno = 0; return -1; }
        p += k; len -= (size_t)k;
    }
    return 0;
}
static inline void rv_put32(unsigned char *b, uint32_t x) { uint32_t be = htonl(x); memcpy(b, &be, 4); }
static inline uint32_t rv_get32(const unsigned char *b) { uint32_t be; memcpy(&be, b, 4); return ntohl(be); }

/* Rank 0: listen on the port, answer every other rank with the blob. The
   reply to a wrong hello is a reason, and rank 0 fails too: a launch with
   inconsistent sizes must not start. */
static inline int rv_tcp_serve(const ut_launch *L, const void *blob, uint32_t len, char *err, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return rv_err(err, n, "rendezvous: socket: %s", strerror(errno));
    int one = 1;   /* a port left in TIME_WAIT by the previous job may be taken again at once */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);   /* every interface: MASTER_ADDR names this machine for the others */
    sa.sin_port = htons((uint16_t)L->port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 128)) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return rv_err(err, n, "rendezvous: port %d (%s) is in use on rank 0's machine: choose another MASTER_PORT",
                          L->port, L->port_why);
        return rv_err(err, n, "rendezvous: cannot listen on port %d (%s): %s", L->port, L->port_why, strerror(e));
    }
    char *came = (char *)calloc((size_t)L->world, 1);
    if (!came) { close(fd); return rv_err(err, n, "rendezvous: out of memory"); }
    double deadline = rv_now() + L->timeout_s;
    int left = L->world - 1, rc = 0;
    while (left > 0 && rc == 0) {
        int ms = (int)((deadline - rv_now()) * 1000);
        struct pollfd pf = {fd, POLLIN, 0};
        int r = ms > 0 ? poll(&pf, 1, ms) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;   /* timed out: the missing ranks are listed below */
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        unsigned char hello[16], reply[4 + 256];
        /* a hello must come soon after the connection: a stray client cannot stall us */
        double hd = rv_now() + 10 < deadline ? rv_now() + 10 : deadline;
        if (rv_io(c, hello, sizeof hello, 0, hd) || rv_get32(hello) != UT_RV_MAGIC) { close(c); continue; }
        uint32_t r_rank = rv_get32(hello + 4), r_world = rv_get32(hello + 8), r_len = rv_get32(hello + 12);
        char why[256] = "";
        if (r_world != (uint32_t)L->world)
            snprintf(why, sizeof why, "rank %u has WORLD_SIZE=%u, rank 0 has %d: every rank must be given the same",
                     r_rank, r_world, L->world);
        else if (r_rank == 0 || r_rank >= (uint32_t)L->world)
            snprintf(why, sizeof why, "a process says it is rank %u of %d: ranks 1 to %d connect to rank 0", r_rank,
                     L->world, L->world - 1);
        else if (came[r_rank])
            snprintf(why, sizeof why, "two processes say they are rank %u", r_rank);
        else if (r_len != len)
            snprintf(why, sizeof why, "rank %u expects %u bytes, rank 0 sends %u (different builds?)", r_rank, r_len, len);
        if (why[0]) {
            rv_put32(reply, 1);
            memcpy(reply + 4, why, sizeof why);
            rv_io(c, reply, sizeof reply, 1, hd);
            rc = rv_err(err, n, "rendezvous: %s", why);
        } else {
            rv_put32(reply, 0);
            if (rv_io(c, reply, 4, 1, deadline) == 0 && rv_io(c, (void *)blob, len, 1, deadline) == 0) {
                came[r_rank] = 1;
                left--;
            }
        }
        close(c);
    }
    if (rc == 0 && left > 0) {   /* name the ranks that did not come (the first few) */
        char list[200] = "";
        int shown = 0;
        for (int r = 1; r < L->world && shown < 8; r++)
            if (!came[r]) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", shown++ ? ", " : "", r);
        rc = rv_err(err, n, "rendezvous: rank%s %s%s (%d of %d) did not come to port %d within %g s (UT_RENDEZVOUS_TIMEOUT)",
                    left > 1 ? "s" : "", list, left > shown ? ", ..." : "", left, L->world - 1, L->port, L->timeout_s);
    }
    free(came);
    close(fd);
    return rc;
}

/* One attempt to connect to addr:port before `deadline`; the socket or -1. */
static inline int rv_connect_once(const char *addr, int port, double deadline) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(addr, ps, &hints, &ai) || !ai) return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0) {
        /* non-blocking connect, so that an unreachable machine costs at most the time left */
        int fl = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen), ok = r == 0;
        if (r < 0 && errno == EINPROGRESS) {
            int ms = (int)((deadline - rv_now()) * 1000), e = 0;
            struct pollfd pf = {fd, POLLOUT, 0};
            socklen_t el = sizeof e;
            ok = ms > 0 && poll(&pf, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0;
        }
        fcntl(fd, F_SETFL, fl);
        if (!ok) { close(fd); fd = -1; }
    }
    freeaddrinfo(ai);
    return fd;
}

/* Ranks 1..W-1: connect (again and again until rank 0 listens), say hello,
   read the blob. */
static inline int rv_tcp_join(const ut_launch *L, void *blob, uint32_t len, char *err, size_t n) {
    double deadline = rv_now() + L->timeout_s;
    int fd = -1;
    while ((fd = rv_connect_once(L->addr, L->port, deadline)) < 0) {
        if (rv_now() + 0.1 >= deadline)
            return rv_err(err, n, "rendezvous: rank 0 never came: nothing answered at %s:%d (MASTER_ADDR, %s) "
                          "within %g s (UT_RENDEZVOUS_TIMEOUT)", L->addr, L->port, L->port_why, L->timeout_s);
        rv_sleep_ms(100);
    }
    unsigned char hello[16], status[4];
    rv_put32(hello, UT_RV_MAGIC);
    rv_put32(hello + 4, (uint32_t)L->rank);
    rv_put32(hello + 8, (uint32_t)L->world);
    rv_put32(hello + 12, len);
    int rc = 0;
    if (rv_io(fd, hello, sizeof hello, 1, deadline) || rv_io(fd, status, 4, 0, deadline)) {
        rc = rv_err(err, n, "rendezvous: rank 0 at %s:%d did not answer: %s", L->addr, L->port,
                    errno ? strerror(errno) : "it closed the connection (see its error)");
    } else if (rv_get32(status) != 0) {
        char why[257] = "";
        rv_io(fd, why, 256, 0, deadline);
        why[256] = 0;
        rc = rv_err(err, n, "rendezvous: rank 0 refused rank %d: %s", L->rank, why);
    } else if (rv_io(fd, blob, len, 0, deadline)) {
        rc = rv_err(err, n, "rendezvous: rank 0 at %s:%d closed before sending the id", L->addr, L->port);
    }
    close(fd);
    return rc;
}

/* ---- a shared file ---------------------------------------------------- */

/* file layout: "UTRV", W, n (4 bytes each, big-endian), then the blob */
static inline int rv_file_write(const ut_launch *L, const void *blob, uint32_t len, char *err, size_t n) {
    struct stat st;
    if (stat(L->file, &st) == 0)
        return rv_err(err, n, "rendezvous: %s (UT_RENDEZVOUS) already exists, from an earlier job? Remove it, or give "
                      "each job its own path (e.g. with $SLURM_JOB_ID)", L->file);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", L->file, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return rv_err(err, n, "rendezvous: cannot write %s: %s", tmp, strerror(errno));
    unsigned char head[12];
    rv_put32(head, UT_RV_MAGIC);
    rv_put32(head + 4, (uint32_t)L->world);
    rv_put32(head + 8, len);
    int ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(blob, 1, len, f) == len && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, L->file)) {   /* the rename makes it appear whole */
        int e = errno;
        unlink(tmp);
        return rv_err(err, n, "rendezvous: cannot write %s: %s", L->file, strerror(e));
    }
    return 0;
}
static inline int rv_file_read(const ut_launch *L, void *blob, uint32_t len, char *err, size_t n) {
    double deadline = rv_now() + L->timeout_s;
    for (;;) {
        FILE *f = fopen(L->file, "rb");
        if (f) {
            unsigned char head[12];
            int got = fread(head, 1, sizeof head, f) == sizeof head && rv_get32(head) == UT_RV_MAGIC;
            uint32_t w = got ? rv_get32(head + 4) : 0, k = got ? rv_get32(head + 8) : 0;
            int whole = got && k == len && fread(blob, 1, len, f) == len;
            fclose(f);
            if (got && w != (uint32_t)L->world)
                return rv_err(err, n, "rendezvous: %s was written by rank 0 of %u ranks; this is rank %d of %d", L->file,
                              w, L->rank, L->world);
            if (got && k != len)
                return rv_err(err, n, "rendezvous: %s holds %u bytes, this rank expects %u", L->file, k, len);
            if (whole) return 0;
            return rv_err(err, n, "rendezvous: %s is not a rendezvous file of ultrathink", L->file);
        }
        if (rv_now() + 0.05 >= deadline)
            return rv_err(err, n, "rendezvous: rank 0 never came: %s (UT_RENDEZVOUS) did not appear within %g s "
                          "(UT_RENDEZVOUS_TIMEOUT)", L->file, L->timeout_s);
        rv_sleep_ms(50);
    }
}

/* rank 0's blob (len bytes) -> blob on every rank. A single process
   (world 1, no launcher) has nothing to do; world 1 from a launcher still
   goes through the rendezvous (a check of the launch itself). */
static inline int ut_rendezvous(const ut_launch *L, void *blob, size_t len, char *err, size_t n) {
    if (!strcmp(L->how, "none")) return 0;
    if (len > (1u << 20)) return rv_err(err, n, "rendezvous: a blob of %zu bytes is too big", len);
    if (L->file[0])
        return L->rank == 0 ? rv_file_write(L, blob, (uint32_t)len, err, n) : rv_file_read(L, blob, (uint32_t)len, err, n);
    return L->rank == 0 ? rv_tcp_serve(L, blob, (uint32_t)len, err, n) : rv_tcp_join(L, blob, (uint32_t)len, err, n);
}

/* After every rank has joined (the caller knows: its first collective
   returned), rank 0 removes the rendezvous file, so that the path cannot
   mislead a later job. */
static inline void ut_rendezvous_done(const ut_launch *L) {
    if (L->rank == 0 && L->file[0]) unlink(L->file);
}

#endif /* UT_RENDEZVOUS_H */
