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
                  MPI_Reduce_scatter_block, MPI_Allgather, MPI_Bcast,
                  MPI_Barrier. Launched by mpirun or srun (README).
     NCCL (later, the GPU trainer): the same five calls on device buffers
                  (ncclAllReduce, ncclReduceScatter, ncclAllGather,
                  ncclBroadcast), with the NCCL id broadcast over MPI or a
                  file; a new #elif branch below, the trainer unchanged.

   FAILURE. A collective waits for every rank. A rank that stops early would
   leave the others waiting for ever, so a rank never just exits: after its
   error line it calls comm_abort, which ends the whole job (MPI_Abort: the
   launcher kills every rank). A rank killed from outside (kill -9, out of
   memory) exits without MPI_Finalize; mpirun sees it and ends the job,
   naming the rank ("mpirun noticed that process rank 1 ... exited on signal
   9"). Either way no rank is left hanging.

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
#endif

typedef struct {
    int rank, world;     /* this process is rank `rank` of `world` */
    int local_world;     /* ranks on this machine (to share its cores between them) */
    const char *backend; /* "single" or "mpi", for the config line */
} ut_comm;

/* Ends every rank of the job with exit status `code` (after the caller has
   printed why). Never returns. */
_Noreturn static inline void comm_abort(ut_comm *c, int code);

/* Largest piece one MPI call moves (its counts are int). */
#define COMM_PIECE ((size_t)1 << 30)

#ifdef UT_MPI
/* ---- the MPI backend ---------------------------------------------------- */

static inline int comm_init(ut_comm *c, int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
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
    return 0;
}
static inline void comm_finalize(ut_comm *c) { (void)c; MPI_Finalize(); }
_Noreturn static inline void comm_abort(ut_comm *c, int code) { (void)c; MPI_Abort(MPI_COMM_WORLD, code); exit(code); }

/* x (n) <- sum over ranks of x, in place */
static inline void comm_allreduce_sum_f32(ut_comm *c, float *x, size_t n) {
    (void)c;
    for (size_t i = 0; i < n; i += COMM_PIECE) {
        size_t k = n - i < COMM_PIECE ? n - i : COMM_PIECE;
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}
static inline void comm_allreduce_sum_f64(ut_comm *c, double *x, size_t n) {
    (void)c;
    for (size_t i = 0; i < n; i += COMM_PIECE) {
        size_t k = n - i < COMM_PIECE ? n - i : COMM_PIECE;
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}
/* 1 on every rank if `flag` is non-zero on any rank (a decision all must share) */
static inline int comm_any(ut_comm *c, int flag) {
    (void)c;
    int any = 0;
    MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}
/* x holds W blocks of `block` numbers; rank r gets block r of the sum in
   out (block numbers). x is left as it was (MPI reads it only). */
static inline void comm_reduce_scatter_sum_f32(ut_comm *c, const float *x, float *out, size_t block) {
    if (block > COMM_PIECE) {   /* too big for one call: block by block, each a reduce to its owner */
        for (int r = 0; r < c->world; r++)
            for (size_t i = 0; i < block; i += COMM_PIECE) {
                size_t k = block - i < COMM_PIECE ? block - i : COMM_PIECE;
                MPI_Reduce(x + (size_t)r * block + i, r == c->rank ? out + i : NULL, (int)k, MPI_FLOAT, MPI_SUM, r,
                           MPI_COMM_WORLD);
            }
        return;
    }
    MPI_Reduce_scatter_block(x, out, (int)block, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
/* x holds W blocks of `block` bytes, rank r's own in block r; afterwards
   every block holds its owner's bytes (in place). */
static inline void comm_allgather_bytes(ut_comm *c, void *x, size_t block) {
    if (block > COMM_PIECE) {
        for (int r = 0; r < c->world; r++)
            for (size_t i = 0; i < block; i += COMM_PIECE) {
                size_t k = block - i < COMM_PIECE ? block - i : COMM_PIECE;
                MPI_Bcast((char *)x + (size_t)r * block + i, (int)k, MPI_BYTE, r, MPI_COMM_WORLD);
            }
        return;
    }
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, (int)block, MPI_BYTE, MPI_COMM_WORLD);
}
static inline void comm_allgather_f32(ut_comm *c, float *x, size_t block) { comm_allgather_bytes(c, x, block * sizeof(float)); }
static inline void comm_broadcast(ut_comm *c, void *x, size_t bytes, int root) {
    (void)c;
    for (size_t i = 0; i < bytes; i += COMM_PIECE) {
        size_t k = bytes - i < COMM_PIECE ? bytes - i : COMM_PIECE;
        MPI_Bcast((char *)x + i, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}
static inline void comm_barrier(ut_comm *c) { (void)c; MPI_Barrier(MPI_COMM_WORLD); }

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
