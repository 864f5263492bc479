/* bench.c — speed figures for `make bench` (figures, not pass/fail).

   For each benchmark config: ms per training step (forward + backward + AdamW,
   median of STEPS steps after 3 warm-up steps), tokens/s, and GFLOP/s counted
   as ut_flops_per_token (6 x active params + attention) x tokens / time.
   Then a matmul micro-benchmark on the shapes those models use.
     B1  nanoGPT laptop shape: V 256, L 4, D 128, H 4 (no GQA), SwiGLU F 344, T 64, B 12
     B2  B1 with MoE: 4 experts, top-2, F 344 each
     B3  ~10M params: L 6, D 384, H 6, KVH 2, F 1024, T 256, B 8, dense
   After B1 and B2, one line compares them: time ratio, FLOP ratio, cost per FLOP.
     L1  long context: B3's model at T 1024 (B 2) and T 4096 (B 1): tokens/s,
         GFLOP/s, the memory ut_memory_estimate gives and the process's peak RSS
     A   attention alone (ut_attention_forward + _backward, appendix A.7),
         H 8, KVH 2, HD 64, B 4, T 1024 and 4096: GFLOP/s counted as
         4 T^2 HD H per forward, halved (causal), backward 2.5x the forward
   Usage: bench [--steps N] [--threads N] [--only B1|B2|B3|L1|A|matmul] */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { const char *name; int L, D, H, KVH, F, E, K, T, B; } bench_cfg;

static double peak_rss_mb(void) {   /* the largest resident set so far (Linux: KB) */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* returns the median ms per step; *flops_out = FLOPs per step */
static double bench_model(const bench_cfg *b, int steps, double *flops_out) {
    ut_config c = ut_config_default();
    c.vocab_size = 256; c.n_layers = b->L; c.d_model = b->D; c.n_heads = b->H; c.n_kv_heads = b->KVH;
    c.head_dim = b->D / b->H; c.ffn_hidden = b->F; c.n_experts = b->E; c.top_k = b->K; c.max_seq_len = b->T;
    ut_model m;
    if (ut_model_init(&m, &c, 1)) { fprintf(stderr, "bench: %s\n", ut_error()); exit(1); }
    ut_train_config t = ut_train_config_default();
    int N = b->B * b->T, *in = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
    uint64_t r = ut_rng_seed(1);
    double *ms = malloc(steps * sizeof(double)), fwd = 0, bwd = 0, opt = 0;
    int warm = b->T >= 1024 ? 1 : 3;   /* long context: one warm-up step is enough */
    for (int s = -warm; s < steps; s++) {
        for (int i = 0; i < N; i++) { in[i] = (int)(ut_rng_u64(&r) % 256); tg[i] = (int)(ut_rng_u64(&r) % 256); }
        double t0 = now_ms();
        ut_model_zero_grad(&m);
        ut_model_forward(&m, in, tg, b->B, b->T);
        double t1 = now_ms();
        ut_model_backward(&m, 1.0f);
        double t2 = now_ms();
        ut_adamw_step(&m, &t, 1e-3f, s + warm + 1);
        double t3 = now_ms();
        if (s >= 0) { ms[s] = t3 - t0; fwd += t1 - t0; bwd += t2 - t1; opt += t3 - t2; }
    }
    qsort(ms, steps, sizeof(double), cmp_double);
    double med = ms[steps / 2], flops = ut_flops_per_token(&c, b->T) * N;
    printf("%-3s params %6.2fM (active %5.2fM)  %8.2f ms/step  %9.0f tok/s  %6.1f GFLOP/s"
           "   [fwd %.1f / bwd %.1f / adamw %.1f ms, mean]\n",
           b->name, ut_num_params(&c) / 1e6, ut_num_active_params(&c) / 1e6, med, N / med * 1e3,
           flops / med / 1e6, fwd / steps, bwd / steps, opt / steps);
    if (b->T >= 1024)
        printf("    T %d: memory %.0f MB by ut_memory_estimate, peak RSS of this process so far %.0f MB\n", b->T,
               ut_memory_estimate(&c, b->B, b->T, 0).total / 1e6, peak_rss_mb() * 1.048576);
    fflush(stdout);
    free(in); free(tg); free(ms);
    ut_model_free(&m);
    *flops_out = flops;
    return med;
}

/* Attention alone, forward + backward, best of `reps`. */
static void bench_attention(int T, int reps) {
    int B = 4, H = 8, KVH = 2, HD = 64;   /* B * KVH = 8 tasks for the threads */
    size_t nq = (size_t)B * T * H * HD, nk = (size_t)B * T * KVH * HD;
    ut_float *q = malloc(nq * sizeof(ut_float)), *dy = malloc(nq * sizeof(ut_float)), *y = malloc(nq * sizeof(ut_float));
    ut_float *dq = calloc(nq, sizeof(ut_float)), *k = malloc(nk * sizeof(ut_float)), *v = malloc(nk * sizeof(ut_float));
    ut_float *dk = calloc(nk, sizeof(ut_float)), *dv = calloc(nk, sizeof(ut_float));
    ut_float *lse = malloc((size_t)B * H * T * sizeof(ut_float));
    ut_float *scratch = malloc(ut_attention_scratch_floats(B, T, KVH, HD) * sizeof(ut_float));
    uint64_t r = ut_rng_seed(3);
    for (size_t i = 0; i < nq; i++) { q[i] = (ut_float)ut_rng_normal(&r); dy[i] = (ut_float)ut_rng_normal(&r); }
    for (size_t i = 0; i < nk; i++) { k[i] = (ut_float)ut_rng_normal(&r); v[i] = (ut_float)ut_rng_normal(&r); }
    double bf = 1e30, bb = 1e30, f = 4.0 * T * (double)T * HD * H * B / 2;   /* causal forward */
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_ms();
        ut_attention_forward(y, lse, q, k, v, B, T, H, KVH, HD, 0, scratch);
        double t1 = now_ms();
        ut_attention_backward(dq, dk, dv, dy, y, lse, q, k, v, B, T, H, KVH, HD, 0, scratch);
        double t2 = now_ms();
        if (t1 - t0 < bf) bf = t1 - t0;
        if (t2 - t1 < bb) bb = t2 - t1;
    }
    printf("A   attention T %5d (B 4, H 8, KVH 2, HD 64): fwd %7.2f ms %6.1f GFLOP/s   bwd %7.2f ms %6.1f GFLOP/s"
           "   (best of %d)\n", T, bf, f / bf / 1e6, bb, 2.5 * f / bb / 1e6, reps);
    fflush(stdout);
    free(q); free(dy); free(y); free(dq); free(k); free(v); free(dk); free(dv); free(lse); free(scratch);
}

static void bench_matmul(int N, int C, int O) {
    ut_float *x = malloc((size_t)N * C * sizeof(ut_float)), *w = malloc((size_t)O * C * sizeof(ut_float));
    ut_float *y = malloc((size_t)N * O * sizeof(ut_float)), *dx = calloc((size_t)N * C, sizeof(ut_float));
    ut_float *dw = calloc((size_t)O * C, sizeof(ut_float));
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = 0.01f * (i % 97);
    for (size_t i = 0; i < (size_t)O * C; i++) w[i] = 0.01f * (i % 89);
    double best[3] = {1e30, 1e30, 1e30}, gflop = 2.0 * N * C * O / 1e9;
    for (int rep = 0; rep < 15; rep++) {
        double t0 = now_ms();
        ut_matmul_forward(y, x, w, N, C, O);
        double t1 = now_ms();
        ut_matmul_backward(dx, NULL, y, x, w, N, C, O);
        double t2 = now_ms();
        ut_matmul_backward(NULL, dw, y, x, w, N, C, O);
        double t3 = now_ms();
        if (t1 - t0 < best[0]) best[0] = t1 - t0;
        if (t2 - t1 < best[1]) best[1] = t2 - t1;
        if (t3 - t2 < best[2]) best[2] = t3 - t2;
    }
    printf("  N %5d C %5d OC %5d   fwd %6.1f   dinp %6.1f   dw %6.1f GFLOP/s (best of 15)\n", N, C, O,
           gflop / best[0] * 1e3, gflop / best[1] * 1e3, gflop / best[2] * 1e3);
    free(x); free(w); free(y); free(dx); free(dw);
}

int main(int argc, char **argv) {
    int steps = 20;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
#ifdef _OPENMP
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) omp_set_num_threads(atoi(argv[++i]));
#endif
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: bench [--steps N] [--threads N] [--only B1|B2|B3|L1|A|matmul]\n"); return 2; }
    }
    if (steps < 1) steps = 1;
#ifdef _OPENMP
    int threads = omp_get_max_threads();
#else
    int threads = 1;
#endif
    printf("ultrathink bench: %d thread(s), %s, median of %d steps\n", threads,
           sizeof(ut_float) == 4 ? "float32" : "float64", steps);
    const bench_cfg cfgs[3] = {{"B1", 4, 128, 4, 4, 344, 1, 1, 64, 12},
                               {"B2", 4, 128, 4, 4, 344, 4, 2, 64, 12},
                               {"B3", 6, 384, 6, 2, 1024, 1, 1, 256, 8}};
    double ms[3] = {0}, fl[3] = {0};
    for (int i = 0; i < 3; i++)
        if (!only || !strcmp(only, cfgs[i].name)) ms[i] = bench_model(&cfgs[i], steps, &fl[i]);
    if (ms[0] > 0 && ms[1] > 0)   /* what the experts cost beyond their FLOPs */
        printf("B2 / B1: %.2fx the time for %.2fx the FLOPs (per FLOP, B2 costs %.2fx B1)\n",
               ms[1] / ms[0], fl[1] / fl[0], (ms[1] / fl[1]) / (ms[0] / fl[0]));
    if (!only || !strcmp(only, "A")) {   /* attention alone (appendix A.7) */
        bench_attention(1024, 5);
        bench_attention(4096, 2);
    }
    if (!only || !strcmp(only, "L1")) {  /* long context: memory linear in T (A.7) */
        const bench_cfg longs[2] = {{"L1", 6, 384, 6, 2, 1024, 1, 1, 1024, 2}, {"L1", 6, 384, 6, 2, 1024, 1, 1, 4096, 1}};
        double f;
        int ls = steps < 3 ? steps : 3;   /* a few steps: each is seconds long */
        for (int i = 0; i < 2; i++) bench_model(&longs[i], ls, &f);
    }
    if (!only || !strcmp(only, "matmul")) {
        printf("matmul (forward, backward dinp, backward dW):\n");
        const int shapes[][3] = {{768, 128, 384}, {768, 128, 128}, {768, 128, 344}, {768, 344, 128},
                                 {768, 128, 256}, {2048, 384, 384}, {2048, 384, 128}, {2048, 384, 1024},
                                 {2048, 1024, 384}, {2048, 384, 256}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) bench_matmul(shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    return 0;
}
