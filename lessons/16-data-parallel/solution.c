/* lessons/16-data-parallel/solution.c — the ring all-reduce: a
   reduce-scatter (W-1 steps: send a block right, add the block coming from
   the left) then an all-gather (W-1 steps: pass the finished blocks round).
   Each rank sends 2 (W-1) blocks of n/W floats: 2 n (W-1)/W in all, nearly
   2n whatever the number of ranks. */
#include <mpi.h>
#include <stdlib.h>

/* block b of a buffer of n floats cut into W: [b*n/W, (b+1)*n/W) */
static size_t block_start(size_t n, int W, int b) { return n * (size_t)b / (size_t)W; }

void ring_allreduce(float *x, size_t n, MPI_Comm comm) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    if (world == 1) return;
    int right = (rank + 1) % world, left = (rank - 1 + world) % world;
    float *tmp = (float *)malloc((n / (size_t)world + 1) * sizeof(float));
    if (!tmp) MPI_Abort(comm, 1);
    for (int s = 0; s < world - 1; s++) {          /* reduce-scatter */
        int sb = ((rank - s) % world + world) % world, rb = ((rank - s - 1) % world + world) % world;
        size_t s0 = block_start(n, world, sb), s1 = block_start(n, world, sb + 1);
        size_t r0 = block_start(n, world, rb), r1 = block_start(n, world, rb + 1);
        MPI_Sendrecv(x + s0, (int)(s1 - s0), MPI_FLOAT, right, 0, tmp, (int)(r1 - r0), MPI_FLOAT, left, 0, comm,
                     MPI_STATUS_IGNORE);
        for (size_t i = r0; i < r1; i++) x[i] += tmp[i - r0];
    }
    for (int s = 0; s < world - 1; s++) {          /* all-gather */
        int sb = ((rank + 1 - s) % world + world) % world, rb = ((rank - s) % world + world) % world;
        size_t s0 = block_start(n, world, sb), s1 = block_start(n, world, sb + 1);
        size_t r0 = block_start(n, world, rb), r1 = block_start(n, world, rb + 1);
        MPI_Sendrecv(x + s0, (int)(s1 - s0), MPI_FLOAT, right, 1, x + r0, (int)(r1 - r0), MPI_FLOAT, left, 1, comm,
                     MPI_STATUS_IGNORE);
    }
    free(tmp);
}
