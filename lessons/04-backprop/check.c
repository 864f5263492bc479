/* lessons/04-backprop/check.c — checks your matmul_backward (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on it: a
   value worked out by hand, central finite differences (in double) of a loss
   built from the header's forward functions, and the plain loops of the
   header's ut_matmul_backward_naive. Then, as information (lines that start
   with neither PASS nor FAIL), the finite-difference error against the step h
   in float and in double: the U-curve of the README.

   The loss:  logits = inp w^T  (ut_matmul_forward_naive),
              L = cross-entropy(logits, targets)  (as ut_crossentropy_forward),
   so dL/dlogits = (p - onehot)/N (ut_crossentropy_backward, lesson 03) and
   your matmul_backward turns it into dL/dinp and dL/dw. Cross-entropy is not
   a polynomial of degree <= 2 in w, so central differences have a truncation
   error to see (for a linear or quadratic loss they would have none). */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: matmul_backward */


enum { N = 4, C = 5, OC = 6 };
static ut_float INP[N * C], W[OC * C];
static int TGT[N];

/* The loss in double: the header's forward product, then the cross-entropy
   written out here (the same formula as ut_crossentropy_forward, whose OpenMP
   loop would cost more than this whole tiny problem when called ~1000 times). */
static double loss(void) {
    ut_float logits[N * OC];
    ut_matmul_forward_naive(logits, INP, W, N, C, OC);
    double total = 0;
    for (int n = 0; n < N; n++) {
        const ut_float *l = logits + n * OC;
        double mx = l[0], s = 0;
        for (int o = 1; o < OC; o++) mx = fmax(mx, l[o]);
        for (int o = 0; o < OC; o++) s += exp(l[o] - mx);
        total += mx + log(s) - l[TGT[n]];
    }
    return total / N;
}
/* The same loss computed in float throughout (for the sweep). */
static double loss_float(const float *inp, const float *w) {
    float total = 0;
    for (int n = 0; n < N; n++) {
        float l[OC], mx = -INFINITY, s = 0;
        for (int o = 0; o < OC; o++) {
            float acc = 0;
            for (int i = 0; i < C; i++) acc += inp[n * C + i] * w[o * C + i];
            l[o] = acc;
            if (acc > mx) mx = acc;
        }
        for (int o = 0; o < OC; o++) s += expf(l[o] - mx);
        total += mx + logf(s) - l[TGT[n]];
    }
    return total / N;
}

/* The error metric: |analytic - numeric| / max(floor, |numeric|). Plain
   relative error (floor 0) blows up where a gradient is tiny: the rounding
   error of a finite difference is about eps * |L| / h, an ABSOLUTE error set
   by the size of the loss, not of that gradient entry. The floor (1 here:
   the loss is of order 1) says "below this size, compare absolutely". */
static double rel_err(double a, double num, double floor) {
    return fabs(a - num) / fmax(floor, fabs(num));
}
/* max error of grad against central differences of loss() in param[0..n) */
static double fd_error(ut_float *param, const ut_float *grad, int n, double h, double floor) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        ut_float keep = param[i];
        param[i] = keep + h; double lp = loss();
        param[i] = keep - h; double lm = loss();
        param[i] = keep;
        double e = rel_err(grad[i], (lp - lm) / (2 * h), floor);
        if (!(e <= worst)) worst = e;    /* a NaN makes worst NaN, and the check fails */
    }
    return worst;
}
static int any_nonzero(const ut_float *a, int n) {
    for (int i = 0; i < n; i++) if (a[i] != 0) return 1;
    return 0;
}

int main(void) {
    /* 1. by hand: inp (1, 2), w = [[3, 4], [5, 6]] (OC = 2, C = 2): out =
          (1*3 + 2*4, 1*5 + 2*6) = (11, 17). With dout = (1, -1):
          dinp = dout . w = (3 - 5, 4 - 6) = (-2, -2)
          dw = dout^T . inp = [[1, 2], [-1, -2]]                          */
    {
        ut_float inp[2] = {1, 2}, w[4] = {3, 4, 5, 6}, dout[2] = {1, -1};
        ut_float dinp[2] = {0, 0}, dw[4] = {0, 0, 0, 0};
        ut_float want_dinp[2] = {-2, -2}, want_dw[4] = {1, 2, -1, -2};
        matmul_backward(dinp, dw, dout, inp, w, 1, 2, 2);
        double e = fmax(maxdiff(dinp, want_dinp, 2), maxdiff(dw, want_dw, 4));
        report(e <= 1e-15, "backward_by_hand", "inp (1,2), w [[3,4],[5,6]], dout (1,-1): max |error| %.2e (tolerance %.0e)", e, 1e-15);
    }

    /* the random problem: column 0 of inp is tiny (1e-9), so the dw entries
       of that column are ~1e-10: see what plain relative error makes of them */
    uint64_t rng = ut_rng_seed(4);
    for (int i = 0; i < N * C; i++) INP[i] = ut_rng_normal(&rng) * (i % C == 0 ? 1e-9 : 1);
    for (int i = 0; i < OC * C; i++) W[i] = ut_rng_normal(&rng);
    for (int n = 0; n < N; n++) TGT[n] = (int)(ut_rng_u64(&rng) % OC);
    ut_float logits[N * OC], dlogits[N * OC], dinp[N * C], dw[OC * C];
    ut_matmul_forward_naive(logits, INP, W, N, C, OC);
    double L0 = ut_crossentropy_forward(logits, logits, TGT, N, OC);
    ut_crossentropy_backward(dlogits, logits, TGT, N, OC, 1.0f);
    memset(dinp, 0, sizeof dinp); memset(dw, 0, sizeof dw);
    matmul_backward(dinp, dw, dlogits, INP, W, N, C, OC);
    printf("  N=%d C=%d OC=%d, loss %.6f (ln %d = %.6f)\n", N, C, OC, L0, OC, log((double)OC));

    /* 2-3. both gradients against central differences, h = 1e-5, floor 1 */
    {
        double ei = fd_error(INP, dinp, N * C, 1e-5, 1), ew = fd_error(W, dw, OC * C, 1e-5, 1);
        int nz = any_nonzero(dinp, N * C) && any_nonzero(dw, OC * C);
        report(nz && ei <= 1e-8, "dinp_finite_differences", "dinp = dout . w: max rel error (floor 1) %.2e (tolerance %.0e)", nz ? ei : NAN, 1e-8);
        report(nz && ew <= 1e-8, "dw_finite_differences", "dw = dout^T . inp: max rel error (floor 1) %.2e (tolerance %.0e)", nz ? ew : NAN, 1e-8);
        double plain = fd_error(W, dw, OC * C, 1e-5, 0);
        printf("  the same dw with plain relative error (floor 0): %.2e, set by the tiny column of inp\n", plain);
    }

    /* 4. against the header's plain loops, bigger sizes, random dout, and
          gradient buffers that already hold something (+= must add to it) */
    {
        enum { N2 = 7, C2 = 9, OC2 = 5 };
        ut_float inp[N2 * C2], w[OC2 * C2], dout[N2 * OC2], a[N2 * C2], b[OC2 * C2], ra[N2 * C2], rb[OC2 * C2];
        for (int i = 0; i < N2 * C2; i++) { inp[i] = ut_rng_normal(&rng); a[i] = ra[i] = ut_rng_normal(&rng); }
        for (int i = 0; i < OC2 * C2; i++) { w[i] = ut_rng_normal(&rng); b[i] = rb[i] = ut_rng_normal(&rng); }
        for (int i = 0; i < N2 * OC2; i++) dout[i] = ut_rng_normal(&rng);
        matmul_backward(a, b, dout, inp, w, N2, C2, OC2);
        ut_matmul_backward_naive(ra, rb, dout, inp, w, N2, C2, OC2);
        double e = fmax(maxdiff(a, ra, N2 * C2), maxdiff(b, rb, OC2 * C2));
        report(e <= 1e-12, "matches_naive_loop", "N=7 C=9 OC=5, buffers not zero: max |yours - ut_matmul_backward_naive| %.2e (tolerance %.0e)", e, 1e-12);

        /* 5. NULL means "not wanted": the other gradient is still computed */
        ut_float a2[N2 * C2], b2[OC2 * C2], za[N2 * C2], zb[OC2 * C2];
        memset(a2, 0, sizeof a2); memset(b2, 0, sizeof b2); memset(za, 0, sizeof za); memset(zb, 0, sizeof zb);
        matmul_backward(NULL, b2, dout, inp, w, N2, C2, OC2);
        matmul_backward(a2, NULL, dout, inp, w, N2, C2, OC2);
        ut_matmul_backward_naive(za, zb, dout, inp, w, N2, C2, OC2);
        double e5 = fmax(maxdiff(a2, za, N2 * C2), maxdiff(b2, zb, OC2 * C2));
        int nz = any_nonzero(a2, N2 * C2) && any_nonzero(b2, OC2 * C2);
        report(nz && e5 <= 1e-12, "null_gradient_skipped", "one gradient at a time: max |error| %.2e (tolerance %.0e)", nz ? e5 : NAN, 1e-12);
    }

    /* 6. backward ADDS: a second call doubles the gradients */
    {
        ut_float dinp2[N * C], dw2[OC * C];
        memcpy(dinp2, dinp, sizeof dinp); memcpy(dw2, dw, sizeof dw);
        matmul_backward(dinp2, dw2, dlogits, INP, W, N, C, OC);
        double e = 0;
        for (int i = 0; i < N * C; i++) e = fmax(e, fabs(dinp2[i] - 2 * dinp[i]));
        for (int i = 0; i < OC * C; i++) e = fmax(e, fabs(dw2[i] - 2 * dw[i]));
        int nz = any_nonzero(dw, OC * C);
        report(nz && e <= 1e-15, "backward_accumulates", "second call adds: max |g2 - 2 g1| %.2e (tolerance %.0e)", nz ? e : NAN, 1e-15);
    }

    /* The sweep (information): the max error (floor 1) of central differences
       in dw against the analytic dw, computed the header's way in double
       (independent of your code), for h = 1e-1 .. 1e-12, with the loss
       evaluated in float (loss_float) and in double (loss). */
    {
        ut_float ref[OC * C];
        memset(ref, 0, sizeof ref);
        ut_matmul_backward_naive(NULL, ref, dlogits, INP, W, N, C, OC);
        float inpf[N * C], wf[OC * C];
        for (int i = 0; i < N * C; i++) inpf[i] = (float)INP[i];
        for (int i = 0; i < OC * C; i++) wf[i] = (float)W[i];
        printf("  finite-difference error of dw against h (max |a - n| / max(1, |n|)):\n");
        printf("  %8s  %12s  %12s\n", "h", "float", "double");
        for (int k = 1; k <= 12; k++) {
            double h = pow(10, -k), ef = 0, ed = 0;
            for (int i = 0; i < OC * C; i++) {
                float keep = wf[i];
                wf[i] = (float)(W[i] + h); double lp = loss_float(inpf, wf);
                wf[i] = (float)(W[i] - h); double lm = loss_float(inpf, wf);
                wf[i] = keep;
                ef = fmax(ef, rel_err(ref[i], (lp - lm) / (2 * h), 1));
            }
            ed = fd_error(W, ref, OC * C, h, 1);
            printf("  %8.0e  %12.2e  %12.2e\n", h, ef, ed);
        }
    }
    return failed;
}
