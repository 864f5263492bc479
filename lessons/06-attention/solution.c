/* lessons/06-attention/solution.c — one solution: the loops of
   ut_attention_forward_naive and ut_attention_backward_naive (ultrathink.h,
   section 5), with the index arithmetic in small helpers. */

/* where row (b, t) of head h starts, in a tensor of nh heads (q, y: H; k, v: KVH) */
static size_t row_at(int b, int t, int h, int T, int nh, int HD) {
    return (((size_t)b * T + t) * nh + h) * HD;
}
/* the first key query t may see: 0, or t - window + 1 with a sliding window */
static int first_visible(int t, int window) {
    return (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
}

void attention_forward(ut_float *y, ut_float *att, const ut_float *q, const ut_float *k,
                       const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    int group = H / KVH;
    ut_float scale = 1 / sqrt((double)HD);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const ut_float *qt = q + row_at(b, t, h, T, H, HD);
                ut_float *yt = y + row_at(b, t, h, T, H, HD);
                ut_float *a = att + (((size_t)b * H + h) * T + t) * T;   /* att[b, h, t, :] */
                int kvh = h / group, u0 = first_visible(t, window);
                ut_float mx = -INFINITY, sum = 0;
                for (int u = 0; u < T; u++) a[u] = 0;
                for (int u = u0; u <= t; u++) {                 /* the scores */
                    const ut_float *ku = k + row_at(b, u, kvh, T, KVH, HD);
                    ut_float qk = 0;
                    for (int i = 0; i < HD; i++) qk += qt[i] * ku[i];
                    a[u] = qk * scale;
                    if (a[u] > mx) mx = a[u];
                }
                for (int u = u0; u <= t; u++) { a[u] = exp(a[u] - mx); sum += a[u]; }
                for (int u = u0; u <= t; u++) a[u] /= sum;       /* the softmax */
                for (int i = 0; i < HD; i++) yt[i] = 0;
                for (int u = u0; u <= t; u++) {                 /* y_t = sum_u att[t, u] v_u */
                    const ut_float *vu = v + row_at(b, u, kvh, T, KVH, HD);
                    for (int i = 0; i < HD; i++) yt[i] += a[u] * vu[i];
                }
            }
}

void attention_backward(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                        const ut_float *att, const ut_float *q, const ut_float *k,
                        const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    int group = H / KVH;
    ut_float scale = 1 / sqrt((double)HD);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const ut_float *qt = q + row_at(b, t, h, T, H, HD), *dyt = dy + row_at(b, t, h, T, H, HD);
                ut_float *dqt = dq + row_at(b, t, h, T, H, HD);
                const ut_float *a = att + (((size_t)b * H + h) * T + t) * T;
                int kvh = h / group, u0 = first_visible(t, window);
                ut_float sum = 0;                               /* sum_u att[t,u] datt[u] */
                for (int u = u0; u <= t; u++) {
                    const ut_float *vu = v + row_at(b, u, kvh, T, KVH, HD);
                    ut_float datt = 0;
                    for (int i = 0; i < HD; i++) datt += dyt[i] * vu[i];
                    sum += a[u] * datt;
                }
                for (int u = u0; u <= t; u++) {
                    size_t kv = row_at(b, u, kvh, T, KVH, HD);
                    ut_float datt = 0;
                    for (int i = 0; i < HD; i++) datt += dyt[i] * v[kv + i];
                    ut_float ds = a[u] * (datt - sum) * scale;   /* through the softmax and the scale */
                    for (int i = 0; i < HD; i++) {
                        dqt[i] += ds * k[kv + i];
                        dk[kv + i] += ds * qt[i];
                        dv[kv + i] += a[u] * dyt[i];
                    }
                }
            }
}
