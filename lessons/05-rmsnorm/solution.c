/* lessons/05-rmsnorm/solution.c — one solution (the loops of ut_rmsnorm_*,
   ultrathink.h section 5, without the OpenMP and SIMD pragmas). */

void rmsnorm_forward(ut_float *out, ut_float *rstd, const ut_float *x, const ut_float *w,
                     int N, int D, float eps) {
    for (int n = 0; n < N; n++) {
        const ut_float *xr = x + (size_t)n * D;
        ut_float ss = 0;
        for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        ut_float r = 1 / sqrt(ss / D + eps);
        for (int i = 0; i < D; i++) out[(size_t)n * D + i] = xr[i] * r * w[i];
        rstd[n] = r;
    }
}

void rmsnorm_backward(ut_float *dx, ut_float *dw, const ut_float *dout, const ut_float *x,
                      const ut_float *w, const ut_float *rstd, int N, int D) {
    for (int n = 0; n < N; n++) {
        const ut_float *xr = x + (size_t)n * D, *dy = dout + (size_t)n * D;
        ut_float r = rstd[n], gx = 0;   /* mean_j g_j * xhat_j */
        for (int i = 0; i < D; i++) gx += dy[i] * w[i] * xr[i] * r;
        gx /= D;
        for (int i = 0; i < D; i++) dx[(size_t)n * D + i] += r * (dy[i] * w[i] - xr[i] * r * gx);
        for (int i = 0; i < D; i++) dw[i] += dy[i] * xr[i] * r;
    }
}
