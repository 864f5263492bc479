# Data-parallel training across processes (issue 14): ./train_mpi on 2 ranks
# against ./train --grad-accum 2 (bit-identical, with and without --zero 1),
# resume with another rank count, kill -9 of a rank, an error on one rank.
# train_mpi is built only where Open MPI's mpicc is installed; without it
# (or without mpirun) the test prints SKIP lines.
ifneq ($(shell command -v $(MPICC) 2>/dev/null),)
TEST_BINS += $(BIN)/train_mpi
endif
TESTS += "bash test/test_mpi.sh"
