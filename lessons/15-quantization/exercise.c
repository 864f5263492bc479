/* lessons/15-quantization/exercise.c — YOUR weight quantizer. Fill in the four
   TODOs, then run `make lesson N=15`. ultrathink.h has no quantizer (it trains
   in float); these four functions are the whole of weight-only quantization,
   and quant_model.h applies them to every matrix of a model.

   Symmetric absmax quantization to b bits (b = 8 or 4), qmax = 2^(b-1) - 1
   (127 or 7). w (n) is cut into n / group groups of `group` consecutive
   numbers; each group g gets one float scale:
       s_g = max_i |w_i| / qmax               (over the group's numbers)
       q_i = clamp(round(w_i / s_g), -qmax, qmax)       (0 when s_g == 0)
       dequantized w_i = q_i * s_g,  and  |w_i - q_i * s_g| <= s_g / 2.
   One function gives the three schemes: group = rows * cols (per tensor),
   group = cols (per row: a row of a row-major matrix is contiguous), or
   group = 32 (per group of 32 inside a row).                                */
#include <stdint.h>

/* w (n) -> q (n) in [-qmax, qmax], scales (n / group). n % group == 0. */
void quantize(int8_t *q, float *scales, const ut_float *w, size_t n, size_t group, int bits) {
    /* TODO: for each group: its absmax, its scale, then every q_i. Two traps:
       a group of zeros has scale 0 (do not divide by it), and w_i / s_g in
       float can round a ratio just below k + 1/2 up to the tie: divide in
       double, (double)w[i] / s.                                            */
    (void)q; (void)scales; (void)w; (void)n; (void)group; (void)bits;
}

/* q (n), scales (n / group) -> w (n): w_i = q_i * s_(i / group) */
void dequantize(ut_float *w, const int8_t *q, const float *scales, size_t n, size_t group) {
    /* TODO: one multiplication per number.                                 */
    (void)w; (void)q; (void)scales; (void)n; (void)group;
}

/* int4 storage, two numbers per byte: q[2j] in the LOW nibble (bits 0-3) of
   packed[j], q[2j+1] in the HIGH nibble (bits 4-7), each as 4-bit two's
   complement (-1 is 0xF, -7 is 0x9, 7 is 0x7). (n + 1) / 2 bytes; when n is
   odd the last byte's high nibble is 0. Example: q = (7, -3, 1) -> 0xD7, 0x01. */
void pack_int4(uint8_t *packed, const int8_t *q, size_t n) {
    /* TODO: keep the low 4 bits of each value (q & 0xF), put pairs together. */
    (void)packed; (void)q; (void)n;
}

/* The inverse: (n + 1) / 2 bytes -> q (n), each nibble sign-extended
   (a nibble v >= 8 stands for v - 16). */
void unpack_int4(int8_t *q, const uint8_t *packed, size_t n) {
    /* TODO: take nibble i % 2 of byte i / 2, then sign-extend it.           */
    (void)q; (void)packed; (void)n;
}
