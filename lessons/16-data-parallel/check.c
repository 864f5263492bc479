/* lessons/16-data-parallel/check.c — the checks of your ring all-reduce,
   run on several ranks: mpirun -np 3 (check.sh launches it). Built with
   mpicc and your exercise.c (or solution.c) through LESSON_IMPL. Rank 0
   prints one PASS/FAIL line per check; the exit status is 1 if any failed.

   1. exact sums: small integers (exact in float, whatever the order of the
      additions), n = 1, 2, 5, 1000, 4099 (also n < ranks and n not a
      multiple of them): every element must equal the sum worked out here.
   2. random floats against MPI_Allreduce: within 1e-6 of the sum of
      absolute values (the two may add in different orders), and the same
      bits on every rank (a checksum of the result, min = max over ranks).
   3. data-parallel training of a linear model, y = w.x, 20 steps of SGD:
      24 examples per step, each rank takes its 24/W; the gradients are
      summed with your all-reduce. After every step every rank holds the
      same w (bit for bit), and at the end w is the one-process full-batch
      w to 1e-5. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>
#include LESSON_IMPL

static int rank, world, failed;

/* 1 on every rank if ok is 1 on every rank */
static int all_ok(int ok) { int all; MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD); return all; }
static void report(int ok, const char *name, const char *detail) {
    ok = all_ok(ok);
    if (rank == 0) printf("%s %s %s\n", ok ? "PASS" : "FAIL", name, detail);
    if (!ok) failed = 1;
}
static uint64_t hash(const float *x, size_t n) {   /* FNV-1a over the bytes */
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(float); i++) { h ^= b[i]; h *= 1099511628211ull; }
    return h;
}
/* the same bits on every rank: min and max of the checksum agree */
static int same_everywhere(const float *x, size_t n) {
    unsigned long long h = hash(x, n), lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}
static float frand(uint64_t *s) {   /* uniform in [-1, 1) */
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) / 8388608.0 - 1.0);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    char d[256];

    /* 1. exact integer sums */
    size_t sizes[] = {1, 2, 5, 1000, 4099};
    int ok = 1;
    size_t bad_n = 0, bad_i = 0;
    float got = 0, want = 0;
    for (int k = 0; k < 5; k++) {
        size_t n = sizes[k];
        float *x = (float *)malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) x[i] = (float)((rank + 1) * (int)(i % 7) + rank);
        ring_allreduce(x, n, MPI_COMM_WORLD);
        for (size_t i = 0; i < n && ok; i++) {
            float w = 0;   /* sum over r of (r+1)(i%7) + r */
            for (int r = 0; r < world; r++) w += (float)((r + 1) * (int)(i % 7) + r);
            if (x[i] != w) { ok = 0; bad_n = n; bad_i = i; got = x[i]; want = w; }
        }
        free(x);
    }
    if (ok) snprintf(d, sizeof d, "n = 1, 2, 5, 1000, 4099 on %d ranks: every element is the exact sum", world);
    else snprintf(d, sizeof d, "n = %zu: element %zu is %g, the sum over the ranks is %g (rank %d)", bad_n, bad_i,
                  (double)got, (double)want, rank);
    report(ok, "ring_allreduce_exact_sums", d);

    /* 2. random floats against MPI_Allreduce, and the same bits everywhere */
    size_t n = 10007;
    float *x = (float *)malloc(n * sizeof(float)), *ref = (float *)malloc(n * sizeof(float));
    float *mag = (float *)malloc(n * sizeof(float));
    uint64_t seed = 1234 + 77 * (uint64_t)rank;
    for (size_t i = 0; i < n; i++) { x[i] = ref[i] = frand(&seed) * 100; mag[i] = fabsf(x[i]); }
    MPI_Allreduce(MPI_IN_PLACE, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, mag, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    ring_allreduce(x, n, MPI_COMM_WORLD);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)x[i] - ref[i]) / ((double)mag[i] + 1e-30);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    snprintf(d, sizeof d, "n = %zu random floats: largest |ring - MPI_Allreduce| / sum|x| = %.2g (tolerance 1e-6)", n, worst);
    report(worst <= 1e-6, "ring_allreduce_matches_mpi", d);
    report(same_everywhere(x, n), "ring_allreduce_same_bits_on_every_rank",
           "the result's checksum is the same on every rank (each block is summed once, then copied)");
    free(x); free(ref); free(mag);

    /* 3. data-parallel SGD on y = w.x (D = 8), 24 examples per step */
    enum { D = 8, NB = 24, STEPS = 20 };
    static float X[NB][D], Y[NB], wd[D], w1[D];
    uint64_t s = 99;   /* the same data on every rank: each uses its own rows */
    for (int i = 0; i < NB; i++) {
        Y[i] = 0;
        for (int j = 0; j < D; j++) { X[i][j] = frand(&s); Y[i] += (float)(j + 1) * 0.1f * X[i][j]; }
    }
    int lo = NB * rank / world, hi = NB * (rank + 1) / world, every_step = 1;
    float lr = 0.1f;
    memset(wd, 0, sizeof wd); memset(w1, 0, sizeof w1);
    for (int step = 0; step < STEPS; step++) {
        float g[D] = {0}, g1[D] = {0};
        /* loss = mean over the NB examples of (w.x - y)^2; dloss/dw = 2/NB sum (w.x - y) x */
        for (int i = lo; i < hi; i++) {            /* this rank's examples */
            float e = -Y[i];
            for (int j = 0; j < D; j++) e += wd[j] * X[i][j];
            for (int j = 0; j < D; j++) g[j] += 2.0f / NB * e * X[i][j];
        }
        ring_allreduce(g, D, MPI_COMM_WORLD);        /* the whole batch's gradient */
        for (int j = 0; j < D; j++) wd[j] -= lr * g[j];
        every_step &= same_everywhere(wd, D);
        for (int i = 0; i < NB; i++) {              /* the one-process reference: all examples */
            float e = -Y[i];
            for (int j = 0; j < D; j++) e += w1[j] * X[i][j];
            for (int j = 0; j < D; j++) g1[j] += 2.0f / NB * e * X[i][j];
        }
        for (int j = 0; j < D; j++) w1[j] -= lr * g1[j];
    }
    double diff = 0;
    for (int j = 0; j < D; j++) diff = fmax(diff, fabs((double)wd[j] - w1[j]));
    if (isnan(wd[0])) diff = INFINITY;
    snprintf(d, sizeof d, "%d SGD steps, %d examples split over %d ranks: the same w on every rank after every step",
             STEPS, NB, world);
    report(every_step, "data_parallel_same_weights_every_step", d);
    snprintf(d, sizeof d, "max |w(%d ranks) - w(one process)| = %.2g after %d steps (tolerance 1e-5); w[7] = %.4f",
             world, diff, STEPS, (double)wd[D - 1]);
    report(diff <= 1e-5 && wd[D - 1] != 0, "data_parallel_equals_one_process", d);
    MPI_Finalize();
    return failed;
}
