/* lessons/07-rope/solution.c — one solution: the loops of ut_rope_tables and
   ut__rope (ultrathink.h, section 5), the forward and the backward written out. */

void rope_tables(ut_float *cos_t, ut_float *sin_t, int T, int HD, float theta) {
    int half = HD / 2;
    for (int p = 0; p < T; p++)
        for (int i = 0; i < half; i++) {
            double f = pow((double)theta, -2.0 * i / HD);
            cos_t[(size_t)p * half + i] = cos(p * f);
            sin_t[(size_t)p * half + i] = sin(p * f);
        }
}

/* rotates every pair (x_i, x_{i+HD/2}) of every head by +angle (sign 1) or
   by -angle (sign -1) */
static void rotate(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                   int nh, int HD, int pos0, ut_float sign) {
    int half = HD / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const ut_float *c = cos_t + (size_t)(pos0 + t) * half, *s = sin_t + (size_t)(pos0 + t) * half;
            for (int h = 0; h < nh; h++) {
                ut_float *v = x + (((size_t)b * T + t) * nh + h) * HD;
                for (int i = 0; i < half; i++) {
                    ut_float a = v[i], bb = v[i + half], sn = sign * s[i];
                    v[i] = a * c[i] - bb * sn;
                    v[i + half] = bb * c[i] + a * sn;
                }
            }
        }
}

void rope_forward(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                  int nh, int HD, int pos0) {
    rotate(x, cos_t, sin_t, B, T, nh, HD, pos0, 1);
}

void rope_backward(ut_float *dx, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                   int nh, int HD, int pos0) {
    rotate(dx, cos_t, sin_t, B, T, nh, HD, pos0, -1);
}
