/* test_mutants.c — small exact checks of the details a one-line bug breaks
   silently (float build, as train.c runs).

   Each check pins one rule against a value written out here: the AdamW
   update (bias correction, decoupled weight decay on matrices only, clipping
   by the global norm, eps outside the square root), the learning-rate
   schedule at its fixed points, the sliding-window mask, and the tie rules
   and ranges of the MoE top-k, the sampler and the batch sampler. Before
   these, the same bugs were caught only by the PyTorch comparison, or not at
   all. Each check prints PASS/FAIL with what it compared; tolerances are
   stated where a check is not bit-exact. Runs in well under a second.

   Each check was seen to FAIL with one line of ultrathink.h changed (28
   mutations, none survived):
     AdamW  no 1/(1-b1^t), no 1/sqrt(1-b2^t), t+1 in both, eps under the root
            (two forms), clipping by value  -> adamw_bias_correction_first_step,
            adamw_eps_outside_sqrt, adamw_clips_by_global_norm, adamw_three_steps_*
            no clipping, clipping that also scales up -> adamw_clips_by_global_norm
            decay on every tensor / on none / on the final norm / p -= lr*wd
            -> adamw_weight_decay_matrices_not_norms, adamw_three_steps_*
     lr     warmup from 0, warmup s <= W, cosine over decay instead of decay-1,
            cosine starting one step late, no clamp after the end -> lr_schedule_*
     window first visible key t-W or t-W+2, fast path only t-W, fast mask
            leaking key t-W -> sliding_window_mask(plain/fast)
     ties   top-k p[e] >= p[best] -> moe_topk_ties_*; greedy >= -> sampler_greedy_*;
            sort ties by higher id -> sampler_top_k1_*, sampler_top_p_boundary;
            top-p cum > top_p, or one id too few -> sampler_top_p_boundary
     batch  span n-T-1 -> batch_random_range(T+2) (and (T+1): a division by
            zero, which -O2 may fold away; test-asan reports it), span n-T+1
            -> batch_random_range(T+2), (T+1). */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"   /* report(ok, name, detail...), n_fail */

/* worst = max(worst, e), and a NaN, once seen, stays (the check then fails). */
static void take_max(double *worst, double e) {
    if (isnan(*worst)) return;
    if (!(e <= *worst)) *worst = e;
}


/* ---- AdamW --------------------------------------------------------------- */

/* A small model with every kind of tensor: norms, attention, a router, experts. */
static void small_model(ut_model *m) {
    ut_config c = ut_config_default();
    c.vocab_size = 19; c.max_seq_len = 8; c.n_layers = 2; c.d_model = 8; c.n_heads = 2;
    c.n_kv_heads = 1; c.head_dim = 4; c.ffn_hidden = 12; c.n_experts = 2; c.top_k = 1;
    ut_model_init(m, &c, 5);
}

/* The rule under test, written once: which tensors get weight decay. */
static int decays(int k) { return !(k == UT_ATTN_NORM || k == UT_FFN_NORM || k == UT_FINAL_NORM); }
static int tensor_of(const ut_model *m, size_t i) {
    int k = 0;
    while (k + 1 < UT_NUM_TENSORS && (size_t)(m->p[k + 1] - m->params) <= i) k++;
    return k;
}

/* Random gradients (standard normal), scaled to global L2 norm `norm`. */
static void set_grads(ut_model *m, uint64_t seed, double norm) {
    uint64_t r = ut_rng_seed(seed);
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++) { m->grads[i] = (ut_float)ut_rng_normal(&r); ss += (double)m->grads[i] * m->grads[i]; }
    double s = norm / sqrt(ss);
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] = (ut_float)(m->grads[i] * s);
}
static void reset_optimizer(ut_model *m, ut_float p0) {
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = p0;
    memset(m->adam_m, 0, m->n_params * sizeof(ut_float));
    memset(m->adam_v, 0, m->n_params * sizeof(ut_float));
}
static ut_train_config adam_settings(float lr, float eps, float wd, float clip) {
    ut_train_config t = ut_train_config_default();
    t.lr = lr; t.beta1 = 0.9f; t.beta2 = 0.99f; t.eps = eps; t.weight_decay = wd; t.grad_clip = clip;
    return t;
}

/* The first step from zero moments and zero weights (weight decay 0) is, in
   exact arithmetic,  p1 = -lr * g / (|g| + eps):  m/(1-b1) = g and
   sqrt(v/(1-b2)) = |g|, whatever b1 and b2 are. Without either bias
   correction the step is 10x smaller (1 - 0.9 = 0.1, sqrt(1 - 0.99) = 0.1).
   `clip_to` is the gradient after clipping, as a factor of the gradient. */
static double first_step_error(const ut_model *m, const ut_float *g, float lr, float eps, double clip_to) {
    double worst = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        double gc = g[i] * clip_to, want = -(double)lr * gc / (fabs(gc) + eps);
        take_max(&worst, fabs(m->params[i] - want) / ((double)lr * fabs(gc) / (fabs(gc) + eps)));
    }
    return worst;
}

static void test_adamw_bias_correction(void) {
    ut_model m;
    small_model(&m);
    ut_train_config t = adam_settings(1e-2f, 1e-8f, 0, 0);
    reset_optimizer(&m, 0);
    set_grads(&m, 3, 0.5);
    ut_float *g = malloc(m.n_params * sizeof(ut_float));
    memcpy(g, m.grads, m.n_params * sizeof(ut_float));
    ut_adamw_step(&m, &t, t.lr, 1);
    double e = first_step_error(&m, g, t.lr, t.eps, 1);
    report(e < 1e-5, "adamw_bias_correction_first_step",
           "p1 = -lr g/(|g|+eps) from zero state: max relative error %.1e over %zu weights (tolerance 1e-5, float)", e, m.n_params);
    free(g);
    ut_model_free(&m);
}

/* eps is added to sqrt(v_hat), not under the root. With eps = 1e-2 and
   |g| = 1e-4 the step is lr * 1e-4 / (1e-4 + 1e-2) ~ lr / 101; with eps under
   the root it would be lr * 1e-4 / sqrt(1e-8 + 1e-2) ~ lr / 1000. */
static void test_adamw_eps_outside_sqrt(void) {
    ut_model m;
    small_model(&m);
    ut_train_config t = adam_settings(1e-2f, 1e-2f, 0, 0);
    reset_optimizer(&m, 0);
    uint64_t r = ut_rng_seed(4);
    for (size_t i = 0; i < m.n_params; i++) m.grads[i] = (ut_float)((ut_rng_uniform(&r) < 0.5 ? -1e-4 : 1e-4) * (1 + ut_rng_uniform(&r)));
    ut_float *g = malloc(m.n_params * sizeof(ut_float));
    memcpy(g, m.grads, m.n_params * sizeof(ut_float));
    ut_adamw_step(&m, &t, t.lr, 1);
    double e = first_step_error(&m, g, t.lr, t.eps, 1);
    report(e < 1e-5, "adamw_eps_outside_sqrt", "eps 1e-2, |g| 1e-4..2e-4: p1 = -lr g/(|g|+eps), max relative error %.1e (tolerance 1e-5)", e);
    free(g);
    ut_model_free(&m);
}

/* Clipping scales the whole gradient by grad_clip / ||g|| when ||g|| exceeds
   grad_clip, and leaves it alone otherwise. A large eps (1e-2, about |g| after
   clipping) makes the step depend on the gradient's scale, so a missing or
   wrong clip shows in one step: g/(|g|+eps) differs for g and g/10. One
   element is made 4x the clip value: clipping each element to +-grad_clip
   ("by value") would treat it differently from the rest. */
static void test_adamw_clipping(void) {
    ut_model m;
    small_model(&m);
    const float lr = 1e-2f, eps = 1e-2f;
    ut_train_config t = adam_settings(lr, eps, 0, 1.0f);
    ut_float *g = malloc(m.n_params * sizeof(ut_float));
    const double norms[2] = {10, 0.5};
    int ok = 1;
    char what[2][96];
    for (int c = 0; c < 2; c++) {
        reset_optimizer(&m, 0);
        set_grads(&m, 6 + c, norms[c] * 0.6);
        double rest = 0;
        for (size_t i = 1; i < m.n_params; i++) rest += (double)m.grads[i] * m.grads[i];
        m.grads[0] = (ut_float)sqrt(norms[c] * norms[c] - rest);   /* 8 and 0.4: ||g|| = norms[c] */
        memcpy(g, m.grads, m.n_params * sizeof(ut_float));
        double got_norm = ut_adamw_step(&m, &t, lr, 1);
        double clip_to = norms[c] > 1 ? 1 / norms[c] : 1;
        double e = first_step_error(&m, g, lr, eps, clip_to);
        ok &= e < 1e-5 && fabs(got_norm - norms[c]) <= 1e-6 * norms[c];
        snprintf(what[c], sizeof what[c], "||g|| %.1f (returned %.6f): scaled by %.2f, max rel error %.1e", norms[c], got_norm, clip_to, e);
    }
    report(ok, "adamw_clips_by_global_norm", "grad_clip 1: %s; %s (tolerance 1e-5)", what[0], what[1]);
    free(g);
    ut_model_free(&m);
}

/* Decoupled weight decay, p *= 1 - lr*wd every step, on the matrices only:
   with zero gradients (so no Adam step) and every weight 0.5, after 3 steps a
   matrix weight is 0.5 (1 - lr wd)^3 and a norm weight still exactly 0.5. */
static void test_adamw_weight_decay(void) {
    ut_model m;
    small_model(&m);
    const float lr = 1e-2f, wd = 0.5f;
    ut_train_config t = adam_settings(lr, 1e-8f, wd, 1.0f);
    reset_optimizer(&m, 0.5f);
    memset(m.grads, 0, m.n_params * sizeof(ut_float));
    for (int s = 1; s <= 3; s++) ut_adamw_step(&m, &t, lr, s);
    double want = 0.5 * pow(1 - (double)lr * wd, 3), worst = 0;
    size_t norms_changed = 0, n_norm = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        if (decays(tensor_of(&m, i))) {
            take_max(&worst, fabs(m.params[i] - want) / want);
        } else {
            n_norm++;
            norms_changed += m.params[i] != 0.5f;
        }
    }
    report(worst < 1e-6 && norms_changed == 0 && n_norm > 0, "adamw_weight_decay_matrices_not_norms",
           "lr %.0e wd %.1f, 3 steps: matrices 0.5 -> %.6f (max rel error %.1e, tolerance 1e-6), "
           "%zu of %zu norm weights changed (must be 0)", (double)lr, (double)wd, want, worst, norms_changed, n_norm);
    ut_model_free(&m);
}

/* Three steps of the whole optimizer against AdamW written out in double:
   clipping (the gradient norms 4, 0.3, 2 with grad_clip 1: clipped, not,
   clipped), bias correction at t = 1, 2, 3, weight decay on matrices only. */
static void test_adamw_three_steps(void) {
    ut_model m;
    small_model(&m);
    ut_train_config t = adam_settings(2e-2f, 1e-8f, 0.1f, 1.0f);
    size_t n = m.n_params;
    double *p = malloc(n * sizeof(double)), *mm = calloc(n, sizeof(double)), *vv = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) p[i] = m.params[i];
    const double norms[3] = {4, 0.3, 2};
    const double b1 = t.beta1, b2 = t.beta2, eps = t.eps, lr = t.lr, wd = t.weight_decay;
    double worst = 0;
    for (int s = 1; s <= 3; s++) {
        set_grads(&m, 10 + s, norms[s - 1]);
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)m.grads[i] * m.grads[i];
        double clip = sqrt(ss) > t.grad_clip ? t.grad_clip / sqrt(ss) : 1;
        for (size_t i = 0; i < n; i++) {
            double g = m.grads[i] * clip;
            if (decays(tensor_of(&m, i))) p[i] *= 1 - lr * wd;
            mm[i] = b1 * mm[i] + (1 - b1) * g;
            vv[i] = b2 * vv[i] + (1 - b2) * g * g;
            double mhat = mm[i] / (1 - pow(b1, s)), vhat = vv[i] / (1 - pow(b2, s));
            p[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
        ut_adamw_step(&m, &t, t.lr, s);
    }
    for (size_t i = 0; i < n; i++) {
        take_max(&worst, fabs(m.params[i] - p[i]) / lr);
    }
    report(worst < 1e-4, "adamw_three_steps_match_formula",
           "%zu weights, ||g|| 4, 0.3, 2 (grad_clip 1), wd 0.1: max |p - p_double| = %.1e lr (tolerance 1e-4 lr, float)", n, worst);
    free(p); free(mm); free(vv);
    ut_model_free(&m);
}

/* ---- the learning-rate schedule ------------------------------------------ */

/* warmup 10, 111 steps: s = 0..9 rise linearly to lr ((s+1)/10 of it); then
   cosine from lr at s = 10 to min_lr at the last step s = 110, whose midpoint
   is s = 60; after the last step it stays at min_lr. */
static void test_lr_schedule(void) {
    ut_train_config t = ut_train_config_default();
    t.lr = 1e-3f; t.min_lr = 1e-4f; t.warmup_steps = 10; t.total_steps = 111;
    const double lr = t.lr, mn = t.min_lr;
    struct { int s; double want; const char *what; } pts[] = {
        {0, lr / 10, "warmup start lr/10"}, {4, lr / 2, "warmup half"}, {9, lr, "end of warmup"},
        {10, lr, "cosine start"}, {60, (lr + mn) / 2, "cosine midpoint"}, {110, mn, "last step"},
        {111, mn, "after the end"}, {500, mn, "far after the end"}};
    int ok = 1;
    char bad[256] = "";
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        double got = ut_lr_at(&t, pts[i].s);
        if (!(fabs(got - pts[i].want) <= 1e-6 * pts[i].want)) {
            ok = 0;
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " step %d (%s): %.8g, want %.8g;", pts[i].s, pts[i].what, got, pts[i].want);
        }
    }
    report(ok, "lr_schedule_fixed_points", "warmup 10, 111 steps: steps 0, 4, 9, 10, 60, 110, 111, 500 (relative tolerance 1e-6)%s", bad);
    /* the shape: rises during warmup, falls after, never below min_lr */
    int shape = 1, below = 0;
    for (int s = 0; s < 300; s++) {
        float a = ut_lr_at(&t, s), b = ut_lr_at(&t, s + 1);
        if (s < 9 ? !(b > a) : !(b <= a)) shape = 0;
        if (a < t.min_lr) below++;
    }
    report(shape && !below, "lr_schedule_shape", "rises over steps 0..9, never rises after, %d of 300 steps below min_lr (must be 0)", below);
}

/* ---- the sliding window -------------------------------------------------- */

/* With window W, query t sees keys t-W+1 .. t: att[t, u] > 0 for 0 <= t-u <= W-1
   and exactly 0 for t-u >= W (and for u > t). Both attention versions. */
static void test_sliding_window(void) {
    enum { B = 1, T = 11, H = 2, KVH = 1, HD = 4, W = 4 };
    ut_float q[B * T * H * HD], k[B * T * KVH * HD], v[B * T * KVH * HD], y[B * T * H * HD], att[B * H * T * T];
    uint64_t r = ut_rng_seed(12);
    for (int i = 0; i < B * T * H * HD; i++) q[i] = (ut_float)ut_rng_normal(&r);
    for (int i = 0; i < B * T * KVH * HD; i++) { k[i] = (ut_float)ut_rng_normal(&r); v[i] = (ut_float)ut_rng_normal(&r); }
    ut_float *scratch = malloc(ut_attention_scratch_floats(B, T, H, HD) * sizeof(ut_float));
    /* the plain version's probabilities: the mask itself */
    {
        ut_attention_forward_naive(y, att, q, k, v, B, T, H, KVH, HD, W);
        int wrong = 0, first_t = -1, first_u = -1;
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++)
                for (int u = 0; u < T; u++) {
                    ut_float a = att[((size_t)h * T + t) * T + u];
                    int visible = u <= t && t - u <= W - 1;
                    if (visible ? !(a > 0) : a != 0) { if (!wrong++) { first_t = t; first_u = u; } }
                }
        report(!wrong, "sliding_window_mask(plain)",
               "W %d, T %d: att > 0 exactly for 0 <= t-u <= %d, == 0 otherwise; %d wrong entries (first t %d u %d)",
               W, T, W - 1, wrong, first_t, first_u);
    }
    /* the tiled version keeps no probabilities: its y must be the plain y,
       and must not change when a key or value outside a query's window
       (t - u >= W) or in its future (u > t) changes */
    {
        ut_float y2[B * T * H * HD], y3[B * T * H * HD], lse[B * H * T];
        ut_attention_forward(y2, lse, q, k, v, B, T, H, KVH, HD, W, scratch);
        double diff = 0;
        for (int i = 0; i < B * T * H * HD; i++) diff = fmax(diff, fabs((double)y2[i] - y[i]));
        int t = 7, u = 2;   /* t - u = 5 >= W: u is outside t's window */
        for (int i = 0; i < HD; i++) { k[u * HD + i] += 3; v[u * HD + i] -= 2; k[(t + 1) * HD + i] += 1; }
        ut_attention_forward(y3, lse, q, k, v, B, T, H, KVH, HD, W, scratch);
        int same = memcmp(y2 + (size_t)t * H * HD, y3 + (size_t)t * H * HD, H * HD * sizeof(ut_float)) == 0;
        int moved = memcmp(y2 + (size_t)(u + 1) * H * HD, y3 + (size_t)(u + 1) * H * HD, H * HD * sizeof(ut_float)) != 0;
        report(diff <= 1e-5 && same && moved, "sliding_window_mask(fast)",
               "W %d, T %d: tiled y = plain y (max |diff| %.1e, tolerance 1e-5); y_%d bit-identical after changing "
               "keys %d and %d (outside its window, in its future); y_%d changed", W, T, diff, t, u, t + 1, u + 1);
    }
    free(scratch);
}

/* ---- MoE top-k ties ------------------------------------------------------ */

/* Router rows of zeros give logits of exactly 0, so equal probabilities. The
   K chosen must be the lowest-indexed of the tied experts, in index order. */
static void test_moe_topk_ties(void) {
    enum { N = 3, D = 8, F = 6, E = 5 };
    const int Ks[2] = {2, 3};
    uint64_t r = ut_rng_seed(13);
    ut_float x[N * D], router[E * D], wg[E * F * D], wu[E * F * D], wd[E * D * F], out[N * D];
    for (int i = 0; i < N * D; i++) x[i] = (ut_float)(0.5 + ut_rng_uniform(&r));   /* positive */
    for (int i = 0; i < E * F * D; i++) { wg[i] = (ut_float)ut_rng_normal(&r); wu[i] = (ut_float)ut_rng_normal(&r); wd[i] = (ut_float)ut_rng_normal(&r); }
    for (int c = 0; c < 2; c++) {
        int K = Ks[c];
        /* case 0: all five tied -> 0, 1.  case 1: expert 0 below (logit < 0), 1..4 tied -> 1, 2, 3 */
        memset(router, 0, sizeof router);
        if (c == 1) for (int i = 0; i < D; i++) router[i] = -1;
        ut_moe_state s;
        s.probs = calloc(N * E, sizeof(ut_float)); s.lse = calloc(N, sizeof(ut_float)); s.topk_w = calloc(N * K, sizeof(ut_float));
        s.x = calloc(N * K * D, sizeof(ut_float)); s.gate = calloc(N * K * F, sizeof(ut_float)); s.up = calloc(N * K * F, sizeof(ut_float));
        s.h = calloc(N * K * F, sizeof(ut_float)); s.out = calloc(N * K * D, sizeof(ut_float));
        s.topk_e = calloc(N * K, sizeof(int)); s.slot_of = calloc(N * K, sizeof(int)); s.slot_token = calloc(N * K, sizeof(int));
        s.off = calloc(E + 1, sizeof(int)); s.count = calloc(E, sizeof(int));
        ut_float aux, z;
        ut_moe_forward(out, &aux, &z, &s, x, router, wg, wu, wd, N, D, F, E, K);
        int ok = 1;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < K; j++) ok &= s.topk_e[n * K + j] == c + j && fabs(s.topk_w[n * K + j] - 1.0 / K) <= 1e-6;
        char got[64] = "";
        for (int j = 0; j < K; j++) snprintf(got + strlen(got), sizeof got - strlen(got), " %d", s.topk_e[j]);
        report(ok, c ? "moe_topk_ties_lowest_index(1_to_4_tied)" : "moe_topk_ties_lowest_index(all_tied)",
               "E %d K %d: chose%s for token 0, want %s, weights 1/%d each (tolerance 1e-6; all %d tokens)", E, K, got, c ? "1 2 3" : "0 1", K, N);
        free(s.probs); free(s.lse); free(s.topk_w); free(s.x); free(s.gate); free(s.up); free(s.h); free(s.out);
        free(s.topk_e); free(s.slot_of); free(s.slot_token); free(s.off); free(s.count);
    }
}

/* ---- the sampler --------------------------------------------------------- */

static void test_sampler_ties(void) {
    const ut_float equal[5] = {2, 2, 2, 2, 2}, two_best[5] = {0, 1, 3, 3, -1};
    uint64_t r = ut_rng_seed(14);
    int topk_ok = 1, greedy_ok = 1;
    for (int i = 0; i < 200; i++) {
        topk_ok &= ut_sample(equal, 5, 1.0f, 1, 1.0f, &r) == 0 && ut_sample(two_best, 5, 1.0f, 1, 1.0f, &r) == 2;
        greedy_ok &= ut_sample(equal, 5, 0.0f, 0, 1.0f, &r) == 0 && ut_sample(two_best, 5, 0.0f, 0, 1.0f, &r) == 2;
    }
    report(topk_ok, "sampler_top_k1_tie_lowest_id", "top-k 1 over equal logits -> id 0, over {0,1,3,3,-1} -> id 2 (200 draws each)");
    report(greedy_ok, "sampler_greedy_tie_lowest_id", "temperature 0 over equal logits -> id 0, over {0,1,3,3,-1} -> id 2");
    /* top-p 0.5 over 4 equal logits: p = 0.25 each (exact in binary), the
       cumulative sum reaches 0.5 at the second id: keep ids 0 and 1. */
    const ut_float four[4] = {1, 1, 1, 1};
    int counts[4] = {0}, n = 4000;
    for (int i = 0; i < n; i++) counts[ut_sample(four, 4, 1.0f, 0, 0.5f, &r)]++;
    report(counts[0] > n / 4 && counts[1] > n / 4 && counts[2] == 0 && counts[3] == 0, "sampler_top_p_boundary",
           "4 equal logits, top-p 0.5, %d draws: ids 0..3 drawn %d %d %d %d times (want only 0 and 1, each > %d)",
           n, counts[0], counts[1], counts[2], counts[3], n / 4);
}

/* ---- the batch sampler --------------------------------------------------- */

/* Tokens 0, 1, 2, ... so a window's first input is its start. The array has
   room past n_tokens (sentinel -1) so a sampler reading too far reports a
   wrong start instead of reading out of bounds. */
static ut_tokens counting_tokens(uint64_t n) {
    ut_tokens d;
    memset(&d, 0, sizeof d);
    d.vocab_size = 100; d.token_bytes = 2; d.n_tokens = n; d.n_bytes = n;
    d.tokens = malloc((n + 8) * sizeof(int32_t));
    for (uint64_t i = 0; i < n + 8; i++) d.tokens[i] = i < n ? (int32_t)i : -1;
    return d;
}
/* Starts seen in 200 windows of T over n tokens, as a bit set (bit s: start s
   seen; bit 31: a target that is not input + 1, i.e. a read past the end). */
static unsigned starts_seen(uint64_t n, int T) {
    ut_tokens d = counting_tokens(n);
    int in[4 * 8], tg[4 * 8];
    unsigned seen = 0;
    uint64_t r = ut_rng_seed(15);
    for (int i = 0; i < 50; i++) {
        ut_batch_random(&d, &r, 4, T, in, tg);
        for (int b = 0; b < 4; b++) {
            seen |= in[b * T] >= 0 && in[b * T] < 31 ? 1u << in[b * T] : 1u << 30;
            for (int t = 0; t < T; t++) if (tg[b * T + t] != in[b * T + t] + 1) seen |= 1u << 31;
        }
    }
    ut_tokens_free(&d);
    return seen;
}
/* Runs starts_seen in a child process: a division by zero (a range of 0
   starts) then fails this check instead of killing the test program. */
static unsigned starts_seen_safely(uint64_t n, int T, int *crashed) {
    int fd[2];
    unsigned seen = 0;
    *crashed = 1;
    if (pipe(fd) != 0) return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        seen = starts_seen(n, T);
        _exit(write(fd[1], &seen, sizeof seen) == sizeof seen ? 0 : 1);
    }
    close(fd[1]);
    int status = 0;
    if (pid > 0 && read(fd[0], &seen, sizeof seen) == sizeof seen && waitpid(pid, &status, 0) == pid &&
        WIFEXITED(status) && WEXITSTATUS(status) == 0)
        *crashed = 0;
    else if (pid > 0)
        waitpid(pid, &status, 0);
    close(fd[0]);
    return seen;
}
static void test_batch_range(void) {
    const int T = 8;
    int crashed;
    unsigned seen = starts_seen_safely(T + 2, T, &crashed);
    report(!crashed && seen == 3u, "batch_random_range(T+2)",
           "T %d, %d tokens, 200 windows: starts seen 0x%x (want 0 and 1 and nothing else: 0x3)%s", T, T + 2, seen,
           crashed ? ", the sampler crashed" : "");
    seen = starts_seen_safely(T + 1, T, &crashed);
    report(!crashed && seen == 1u, "batch_random_range(T+1)",
           "T %d, %d tokens (the minimum), 200 windows: starts seen 0x%x (want start 0 only: 0x1)%s", T, T + 1, seen,
           crashed ? ", the sampler crashed (division by zero?)" : "");
}

int main(void) {
    test_batch_range();   /* first: it forks, before OpenMP starts its threads */
    test_adamw_bias_correction();
    test_adamw_eps_outside_sqrt();
    test_adamw_clipping();
    test_adamw_weight_decay();
    test_adamw_three_steps();
    test_lr_schedule();
    test_sliding_window();
    test_moe_topk_ties();
    test_sampler_ties();
    printf("%s: %d check(s) failed\n", n_fail ? "FAILED" : "ok", n_fail);
    return n_fail ? 1 : 0;
}
