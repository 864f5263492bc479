/* comm.h — the communication layer of data-parallel training (train.c).

   DATA PARALLELISM IN ONE PARAGRAPH. W copies of the program ("ranks", 0 to
   W-1) each hold the whole model. At every step each rank runs forward and
   backward on its own slice of the global batch, so each holds the gradient
   of its slice; the ranks then SUM their gradients (an all-reduce), and every
   rank applies the same AdamW update to the same weights with the same summed
   gradient: the weights stay identical everywhere, and the step is the one a
   single process would take over the whole batch (--grad-accum W).

   THE COLLECTIVES used, on a buffer of n numbers per rank (x_r is rank r's):
     all-reduce          every rank gets  x_0 + x_1 + ... + x_{W-1}     (n numbers)
     reduce-scatter      rank r gets block r of that sum                (n/W numbers)
     all-gather          every rank gets the W blocks, in rank order    (W * n numbers)
     broadcast           every rank gets the root's buffer
     barrier             no rank leaves until every rank has come
   An all-reduce IS a reduce-scatter followed by an all-gather (the ring
   algorithm, lessons/16-data-parallel): each rank sends about 2n(W-1)/W
   numbers, whatever W. ZeRO-1 (train.c, --zero 1) uses the two halves apart:
   between them each rank updates only its block of the weights.

   THE BACKENDS. The trainer calls these functions only; it never sees MPI.
     world of one (default, no dependency): rank 0 of 1; every collective is
                  a copy or nothing. `make` builds ./train with it.
     MPI (-DUT_MPI, `make train_mpi`): Open MPI's MPI_Allreduce,
                  MPI_Reduce (the reduce-scatter: see there), MPI_Allgather,
                  MPI_Bcast, MPI_Barrier. Launched by mpirun or srun (README).
     NCCL (-DUT_NCCL, `make train_gpu`, the GPU trainer): the same calls on
                  GPU buffers (ncclAllReduce, ncclReduceScatter, ncclAllGather,
                  ncclBroadcast; the barrier is an all-reduce of one number).
                  The ranks meet through MPI (with -DUT_MPI too: `make
                  train_gpu MPI=1`, launched by mpirun) or through a
                  launcher's environment variables (rendezvous.h: torchrun's
                  RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, or srun). Its
                  section below says how it waits, and how it gives up.

   FAILURE. A collective waits for every rank. A rank that stops early would
   leave the others waiting for ever, so a rank never just exits: after its
   error line it calls comm_abort, which ends the whole job (MPI_Abort: the
   launcher kills every rank). A rank killed from outside (kill -9, out of
   memory) exits without MPI_Finalize; mpirun sees it and ends the job,
   naming the rank ("mpirun noticed that process rank 1 ... exited on signal
   9"). A rank alive but stuck is seen by nobody outside: each backend has a
   watchdog for that (the MPI one and the NCCL one, below), which ends a
   rank whose collective has waited too long. No rank is left hanging.

   Numbers are float (fp32 gradients and weights) or double (losses, sums
   that must be exact); the count n is a size_t, sent in pieces of at most
   2^30 so that MPI's int counts never overflow. */
#ifndef UT_COMM_H
#define UT_COMM_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef UT_MPI
#include <mpi.h>
#ifndef UT_NCCL   /* the MPI backend's watchdog thread (the NCCL one watches in the calling thread) */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#endif
#endif
#ifdef UT_NCCL
#include <stdarg.h>
#include <time.h>
#include <cuda_runtime_api.h>
#include <nccl.h>
#include "rendezvous.h"
#endif

typedef struct {
    int rank, world;     /* this process is rank `rank` of `world` */
    int local_world;     /* ranks on this machine (to share its cores between them) */
    const char *backend; /* "single", "mpi", "nccl" or "nccl+mpi", for the config line */
#ifdef UT_NCCL
    ncclComm_t nccl;     /* NULL: a single process started without a launcher (no NCCL at all) */
    cudaStream_t stream; /* where the collectives run */
    cudaEvent_t computed;/* marks the trainer's work so far: each collective waits for it */
    size_t started;      /* bytes of all-reduces started and not yet waited for (the overlap) */
    void *stage;         /* GPU scratch for collectives on host buffers */
    size_t stage_bytes;
    double timeout_s;    /* UT_NCCL_TIMEOUT: the longest wait for one collective */
    ut_launch launch;    /* how the ranks met (rendezvous.h) */
#endif
} ut_comm;

/* Ends every rank of the job with exit status `code` (after the caller has
   printed why). Never returns. */
_Noreturn static inline void comm_abort(ut_comm *c, int code);

/* Largest piece one MPI call moves (its counts are int). */
#define COMM_PIECE ((size_t)1 << 30)

#if defined(UT_NCCL)
/* ---- the NCCL backend (the GPU trainer) ---------------------------------

   JOINING. Each rank takes one GPU: its local rank (LOCAL_RANK, SLURM_LOCALID,
   or its place among the MPI ranks of its machine). Rank 0 asks NCCL for a
   unique id (128 bytes), every other rank gets it (MPI_Bcast under mpirun,
   else rendezvous.h), and all create the communicator with it. A process
   started alone, with no launcher, is a world of one without NCCL: every
   collective is then trivial, as in the backend at the bottom of this file.
   (RANK=0 WORLD_SIZE=1 goes the whole NCCL way with one rank: the test
   that the path changes nothing.)

   WHERE THE NUMBERS ARE. The trainer's gradient lives on the GPU
   (train_gpu.h hands its GPU twin to the all-reduce); NCCL reads and writes
   GPU memory only, so a host buffer (the step's losses, a stop flag) is
   copied to a GPU scratch buffer, reduced there, and copied back: a few
   bytes, a few microseconds.

   ORDER. train_gpu.cu queues all its work on the (legacy) default stream;
   the collectives run on a stream of their own, so that the GPU can run
   both at once. Before each collective this file records an event on the
   default stream (c->computed) and makes the collectives' stream wait for
   it: the collective starts after everything the trainer queued before it
   (the backward that wrote the gradient). Every call below returns only
   when its collective has finished, so the trainer can read the result and
   its next kernels come after it.
   OVERLAP. The exception: comm_allreduce_start, which the GPU trainer calls
   during the backward pass (train_gpu.h), once per layer, as soon as that
   layer's gradient is final, and which returns at once. While NCCL sums
   layer l over the ranks, the GPU goes on computing layers l-1, l-2, ...
   comm_allreduce_wait, after the backward, waits for all of them (with the
   watchdog below). What cannot hide is what comes last: the embedding's
   gradient (doc/data-parallel.md has the arithmetic).

   THE WATCHDOG. A collective waits for every rank; if one rank died (killed,
   out of memory, a GPU fault), the others would wait for ever inside NCCL.
   So the communicator is non-blocking (config.blocking = 0): NCCL calls
   return at once (maybe with ncclInProgress), and this thread waits itself,
   in comm_nccl_wait: it polls the stream (cudaStreamQuery) and NCCL's
   error state (ncclCommGetAsyncError) every 20 microseconds; when NCCL
   reports an error (a peer's connection broke), or after UT_NCCL_TIMEOUT
   seconds (default 600: rank 0 may be writing a checkpoint while the others
   wait at the next collective), it prints one line naming this rank and
   the collective, aborts the communicator (ncclCommAbort: stops its kernels
   and frees it) and ends the process with status 1. NCCL cannot say which
   rank is missing; every surviving rank prints its line, so the missing
   one is the rank that printed nothing, and the launcher (mpirun, torchrun,
   srun) names the one that exited. Under MPI the job ends with MPI_Abort. */

static double comm_nccl_now(void) { return rv_now(); }

/* one line "train: error: [rank r of W] ...", then the whole job ends */
_Noreturn static void comm_nccl_fail(ut_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn static void comm_nccl_fail(ut_comm *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "train: error: [rank %d of %d] %s\n", c->rank, c->world, msg);
    fflush(stderr);
    comm_abort(c, 1);
}

/* A non-blocking NCCL call may answer ncclInProgress: wait (bounded) until
   NCCL has finished taking it, as NCCL asks before the next call. With a
   non-blocking communicator every collective answers so (NCCL hands the
   launch to a thread of its own), and that thread takes microseconds: poll
   every 20 us, not every millisecond, or each layer's all-reduce of the
   overlapped backward would cost the host a millisecond. */
static void comm_nccl_settle(ut_comm *c, ncclResult_t r, const char *what) {
    double t0 = comm_nccl_now();
    struct timespec nap = {0, 20000};
    while (r == ncclInProgress) {
        if (comm_nccl_now() - t0 > c->timeout_s)
            comm_nccl_fail(c, "NCCL %s did not finish within %g s (UT_NCCL_TIMEOUT): another rank has died or hangs; "
                           "aborting", what, c->timeout_s);
        nanosleep(&nap, NULL);
        ncclCommGetAsyncError(c->nccl, &r);
    }
    if (r != ncclSuccess)
        comm_nccl_fail(c, "NCCL %s: %s (%s)", what, ncclGetErrorString(r), ncclGetLastError(c->nccl));
}

/* The watchdog: wait for the collective queued on c->stream (see above). */
static void comm_nccl_wait(ut_comm *c, const char *what, size_t bytes) {
    double t0 = comm_nccl_now();
    struct timespec nap = {0, 20000};
    for (;;) {
        cudaError_t e = cudaStreamQuery(c->stream);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady) comm_nccl_fail(c, "CUDA error during the %s: %s", what, cudaGetErrorString(e));
        ncclResult_t ae = ncclSuccess;
        ncclCommGetAsyncError(c->nccl, &ae);
        if (ae != ncclSuccess && ae != ncclInProgress)
            comm_nccl_fail(c, "the %s of %zu bytes failed: %s (%s): another rank has died? aborting", what, bytes,
                           ncclGetErrorString(ae), ncclGetLastError(c->nccl));
        if (comm_nccl_now() - t0 > c->timeout_s)
            comm_nccl_fail(c, "the %s of %zu bytes has waited %g s (UT_NCCL_TIMEOUT): another rank has died or hangs; "
                           "aborting", what, bytes, c->timeout_s);
        nanosleep(&nap, NULL);
    }
}

static void comm_cuda(ut_comm *c, cudaError_t e, const char *what) {
    if (e != cudaSuccess) comm_nccl_fail(c, "%s: %s", what, cudaGetErrorString(e));
}

/* Is p GPU memory (NCCL can use it as it is)? */
static int comm_on_gpu(const void *p) {
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) { cudaGetLastError(); return 0; }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* Makes the scratch buffer at least `bytes` long (its contents are lost:
   call it before the first copy into it). */
static void comm_stage_reserve(ut_comm *c, size_t bytes) {
    if (bytes > c->stage_bytes) {   /* grow the scratch (rare: sizes repeat every step) */
        comm_cuda(c, cudaStreamSynchronize(c->stream), "waiting for the collectives");
        if (c->stage) cudaFree(c->stage);
        c->stage = NULL;
        c->stage_bytes = 2 * bytes;
        comm_cuda(c, cudaMalloc(&c->stage, c->stage_bytes), "GPU scratch for a collective");
    }
}
/* The GPU buffer to use for `bytes` bytes at p, placed at `at` bytes into
   the scratch buffer if p is on the host (copied there when `in`). Two views
   in one collective: reserve room for both first (comm_stage_reserve), or
   the second could move the scratch and lose what the first copied. */
static void *comm_gpu_view(ut_comm *c, const void *p, size_t bytes, size_t at, int in) {
    if (comm_on_gpu(p)) return (void *)p;
    comm_stage_reserve(c, at + bytes);
    char *d = (char *)c->stage + at;
    if (in) comm_cuda(c, cudaMemcpyAsync(d, p, bytes, cudaMemcpyHostToDevice, c->stream), "copy to the GPU");
    return d;
}
/* after the collective has finished (comm_nccl_wait: only then, since a copy
   into host memory queued behind a collective that never ends would block
   this thread inside CUDA, out of the watchdog's reach): the host buffer p
   gets the result back */
static void comm_gpu_back(ut_comm *c, void *p, const void *d, size_t bytes) {
    if (p != d) comm_cuda(c, cudaMemcpy(p, d, bytes, cudaMemcpyDeviceToHost), "copy from the GPU");
}

static inline int comm_init(ut_comm *c, int *argc, char ***argv) {
    memset(c, 0, sizeof *c);
    c->rank = 0; c->world = 1; c->local_world = 1;
    c->timeout_s = 600;
    const char *t = getenv("UT_NCCL_TIMEOUT");
    if (t && !((c->timeout_s = atof(t)) > 0)) c->timeout_s = 600;
    int local = 0;
#ifndef UT_MPI
    char err[1024];   /* a launch or rendezvous error, one line */
#endif
#ifdef UT_MPI
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->world);
    MPI_Comm node;   /* the ranks on this machine: the local rank picks the GPU */
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_size(node, &c->local_world);
    MPI_Comm_free(&node);
    c->backend = "nccl+mpi";
#else
    (void)argc; (void)argv;
    if (ut_launch_from_env(&c->launch, err, sizeof err)) {
        fprintf(stderr, "train: error: %s\n", err);
        exit(1);
    }
    c->rank = c->launch.rank; c->world = c->launch.world;
    local = c->launch.local_rank; c->local_world = c->launch.local_world;
    c->backend = "nccl";
    if (!strcmp(c->launch.how, "none")) { c->backend = "single"; return 0; }   /* no launcher: no NCCL */
#endif
    int ngpu = 0;
    if (cudaGetDeviceCount(&ngpu) != cudaSuccess || ngpu == 0)
        comm_nccl_fail(c, "no CUDA GPU found: each rank of train_gpu needs one");
    /* local rank k takes GPU k; a rank that sees a single GPU takes it (a
       launcher that gives each rank its own, e.g. srun --gpus-per-task=1,
       sets CUDA_VISIBLE_DEVICES per rank: NCCL refuses two ranks on one GPU) */
    int dev = ngpu == 1 ? 0 : local;
    if (dev >= ngpu)
        comm_nccl_fail(c, "local rank %d needs GPU %d, this machine shows %d (CUDA_VISIBLE_DEVICES?): start at most %d "
                       "ranks per machine", local, local, ngpu, ngpu);
    comm_cuda(c, cudaSetDevice(dev), "cudaSetDevice");   /* before anything else touches the GPU */
    /* non-blocking: no implicit waits between this stream and the default
       one (the event c->computed orders them, see ORDER above) */
    comm_cuda(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "creating the collectives' stream");
    comm_cuda(c, cudaEventCreateWithFlags(&c->computed, cudaEventDisableTiming), "creating an event");
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->rank == 0 && ncclGetUniqueId(&id) != ncclSuccess) comm_nccl_fail(c, "ncclGetUniqueId failed");
#ifdef UT_MPI
    MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
#else
    if (ut_rendezvous(&c->launch, &id, sizeof id, err, sizeof err)) comm_nccl_fail(c, "%s", err);
#endif
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;   /* calls return at once; comm_nccl_settle/comm_nccl_wait do the waiting, with a limit */
    ncclResult_t r = ncclCommInitRankConfig(&c->nccl, c->world, id, c->rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress)
        comm_nccl_fail(c, "ncclCommInitRank: %s", ncclGetErrorString(r));
    comm_nccl_settle(c, r, "communicator setup (every rank must join)");
#ifndef UT_MPI
    ut_rendezvous_done(&c->launch);   /* every rank has joined: rank 0 removes a rendezvous file */
#endif
    if (c->rank == 0) {   /* one line saying how the ranks met (the others' output goes nowhere) */
        int v = 0;
        ncclGetVersion(&v);
#ifdef UT_MPI
        printf("nccl: %d rank%s joined (NCCL %d, the id sent over MPI); rank 0 on GPU %d\n", c->world, c->world > 1 ? "s" : "", v,
               dev);
#else
        if (c->launch.file[0])
            printf("nccl: %d rank%s joined (NCCL %d, the id through the file %s); rank 0 on GPU %d\n", c->world,
                   c->world > 1 ? "s" : "", v, c->launch.file, dev);
        else
            printf("nccl: %d rank%s joined (NCCL %d, the id through %s:%d); rank 0 on GPU %d\n", c->world,
                   c->world > 1 ? "s" : "", v, c->launch.addr, c->launch.port, dev);
#endif
    }
    return 0;
}

/* The collectives' stream waits for the trainer's work queued so far. */
static void comm_nccl_after_compute(ut_comm *c) {
    comm_cuda(c, cudaEventRecord(c->computed, 0), "recording an event");
    comm_cuda(c, cudaStreamWaitEvent(c->stream, c->computed, 0), "ordering the collectives' stream");
}

static inline void comm_allreduce_wait(ut_comm *c);
/* Before a collective the caller waits for: the started all-reduces finish
   first (with the watchdog: the staging copies and allocations below are
   waits that it could not bound), then the trainer's work so far. */
static void comm_nccl_begin(ut_comm *c) {
    if (c->started) comm_allreduce_wait(c);
    comm_nccl_after_compute(c);
}

/* x (n) <- the sum over ranks, in place; x on the GPU or the host */
static void comm_nccl_allreduce(ut_comm *c, void *x, size_t n, size_t size, ncclDataType_t type, ncclRedOp_t op,
                                const char *what) {
    if (!c->nccl || n == 0) return;
    comm_nccl_begin(c);
    void *d = comm_gpu_view(c, x, n * size, 0, 1);
    comm_nccl_settle(c, ncclAllReduce(d, d, n, type, op, c->nccl, c->stream), what);
    comm_nccl_wait(c, what, n * size);
    comm_gpu_back(c, x, d, n * size);
}

static inline void comm_finalize(ut_comm *c) {
    if (c->nccl) {
        comm_nccl_settle(c, ncclCommFinalize(c->nccl), "finalize");
        ncclCommDestroy(c->nccl);
        c->nccl = NULL;
    }
    if (c->stage) cudaFree(c->stage);
    c->stage = NULL;
    if (c->computed) cudaEventDestroy(c->computed);
    c->computed = NULL;
    if (c->stream) cudaStreamDestroy(c->stream);
    c->stream = NULL;
#ifdef UT_MPI
    MPI_Finalize();
#endif
}
_Noreturn static inline void comm_abort(ut_comm *c, int code) {
    if (c->nccl) { ncclComm_t nc = c->nccl; c->nccl = NULL; ncclCommAbort(nc); }   /* once: abort may fail too */
#ifdef UT_MPI
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

static inline void comm_allreduce_sum_f32(ut_comm *c, float *x, size_t n) {
    comm_nccl_allreduce(c, x, n, sizeof(float), ncclFloat, ncclSum, "all-reduce");
}
static inline void comm_allreduce_sum_f64(ut_comm *c, double *x, size_t n) {
    comm_nccl_allreduce(c, x, n, sizeof(double), ncclDouble, ncclSum, "all-reduce");
}
static inline int comm_any(ut_comm *c, int flag) {
    int any = flag != 0;
    comm_nccl_allreduce(c, &any, 1, sizeof(int), ncclInt32, ncclMax, "stop vote (all-reduce max)");
    return any;
}
/* x: W blocks of `block` numbers -> out: block r of the sum (x unchanged) */
static inline void comm_reduce_scatter_sum_f32(ut_comm *c, const float *x, float *out, size_t block) {
    size_t bytes = block * sizeof(float);
    if (!c->nccl) { if (out != x) memmove(out, x, bytes); return; }
    comm_nccl_begin(c);
    comm_stage_reserve(c, bytes * ((size_t)c->world + 1));   /* room for both views below */
    const void *dx = comm_gpu_view(c, x, bytes * (size_t)c->world, 0, 1);
    void *dout = comm_gpu_view(c, out, bytes, bytes * (size_t)c->world, 0);
    comm_nccl_settle(c, ncclReduceScatter(dx, dout, block, ncclFloat, ncclSum, c->nccl, c->stream), "reduce-scatter");
    comm_nccl_wait(c, "reduce-scatter", bytes * (size_t)c->world);
    comm_gpu_back(c, out, dout, bytes);
}
/* x: W blocks of `block` bytes, this rank's in block `rank` -> every block its owner's */
static inline void comm_allgather_bytes(ut_comm *c, void *x, size_t block) {
    if (!c->nccl || block == 0) return;
    size_t all = block * (size_t)c->world;
    comm_nccl_begin(c);
    char *d = (char *)comm_gpu_view(c, x, all, 0, 1);
    /* in place, as NCCL allows it: this rank's block is read where it already lies */
    comm_nccl_settle(c, ncclAllGather(d + (size_t)c->rank * block, d, block, ncclChar, c->nccl, c->stream), "all-gather");
    comm_nccl_wait(c, "all-gather", all);
    comm_gpu_back(c, x, d, all);
}
static inline void comm_allgather_f32(ut_comm *c, float *x, size_t block) { comm_allgather_bytes(c, x, block * sizeof(float)); }
static inline void comm_broadcast(ut_comm *c, void *x, size_t bytes, int root) {
    if (!c->nccl || bytes == 0) return;
    comm_nccl_begin(c);
    void *d = comm_gpu_view(c, x, bytes, 0, 1);
    comm_nccl_settle(c, ncclBroadcast(d, d, bytes, ncclChar, root, c->nccl, c->stream), "broadcast");
    comm_nccl_wait(c, "broadcast", bytes);
    comm_gpu_back(c, x, d, bytes);
}
/* NCCL has no barrier: an all-reduce of one number waits for every rank just the same */
static inline void comm_barrier(ut_comm *c) {
    int one = 1;
    comm_nccl_allreduce(c, &one, 1, sizeof(int), ncclInt32, ncclSum, "barrier (all-reduce of one number)");
}

/* The overlap (ORDER above): start summing k GPU buffers x[i] (n[i] floats
   each) over the ranks, in place, behind the trainer's work so far, and
   return at once. One NCCL group: the k all-reduces go as one launch. */
static inline void comm_allreduce_start(ut_comm *c, float *const *x, const size_t *n, int k) {
    if (!c->nccl) return;
    comm_nccl_after_compute(c);
    comm_nccl_settle(c, ncclGroupStart(), "group start");
    for (int i = 0; i < k; i++) {
        if (!n[i]) continue;
        comm_nccl_settle(c, ncclAllReduce(x[i], x[i], n[i], ncclFloat, ncclSum, c->nccl, c->stream),
                         "all-reduce of a layer's gradient");
        c->started += n[i] * sizeof(float);
    }
    comm_nccl_settle(c, ncclGroupEnd(), "all-reduce of a layer's gradient");
}
/* Wait (the watchdog) until every started all-reduce has finished. */
static inline void comm_allreduce_wait(ut_comm *c) {
    if (!c->nccl || !c->started) return;
    comm_nccl_wait(c, "all-reduce of the gradient (started layer by layer)", c->started);
    c->started = 0;
}

#elif defined(UT_MPI)
/* ---- the MPI backend ----------------------------------------------------

   THE WATCHDOG. A rank that dies is noticed by mpirun, which ends the job. A
   rank that is alive but stuck (stopped, swapping, looping in a bug) is
   not, and the others would wait for it in their next collective for ever.
   So each rank starts a thread that looks at the clock five times a second:
   every collective below notes when it began (comm_mpi_enter) and that it
   ended (comm_mpi_leave); one that has waited UT_MPI_TIMEOUT seconds
   (default 600: rank 0 may be writing a big checkpoint while the others
   wait) makes the thread print one line naming this rank and the collective
   and end this process (_exit(1)). mpirun then ends the job, the stuck rank
   with it. The thread never calls MPI: only the main thread does, which is
   what MPI_THREAD_FUNNELED promises MPI (OpenMP's threads do not call it
   either). */
static atomic_llong comm_wd_since_ms;     /* when the collective under way began (0: none) */
static const char *_Atomic comm_wd_what;  /* its name, for the message */
static double comm_wd_timeout_s = 600;
static int comm_wd_rank, comm_wd_world;

static long long comm_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}
static void *comm_watchdog(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec nap = {0, 200000000L};
        nanosleep(&nap, NULL);
        long long since = atomic_load(&comm_wd_since_ms);
        if (since && (double)(comm_now_ms() - since) > 1000 * comm_wd_timeout_s) {
            fprintf(stderr, "train: error: [rank %d of %d] the %s has waited %g s (UT_MPI_TIMEOUT): another rank has "
                    "died or hangs; ending this rank (mpirun ends the others)\n", comm_wd_rank, comm_wd_world,
                    atomic_load(&comm_wd_what), comm_wd_timeout_s);
            fflush(stderr);
            _exit(1);
        }
    }
    return NULL;
}
static inline void comm_mpi_enter(const char *what) {
    atomic_store(&comm_wd_what, what);
    atomic_store(&comm_wd_since_ms, comm_now_ms());
}
static inline void comm_mpi_leave(void) { atomic_store(&comm_wd_since_ms, 0); }

static inline int comm_init(ut_comm *c, int *argc, char ***argv) {
    int level = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &level) != MPI_SUCCESS) return -1;
    /* errors of MPI calls end the job with MPI's own message (the default,
       said explicitly): no call below returns an error to handle */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->world);
    MPI_Comm node;   /* the ranks that share this machine's memory, hence its cores */
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &c->local_world);
    MPI_Comm_free(&node);
    c->backend = "mpi";
    const char *t = getenv("UT_MPI_TIMEOUT");
    if (t && !((comm_wd_timeout_s = atof(t)) > 0)) {
        fprintf(stderr, "train: error: [rank %d of %d] UT_MPI_TIMEOUT=\"%s\" is not a number of seconds above 0\n",
                c->rank, c->world, t);
        comm_abort(c, 1);
    }
    comm_wd_rank = c->rank; comm_wd_world = c->world;
    if (c->world > 1) {
        pthread_t th;
        if (pthread_create(&th, NULL, comm_watchdog, NULL) != 0) {
            fprintf(stderr, "train: error: [rank %d of %d] cannot start the watchdog thread\n", c->rank, c->world);
            comm_abort(c, 1);
        }
        pthread_detach(th);
    }
    return 0;
}
static inline void comm_finalize(ut_comm *c) { (void)c; MPI_Finalize(); }
_Noreturn static inline void comm_abort(ut_comm *c, int code) { (void)c; MPI_Abort(MPI_COMM_WORLD, code); exit(code); }

/* x (n numbers of `size` bytes, MPI type `type`) <- sum over ranks of x, in place */
static inline void comm_mpi_allreduce_sum(void *x, size_t n, size_t size, MPI_Datatype type) {
    for (size_t i = 0; i < n; i += COMM_PIECE) {
        size_t k = n - i < COMM_PIECE ? n - i : COMM_PIECE;
        comm_mpi_enter("all-reduce");
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * size, (int)k, type, MPI_SUM, MPI_COMM_WORLD);
        comm_mpi_leave();
    }
}
static inline void comm_allreduce_sum_f32(ut_comm *c, float *x, size_t n) {
    (void)c;
    comm_mpi_allreduce_sum(x, n, sizeof(float), MPI_FLOAT);
}
static inline void comm_allreduce_sum_f64(ut_comm *c, double *x, size_t n) {
    (void)c;
    comm_mpi_allreduce_sum(x, n, sizeof(double), MPI_DOUBLE);
}
/* 1 on every rank if `flag` is non-zero on any rank (a decision all must share) */
static inline int comm_any(ut_comm *c, int flag) {
    (void)c;
    int any = 0;
    comm_mpi_enter("stop vote (all-reduce max)");
    MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    comm_mpi_leave();
    return any;
}
/* x holds W blocks of `block` numbers; rank r gets block r of the sum in
   out (block numbers). x is left as it was (MPI reads it only).
   One MPI_Reduce per block, to the rank that owns it, rather than the one
   call made for this, MPI_Reduce_scatter_block: measured with Open MPI
   4.1.4 on the 2-core machine this was developed on, 2 ranks, the 1.9M
   numbers of a small model's gradient, MPI_Reduce_scatter_block took 40 to
   55 ms a step under every algorithm Open MPI offers for it
   (coll_tuned_reduce_scatter_block_algorithm 1 to 4), the two reduces 2 ms,
   and ZeRO-1 ran at 20k instead of 31k tokens/s. The sums are the same
   numbers with 2 ranks (one addition), to rounding with more. */
static inline void comm_reduce_scatter_sum_f32(ut_comm *c, const float *x, float *out, size_t block) {
    for (int r = 0; r < c->world; r++)
        for (size_t i = 0; i < block; i += COMM_PIECE) {   /* pieces: MPI's counts are int */
            size_t k = block - i < COMM_PIECE ? block - i : COMM_PIECE;
            comm_mpi_enter("reduce-scatter");
            MPI_Reduce(x + (size_t)r * block + i, r == c->rank ? out + i : NULL, (int)k, MPI_FLOAT, MPI_SUM, r,
                       MPI_COMM_WORLD);
            comm_mpi_leave();
        }
}
/* x holds W blocks of `block` bytes, rank r's own in block r; afterwards
   every block holds its owner's bytes (in place). */
static inline void comm_allgather_bytes(ut_comm *c, void *x, size_t block) {
    if (block > COMM_PIECE) {
        for (int r = 0; r < c->world; r++)
            for (size_t i = 0; i < block; i += COMM_PIECE) {
                size_t k = block - i < COMM_PIECE ? block - i : COMM_PIECE;
                comm_mpi_enter("all-gather");
                MPI_Bcast((char *)x + (size_t)r * block + i, (int)k, MPI_BYTE, r, MPI_COMM_WORLD);
                comm_mpi_leave();
            }
        return;
    }
    comm_mpi_enter("all-gather");
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, (int)block, MPI_BYTE, MPI_COMM_WORLD);
    comm_mpi_leave();
}
static inline void comm_allgather_f32(ut_comm *c, float *x, size_t block) { comm_allgather_bytes(c, x, block * sizeof(float)); }
static inline void comm_broadcast(ut_comm *c, void *x, size_t bytes, int root) {
    (void)c;
    for (size_t i = 0; i < bytes; i += COMM_PIECE) {
        size_t k = bytes - i < COMM_PIECE ? bytes - i : COMM_PIECE;
        comm_mpi_enter("broadcast");
        MPI_Bcast((char *)x + i, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        comm_mpi_leave();
    }
}
static inline void comm_barrier(ut_comm *c) {
    (void)c;
    comm_mpi_enter("barrier");
    MPI_Barrier(MPI_COMM_WORLD);
    comm_mpi_leave();
}

#else
/* ---- a world of one: no library, every collective is trivial ------------ */

static inline int comm_init(ut_comm *c, int *argc, char ***argv) {
    (void)argc; (void)argv;
    c->rank = 0; c->world = 1; c->local_world = 1; c->backend = "single";
    return 0;
}
static inline void comm_finalize(ut_comm *c) { (void)c; }
_Noreturn static inline void comm_abort(ut_comm *c, int code) { (void)c; exit(code); }
static inline void comm_allreduce_sum_f32(ut_comm *c, float *x, size_t n) { (void)c; (void)x; (void)n; }  /* sum of one */
static inline void comm_allreduce_sum_f64(ut_comm *c, double *x, size_t n) { (void)c; (void)x; (void)n; }
static inline int comm_any(ut_comm *c, int flag) { (void)c; return flag != 0; }
static inline void comm_reduce_scatter_sum_f32(ut_comm *c, const float *x, float *out, size_t block) {
    (void)c;
    if (out != x) memmove(out, x, block * sizeof(float));   /* block 0 of a sum of one */
}
static inline void comm_allgather_bytes(ut_comm *c, void *x, size_t block) { (void)c; (void)x; (void)block; }
static inline void comm_allgather_f32(ut_comm *c, float *x, size_t block) { (void)c; (void)x; (void)block; }
static inline void comm_broadcast(ut_comm *c, void *x, size_t bytes, int root) { (void)c; (void)x; (void)bytes; (void)root; }
static inline void comm_barrier(ut_comm *c) { (void)c; }
#endif

#endif /* UT_COMM_H */
