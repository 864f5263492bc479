/* lessons/12-matmul/solution.c — one solution: the loops of ut__mm_kernel
   (ultrathink.h appendix A.3, the gcc path), with a row stride ldb for b. */

void mm_kernel(int kc, const float *a, long rsa, long csa, int mr, const float *restrict b, long ldb,
               float *restrict c, long ldc, int nr, int overwrite) {
    float acc[MR][NR];                        /* MR*NR/VLEN registers once unrolled */
    const float *ar[MR];                      /* rows r >= mr re-read row mr-1: valid */
    for (int r = 0; r < MR; r++) ar[r] = a + (long)(r < mr ? r : mr - 1) * rsa;   /* memory, result dropped */
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = 0;
    for (int k = 0; k < kc; k++) {
        const float *restrict bk = b + (size_t)k * ldb;   /* NR numbers of B (2 vector loads) */
        for (int r = 0; r < MR; r++) {
            const float av = ar[r][(long)k * csa];      /* one number of A, broadcast ... */
            for (int j = 0; j < NR; j++)                 /* ... times NR numbers of B */
                acc[r][j] = FMA(av, bk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++) {            /* store only the valid mr x nr corner */
        float *cr = c + (size_t)r * ldc;
        for (int j = 0; j < nr; j++) cr[j] = overwrite ? acc[r][j] : cr[j] + acc[r][j];
    }
}
