/* lessons/07-rope/exercise.c — YOUR RoPE. Fill in the three TODOs, then run
   `make lesson N=7`. The signatures are those of ut_rope_tables,
   ut_rope_forward and ut_rope_backward in ultrathink.h (section 5, "RoPE:
   rotary position embedding"); ut_float is double here (the check compiles
   with UT_DOUBLE, so finite differences are accurate).

   Tables (T, HD/2): position p, pair i < HD/2, frequency f_i = theta^(-2i/HD):
       cos_t[p*HD/2 + i] = cos(p f_i)      sin_t[p*HD/2 + i] = sin(p f_i)

   Forward, in place on x (B, T, nh, HD) -- q with nh = H, k with nh = KVH.
   Token t sits at position p = pos0 + t. The rotate-half layout (Hugging
   Face's Llama): feature i is paired with feature i + HD/2, NOT with i + 1.
       x'_i        = x_i cos(p f_i) - x_{i+HD/2} sin(p f_i)
       x'_{i+HD/2} = x_{i+HD/2} cos(p f_i) + x_i sin(p f_i)                   */

void rope_tables(ut_float *cos_t, ut_float *sin_t, int T, int HD, float theta) {
    /* TODO: two loops, p < T and i < HD/2. Compute f_i in double (pow).      */
    (void)cos_t; (void)sin_t; (void)T; (void)HD; (void)theta;
}

void rope_forward(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                  int nh, int HD, int pos0) {
    /* TODO: loops over b, t, the head h and the pair i; element (b, t, h, j)
       of x is x[((b*T + t)*nh + h)*HD + j]. Read both features of a pair
       before you write either.                                               */
    (void)x; (void)cos_t; (void)sin_t; (void)B; (void)T; (void)nh; (void)HD; (void)pos0;
}

/* Backward, in place on dx: it holds dL/dx' and must become dL/dx. The
   forward multiplies each pair by a rotation matrix R(angle); the gradient
   goes through its transpose, R^T = R(-angle): the same loop with sin negated. */
void rope_backward(ut_float *dx, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                   int nh, int HD, int pos0) {
    /* TODO */
    (void)dx; (void)cos_t; (void)sin_t; (void)B; (void)T; (void)nh; (void)HD; (void)pos0;
}
