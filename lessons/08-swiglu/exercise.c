/* lessons/08-swiglu/exercise.c — YOUR SwiGLU MLP. Fill in the four TODOs,
   then run `make lesson N=8`. The signatures are those of ut_silu_mul_forward,
   ut_silu_mul_backward, ut_swiglu_forward and ut_swiglu_backward in
   ultrathink.h (section 5, "SwiGLU MLP"); ut_float is double here (the check
   compiles with UT_DOUBLE, so finite differences are accurate). Use exp()
   from <math.h>; for the three products, plain loops or the header's
   ut_matmul_forward_naive / ut_matmul_backward_naive (section 4).

       sigmoid(g) = 1 / (1 + e^-g)        silu(g) = g * sigmoid(g)
       silu'(g)   = sigmoid(g) * (1 + g * (1 - sigmoid(g)))                  */

/* h = silu(gate) * up, elementwise over n numbers. */
void silu_mul_forward(ut_float *h, const ut_float *gate, const ut_float *up, size_t n) {
    /* TODO: one line in a loop. */
    (void)h; (void)gate; (void)up; (void)n;
}

/* Given dh = dL/dh, WRITE (=, not +=) dgate = dL/dgate and dup = dL/dup:
       dgate = dh * up * silu'(gate)      dup = dh * silu(gate)
   dgate may be the same array as dh: read dh[i] before writing dgate[i]. */
void silu_mul_backward(ut_float *dgate, ut_float *dup, const ut_float *dh, const ut_float *gate,
                       const ut_float *up, size_t n) {
    /* TODO */
    (void)dgate; (void)dup; (void)dh; (void)gate; (void)up; (void)n;
}

/* x (N, D); wg, wu (F, D); wd (D, F)  ->  out (N, D); gate, up, h (N, F) are
   saved for the backward:
       gate = x wg^T    up = x wu^T    h = silu(gate) * up    out = h wd^T   */
void swiglu_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h, const ut_float *x,
                    const ut_float *wg, const ut_float *wu, const ut_float *wd, int N, int D, int F) {
    /* TODO: two products, the activation, one product. */
    (void)out; (void)gate; (void)up; (void)h; (void)x; (void)wg; (void)wu; (void)wd;
    (void)N; (void)D; (void)F;
}

/* dout (N, D) is dL/dout. ADD (+=) into dx (N, D), dwg, dwu (F, D), dwd (D, F):
       dh  = dout wd                     dwd += dout^T h
       dgate, dup from silu_mul_backward
       dwg += dgate^T x    dwu += dup^T x    dx += dgate wg + dup wu
   scratch holds 2*N*F numbers for dh (or dgate) and dup; it arrives with
   garbage in it. */
void swiglu_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                     const ut_float *dout, const ut_float *gate, const ut_float *up,
                     const ut_float *h, const ut_float *x, const ut_float *wg,
                     const ut_float *wu, const ut_float *wd, ut_float *scratch, int N, int D, int F) {
    /* TODO: the forward read backwards. */
    (void)dx; (void)dwg; (void)dwu; (void)dwd; (void)dout; (void)gate; (void)up; (void)h; (void)x;
    (void)wg; (void)wu; (void)wd; (void)scratch; (void)N; (void)D; (void)F;
}
