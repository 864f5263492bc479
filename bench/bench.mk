# make bench: an optimised build of bench/bench.c, then the figures.
# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--threads 1 --only B1".
BENCH_ARGS ?=
$(BUILD)/bench: bench/bench.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ bench/bench.c $(LDLIBS)

bench: $(BUILD)/bench
	$(BUILD)/bench $(BENCH_ARGS)

# bench/step_cpu.c: one model shape, CPU time per step (for A/B comparisons
# on a shared machine; see bench/README.md, "Long context").
$(BUILD)/step_cpu: bench/step_cpu.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ bench/step_cpu.c $(LDLIBS)
