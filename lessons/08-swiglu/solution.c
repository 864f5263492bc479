/* lessons/08-swiglu/solution.c — one solution: the loops of ut_silu_mul_* and
   the calls of ut_swiglu_* (ultrathink.h section 5), with the plain matmul of
   section 4 in place of the fast one. */

void silu_mul_forward(ut_float *h, const ut_float *gate, const ut_float *up, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = gate[i] / (1 + exp(-gate[i])) * up[i];
}

void silu_mul_backward(ut_float *dgate, ut_float *dup, const ut_float *dh, const ut_float *gate,
                       const ut_float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        ut_float g = gate[i], sg = 1 / (1 + exp(-g)), d = dh[i];   /* d read first: dgate may be dh */
        dup[i] = d * g * sg;
        dgate[i] = d * up[i] * sg * (1 + g * (1 - sg));
    }
}

void swiglu_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h, const ut_float *x,
                    const ut_float *wg, const ut_float *wu, const ut_float *wd, int N, int D, int F) {
    ut_matmul_forward_naive(gate, x, wg, N, D, F);      /* gate = x wg^T  (N, F) */
    ut_matmul_forward_naive(up, x, wu, N, D, F);        /* up   = x wu^T  (N, F) */
    silu_mul_forward(h, gate, up, (size_t)N * F);       /* h = silu(gate) * up */
    ut_matmul_forward_naive(out, h, wd, N, F, D);       /* out  = h wd^T  (N, D) */
}

void swiglu_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                     const ut_float *dout, const ut_float *gate, const ut_float *up,
                     const ut_float *h, const ut_float *x, const ut_float *wg,
                     const ut_float *wu, const ut_float *wd, ut_float *scratch, int N, int D, int F) {
    size_t NF = (size_t)N * F;
    ut_float *dh = scratch, *dup = scratch + NF;
    for (size_t i = 0; i < NF; i++) dh[i] = 0;                  /* the backward adds into it */
    ut_matmul_backward_naive(dh, dwd, dout, h, wd, N, F, D);    /* dh = dout wd, dwd += dout^T h */
    silu_mul_backward(dh, dup, dh, gate, up, NF);               /* dgate (over dh), dup */
    ut_matmul_backward_naive(dx, dwg, dh, x, wg, N, D, F);      /* dx += dgate wg, dwg += dgate^T x */
    ut_matmul_backward_naive(dx, dwu, dup, x, wu, N, D, F);     /* dx += dup wu,   dwu += dup^T x */
}
