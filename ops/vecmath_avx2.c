/* Vectorised f32 math, AVX2 + FMA: 8 lanes. The algorithms are in
 * vecmath_kernels.h; the set is chosen in vecmath.c. Compiled with
 * per-function target attributes (as ops/gemm.c), so the library needs no
 * -mavx flags and runs on any x86-64. */
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm; /* all-ones lanes */

#define VM_LANES 8
#define VM_TARGET __attribute__((target("avx2,fma")))
#define VM_FN VM_TARGET static inline
#define VM_SET tg_vecmath_avx2

VM_FN vf v_set(float c) { return _mm256_set1_ps(c); }
VM_FN vf v_load(const float *p) { return _mm256_loadu_ps(p); }
VM_FN void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
VM_FN vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
VM_FN vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
VM_FN vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
VM_FN vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
VM_FN vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
VM_FN vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); } /* a < b ? a : b */
VM_FN vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); } /* a > b ? a : b */
VM_FN vm v_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
VM_FN vm v_isnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
VM_FN vf v_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
VM_FN vi v_bits(vf a) { return _mm256_castps_si256(a); }
VM_FN vf v_from_bits(vi a) { return _mm256_castsi256_ps(a); }
VM_FN vi v_iset(int32_t c) { return _mm256_set1_epi32(c); }
VM_FN vi v_iadd(vi a, vi b) { return _mm256_add_epi32(a, b); }
VM_FN vi v_isub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
#define v_ishl(a, k) _mm256_slli_epi32(a, k)
#define v_isrl(a, k) _mm256_srli_epi32(a, k)
#define v_isra(a, k) _mm256_srai_epi32(a, k)
VM_FN vi v_iand(vi a, vi b) { return _mm256_and_si256(a, b); }
VM_FN vi v_ior(vi a, vi b) { return _mm256_or_si256(a, b); }
VM_FN vi v_imin(vi a, vi b) { return _mm256_min_epi32(a, b); }
VM_FN vi v_imax(vi a, vi b) { return _mm256_max_epi32(a, b); }
VM_FN vm v_ilt(vi a, vi b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, a)); }
VM_FN vi v_isel(vm m, vi a, vi b)
{
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), m));
}
VM_FN vf v_i2f(vi a) { return _mm256_cvtepi32_ps(a); }
VM_FN vi v_f2i(vf a) { return _mm256_cvttps_epi32(a); }
VM_FN vf v_lookup(const float *table, vi i) { return _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), i); }

#include "vecmath_kernels.h"

#endif /* __x86_64__ */
