/* lessons/05-rmsnorm/exercise.c — YOUR RMSNorm. Fill in the two TODOs, then
   run `make lesson N=5`. The signatures are those of ut_rmsnorm_forward and
   ut_rmsnorm_backward in ultrathink.h (section 5); ut_float is double here
   (the check compiles with UT_DOUBLE, so finite differences are accurate).

   x (N, D), w (D) -> out (N, D), rstd (N):
       rstd_n = 1 / sqrt(mean_i x_ni^2 + eps)
       out_ni = x_ni * rstd_n * w_i                                          */

void rmsnorm_forward(ut_float *out, ut_float *rstd, const ut_float *x, const ut_float *w,
                     int N, int D, float eps) {
    /* TODO: for each row n: the mean of the squares, rstd[n], then out.      */
    (void)out; (void)rstd; (void)x; (void)w; (void)N; (void)D; (void)eps;
}

/* Backward: dout (N, D) is dL/dout. ADD (+=) dL/dx into dx and dL/dw into dw.
   With g_i = dout_i * w_i and xhat_i = x_i * rstd:
       dx_i = rstd * (g_i - xhat_i * mean_j(g_j * xhat_j))
       dw_i += sum over rows of dout_i * xhat_i                              */
void rmsnorm_backward(ut_float *dx, ut_float *dw, const ut_float *dout, const ut_float *x,
                      const ut_float *w, const ut_float *rstd, int N, int D) {
    /* TODO: per row, the dot product mean_j(g_j * xhat_j), then dx; and dw.  */
    (void)dx; (void)dw; (void)dout; (void)x; (void)w; (void)rstd; (void)N; (void)D;
}
