/* Weight initializers: the one fill every layer uses (tg_init_fill_fans) and
 * the [out, in] form of tg_mlp and user code (tg_init_fill). */
#include "tapegrad/nn.h"

#include <math.h>

static bool init_ok(tg_init init) { return init >= TG_INIT_XAVIER && init <= TG_INIT_NORMAL; }

const char *tg_init_name(tg_init init)
{
    static const char *names[] = {"xavier", "he", "zeros", "normal"};
    return init_ok(init) ? names[init] : "?";
}

tg_status tg_init_fill_fans(tg_tensor *w, tg_init init, double fan_in, double fan_out, double stddev, tg_rng *rng)
{
    if (!w)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_tensor_ctx(w);
    if (!ctx || tg_tensor_size(w) < 0) /* a freed or stale tensor: its accessor reported it */
        return ctx && tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx) : TG_ERR_FREED;
    if (!rng && init != TG_INIT_ZEROS) /* zeros need no randomness */
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: rng is NULL");
    if (!init_ok(init))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: unknown init %d; expected a TG_INIT_ value", (int)init);
    if (!(stddev >= 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: stddev is %g; expected >= 0", stddev);
    if (!(fan_in > 0 && fan_out > 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: fan_in %g, fan_out %g; expected both > 0", fan_in,
                           fan_out);
    double limit = sqrt(6.0 / (fan_in + fan_out)); /* Glorot: Var = a²/3 = 2/(in + out) */
    double he_std = sqrt(2.0 / fan_in);            /* He: Var = 2/in */
    for (int64_t i = 0, n = tg_tensor_size(w); i < n; i++) {
        double v = 0;
        switch (init) {
        case TG_INIT_XAVIER: v = limit * (2 * tg_rng_uniform(rng) - 1); break;
        case TG_INIT_HE: v = he_std * tg_rng_normal(rng); break;
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_NORMAL: v = stddev * tg_rng_normal(rng); break;
        }
        tg_tensor_set(w, i, v);
    }
    return TG_OK;
}

tg_status tg_init_fill(tg_tensor *w, tg_init init, double stddev, tg_rng *rng)
{
    if (!w)
        return TG_ERR_ARG;
    int rank = tg_tensor_rank(w);
    if (rank < 1 || rank > 2) {
        char buf[64];
        return tg_ctx_fail(tg_tensor_ctx(w), TG_ERR_SHAPE, "tg_init_fill: tensor has shape %s; expected [out, in] "
                           "or [n]", tg_shape_str(rank, tg_tensor_shape(w), buf, sizeof buf));
    }
    double fan_out = rank == 2 ? (double)tg_tensor_dim(w, 0) : 1;
    return tg_init_fill_fans(w, init, (double)tg_tensor_dim(w, -1), fan_out, stddev, rng);
}
