/* lessons/15-quantization/quantize_model.c — the cost of each scheme on a
   trained model:
       quantize_model CKPT VAL.bin
   loads the checkpoint (ut_checkpoint_load), then for each scheme reloads the
   float weights, quantizes every matrix with YOUR functions (quant_model.h:
   the norms stay float) and evaluates the mean cross-entropy over all of
   VAL.bin (consecutive windows of the model's max_seq_len, batches of 8, as
   train.c's final evaluation does). Prints a markdown table: bits per stored
   matrix number (scales included), the model's size, and the loss.
   check.sh builds and runs it with LONG=1, against LESSON_IMPL like check.c. */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include LESSON_IMPL
#include "quant_model.h"

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: quantize_model CKPT VAL.bin\n"); return 2; }
    ut_model m;
    ut_train_config t;
    ut_progress pr;
    ut_tokens val;
    if (ut_checkpoint_load(argv[1], &m, &t, &pr)) { fprintf(stderr, "%s\n", ut_error()); return 1; }
    if (ut_tokens_load(&val, argv[2])) { fprintf(stderr, "%s\n", ut_error()); return 1; }
    if ((int)val.vocab_size != m.cfg.vocab_size) {
        fprintf(stderr, "%s has vocab %u, the model %d\n", argv[2], val.vocab_size, m.cfg.vocab_size);
        return 1;
    }
    int B = 8, T = m.cfg.max_seq_len;
    ut_float *keep = malloc(m.n_params * sizeof *keep);
    if (!keep) { fprintf(stderr, "out of memory\n"); return 1; }
    memcpy(keep, m.params, m.n_params * sizeof *keep);
    struct { const char *name; int bits, kind; size_t G; } s[] = {
        {"float32", 32, -1, 0},
        {"int8 per tensor", 8, QM_PER_TENSOR, 0}, {"int8 per row", 8, QM_PER_ROW, 0},
        {"int8 groups of 32", 8, QM_PER_GROUP, 32},
        {"int4 per tensor", 4, QM_PER_TENSOR, 0}, {"int4 per row", 4, QM_PER_ROW, 0},
        {"int4 groups of 64", 4, QM_PER_GROUP, 64}, {"int4 groups of 32", 4, QM_PER_GROUP, 32},
    };
    size_t nq = 0, fbytes = 4 * m.n_params;
    qm_quantize_model(&m, 8, QM_PER_ROW, 0, &nq);   /* only to count the matrix numbers */
    printf("checkpoint %s: step %llu, %zu parameters (%zu in matrices, quantized; %zu in norms, kept float)\n",
           argv[1], (unsigned long long)pr.step, m.n_params, nq, m.n_params - nq);
    printf("validation %s: %llu tokens, evaluated in %d batches of %d x %d\n\n", argv[2],
           (unsigned long long)val.n_tokens, (int)((val.n_tokens - 1) / (uint64_t)T / (uint64_t)B), B, T);
    printf("| scheme | bits per matrix number | model size | of float32 | val loss (nats/token) | change |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    double base = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        memcpy(m.params, keep, m.n_params * sizeof *keep);
        size_t bytes = fbytes;
        if (s[i].kind >= 0) bytes = qm_quantize_model(&m, s[i].bits, s[i].kind, s[i].G, NULL);
        if (bytes == 0) { fprintf(stderr, "%s: the group does not divide a row\n", s[i].name); return 1; }
        double loss = qm_eval(&m, &val, B, T, 0);
        if (i == 0) base = loss;
        double bits = 8.0 * (double)(bytes - 4 * (m.n_params - nq)) / (double)nq;
        printf("| %s | %.3f | %.2f MB | %.1f%% | %.4f | %+.4f |\n", s[i].name, bits, bytes / 1e6,
               100.0 * bytes / fbytes, loss, loss - base);
        fflush(stdout);
    }
    free(keep);
    ut_tokens_free(&val);
    ut_model_free(&m);
    return 0;
}
