/* step_cpu.c — the time of a training step in CPU seconds, for comparing two
   builds on a machine other people are using.

   On a shared machine the wall-clock time of a step moves by 2x from minute
   to minute (our process waits for a core), while the CPU time it is given
   moves much less: run with one thread (OMP_NUM_THREADS=1), the CPU time of
   the process is the time the step itself took on the core. Compare builds
   by running them alternately, several rounds, and quote ratios of medians.

   Usage: step_cpu B T W STEPS [V L D H KVH F E K]
     default model: the 23M model of the long-context issue (V 1025, L 8,
     D 512, H 8, KVH 2, F 1376, dense); W is the sliding window (0: none).
   Prints the median over STEPS steps (after one warm-up step) of the wall
   and CPU time per step, CPU microseconds per token and GFLOP per CPU
   second (FLOPs as ut_flops_per_token counts them). */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_ms(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 13) {
        fprintf(stderr, "usage: step_cpu B T W STEPS [V L D H KVH F E K]\n");
        return 2;
    }
    int B = atoi(argv[1]), T = atoi(argv[2]), W = atoi(argv[3]), steps = atoi(argv[4]);
    ut_config c = ut_config_default();
    c.vocab_size = 1025; c.n_layers = 8; c.d_model = 512; c.n_heads = 8; c.n_kv_heads = 2;
    c.ffn_hidden = 1376; c.n_experts = 1; c.top_k = 1;
    if (argc == 13) {
        c.vocab_size = atoi(argv[5]); c.n_layers = atoi(argv[6]); c.d_model = atoi(argv[7]); c.n_heads = atoi(argv[8]);
        c.n_kv_heads = atoi(argv[9]); c.ffn_hidden = atoi(argv[10]); c.n_experts = atoi(argv[11]); c.top_k = atoi(argv[12]);
    }
    if (B < 1 || T < 1 || W < 0 || steps < 1 || steps > 1000 || c.n_heads < 1 || c.d_model % c.n_heads) {
        fprintf(stderr, "step_cpu: bad arguments\n");
        return 2;
    }
    c.head_dim = c.d_model / c.n_heads; c.max_seq_len = T; c.sliding_window = W;
    ut_model m;
    if (ut_model_init(&m, &c, 1)) { fprintf(stderr, "step_cpu: %s\n", ut_error()); return 1; }
    ut_train_config tc = ut_train_config_default();
    int N = B * T, *in = malloc((size_t)N * sizeof(int)), *tg = malloc((size_t)N * sizeof(int));
    double *wall = malloc((size_t)steps * sizeof(double)), *cpu = malloc((size_t)steps * sizeof(double));
    if (!in || !tg || !wall || !cpu) { fprintf(stderr, "step_cpu: out of memory\n"); return 1; }
    uint64_t r = ut_rng_seed(1);
    for (int s = -1; s < steps; s++) {   /* step -1 warms up (first touch of the activations) */
        for (int i = 0; i < N; i++) {
            in[i] = (int)(ut_rng_u64(&r) % (uint64_t)c.vocab_size);
            tg[i] = (int)(ut_rng_u64(&r) % (uint64_t)c.vocab_size);
        }
        double w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        ut_model_zero_grad(&m);
        ut_model_forward(&m, in, tg, B, T);
        ut_model_backward(&m, 1.0f);
        ut_adamw_step(&m, &tc, 1e-3f, s + 2);
        if (s >= 0) { wall[s] = clock_ms(CLOCK_MONOTONIC) - w0; cpu[s] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0; }
    }
    qsort(wall, (size_t)steps, sizeof(double), cmp_double);
    qsort(cpu, (size_t)steps, sizeof(double), cmp_double);
    double w = wall[steps / 2], cp = cpu[steps / 2], flops = ut_flops_per_token(&c, T) * N;
    printf("B %d T %d W %d: wall %.0f ms/step (%.0f tokens/s, %.1f GFLOP/s)   cpu %.0f ms/step "
           "(%.1f us/token, %.1f GFLOP per cpu-s)   median of %d\n",
           B, T, W, w, N / w * 1e3, flops / w / 1e6, cp, cp * 1e3 / N, flops / cp / 1e6, steps);
    free(in); free(tg); free(wall); free(cpu);
    ut_model_free(&m);
    return 0;
}
