/* Development harness for the fast matmul kernels in ultrathink.h (section 4).
 *
 *   gcc -O3 -march=native -fopenmp -std=c11 bench/matmul_dev.c -o /tmp/mm -lm
 *   /tmp/mm            correctness sweep + determinism check + benchmark
 *   /tmp/mm check      correctness + determinism only
 *   /tmp/mm bench [reps] [naive_reps] [shape-filter: small|medium]
 *
 * Build with -DUT_DOUBLE to test the double-precision build. */
#define ULTRATHINK_IMPLEMENTATION   /* the kernels are the ones in the header */
#include "../ultrathink.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- helpers ---- */
static unsigned long long rng_state = 0x1234567887654321ULL;
static double rnd(void) { /* xorshift64*, uniform in [-1, 1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}
static ut_float *rand_buf(size_t n) {
    ut_float *p = (ut_float *)malloc((n ? n : 1) * sizeof(ut_float));
    if (!p) { fprintf(stderr, "oom\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (ut_float)rnd();
    return p;
}
static ut_float *copy_buf(const ut_float *s, size_t n) {
    ut_float *p = (ut_float *)malloc((n ? n : 1) * sizeof(ut_float));
    if (!p) { fprintf(stderr, "oom\n"); exit(1); }
    if (n) memcpy(p, s, n * sizeof(ut_float));
    return p;
}
static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static void set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}
static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
/* max |a-b| / max(|ref|, 1e-3 * typical) -- error relative to magnitude */
static double rel_err(const ut_float *ref, const ut_float *x, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ref[i] - (double)x[i]);
        if (!(d <= md)) md = d; /* catches NaN too */
        if (fabs((double)ref[i]) > mr) mr = fabs((double)ref[i]);
    }
    return md / (mr > 1e-30 ? mr : 1.0);
}

/* ---- (a) correctness sweep ---- */
static int check_shape(int N, int C, int OC, double tol, int verbose) {
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    ut_float *inp = rand_buf(ni), *w = rand_buf(nw), *dout = rand_buf(no);
    ut_float *out_r = rand_buf(no), *out_f = rand_buf(no); /* garbage: must be overwritten */
    ut_float *dinp_r = rand_buf(ni), *dinp_f = copy_buf(dinp_r, ni); /* accumulate onto random */
    ut_float *dw_r = rand_buf(nw), *dw_f = copy_buf(dw_r, nw);
    ut_matmul_forward_naive(out_r, inp, w, N, C, OC);
    ut_matmul_forward(out_f, inp, w, N, C, OC);
    ut_matmul_backward_naive(dinp_r, dw_r, dout, inp, w, N, C, OC);
    ut_matmul_backward(dinp_f, dw_f, dout, inp, w, N, C, OC);
    double e1 = rel_err(out_r, out_f, no), e2 = rel_err(dinp_r, dinp_f, ni), e3 = rel_err(dw_r, dw_f, nw);
    /* NULL gradients must be skipped (and not crash) */
    ut_matmul_backward(NULL, dw_f, dout, inp, w, N, C, OC);
    ut_matmul_backward(dinp_f, NULL, dout, inp, w, N, C, OC);
    ut_matmul_backward(NULL, NULL, dout, inp, w, N, C, OC);
    int ok = e1 <= tol && e2 <= tol && e3 <= tol;
    if (!ok || verbose)
        printf("  %s N=%4d C=%4d OC=%4d  rel err fwd %.2e dinp %.2e dw %.2e\n", ok ? "ok  " : "FAIL",
               N, C, OC, e1, e2, e3);
    free(inp); free(w); free(dout); free(out_r); free(out_f);
    free(dinp_r); free(dinp_f); free(dw_r); free(dw_f);
    return ok;
}

static int correctness(void) {
#ifdef UT_DOUBLE
    const double tol = 1e-12;
#else
    const double tol = 2e-5;
#endif
    static const int dims[] = {1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 63, 64, 65, 100, 128, 129, 257, 344};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    int pass = 0, total = 0;
    /* the model's shapes, plus N=1 (sampling) for each */
    static const int model[][3] = {{768, 128, 128}, {768, 128, 384}, {768, 128, 344}, {768, 344, 128},
                                   {768, 128, 256}, {2048, 384, 384}, {2048, 384, 128}, {2048, 384, 1024},
                                   {2048, 1024, 384}, {2048, 384, 256}};
    for (int s = 0; s < 10; s++) {
        pass += check_shape(model[s][0], model[s][1], model[s][2], tol, 1); total++;
        pass += check_shape(1, model[s][1], model[s][2], tol, 0); total++;
    }
    /* random combinations of awkward sizes */
    for (int t = 0; t < 300; t++) {
        int N = dims[(unsigned)(rnd() * 1e6 + 1e6) % nd];
        int C = dims[(unsigned)(rnd() * 1e6 + 1e6) % nd];
        int OC = dims[(unsigned)(rnd() * 1e6 + 1e6) % nd];
        pass += check_shape(N, C, OC, tol, 0); total++;
    }
    /* a few with long reductions (several KC blocks) and fully random sizes */
    for (int t = 0; t < 20; t++) {
        int N = 1 + (int)((rnd() + 1) * 300), C = 1 + (int)((rnd() + 1) * 300), OC = 1 + (int)((rnd() + 1) * 300);
        pass += check_shape(N, C, OC, tol, 0); total++;
    }
    pass += check_shape(1100, 700, 9, tol, 1); total++;
    pass += check_shape(9, 1100, 700, tol, 1); total++;
    printf("correctness (%s): %d / %d shapes pass (tol %.0e)\n",
           sizeof(ut_float) == 8 ? "double" : "float", pass, total, tol);
    return pass == total;
}

/* ---- (b) determinism across thread counts ---- */
static int determinism(void) {
    static const int shapes[][3] = {{768, 128, 344}, {257, 7, 1}, {1, 344, 257}, {2048, 384, 1024},
                                    {333, 1025, 129}, {100, 600, 70}};
    static const int threads[] = {1, 2, 3, 7};
    int ok = 1, orig = max_threads();
    for (int s = 0; s < 6; s++) {
        int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
        ut_float *inp = rand_buf(ni), *w = rand_buf(nw), *dout = rand_buf(no);
        ut_float *dinp0 = rand_buf(ni), *dw0 = rand_buf(nw);
        ut_float *ref[3] = {NULL, NULL, NULL};
        for (int ti = 0; ti < 4; ti++) {
            set_threads(threads[ti]);
            for (int rep = 0; rep < 2; rep++) { /* also run-to-run */
                ut_float *out = rand_buf(no), *dinp = copy_buf(dinp0, ni), *dw = copy_buf(dw0, nw);
                ut_matmul_forward(out, inp, w, N, C, OC);
                ut_matmul_backward(dinp, dw, dout, inp, w, N, C, OC);
                if (!ref[0]) { ref[0] = out; ref[1] = dinp; ref[2] = dw; continue; }
                int same = !memcmp(ref[0], out, no * sizeof(ut_float)) &&
                           !memcmp(ref[1], dinp, ni * sizeof(ut_float)) &&
                           !memcmp(ref[2], dw, nw * sizeof(ut_float));
                if (!same) {
                    printf("  NOT DETERMINISTIC: N=%d C=%d OC=%d threads=%d rep=%d\n", N, C, OC, threads[ti], rep);
                    ok = 0;
                }
                free(out); free(dinp); free(dw);
            }
        }
        free(ref[0]); free(ref[1]); free(ref[2]);
        free(inp); free(w); free(dout); free(dinp0); free(dw0);
    }
    set_threads(orig);
    printf("determinism (threads 1,2,3,7 x 2 runs, bitwise): %s\n", ok ? "identical" : "DIFFERENT");
    return ok;
}

/* ---- (c) benchmark ---- */
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* which: 0 forward, 1 dinp, 2 dw; impl: 0 naive, 1 fast. Returns median GFLOP/s. */
static double bench_one(int which, int impl, int N, int C, int OC, int reps,
                        ut_float *out, ut_float *inp, ut_float *w, ut_float *dout, ut_float *dinp, ut_float *dw) {
    double *t = (double *)malloc(sizeof(double) * (size_t)reps);
    for (int r = -2; r < reps; r++) { /* 2 warm-up runs */
        double t0 = now();
        if (which == 0) {
            if (impl) ut_matmul_forward(out, inp, w, N, C, OC); else ut_matmul_forward_naive(out, inp, w, N, C, OC);
        } else if (which == 1) {
            if (impl) ut_matmul_backward(dinp, NULL, dout, inp, w, N, C, OC);
            else ut_matmul_backward_naive(dinp, NULL, dout, inp, w, N, C, OC);
        } else {
            if (impl) ut_matmul_backward(NULL, dw, dout, inp, w, N, C, OC);
            else ut_matmul_backward_naive(NULL, dw, dout, inp, w, N, C, OC);
        }
        double dt = now() - t0;
        if (r >= 0) t[r] = dt;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    /* median; MM_STAT=min reports the best run instead (robust on a busy machine) */
    const char *stat = getenv("MM_STAT");
    double med = stat && !strcmp(stat, "min") ? t[0] : t[reps / 2];
    free(t);
    return 2.0 * N * C * OC / med * 1e-9;
}

static void benchmark(int reps, int naive_reps, const char *filter) {
    static const int shapes[][3] = {{768, 128, 128}, {768, 128, 384}, {768, 128, 344}, {768, 344, 128},
                                    {768, 128, 256}, {2048, 384, 384}, {2048, 384, 128}, {2048, 384, 1024},
                                    {2048, 1024, 384}, {2048, 384, 256}};
    printf("GFLOP/s, median of %d reps (naive: %d) after 2 warm-ups; %s, KC=%d MR=%d NR=%d MC=%d NC=%d\n",
           reps, naive_reps, sizeof(ut_float) == 8 ? "double" : "float", UT__KC, UT__MR, UT__NR, UT__MC, UT__NC);
    printf("%-19s %-4s | %8s %8s %8s | %8s %8s %8s\n", "shape (N,C,OC)", "thr",
           "nv fwd", "nv dinp", "nv dw", "fwd", "dinp", "dw");
    int orig = max_threads();
    for (int s = 0; s < 10; s++) {
        int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        if (filter && !strcmp(filter, "small") && N != 768) continue;
        if (filter && !strcmp(filter, "medium") && N != 2048) continue;
        size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
        ut_float *inp = rand_buf(ni), *w = rand_buf(nw), *dout = rand_buf(no), *out = rand_buf(no);
        ut_float *dinp = rand_buf(ni), *dw = rand_buf(nw);
        const char *mt = getenv("MM_MAXTH"); /* MM_MAXTH=1: single-thread rows only */
        for (int th = 1; th <= (mt ? atoi(mt) : 2); th++) {
            set_threads(th);
            double g[6];
            for (int which = 0; which < 3; which++) {
                g[which] = naive_reps > 0 ? bench_one(which, 0, N, C, OC, naive_reps, out, inp, w, dout, dinp, dw) : 0;
                g[3 + which] = bench_one(which, 1, N, C, OC, reps, out, inp, w, dout, dinp, dw);
            }
            char name[32];
            snprintf(name, sizeof name, "%d,%d,%d", N, C, OC);
            printf("%-19s %-4d | %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f\n", name, th, g[0], g[1], g[2], g[3], g[4], g[5]);
            fflush(stdout);
        }
        free(inp); free(w); free(dout); free(out); free(dinp); free(dw);
    }
    /* token-by-token sampling: forward with N = 1 (the dot-product path) */
    printf("forward with N=1 (sampling), median of 200 calls, microseconds\n");
    printf("%-19s %-4s | %8s %8s\n", "shape (N,C,OC)", "thr", "naive", "fast");
    for (int s = 0; s < 10; s++) {
        int C = shapes[s][1], OC = shapes[s][2];
        if (s >= 5 && (filter && !strcmp(filter, "small"))) continue;
        if (s < 5 && (filter && !strcmp(filter, "medium"))) continue;
        ut_float *inp = rand_buf((size_t)C), *w = rand_buf((size_t)OC * C), *out = rand_buf((size_t)OC);
        for (int th = 1; th <= 2; th++) {
            set_threads(th);
            double g0 = bench_one(0, 0, 1, C, OC, 200, out, inp, w, NULL, NULL, NULL);
            double g1 = bench_one(0, 1, 1, C, OC, 200, out, inp, w, NULL, NULL, NULL);
            char name[32];
            snprintf(name, sizeof name, "1,%d,%d", C, OC);
            printf("%-19s %-4d | %8.1f %8.1f\n", name, th, 2.0 * C * OC / g0 * 1e-3, 2.0 * C * OC / g1 * 1e-3);
        }
        free(inp); free(w); free(out);
    }
    set_threads(orig);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    int ok = 1;
    if (!strcmp(mode, "all") || !strcmp(mode, "check")) {
        ok &= correctness();
        ok &= determinism();
    }
    if (!strcmp(mode, "all") || !strcmp(mode, "bench")) {
        int reps = argc > 2 ? atoi(argv[2]) : 20;
        int nreps = argc > 3 ? atoi(argv[3]) : 20;
        benchmark(reps, nreps, argc > 4 ? argv[4] : NULL);
    }
    printf("%s\n", ok ? "ALL OK" : "SOME CHECKS FAILED");
    return ok ? 0 : 1;
}
