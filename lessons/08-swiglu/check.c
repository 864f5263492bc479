/* lessons/08-swiglu/check.c — checks your SiLU and SwiGLU (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on them:
   values worked out by hand (the numbers in the comments come from Python's
   math module: silu(1) = 1/(1+e^-1) = 0.7310585786), the header's
   ut_swiglu_forward, and central finite differences of your own forward (in
   double). One PASS/FAIL line per check, with the measured error and the
   tolerance. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: silu_mul_*, swiglu_* */

static uint64_t rng;
static void fill_randn(double *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = ut_rng_normal(&rng); }

/* The SwiGLU under test, its inputs and the loss L = sum(out * R), R random:
   dL/dout = R exactly, so the backward with dout = R gives dL/d(everything). */
enum { N = 5, D = 6, F = 8 };
static double X[N * D], WG[F * D], WU[F * D], WD[D * F], R[N * D];
static double swiglu_loss(void) {
    double out[N * D] = {0}, g[N * F] = {0}, u[N * F] = {0}, h[N * F] = {0}, L = 0;
    swiglu_forward(out, g, u, h, X, WG, WU, WD, N, D, F);
    for (int i = 0; i < N * D; i++) L += out[i] * R[i];
    return L;
}
/* the same for silu_mul: L = sum(h * RH) */
enum { S = 9 };
static double G[S], U[S], RH[S];
static double silu_loss(void) {
    double h[S] = {0}, L = 0;
    silu_mul_forward(h, G, U, S);
    for (int i = 0; i < S; i++) L += h[i] * RH[i];
    return L;
}
static void fill(double *p, size_t n, double v) { for (size_t i = 0; i < n; i++) p[i] = v; }

int main(void) {
    rng = ut_rng_seed(8);

    /* 1. silu by hand (up = 1): silu(0) = 0, silu(1) = 0.7310585786,
          silu(-1) = -0.2689414214, silu(2) = 1.7615941560, silu(-3) = -0.1422776195 */
    double g1[5] = {0, 1, -1, 2, -3}, one[5] = {1, 1, 1, 1, 1}, h1[5] = {0};
    const double silu_ref[5] = {0, 0.7310585786, -0.2689414214, 1.7615941560, -0.1422776195};
    silu_mul_forward(h1, g1, one, 5);
    double e1 = maxdiff(h1, silu_ref, 5);
    report(e1 <= 1e-9, "silu_by_hand", "silu(0, 1, -1, 2, -3): max |error| %.2e (tolerance %.0e)", e1, 1e-9);

    /* 2. its derivative by hand (dh = 1, up = 1): silu'(0) = 0.5,
          silu'(1) = 0.9276705119, silu'(-1) = 0.0723294881,
          silu'(2) = 1.0907842488, silu'(-3) = -0.0881041060 (silu dips below
          0 for negative g and has its minimum near g = -1.28). dup = silu(g). */
    const double dsilu_ref[5] = {0.5, 0.9276705119, 0.0723294881, 1.0907842488, -0.0881041060};
    double dg2[5], du2[5];
    fill(dg2, 5, NAN); fill(du2, 5, NAN);
    silu_mul_backward(dg2, du2, one, g1, one, 5);
    double e2 = fmax(maxdiff(dg2, dsilu_ref, 5), maxdiff(du2, silu_ref, 5));
    report(e2 <= 1e-9, "silu_derivative_by_hand", "silu'(0, 1, -1, 2, -3) and dup: max |error| %.2e (tolerance %.0e)",
           e2, 1e-9);

    /* 3. silu_mul_backward against finite differences of silu_mul_forward */
    fill_randn(G, S); fill_randn(U, S); fill_randn(RH, S);
    for (int i = 0; i < S; i++) G[i] *= 3;   /* reach into both tails */
    double dg3[S], du3[S];
    fill(dg3, S, NAN); fill(du3, S, NAN);
    silu_mul_backward(dg3, du3, RH, G, U, S);
    double e3 = fmax(grad_error(silu_loss, G, dg3, S), grad_error(silu_loss, U, du3, S));
    report(e3 <= 1e-7, "silu_mul_backward_finite_differences", "dgate, dup: max rel error %.2e (tolerance %.0e)", e3, 1e-7);

    /* 4. in place, as ut_swiglu_backward calls it: dgate written over dh */
    double dh4[S], du4[S];
    memcpy(dh4, RH, sizeof dh4);
    silu_mul_backward(dh4, du4, dh4, G, U, S);
    double e4 = fmax(maxdiff(dh4, dg3, S), maxdiff(du4, du3, S));
    report(e4 <= 1e-15, "silu_mul_backward_in_place", "dgate == dh: max |in place - apart| %.2e (tolerance %.0e)", e4, 1e-15);

    /* 5. a whole SwiGLU by hand, N = D = F = 1: x = 1, wg = 1, wu = 2, wd = 3.
          gate = 1, up = 2, h = 2 silu(1) = 1.4621171573, out = 3 h = 4.3863514718.
          Backward with dout = 1: dh = 3, dgate = 3 * 2 * silu'(1) = 5.5660230714,
          dup = 3 silu(1) = 2.1931757359; dwd = h; dwg = dgate; dwu = dup;
          dx = dgate * 1 + dup * 2 = 9.9523745432. */
    {
        double x = 1, wg = 1, wu = 2, wd = 3, out = NAN, ga = NAN, u = NAN, h = NAN, dout = 1;
        double dx = 0, dwg = 0, dwu = 0, dwd = 0, scratch[2] = {7, 7};
        swiglu_forward(&out, &ga, &u, &h, &x, &wg, &wu, &wd, 1, 1, 1);
        swiglu_backward(&dx, &dwg, &dwu, &dwd, &dout, &ga, &u, &h, &x, &wg, &wu, &wd, scratch, 1, 1, 1);
        double got[5] = {out, dx, dwg, dwu, dwd};
        const double ref[5] = {4.3863514718, 9.9523745432, 5.5660230714, 2.1931757359, 1.4621171573};
        double e5 = maxdiff(got, ref, 5);
        report(e5 <= 1e-9, "swiglu_by_hand", "N=D=F=1: out, dx, dwg, dwu, dwd max |error| %.2e (tolerance %.0e)", e5, 1e-9);
    }

    /* 6. the forward against the header's ut_swiglu_forward (random weights) */
    fill_randn(X, N * D); fill_randn(WG, F * D); fill_randn(WU, F * D); fill_randn(WD, D * F); fill_randn(R, N * D);
    double out[N * D], ga[N * F], up[N * F], h[N * F];
    double rout[N * D], rga[N * F], rup[N * F], rh[N * F];
    fill(out, N * D, NAN); fill(ga, N * F, NAN); fill(up, N * F, NAN); fill(h, N * F, NAN);
    swiglu_forward(out, ga, up, h, X, WG, WU, WD, N, D, F);
    ut_swiglu_forward(rout, rga, rup, rh, X, WG, WU, WD, N, D, F);
    double e6 = fmax(fmax(maxdiff(out, rout, N * D), maxdiff(ga, rga, N * F)),
                     fmax(maxdiff(up, rup, N * F), maxdiff(h, rh, N * F)));
    report(e6 <= 1e-12, "swiglu_forward_matches_header", "out, gate, up, h: max |yours - ut_swiglu_forward| %.2e (tolerance %.0e)",
           e6, 1e-12);

    /* 7-10. the backward against finite differences of your forward */
    double dx[N * D] = {0}, dwg[F * D] = {0}, dwu[F * D] = {0}, dwd[D * F] = {0}, scratch[2 * N * F];
    fill(scratch, 2 * N * F, 7);   /* scratch arrives dirty */
    swiglu_backward(dx, dwg, dwu, dwd, R, ga, up, h, X, WG, WU, WD, scratch, N, D, F);
    double ex = grad_error(swiglu_loss, X, dx, N * D), eg = grad_error(swiglu_loss, WG, dwg, F * D);
    double eu = grad_error(swiglu_loss, WU, dwu, F * D), ed = grad_error(swiglu_loss, WD, dwd, D * F);
    report(ex <= 1e-7, "swiglu_backward_dx_finite_differences", "max rel error %.2e (tolerance %.0e)", ex, 1e-7);
    report(eg <= 1e-7, "swiglu_backward_dwg_finite_differences", "max rel error %.2e (tolerance %.0e)", eg, 1e-7);
    report(eu <= 1e-7, "swiglu_backward_dwu_finite_differences", "max rel error %.2e (tolerance %.0e)", eu, 1e-7);
    report(ed <= 1e-7, "swiglu_backward_dwd_finite_differences", "max rel error %.2e (tolerance %.0e)", ed, 1e-7);

    /* 11. backward ADDS: a second call (dirty scratch again) doubles every gradient */
    double dx2[N * D], dwg2[F * D], dwu2[F * D], dwd2[D * F];
    memcpy(dx2, dx, sizeof dx); memcpy(dwg2, dwg, sizeof dwg); memcpy(dwu2, dwu, sizeof dwu); memcpy(dwd2, dwd, sizeof dwd);
    fill(scratch, 2 * N * F, -3);
    swiglu_backward(dx2, dwg2, dwu2, dwd2, R, ga, up, h, X, WG, WU, WD, scratch, N, D, F);
    double e11 = 0;
    int nonzero = 0;
    for (int i = 0; i < N * D; i++) e11 = fmax(e11, fabs(dx2[i] - 2 * dx[i])), nonzero |= dx[i] != 0;
    for (int i = 0; i < F * D; i++) e11 = fmax(e11, fmax(fabs(dwg2[i] - 2 * dwg[i]), fabs(dwu2[i] - 2 * dwu[i])));
    for (int i = 0; i < D * F; i++) e11 = fmax(e11, fabs(dwd2[i] - 2 * dwd[i]));
    report(nonzero && e11 <= 1e-12, "swiglu_backward_accumulates", "second call adds: max |g2 - 2 g1| %.2e (tolerance %.0e)",
           nonzero ? e11 : NAN, 1e-12);

    /* The parameter count behind the comparison (README, "equal parameters"). */
    int Dm = 128, Fsw = (int)lround(2.0 / 3.0 * 4 * Dm);
    printf("note: D = %d: a SiLU MLP with 4D = %d hidden has 2*D*4D = %d weights; SwiGLU with F = 2/3*4D = %d "
           "has 3*D*F = %d\n", Dm, 4 * Dm, 2 * Dm * 4 * Dm, Fsw, 3 * Dm * Fsw);
    return failed;
}
