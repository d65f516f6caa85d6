/* Maximum error of the vectorised f32 math (ops/vecmath.h) over f32 inputs,
 * against libm in double precision (tests/vecmath_reference.h): the sweep
 * behind the bounds stated in vecmath.h and docs/design.md.
 *
 *   ulp_vecmath [function|all] [stride] [threads] [isa]
 *
 * stride 1 (the default) visits all 2^32 bit patterns (about two minutes per
 * function on one idle core); stride 257 is the test's sample. isa: auto,
 * portable, avx2 or avx512. Error is |y - ref| in ulps of ref rounded to
 * float (the ulp of a subnormal being 2^-149); a NaN must meet a NaN, and a
 * reference beyond FLT_MAX an infinity of its sign. Derivative kernels run
 * with g = 1, their error in ulps of their larger term (see
 * vecmath_reference.h). Each line ends "ok" or "OVER" against the bound that
 * the test checks. */
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/vecmath_reference.h"

typedef struct {
    const vmref_case *c;
    const tg_vecmath_kernels *k;
    uint64_t begin, end, stride;
    double max_ulp;
    uint32_t worst_ulp;
    uint64_t count;
} sweep;

static void *run_sweep(void *arg)
{
    sweep *s = arg;
    enum { CHUNK = 4096 };
    float x[CHUNK], y[CHUNK], one[CHUNK];
    for (int i = 0; i < CHUNK; i++)
        one[i] = 1;
    tg_vec_unary_fn *map;
    tg_vec_binary_fn *fused;
    vmref_kernel(s->c, s->k, &map, &fused);
    for (uint64_t bits = s->begin; bits < s->end;) {
        int n = 0;
        for (; n < CHUNK && bits < s->end; n++, bits += s->stride) {
            uint32_t b32 = (uint32_t)bits;
            memcpy(&x[n], &b32, sizeof b32);
        }
        if (map)
            map(x, y, n);
        else
            fused(one, x, y, n);
        for (int i = 0; i < n; i++) {
            double ref = s->c->ref(x[i]);
            uint32_t xb;
            memcpy(&xb, &x[i], sizeof xb);
            double err = vmref_ulp_error(y[i], ref, s->c->terms ? s->c->terms(x[i]) : 0);
            if (err > s->max_ulp)
                s->max_ulp = err, s->worst_ulp = xb;
        }
        s->count += (uint64_t)n;
    }
    return NULL;
}

static tg_vecmath_isa parse_isa(const char *s)
{
    return !strcmp(s, "portable") ? TG_VECMATH_PORTABLE
           : !strcmp(s, "avx2")   ? TG_VECMATH_AVX2
           : !strcmp(s, "avx512") ? TG_VECMATH_AVX512
                                  : TG_VECMATH_AUTO;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    uint64_t stride = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    tg_vecmath_isa isa = parse_isa(argc > 4 ? argv[4] : "auto");
    if (stride < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: ulp_vecmath [function|all] [stride>=1] [threads 1..64] [auto|portable|avx2|avx512]\n");
        return 2;
    }
    const tg_vecmath_kernels *k = tg_vecmath_pick(isa);
    printf("kernels: %s, every %llu-th bit pattern\n", tg_vecmath_isa_name(isa), (unsigned long long)stride);
    int found = 0, over = 0;
    for (int ci = 0; ci < VMREF_CASES; ci++) {
        const vmref_case *c = &vmref_cases[ci];
        if (strcmp(which, "all") && strcmp(which, c->name))
            continue;
        found = 1;
        sweep s[64];
        pthread_t tid[64];
        uint64_t total = 1ull << 32, steps = (total + stride - 1) / stride;
        uint64_t per = (steps + (uint64_t)threads - 1) / (uint64_t)threads * stride;
        for (int t = 0; t < threads; t++) {
            uint64_t begin = per * (uint64_t)t, end = begin + per;
            begin = begin < total ? begin : total;
            s[t] = (sweep){.c = c, .k = k, .begin = begin, .end = end < total ? end : total, .stride = stride};
            pthread_create(&tid[t], NULL, run_sweep, &s[t]);
        }
        sweep all = {0};
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            all.count += s[t].count;
            if (s[t].max_ulp > all.max_ulp)
                all.max_ulp = s[t].max_ulp, all.worst_ulp = s[t].worst_ulp;
        }
        float wu;
        memcpy(&wu, &all.worst_ulp, sizeof wu);
        bool ok = all.max_ulp <= c->max_ulp;
        over += !ok;
        printf("%-19s %10llu inputs  max %.3f ulp at %a (%.9g)", c->name, (unsigned long long)all.count, all.max_ulp,
               wu, wu);
        if (c->terms)
            printf(" (of the larger term)");
        printf("  %s\n", ok ? "ok" : "OVER");
        fflush(stdout);
    }
    if (!found)
        fprintf(stderr, "ulp_vecmath: no function '%s'\n", which);
    return !found ? 2 : over != 0;
}
