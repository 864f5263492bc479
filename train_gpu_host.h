/* train_gpu_host.h — the host-side bookkeeping of the GPU backend, in plain C.

   train_gpu.cu does the arithmetic on the GPU; a few small decisions are
   cheaper and clearer on the CPU, and written here as plain C so that a CPU
   test (test/test_gpu_host.c) checks them against ultrathink.h without a GPU:

     1. the embedding backward's token buckets: which rows n hold token v, in
        n order, so that a GPU block per token adds its rows one after another
        (deterministic, no atomics);
     2. the MoE slot sort: a stable counting sort of the N*K (token, choice)
        pairs by expert -- exactly section 5's ut_moe_forward step 2;
     3. the MoE losses from the router probabilities: aux = E sum_e f_e P_e and
        z = mean_n lse_n^2, summed in double in the CPU's order;
     4. each layer's parameters as offsets into the parameter buffer;
     5. how a row-major matrix product is asked of column-major cuBLAS.

   Every function is static: each file that includes this one gets its own
   copy. Include ultrathink.h first (ut_config, the tensor names). */
#ifndef TRAIN_GPU_HOST_H
#define TRAIN_GPU_HOST_H

#include <stddef.h>

/* 1. Token buckets. tokens (N) in [0, V) -> off (V+1), pos (N):
      the rows holding token v are pos[off[v] .. off[v+1]), in increasing n.
   A counting sort: count, prefix sum, fill (stable: n increases). */
static void gpu_token_buckets(const int *tokens, int N, int V, int *off, int *pos, int *fill) {
    for (int v = 0; v <= V; v++) off[v] = 0;
    for (int n = 0; n < N; n++) off[tokens[n] + 1]++;
    for (int v = 0; v < V; v++) off[v + 1] += off[v];
    for (int v = 0; v < V; v++) fill[v] = off[v];
    for (int n = 0; n < N; n++) pos[fill[tokens[n]]++] = n;
}

/* 2. The MoE slot sort. topk_e (N, K) -> count (E), off (E+1),
      slot_of (N, K), slot_token (N*K): expert e owns slots [off[e], off[e+1]),
      and within an expert the slots follow the token order (n, then k),
      as in ut_moe_forward. fill (E) is scratch. */
static void gpu_moe_sort(const int *topk_e, int N, int K, int E, int *count, int *off,
                         int *slot_of, int *slot_token, int *fill) {
    for (int e = 0; e < E; e++) count[e] = 0;
    for (size_t i = 0; i < (size_t)N * K; i++) count[topk_e[i]]++;
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + count[e];
    for (int e = 0; e < E; e++) fill[e] = off[e];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            int e = topk_e[(size_t)n * K + k], slot = fill[e]++;
            slot_of[(size_t)n * K + k] = slot;
            slot_token[slot] = n;
        }
}

/* 3. The MoE losses, from probs (N, E) and lse (N) as floats, in the same
      order of additions as ut_moe_forward (so the CPU and GPU agree to the
      last bit when the probabilities do). */
static void gpu_moe_losses(const float *probs, const float *lse, const int *off, int N, int K, int E,
                           float *aux, float *z) {
    double a = 0, zz = 0;
    for (int e = 0; e < E; e++) {
        double P = 0;
        for (int n = 0; n < N; n++) P += probs[(size_t)n * E + e];
        a += (double)(off[e + 1] - off[e]) / ((double)N * K) * (P / N);
    }
    for (int n = 0; n < N; n++) zz += (double)lse[n] * lse[n];
    *aux = (float)(E * a);
    *z = (float)(zz / N);
}

/* 4. One layer's parameters by name, as offsets into the parameter buffer
      (the GPU has its own copy of the buffer, in the host's layout): the
      same places ut_layer_weights points at on the host. */
typedef struct {
    size_t attn_norm, wq, wk, wv, wo, ffn_norm, router, w_gate, w_up, w_down;
} gpu_layer;
static gpu_layer gpu_layer_offsets(const ut_config *c, const size_t sizes[UT_NUM_TENSORS], int l) {
    size_t off[UT_NUM_TENSORS], o = 0;
    for (int t = 0; t < UT_NUM_TENSORS; t++) { off[t] = o; o += sizes[t]; }
    size_t D = c->d_model, QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t F = c->ffn_hidden, E = c->n_experts;
    gpu_layer w;
    w.attn_norm = off[UT_ATTN_NORM] + l * D;
    w.wq = off[UT_WQ] + l * QD * D;
    w.wk = off[UT_WK] + l * KD * D;
    w.wv = off[UT_WV] + l * KD * D;
    w.wo = off[UT_WO] + l * D * QD;
    w.ffn_norm = off[UT_FFN_NORM] + l * D;
    w.router = off[UT_ROUTER] + (E > 1 ? l * E * D : 0);
    w.w_gate = off[UT_W_GATE] + l * E * F * D;
    w.w_up = off[UT_W_UP] + l * E * F * D;
    w.w_down = off[UT_W_DOWN] + l * E * D * F;
    return w;
}

/* 5. How a row-major product is asked of cuBLAS, which is column-major.
      We want C (M, N) = op(A) op(B), row-major, with op(A) (M, K) and
      op(B) (K, N); ta/tb say whether A/B are stored transposed (A stored
      (K, M), B stored (N, K)). A row-major (r, c) matrix with row stride ld
      is, read column-major, its transpose: a (c, r) matrix with leading
      dimension ld. So C read column-major is C^T (N, M) = op(B)^T op(A)^T:
      cuBLAS's A is our B, its B our A, and no number is moved.
      The fields describe cuBLAS's operands as stored: rows x cols, leading
      dimension, and whether cuBLAS must transpose it (op_a/op_b). */
typedef struct {
    int op_a, a_rows, a_cols, lda;   /* cuBLAS A = our B */
    int op_b, b_rows, b_cols, ldb;   /* cuBLAS B = our A */
    int m, n, k;                     /* cuBLAS's C is m x n = N x M */
    int c_rows, c_cols, ldc;
} gpu_gemm_args;
static gpu_gemm_args gpu_gemm_colmajor(int ta, int tb, int M, int N, int K) {
    gpu_gemm_args g;
    /* our B: stored (K, N) row-major (ld N) = column-major N x K, which is
       op(B)^T already (no transpose); stored (N, K) (tb) = column-major
       K x N (ld K), whose transpose is op(B)^T */
    g.op_a = tb; g.a_rows = tb ? K : N; g.a_cols = tb ? N : K; g.lda = tb ? K : N;
    /* our A: stored (M, K) (ld K) = column-major K x M = op(A)^T; stored
       (K, M) (ta) = column-major M x K (ld M), transposed by cuBLAS */
    g.op_b = ta; g.b_rows = ta ? M : K; g.b_cols = ta ? K : M; g.ldb = ta ? M : K;
    g.m = N; g.n = M; g.k = K;
    g.c_rows = N; g.c_cols = M; g.ldc = N;
    return g;
}

#endif /* TRAIN_GPU_HOST_H */
