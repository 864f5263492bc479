/* lessons/04-backprop/solution.c — one solution: the loops of
   ut_matmul_backward_naive (ultrathink.h section 4). */

void matmul_backward(ut_float *dinp, ut_float *dw, const ut_float *dout, const ut_float *inp,
                     const ut_float *w, int N, int C, int OC) {
    if (dinp) { /* dinp (N, C) += dout (N, OC) . w (OC, C) */
        for (int n = 0; n < N; n++)
            for (int i = 0; i < C; i++) {
                ut_float sum = 0;
                for (int o = 0; o < OC; o++) sum += dout[(size_t)n * OC + o] * w[(size_t)o * C + i];
                dinp[(size_t)n * C + i] += sum;
            }
    }
    if (dw) { /* dw (OC, C) += dout (N, OC)^T . inp (N, C) */
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < C; i++) {
                ut_float sum = 0;
                for (int n = 0; n < N; n++) sum += dout[(size_t)n * OC + o] * inp[(size_t)n * C + i];
                dw[(size_t)o * C + i] += sum;
            }
    }
}
