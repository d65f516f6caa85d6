/* Data-parallel training over MPI processes: tg_train's reduce callback
 * (tg_reduce_fn) calls MPI_Allreduce on the flat gradient, so every rank
 * takes the same optimizer step with the gradient of the whole global batch.
 *
 *   mpirun -np 2 build/mpi_data_parallel [--steps 40] [--batch 64] [--threads 1]
 *                                        [--optim sgd|adam] [--mismatch]
 *
 * The data (four noisy Gaussian classes in 20 dimensions) are made from one
 * seed on every rank; rank r of R takes its share of every global batch of
 * --batch samples (shares differ by at most one sample). Each rank may also
 * split its share across --threads threads: the two levels compose.
 *
 * After training, all ranks check that they hold the same parameters, and
 * rank 0 trains the same model in one process on whole batches and prints the
 * largest relative difference of a parameter tensor (‖a - b‖/‖b‖); the exit
 * status is 0 when it is at most 1e-5. --mismatch gives rank 1 a wider hidden
 * layer: the reduce then finds gradient buffers of different sizes on
 * different ranks and every rank stops with an error instead of summing
 * mismatched buffers (exit status 3).
 *
 * Built only when CMake finds MPI (Debian: libopenmpi-dev, openmpi-bin); the
 * library itself does not depend on it. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

enum { FEATURES = 20, CLASSES = 4 };

/* Sums buffer over all ranks in place, after checking that every rank passes
 * the same number of values: MPI_Allreduce on buffers of different sizes is
 * undefined (a hang or silently wrong sums), so it must never be called so. */
static tg_status mpi_sum(tg_ctx *ctx, void *buffer, int64_t count, tg_dtype dtype, void *user)
{
    MPI_Comm comm = *(MPI_Comm *)user;
    long long bounds[2] = {count, -count}; /* max of count and of -count: the largest and the smallest */
    if (MPI_Allreduce(MPI_IN_PLACE, bounds, 2, MPI_LONG_LONG, MPI_MAX, comm) != MPI_SUCCESS)
        return tg_ctx_fail(ctx, TG_ERR_IO, "MPI reduce: MPI_Allreduce of the buffer sizes failed");
    if (bounds[0] != count || -bounds[1] != count) {
        int rank;
        MPI_Comm_rank(comm, &rank);
        return tg_ctx_fail(ctx, TG_ERR_ARG, "MPI reduce: rank %d has a gradient of %lld values, the ranks' sizes "
                           "range from %lld to %lld: the ranks train different models", rank, (long long)count,
                           -bounds[1], bounds[0]);
    }
    if (count > 0x7fffffff)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "MPI reduce: %lld values exceed one MPI call's int count",
                           (long long)count);
    if (MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, dtype == TG_F32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, comm) !=
        MPI_SUCCESS)
        return tg_ctx_fail(ctx, TG_ERR_IO, "MPI reduce: MPI_Allreduce of %lld values failed", (long long)count);
    return TG_OK;
}

/* Sample i of the global data set: class i mod 4 around its center. */
static void sample(int64_t i, double *x, double *y)
{
    tg_rng rng = tg_rng_seed(1000 + (uint64_t)i);
    int c = (int)(i % CLASSES);
    for (int f = 0; f < FEATURES; f++)
        x[f] = (f % CLASSES == c ? 1.5 : 0) + tg_rng_normal(&rng);
    *y = c;
}

/* Rank `rank` of `ranks`: its share of each of `steps` global batches of `batch`. */
static tg_dataset *share_of(tg_ctx *ctx, int64_t steps, int64_t batch, int rank, int ranks, int64_t *share)
{
    int64_t begin = 0;
    for (int r = 0; r < rank; r++)
        begin += batch / ranks + (r < batch % ranks);
    *share = batch / ranks + (rank < batch % ranks);
    double *x = malloc(sizeof(double) * (size_t)(steps * *share * FEATURES));
    double *y = malloc(sizeof(double) * (size_t)(steps * *share));
    if (!x || !y) {
        free(x);
        free(y);
        return NULL;
    }
    for (int64_t s = 0, at = 0; s < steps; s++)
        for (int64_t j = 0; j < *share; j++, at++)
            sample(s * batch + begin + j, x + at * FEATURES, y + at);
    tg_dataset *d = tg_dataset_from_values(ctx, steps * *share, FEATURES, x, 1, y, CLASSES);
    free(x);
    free(y);
    return d;
}

static tg_mlp *make_model(tg_ctx *ctx, int64_t hidden)
{
    tg_rng rng = tg_rng_seed(7); /* one seed: every rank starts from the same values */
    const int64_t widths[] = {FEATURES, hidden, CLASSES};
    const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_NONE};
    return tg_mlp_new(ctx, TG_F32, 2, widths, acts, TG_INIT_XAVIER, &rng);
}

static tg_optimizer *make_optimizer(tg_mlp *mlp, const char *optim)
{
    return !strcmp(optim, "adam") ? tg_optim_adam_new(tg_mlp_params(mlp), 1e-2, 0.9, 0.999, 1e-8)
                                  : tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);
}

/* Trains mlp on data in batches of `batch`, through reduce when it is set. */
static tg_status train(tg_ctx *ctx, tg_mlp *mlp, tg_optimizer *opt, const tg_dataset *data, int64_t batch,
                       int threads, tg_reduce_fn reduce, void *reduce_user)
{
    tg_train_config c = tg_train_defaults();
    tg_train_use_mlp(&c, mlp);
    c.loss = tg_loss_softmax_ce;
    c.optimizer = opt;
    c.batch_size = batch;
    c.shuffle = false; /* batch s of every rank is its share of global batch s */
    c.progress = 0;
    c.threads = threads;
    c.reduce = reduce;
    c.reduce_user = reduce_user;
    return tg_train(ctx, data, &c, NULL);
}

/* Largest ‖a - b‖/‖b‖ over the parameter tensors. */
static double largest_difference(tg_params a, tg_params b)
{
    double worst = 0;
    for (int i = 0; i < a.count; i++) {
        double diff = 0, norm = 0;
        for (int64_t j = 0; j < tg_tensor_size(a.items[i]); j++) {
            double u = tg_tensor_get(a.items[i], j), v = tg_tensor_get(b.items[i], j);
            diff += (u - v) * (u - v);
            norm += v * v;
        }
        double rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
        worst = rel > worst ? rel : worst;
    }
    return worst;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, ranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    int64_t steps = 40, batch = 64;
    int threads = 1;
    bool mismatch = false;
    const char *optim = "sgd";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--steps"))
            steps = atoll(v), i++;
        else if (!strcmp(argv[i], "--batch"))
            batch = atoll(v), i++;
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(v), i++;
        else if (!strcmp(argv[i], "--optim"))
            optim = v, i++;
        else if (!strcmp(argv[i], "--mismatch"))
            mismatch = true;
        else {
            if (rank == 0)
                fprintf(stderr, "usage: mpirun -np R %s [--steps N] [--batch N] [--threads N] [--optim sgd|adam] "
                        "[--mismatch]\n", argv[0]);
            MPI_Finalize();
            return 2;
        }
    }
    if (steps < 1 || batch < ranks) {
        if (rank == 0)
            fprintf(stderr, "mpi_data_parallel: need --steps >= 1 and --batch >= the number of ranks (%d)\n", ranks);
        MPI_Finalize();
        return 2;
    }

    tg_ctx *ctx = tg_ctx_new(threads);
    int64_t share;
    tg_dataset *data = share_of(ctx, steps, batch, rank, ranks, &share);
    tg_mlp *mlp = data ? make_model(ctx, mismatch && rank == 1 ? 33 : 32) : NULL;
    tg_optimizer *opt = mlp ? make_optimizer(mlp, optim) : NULL;
    tg_status status = opt ? train(ctx, mlp, opt, data, share, threads, mpi_sum, &comm) : tg_ctx_status(ctx);
    int code = 0;
    if (status != TG_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, tg_ctx_error(ctx));
        code = 3;
    } else {
        /* every rank holds the same parameters: elementwise max and min agree */
        tg_params p = tg_mlp_params(mlp);
        int64_t n = tg_params_count(p), at = 0;
        double *values = malloc(sizeof(double) * (size_t)n), *low = malloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < p.count; i++)
            for (int64_t j = 0; j < tg_tensor_size(p.items[i]); j++)
                values[at++] = tg_tensor_get(p.items[i], j);
        memcpy(low, values, sizeof(double) * (size_t)n);
        MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_DOUBLE, MPI_MAX, comm);
        MPI_Allreduce(MPI_IN_PLACE, low, (int)n, MPI_DOUBLE, MPI_MIN, comm);
        bool same = !memcmp(values, low, sizeof(double) * (size_t)n);
        free(values);
        free(low);
        if (rank == 0) {
            printf("%d ranks x %d thread%s, %lld steps of %lld samples (%lld on rank 0), %s: ranks hold %s "
                   "parameters\n", ranks, threads, threads > 1 ? "s" : "", (long long)steps, (long long)batch,
                   (long long)share, optim, same ? "the same" : "DIFFERENT");
            /* the reference: one process, whole batches */
            tg_ctx *one = tg_ctx_new(1);
            int64_t whole;
            tg_dataset *all = share_of(one, steps, batch, 0, 1, &whole);
            tg_mlp *ref = make_model(one, 32);
            tg_optimizer *ref_opt = make_optimizer(ref, optim);
            if (train(one, ref, ref_opt, all, whole, 1, NULL, NULL) != TG_OK) {
                fprintf(stderr, "reference run: %s\n", tg_ctx_error(one));
                code = 1;
            } else {
                double diff = largest_difference(tg_mlp_params(mlp), tg_mlp_params(ref));
                printf("largest relative difference to one process on whole batches: %.3g (limit 1e-05)\n", diff);
                code = same && diff <= 1e-5 ? 0 : 1;
            }
            tg_optim_free(ref_opt);
            tg_mlp_free(ref);
            tg_dataset_free(all);
            tg_ctx_free(one);
        }
        MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    }
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
    tg_ctx_free(ctx);
    MPI_Finalize();
    return code;
}
