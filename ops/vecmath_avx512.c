/* Vectorised f32 math, AVX-512F: 16 lanes, masks in k registers. The
 * algorithms are in vecmath_kernels.h; the set is chosen in vecmath.c.
 * Compiled with per-function target attributes (as ops/gemm.c), so the
 * library needs no -mavx512f flag and runs on any x86-64. */
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;

#define VM_LANES 16
#define VM_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define VM_FN VM_TARGET static inline
#define VM_SET tg_vecmath_avx512

VM_FN vf v_set(float c) { return _mm512_set1_ps(c); }
VM_FN vf v_load(const float *p) { return _mm512_loadu_ps(p); }
VM_FN void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
VM_FN vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
VM_FN vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
VM_FN vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
VM_FN vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
VM_FN vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
VM_FN vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); } /* a < b ? a : b */
VM_FN vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); } /* a > b ? a : b */
VM_FN vm v_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
VM_FN vm v_isnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
VM_FN vf v_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
VM_FN vi v_bits(vf a) { return _mm512_castps_si512(a); }
VM_FN vf v_from_bits(vi a) { return _mm512_castsi512_ps(a); }
VM_FN vi v_iset(int32_t c) { return _mm512_set1_epi32(c); }
VM_FN vi v_iadd(vi a, vi b) { return _mm512_add_epi32(a, b); }
VM_FN vi v_isub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
#define v_ishl(a, k) _mm512_slli_epi32(a, k)
#define v_isrl(a, k) _mm512_srli_epi32(a, k)
#define v_isra(a, k) _mm512_srai_epi32(a, k)
VM_FN vi v_iand(vi a, vi b) { return _mm512_and_si512(a, b); }
VM_FN vi v_ior(vi a, vi b) { return _mm512_or_si512(a, b); }
VM_FN vi v_imin(vi a, vi b) { return _mm512_min_epi32(a, b); }
VM_FN vi v_imax(vi a, vi b) { return _mm512_max_epi32(a, b); }
VM_FN vm v_ilt(vi a, vi b) { return _mm512_cmplt_epi32_mask(a, b); }
VM_FN vi v_isel(vm m, vi a, vi b) { return _mm512_mask_blend_epi32(m, b, a); }
VM_FN vf v_i2f(vi a) { return _mm512_cvtepi32_ps(a); }
VM_FN vi v_f2i(vf a) { return _mm512_cvttps_epi32(a); }
VM_FN vf v_lookup(const float *table, vi i) { return _mm512_permutexvar_ps(i, _mm512_loadu_ps(table)); }

#include "vecmath_kernels.h"

#endif /* __x86_64__ */
