/* lessons/07-rope/experiment.c — the exercise's measurement (LONG=1 only):
   what do positions buy? Two training runs of the same small model on the
   same bytes, same seed, same batches; the only difference is the rotation:
     rope  the model's tables filled by YOUR rope_tables (exercise.c/solution.c)
     none  every angle 0: cos = 1, sin = 0, so ut_rope_forward leaves q and k
           as they are and attention sees no position at all
   The real header is not edited: the tables are data in the model (m.rope_cos,
   m.rope_sin, section 6), written here after ut_model_init.
   Usage: experiment TEXT [STEPS]. Byte-level (V = 256): no tokenizer needed.
   The validation loss is over the last 10% of the text. */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include LESSON_IMPL   /* rope_tables */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* trains from scratch; returns the validation loss (nats per byte) */
static double run(const char *name, int use_rope, const ut_tokens *train, const ut_tokens *val,
                  const ut_config *c, const ut_train_config *t) {
    ut_model m;
    if (ut_model_init(&m, c, t->seed)) { fprintf(stderr, "%s\n", ut_error()); exit(1); }
    size_t cells = (size_t)c->max_seq_len * (c->head_dim / 2);
    if (use_rope) rope_tables(m.rope_cos, m.rope_sin, c->max_seq_len, c->head_dim, c->rope_theta);
    else for (size_t i = 0; i < cells; i++) { m.rope_cos[i] = 1; m.rope_sin[i] = 0; }
    int B = t->batch_size, T = t->seq_len;
    int *in = malloc(sizeof(int) * B * T), *tg = malloc(sizeof(int) * B * T);
    uint64_t rng = ut_rng_seed(t->seed);
    double t0 = now(), recent = 0;
    for (int step = 0; step < t->total_steps; step++) {
        ut_batch_random(train, &rng, B, T, in, tg);
        ut_model_zero_grad(&m);
        double loss = ut_model_forward(&m, in, tg, B, T);
        ut_model_backward(&m, 1.0f);
        ut_adamw_step(&m, t, ut_lr_at(t, step), step + 1);
        recent += loss;
        if ((step + 1) % 100 == 0) {
            printf("INFO   %-4s step %4d  train loss (mean of the last 100) %.4f  %.0f s\n", name, step + 1, recent / 100, now() - t0);
            fflush(stdout);
            recent = 0;
        }
    }
    /* validation: consecutive windows over the held-out text */
    uint64_t batches = (val->n_tokens - 1) / ((uint64_t)T * B);
    if (batches > 40) batches = 40;
    double sum = 0;
    for (uint64_t i = 0; i < batches; i++) {
        ut_batch_sequential(val, i, B, T, in, tg);
        sum += ut_model_forward(&m, in, tg, B, T);
    }
    printf("INFO   %-4s validation loss %.4f nats/byte over %llu x %d x %d bytes  (%.0f s)\n", name, sum / batches,
           (unsigned long long)batches, B, T, now() - t0);
    free(in); free(tg); ut_model_free(&m);
    return sum / batches;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: experiment TEXT [STEPS]\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(len);
    if (fread(bytes, 1, len, f) != (size_t)len) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    int32_t *ids = malloc(sizeof(int32_t) * len);
    for (long i = 0; i < len; i++) ids[i] = bytes[i];
    long cut = len - len / 10;
    ut_tokens train = {256, 2, (uint64_t)cut, (uint64_t)cut, ids};
    ut_tokens val = {256, 2, (uint64_t)(len - cut), (uint64_t)(len - cut), ids + cut};

    /* a small dense model: 2 layers, D = 128, 4 query heads sharing 2 KV heads */
    ut_config c = ut_config_default();
    c.n_layers = 2; c.n_experts = 1; c.top_k = 1; c.ffn_hidden = 384;
    ut_train_config t = ut_train_config_default();
    t.total_steps = argc > 2 ? atoi(argv[2]) : 600;
    t.warmup_steps = t.total_steps / 10;
    c.max_seq_len = t.seq_len;
    printf("INFO RoPE ablation on %s (%ld bytes, byte-level): L=%d D=%d H=%d KVH=%d HD=%d F=%d, B=%d T=%d, %d steps, seed %llu\n",
           argv[1], len, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_hidden,
           t.batch_size, t.seq_len, t.total_steps, (unsigned long long)t.seed);
    double with = run("rope", 1, &train, &val, &c, &t), without = run("none", 0, &train, &val, &c, &t);
    printf("INFO no positions costs %+.4f nats/byte of validation loss (%.4f with RoPE, %.4f without)\n",
           without - with, with, without);
    free(bytes); free(ids);
    return 0;
}
