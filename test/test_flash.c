/* test_flash.c — long context: the tiled attention (appendix A.7,
   FlashAttention-2) and activation checkpointing (ut_model.recompute).

   The gradient checks of the tiled attention are in test_grad.c (double,
   finite differences, T past several tiles, GQA, MQA, windows) and its
   agreement with the plain loops in test_props.c. Here, the properties
   that long context depends on, each exact or with a stated tolerance:
     1. bit-identical attention (y, lse, dq, dk, dv) for 1, 2 and 3 threads
     2. causality and the window in the tiled version: changing a key/value
        that row t cannot see leaves y_t bit-identical (and one it can see
        changes it), over several tiles
     3. memory linear in T: the attention's scratch and activations grow
        like T, not T^2 (ut_memory_estimate at T and 2T)
     4. --recompute: training with and without it gives bit-identical
        losses and weights (dense and MoE, with a window), and it needs less
        memory
     5. a weight gradient over more rows than the packing buffer holds, done
        in chunks, is bit-identical to one product
     6. a GQA group larger than UT__ATT_HEADS (the query heads that share one
        pass over the key tiles): the heads run in chunks (4, then 2), and
        y, dq, dk, dv still agree with the plain loops
   Float build, with OpenMP when the compiler has it. */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"   /* report(ok, name, detail...), n_fail */

typedef struct { int B, T, H, KVH, HD, W; } shape;
typedef struct { ut_float *q, *k, *v, *dy, *y, *lse, *dq, *dk, *dv, *scratch; size_t nq, nk, nl; } att_bufs;

static att_bufs att_alloc(shape s, uint64_t seed) {
    att_bufs a;
    a.nq = (size_t)s.B * s.T * s.H * s.HD; a.nk = (size_t)s.B * s.T * s.KVH * s.HD; a.nl = (size_t)s.B * s.H * s.T;
    a.q = malloc(a.nq * sizeof(ut_float)); a.dy = malloc(a.nq * sizeof(ut_float));
    a.k = malloc(a.nk * sizeof(ut_float)); a.v = malloc(a.nk * sizeof(ut_float));
    a.y = malloc(a.nq * sizeof(ut_float)); a.lse = malloc(a.nl * sizeof(ut_float));
    a.dq = malloc(a.nq * sizeof(ut_float)); a.dk = malloc(a.nk * sizeof(ut_float)); a.dv = malloc(a.nk * sizeof(ut_float));
    a.scratch = malloc(ut_attention_scratch_floats(s.B, s.T, s.KVH, s.HD) * sizeof(ut_float));
    uint64_t r = ut_rng_seed(seed);
    for (size_t i = 0; i < a.nq; i++) { a.q[i] = (ut_float)ut_rng_normal(&r); a.dy[i] = (ut_float)ut_rng_normal(&r); }
    for (size_t i = 0; i < a.nk; i++) { a.k[i] = (ut_float)ut_rng_normal(&r); a.v[i] = (ut_float)ut_rng_normal(&r); }
    return a;
}
static void att_free(att_bufs *a) {
    free(a->q); free(a->dy); free(a->k); free(a->v); free(a->y); free(a->lse);
    free(a->dq); free(a->dk); free(a->dv); free(a->scratch);
}
#ifdef _OPENMP
static void att_run(att_bufs *a, shape s) {   /* forward, then backward into zeroed dq, dk, dv */
    memset(a->dq, 0, a->nq * sizeof(ut_float));
    memset(a->dk, 0, a->nk * sizeof(ut_float));
    memset(a->dv, 0, a->nk * sizeof(ut_float));
    ut_attention_forward(a->y, a->lse, a->q, a->k, a->v, s.B, s.T, s.H, s.KVH, s.HD, s.W, a->scratch);
    ut_attention_backward(a->dq, a->dk, a->dv, a->dy, a->y, a->lse, a->q, a->k, a->v, s.B, s.T, s.H, s.KVH,
                          s.HD, s.W, a->scratch);
}
#endif

/* 1. The same attention on 1, 2 and 3 threads: every output bit-identical.
   (Each output row is written by the one task of its (batch, kv head), in
   a fixed order; no atomics.) */
static void test_threads(shape s) {
    char name[96];
    snprintf(name, sizeof name, "attention_bit_identical_across_threads(B%d T%d H%d KVH%d W%d)", s.B, s.T, s.H, s.KVH, s.W);
#ifdef _OPENMP
    int nt = omp_get_max_threads(), counts[3] = {1, 2, 3}, same = 1;
    att_bufs ref = att_alloc(s, 5), a = att_alloc(s, 5);
    omp_set_num_threads(1);
    att_run(&ref, s);
    for (int i = 1; i < 3; i++) {
        omp_set_num_threads(counts[i]);
        att_run(&a, s);
        same &= !memcmp(a.y, ref.y, a.nq * sizeof(ut_float)) && !memcmp(a.lse, ref.lse, a.nl * sizeof(ut_float)) &&
                !memcmp(a.dq, ref.dq, a.nq * sizeof(ut_float)) && !memcmp(a.dk, ref.dk, a.nk * sizeof(ut_float)) &&
                !memcmp(a.dv, ref.dv, a.nk * sizeof(ut_float));
    }
    omp_set_num_threads(nt);
    report(same, name, "y, lse, dq, dk, dv identical for 1, 2 and 3 threads");
    att_free(&ref); att_free(&a);
#else
    printf("SKIP %s built without OpenMP\n", name);
#endif
}

/* 2. Causality and the window, across tiles: change key/value u; y_t must be
   bit-identical for every t that cannot see u (t < u, or t - u >= W) and must
   change for t = u (every row sees itself). */
static void test_visibility(shape s, int u) {
    att_bufs a = att_alloc(s, 6);
    ut_float *y0 = malloc(a.nq * sizeof(ut_float));
    ut_attention_forward(y0, a.lse, a.q, a.k, a.v, s.B, s.T, s.H, s.KVH, s.HD, s.W, a.scratch);
    for (int b = 0; b < s.B; b++)
        for (int i = 0; i < s.KVH * s.HD; i++) {
            a.k[((size_t)b * s.T + u) * s.KVH * s.HD + i] += 1.5f;
            a.v[((size_t)b * s.T + u) * s.KVH * s.HD + i] -= 2.0f;
        }
    ut_attention_forward(a.y, a.lse, a.q, a.k, a.v, s.B, s.T, s.H, s.KVH, s.HD, s.W, a.scratch);
    int wrong = 0, first = -1, row = s.H * s.HD;
    for (int b = 0; b < s.B; b++)
        for (int t = 0; t < s.T; t++) {
            int sees = t >= u && (s.W == 0 || t - u < s.W);
            size_t o = ((size_t)b * s.T + t) * row;
            int changed = memcmp(y0 + o, a.y + o, row * sizeof(ut_float)) != 0;
            if (changed != sees && (sees ? t == u : 1)) { if (!wrong++) first = t; }
        }
    char name[96];
    snprintf(name, sizeof name, "tiled_attention_visibility(T%d W%d, key %d)", s.T, s.W, u);
    report(!wrong, name, "rows that cannot see key %d bit-identical, row %d changed; %d wrong rows (first %d)",
           u, u, wrong, first);
    free(y0); att_free(&a);
}

/* 3. Memory linear in T: the attention keeps (B, H, T) numbers per layer and
   its scratch is O(T HD), so every activation buffer is linear in T, and
   doubling T at most doubles the activations (the old (B, H, T, T)
   probabilities made it 4x at long T). Tolerance: 2.01x. */
static void test_memory_linear(void) {
    ut_config c = ut_config_default();
    c.vocab_size = 1025; c.n_layers = 8; c.d_model = 512; c.n_heads = 8; c.n_kv_heads = 2; c.head_dim = 64;
    c.ffn_hidden = 1376; c.n_experts = 1; c.top_k = 1; c.max_seq_len = 8192;
    ut_memory m1 = ut_memory_estimate(&c, 8, 2048, 0), m2 = ut_memory_estimate(&c, 8, 4096, 0);
    ut_memory r2 = ut_memory_estimate(&c, 8, 4096, 1);
    double ratio = (double)m2.activations / m1.activations;
    report(ratio <= 2.01, "memory_linear_in_T", "activations at T 4096 / T 2048: %.3fx (must be <= 2.01x); %.2f GB at T 4096",
           ratio, m2.activations / 1e9);
    double rr = (double)r2.activations / m2.activations;
    report(rr < 0.4, "recompute_needs_less_memory", "activations with recompute %.2f GB = %.2fx without (must be < 0.4x, L = 8)",
           r2.activations / 1e9, rr);
}

/* 4. Activation checkpointing changes nothing but memory and time: steps
   with and without m.recompute give bit-identical losses, router losses and
   weights. */
static void test_recompute(int E, int K, int window) {
    ut_config c = ut_config_default();
    c.vocab_size = 67; c.max_seq_len = 80; c.n_layers = 3; c.d_model = 32; c.n_heads = 4; c.n_kv_heads = 2;
    c.head_dim = 8; c.ffn_hidden = 40; c.n_experts = E; c.top_k = K; c.sliding_window = window;
    ut_train_config t = ut_train_config_default();
    enum { B = 2, T = 80, STEPS = 4 };
    double loss[2][STEPS], aux[2][STEPS];
    ut_float *w[2];
    size_t np = 0;
    for (int rc = 0; rc < 2; rc++) {
        ut_model m;
        ut_model_init(&m, &c, 7);
        m.recompute = rc;
        uint64_t r = ut_rng_seed(8);
        int in[B * T], tg[B * T];
        for (int s = 0; s < STEPS; s++) {
            for (int i = 0; i < B * T; i++) { in[i] = (int)(ut_rng_u64(&r) % 67); tg[i] = (int)(ut_rng_u64(&r) % 67); }
            ut_model_zero_grad(&m);
            loss[rc][s] = ut_model_forward(&m, in, tg, B, T);
            aux[rc][s] = m.aux_loss + m.z_loss;
            ut_model_backward(&m, 1.0f);
            ut_adamw_step(&m, &t, 1e-2f, s + 1);
        }
        np = m.n_params;
        w[rc] = malloc(np * sizeof(ut_float));
        memcpy(w[rc], m.params, np * sizeof(ut_float));
        ut_model_free(&m);
    }
    int same = !memcmp(loss[0], loss[1], sizeof loss[0]) && !memcmp(aux[0], aux[1], sizeof aux[0]) &&
               !memcmp(w[0], w[1], np * sizeof(ut_float));
    char name[96];
    snprintf(name, sizeof name, "recompute_bit_identical(E%d K%d window %d)", E, K, window);
    report(same, name, "%d steps (L 3, B %d, T %d): losses, router losses and weights identical; last loss %.6f vs %.6f",
           STEPS, B, T, loss[0][STEPS - 1], loss[1][STEPS - 1]);
    free(w[0]); free(w[1]);
}

/* 5. A weight gradient over many rows (N*C past UT__PACK_MAX) is computed in
   chunks of the sum over rows, to bound the packing buffer (appendix A.4);
   the result must be bit-identical to one blocked product over all rows
   (ut__gemm_block on a whole packed copy, on one thread), and close to the
   plain loop to 1e-4 of the largest gradient (float sums of 40000 terms). */
static void test_chunked_dw(void) {
    int N = 40000, C = 128, OC = 24;   /* N*C = 5.1M floats > UT__PACK_MAX = 4.2M */
    ut_float *x = malloc((size_t)N * C * sizeof(ut_float)), *dout = malloc((size_t)N * OC * sizeof(ut_float));
    ut_float *dw1 = calloc((size_t)OC * C, sizeof(ut_float)), *dw2 = calloc((size_t)OC * C, sizeof(ut_float));
    ut_float *dw3 = calloc((size_t)OC * C, sizeof(ut_float));
    ut_float *bp = aligned_alloc(64, (ut__packed_size(N, C) * sizeof(ut_float) + 63) / 64 * 64);
    uint64_t r = ut_rng_seed(21);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = (ut_float)ut_rng_normal(&r);
    for (size_t i = 0; i < (size_t)N * OC; i++) dout[i] = (ut_float)ut_rng_normal(&r);
    ut_matmul_backward(NULL, dw1, dout, x, NULL, N, C, OC);            /* chunked */
    ut__pack(bp, x, C, 1, N, C);                                        /* one product */
    ut__gemm_block(OC, C, N, dout, 1, OC, bp, dw2, C, 1, UT__ALL);
    ut_matmul_backward_naive(NULL, dw3, dout, x, NULL, N, C, OC);
    double e = 0, mx = 0;
    for (size_t i = 0; i < (size_t)OC * C; i++) { e = fmax(e, fabs((double)dw1[i] - dw3[i])); mx = fmax(mx, fabs((double)dw3[i])); }
    int same = !memcmp(dw1, dw2, (size_t)OC * C * sizeof(ut_float));
    report(same && e <= 1e-4 * mx, "chunked_weight_gradient", "N %d x C %d: bit-identical to one blocked product; "
           "max |diff| to the plain loop %.1e (tolerance 1e-4 x max|dw| = %.1e)", N, C, e, 1e-4 * mx);
    free(x); free(dout); free(dw1); free(dw2); free(dw3); free(bp);
}

/* 6. The tiled attention runs a kv head's query heads UT__ATT_HEADS at a
   time against each key tile (appendix A.7). With a group of 6 (MQA, H 6,
   KVH 1) they come in two chunks, 4 and 2; compare with the plain loops of
   section 5. Both float, different summation orders: agreement to rounding,
   |tiled - plain| <= 1e-5 (1 + |plain|), as in test_props. */
static double max_rel_diff(const ut_float *a, const ut_float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1 + fabs((double)b[i]));
        if (!(d <= m)) m = d;   /* NaN-safe: a NaN makes m NaN, and the check fails */
    }
    return m;
}
static void test_head_chunks(shape s) {
    att_bufs a = att_alloc(s, 9), p = att_alloc(s, 9);   /* same inputs; p: the plain version */
    ut_float *att = malloc((size_t)s.B * s.H * s.T * s.T * sizeof(ut_float));
    memset(a.dq, 0, a.nq * sizeof(ut_float)); memset(a.dk, 0, a.nk * sizeof(ut_float)); memset(a.dv, 0, a.nk * sizeof(ut_float));
    memset(p.dq, 0, p.nq * sizeof(ut_float)); memset(p.dk, 0, p.nk * sizeof(ut_float)); memset(p.dv, 0, p.nk * sizeof(ut_float));
    ut_attention_forward(a.y, a.lse, a.q, a.k, a.v, s.B, s.T, s.H, s.KVH, s.HD, s.W, a.scratch);
    ut_attention_backward(a.dq, a.dk, a.dv, a.dy, a.y, a.lse, a.q, a.k, a.v, s.B, s.T, s.H, s.KVH, s.HD, s.W, a.scratch);
    ut_attention_forward_naive(p.y, att, p.q, p.k, p.v, s.B, s.T, s.H, s.KVH, s.HD, s.W);
    ut_attention_backward_naive(p.dq, p.dk, p.dv, p.dy, att, p.q, p.k, p.v, s.B, s.T, s.H, s.KVH, s.HD, s.W);
    double e[4] = {max_rel_diff(a.y, p.y, a.nq), max_rel_diff(a.dq, p.dq, a.nq), max_rel_diff(a.dk, p.dk, a.nk),
                   max_rel_diff(a.dv, p.dv, a.nk)}, worst = 0;
    for (int i = 0; i < 4; i++) if (!(e[i] <= worst)) worst = e[i];
    char name[96];
    snprintf(name, sizeof name, "attention_head_chunks_equal_plain(B%d T%d H%d KVH%d HD%d W%d)", s.B, s.T, s.H, s.KVH, s.HD, s.W);
    report(worst <= 1e-5, name, "%d heads per kv head, %d at a time: max rel diff y %.1e dq %.1e dk %.1e dv %.1e (tolerance 1e-5)",
           s.H / s.KVH, UT__ATT_HEADS, e[0], e[1], e[2], e[3]);
    free(att); att_free(&a); att_free(&p);
}

int main(void) {
    const shape sh[4] = {{2, 200, 4, 2, 64, 0}, {3, 150, 3, 1, 32, 70}, {1, 257, 2, 2, 16, 9}, {2, 150, 6, 1, 32, 0}};
    for (int i = 0; i < 4; i++) test_threads(sh[i]);
    test_head_chunks(sh[3]);
    test_head_chunks((shape){1, 200, 6, 1, 16, 70});
    test_visibility(sh[0], 70);
    test_visibility(sh[1], 20);   /* window 70: rows 20..89 see it, tile 2 onwards does not */
    test_visibility(sh[2], 130);
    test_memory_linear();
    test_chunked_dw();
    test_recompute(1, 1, 0);
    test_recompute(4, 2, 0);
    test_recompute(1, 1, 30);
    printf("%s: %d check(s) failed\n", n_fail ? "FAILED" : "ok", n_fail);
    return n_fail ? 1 : 0;
}
