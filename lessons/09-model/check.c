/* lessons/09-model/check.c — your parameter and FLOP counts (exercise.c, or
   solution.c with SOLUTION=1) against a count done by hand, the header's
   ut_num_params / ut_num_active_params / ut_flops_per_token, and what
   `./train --dry-run` prints; then three facts about the whole model that a
   working trainer must show: the loss at initialisation is about ln V, a tiny
   model overfits one batch, and ut_model_backward agrees with finite
   differences of ut_model_forward. Built with UT_DOUBLE (for the gradient
   check). Run by check.sh, which gives it a temporary folder (argv[1]) for
   the token file the dry runs read; $BIN says where ./train is. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include LESSON_IMPL   /* exercise.c or solution.c: num_params, num_active_params, flops_per_token */

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

/* a config from its sizes (rope, eps and MoE coefficients from the defaults) */
static ut_config cfg(int V, int L, int D, int H, int KVH, int HD, int F, int E, int K, int tie, int window, int S) {
    ut_config c = ut_config_default();
    c.vocab_size = V; c.n_layers = L; c.d_model = D; c.n_heads = H; c.n_kv_heads = KVH; c.head_dim = HD;
    c.ffn_hidden = F; c.n_experts = E; c.top_k = K; c.tie_embeddings = tie; c.sliding_window = window;
    c.max_seq_len = S;
    return c;
}

/* --- the dry runs: ./train --dry-run on a token file of V = 300 ------------ */
typedef struct { const char *flags; ut_config c; int T; } dry_cfg;
static int dry_run(const char *bin, const char *tokens, const dry_cfg *d, double *total, double *active, double *fpt) {
    char cmd[2048], line[512];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 '%s/train' --train '%s' --dry-run --steps 3 %s 2>&1", bin, tokens, d->flags);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, "parameters: %lf total, %lf active", total, active) == 2) got |= 1;
        if (sscanf(line, "FLOPs per token: %lf", fpt) == 1) got |= 2;
    }
    int rc = pclose(p);
    return rc == 0 && got == 3 ? 0 : -1;
}

/* --- the whole-model gradient check --------------------------------------- */
enum { GB = 2, GT = 5 };
static ut_model gm;
static int g_in[GB * GT], g_tg[GB * GT];
static double model_loss(void) { return ut_model_forward(&gm, g_in, g_tg, GB, GT); }

int main(int argc, char **argv) {
    const char *tmp = argc > 1 ? argv[1] : ".", *bin = getenv("BIN") ? getenv("BIN") : ".";

    /* 1. by hand: the `make run` model (ut_config_default) with V = 256, T = 128.
          D=128 L=4 H=4 KVH=2 HD=32 F=256 E=4 K=2, untied.
          attention  L*(2*H*HD*D + 2*KVH*HD*D) = 4 * 49152 = 196608
                     (W_q, W_o: 128x128 = 16384 each; W_k, W_v: 64x128 = 8192 each)
          norms      2*L*D + D = 1152          router  L*E*D = 2048
          experts    3*L*E*F*D = 3*4*4*256*128 = 1572864
          embedding, LM head  V*D = 32768 each
          total      196608 + 1152 + 2048 + 1572864 + 2*32768 = 1838208
          active     196608 + 1152 + 2048 + 1572864*K/E + 32768 (the head) = 1019008
          FLOPs      6*1019008 + 12*L*H*HD*(T+1)/2 = 6114048 + 396288 = 6510336 */
    ut_config def = ut_config_default();
    double h_err = fmax(fmax(rel((double)num_params(&def), 1838208), rel((double)num_active_params(&def), 1019008)),
                        rel(flops_per_token(&def, 128), 6510336));
    report(h_err == 0, "counts_by_hand", "make-run model: params, active, FLOPs/token max rel error %.2e (tolerance %.0e)",
           h_err, 0.0);

    /* 2, 3. against the header, on configs that exercise every branch: dense
       and MoE, tied and untied, MHA, GQA and MQA, full causal and windows
       shorter and longer than T */
    ut_config cs[] = {cfg(256, 4, 128, 4, 2, 32, 256, 4, 2, 0, 0, 128), cfg(1000, 3, 48, 6, 2, 8, 80, 1, 1, 1, 0, 64),
                      cfg(50257, 12, 768, 12, 12, 64, 2048, 1, 1, 1, 0, 1024),
                      cfg(32000, 2, 64, 8, 1, 16, 100, 8, 3, 0, 16, 64), cfg(7, 1, 2, 1, 1, 2, 1, 2, 2, 1, 100, 32)};
    int Ts[] = {1, 2, 17, 64, 128, 1024};
    double pe = 0, fe = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        pe = fmax(pe, fmax(rel((double)num_params(&cs[i]), (double)ut_num_params(&cs[i])),
                           rel((double)num_active_params(&cs[i]), (double)ut_num_active_params(&cs[i]))));
        for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++)
            fe = fmax(fe, rel(flops_per_token(&cs[i], Ts[j]), ut_flops_per_token(&cs[i], Ts[j])));
    }
    report(pe == 0, "params_match_header", "5 configs: max rel error vs ut_num_params, ut_num_active_params %.2e (tolerance %.0e)",
           pe, 0.0);
    report(fe <= 1e-12, "flops_match_header", "5 configs x 6 T: max rel error vs ut_flops_per_token %.2e (tolerance %.0e)",
           fe, 1e-12);

    /* 4. against ./train --dry-run (it prints the FLOPs to 3 digits). The
       token file: 400 tokens of a vocabulary of 300. head_dim = dim / heads. */
    char tokens[1024];
    snprintf(tokens, sizeof tokens, "%s/tiny.bin", tmp);
    {
        enum { NT = 400, VT = 300 };
        uint8_t hdr[UT_TOKENS_HEADER], body[NT * 2];
        uint32_t ids[NT];
        uint64_t r = ut_rng_seed(9);
        for (int i = 0; i < NT; i++) ids[i] = (uint32_t)(ut_rng_u64(&r) % VT);
        ut_tokens_pack_header(hdr, VT, NT, NT);
        size_t nb = ut_tokens_pack_ids(body, ids, NT, VT);
        FILE *f = fopen(tokens, "wb");
        if (!f || fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || fwrite(body, 1, nb, f) != nb) {
            printf("FAIL dry_run_matches cannot write %s\n", tokens);
            return 1;
        }
        fclose(f);
    }
    dry_cfg dc[] = {{"--layers 2 --dim 48 --heads 6 --kv-heads 2 --ffn 80 --experts 4 --top-k 2 --seq 24 --batch 2",
                     cfg(300, 2, 48, 6, 2, 8, 80, 4, 2, 0, 0, 24), 24},
                    {"--layers 3 --dim 32 --heads 4 --kv-heads 4 --ffn 88 --experts 1 --seq 40 --window 16 --tie --batch 1",
                     cfg(300, 3, 32, 4, 4, 8, 88, 1, 1, 1, 16, 40), 40}};
    double de = 0;
    int ran = 1;
    for (int i = 0; i < 2; i++) {
        double tot = 0, act = 0, fpt = 0;
        if (dry_run(bin, tokens, &dc[i], &tot, &act, &fpt)) { ran = 0; break; }
        printf("      dry run %d: %.0f parameters, %.0f active, %.3g FLOPs/token; yours: %zu, %zu, %.6g\n", i + 1, tot,
               act, fpt, num_params(&dc[i].c), num_active_params(&dc[i].c), flops_per_token(&dc[i].c, dc[i].T));
        de = fmax(de, fmax(rel((double)num_params(&dc[i].c), tot), rel((double)num_active_params(&dc[i].c), act)));
        de = fmax(de, rel(flops_per_token(&dc[i].c, dc[i].T), fpt) / 100);  /* 3 digits: counted at 1/100 weight */
    }
    if (!ran) printf("FAIL dry_run_matches could not run %s/train --dry-run (is it built? make)\n", bin), failed = 1;
    else report(de <= 5e-5, "dry_run_matches", "2 configs: params exact, FLOPs to 3 digits: max weighted rel error %.2e (tolerance %.0e)",
                de, 5e-5);

    /* 5. initial loss: weights ~ N(0, 0.02^2) give logits near 0, a uniform
       guess over V tokens, whose cross-entropy is ln V. */
    {
        ut_config c = cfg(64, 2, 32, 4, 2, 8, 64, 1, 1, 0, 0, 16);
        ut_model m;
        if (ut_model_init(&m, &c, 1)) { printf("FAIL initial_loss %s\n", ut_error()); return 1; }
        int in[4 * 16], tg[4 * 16];
        uint64_t r = ut_rng_seed(5);
        for (int i = 0; i < 64; i++) in[i] = (int)(ut_rng_u64(&r) % 64), tg[i] = (int)(ut_rng_u64(&r) % 64);
        double loss = ut_model_forward(&m, in, tg, 4, 16), e = fabs(loss - log(64.0));
        printf("      initial loss %.6f, ln 64 = %.6f\n", loss, log(64.0));
        report(e <= 0.05, "initial_loss_is_ln_V", "V=64: |loss - ln V| %.2e (tolerance %.0e)", e, 0.05);
        ut_model_free(&m);
    }

    /* 6. overfit one batch: a tiny model learns 4 fixed sequences of 16 random
       tokens by heart; if the loss does not fall, something in the forward,
       the backward or the optimizer is broken. */
    {
        ut_config c = cfg(32, 2, 32, 4, 2, 8, 64, 1, 1, 0, 0, 16);
        ut_train_config t = ut_train_config_default();
        t.weight_decay = 0;
        ut_model m;
        if (ut_model_init(&m, &c, 2)) { printf("FAIL overfit_one_batch %s\n", ut_error()); return 1; }
        int in[4 * 16], tg[4 * 16];
        uint64_t r = ut_rng_seed(6);
        for (int b = 0; b < 4; b++) {
            int seq[17];
            for (int i = 0; i < 17; i++) seq[i] = (int)(ut_rng_u64(&r) % 32);
            for (int i = 0; i < 16; i++) in[b * 16 + i] = seq[i], tg[b * 16 + i] = seq[i + 1];
        }
        double t0 = now(), loss = 0, first = 0;
        int steps = 200;
        for (int s = 0; s < steps; s++) {
            ut_model_zero_grad(&m);
            loss = ut_model_forward(&m, in, tg, 4, 16);
            if (s == 0) first = loss;
            ut_model_backward(&m, 1.0f);
            ut_adamw_step(&m, &t, 1e-2f, s + 1);
        }
        loss = ut_model_forward(&m, in, tg, 4, 16);
        printf("      overfit: loss %.4f -> %.4f in %d steps (%.2f s)\n", first, loss, steps, now() - t0);
        report(loss <= 0.05, "overfit_one_batch", "4x16 tokens, 200 AdamW steps at lr 1e-2: final loss %.4f (tolerance %.2f)",
               loss, 0.05);
        ut_model_free(&m);
    }

    /* 7. whole-model gradient check: a few entries of every tensor, central
       differences of ut_model_forward against ut_model_backward. Weights x10
       so that every path carries signal (at the standard init the deep
       gradients are ~1e-4 and sit near the rounding noise); h = 1e-6. Error
       per tensor: max |analytic - numeric| / max |numeric| over its entries. */
    {
        ut_config c = cfg(11, 2, 8, 4, 2, 2, 12, 1, 1, 0, 0, GT);
        if (ut_model_init(&gm, &c, 3)) { printf("FAIL model_gradient_check %s\n", ut_error()); return 1; }
        for (size_t i = 0; i < gm.n_params; i++) gm.params[i] *= 10;
        uint64_t r = ut_rng_seed(7);
        for (int i = 0; i < GB * GT; i++) g_in[i] = (int)(ut_rng_u64(&r) % 11), g_tg[i] = (int)(ut_rng_u64(&r) % 11);
        model_loss();
        ut_model_zero_grad(&gm);
        ut_model_backward(&gm, 1.0f);
        double worst = 0, h = 1e-6;
        const char *worst_name = "";
        int checked = 0;
        for (int k = 0; k < UT_NUM_TENSORS; k++) {
            size_t n = gm.sizes[k];
            if (!n) continue;
            double md = 0, mn = 0;
            for (int j = 0; j < 4; j++) {
                size_t i = (j * n) / 4 + (n > 8 ? 3 : 0) % n;
                double keep = gm.p[k][i];
                gm.p[k][i] = keep + h; double lp = model_loss();
                gm.p[k][i] = keep - h; double lm = model_loss();
                gm.p[k][i] = keep;
                double num = (lp - lm) / (2 * h);
                md = fmax(md, fabs(num - gm.g[k][i])); mn = fmax(mn, fabs(num));
                checked++;
            }
            double e = mn > 0 ? md / mn : NAN;
            printf("      %-10s max rel error %.2e (max |grad| %.2e)\n", ut_tensor_names[k], e, mn);
            if (!(e <= worst)) worst = e, worst_name = ut_tensor_names[k];
        }
        printf("%s model_gradient_check %d entries of %d tensors: worst %s %.2e (tolerance %.0e)\n",
               worst <= 1e-6 ? "PASS" : "FAIL", checked, checked / 4, worst_name, worst, 1e-6);
        failed |= !(worst <= 1e-6);
        ut_model_free(&gm);
    }
    return failed;
}
