/* lessons/15-quantization/solution.c — one solution: symmetric absmax
   quantization in groups of `group` consecutive numbers, and int4 packing. */
#include <math.h>
#include <stdint.h>

void quantize(int8_t *q, float *scales, const ut_float *w, size_t n, size_t group, int bits) {
    int qmax = (1 << (bits - 1)) - 1;   /* 127 for int8, 7 for int4 */
    for (size_t g = 0; g < n / group; g++) {
        const ut_float *x = w + g * group;
        float amax = 0;
        for (size_t i = 0; i < group; i++) amax = fmaxf(amax, fabsf((float)x[i]));
        float s = amax / (float)qmax;
        scales[g] = s;
        for (size_t i = 0; i < group; i++) {
            /* the ratio in double: exact enough that round() picks the nearest
               integer (in float, a ratio just below k + 1/2 can round up to it) */
            double r = s > 0 ? round((double)x[i] / s) : 0;
            q[g * group + i] = (int8_t)(r > qmax ? qmax : r < -qmax ? -qmax : r);
        }
    }
}

void dequantize(ut_float *w, const int8_t *q, const float *scales, size_t n, size_t group) {
    for (size_t i = 0; i < n; i++) w[i] = (ut_float)(q[i] * scales[i / group]);
}

void pack_int4(uint8_t *packed, const int8_t *q, size_t n) {
    for (size_t i = 0; i < n; i += 2) {
        unsigned lo = (unsigned)q[i] & 0xF, hi = i + 1 < n ? (unsigned)q[i + 1] & 0xF : 0;
        packed[i / 2] = (uint8_t)(lo | hi << 4);
    }
}

void unpack_int4(int8_t *q, const uint8_t *packed, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int v = i % 2 == 0 ? packed[i / 2] & 0xF : packed[i / 2] >> 4;
        q[i] = (int8_t)(v >= 8 ? v - 16 : v);   /* 4-bit two's complement: 0xF is -1 */
    }
}
