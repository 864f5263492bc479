/* lessons/06-attention/exercise.c — YOUR attention. Fill in the two TODOs,
   then run `make lesson N=6`. The signatures are those of
   ut_attention_forward_naive and ut_attention_backward_naive in ultrathink.h
   (section 5, "Causal grouped-query attention"); ut_float is double here (the
   check compiles with UT_DOUBLE, so finite differences are accurate).

   Shapes: q (B, T, H, HD); k, v (B, T, KVH, HD) -> y (B, T, H, HD),
   att (B, H, T, T). Element (b, t, h, i) of q is q[((b*T + t)*H + h)*HD + i].
   Query head h reads key/value head h / (H/KVH) (grouped-query attention).

   For each b, h and query position t, over the VISIBLE keys u, i.e. u <= t
   (causal) and, when window > 0, t - u < window (sliding window):
       s[u]      = q_t . k_u / sqrt(HD)
       att[t, u] = softmax(s)[u]        (subtract the max first; 0 if not visible)
       y_t       = sum_u att[t, u] v_u                                         */

void attention_forward(ut_float *y, ut_float *att, const ut_float *q, const ut_float *k,
                       const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    /* TODO: loops over b, h, t; inside, the scores of the visible keys, the
       softmax, then y_t. Write every entry of att (0 where not visible).      */
    (void)y; (void)att; (void)q; (void)k; (void)v;
    (void)B; (void)T; (void)H; (void)KVH; (void)HD; (void)window;
}

/* Backward: dy (B, T, H, HD) is dL/dy. ADD (+=) into dq, dk and dv (a K/V head
   collects from every query head of its group). For each b, h, t, visible u:
       datt[u] = dy_t . v_u                     dv_u += att[t, u] dy_t
       ds[u]   = att[t, u] (datt[u] - sum_u' att[t, u'] datt[u'])   (softmax)
       dq_t   += ds[u] k_u / sqrt(HD)           dk_u += ds[u] q_t / sqrt(HD)  */
void attention_backward(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                        const ut_float *att, const ut_float *q, const ut_float *k,
                        const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    /* TODO: the same loops; first the sum over u' for row t, then dq, dk, dv. */
    (void)dq; (void)dk; (void)dv; (void)dy; (void)att; (void)q; (void)k; (void)v;
    (void)B; (void)T; (void)H; (void)KVH; (void)HD; (void)window;
}
