/* lessons/15-quantization/check.c — checks your quantizer (exercise.c, or
   solution.c with SOLUTION=1) against things that do not depend on it:
   values worked out by hand, the error bound |w - q*s| <= s/2 evaluated
   EXACTLY (in double, where q*s and w - q*s of float numbers are exact), a
   naive absmax loop for the scales, the nibble layout, and the loss of a tiny
   random model before and after. One PASS/FAIL line per check. */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: quantize, dequantize, pack_int4, unpack_int4 */
#include "quant_model.h"


/* Quantizes w (n) in groups and measures everything the bound promises:
   returns max over i of |w_i - q_i s_g| / (s_g / 2) (exact, in double; 0/0
   counts as 0), or NaN if a q is out of [-qmax, qmax], a scale is not the
   group's absmax / qmax (relative 2^-22), or dequantize is not q_i * s_g
   rounded to float. */
static double bound_ratio(const ut_float *w, size_t n, size_t group, int bits) {
    int qmax = (1 << (bits - 1)) - 1;
    int8_t *q = calloc(n, 1);
    float *s = calloc(n / group, sizeof *s);
    ut_float *d = calloc(n, sizeof *d);
    quantize(q, s, w, n, group, bits);
    dequantize(d, q, s, n, group);
    double worst = 0;
    for (size_t g = 0; g < n / group; g++) {
        double amax = 0;   /* the naive absmax, in double */
        for (size_t i = g * group; i < (g + 1) * group; i++) amax = fmax(amax, fabs((double)w[i]));
        if (!(fabs(s[g] - amax / qmax) <= 0x1p-22 * amax / qmax)) worst = NAN;
        for (size_t i = g * group; i < (g + 1) * group; i++) {
            if (q[i] < -qmax || q[i] > qmax) worst = NAN;
            if (d[i] != (ut_float)((float)q[i] * s[g])) worst = NAN;
            double err = fabs((double)w[i] - (double)q[i] * (double)s[g]);
            double r = err == 0 ? 0 : err / (0.5 * (double)s[g]);   /* s = 0, err > 0: inf */
            if (!(r <= worst)) worst = isnan(worst) ? worst : r;
        }
    }
    free(q); free(s); free(d);
    return worst;
}

enum { R = 48, C = 96 };   /* a random matrix, rows of very different sizes */

int main(void) {
    /* 1. int8 by hand: group 1 = (0.5, -1.27, 0.01, 1.0): absmax 1.27, s =
          1.27 / 127 = 0.01, q = (50, -127, 1, 100), back to the same numbers.
          Group 2 is all zeros: s = 0, q = 0, back to 0 (not NaN). */
    {
        ut_float w[8] = {0.5f, -1.27f, 0.01f, 1.0f, 0, 0, 0, 0}, d[8];
        int8_t q[8] = {0}, want[8] = {50, -127, 1, 100, 0, 0, 0, 0};
        float s[2] = {-1, -1};
        for (int i = 0; i < 8; i++) d[i] = -1;
        quantize(q, s, w, 8, 4, 8);
        dequantize(d, q, s, 8, 4);
        double e = fabs(s[0] - 0.01) + fabs(s[1]);
        for (int i = 0; i < 8; i++) e += (q[i] != want[i]) + fabs(d[i] - w[i]);
        report(e <= 1e-6, "int8_by_hand", "(0.5,-1.27,0.01,1) -> s=0.01, q=(50,-127,1,100); zeros -> s=0: "
               "summed |error| %.2e (tolerance %.0e)", e, 1e-6);
    }
    /* 2. int4 by hand: (0.7, -0.33, 0.12): absmax 0.7, s = 0.7 / 7 = 0.1,
          q = (7, -3, 1) (-0.33 / 0.1 = -3.3 -> -3; 0.12 / 0.1 = 1.2 -> 1),
          back to (0.7, -0.3, 0.1). Packed: 7 = 0x7 low, -3 = 0xD high -> 0xD7;
          then 1 low, nothing high -> 0x01; the byte after is not touched. */
    {
        ut_float w[3] = {0.7f, -0.33f, 0.12f}, d[3] = {0, 0, 0}, want_d[3] = {0.7f, -0.3f, 0.1f};
        int8_t q[3] = {0, 0, 0}, want[3] = {7, -3, 1}, back[3] = {0, 0, 0};
        float s = -1;
        uint8_t p[3] = {0xAA, 0xAA, 0xAA};
        quantize(q, &s, w, 3, 3, 4);
        dequantize(d, q, &s, 3, 3);
        pack_int4(p, want, 3);
        unpack_int4(back, p, 3);
        double e = fabs(s - 0.1) + (p[0] != 0xD7) + (p[1] != 0x01) + (p[2] != 0xAA);
        for (int i = 0; i < 3; i++) e += (q[i] != want[i]) + fabs(d[i] - want_d[i]) + (back[i] != want[i]);
        report(e <= 1e-6, "int4_by_hand", "(0.7,-0.33,0.12) -> s=0.1, q=(7,-3,1), packed D7 01: "
               "summed |error| %.2e (tolerance %.0e)", e, 1e-6);
    }
    /* 3. packing: every pair of nibbles (a, b) in [-8, 7]^2 lands in byte
          (a & 15) | (b & 15) << 4 and comes back; odd n leaves the last
          high nibble 0. */
    {
        int8_t q[513], back[513];
        uint8_t p[257];
        for (int i = 0; i < 256; i++) { q[2 * i] = (int8_t)(i % 16 - 8); q[2 * i + 1] = (int8_t)(i / 16 - 8); }
        q[512] = -5;
        memset(p, 0xFF, sizeof p); memset(back, 0, sizeof back);
        pack_int4(p, q, 513);
        unpack_int4(back, p, 513);
        int bad = p[256] != (uint8_t)(-5 & 15);
        for (int i = 0; i < 256; i++) bad += p[i] != (uint8_t)((q[2 * i] & 15) | (q[2 * i + 1] & 15) << 4);
        for (int i = 0; i < 513; i++) bad += back[i] != q[i];
        report(bad == 0, "int4_pack_roundtrip", "256 nibble pairs + an odd tail: %.0f wrong (tolerance %.0f)", bad, 0);
    }
    /* 4. the bound on random weights: rows scaled by 10^(-3..3), int8 and
          int4, per tensor (group R*C), per row (C) and per group (32). */
    uint64_t rng = ut_rng_seed(15);
    ut_float *w = malloc(R * C * sizeof *w);
    for (int r = 0; r < R; r++) {
        double scale = pow(10, -3 + 6 * ut_rng_uniform(&rng));
        for (int c = 0; c < C; c++) w[r * C + c] = (ut_float)(scale * ut_rng_normal(&rng));
    }
    {
        size_t groups[3] = {R * C, C, 32};
        double worst = 0;
        for (int b = 8; b >= 4; b -= 4)
            for (int k = 0; k < 3; k++) {
                double r = bound_ratio(w, R * C, groups[k], b);
                if (!(r <= worst)) worst = r;
            }
        report(worst <= 1, "error_bound_random", "int8/int4 x tensor/row/group32: max |w - q*s| / (s/2) = %.6f "
               "(exact, tolerance %.0f)", worst, 1);
    }
    /* 5. the bound on adversarial weights, groups of 32: an all-zero group; a
          single outlier; exact ties (absmax 127 or 7, so s = 1, and w = k + 1/2:
          either neighbour is at exactly s/2); near ties, the floats next to
          (k + 1/2) s for s = 1/127 and 1/7, where a float division rounds the
          ratio onto the tie; and huge and tiny groups. */
    {
        enum { G = 32, NG = 14 };
        ut_float a[NG * G];
        memset(a, 0, sizeof a);                              /* group 0: zeros */
        for (int i = 0; i < G; i++) a[G + i] = (ut_float)(0.01 * ut_rng_normal(&rng));
        a[G + 17] = 1000;                                    /* group 1: one outlier */
        for (int i = 0; i < G; i++) {                        /* groups 2-3: exact ties */
            a[2 * G + i] = i == 0 ? 127 : (ut_float)((i % 2 ? -1 : 1) * (4 * i + 0.5));
            a[3 * G + i] = i == 0 ? -7 : (ut_float)((i % 2 ? -1 : 1) * (i % 7 + 0.5));
        }
        for (int grp = 4; grp < 12; grp++) {                 /* groups 4-11: near ties */
            int qmax = grp < 8 ? 127 : 7;
            float s = 1.0f / qmax;
            for (int i = 0; i < G; i++) {
                int k = (int)(ut_rng_u64(&rng) % (uint64_t)qmax);
                float t = (float)((k + 0.5) * s);
                int step = (grp % 4) - 2;                    /* -2 .. 1 ulps */
                for (; step < 0; step++) t = nextafterf(t, 0);
                for (; step > 0; step--) t = nextafterf(t, 1);
                a[grp * G + i] = i == 0 ? 1 : (ut_float)(i % 2 ? -t : t);
            }
        }
        for (int i = 0; i < G; i++) {                         /* groups 12-13: 1e30 and 1e-30 */
            a[12 * G + i] = (ut_float)(1e30 * ut_rng_normal(&rng));
            a[13 * G + i] = (ut_float)(1e-30 * ut_rng_normal(&rng));
        }
        double r8 = bound_ratio(a, NG * G, G, 8), r4 = bound_ratio(a, NG * G, G, 4);
        double worst = r8 > r4 || isnan(r8) ? r8 : r4;
        int8_t q[NG * G];
        float s[NG];
        ut_float d[NG * G];
        memset(q, 1, sizeof q); memset(s, 0xFF, sizeof s);
        quantize(q, s, a, NG * G, G, 4);
        for (int i = 0; i < NG * G; i++) d[i] = 1;
        dequantize(d, q, s, NG * G, G);
        int zeros_ok = s[0] == 0;
        for (int i = 0; i < G; i++) zeros_ok &= q[i] == 0 && d[i] == 0;
        report(zeros_ok && worst <= 1, "error_bound_adversarial", "zeros, outlier, ties, near ties, 1e+-30: "
               "max |w - q*s| / (s/2) = %.6f (exact, tolerance %.0f)", zeros_ok ? worst : NAN, 1);
    }
    /* 6. why groups: one outlier (100) in a 16 x 64 matrix of N(0,1). Per
          tensor int4 has s = 100/7 = 14.3, so every other weight (|w| < 7.1)
          becomes 0; groups of 32 keep them: the mean error of the other rows
          must drop by at least 5x. */
    {
        enum { OR = 16, OC = 64, ON = OR * OC };
        ut_float o[ON], d[ON];
        int8_t q[ON];
        float s[ON / 32] = {0};
        for (int i = 0; i < ON; i++) o[i] = (ut_float)ut_rng_normal(&rng);
        o[5 * OC + 7] = 100;
        double err_t = 0, err_g = 0;
        int nonzero = 0;
        memset(q, 1, sizeof q); memset(d, 0, sizeof d);
        quantize(q, s, o, ON, ON, 4);
        dequantize(d, q, s, ON, ON);
        for (int i = 0; i < ON; i++)
            if (i / OC != 5) { nonzero += q[i] != 0; err_t += fabs(o[i] - d[i]); }
        memset(q, 1, sizeof q); memset(d, 0, sizeof d);
        quantize(q, s, o, ON, 32, 4);
        dequantize(d, q, s, ON, 32);
        for (int i = 0; i < ON; i++)
            if (i / OC != 5) err_g += fabs(o[i] - d[i]);
        err_t /= ON - OC; err_g /= ON - OC;
        printf("  outlier: int4 per tensor: %d of %d other weights nonzero, mean |error| %.4f; groups of 32: %.4f\n",
               nonzero, ON - OC, err_t, err_g);
        report(nonzero == 0 && err_g * 5 <= err_t, "outlier_per_tensor_vs_group",
               "mean |error| per group / per tensor = %.4f (tolerance %.1f)", nonzero == 0 ? err_g / err_t : NAN, 0.2);
    }
    /* 7. quantizing what dequantize gave back changes nothing: same q, same
          scales (to an ulp: max |q s| / 127 need not round to s exactly). */
    {
        int8_t *q = calloc(R * C, 1), *q2 = calloc(R * C, 1);
        float *s = calloc(R * C, sizeof *s), *s2 = calloc(R * C, sizeof *s2);
        ut_float *d = calloc(R * C, sizeof *d);
        int bad = 0, groups = 0;
        for (int b = 8; b >= 4; b -= 4) {
            quantize(q, s, w, R * C, C, b);
            dequantize(d, q, s, R * C, C);
            quantize(q2, s2, d, R * C, C, b);
            for (int i = 0; i < R * C; i++) bad += q[i] != q2[i];
            for (int g = 0; g < R; g++) bad += !(fabsf(s[g] - s2[g]) <= 0x1p-22f * s[g]);
            for (int g = 0; g < R; g++) groups += s[g] > 0;
        }
        report(bad == 0 && groups == 2 * R, "roundtrip_requantize", "quantize(dequantize(q, s)) == (q, s), int8 and int4 "
               "per row: %.0f differ (tolerance %.0f)", groups == 2 * R ? bad : NAN, 0);
        free(q); free(q2); free(s); free(s2); free(d);
    }
    /* 8. a tiny random model (the default architecture, small: V 64, L 2,
          D 64, 4 experts of which 2 per token; the matrices' init scaled up
          3x so that its predictions are far from uniform) on 8 x 32 random
          tokens. The cost of quantizing is measured as the KL divergence of
          the quantized model's next-token distributions from the float
          model's, mean over the 256 positions: it is exactly how much the
          cross-entropy rises when the float model's own predictions are the
          targets (random targets would make the loss change a coin toss).
          int8 per row must cost at most 0.001 nats; int4 in groups of 32 at
          most 0.05, and at least 10x int8's (its step is 127/7 = 18x larger). */
    {
        ut_config c = ut_config_default();
        c.vocab_size = 64; c.max_seq_len = 32; c.n_layers = 2; c.d_model = 64; c.n_heads = 2;
        c.n_kv_heads = 1; c.head_dim = 32; c.ffn_hidden = 64; c.n_experts = 4; c.top_k = 2;
        enum { MB = 8, MT = 32, MV = 64 };
        ut_model m;
        if (ut_model_init(&m, &c, 15)) { printf("FAIL model_init %s\n", ut_error()); return 1; }
        size_t cnt, cols;
        for (int t = 0; t < UT_NUM_TENSORS; t++)
            if (qm_matrices(&m, t, &cnt, &cols))
                for (size_t i = 0; i < m.sizes[t]; i++) m.p[t][i] *= 3;
        ut_float *keep = malloc(m.n_params * sizeof *keep), *p0 = malloc((size_t)MB * MT * MV * sizeof *p0);
        memcpy(keep, m.params, m.n_params * sizeof *keep);
        int32_t toks[MB * MT + 1];    /* one batch of MB windows of MT + 1 tokens */
        for (int i = 0; i <= MB * MT; i++) toks[i] = (int32_t)(ut_rng_u64(&rng) % MV);
        ut_tokens d = {MV, 2, MB * MT + 1, MB * MT + 1, toks};
        double l0 = qm_eval(&m, &d, MB, MT, 1);
        memcpy(p0, m.a.probs, (size_t)MB * MT * MV * sizeof *p0);
        double dl[2], kl[2];
        size_t bytes[2];
        for (int k = 0; k < 2; k++) {
            memcpy(m.params, keep, m.n_params * sizeof *keep);
            bytes[k] = qm_quantize_model(&m, k == 0 ? 8 : 4, k == 0 ? QM_PER_ROW : QM_PER_GROUP, 32, NULL);
            dl[k] = qm_eval(&m, &d, MB, MT, 1) - l0;
            kl[k] = 0;
            for (size_t i = 0; i < (size_t)MB * MT * MV; i++) kl[k] += p0[i] * log(p0[i] / m.a.probs[i]);
            kl[k] /= MB * MT;
        }
        printf("  tiny model: %zu parameters, %zu bytes in float32; int8 per row %zu bytes, int4 groups of 32 %zu bytes\n",
               m.n_params, 4 * m.n_params, bytes[0], bytes[1]);
        printf("  loss on random targets: float %.5f, int8 per row %+.5f, int4 g32 %+.5f\n", l0, dl[0], dl[1]);
        report(kl[0] > 0 && kl[0] <= 1e-3, "model_int8_cost", "int8 per row: KL(float || int8) %.2e nats/token (tolerance %.0e)",
               kl[0], 1e-3);
        int more = kl[1] >= 10 * kl[0] && kl[0] > 0;
        report(more && kl[1] <= 0.05, "model_int4_cost", "int4 groups of 32: KL(float || int4) %.2e nats/token "
               "(tolerance %.2f; at least 10x int8's)", more ? kl[1] : NAN, 0.05);
        free(keep); free(p0);
        ut_model_free(&m);
    }
    free(w);
    return failed;
}
