/* lint_mpi.c — train.c as `make train_mpi` builds it (-DUT_MPI: the MPI
   backend of comm.h), for `make lint` only: test/lint.sh compiles it with
   the include path `mpicc --showme:compile` gives, and skips it (saying so)
   where Open MPI is not installed. */
#define UT_MPI
#include "../train.c"
