/* lessons/05-rmsnorm/check.c — checks your RMSNorm (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on it:
   a value worked out by hand, the header's ut_rmsnorm_forward, and central
   finite differences of your own forward (in double). One PASS/FAIL line per
   check, with the measured error and the tolerance. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: rmsnorm_forward, rmsnorm_backward */


enum { N = 5, D = 7 };
static double X[N * D], W[D], R[N * D];
/* the loss whose gradient we check: L = sum(out * R), R random */
static double loss(void) {
    double out[N * D] = {0}, rstd[N] = {0}, L = 0;
    rmsnorm_forward(out, rstd, X, W, N, D, 1e-5f);
    for (int i = 0; i < N * D; i++) L += out[i] * R[i];
    return L;
}

int main(void) {
    /* 1. by hand: x = (3, 4), w = (1, 2), eps = 0: mean square (9 + 16) / 2 =
          12.5, rstd = 1/sqrt(12.5) = 0.2828427, out = (0.8485281, 2.2627417) */
    double x1[2] = {3, 4}, w1[2] = {1, 2}, o1[2] = {0, 0}, r1 = 0;
    rmsnorm_forward(o1, &r1, x1, w1, 1, 2, 0.0f);
    double e1 = fmax(fabs(o1[0] - 0.84852814), fmax(fabs(o1[1] - 2.26274170), fabs(r1 - 0.28284271)));
    report(e1 <= 1e-6, "forward_by_hand", "x=(3,4) w=(1,2): max |error| %.2e (tolerance %.0e)", e1, 1e-6);

    /* 2. the forward against the header's (random rows, eps 1e-5) */
    uint64_t rng = ut_rng_seed(5);
    double *x = randn(N * D, &rng), *w = randn(D, &rng);
    double out[N * D], rstd[N], ref[N * D], rref[N];
    memset(out, 0, sizeof out); memset(rstd, 0, sizeof rstd);
    rmsnorm_forward(out, rstd, x, w, N, D, 1e-5f);
    ut_rmsnorm_forward(ref, rref, x, w, N, D, 1e-5f);
    double e2 = 0;
    for (int i = 0; i < N * D; i++) e2 = fmax(e2, fabs(out[i] - ref[i]));
    for (int n = 0; n < N; n++) e2 = fmax(e2, fabs(rstd[n] - rref[n]));
    if (isnan(out[0])) e2 = NAN;
    report(e2 <= 1e-12, "forward_matches_header", "max |yours - ut_rmsnorm_forward| %.2e (tolerance %.0e)", e2, 1e-12);

    /* 3. what the norm is for: with w = 1 every row of out has RMS 1 */
    double ones[D], o3[N * D], r3[N], e3 = 0;
    for (int i = 0; i < D; i++) ones[i] = 1;
    memset(o3, 0, sizeof o3);
    rmsnorm_forward(o3, r3, x, ones, N, D, 0.0f);
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += o3[n * D + i] * o3[n * D + i];
        e3 = fmax(e3, fabs(sqrt(ss / D) - 1));
    }
    report(e3 <= 1e-12, "rows_have_unit_rms", "max |rms(row) - 1| %.2e (tolerance %.0e)", e3, 1e-12);

    /* 4. the backward against finite differences of your forward */
    memcpy(X, x, sizeof X); memcpy(W, w, sizeof W);
    double *r = randn(N * D, &rng);
    memcpy(R, r, sizeof R);
    double o4[N * D], r4[N], dx[N * D], dw[D];
    memset(dx, 0, sizeof dx); memset(dw, 0, sizeof dw);
    rmsnorm_forward(o4, r4, X, W, N, D, 1e-5f);
    rmsnorm_backward(dx, dw, R, X, W, r4, N, D);        /* dL/dout = R */
    double ex = grad_error(loss, X, dx, N * D), ew = grad_error(loss, W, dw, D);
    report(ex <= 1e-6, "backward_dx_finite_differences", "max rel error %.2e (tolerance %.0e)", ex, 1e-6);
    report(ew <= 1e-6, "backward_dw_finite_differences", "max rel error %.2e (tolerance %.0e)", ew, 1e-6);

    /* 5. backward ADDS: a second call doubles the gradients */
    double dx2[N * D], dw2[D], e5 = 0;
    memcpy(dx2, dx, sizeof dx); memcpy(dw2, dw, sizeof dw);
    rmsnorm_backward(dx2, dw2, R, X, W, r4, N, D);
    for (int i = 0; i < N * D; i++) e5 = fmax(e5, fabs(dx2[i] - 2 * dx[i]));
    for (int i = 0; i < D; i++) e5 = fmax(e5, fabs(dw2[i] - 2 * dw[i]));
    int nonzero = 0;
    for (int i = 0; i < D; i++) nonzero |= dw[i] != 0;
    report(nonzero && e5 <= 1e-12, "backward_accumulates", "second call adds: max |g2 - 2 g1| %.2e (tolerance %.0e)",
           nonzero ? e5 : NAN, 1e-12);

    free(x); free(w); free(r);
    return failed;
}
