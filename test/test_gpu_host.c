/* test_gpu_host.c — the GPU backend's host-side bookkeeping (train_gpu_host.h)
   against ultrathink.h, on the CPU (no GPU needed):
     the MoE slot sort and the aux/z losses against ut_moe_forward's own
     (same topk_e -> the same slots, offsets and counts, exactly; the same
     probabilities -> the same aux and z, exactly: same order of additions);
     the embedding's token buckets against a plain scan (rows in n order);
     each layer's parameter offsets against ut_layer_weights;
     the row-major -> column-major product mapping: a plain column-major
     GEMM with cuBLAS's meaning of every field, fed gpu_gemm_colmajor's
     answer, against a row-major triple loop, for the four transposes.
   Prints PASS/FAIL lines; exits non-zero on failure. */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include "../train_gpu_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;
static void report(const char *name, int ok, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, detail[0] ? " " : "", detail);
    fails += !ok;
}

static void test_moe(int N, int D, int F, int E, int K, uint64_t seed) {
    uint64_t rng = ut_rng_seed(seed);
    size_t NK = (size_t)N * K;
    float *x = malloc(sizeof(float) * N * D), *router = malloc(sizeof(float) * E * D);
    float *wg = malloc(sizeof(float) * E * F * D), *wu = malloc(sizeof(float) * E * F * D);
    float *wd = malloc(sizeof(float) * E * D * F), *out = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) x[i] = (float)ut_rng_normal(&rng);
    for (int i = 0; i < E * D; i++) router[i] = (float)(0.3 * ut_rng_normal(&rng));
    for (int i = 0; i < E * F * D; i++) { wg[i] = (float)(0.1 * ut_rng_normal(&rng)); wu[i] = (float)(0.1 * ut_rng_normal(&rng)); wd[i] = (float)(0.1 * ut_rng_normal(&rng)); }
    ut_moe_state s;
    s.probs = malloc(sizeof(float) * N * E); s.lse = malloc(sizeof(float) * N);
    s.topk_w = malloc(sizeof(float) * NK); s.topk_e = malloc(sizeof(int) * NK);
    s.slot_of = malloc(sizeof(int) * NK); s.slot_token = malloc(sizeof(int) * NK);
    s.off = malloc(sizeof(int) * (E + 1)); s.count = malloc(sizeof(int) * E);
    s.x = malloc(sizeof(float) * NK * D); s.gate = malloc(sizeof(float) * NK * F);
    s.up = malloc(sizeof(float) * NK * F); s.h = malloc(sizeof(float) * NK * F); s.out = malloc(sizeof(float) * NK * D);
    float aux, z;
    ut_moe_forward(out, &aux, &z, &s, x, router, wg, wu, wd, N, D, F, E, K);

    int *count = malloc(sizeof(int) * E), *off = malloc(sizeof(int) * (E + 1)), *fill = malloc(sizeof(int) * E);
    int *slot_of = malloc(sizeof(int) * NK), *slot_token = malloc(sizeof(int) * NK);
    gpu_moe_sort(s.topk_e, N, K, E, count, off, slot_of, slot_token, fill);
    int same = !memcmp(off, s.off, sizeof(int) * (E + 1)) && !memcmp(count, s.count, sizeof(int) * E) &&
               !memcmp(slot_of, s.slot_of, sizeof(int) * NK) && !memcmp(slot_token, s.slot_token, sizeof(int) * NK);
    char name[96], det[96];
    snprintf(name, sizeof name, "gpu_host_moe_sort_N%d_E%d_K%d", N, E, K);
    report(name, same, "(slots, offsets, counts identical to ut_moe_forward's)");
    /* stable: within an expert the slots follow the token order */
    int stable = 1;
    for (int e = 0; e < E; e++)
        for (int i = off[e] + 1; i < off[e + 1]; i++) stable &= slot_token[i - 1] <= slot_token[i];
    snprintf(name, sizeof name, "gpu_host_moe_sort_stable_N%d_E%d_K%d", N, E, K);
    report(name, stable, "");
    float a2, z2;
    gpu_moe_losses(s.probs, s.lse, off, N, K, E, &a2, &z2);
    snprintf(name, sizeof name, "gpu_host_moe_losses_N%d_E%d_K%d", N, E, K);
    snprintf(det, sizeof det, "(aux %.7g vs %.7g, z %.7g vs %.7g)", a2, aux, z2, z);
    report(name, a2 == aux && z2 == z, det);
    free(x); free(router); free(wg); free(wu); free(wd); free(out);
    free(s.probs); free(s.lse); free(s.topk_w); free(s.topk_e); free(s.slot_of); free(s.slot_token);
    free(s.off); free(s.count); free(s.x); free(s.gate); free(s.up); free(s.h); free(s.out);
    free(count); free(off); free(fill); free(slot_of); free(slot_token);
}

static void test_buckets(int N, int V) {
    uint64_t rng = ut_rng_seed(9);
    int *tok = malloc(sizeof(int) * N), *off = malloc(sizeof(int) * (V + 1)), *pos = malloc(sizeof(int) * N);
    int *fill = malloc(sizeof(int) * V);
    for (int n = 0; n < N; n++) tok[n] = (int)(ut_rng_u64(&rng) % (uint64_t)(V / 3 + 1));   /* repeats, and unused ids */
    gpu_token_buckets(tok, N, V, off, pos, fill);
    int ok = off[0] == 0 && off[V] == N;
    for (int v = 0; v < V && ok; v++) {   /* bucket v = the rows holding v, in n order */
        int r = off[v];
        for (int n = 0; n < N; n++)
            if (tok[n] == v) ok &= r < off[v + 1] && pos[r++] == n;
        ok &= r == off[v + 1];
    }
    char name[64];
    snprintf(name, sizeof name, "gpu_host_token_buckets_N%d_V%d", N, V);
    report(name, ok, "");
    free(tok); free(off); free(pos); free(fill);
}

static void test_layer_offsets(int moe, int tie) {
    ut_config c = ut_config_default();
    c.vocab_size = 50; c.max_seq_len = 16; c.n_layers = 3; c.d_model = 24; c.n_heads = 4; c.n_kv_heads = 2;
    c.head_dim = 6; c.ffn_hidden = 20; c.n_experts = moe ? 3 : 1; c.top_k = moe ? 2 : 1; c.tie_embeddings = tie;
    ut_model m;
    if (ut_model_init(&m, &c, 1)) { report("gpu_host_layer_offsets", 0, ut_error()); return; }
    int ok = 1;
    for (int l = 0; l < c.n_layers; l++) {
        ut_layer w = ut_layer_weights(m.p, &c, l);
        gpu_layer g = gpu_layer_offsets(&c, m.sizes, l);
        ok &= (size_t)(w.attn_norm - m.params) == g.attn_norm && (size_t)(w.wq - m.params) == g.wq &&
              (size_t)(w.wk - m.params) == g.wk && (size_t)(w.wv - m.params) == g.wv &&
              (size_t)(w.wo - m.params) == g.wo && (size_t)(w.ffn_norm - m.params) == g.ffn_norm &&
              (size_t)(w.w_gate - m.params) == g.w_gate && (size_t)(w.w_up - m.params) == g.w_up &&
              (size_t)(w.w_down - m.params) == g.w_down && (!moe || (size_t)(w.router - m.params) == g.router);
    }
    char name[64];
    snprintf(name, sizeof name, "gpu_host_layer_offsets_E%d_tie%d", c.n_experts, tie);
    report(name, ok, "");
    ut_model_free(&m);
}

/* cuBLAS's definition: C (m x n, column-major, ldc) = op(A) op(B), where A is
   stored a_rows x a_cols column-major with leading dimension lda, and op
   transposes it when op_a is set (so op(A) is m x k). */
static void colmajor_gemm(const gpu_gemm_args *g, const float *A, const float *B, float *C) {
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < g->n; j++) {
            double s = 0;
            for (int p = 0; p < g->k; p++) {
                float a = g->op_a ? A[p + (size_t)i * g->lda] : A[i + (size_t)p * g->lda];   /* op(A)[i, p] */
                float b = g->op_b ? B[j + (size_t)p * g->ldb] : B[p + (size_t)j * g->ldb];   /* op(B)[p, j] */
                s += (double)a * b;
            }
            C[i + (size_t)j * g->ldc] = (float)s;
        }
}
static void test_gemm_mapping(void) {
    int M = 5, N = 7, K = 3;
    uint64_t rng = ut_rng_seed(4);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float A[5 * 3], B[3 * 7], want[5 * 7] = {0}, got[5 * 7] = {0};
            for (int i = 0; i < M * K; i++) A[i] = (float)ut_rng_normal(&rng);
            for (int i = 0; i < K * N; i++) B[i] = (float)ut_rng_normal(&rng);
            /* row-major: A is (M, K), or (K, M) when ta; B is (K, N), or (N, K) when tb */
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int p = 0; p < K; p++)
                        s += (double)(ta ? A[p * M + i] : A[i * K + p]) * (tb ? B[j * K + p] : B[p * N + j]);
                    want[i * N + j] = (float)s;
                }
            gpu_gemm_args g = gpu_gemm_colmajor(ta, tb, M, N, K);
            int shapes = g.m == (g.op_a ? g.a_cols : g.a_rows) && g.k == (g.op_a ? g.a_rows : g.a_cols) &&
                         g.k == (g.op_b ? g.b_cols : g.b_rows) && g.n == (g.op_b ? g.b_rows : g.b_cols) &&
                         g.lda >= g.a_rows && g.ldb >= g.b_rows && g.ldc >= g.c_rows && g.c_rows == g.m &&
                         g.c_cols == g.n;
            colmajor_gemm(&g, B, A, got);   /* cuBLAS's A is our B */
            int same = 1;
            for (int i = 0; i < M * N; i++) same &= got[i] == want[i];
            char name[64];
            snprintf(name, sizeof name, "gpu_host_gemm_mapping_ta%d_tb%d", ta, tb);
            report(name, shapes && same, "(row-major result from the column-major call)");
        }
}

int main(void) {
    test_moe(64, 16, 24, 4, 2, 1);
    test_moe(97, 8, 12, 8, 2, 2);
    test_moe(50, 8, 12, 3, 3, 3);    /* K == E: every token everywhere */
    test_moe(40, 8, 12, 6, 1, 4);
    test_buckets(1000, 300);
    test_buckets(1, 5);
    test_layer_offsets(1, 0);
    test_layer_offsets(0, 1);
    test_gemm_mapping();
    return fails ? 1 : 0;
}
