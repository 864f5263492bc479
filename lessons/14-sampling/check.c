/* lessons/14-sampling/check.c — checks your sample() and generate_nocache()
   (exercise.c, or solution.c with SOLUTION=1) against things that do not
   depend on them: hand-picked logits whose answer is known, the softmax
   computed here in double (empirical frequencies of many draws), and a
   generation loop written here with the header's KV cache. It also checks
   the header's own claim that one cached step (ut_kv_step) gives the logits
   of the full forward pass (ut_model_forward). One PASS/FAIL line per check.
   LONG=1 adds the exercise's experiment: tokens/s with and without the cache
   against the length of the text. */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include LESSON_IMPL   /* exercise.c or solution.c: sample, generate_nocache */


/* Draws n ids with sample() and compares the counts with the probabilities
   want[] (the softmax of logits/temperature, cut and renormalised, computed
   by the caller in double). Returns the largest |z| = |count - n p| /
   sqrt(n p (1 - p)) over the ids; an id with p = 0 that is drawn, or an id
   out of range, gives infinity. For a correct sampler each z is roughly a
   standard normal: |z| > 4.5 happens with probability ~7e-6 per id. */
static double max_z(const ut_float *logits, int V, float temp, int k, float p, const double *want, int n,
                    uint64_t seed) {
    int *count = calloc((size_t)V, sizeof *count);
    uint64_t rng = ut_rng_seed(seed);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        int id = sample(logits, V, temp, k, p, &rng);
        if (id < 0 || id >= V) { free(count); return INFINITY; }
        count[id]++;
    }
    for (int i = 0; i < V; i++) {
        double z;
        if (want[i] <= 0) z = count[i] ? INFINITY : 0;
        else if (want[i] >= 1) z = count[i] == n ? 0 : INFINITY;
        else z = fabs(count[i] - n * want[i]) / sqrt(n * want[i] * (1 - want[i]));
        if (!(z <= worst)) worst = z;
    }
    free(count);
    return worst;
}
/* softmax(logits / temp) restricted to the ids in keep[] (keep[i] != 0), in double */
static void softmax_kept(double *out, const ut_float *logits, int V, double temp, const int *keep) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < V; i++) { out[i] = keep[i] ? exp((logits[i] - mx) / temp) : 0; s += out[i]; }
    for (int i = 0; i < V; i++) out[i] /= s;
}

static ut_config tiny_config(int moe) {
    ut_config c = ut_config_default();
    c.vocab_size = 64; c.max_seq_len = 32; c.n_layers = 2; c.d_model = 32;
    c.n_heads = 4; c.n_kv_heads = moe ? 2 : 4; c.head_dim = 8; c.ffn_hidden = 48;
    c.n_experts = moe ? 4 : 1; c.top_k = moe ? 2 : 1; c.sliding_window = moe ? 8 : 0;
    return c;
}
/* Random weights are too small to make a random model's logits differ much;
   scale them up so that the next-token distribution is far from uniform. */
static void sharpen(ut_model *m) {
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 4;
}

/* The largest |softmax(ut_kv_step logits) - ut_model_forward probs| over all
   T positions and V ids, for one random sequence. */
static double kv_vs_forward(int moe) {
    ut_config c = tiny_config(moe);
    ut_model m;
    ut_kv_cache kv;
    if (ut_model_init(&m, &c, 14) || ut_kv_init(&kv, &m)) return NAN;
    sharpen(&m);
    enum { T = 32 };
    int tok[T];
    uint64_t rng = ut_rng_seed(99);
    for (int t = 0; t < T; t++) tok[t] = (int)(ut_rng_u64(&rng) % (uint64_t)c.vocab_size);
    double worst = 0;
    if (ut_model_forward(&m, tok, NULL, 1, T) < 0) worst = NAN;
    for (int t = 0; t < T && worst == worst; t++) {
        const ut_float *lg = ut_kv_step(&kv, &m, tok[t]);
        if (!lg) { worst = NAN; break; }
        double mx = -INFINITY, s = 0;
        for (int i = 0; i < c.vocab_size; i++) if (lg[i] > mx) mx = lg[i];
        for (int i = 0; i < c.vocab_size; i++) s += exp(lg[i] - mx);
        for (int i = 0; i < c.vocab_size; i++) {
            double e = fabs(exp(lg[i] - mx) / s - m.a.probs[(size_t)t * c.vocab_size + i]);
            if (!(e <= worst)) worst = e;
        }
    }
    ut_kv_free(&kv);
    ut_model_free(&m);
    return worst;
}

/* Greedy generation with the cache, the way train.c's generate() does it. */
static int generate_cached(const ut_model *m, ut_kv_cache *kv, int *tokens, int n_prompt, int n_new) {
    const ut_float *lg = NULL;
    kv->pos = 0;
    for (int i = 0; i < n_prompt; i++) if (!(lg = ut_kv_step(kv, m, tokens[i]))) return -1;
    for (int len = n_prompt; len < n_prompt + n_new; len++) {
        tokens[len] = ut_sample(lg, m->cfg.vocab_size, 0, 0, 1, NULL);
        if (len + 1 < n_prompt + n_new && !(lg = ut_kv_step(kv, m, tokens[len]))) return -1;
    }
    return 0;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
/* The exercise's experiment (LONG=1): the make run model (ut_config_default,
   random weights) generates up to each length greedily from a 1-token prompt,
   with and without the cache; tokens/s = new tokens / seconds. */
static void long_experiment(void) {
#ifdef _OPENMP
    omp_set_num_threads(1);   /* one thread: the numbers do not depend on the machine's load as much */
#endif
    ut_config c = ut_config_default();
    c.max_seq_len = 512;
    ut_model m;
    ut_kv_cache kv;
    if (ut_model_init(&m, &c, 1) || ut_kv_init(&kv, &m)) { printf("LONG: %s\n", ut_error()); return; }
    int *tok = malloc(512 * sizeof *tok);
    printf("LONG tokens/s, greedy, model = ut_config_default (L=%d D=%d E=%d K=%d), random weights, one thread\n",
           c.n_layers, c.d_model, c.n_experts, c.top_k);
    printf("LONG %8s %14s %14s %8s\n", "length", "with cache", "without", "ratio");
    for (int len = 32; len <= 512; len *= 2) {
        tok[0] = 0;
        double t0 = seconds();
        generate_cached(&m, &kv, tok, 1, len - 1);
        double t1 = seconds();
        uint64_t rng = ut_rng_seed(1);
        generate_nocache(&m, tok, 1, len - 1, 0, 0, 1, &rng);
        double t2 = seconds();
        double a = (len - 1) / (t1 - t0), b = (len - 1) / (t2 - t1);
        printf("LONG %8d %14.0f %14.1f %8.1f\n", len, a, b, a / b);
        fflush(stdout);
    }
    free(tok);
    ut_kv_free(&kv);
    ut_model_free(&m);
}

int main(void) {
    uint64_t rng = ut_rng_seed(14);

    /* 1. temperature 0 is greedy: the argmax, whatever the rng */
    ut_float l1[6] = {0.1f, 2.0f, -1.0f, 1.9f, 0.5f, 1.99f};
    int g = sample(l1, 6, 0.0f, 0, 1.0f, &rng);
    report(g == 1, "greedy_at_temperature_0", "logits (0.1, 2, -1, 1.9, 0.5, 1.99): got id %.0f (want %.0f)", g, 1);

    /* 2. a tie for the maximum goes to the lowest id */
    ut_float l2[5] = {1, 3, 0, 3, 3};
    int t2 = sample(l2, 5, 0.0f, 0, 1.0f, &rng);
    report(t2 == 1, "greedy_ties_to_lowest_id", "logits (1, 3, 0, 3, 3): got id %.0f (want %.0f)", t2, 1);

    /* 3. top-k = 1 at temperature 1 is the argmax every time (ties: lowest id) */
    ut_float l3[6] = {0.5f, 1.0f, 2.5f, 2.5f, -3.0f, 2.4f};
    int wrong3 = 0;
    for (int i = 0; i < 2000; i++) wrong3 += sample(l3, 6, 1.0f, 1, 1.0f, &rng) != 2;
    report(wrong3 == 0, "top_k_1_is_argmax", "2000 draws, logits (.5, 1, 2.5, 2.5, -3, 2.4): %.0f not id 2 (allowed %.0f)",
           wrong3, 0);

    /* 4. top-p boundary: 8 equal logits give p = 1/8 each (exact in binary).
          top_p = 0.25 is reached exactly by 2 ids (cumulative >= top_p), so only
          ids 0 and 1 may come out, half each; top_p = 0.3 needs 3: ids 0, 1, 2. */
    ut_float l4[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double w4[8] = {0.5, 0.5, 0, 0, 0, 0, 0, 0}, w4b[8] = {1 / 3., 1 / 3., 1 / 3., 0, 0, 0, 0, 0};
    double z4 = max_z(l4, 8, 1.0f, 0, 0.25f, w4, 20000, 4);
    report(z4 <= 4.5, "top_p_boundary_equal_logits", "8 equal logits, top_p 0.25 -> ids {0,1}: max |z| %.2f (tolerance %.1f)",
           z4, 4.5);
    double z4b = max_z(l4, 8, 1.0f, 0, 0.3f, w4b, 20000, 5);
    report(z4b <= 4.5, "top_p_just_past_boundary", "8 equal logits, top_p 0.30 -> ids {0,1,2}: max |z| %.2f (tolerance %.1f)",
           z4b, 4.5);

    /* 5. frequencies of 100000 draws match the softmax computed here in double:
          every |z| <= 4.5 (about 1e-4 false alarms over all ids of all cases;
          the seed is fixed, so the result is the same on every run). */
    ut_float l5[6] = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 1.5f};
    int all[6] = {1, 1, 1, 1, 1, 1}, top3[6] = {1, 0, 1, 0, 0, 1}, top2[6] = {0, 0, 1, 0, 0, 1};
    double w5[6];
    softmax_kept(w5, l5, 6, 1.0, all);
    double z5 = max_z(l5, 6, 1.0f, 0, 1.0f, w5, 100000, 6);
    report(z5 <= 4.5, "frequencies_match_softmax_T1", "100000 draws, 6 ids: max |z| %.2f (tolerance %.1f)", z5, 4.5);
    softmax_kept(w5, l5, 6, 0.5, all);
    double z6 = max_z(l5, 6, 0.5f, 0, 1.0f, w5, 100000, 7);
    report(z6 <= 4.5, "frequencies_match_softmax_T0.5", "100000 draws at temperature 0.5: max |z| %.2f (tolerance %.1f)",
           z6, 4.5);
    softmax_kept(w5, l5, 6, 1.0, top3);
    double z7 = max_z(l5, 6, 1.0f, 3, 1.0f, w5, 100000, 8);
    report(z7 <= 4.5, "frequencies_top_k_3_renormalised", "100000 draws, top-k 3 (ids 2, 5, 0): max |z| %.2f (tolerance %.1f)",
           z7, 4.5);
    /* softmax(l5): p2 = .378, p5 = .229 (cumulative .607), p0 = .139 (.746):
       top_p 0.7 keeps ids 2, 5, 0; top_p 0.6 keeps 2, 5 */
    softmax_kept(w5, l5, 6, 1.0, top2);
    double z8 = max_z(l5, 6, 1.0f, 0, 0.6f, w5, 100000, 9);
    report(z8 <= 4.5, "frequencies_top_p_0.6_renormalised", "100000 draws, top-p 0.6 (ids 2, 5): max |z| %.2f (tolerance %.1f)",
           z8, 4.5);

    /* 6. the KV cache: one cached step per position gives the probabilities
          of the full forward pass (float32; different kernels and summation
          orders, so not bit-identical). Dense multi-head; and MoE with GQA
          and a sliding window of 8. */
    double e9 = kv_vs_forward(0), e10 = kv_vs_forward(1);
    report(e9 <= 1e-5, "kv_step_equals_forward_dense", "32 positions, V=64: max |p_cached - p_forward| %.2e (tolerance %.0e)",
           e9, 1e-5);
    report(e10 <= 1e-5, "kv_step_equals_forward_moe_gqa_window", "32 positions: max |p_cached - p_forward| %.2e (tolerance %.0e)",
           e10, 1e-5);

    /* 7. your generator without the cache writes the same greedy tokens as
          the cached loop above (prompt 4 tokens, 20 new) */
    ut_config c = tiny_config(1);
    ut_model m;
    ut_kv_cache kv;
    if (ut_model_init(&m, &c, 7) || ut_kv_init(&kv, &m)) { printf("FAIL setup %s\n", ut_error()); return 1; }
    sharpen(&m);
    int a[24] = {5, 17, 3, 42}, b[24] = {5, 17, 3, 42};
    for (int i = 4; i < 24; i++) a[i] = b[i] = -1;
    generate_cached(&m, &kv, a, 4, 20);
    uint64_t r7 = ut_rng_seed(7);
    int rc = generate_nocache(&m, b, 4, 20, 0.0f, 0, 1.0f, &r7);
    int same = 0;
    for (int i = 4; i < 24; i++) same += a[i] == b[i];
    report(rc == 0 && same == 20, "nocache_generation_equals_cached", "greedy, 20 new tokens: %.0f of them equal (want %.0f)",
           same, 20);
    ut_kv_free(&kv);
    ut_model_free(&m);

    if (getenv("LONG") && *getenv("LONG")) long_experiment();
    return failed;
}
