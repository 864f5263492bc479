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
        z = mean_n lse_n^2, summed in double in the CPU's order.

   Every function is static: each file that includes this one gets its own copy. */
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

#endif /* TRAIN_GPU_HOST_H */
