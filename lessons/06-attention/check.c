/* lessons/06-attention/check.c — checks your attention (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on it: a
   value worked out by hand, an independent loop that builds the mask
   explicitly, what causality and the sliding window promise, grouped-query
   attention against plain multi-head attention with K and V repeated,
   central finite differences of your own forward (in double), and the
   header's fast version (appendix A.7). One PASS/FAIL line per check, with
   the measured error and the tolerance; then INFO lines on the 1/sqrt(HD)
   scale (the exercise). */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: attention_forward, attention_backward */

static double maxabs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* The reference, written independently of the header: for each query row an
   explicit mask (visible = causal and inside the window), -infinity scores
   where masked, and a softmax over the WHOLE row (exp(-inf) = 0). */
static void reference(double *y, double *att, const double *q, const double *k, const double *v,
                      int B, int T, int H, int KVH, int HD, int window) {
    double *s = malloc(T * sizeof *s);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int kvh = h * KVH / H;           /* = h / (H/KVH) */
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int u = 0; u < T; u++) {
                    int visible = u <= t && (window == 0 || t - u < window);
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += q[(((size_t)b * T + t) * H + h) * HD + i] * k[(((size_t)b * T + u) * KVH + kvh) * HD + i];
                    s[u] = visible ? d / sqrt(HD) : -INFINITY;
                    mx = fmax(mx, s[u]);
                }
                for (int u = 0; u < T; u++) { s[u] = exp(s[u] - mx); sum += s[u]; }
                for (int u = 0; u < T; u++) att[(((size_t)b * H + h) * T + t) * T + u] = s[u] / sum;
                for (int i = 0; i < HD; i++) {
                    double acc = 0;
                    for (int u = 0; u < T; u++) acc += s[u] / sum * v[(((size_t)b * T + u) * KVH + kvh) * HD + i];
                    y[(((size_t)b * T + t) * H + h) * HD + i] = acc;
                }
            }
        }
    free(s);
}

/* sizes of one test case */
typedef struct { int B, T, H, KVH, HD, window; } shape;
static size_t nq(shape s) { return (size_t)s.B * s.T * s.H * s.HD; }
static size_t nkv(shape s) { return (size_t)s.B * s.T * s.KVH * s.HD; }
static size_t natt(shape s) { return (size_t)s.B * s.H * s.T * s.T; }

/* the loss whose gradient we check: L = sum(y * R), R random */
static shape FD;
static double *Q, *K, *Vv, *R;
static double loss(void) {
    double *y = zeros(nq(FD)), *att = zeros(natt(FD)), L = 0;
    attention_forward(y, att, Q, K, Vv, FD.B, FD.T, FD.H, FD.KVH, FD.HD, FD.window);
    for (size_t i = 0; i < nq(FD); i++) L += y[i] * R[i];
    free(y); free(att);
    return L;
}

/* mean entropy (nats) and mean largest weight of the rows t >= 1 of att (T, T) */
static void row_stats(const double *att, int T, double *entropy, double *top, double *uniform) {
    *entropy = *top = *uniform = 0;
    for (int t = 1; t < T; t++) {
        double e = 0, m = 0;
        for (int u = 0; u <= t; u++) {
            double p = att[(size_t)t * T + u];
            if (p > 0) e -= p * log(p);
            m = fmax(m, p);
        }
        *entropy += e / (T - 1); *top += m / (T - 1); *uniform += log(t + 1.0) / (T - 1);
    }
}

int main(void) {
    uint64_t rng = ut_rng_seed(6);

    /* 1. by hand: T = 2, one head, HD = 4 (so the scale is 1/2).
          row 0 sees only key 0: att = (1, 0), y_0 = v_0.
          row 1: q_1 = (1,0,0,0), k_0 = 0, k_1 = (2,0,0,0): scores (0, 2/2) = (0, 1)
          att = (1, e) / (1 + e) = (0.26894142, 0.73105858)
          v_0 = (1,0,0,0), v_1 = (0,0,0,2): y_1 = (0.26894142, 0, 0, 1.46211716) */
    {
        double q[8] = {3, -1, 2, 5, 1, 0, 0, 0}, k[8] = {0, 0, 0, 0, 2, 0, 0, 0};
        double v[8] = {1, 0, 0, 0, 0, 0, 0, 2}, y[8] = {0}, att[4] = {0};
        double want_y[8] = {1, 0, 0, 0, 0.26894142137, 0, 0, 1.46211715726};
        double want_a[4] = {1, 0, 0.26894142137, 0.73105857863};
        attention_forward(y, att, q, k, v, 1, 2, 1, 1, 4, 0);
        double e = fmax(maxdiff(y, want_y, 8), maxdiff(att, want_a, 4));
        report(e <= 1e-9, "forward_by_hand", "T=2 HD=4: max |error| %.2e (tolerance %.0e)", e, 1e-9);
    }

    /* 2. against the masked reference: plain multi-head, GQA, sliding windows
          (W = 3, W = 1: a token sees only itself, W = T: the same as 0) */
    {
        shape cases[] = {{2, 9, 4, 4, 8, 0}, {2, 9, 4, 2, 8, 0}, {2, 9, 6, 2, 8, 3},
                         {1, 9, 4, 1, 8, 1}, {1, 5, 2, 2, 3, 5}};
        double worst = 0;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            shape s = cases[c];
            double *q = randn(nq(s), &rng), *k = randn(nkv(s), &rng), *v = randn(nkv(s), &rng);
            double *y = zeros(nq(s)), *att = zeros(natt(s)), *yr = zeros(nq(s)), *ar = zeros(natt(s));
            for (size_t i = 0; i < natt(s); i++) att[i] = 7;   /* every entry must be written */
            attention_forward(y, att, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
            reference(yr, ar, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
            double e = fmax(maxdiff(y, yr, nq(s)), maxdiff(att, ar, natt(s)));
            if (!(e <= worst)) worst = e;
            free(q); free(k); free(v); free(y); free(att); free(yr); free(ar);
        }
        report(worst <= 1e-12, "forward_matches_masked_reference",
               "5 shapes (MHA, GQA, windows 3, 1, T): max |y, att error| %.2e (tolerance %.0e)", worst, 1e-12);
    }

    /* 3. causality: changing the token at position 6 (its q, k and v) must not
          change the outputs at positions 0..5 -- not even by rounding: a
          causal loop never reads a later key -- and must change y_6. */
    {
        shape s = {1, 10, 4, 2, 8, 0};
        int t0 = 6;
        double *q = randn(nq(s), &rng), *k = randn(nkv(s), &rng), *v = randn(nkv(s), &rng);
        double *y1 = zeros(nq(s)), *y2 = zeros(nq(s)), *att = zeros(natt(s));
        attention_forward(y1, att, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
        for (int i = 0; i < s.H * s.HD; i++) q[(size_t)t0 * s.H * s.HD + i] += 1;
        for (int i = 0; i < s.KVH * s.HD; i++) { k[(size_t)t0 * s.KVH * s.HD + i] -= 1; v[(size_t)t0 * s.KVH * s.HD + i] += 2; }
        attention_forward(y2, att, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
        size_t row = (size_t)s.H * s.HD;
        double before = maxdiff(y1, y2, t0 * row), at = maxdiff(y1 + t0 * row, y2 + t0 * row, row);
        printf("%s causality token 6 changed: max |change| of y_0..y_5 %.2e (must be exactly 0), of y_6 %.2e (must be > 1e-3)\n",
               before == 0 && at > 1e-3 ? "PASS" : "FAIL", before, at);
        failed |= !(before == 0 && at > 1e-3);
        free(q); free(k); free(v); free(y1); free(y2); free(att);
    }

    /* 4. the sliding window forgets: with W = 3, changing key/value 2 changes
          y_2, y_3, y_4 and nothing else (y_5 and later no longer see it) */
    {
        shape s = {1, 10, 2, 1, 8, 3};
        int u0 = 2;
        double *q = randn(nq(s), &rng), *k = randn(nkv(s), &rng), *v = randn(nkv(s), &rng);
        double *y1 = zeros(nq(s)), *y2 = zeros(nq(s)), *att = zeros(natt(s));
        attention_forward(y1, att, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
        for (int i = 0; i < s.HD; i++) { k[(size_t)u0 * s.HD + i] += 1; v[(size_t)u0 * s.HD + i] += 1; }
        attention_forward(y2, att, q, k, v, s.B, s.T, s.H, s.KVH, s.HD, s.window);
        size_t row = (size_t)s.H * s.HD;
        double outside = 0, inside = INFINITY;
        for (int t = 0; t < s.T; t++) {
            double d = maxdiff(y1 + t * row, y2 + t * row, row);
            if (t >= u0 && t < u0 + s.window) inside = fmin(inside, d);
            else if (!(d <= outside)) outside = d;
        }
        printf("%s sliding_window_forgets W=3, key 2 changed: max |change| outside y_2..y_4 %.2e (must be exactly 0), "
               "least change of y_2..y_4 %.2e (must be > 1e-3)\n", outside == 0 && inside > 1e-3 ? "PASS" : "FAIL", outside, inside);
        failed |= !(outside == 0 && inside > 1e-3);
        free(q); free(k); free(v); free(y1); free(y2); free(att);
    }

    /* 5. GQA is multi-head attention with each K/V head repeated for its group
          of H/KVH query heads: same y and att; and in the backward, a shared
          K/V head's gradient is the sum of its copies' gradients. */
    {
        shape g = {2, 7, 6, 2, 5, 4}, m = g;
        m.KVH = m.H;
        int group = g.H / g.KVH;
        double *q = randn(nq(g), &rng), *k = randn(nkv(g), &rng), *v = randn(nkv(g), &rng), *dy = randn(nq(g), &rng);
        double *kr = zeros(nkv(m)), *vr = zeros(nkv(m));
        for (int b = 0; b < g.B; b++)
            for (int t = 0; t < g.T; t++)
                for (int h = 0; h < g.H; h++)
                    for (int i = 0; i < g.HD; i++) {
                        size_t to = (((size_t)b * g.T + t) * g.H + h) * g.HD + i;
                        size_t from = (((size_t)b * g.T + t) * g.KVH + h / group) * g.HD + i;
                        kr[to] = k[from]; vr[to] = v[from];
                    }
        double *yg = zeros(nq(g)), *ag = zeros(natt(g)), *ym = zeros(nq(m)), *am = zeros(natt(m));
        attention_forward(yg, ag, q, k, v, g.B, g.T, g.H, g.KVH, g.HD, g.window);
        attention_forward(ym, am, q, kr, vr, m.B, m.T, m.H, m.KVH, m.HD, m.window);
        double ef = fmax(maxdiff(yg, ym, nq(g)), maxdiff(ag, am, natt(g)));
        report(maxabs(yg, nq(g)) > 0.1 && ef <= 1e-12, "gqa_forward_equals_repeated_kv",
               "H=6 KVH=2: max |GQA - MHA with K,V repeated| %.2e (tolerance %.0e)",
               maxabs(yg, nq(g)) > 0.1 ? ef : NAN, 1e-12);

        double *dqg = zeros(nq(g)), *dkg = zeros(nkv(g)), *dvg = zeros(nkv(g));
        double *dqm = zeros(nq(m)), *dkm = zeros(nkv(m)), *dvm = zeros(nkv(m));
        double *dks = zeros(nkv(g)), *dvs = zeros(nkv(g));
        attention_backward(dqg, dkg, dvg, dy, ag, q, k, v, g.B, g.T, g.H, g.KVH, g.HD, g.window);
        attention_backward(dqm, dkm, dvm, dy, am, q, kr, vr, m.B, m.T, m.H, m.KVH, m.HD, m.window);
        for (int b = 0; b < g.B; b++)                 /* sum the copies of each K/V head */
            for (int t = 0; t < g.T; t++)
                for (int h = 0; h < g.H; h++)
                    for (int i = 0; i < g.HD; i++) {
                        size_t from = (((size_t)b * g.T + t) * g.H + h) * g.HD + i;
                        size_t to = (((size_t)b * g.T + t) * g.KVH + h / group) * g.HD + i;
                        dks[to] += dkm[from]; dvs[to] += dvm[from];
                    }
        double eb = fmax(maxdiff(dqg, dqm, nq(g)), fmax(maxdiff(dkg, dks, nkv(g)), maxdiff(dvg, dvs, nkv(g))));
        int moved = maxabs(dkg, nkv(g)) > 1e-3 && maxabs(dvg, nkv(g)) > 1e-3;
        report(moved && eb <= 1e-12, "gqa_backward_sums_the_group",
               "dk, dv of a shared head = sum over its 3 query heads: max |error| %.2e (tolerance %.0e)",
               moved ? eb : NAN, 1e-12);
        /* what GQA buys: the KV cache (ut_kv_cache, section 11) holds k and v,
           2*KVH*HD numbers per token and layer, against 2*H*HD for multi-head */
        printf("INFO gqa KV cache per token and layer: 2*KVH*HD = %d numbers, multi-head 2*H*HD = %d (KVH/H = %d/%d)\n",
               2 * g.KVH * g.HD, 2 * g.H * g.HD, g.KVH, g.H);
        free(q); free(k); free(v); free(dy); free(kr); free(vr); free(yg); free(ag); free(ym); free(am);
        free(dqg); free(dkg); free(dvg); free(dqm); free(dkm); free(dvm); free(dks); free(dvs);
    }

    /* 6. the backward against finite differences of your forward
          (GQA H=4 KVH=2, sliding window 3; L = sum(y * R)) */
    shape s = {2, 6, 4, 2, 5, 3};
    FD = s;
    Q = randn(nq(s), &rng); K = randn(nkv(s), &rng); Vv = randn(nkv(s), &rng); R = randn(nq(s), &rng);
    double *y = zeros(nq(s)), *att = zeros(natt(s));
    double *dq = zeros(nq(s)), *dk = zeros(nkv(s)), *dv = zeros(nkv(s));
    attention_forward(y, att, Q, K, Vv, s.B, s.T, s.H, s.KVH, s.HD, s.window);
    attention_backward(dq, dk, dv, R, att, Q, K, Vv, s.B, s.T, s.H, s.KVH, s.HD, s.window);   /* dL/dy = R */
    double eq = grad_error(loss, Q, dq, nq(s)), ek = grad_error(loss, K, dk, nkv(s)), ev = grad_error(loss, Vv, dv, nkv(s));
    report(eq <= 1e-7, "backward_dq_finite_differences", "max rel error %.2e (tolerance %.0e)", eq, 1e-7);
    report(ek <= 1e-7, "backward_dk_finite_differences", "max rel error %.2e (tolerance %.0e)", ek, 1e-7);
    report(ev <= 1e-7, "backward_dv_finite_differences", "max rel error %.2e (tolerance %.0e)", ev, 1e-7);

    /* 7. backward ADDS: a second call doubles the gradients */
    {
        double *dq2 = zeros(nq(s)), *dk2 = zeros(nkv(s)), *dv2 = zeros(nkv(s));
        memcpy(dq2, dq, nq(s) * sizeof *dq); memcpy(dk2, dk, nkv(s) * sizeof *dk); memcpy(dv2, dv, nkv(s) * sizeof *dv);
        attention_backward(dq2, dk2, dv2, R, att, Q, K, Vv, s.B, s.T, s.H, s.KVH, s.HD, s.window);
        double e = 0;
        for (size_t i = 0; i < nq(s); i++) e = fmax(e, fabs(dq2[i] - 2 * dq[i]));
        for (size_t i = 0; i < nkv(s); i++) e = fmax(e, fmax(fabs(dk2[i] - 2 * dk[i]), fabs(dv2[i] - 2 * dv[i])));
        int nonzero = maxabs(dq, nq(s)) > 0;
        report(nonzero && e <= 1e-12, "backward_accumulates", "second call adds: max |g2 - 2 g1| %.2e (tolerance %.0e)",
               nonzero ? e : NAN, 1e-12);
        free(dq2); free(dk2); free(dv2);
    }

    /* 8. the header's fast version (ut_attention_forward / _backward, appendix
          A.7: the same sums tile by tile, with an online softmax; it keeps
          one log-sum-exp per row instead of att) agrees with your loops */
    {
        double *yf = zeros(nq(s)), *lse = zeros((size_t)s.B * s.H * s.T), *dqf = zeros(nq(s));
        double *dkf = zeros(nkv(s)), *dvf = zeros(nkv(s));
        double *scratch = zeros(ut_attention_scratch_floats(s.B, s.T, s.KVH, s.HD));
        ut_attention_forward(yf, lse, Q, K, Vv, s.B, s.T, s.H, s.KVH, s.HD, s.window, scratch);
        ut_attention_backward(dqf, dkf, dvf, R, yf, lse, Q, K, Vv, s.B, s.T, s.H, s.KVH, s.HD, s.window, scratch);
        double e = fmax(maxdiff(y, yf, nq(s)),
                        fmax(maxdiff(dq, dqf, nq(s)), fmax(maxdiff(dk, dkf, nkv(s)), maxdiff(dv, dvf, nkv(s)))));
        report(e <= 1e-12, "matches_header_fast_version",
               "y, dq, dk, dv against ut_attention_forward/_backward: max |diff| %.2e (tolerance %.0e)", e, 1e-12);
        free(yf); free(lse); free(dqf); free(dkf); free(dvf); free(scratch);
    }

    /* The exercise: why 1/sqrt(HD). With q, k ~ N(0, 1) the dot product q.k has
       variance HD; the scale brings the scores back to variance 1 whatever the
       head's width. Without it (the same as multiplying q by sqrt(HD)) a wide
       head's scores are spread over +-sqrt(HD) and the softmax saturates: each
       row puts nearly all its weight on one key, its entropy collapses, and
       the gradient through the softmax, att (datt - sum), nearly vanishes. */
    printf("INFO one head, T=64, q,k,v ~ N(0,1); entropy of the attention rows (mean over t >= 1, nats) and largest weight:\n");
    for (int HD = 16; HD <= 1024; HD *= 4) {
        shape e = {1, 64, 1, 1, HD, 0};
        double *q = randn(nq(e), &rng), *k = randn(nkv(e), &rng), *v = randn(nkv(e), &rng);
        double *ye = zeros(nq(e)), *ae = zeros(natt(e)), ent[2], top[2], uni;
        for (int pass = 0; pass < 2; pass++) {
            if (pass) for (size_t i = 0; i < nq(e); i++) q[i] *= sqrt(HD);   /* = dropping the scale */
            attention_forward(ye, ae, q, k, v, e.B, e.T, e.H, e.KVH, e.HD, e.window);
            row_stats(ae, e.T, &ent[pass], &top[pass], &uni);
        }
        printf("INFO   HD=%4d  with 1/sqrt(HD): entropy %.2f, top weight %.2f   without: entropy %.2f, top weight %.2f   (uniform rows: %.2f)\n",
               HD, ent[0], top[0], ent[1], top[1], uni);
        free(q); free(k); free(v); free(ye); free(ae);
    }

    free(Q); free(K); free(Vv); free(R); free(y); free(att); free(dq); free(dk); free(dv);
    return failed;
}
