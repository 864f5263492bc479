/* lint_nccl_mpi.c — train.c as `make train_gpu MPI=1` builds its host half
   (the NCCL backend, its id sent over MPI), for `make lint` only: test/lint.sh
   compiles it with CUDA's and Open MPI's include folders, and skips it
   (saying so) where either is missing. */
#define UT_GPU
#define UT_NCCL
#define UT_MPI
#include "../train.c"
