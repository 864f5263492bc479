/* lessons/10-moe/check.c — checks your MoE routing (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on it:
   hand-worked examples, a naive top-k (a stable sort), and the header's
   ut_moe_forward (section 5), whose routing state, aux and z the check reads
   back. The last check builds a whole MoE layer from your four functions and
   the header's ut_swiglu_forward, and compares it with ut_moe_forward.
   One PASS/FAIL line per check, with the measured error and the tolerance. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: topk, sort_slots, load_balance_loss, z_loss */

static void *alloc(size_t n) { void *p = calloc(n ? n : 1, 1); if (!p) { printf("FAIL out of memory\n"); exit(1); } return p; }
static double *randn_scaled(size_t n, double scale, uint64_t *r) {
    double *p = alloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * ut_rng_normal(r);
    return p;
}
static void softmax_rows(double *p, const double *l, int N, int E) {   /* naive, in double */
    for (int n = 0; n < N; n++) {
        double m = l[n * E], s = 0;
        for (int e = 1; e < E; e++) m = fmax(m, l[n * E + e]);
        for (int e = 0; e < E; e++) s += p[n * E + e] = exp(l[n * E + e] - m);
        for (int e = 0; e < E; e++) p[n * E + e] /= s;
    }
}
static int ints_differ(const int *a, const int *b, int n) {
    int d = 0;
    for (int i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* The header's MoE layer on random inputs: its routing state is the oracle. */
enum { N = 24, D = 8, F = 12, E = 5, K = 2, NK = N * K };
static ut_moe_state S;
static double *X, *ROUTER, *WG, *WU, *WD, OUT[N * D], AUX, Z;
static void header_moe(void) {
    uint64_t rng = ut_rng_seed(10);
    X = randn_scaled(N * D, 1, &rng); ROUTER = randn_scaled(E * D, 1, &rng);
    WG = randn_scaled((size_t)E * F * D, 0.3, &rng); WU = randn_scaled((size_t)E * F * D, 0.3, &rng);
    WD = randn_scaled((size_t)E * D * F, 0.3, &rng);
    S.probs = alloc(N * E * sizeof(double)); S.lse = alloc(N * sizeof(double));
    S.topk_w = alloc(NK * sizeof(double)); S.topk_e = alloc(NK * sizeof(int));
    S.slot_of = alloc(NK * sizeof(int)); S.slot_token = alloc(NK * sizeof(int));
    S.off = alloc((E + 1) * sizeof(int)); S.count = alloc(E * sizeof(int));
    S.x = alloc(NK * D * sizeof(double)); S.out = alloc(NK * D * sizeof(double));
    S.gate = alloc(NK * F * sizeof(double)); S.up = alloc(NK * F * sizeof(double));
    S.h = alloc(NK * F * sizeof(double));
    ut_moe_forward(OUT, &AUX, &Z, &S, X, ROUTER, WG, WU, WD, N, D, F, E, K);
}

/* 3. the naive top-k: sort the indices by p, larger first, with a STABLE
   insertion sort (an element moves only past strictly smaller ones, so
   equal p keep index order); the first K, renormalised. */
static void naive_topk(const double *p, int e_n, int k_n, int *idx, double *w) {
    int order[64];
    for (int e = 0; e < e_n; e++) {
        int j = e;
        while (j > 0 && p[order[j - 1]] < p[e]) { order[j] = order[j - 1]; j--; }
        order[j] = e;
    }
    double s = 0;
    for (int k = 0; k < k_n; k++) s += p[order[k]];
    for (int k = 0; k < k_n; k++) { idx[k] = order[k]; w[k] = p[order[k]] / s; }
}

int main(void) {
    /* 1. by hand: p = (0.1, 0.4, 0.2, 0.3), K = 2 -> experts 1 and 3,
          weights 0.4/0.7 = 4/7 and 0.3/0.7 = 3/7 */
    double p1[4] = {0.1, 0.4, 0.2, 0.3}, w1[2] = {NAN, NAN};
    int i1[2] = {-1, -1};
    topk(p1, 4, 2, i1, w1);
    double e1 = fmax(fabs(w1[0] - 4.0 / 7), fabs(w1[1] - 3.0 / 7));
    if (i1[0] != 1 || i1[1] != 3) e1 = NAN;
    report(e1 <= 1e-15, "topk_by_hand", "p=(.1,.4,.2,.3) K=2 -> (1,3), (4/7,3/7): max |w error| %.2e (tolerance %.0e)",
           e1, 1e-15);

    /* 2. ties go to the lower index: (0.1, 0.3, 0.3, 0.3), K = 2 -> (1, 2)
          with weights (1/2, 1/2); four equal p, K = 3 -> (0, 1, 2) */
    double p2[4] = {0.1, 0.3, 0.3, 0.3}, q2[4] = {0.25, 0.25, 0.25, 0.25}, w2[3] = {NAN, NAN, NAN};
    int i2[3] = {-1, -1, -1}, j2[3] = {-1, -1, -1};
    topk(p2, 4, 2, i2, w2);
    double e2 = fmax(fabs(w2[0] - 0.5), fabs(w2[1] - 0.5));
    topk(q2, 4, 3, j2, w2);
    e2 = fmax(e2, fmax(fabs(w2[0] - 1.0 / 3), fabs(w2[2] - 1.0 / 3)));
    if (i2[0] != 1 || i2[1] != 2 || j2[0] != 0 || j2[1] != 1 || j2[2] != 2) e2 = NAN;
    report(e2 <= 1e-15, "topk_ties_lower_index", "(.1,.3,.3,.3) K=2 -> (1,2); four equal K=3 -> (0,1,2): "
           "max |w error| %.2e (tolerance %.0e)", e2, 1e-15);

    /* 3. against the naive top-k on 300 random rows, E = 2..8, every K, with
          many ties (the logits are small integers: equal logits give equal p) */
    uint64_t rng = ut_rng_seed(3);
    int bad3 = 0;
    for (int r = 0; r < 300; r++) {
        int en = 2 + (int)(ut_rng_u64(&rng) % 7), kn = 1 + (int)(ut_rng_u64(&rng) % en);
        double l[8], p[8], wy[8], wr[8];
        int iy[8], ir[8];
        for (int e = 0; e < en; e++) l[e] = (double)(ut_rng_u64(&rng) % 4);
        softmax_rows(p, l, 1, en);
        for (int k = 0; k < kn; k++) { iy[k] = -1; wy[k] = NAN; }
        topk(p, en, kn, iy, wy);
        naive_topk(p, en, kn, ir, wr);
        int bad = ints_differ(iy, ir, kn) > 0;
        for (int k = 0; k < kn; k++) bad |= !(fabs(wy[k] - wr[k]) <= 1e-15);   /* NaN counts as bad */
        bad3 += bad;
    }
    report(bad3 == 0, "topk_matches_naive", "300 rows, many ties: %.0f rows differ (other experts, or a weight "
           "off by more than %.0e)", (double)bad3, 1e-15);

    /* 4. the slot sort by hand: N = 4, K = 2, E = 4, nobody chooses expert 3.
          token:   0     1     2     3
          chose: (2,0) (0,1) (2,1) (0,2)
          expert 0 gets slots 0,1,2 (tokens 0,1,3), expert 1 slots 3,4
          (tokens 1,2), expert 2 slots 5,6,7 (tokens 0,2,3), expert 3 none. */
    const int te4[8] = {2, 0, 0, 1, 2, 1, 0, 2};
    const int off4[5] = {0, 3, 5, 8, 8}, tok4[8] = {0, 1, 3, 1, 2, 0, 2, 3}, of4[8] = {5, 0, 1, 3, 6, 4, 2, 7};
    int yo[5], yt[8], ys[8];
    for (int i = 0; i < 8; i++) yt[i] = ys[i] = -1;
    for (int i = 0; i < 5; i++) yo[i] = -1;
    sort_slots(te4, 4, 2, 4, yo, ys, yt);
    int d4 = ints_differ(yo, off4, 5) + ints_differ(yt, tok4, 8) + ints_differ(ys, of4, 8);
    report(d4 == 0, "sort_by_hand", "off=(0,3,5,8,8) slot_token=(0,1,3,1,2,0,2,3) slot_of=(5,0,1,3,6,4,2,7): "
           "%.0f entries differ (tolerance %.0f)", (double)d4, 0.0);

    /* 5. the slot sort against ut_moe_forward's on its own routing */
    header_moe();
    int off5[E + 1], so5[NK], st5[NK];
    for (int i = 0; i < NK; i++) so5[i] = st5[i] = -1;
    for (int i = 0; i <= E; i++) off5[i] = -1;
    sort_slots(S.topk_e, N, K, E, off5, so5, st5);
    int d5 = ints_differ(off5, S.off, E + 1) + ints_differ(so5, S.slot_of, NK) + ints_differ(st5, S.slot_token, NK);
    report(d5 == 0, "sort_matches_header", "N=24 K=2 E=5: %.0f of off, slot_of, slot_token differ from "
           "ut_moe_forward's (tolerance %.0f)", (double)d5, 0.0);

    /* 6. aux = 1 when balanced: 8 tokens, E = 4, K = 2, each expert gets 4 of
          the 16 slots and every p = 1/4: 4 * 4 * (1/4 * 1/4) = 1, exactly */
    double pb[8 * 4];
    for (int i = 0; i < 32; i++) pb[i] = 0.25;
    const int offb[5] = {0, 4, 8, 12, 16};
    double a6 = load_balance_loss(pb, offb, 8, 4, 2);
    report(a6 == 1.0, "aux_balanced_is_1", "aux = %.17g (must be exactly 1; tolerance %.0f)", a6, 0.0);

    /* 7. aux = E when collapsed: K = 1, every token goes to expert 0 with
          p = (1, 0, ..., 0): f_0 = P_0 = 1, aux = E * 1 * 1; E = 4 and E = 8 */
    double pc[8 * 8] = {0};
    for (int n = 0; n < 8; n++) pc[n * 4] = 1;
    const int offc4[5] = {0, 8, 8, 8, 8};
    double a7 = load_balance_loss(pc, offc4, 8, 4, 1);
    memset(pc, 0, sizeof pc);
    for (int n = 0; n < 8; n++) pc[n * 8] = 1;
    const int offc8[9] = {0, 8, 8, 8, 8, 8, 8, 8, 8};
    double a8 = load_balance_loss(pc, offc8, 8, 8, 1);
    report(a7 == 4.0 && a8 == 8.0, "aux_collapsed_is_E", "E=4: aux = %.17g, E=8: aux = %.17g (must be exactly E)", a7, a8);

    /* 8. aux against ut_moe_forward's, on its probabilities and routing */
    double a9 = load_balance_loss(S.probs, S.off, N, E, K), e9 = fabs(a9 - AUX);
    report(e9 <= 1e-12, "aux_matches_header", "|yours - ut_moe_forward's aux| %.2e (tolerance %.0e)", e9, 1e-12);

    /* 9. z by hand: zero logits give lse = ln 4, z = (ln 4)^2 = 1.9218120556728...;
          logits of 1000 give lse = 1000 + ln 4: a naive exp(1000) is inf */
    double l0[2 * 4] = {0}, lbig[4] = {1000, 1000, 1000, 1000};
    double z0 = z_loss(l0, 2, 4), zb = z_loss(lbig, 1, 4);
    double e10 = fmax(fabs(z0 - log(4.0) * log(4.0)) / (log(4.0) * log(4.0)),
                      fabs(zb - (1000 + log(4.0)) * (1000 + log(4.0))) / ((1000 + log(4.0)) * (1000 + log(4.0))));
    if (!isfinite(z0) || !isfinite(zb)) e10 = NAN;
    report(e10 <= 1e-14, "z_loss_by_hand_and_stable", "zeros -> (ln 4)^2, 1000s -> (1000 + ln 4)^2: "
           "max rel error %.2e (tolerance %.0e)", e10, 1e-14);

    /* 10. z against ut_moe_forward's (logits = x router^T, a naive loop) */
    double *logits = alloc(N * E * sizeof(double));
    for (int n = 0; n < N; n++)
        for (int e = 0; e < E; e++) {
            double s = 0;
            for (int i = 0; i < D; i++) s += X[n * D + i] * ROUTER[e * D + i];
            logits[n * E + e] = s;
        }
    double z11 = z_loss(logits, N, E), e11 = fabs(z11 - Z) / fmax(1, fabs(Z));
    report(e11 <= 1e-12, "z_loss_matches_header", "|yours - ut_moe_forward's z| / max(1, z) %.2e (tolerance %.0e)",
           e11, 1e-12);

    /* 11. a whole MoE layer from your routing: softmax, your topk and
           sort_slots, gather, ut_swiglu_forward on each expert's rows, combine
           with your weights; against ut_moe_forward's output */
    double *p = alloc(N * E * sizeof(double)), tw[NK], *xs = alloc(NK * D * sizeof(double));
    double *yslot = alloc(NK * D * sizeof(double)), *g = alloc(NK * F * sizeof(double));
    double *u = alloc(NK * F * sizeof(double)), *h = alloc(NK * F * sizeof(double));
    int te[NK], off[E + 1], so[NK], st[NK], valid = 1;
    softmax_rows(p, logits, N, E);
    for (int i = 0; i < NK; i++) { te[i] = so[i] = st[i] = -1; tw[i] = NAN; }
    for (int i = 0; i <= E; i++) off[i] = -1;
    for (int n = 0; n < N; n++) topk(p + n * E, E, K, te + n * K, tw + n * K);
    for (int i = 0; i < NK; i++) valid &= te[i] >= 0 && te[i] < E;
    if (valid) sort_slots(te, N, K, E, off, so, st);
    valid &= off[0] == 0 && off[E] == NK;
    for (int e = 0; valid && e < E; e++) valid &= off[e] <= off[e + 1];
    for (int i = 0; i < NK; i++) valid &= so[i] >= 0 && so[i] < NK && st[i] >= 0 && st[i] < N;
    double e12 = NAN;
    if (valid) {
        for (int i = 0; i < NK; i++) memcpy(xs + i * D, X + st[i] * D, D * sizeof(double));
        for (int e = 0; e < E; e++)
            if (off[e + 1] > off[e])
                ut_swiglu_forward(yslot + off[e] * D, g, u, h, xs + off[e] * D, WG + (size_t)e * F * D,
                                  WU + (size_t)e * F * D, WD + (size_t)e * D * F, off[e + 1] - off[e], D, F);
        e12 = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < D; i++) {
                double o = 0;
                for (int k = 0; k < K; k++) o += tw[n * K + k] * yslot[so[n * K + k] * D + i];
                double d = fabs(o - OUT[n * D + i]);
                if (!(d <= e12)) e12 = d;
            }
    }
    report(e12 <= 1e-12, "moe_layer_with_your_routing", "max |yours - ut_moe_forward| %.2e (tolerance %.0e)",
           e12, 1e-12);

    free(logits); free(p); free(xs); free(yslot); free(g); free(u); free(h);
    free(X); free(ROUTER); free(WG); free(WU); free(WD);
    free(S.probs); free(S.lse); free(S.topk_w); free(S.topk_e); free(S.slot_of); free(S.slot_token);
    free(S.off); free(S.count); free(S.x); free(S.out); free(S.gate); free(S.up); free(S.h);
    return failed;
}
