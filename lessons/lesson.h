/* lessons/lesson.h — what the lessons' checks (lessons/NN-topic/check.c)
   share: the PASS/FAIL line, and for the checks built in double (UT_DOUBLE:
   the gradient lessons) random inputs, the largest difference and the
   finite-difference gradient check. Include it after ultrathink.h.

   A check prints one line per claim it tests:
       PASS name what was measured, and the tolerance
       FAIL name the same, so you can see by how much it missed
   and exits 1 if any line said FAIL (return `failed` from main). */
#ifndef LESSON_H
#define LESSON_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed = 0;   /* set by any FAIL: main returns it */

/* report(ok, name, fmt, ...): "PASS name " or "FAIL name ", then fmt filled
   in like printf (usually the error found and the tolerance allowed) */
static void report(int ok, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s ", ok ? "PASS" : "FAIL", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failed |= !ok;
}

#ifdef UT_DOUBLE
/* n numbers drawn from N(0, 1) with the header's generator (malloc'd) */
static inline double *randn(size_t n, uint64_t *rng) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = ut_rng_normal(rng);
    return p;
}
static inline double *zeros(size_t n) { return calloc(n, sizeof(double)); }

/* max |a[i] - b[i]|; a NaN anywhere makes it NaN, so a check "<= tol" fails */
static inline double maxdiff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (!(e <= m)) m = e;
    }
    return m;
}

/* THE GRADIENT CHECK. loss() computes a scalar from the inputs; grad holds
   your backward's dloss/dparam. For each i, nudge param[i] by +-h and take
   the central difference
       num = (loss(p + h) - loss(p - h)) / 2h      (error O(h^2), lesson 04)
   Returns max over i of |grad[i] - num| / max(1, |num|): relative where the
   derivative is large, absolute where it is small. If every num is 0 the loss
   does not depend on param at all (a forward that computes nothing), and an
   empty backward would "agree": that proves nothing, so it returns NaN, which
   fails every "<= tol" check. */
static inline double grad_error(double (*loss)(void), double *param, const double *grad, size_t n) {
    double worst = 0, h = 1e-5, biggest = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = param[i];
        param[i] = keep + h; double lp = loss();
        param[i] = keep - h; double lm = loss();
        param[i] = keep;
        double num = (lp - lm) / (2 * h), e = fabs(grad[i] - num) / fmax(1, fabs(num));
        if (!(e <= worst)) worst = e;   /* a NaN makes worst NaN, and the check fails */
        biggest = fmax(biggest, fabs(num));
    }
    return biggest > 0 ? worst : NAN;
}
#endif
#endif
