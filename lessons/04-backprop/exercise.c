/* lessons/04-backprop/exercise.c — YOUR backward pass of the linear layer.
   Fill in the two TODOs, then run `make lesson N=4`. The signature is that of
   ut_matmul_backward_naive in ultrathink.h (section 4, "MATMUL"); ut_float is
   double here (the check compiles with UT_DOUBLE, so finite differences are
   accurate).

   The forward (ut_matmul_forward_naive) is, with w stored (OC, C) as in
   PyTorch's nn.Linear:
       out[n][o] = sum_i inp[n][i] * w[o][i]          inp (N, C), w (OC, C) -> out (N, OC)
   Given dout = dL/dout (N, OC), the chain rule gives its two gradients:
       dinp[n][i] += sum_o dout[n][o] * w[o][i]       dinp (N, C)   = dout . w
       dw[o][i]   += sum_n dout[n][o] * inp[n][i]     dw   (OC, C)  = dout^T . inp
   ADD (+=), do not overwrite: an input used twice (the residual stream, tied
   embeddings) must receive both contributions. Either pointer may be NULL:
   then that gradient is not wanted (skip it).                              */

void matmul_backward(ut_float *dinp, ut_float *dw, const ut_float *dout, const ut_float *inp,
                     const ut_float *w, int N, int C, int OC) {
    /* TODO 1: if dinp is not NULL, for each n and i: the sum over o, added to dinp.  */
    /* TODO 2: if dw is not NULL, for each o and i: the sum over n, added to dw.      */
    (void)dinp; (void)dw; (void)dout; (void)inp; (void)w; (void)N; (void)C; (void)OC;
}
