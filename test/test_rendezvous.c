/* test_rendezvous.c — rendezvous.h on this machine, no GPU, no MPI.

   Each check starts W processes (fork) with a launcher's environment, as
   torchrun or srun would, on 127.0.0.1; each runs ut_launch_from_env and
   ut_rendezvous on a 128-byte blob (the size of NCCL's id). Every rank
   starts with its own bytes; afterwards every rank must hold rank 0's.
   A child reports through a pipe: "OK" or its error line. The errors are
   checked for their words and for ending in bounded time (timeouts of 1 s).
   Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on any failure. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "../rendezvous.h"
#include <signal.h>
#include <sys/wait.h>

#define BLOB 128
static int passed, failed;

static void check(int ok, const char *name, const char *detail) {
    if (ok) { printf("PASS %s\n", name); passed++; }
    else { printf("FAIL %s %s\n", name, detail); failed++; }
    fflush(stdout);
}

/* A port nobody uses now: bind to port 0, the kernel picks one. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || getsockname(fd, (struct sockaddr *)&sa, &len)) {
        perror("free_port");
        exit(2);
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static void clear_env(void) {
    const char *names[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                           "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "TORCHELASTIC_RUN_ID",
                           "TORCHELASTIC_USE_AGENT_STORE", "UT_RENDEZVOUS", "UT_RENDEZVOUS_TIMEOUT"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unsetenv(names[i]);
}

/* env: "NAME=VALUE;NAME=VALUE;..." set in this process */
static void set_env(const char *env) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        setenv(kv, eq + 1, 1);
    }
}

/* The child: its environment, then the library's two calls; writes "OK
   local_rank local_world" or the error line to fd; exits 0 on OK. */
static void child(const char *env, int fd, int delay_ms) {
    clear_env();
    set_env(env);
    rv_sleep_ms(delay_ms);
    ut_launch L;
    char err[512] = "", msg[600];
    unsigned char blob[BLOB];
    int rc = ut_launch_from_env(&L, err, sizeof err);
    for (int i = 0; i < BLOB; i++) blob[i] = (unsigned char)(L.rank * 31 + i);   /* each rank its own bytes */
    if (rc == 0) rc = ut_rendezvous(&L, blob, BLOB, err, sizeof err);
    for (int i = 0; rc == 0 && i < BLOB; i++)
        if (blob[i] != (unsigned char)i) rc = rv_err(err, sizeof err, "byte %d is %d, rank 0 sent %d", i, blob[i], i);
    if (rc == 0) snprintf(msg, sizeof msg, "OK %d %d %d %d %s", L.rank, L.world, L.local_rank, L.local_world, L.how);
    else snprintf(msg, sizeof msg, "%s", err);
    ssize_t w = write(fd, msg, strlen(msg));
    (void)w;
    _exit(rc == 0 ? 0 : 1);
}

/* Runs W children, child r with env[r] after delay[r] ms; their messages
   into out[r]; returns the wall time in seconds. */
#define MAXW 4
static double run_ranks(int W, char env[][512], const int *delay, char out[][600]) {
    int fds[MAXW];
    pid_t pids[MAXW];
    double t0 = rv_now();
    for (int r = 0; r < W; r++) {
        int p[2];
        if (pipe(p)) { perror("pipe"); exit(2); }
        pids[r] = fork();
        if (pids[r] == 0) { close(p[0]); child(env[r], p[1], delay[r]); }
        close(p[1]);
        fds[r] = p[0];
    }
    for (int r = 0; r < W; r++) {
        ssize_t k = 0, got;
        while (k < 599 && (got = read(fds[r], out[r] + k, (size_t)(599 - k))) > 0) k += got;
        out[r][k > 0 ? k : 0] = 0;
        close(fds[r]);
        int st;
        waitpid(pids[r], &st, 0);
    }
    return rv_now() - t0;
}

/* every child said OK; detail names the first that did not */
static int all_ok(int W, char out[][600], char *detail, size_t n) {
    for (int r = 0; r < W; r++)
        if (strncmp(out[r], "OK", 2)) { snprintf(detail, n, "(rank %d: %s)", r, out[r]); return 0; }
    return 1;
}
static int one_line(const char *s) { return !strchr(s, '\n') && s[0]; }

/* W ranks over TCP, rank 0 starting last (the others must wait for it) */
static void test_tcp(int W) {
    char env[MAXW][512], out[MAXW][600], name[64], detail[700] = "";
    int delay[MAXW], port = free_port();
    for (int r = 0; r < W; r++) {
        snprintf(env[r], sizeof env[r], "RANK=%d;WORLD_SIZE=%d;LOCAL_RANK=%d;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;"
                 "UT_RENDEZVOUS_TIMEOUT=5", r, W, r, port);
        delay[r] = r == 0 ? 300 : 0;
    }
    double t = run_ranks(W, env, delay, out);
    snprintf(name, sizeof name, "tcp_%d_ranks_get_rank0_blob", W);
    int ok = all_ok(W, out, detail, sizeof detail);
    if (ok && t > 4) { ok = 0; snprintf(detail, sizeof detail, "(took %.1f s)", t); }
    check(ok, name, detail);
}

/* Slurm's names (srun without MPI): the local id is the GPU */
static void test_slurm(void) {
    char env[3][512], out[3][600], detail[700] = "";
    int delay[3] = {0, 0, 0}, port = free_port();
    for (int r = 0; r < 3; r++)
        snprintf(env[r], sizeof env[r], "SLURM_PROCID=%d;SLURM_NTASKS=3;SLURM_LOCALID=%d;SLURM_NTASKS_PER_NODE=2(x1);"
                 "MASTER_ADDR=localhost;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=5", r, r % 2, port);
    run_ranks(3, env, delay, out);
    int ok = all_ok(3, out, detail, sizeof detail);
    if (ok && strcmp(out[2], "OK 2 3 0 2 slurm")) { ok = 0; snprintf(detail, sizeof detail, "(rank 2 read: %s)", out[2]); }
    check(ok, "slurm_3_ranks_local_id", detail);
    /* srun's count of the step's tasks wins over the allocation's */
    int port2 = free_port();
    for (int r = 0; r < 2; r++)
        snprintf(env[r], sizeof env[r], "SLURM_PROCID=%d;SLURM_NTASKS=8;SLURM_STEP_NUM_TASKS=2;SLURM_LOCALID=%d;"
                 "MASTER_ADDR=localhost;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=5", r, r, port2);
    run_ranks(2, env, delay, out);
    ok = all_ok(2, out, detail, sizeof detail);
    if (ok && strcmp(out[1], "OK 1 2 1 2 slurm")) { ok = 0; snprintf(detail, sizeof detail, "(rank 1 read: %s)", out[1]); }
    check(ok, "slurm_step_tasks_win", detail);
    /* a batch script or an salloc shell: Slurm's names with one task, or no
       count at all, are a single process (no MASTER_ADDR needed, no wait) */
    const char *one[] = {"SLURM_PROCID=0;SLURM_LOCALID=0", "SLURM_PROCID=0;SLURM_LOCALID=0;SLURM_NTASKS=1",
                         "SLURM_PROCID=0;SLURM_NTASKS=4;SLURM_STEP_NUM_TASKS=1"};
    ok = 1;
    for (int i = 0; i < 3; i++) {
        snprintf(env[0], sizeof env[0], "%s", one[i]);
        run_ranks(1, env, delay, out);
        if (strcmp(out[0], "OK 0 1 0 1 none")) { ok = 0; snprintf(detail, sizeof detail, "(%s: %s)", one[i], out[0]); }
    }
    check(ok, "slurm_one_task_is_single_process", detail);
}

/* the shared file: rank 0 late, the others poll; then an existing file is refused */
static void test_file(void) {
    char dir[] = "/tmp/ut_rv_XXXXXX", env[3][512], out[3][600], detail[700] = "";
    int delay[3] = {300, 0, 0};
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    for (int r = 0; r < 3; r++)
        snprintf(env[r], sizeof env[r], "RANK=%d;WORLD_SIZE=3;UT_RENDEZVOUS=%s/id;UT_RENDEZVOUS_TIMEOUT=5", r, dir);
    run_ranks(3, env, delay, out);
    check(all_ok(3, out, detail, sizeof detail), "file_3_ranks_get_rank0_blob", detail);
    /* the file is still there (no ut_rendezvous_done): a new job on the same path must be refused */
    snprintf(env[0], sizeof env[0], "RANK=0;WORLD_SIZE=1;UT_RENDEZVOUS=%s/id", dir);
    run_ranks(1, env, delay + 1, out);
    snprintf(detail, sizeof detail, "(%s)", out[0]);
    check(strstr(out[0], "already exists") && one_line(out[0]), "file_exists_refused", detail);
    /* once every rank has joined, rank 0 removes the file (comm_finalize) */
    ut_launch L;
    memset(&L, 0, sizeof L);
    snprintf(L.file, sizeof L.file, "%s/id", dir);
    ut_rendezvous_done(&L);
    struct stat st;
    check(stat(L.file, &st) != 0, "file_removed_when_done", "(the file is still there)");
    /* nobody writes the file: a rank says rank 0 never came, within the timeout */
    snprintf(env[0], sizeof env[0], "RANK=1;WORLD_SIZE=2;UT_RENDEZVOUS=%s/id;UT_RENDEZVOUS_TIMEOUT=1", dir);
    double t = run_ranks(1, env, delay + 1, out);
    snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
    check(strstr(out[0], "rank 0 never came") && t < 3, "file_rank0_never_came", detail);
    rmdir(dir);
}

/* launch errors: each one line, in bounded time */
static void test_errors(void) {
    struct { const char *name, *env, *words; } cases[] = {
        {"err_world_size_missing", "RANK=1;MASTER_ADDR=127.0.0.1;MASTER_PORT=1234", "WORLD_SIZE is not"},
        {"err_rank_missing", "WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=1234", "RANK is not"},
        {"err_rank_not_below_world", "RANK=2;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=1234", "not below WORLD_SIZE=2"},
        {"err_rank_not_a_number", "RANK=one;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=1234", "RANK=\"one\""},
        {"err_master_addr_missing", "RANK=0;WORLD_SIZE=2;MASTER_PORT=1234", "MASTER_ADDR is not set"},
        {"err_master_port_bad", "RANK=0;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=70000", "MASTER_PORT=\"70000\""},
        {"err_slurm_rank_too_big", "SLURM_PROCID=4;SLURM_NTASKS=4;MASTER_ADDR=x;MASTER_PORT=1", "SLURM_PROCID=4 is not below"},
        {"err_timeout_bad", "RANK=0;WORLD_SIZE=1;MASTER_ADDR=x;MASTER_PORT=1;UT_RENDEZVOUS_TIMEOUT=-1", "UT_RENDEZVOUS_TIMEOUT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char env[1][512], out[1][600], detail[700];
        int delay[1] = {0};
        snprintf(env[0], sizeof env[0], "%s", cases[i].env);
        double t = run_ranks(1, env, delay, out);
        snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
        check(strstr(out[0], cases[i].words) && one_line(out[0]) && t < 2, cases[i].name, detail);
    }
    /* torchrun's port rule: its agent store holds MASTER_PORT only when it
       says so (TORCHELASTIC_USE_AGENT_STORE=True, the static backend); then
       the rendezvous takes the next port, else MASTER_PORT itself */
    struct { const char *name, *env; int port; const char *words; } tr[] = {
        {"torchrun_agent_store_next_port", "TORCHELASTIC_RUN_ID=x;TORCHELASTIC_USE_AGENT_STORE=True", 29501,
         "MASTER_PORT + 1: torchrun's agent store"},
        {"torchrun_c10d_same_port", "TORCHELASTIC_RUN_ID=x;TORCHELASTIC_USE_AGENT_STORE=False", 29500, NULL},
        {"torchrun_no_agent_store_var_same_port", "TORCHELASTIC_RUN_ID=x", 29500, NULL},
        {"torchrun_agent_store_port_65535", "TORCHELASTIC_USE_AGENT_STORE=True;MASTER_PORT=65535", 0, "leaves no port"},
    };
    for (size_t i = 0; i < sizeof tr / sizeof *tr; i++) {
        ut_launch L;
        char err[512] = "", env[512], detail[700];
        clear_env();
        snprintf(env, sizeof env, "RANK=0;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=29500;%s", tr[i].env);
        set_env(env);
        int rc = ut_launch_from_env(&L, err, sizeof err);
        clear_env();
        int ok = tr[i].port ? rc == 0 && L.port == tr[i].port : rc != 0 && strstr(err, tr[i].words) != NULL;
        if (ok && tr[i].port && tr[i].words) ok = strstr(L.port_why, tr[i].words) != NULL;
        snprintf(detail, sizeof detail, "(rc %d, port %d: %s)", rc, rc ? 0 : L.port, rc ? err : L.port_why);
        check(ok, tr[i].name, detail);
    }
    /* no launcher at all: rank 0 of 1, nothing to meet */
    char env[1][512] = {""}, out[1][600], detail[700];
    int delay[1] = {0};
    run_ranks(1, env, delay, out);
    snprintf(detail, sizeof detail, "(%s)", out[0]);
    check(!strcmp(out[0], "OK 0 1 0 1 none"), "no_launcher_is_world_of_one", detail);
}

/* rank 0 never comes; rank 0 alone (the others never come); sizes that
   disagree; the port taken */
static void test_failures(void) {
    char env[2][512], out[2][600], detail[1300];
    int delay[2] = {0, 0}, port = free_port();
    snprintf(env[0], sizeof env[0], "RANK=1;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=1", port);
    double t = run_ranks(1, env, delay, out);
    snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
    check(strstr(out[0], "rank 0 never came") && strstr(out[0], "127.0.0.1:") && one_line(out[0]) && t < 3,
          "tcp_rank0_never_came", detail);

    snprintf(env[0], sizeof env[0], "RANK=0;WORLD_SIZE=3;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=1", port);
    t = run_ranks(1, env, delay, out);
    snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
    check(strstr(out[0], "ranks 1, 2 (2 of 2) did not come") && one_line(out[0]) && t < 3, "tcp_missing_ranks_named", detail);

    port = free_port();
    snprintf(env[0], sizeof env[0], "RANK=0;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=3", port);
    snprintf(env[1], sizeof env[1], "RANK=1;WORLD_SIZE=3;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=3", port);
    t = run_ranks(2, env, delay, out);
    snprintf(detail, sizeof detail, "(%.1f s: rank 0: %s | rank 1: %s)", t, out[0], out[1]);
    check(strstr(out[0], "rank 1 has WORLD_SIZE=3, rank 0 has 2") && strstr(out[1], "refused rank 1") && t < 2.5,
          "tcp_world_size_inconsistent", detail);

    /* the port is taken by a listening socket (another job's rank 0) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1) ||
        getsockname(fd, (struct sockaddr *)&sa, &len)) { perror("listen"); exit(2); }
    snprintf(env[0], sizeof env[0], "RANK=0;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=1",
             ntohs(sa.sin_port));
    t = run_ranks(1, env, delay, out);
    snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
    check(strstr(out[0], "is in use") && one_line(out[0]) && t < 1, "tcp_port_in_use", detail);
    /* under torchrun's static backend the taken port is MASTER_PORT + 1: the line names it and says why */
    int q = ntohs(sa.sin_port);
    snprintf(env[0], sizeof env[0], "RANK=0;WORLD_SIZE=2;MASTER_ADDR=127.0.0.1;MASTER_PORT=%d;UT_RENDEZVOUS_TIMEOUT=1;"
             "TORCHELASTIC_USE_AGENT_STORE=True", q - 1);
    t = run_ranks(1, env, delay, out);
    close(fd);
    char words[200];
    snprintf(words, sizeof words, "port %d (MASTER_PORT + 1: torchrun's agent store holds MASTER_PORT) is in use", q);
    snprintf(detail, sizeof detail, "(%.1f s: %s)", t, out[0]);
    check(strstr(out[0], words) && one_line(out[0]) && t < 1, "tcp_port_in_use_names_torchrun_port", detail);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    test_errors();
    test_tcp(2);
    test_tcp(4);
    test_slurm();
    test_file();
    test_failures();
    printf("rendezvous: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
