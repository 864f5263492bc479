/* lessons/16-data-parallel/exercise.c — YOUR ring all-reduce. Fill in the
   TODO, then run `make lesson N=16` (it needs Open MPI: apt-get install
   openmpi-bin libopenmpi-dev). The check calls it on every rank, with
   several sizes n (also n smaller than the number of ranks), and compares
   with MPI_Allreduce.

   On return, x (n floats) must hold on EVERY rank the sum over the ranks of
   their x — the same bits on every rank (a data-parallel trainer applies
   the same update everywhere only if every rank has the same gradient).

   The ring (README.md): cut x into W blocks (block b: floats
   [b*n/W, (b+1)*n/W), so any n works); the rank's neighbours are
   right = (rank + 1) % W and left = (rank - 1 + W) % W.
     reduce-scatter, W-1 steps s = 0 .. W-2:
         send block (rank - s) mod W to the right, receive block
         (rank - s - 1) mod W from the left and ADD it into yours;
         after them, rank r holds the full sum of block (r + 1) mod W.
     all-gather, W-1 steps s = 0 .. W-2:
         send block (rank + 1 - s) mod W to the right, receive block
         (rank - s) mod W from the left and COPY it over yours.
   One call does a step's send and receive together, so no rank waits for
   another to receive first: MPI_Sendrecv(sendbuf, count, MPI_FLOAT, right,
   tag, recvbuf, count, MPI_FLOAT, left, tag, comm, MPI_STATUS_IGNORE).
   Receive into a scratch buffer (malloc the largest block), then add or copy. */
#include <mpi.h>
#include <stdlib.h>

void ring_allreduce(float *x, size_t n, MPI_Comm comm) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    /* TODO: the two phases above. (With one rank there is nothing to do.) */
    (void)x; (void)n;
}
