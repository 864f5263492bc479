/* lint_nccl.c — train.c as `make train_gpu` builds its host half (-DUT_GPU
   -DUT_NCCL: comm.h's NCCL backend, rendezvous.h), for `make lint` only:
   test/lint.sh compiles it with CUDA's include folder, and skips it (saying
   so) where nccl.h is not there. */
#define UT_GPU
#define UT_NCCL
#include "../train.c"
