/* Internal to ops/conv_lanes*.c: moving 16 images into the vector lanes
 * (16 floats of one position, one per image) and back. */
#ifndef TAPEGRAD_OPS_CONV_LANES_H
#define TAPEGRAD_OPS_CONV_LANES_H

#include "ops/conv.h"

#define LANES 16

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* r[k][l] ↔ r[l][k]: unpack pairs of rows, then pairs of pairs, then move
 * 128-bit quarters twice (64 shuffles). */
TG_CONV_AVX512 static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* u[4k + m], quarter q: rows 4k..4k+3 at column 4q + m */
    for (int k = 0; k < 4; k++) {
        u[4 * k] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        u[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        __m512 even_lo = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), odd_lo = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
        __m512 even_hi = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88),
               odd_hi = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
        r[m] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD);
        r[12 + m] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD);
    }
}

static inline __mmask16 lanes_mask(int64_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/* dst[at[q]·16 + l] = src[l·src_step + q] for q < len, images l < count
 * (zeros in the other lanes). */
TG_CONV_AVX512 static inline void lanes_gather(const float *src, int64_t src_step, int count, int64_t len,
                                               const int32_t *at, float *dst)
{
    for (int64_t q = 0; q < len; q += 16) {
        __mmask16 m = lanes_mask(len - q);
        __m512 r[16];
        for (int l = 0; l < 16; l++)
            r[l] = l < count ? _mm512_maskz_loadu_ps(m, src + l * src_step + q) : _mm512_setzero_ps();
        transpose16(r);
        int64_t n = len - q < 16 ? len - q : 16;
        for (int64_t k = 0; k < n; k++)
            _mm512_store_ps(dst + (int64_t)at[q + k] * 16, r[k]);
    }
}

#endif

#endif
