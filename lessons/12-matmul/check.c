/* lessons/12-matmul/check.c — checks every rung of the ladder (ladder.c, with
   your micro-kernel from exercise.c, or solution.c with SOLUTION=1) against
   the naive triple loop v0, then times each rung on ONE thread.

   The checks (one PASS/FAIL line each) test correctness only:
     v0 against a product worked out by hand, and against the same loop in
     double; your mm_kernel on one tile, and on a ragged tile that must add
     into C and leave everything outside its corner alone; then v1-v4 and the
     header's ut_matmul_forward (v5) against v0 on awkward shapes.
   Tolerance: entries of A and B are N(0, 1), so an entry of C is a sum of K
   terms, and float rounding (eps = 2^-23 = 1.19e-7) in a sum of K terms grows
   like eps * sqrt(K) * |C| when the errors are random. Every version sums in
   a different order (and with or without FMA), so each is compared with v0 as
       err = max_ij |Cv - C0| / (eps * sqrt(K) * rms(C0))   <=  8
   worst over all shapes. A wrong index or a missed k gives err ~ 1e4 or more.
   The output is filled with NaN before every call, so an element a version
   forgets to write fails (the comparisons are written so that NaN fails).

   The timings (lines starting with "time") are information, not checks:
   GFLOP/s = 2*M*N*K / CPU seconds, best of a few runs, one thread. 256^3 by
   default; LONG=1 adds larger sizes (about a minute). */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ladder.c"    /* v0 .. v4, MR, NR, KC, FMA */
#include LESSON_IMPL   /* exercise.c or solution.c: mm_kernel */


static float *randn(size_t n, uint64_t *r) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)ut_rng_normal(r);
    return p;
}
static float *nans(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}
/* max |x - ref| / (eps sqrt(K) rms(ref)); NaN anywhere in x gives NaN */
static double err_vs(const float *x, const float *ref, size_t n, int K) {
    double worst = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)ref[i]);
        if (!(d <= worst)) worst = d;
        ss += (double)ref[i] * ref[i];
    }
    double rms = n ? sqrt(ss / n) : 1;
    return worst / (FLT_EPSILON * sqrt(K > 0 ? K : 1) * (rms > 0 ? rms : 1));
}
static double worse(double a, double b) { return !(a >= b) ? (isnan(a) ? a : b) : a; } /* max, NaN wins */

/* v5: the header's forward, out = inp w^T, with inp = A and w = B^T (N, K) */
static float *transpose(const float *B, int K, int N) {
    float *w = malloc((size_t)(K * N > 0 ? K * N : 1) * sizeof *w);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) w[(size_t)j * K + k] = B[(size_t)k * N + j];
    return w;
}
static const float *v5_w;   /* B^T, set before calling matmul_v5 */
static void matmul_v5(float *C, const float *A, const float *B, int M, int K, int N) {
    (void)B;
    ut_matmul_forward(C, A, v5_w, M, K, N);
}

typedef void (*matmul_fn)(float *, const float *, const float *, int, int, int);
static const struct { const char *name; matmul_fn f; } V[] = {
    {"v0_naive", matmul_v0}, {"v1_loop_order", matmul_v1}, {"v2_register_tile", matmul_v2},
    {"v3_packed", matmul_v3}, {"v4_cache_blocked", matmul_v4}, {"v5_header", matmul_v5},
};
enum { NV = sizeof V / sizeof V[0] };

/* shapes (M, K, N): tiny, ragged in every direction, several KC blocks */
static const int S[][3] = {{1, 1, 1}, {1, 37, 70}, {7, 13, 5}, {9, 37, 37}, {64, 64, 64},
                           {65, 300, 97}, {33, 600, 70}, {100, 257, 128}};
enum { NS = sizeof S / sizeof S[0] };

/* CPU time of this process (one thread: the time it actually ran). On a
   shared machine the wall clock also counts the time spent waiting for a
   core; this does not (what other programs do to the caches still counts). */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* best of `reps` runs, in GFLOP/s */
static double gflops(int v, int M, int K, int N, int reps, uint64_t *rng) {
    float *A = randn((size_t)M * K, rng), *B = randn((size_t)K * N, rng), *C = nans((size_t)M * N);
    float *w = transpose(B, K, N);
    v5_w = w;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        V[v].f(C, A, B, M, K, N);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(A); free(B); free(C); free(w);
    return 2.0 * M * N * K / best * 1e-9;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines out at once, even if a bad kernel crashes us */
#ifdef _OPENMP
    omp_set_num_threads(1);   /* every version on ONE thread, v5 included */
#endif
    const double tol = 8;

    /* 1. v0 by hand: [1 2 3; 4 5 6] . [7 8; 9 10; 11 12] = [58 64; 139 154] */
    {
        float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {7, 8, 9, 10, 11, 12}, C[4], want[4] = {58, 64, 139, 154};
        matmul_v0(C, A, B, 2, 3, 2);
        double e = 0;
        for (int i = 0; i < 4; i++) e = worse(e, fabs(C[i] - want[i]));
        report(e <= 0, "v0_by_hand", "[1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [58 64; 139 154]: max |error| %.1e (tolerance %.0f, exact)", e, 0);
    }

    uint64_t rng = ut_rng_seed(12);
    float *A[NS], *B[NS], *C0[NS];
    for (int s = 0; s < NS; s++) {
        int M = S[s][0], K = S[s][1], N = S[s][2];
        A[s] = randn((size_t)M * K, &rng); B[s] = randn((size_t)K * N, &rng); C0[s] = nans((size_t)M * N);
        matmul_v0(C0[s], A[s], B[s], M, K, N);
    }

    /* 2. v0 itself is not exact: against the same loop in double */
    {
        double e = 0;
        for (int s = 0; s < NS; s++) {
            int M = S[s][0], K = S[s][1], N = S[s][2];
            float *Cd = nans((size_t)M * N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double sum = 0;
                    for (int k = 0; k < K; k++) sum += (double)A[s][(size_t)i * K + k] * B[s][(size_t)k * N + j];
                    Cd[(size_t)i * N + j] = (float)sum;
                }
            e = worse(e, err_vs(C0[s], Cd, (size_t)M * N, K));
            free(Cd);
        }
        report(e <= tol, "v0_naive_vs_double", "max |C0 - Cdouble| = %.2f eps sqrt(K) rms(C) (tolerance %.0f)", e, tol);
    }

    /* 3. your kernel on one full tile: a packed panel (stride NR), kc = 37 */
    {
        enum { KK = 37 };
        float *a = randn((size_t)MR * KK, &rng), *b = randn((size_t)KK * NR, &rng);
        float *c = nans((size_t)MR * NR), *ref = nans((size_t)MR * NR);
        matmul_v0(ref, a, b, MR, KK, NR);
        mm_kernel(KK, a, KK, 1, MR, b, NR, c, NR, NR, 1);
        double e = err_vs(c, ref, (size_t)MR * NR, KK);
        report(e <= tol, "kernel_one_tile", "MR x NR = %d x %d, kc = %d: %.2f eps sqrt(K) rms(C) (tolerance %.0f)",
               MR, NR, KK, e, tol);
        free(a); free(b); free(c); free(ref);
    }

    /* 4. a ragged tile that adds: mr = 3 rows, nr = 5 columns, overwrite = 0,
          A read transposed (rsa = 1, csa = 3: the way the header's dw product
          reads dout), b with row stride ldb = NR + 3. C starts at 1 + a value
          in the corner, -7 outside it; the corner must become 1 + A.B, the
          rest of C stay -7 exactly. */
    {
        enum { KK = 300, mr = 3, nr = 5, LDB = NR + 3, LDC = NR + 2 };
        float *at = randn((size_t)KK * mr, &rng), *b = randn((size_t)KK * LDB, &rng);
        float *a = malloc(sizeof(float) * mr * KK), *bb = malloc(sizeof(float) * KK * nr);
        float *ref = nans((size_t)mr * nr), *c = malloc(sizeof(float) * MR * LDC);
        for (int r = 0; r < mr; r++)          /* A (mr, K) row-major, for v0 */
            for (int k = 0; k < KK; k++) a[r * KK + k] = at[k * mr + r];
        for (int k = 0; k < KK; k++)          /* the nr columns of b, for v0 */
            for (int j = 0; j < nr; j++) bb[k * nr + j] = b[k * LDB + j];
        matmul_v0(ref, a, bb, mr, KK, nr);
        for (int i = 0; i < MR * LDC; i++) c[i] = -7;
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) { c[r * LDC + j] = 1; ref[r * nr + j] += 1; }
        mm_kernel(KK, at, 1, mr, mr, b, LDB, c, LDC, nr, 0);
        float *corner = malloc(sizeof(float) * mr * nr);
        int outside = 0;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < LDC; j++) {
                if (r < mr && j < nr) corner[r * nr + j] = c[r * LDC + j];
                else outside += c[r * LDC + j] != -7;
            }
        double e = outside ? NAN : err_vs(corner, ref, (size_t)mr * nr, KK);
        report(e <= tol, "kernel_ragged_tile_adds", "mr=3 nr=5 kc=300, A transposed, C += A.B: %.2f eps sqrt(K) rms(C), "
               "%d elements outside the corner changed (tolerance %.0f, 0 changed)", e, outside, tol);
        free(at); free(b); free(a); free(bb); free(ref); free(c); free(corner);
    }

    /* 5-9. every rung against v0, on every shape */
    double err[NV] = {0};
    for (int v = 1; v < NV; v++) {
        for (int s = 0; s < NS; s++) {
            int M = S[s][0], K = S[s][1], N = S[s][2];
            float *C = nans((size_t)M * N), *w = transpose(B[s], K, N);
            v5_w = w;
            V[v].f(C, A[s], B[s], M, K, N);
            err[v] = worse(err[v], err_vs(C, C0[s], (size_t)M * N, K));
            free(C); free(w);
        }
        report(err[v] <= tol, V[v].name, "max |C%d - C0| = %.2f eps sqrt(K) rms(C) over %d shapes (tolerance %.0f)",
               v, err[v], (int)NS, tol);
    }
    for (int s = 0; s < NS; s++) { free(A[s]); free(B[s]); free(C0[s]); }

    /* the timings: information, not checks */
    static const int small[][3] = {{256, 256, 256}};
    static const int big[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {1000, 1000, 1000},
                                 {2048, 384, 1024}};
    const int lng = getenv("LONG") != NULL && *getenv("LONG");
    const int (*T)[3] = lng ? big : small;
    const int nt = lng ? (int)(sizeof big / sizeof big[0]) : 1;
    printf("time  GFLOP/s on one thread (CPU time), best of %s runs; MR=%d NR=%d KC=%d (float, %d per SIMD register)%s\n",
           lng ? "5 (v0: 1)" : "5", MR, NR, KC, VLEN, lng ? "" : "; LONG=1 for larger sizes");
    printf("time  %-16s", "M x K x N");
    for (int v = 0; v < NV; v++) printf(" %17s", V[v].name);
    printf("\n");
    for (int t = 0; t < nt; t++) {
        char shape[40];
        snprintf(shape, sizeof shape, "%dx%dx%d", T[t][0], T[t][1], T[t][2]);
        printf("time  %-16s", shape);
        for (int v = 0; v < NV; v++) {
            if (v > 0 && !(err[v] <= tol)) { printf(" %17s", "(failed)"); continue; }
            int reps = v == 0 && T[t][0] * (long)T[t][1] * T[t][2] > (1L << 26) ? 1 : 5;
            printf(" %17.1f", gflops(v, T[t][0], T[t][1], T[t][2], reps, &rng));
            fflush(stdout);
        }
        printf("\n");
    }
    return failed;
}
