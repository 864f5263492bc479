/* lessons/07-rope/check.c — checks your RoPE (exercise.c, or solution.c with
   SOLUTION=1) against things that do not depend on it: values worked out by
   hand, an independent reference that multiplies complex numbers, the
   header's ut_rope_*, what a rotation must keep (lengths, relative positions),
   and central finite differences of your own forward (in double). One
   PASS/FAIL line per check, with the measured error and the tolerance; then
   INFO lines on how q.k depends on the distance. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: rope_tables, rope_forward, rope_backward */

/* a check that means something only if the forward rotated its input: without
   that (the untouched stub, an identity) it fails and says why */
static void report_moved(int moved, int ok, const char *name, const char *fmt, double got, double tol) {
    printf("%s %s ", moved && ok ? "PASS" : "FAIL", name);
    printf(fmt, got, tol);
    printf(moved ? "\n" : "; but rope_forward left x unchanged\n");
    failed |= !(moved && ok);
}
static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The tables go up to position P = 128 for every check below. */
enum { P = 128 };
static double COS[P * 64], SIN[P * 64];

/* one head vector x (HD) placed at position p, rotated (a copy in out) */
static void at_position(double *out, const double *x, int p, int HD) {
    memcpy(out, x, HD * sizeof *x);
    rope_forward(out, COS, SIN, 1, 1, 1, HD, p);
}

/* the loss whose gradient we check: L = sum(rope(x) * R) */
enum { B = 2, T = 5, NH = 3, HD = 8, POS0 = 4 };
static double X[B * T * NH * HD], R[B * T * NH * HD];
static double loss(void) {
    double y[B * T * NH * HD], L = 0;
    memcpy(y, X, sizeof y);
    rope_forward(y, COS, SIN, B, T, NH, HD, POS0);
    for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) L += y[i] * R[i];
    return L;
}

int main(void) {
    uint64_t rng = ut_rng_seed(7);
    const size_t n = (size_t)B * T * NH * HD;

    /* 1. the tables by hand: HD = 4, theta = 10000, so f_0 = 1 and
          f_1 = 10000^(-2/4) = 0.01. Position 0: cos 1, sin 0. Position 3:
          cos(3) = -0.98999250, sin(3) = 0.14112001,
          cos(0.03) = 0.99955003, sin(0.03) = 0.02999550 */
    {
        double c[8], s[8];
        for (int i = 0; i < 8; i++) c[i] = s[i] = 7;
        rope_tables(c, s, 4, 4, 10000.0f);
        double want_c[4] = {1, 1, -0.98999249660, 0.99955003375}, want_s[4] = {0, 0, 0.14112000806, 0.02999550020};
        double got_c[4] = {c[0], c[1], c[6], c[7]}, got_s[4] = {s[0], s[1], s[6], s[7]};
        double e = fmax(maxdiff(got_c, want_c, 4), maxdiff(got_s, want_s, 4));
        report(e <= 1e-9, "tables_by_hand", "HD=4 positions 0 and 3: max |error| %.2e (tolerance %.0e)", e, 1e-9);
    }

    /* 2. the rotate-half layout: HD = 4, x = e_0 = (1,0,0,0) at position 3.
          Feature 0 is paired with feature 0 + HD/2 = 2, so x' = (cos 3, 0,
          sin 3, 0); the interleaved layout (0 with 1) would give
          (cos 3, sin 3, 0, 0). And e_1 turns with the slow frequency 0.01:
          (0, cos 0.03, 0, sin 0.03). */
    {
        double c[16], s[16];
        rope_tables(c, s, 4, 4, 10000.0f);
        double x[8] = {1, 0, 0, 0, 0, 1, 0, 0};   /* two heads: e_0 and e_1 */
        rope_forward(x, c, s, 1, 1, 2, 4, 3);
        double want[8] = {-0.98999249660, 0, 0.14112000806, 0, 0, 0.99955003375, 0, 0.02999550020};
        double e = maxdiff(x, want, 8);
        report(e <= 1e-9, "rotate_half_layout", "e_0, e_1 at position 3: max |error| %.2e (tolerance %.0e)", e, 1e-9);
    }

    /* 3. against complex numbers: the pair (x_i, x_{i+HD/2}) is z = x_i + j x_{i+HD/2},
          and the rotation is z * exp(j p f_i). Angles computed here, from
          theta, not from your tables. Two bases, tokens at positions 4..8. */
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        float theta = pass ? 500.0f : 10000.0f;
        rope_tables(COS, SIN, P, HD, theta);
        double *x = randn(n, &rng), y[B * T * NH * HD];
        memcpy(y, x, sizeof y);
        rope_forward(y, COS, SIN, B, T, NH, HD, POS0);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < NH; h++)
                    for (int i = 0; i < HD / 2; i++) {
                        size_t o = (((size_t)b * T + t) * NH + h) * HD;
                        double angle = (POS0 + t) * exp(-2.0 * i / HD * log((double)theta));
                        double complex z = (x[o + i] + I * x[o + i + HD / 2]) * cexp(I * angle);
                        double e = fmax(fabs(y[o + i] - creal(z)), fabs(y[o + i + HD / 2] - cimag(z)));
                        if (!(e <= worst)) worst = e;
                    }
        free(x);
    }
    report(worst <= 1e-12, "forward_matches_complex_reference",
           "theta 10000 and 500, positions 4..8: max |error| %.2e (tolerance %.0e)", worst, 1e-12);
    rope_tables(COS, SIN, P, HD, 10000.0f);   /* from here on: theta = 10000, tables to position 127 */

    /* 4. the header's ut_rope_tables and ut_rope_forward agree */
    {
        static double hc[P * HD / 2], hs[P * HD / 2];
        ut_rope_tables(hc, hs, P, HD, 10000.0f);
        double *x = randn(n, &rng), y[B * T * NH * HD], yh[B * T * NH * HD];
        memcpy(y, x, sizeof y); memcpy(yh, x, sizeof y);
        rope_forward(y, COS, SIN, B, T, NH, HD, POS0);
        ut_rope_forward(yh, hc, hs, B, T, NH, HD, POS0);
        double e = fmax(fmax(maxdiff(COS, hc, P * HD / 2), maxdiff(SIN, hs, P * HD / 2)), maxdiff(y, yh, n));
        report(e <= 1e-12, "matches_header", "tables and forward against ut_rope_*: max |diff| %.2e (tolerance %.0e)", e, 1e-12);
        free(x);
    }

    /* 5. a rotation keeps lengths: |x'| = |x| for every head vector (and it
          must have moved them: x' != x) */
    {
        double *x = randn(n, &rng), y[B * T * NH * HD], e = 0;
        memcpy(y, x, sizeof y);
        rope_forward(y, COS, SIN, B, T, NH, HD, POS0);
        for (size_t r = 0; r < n / HD; r++) {
            double d = fabs(sqrt(dot(y + r * HD, y + r * HD, HD)) - sqrt(dot(x + r * HD, x + r * HD, HD)));
            if (!(d <= e)) e = d;
        }
        int moved = maxdiff(x, y, n) > 0.1;
        report_moved(moved, e <= 1e-12, "lengths_kept", "max ||x'| - |x|| over head vectors %.2e (tolerance %.0e)", e, 1e-12);
        free(x);
    }

    /* 6. the point of RoPE: the score depends on positions only through
          their difference, q_m . k_n = q_{m+s} . k_{n+s}; and it does depend
          on that difference (q_m . k_n changes with n) */
    {
        double *q = randn(HD, &rng), *k = randn(HD, &rng), a[HD], b[HD], e = 0, spread = 0;
        int pos[][2] = {{0, 0}, {5, 2}, {9, 1}, {30, 30}, {40, 7}, {3, 17}}, shifts[] = {1, 3, 50, 77};
        for (int c = 0; c < 6; c++) {
            int m = pos[c][0], nn = pos[c][1];
            at_position(a, q, m, HD); at_position(b, k, nn, HD);
            double d0 = dot(a, b, HD);
            for (int j = 0; j < 4; j++) {
                at_position(a, q, m + shifts[j], HD); at_position(b, k, nn + shifts[j], HD);
                double d = fabs(dot(a, b, HD) - d0);
                if (!(d <= e)) e = d;
            }
            at_position(a, q, m, HD); at_position(b, k, nn + 1, HD);
            spread = fmax(spread, fabs(dot(a, b, HD) - d0));
        }
        report_moved(spread > 1e-3, e <= 1e-12, "relative_position",
                     "max |q_m.k_n - q_{m+s}.k_{n+s}| over 6 (m,n) x 4 shifts %.2e (tolerance %.0e)", e, 1e-12);
        free(q); free(k);
    }

    /* 7. the backward undoes the forward: R^T R = I */
    {
        double *x = randn(n, &rng), y[B * T * NH * HD];
        memcpy(y, x, sizeof y);
        rope_forward(y, COS, SIN, B, T, NH, HD, POS0);
        int moved = maxdiff(x, y, n) > 0.1;
        rope_backward(y, COS, SIN, B, T, NH, HD, POS0);
        double e = maxdiff(x, y, n);
        report_moved(moved, e <= 1e-12, "backward_is_inverse", "max |backward(forward(x)) - x| %.2e (tolerance %.0e)", e, 1e-12);
        free(x);
    }

    /* 8. the backward against finite differences of your forward:
          L = sum(rope(x) * R), so dL/dx' = R and backward(R) must be dL/dx */
    {
        double *x = randn(n, &rng), *r = randn(n, &rng), g[B * T * NH * HD], worst_fd = 0, h = 1e-5, moved = 0;
        memcpy(X, x, sizeof X); memcpy(R, r, sizeof R); memcpy(g, r, sizeof g);
        rope_backward(g, COS, SIN, B, T, NH, HD, POS0);
        for (size_t i = 0; i < n; i++) {
            double keep = X[i];
            X[i] = keep + h; double lp = loss();
            X[i] = keep - h; double lm = loss();
            X[i] = keep;
            double num = (lp - lm) / (2 * h), e = fabs(g[i] - num) / fmax(1, fabs(num));
            if (!(e <= worst_fd)) worst_fd = e;
            moved = fmax(moved, fabs(num - R[i]));   /* an identity forward has gradient R */
        }
        report_moved(moved > 0.1, worst_fd <= 1e-7, "backward_finite_differences", "max rel error %.2e (tolerance %.0e)",
                     worst_fd, 1e-7);
        free(x); free(r);
    }

    /* What the score "sees" of distance: q = k = (1, ..., 1), HD = 64. RoPE's
       authors show the size of q_m . k_n tends to shrink as |m - n| grows:
       the fast pairs cancel out first, the slow ones last. */
    {
        enum { W = 64 };
        static double c[P * W / 2], s[P * W / 2];
        rope_tables(c, s, P, W, 10000.0f);
        double one[W], a[W], b[W];
        for (int i = 0; i < W; i++) one[i] = 1;
        printf("INFO q = k = ones(64), theta 10000: q_0 . k_d by distance d (64 at d = 0):\nINFO  ");
        for (int d = 0; d < P; d = d ? 2 * d : 1) {
            memcpy(a, one, sizeof a); memcpy(b, one, sizeof b);
            rope_forward(a, c, s, 1, 1, 1, W, 0);
            rope_forward(b, c, s, 1, 1, 1, W, d);
            printf(" d=%d: %.1f", d, dot(a, b, W));
        }
        printf("\n");
    }
    return failed;
}
