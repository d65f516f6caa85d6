/* What training reports, written out: the per-epoch history as CSV and an
 * evaluation's confusion matrix as text (tapegrad/train.h). */
#include "tapegrad/train.h"

#include <errno.h>
#include <math.h>
#include <string.h>

tg_status tg_history_save_csv(tg_ctx *ctx, const tg_history *h, const char *path)
{
    if (!h || !path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_history_save_csv: NULL %s", !h ? "history" : "path");
    FILE *f = fopen(path, "w");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_history_save_csv: cannot create %s: %s", path, strerror(errno));
    fprintf(f, "epoch,train_loss,train_acc,test_acc,seconds\n");
    for (int i = 0; i < h->count; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.6g\n", h->epochs[i], h->train_loss[i], h->train_acc[i], h->test_acc[i],
                h->seconds[i]);
    bool ok = !ferror(f);
    int e = errno;
    if (fclose(f) != 0 && ok)
        ok = false, e = errno;
    if (!ok)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_history_save_csv: error writing %s: %s", path, strerror(e));
    return TG_OK;
}

void tg_confusion_print(const tg_evaluation *e, const char *const *class_names, FILE *out)
{
    out = out ? out : stdout;
    if (!e || e->classes <= 0 || !e->confusion) {
        fprintf(out, "(no confusion matrix: not a classification)\n");
        return;
    }
    int k = e->classes, label = 3;
    for (int i = 0; i < k && class_names; i++)
        label = (int)strlen(class_names[i]) + 3 > label ? (int)strlen(class_names[i]) + 3 : label;
    int64_t max = 0;
    for (int i = 0; i < k * k; i++)
        max = e->confusion[i] > max ? e->confusion[i] : max;
    int w = snprintf(NULL, 0, "%lld", (long long)max) + 1;
    w = w < 4 ? 4 : w;
    fprintf(out, "confusion matrix (rows: true class, columns: predicted)\n%*s", label + 1, "");
    for (int j = 0; j < k; j++)
        fprintf(out, "%*d", w, j);
    fprintf(out, "  recall\n");
    for (int i = 0; i < k; i++) {
        int64_t row = 0;
        for (int j = 0; j < k; j++)
            row += e->confusion[i * k + j];
        if (class_names)
            fprintf(out, "%2d %-*s", i, label - 2, class_names[i]);
        else
            fprintf(out, "%*d ", label, i);
        for (int j = 0; j < k; j++)
            fprintf(out, "%*lld", w, (long long)e->confusion[i * k + j]);
        if (row)
            fprintf(out, "  %5.1f%%\n", 100.0 * (double)e->confusion[i * k + i] / (double)row);
        else
            fprintf(out, "      -\n");
    }
    fprintf(out, "accuracy %.2f%% (%lld of %lld)\n", 100.0 * e->accuracy, (long long)e->correct, (long long)e->count);
}
