/* test_gpu_host.c — the GPU backend's host-side bookkeeping (train_gpu_host.h)
   against ultrathink.h, on the CPU (no GPU needed):
     the MoE slot sort and the aux/z losses against ut_moe_forward's own
     (same topk_e -> the same slots, offsets and counts, exactly; the same
     probabilities -> the same aux and z, exactly: same order of additions);
     the embedding's token buckets against a plain scan (rows in n order).
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

int main(void) {
    test_moe(64, 16, 24, 4, 2, 1);
    test_moe(97, 8, 12, 8, 2, 2);
    test_moe(50, 8, 12, 3, 3, 3);    /* K == E: every token everywhere */
    test_moe(40, 8, 12, 6, 1, 4);
    test_buckets(1000, 300);
    test_buckets(1, 5);
    return fails ? 1 : 0;
}
