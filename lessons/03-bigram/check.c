/* lessons/03-bigram/check.c — checks your softmax cross-entropy (exercise.c,
   or solution.c with SOLUTION=1) against things that do not depend on it:
   values worked out by hand (python3's math module gave the digits), the
   header's ut_crossentropy_forward, central finite differences of your own
   forward (in double), and a bigram model trained with your two functions
   against the best bigram there is, the count table, computed from counts.
   One PASS/FAIL line per check, with the measured error and the tolerance;
   lines that start with neither are information. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: crossentropy_forward, crossentropy_backward */

static int failed = 0;
/* On a failure, report also prints `bad` (the first wrong value next to the
   one wanted, filled by first_bad) and `hint` (the usual cause). */
static char bad[256];
static void report(int ok, const char *name, const char *fmt, double got, double tol, const char *hint) {
    printf("%s %s ", ok ? "PASS" : "FAIL", name);
    printf(fmt, got, tol);
    if (!ok && bad[0]) printf("; %s", bad);
    if (!ok && hint) printf(" %s", hint);
    printf("\n");
    failed |= !ok;
    bad[0] = 0;
}
/* The first value off by more than tol: the loss, else probs[i] (row i / V). */
static void first_bad(double loss, double want_loss, const ut_float *p, const double *want, int n, int V, double tol) {
    bad[0] = 0;
    if (!(fabs(loss - want_loss) <= tol)) { snprintf(bad, sizeof bad, "loss %.10g, want %.10g", loss, want_loss); return; }
    for (int i = 0; i < n; i++)
        if (!(fabs(p[i] - want[i]) <= tol)) {
            snprintf(bad, sizeof bad, "first bad: probs[%d][%d] = %.10g, want %.10g", i / V, i % V, (double)p[i], want[i]);
            return;
        }
}
static double maxdiff(const ut_float *a, const double *b, int n) {
    double e = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= e)) e = d;            /* a NaN makes e NaN, and the check fails */
    }
    return e;
}

/* ---- the bigram model: logits = W[token], W (V, V), trained by plain SGD ---- */
enum { BV = 16, TEXT = 4096 };
/* A small generated text: a Markov chain over BV symbols ('a'..'p') whose
   next-symbol distributions are softmax(normal) rows, so every pair is likely
   enough to occur (see the README: why the count table needs every pair). */
static void make_text(int *text, int n, uint64_t seed) {
    uint64_t r = ut_rng_seed(seed);
    double P[BV][BV];
    for (int a = 0; a < BV; a++) {
        double s = 0;
        for (int b = 0; b < BV; b++) { P[a][b] = exp(ut_rng_normal(&r)); s += P[a][b]; }
        for (int b = 0; b < BV; b++) P[a][b] /= s;
    }
    text[0] = 0;
    for (int i = 1; i < n; i++) {
        double u = ut_rng_uniform(&r), c = 0;
        int b = 0;
        for (; b < BV - 1; b++) { c += P[text[i - 1]][b]; if (u < c) break; }
        text[i] = b;
    }
}
/* The count table: p(b | a) = c(a,b) / c(a). Its loss on the text it was
   counted from is the lowest any bigram model can reach there. */
static double count_table_loss(const int *text, int n) {
    static double c[BV][BV];
    memset(c, 0, sizeof c);
    for (int i = 0; i + 1 < n; i++) c[text[i]][text[i + 1]] += 1;
    double L = 0;
    for (int a = 0; a < BV; a++) {
        double ca = 0;
        for (int b = 0; b < BV; b++) ca += c[a][b];
        for (int b = 0; b < BV; b++) if (c[a][b] > 0) L -= c[a][b] * log(c[a][b] / ca);
    }
    return L / (n - 1);
}

int main(void) {
    /* 1. by hand: logits (1, 2, 3), target 2: p = e^l / (e + e^2 + e^3) =
          (0.09003057, 0.24472847, 0.66524096), loss = log(e + e^2 + e^3) - 3
          = log(1 + e^-1 + e^-2) = 0.40760596 */
    {
        ut_float l[3] = {1, 2, 3}, p[3] = {0, 0, 0};
        int t = 2;
        double want[3] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
        double loss = crossentropy_forward(p, l, &t, 1, 3);
        double e = fmax(maxdiff(p, want, 3), fabs(loss - 0.40760596444438013));
        if (isnan(loss)) e = NAN;
        first_bad(loss, 0.40760596444438013, p, want, 3, 3, 1e-12);
        report(e <= 1e-12, "forward_by_hand", "logits (1,2,3), target 2: max |error| %.2e (tolerance %.0e)", e, 1e-12,
               "(p_i = exp(l_i - max) / sum_j exp(l_j - max); loss = -log p[target], a positive number)");
    }

    /* 2. zero logits: every p = 1/V and the loss is ln V, whatever the targets.
          This is the loss of an untrained model (small random logits). */
    {
        enum { N = 4, V = 256 };
        static ut_float l[N * V], p[N * V];
        static double want[N * V];
        int t[N] = {0, 17, 255, 3};
        for (int i = 0; i < N * V; i++) want[i] = 1.0 / V;
        double loss = crossentropy_forward(p, l, t, N, V);
        double e = fmax(fabs(loss - log((double)V)), maxdiff(p, want, N * V));
        if (isnan(loss)) e = NAN;
        printf("  zero logits, V = %d: loss %.15f, ln V = %.15f\n", V, loss, log((double)V));
        first_bad(loss, log((double)V), p, want, N * V, V, 1e-12);
        report(e <= 1e-12, "zero_logits_give_ln_V", "V=256: max |error| %.2e (tolerance %.0e)", e, 1e-12,
               "(the loss is the MEAN over the rows with a target, not the sum)");
    }

    /* 3. random logits (one row without a target) against the header */
    enum { N = 6, V = 11 };
    uint64_t rng = ut_rng_seed(3);
    ut_float logits[N * V], probs[N * V], ref[N * V];
    int targets[N] = {3, 0, -1, 10, 7, 3};
    for (int i = 0; i < N * V; i++) logits[i] = 3 * ut_rng_normal(&rng);
    {
        memset(probs, 0, sizeof probs);
        double loss = crossentropy_forward(probs, logits, targets, N, V);
        double lref = ut_crossentropy_forward(ref, logits, targets, N, V);
        double dref[N * V];
        for (int i = 0; i < N * V; i++) dref[i] = ref[i];
        double e = fmax(fabs(loss - lref), maxdiff(probs, dref, N * V));
        if (isnan(loss)) e = NAN;
        first_bad(loss, lref, probs, dref, N * V, V, 1e-12);
        report(e <= 1e-12, "forward_matches_header", "max |yours - ut_crossentropy_forward| %.2e (tolerance %.0e)", e, 1e-12,
               "(row 2 has target -1: it gets probs, but no loss and no place in the mean's count)");

        /* 4. in place: probs and logits the same buffer (as the model calls it) */
        ut_float inplace[N * V];
        memcpy(inplace, logits, sizeof inplace);
        double l2 = crossentropy_forward(inplace, inplace, targets, N, V);
        double e4 = fmax(fabs(l2 - lref), maxdiff(inplace, dref, N * V));
        if (isnan(l2)) e4 = NAN;
        first_bad(l2, lref, inplace, dref, N * V, V, 1e-12);
        report(e4 <= 1e-12, "forward_in_place", "probs == logits: max |error| %.2e (tolerance %.0e)", e4, 1e-12,
               "(read logits[n][target] before overwriting the row?)");
    }

    /* 5. large logits: exp(1000) overflows a double (and exp(89) a float).
          Row 0 (1000, 999, 0), target 1: loss = 1 + log(1 + e^-1 + e^-1000)
          = 1.31326169, p = (0.73105858, 0.26894142, 0). Row 1 (-1000 x 3),
          target 0: loss = ln 3, p = 1/3 each. Without the max subtracted,
          row 0 is inf/inf and row 1 is 0/0: both NaN. */
    {
        ut_float l[6] = {1000, 999, 0, -1000, -1000, -1000}, p[6] = {0, 0, 0, 0, 0, 0};
        int t[2] = {1, 0};
        double want[6] = {0.7310585786300049, 0.2689414213699951, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0};
        double loss = crossentropy_forward(p, l, t, 2, 3);
        double e = fmax(fabs(loss - (1.3132616875182066 + log(3.0)) / 2), maxdiff(p, want, 6));
        if (isnan(loss)) e = NAN;
        first_bad(loss, (1.3132616875182066 + log(3.0)) / 2, p, want, 6, 3, 1e-12);
        report(e <= 1e-12, "large_logits_stay_finite", "logits +-1000: max |error| %.2e (tolerance %.0e)", e, 1e-12,
               "(subtract the row's max before exp)");
    }

    /* 6. the backward against central differences of your forward, loss =
          your mean loss (scale 1); dlogits starts full of garbage, since the
          backward writes rather than adds. Relative error with a floor of 1
          (lesson 04 says why). */
    {
        ut_float d[N * V], p[N * V], work[N * V];
        for (int i = 0; i < N * V; i++) d[i] = 7;
        crossentropy_forward(p, logits, targets, N, V);
        crossentropy_backward(d, p, targets, N, V, 1.0f);
        double worst = 0, h = 1e-5, tol6 = 1e-8;
        for (int i = 0; i < N * V; i++) {
            ut_float keep = logits[i];
            logits[i] = keep + h; double lp = crossentropy_forward(work, logits, targets, N, V);
            logits[i] = keep - h; double lm = crossentropy_forward(work, logits, targets, N, V);
            logits[i] = keep;
            double num = (lp - lm) / (2 * h), e = fabs(d[i] - num) / fmax(1, fabs(num));
            if (!(e <= tol6) && !bad[0])
                snprintf(bad, sizeof bad, "first bad: dlogits[%d][%d] = %.10g, want %.10g (finite differences)", i / V, i % V,
                         (double)d[i], num);
            if (!(e <= worst)) worst = e;
        }
        int nonzero = 0;
        for (int i = 0; i < N * V; i++) nonzero |= d[i] != 0 && d[i] != 7;
        if (!nonzero) snprintf(bad, sizeof bad, "dlogits still all 7s or 0s (want p - onehot over the count)");
        report(nonzero && worst <= tol6, "backward_finite_differences", "dlogits = (p - onehot)/count: max rel error %.2e (tolerance %.0e)",
               nonzero ? worst : NAN, tol6,
               "(the backward WRITES dlogits, it does not add: did you use += ? Divide by the number of rows with a target)");

        /* 7. scale multiplies the gradient (the model passes 1/grad_accum) */
        ut_float d2[N * V];
        for (int i = 0; i < N * V; i++) d2[i] = 7;
        crossentropy_backward(d2, p, targets, N, V, 0.25f);
        double e7 = 0;
        for (int i = 0; i < N * V; i++) {
            double x = fabs(d2[i] - 0.25 * d[i]);
            if (!(x <= 1e-15) && !bad[0])
                snprintf(bad, sizeof bad, "first bad: dlogits[%d][%d] = %.10g with scale 0.25, want %.10g", i / V, i % V,
                         (double)d2[i], 0.25 * d[i]);
            if (!(x <= e7)) e7 = x;
        }
        if (!nonzero) snprintf(bad, sizeof bad, "dlogits with scale 1 still all 7s or 0s");
        report(nonzero && e7 <= 1e-15, "backward_scale", "scale 0.25: max |d(0.25) - 0.25 d(1)| %.2e (tolerance %.0e)",
               nonzero ? e7 : NAN, 1e-15, "(every entry is multiplied by s = scale / count; or a += kept the "
               "buffer's old values: see backward_finite_differences)");
    }

    /* 8. a bigram model trained with your functions lands on the count table.
          logits[n] = W[x_n] (ut_embedding_forward with D = V), W starts at 0
          (loss ln 16 = 2.7726), full-batch SGD on the mean loss. */
    {
        static int text[TEXT];
        static ut_float W[BV * BV], dW[BV * BV], logits8[(TEXT - 1) * BV], dl[(TEXT - 1) * BV];
        make_text(text, TEXT, 1337);
        const int M = TEXT - 1, *x = text, *y = text + 1, steps = 300;
        const double lr = 20;
        double best = count_table_loss(text, TEXT), loss = NAN;
        for (int step = 0; step <= steps; step++) {
            ut_embedding_forward(logits8, x, W, M, BV);
            loss = crossentropy_forward(logits8, logits8, y, M, BV);    /* probs in place */
            if (step % 100 == 0) printf("  bigram step %3d  loss %.4f\n", step, loss);
            if (step == steps) break;
            crossentropy_backward(dl, logits8, y, M, BV, 1.0f);
            memset(dW, 0, sizeof dW);
            ut_embedding_backward(dW, dl, x, M, BV);
            for (int i = 0; i < BV * BV; i++) W[i] -= lr * dW[i];
        }
        printf("  count table loss %.4f (the best bigram on this text), ln %d = %.4f\n", best, BV, log((double)BV));
        double gap = loss - best;
        snprintf(bad, sizeof bad, "trained loss %.4f, want %.4f..%.4f", loss, best, best + 0.02);
        report(gap >= -1e-9 && gap <= 0.02, "bigram_reaches_count_table",
               "16 symbols, 4096-symbol text, 300 SGD steps: trained - count table = %.4f nats (tolerance %.2f)", gap, 0.02,
               "(the bigram computes probs IN PLACE and relies on the backward writing, not adding: see forward_in_place "
               "and backward_finite_differences)");
    }
    return failed;
}
