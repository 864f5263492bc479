/* lessons/12-matmul/exercise.c — YOUR micro-kernel, the rung that makes the
   ladder fast. Fill in the TODOs, then run `make lesson N=12`. v2, v3 and v4
   in ladder.c all call it; the check compares each of them with the naive v0.
   It mirrors ut__mm_kernel in ultrathink.h appendix A.3 (read that only after
   trying; the header's has no ldb: it reads packed panels, stride NR).

   Computes one MR x NR tile of C (MR, NR: ladder.c, from the SIMD width):

       C[r][j]  =  sum_{k < kc} A(r, k) * b[k*ldb + j]      r < mr, j < nr
                   (or C[r][j] += that sum, when overwrite is 0)

   with A(r, k) = a[r*rsa + k*csa]. Rules that make it fast AND correct:
   - keep the MR x NR sums in a local array acc[MR][NR] with the compile-time
     sizes MR and NR (not mr, nr): the compiler unrolls it into registers;
   - per k: load NR numbers of b (one row, contiguous), then for each row r
     broadcast one number of A and multiply-add it into acc[r][0..NR) -- use
     FMA(a, b, c) from ladder.c;
   - always run the full MR x NR tile (fixed trip counts vectorise): rows
     r >= mr may read row mr-1 of A instead (valid memory, result dropped),
     columns j >= nr of b are valid memory (zeros in a packed panel);
   - store only the mr x nr corner of C, once, at the end.                  */

void mm_kernel(int kc, const float *a, long rsa, long csa, int mr, const float *restrict b, long ldb,
               float *restrict c, long ldc, int nr, int overwrite) {
    /* TODO 1: float acc[MR][NR], all zero; row pointers ar[r] into a, with
               rows past mr-1 pointing at row mr-1.                           */
    /* TODO 2: for k in [0, kc): bk = b + k*ldb; for each r: av = ar[r][k*csa];
               for j in [0, NR): acc[r][j] = FMA(av, bk[j], acc[r][j]).         */
    /* TODO 3: for r < mr, j < nr: c[r*ldc + j] = acc[r][j] (or += when
               overwrite is 0).                                                */
    (void)kc; (void)a; (void)rsa; (void)csa; (void)mr; (void)b; (void)ldb;
    (void)c; (void)ldc; (void)nr; (void)overwrite;
}
