/* lessons/13-checkpoints/reduce.c — the exercise: one sum, split three ways.
   Build and run:  cc -O2 -fopenmp lessons/13-checkpoints/reduce.c -o reduce -lm && ./reduce
   (or LONG=1 make lesson N=13). n = 2^20 float32 numbers, summed in float:
     serial      one loop, i = 0 .. n-1: the order the plain code fixes
     chunks C    C fixed chunks, each summed in order, the C partial sums
                 added in chunk order (what ut_grad_norm does): the same
                 bits for ANY number of threads, but a different C is a
                 different order, so different bits
     reversed    the same 64 chunks, partial sums added last to first
     shuffled    1024 chunks, partial sums added in a random order (what a
                 scrambled completion order does)
     completion  1024 chunks, each partial sum added as soon as its
                 chunk is done (omp critical): the order depends on timing,
                 so the bits can change from run to run with 2+ threads
   Each result is printed with its bits and its relative difference from the
   exact sum (computed in double). Float addition is not associative:
   (a + b) + c and a + (b + c) round differently. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { N = 1 << 20 };
static float x[N];

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static void show(const char *what, float s, double exact) {
    printf("%-24s %.9g  0x%08x  rel diff %.1e\n", what, s, bits(s), fabs(s - exact) / fabs(exact));
}

static float sum_chunks(int C) {        /* fixed chunks, partial sums in chunk order */
    float part[1024];
    #pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < C; c++) {
        float s = 0;
        for (int i = c * (N / C); i < (c + 1) * (N / C); i++) s += x[i];
        part[c] = s;
    }
    float s = 0;
    for (int c = 0; c < C; c++) s += part[c];
    return s;
}
static float sum_completion(int C) {     /* chunk sums added as each chunk finishes */
    float s = 0;
    #pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < C; c++) {
        float mine = 0;
        for (int i = c * (N / C); i < (c + 1) * (N / C); i++) mine += x[i];
        #pragma omp critical
        s += mine;
    }
    return s;
}
static float sum_chunks_reversed(int C) { /* fixed chunks, partial sums added last to first */
    float s = 0;
    for (int c = C - 1; c >= 0; c--) {
        float mine = 0;
        for (int i = c * (N / C); i < (c + 1) * (N / C); i++) mine += x[i];
        s += mine;
    }
    return s;
}

/* 1024 chunks whose partial sums are added in a shuffled order: what a
   completion order looks like when the threads finish in a scrambled way */
static float sum_shuffled(uint64_t seed) {
    enum { C = 1024 };
    static int order[C];
    float s = 0;
    for (int c = 0; c < C; c++) order[c] = c;
    for (int c = C - 1; c > 0; c--) {          /* Fisher-Yates with xorshift64 */
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        int j = (int)(seed % (uint64_t)(c + 1)), t = order[c];
        order[c] = order[j]; order[j] = t;
    }
    for (int k = 0; k < C; k++) {
        float mine = 0;
        for (int i = order[k] * (N / C); i < (order[k] + 1) * (N / C); i++) mine += x[i];
        s += mine;
    }
    return s;
}

int main(void) {
    uint64_t r = 88172645463325252ull;   /* xorshift64: numbers in [0.5, 1.5) */
    double exact = 0;
    for (int i = 0; i < N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        x[i] = 0.5f + (float)(r >> 40) / (float)(1 << 24);
        exact += x[i];
    }
    printf("n = %d float32 numbers in [0.5, 1.5), exact sum %.9g\n", N, exact);
    float s = 0;
    for (int i = 0; i < N; i++) s += x[i];
    show("serial", s, exact);
    show("chunks 64, reversed", sum_chunks_reversed(64), exact);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        char name[48];
        snprintf(name, sizeof name, "1024 shuffled, seed %d", (int)seed);
        show(name, sum_shuffled(seed), exact);
    }
    int threads[] = {1, 2, 4};
    for (int t = 0; t < 3; t++) {
#ifdef _OPENMP
        omp_set_num_threads(threads[t]);
#endif
        char name[64];
        for (int C = 4; C <= 64; C *= 4) {
            snprintf(name, sizeof name, "chunks %2d, %d thread%s", C, threads[t], threads[t] > 1 ? "s" : "");
            show(name, sum_chunks(C), exact);
        }
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "completion 1024, %d thread%s", threads[t], threads[t] > 1 ? "s" : "");
            show(name, sum_completion(1024), exact);
        }
    }
    return 0;
}
