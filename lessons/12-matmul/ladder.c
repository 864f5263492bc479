/* lessons/12-matmul/ladder.c — the ladder: one product, five ways, from the
   textbook triple loop to the packed, register-tiled, cache-blocked kernel of
   ultrathink.h appendix A. Read it top to bottom next to the README.

   Every version computes the same product (float, every matrix row-major):

       C (M, N)  =  A (M, K) . B (K, N)        C[i][j] = sum_k A[i][k] B[k][j]

   The header's forward, ut_matmul_forward(out, inp, w, N, C, OC), is this
   product with A = inp, K = C and B = w^T (w is stored (OC, C), PyTorch's
   layout). Here B is given already as a (K, N) row-major matrix, so that the
   loop-order version v1 reads it along rows; the header reads w^T through
   strides, and its packing (A.2) turns that into the same panels as v3's.

   v0  naive, loops (i, j, k)       a dot product per output
   v1  loop order (i, k, j)         the inner loop runs along rows of B and C
   v2  register tile                an MR x NR block of C in registers
   v3  + packing                    B copied once into NR-wide panels
   v4  + cache blocking (KC)        the sum over k in blocks of KC
   (v5, in check.c, is the header's own ut_matmul_forward on one thread.)

   v2-v4 call the micro-kernel mm_kernel, which is YOUR part: exercise.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The register tile, sized for the target (as ultrathink.h A.1) -------- */
/* VLEN floats fit in one SIMD register. The tile is MR rows x NR columns; NR is
   two registers wide, so the tile's accumulators take MR*NR/VLEN registers:
   16 of AVX-512's 32 (MR = 8) or 12 of AVX2's 16 (MR = 6), leaving room for
   the two registers of B and the broadcast number of A. */
#if defined(__AVX512F__)
#  define VLEN 16
#elif defined(__AVX__)
#  define VLEN 8
#else
#  define VLEN 4   /* SSE2, NEON, or a plain scalar target */
#endif
/* (Each can be set from outside for the experiments in the README, e.g.
   -DMR=16; the defaults are the header's UT__MR, UT__NR, UT__KC.) */
#ifndef NR
#  define NR (2 * VLEN)
#endif
#ifndef MR
#  if VLEN == 16 || defined(__aarch64__)
#    define MR 8
#  else
#    define MR 6
#  endif
#endif
#ifndef KC
#  define KC 256   /* a KC x NR panel of B: 256 * 32 * 4 bytes = 32 KB, fits in L1 */
#endif

/* One fused multiply-add when the CPU has one (see ultrathink.h A.1: in
   -std=c11 mode gcc does not fuse a*b + c by itself). */
#ifdef FP_FAST_FMAF
#  define FMA(a, b, c) fmaf((a), (b), (c))
#else
#  define FMA(a, b, c) ((a) * (b) + (c))
#endif

/* The micro-kernel (exercise.c / solution.c), the mirror of ut__mm_kernel (A.3):
       C[0..mr) x [0..nr)  =  (or +=, when overwrite is 0)
       A-strip (mr x kc, A(r, k) at a[r*rsa + k*csa])  .  b (kc x NR, B(k, j) at b[k*ldb + j])
   It reads NR numbers of b for every k (columns past nr must be valid memory,
   and are not stored). The header's kernel has no ldb: it only ever reads
   packed panels, whose row stride is NR; v2 needs the stride to read B in place. */
void mm_kernel(int kc, const float *a, long rsa, long csa, int mr, const float *restrict b, long ldb,
               float *restrict c, long ldc, int nr, int overwrite);

/* ---- v0: the textbook loops ------------------------------------------------ */
/* For each output, a dot product of row i of A and column j of B. Two loads per
   multiply-add, one of them N floats away from the last (a new cache line every
   time), and one running sum: the compiler may not vectorise it, because adding
   16 partial sums instead would change the order of the additions (without
   -ffast-math, C promises that order). This is the reference: ut_matmul_forward_naive
   in section 4 is the same loop with w^T. */
static void matmul_v0(float *C, const float *A, const float *B, int M, int K, int N) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float sum = 0;
            for (int k = 0; k < K; k++) sum += A[(size_t)i * K + k] * B[(size_t)k * N + j];
            C[(size_t)i * N + j] = sum;
        }
}

/* ---- v1: swap the two inner loops ----------------------------------------- */
/* Same additions, same order for each C[i][j] (k = 0, 1, ...), but the inner
   loop now walks along row k of B and row i of C: unit stride, and N
   independent sums, so it vectorises without reordering anything. What is
   still slow: the row of C is loaded and stored again for every k (M*N*K
   loads + stores of C), and for large N that row no longer stays in L1. */
static void matmul_v1(float *C, const float *A, const float *B, int M, int K, int N) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * N;
        for (int j = 0; j < N; j++) c[j] = 0;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * K + k];
            const float *b = B + (size_t)k * N;
            for (int j = 0; j < N; j++) c[j] = FMA(a, b[j], c[j]);
        }
    }
}

/* ---- v2: the register tile, reading B where it lies ------------------------ */
/* C is cut into MR x NR tiles; mm_kernel keeps one tile's MR*NR sums in
   registers for the whole sum over k, so C is written once instead of K times,
   and each number of B loaded is used MR times, each number of A NR times.
   Here the kernel reads B in place: the NR numbers for one k are contiguous
   (a piece of row k), the next k is ldb = N floats further on. Two problems
   remain, and packing (v3) solves both: the rows of B are N floats apart, so
   the K pieces a tile reads lie on K different pairs of cache lines, spread
   over many pages (and when N*4 bytes is a multiple of 4 KB they all compete
   for the same few sets of the L1 cache); and the last NR-wide slice is
   ragged when N is not a multiple of NR: the kernel always reads NR numbers
   per k, so that slice is first copied, zero-padded, into a buffer of its own. */
static void matmul_v2(float *C, const float *A, const float *B, int M, int K, int N) {
    float *edge = malloc((size_t)(K > 0 ? K : 1) * NR * sizeof *edge);
    for (int j0 = 0; j0 < N; j0 += NR) {
        const int nr = N - j0 < NR ? N - j0 : NR;
        const float *b = B + j0;
        long ldb = N;
        if (nr < NR) {                                      /* the ragged edge: pad it */
            for (int k = 0; k < K; k++)
                for (int jj = 0; jj < NR; jj++) edge[(size_t)k * NR + jj] = jj < nr ? B[(size_t)k * N + j0 + jj] : 0;
            b = edge; ldb = NR;
        }
        for (int i0 = 0; i0 < M; i0 += MR) {
            const int mr = M - i0 < MR ? M - i0 : MR;
            mm_kernel(K, A + (size_t)i0 * K, K, 1, mr, b, ldb, C + (size_t)i0 * N + j0, N, nr, 1);
        }
    }
    free(edge);
}

/* ---- v3: pack B once ------------------------------------------------------- */
/* Packing (ut__mm_pack_b, A.2): panel p holds columns [p*NR, p*NR + NR) of B for
   every k, k-major, NR contiguous numbers per k, zeros past column N. The copy
   is O(K*N) against the product's O(M*K*N): done once, it is nearly free. The
   loops then run panel by panel (the panel is re-read by every strip of A). */
static void pack_b(float *bp, const float *B, int K, int N) {
    for (int j0 = 0; j0 < N; j0 += NR) {
        float *dst = bp + (size_t)(j0 / NR) * K * NR;
        const int nr = N - j0 < NR ? N - j0 : NR;
        for (int k = 0; k < K; k++)
            for (int jj = 0; jj < NR; jj++)
                dst[(size_t)k * NR + jj] = jj < nr ? B[(size_t)k * N + j0 + jj] : 0;
    }
}

static size_t packed_size(int K, int N) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

static void matmul_v3(float *C, const float *A, const float *B, int M, int K, int N) {
    float *bp = malloc((packed_size(K, N) > 0 ? packed_size(K, N) : 1) * sizeof *bp);
    pack_b(bp, B, K, N);
    for (int j0 = 0; j0 < N; j0 += NR) {                    /* one panel of B ... */
        const int nr = N - j0 < NR ? N - j0 : NR;
        const float *panel = bp + (size_t)(j0 / NR) * K * NR;
        for (int i0 = 0; i0 < M; i0 += MR) {                /* ... times every strip of A */
            const int mr = M - i0 < MR ? M - i0 : MR;
            mm_kernel(K, A + (size_t)i0 * K, K, 1, mr, panel, NR, C + (size_t)i0 * N + j0, N, nr, 1);
        }
    }
    free(bp);
}

/* ---- v4: cache blocking over k (KC) ---------------------------------------- */
/* In v3 a panel is K x NR floats: K * 128 bytes with AVX-512, 128 KB at
   K = 1024 -- too big for L1 (32-48 KB), so every strip of A re-reads it from
   L2. Cutting the sum into blocks of KC = 256 keeps a 32 KB piece of the panel
   in L1 while all the strips of A sweep past it. Each tile of C is now summed
   in K/KC pieces: the first overwrites C, the next ones add to it, in order of
   k (ut__gemm_block, A.4, runs exactly these three loops). */
static void matmul_v4(float *C, const float *A, const float *B, int M, int K, int N) {
    float *bp = malloc((packed_size(K, N) > 0 ? packed_size(K, N) : 1) * sizeof *bp);
    pack_b(bp, B, K, N);
    if (K == 0) memset(C, 0, (size_t)M * N * sizeof *C);
    for (int p0 = 0; p0 < K; p0 += KC) {                    /* reduction blocks, in order */
        const int kc = K - p0 < KC ? K - p0 : KC;
        for (int j0 = 0; j0 < N; j0 += NR) {                /* KC x NR piece of a panel: L1 */
            const int nr = N - j0 < NR ? N - j0 : NR;
            const float *panel = bp + (size_t)(j0 / NR) * K * NR + (size_t)p0 * NR;
            for (int i0 = 0; i0 < M; i0 += MR) {            /* MR-row strips of A */
                const int mr = M - i0 < MR ? M - i0 : MR;
                mm_kernel(kc, A + (size_t)i0 * K + p0, K, 1, mr, panel, NR,
                          C + (size_t)i0 * N + j0, N, nr, p0 == 0);
            }
        }
    }
    free(bp);
}
