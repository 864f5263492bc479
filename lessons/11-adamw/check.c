/* lessons/11-adamw/check.c — checks your AdamW step and schedule
   (exercise.c, or solution.c with SOLUTION=1) against things that do not
   depend on them: what the first step must do (by hand), the clip value, the
   AdamW formula written out in double, and the header's ut_adamw_step and
   ut_lr_at (section 7). The model is a tiny one from ut_model_init whose
   gradients the check fills with random numbers (no forward pass needed).
   One PASS/FAIL line per check, with the measured error and the tolerance. */
#define UT_DOUBLE
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: lr_at, adamw_step */

static double worse(double worst, double e) { return e <= worst ? worst : e; }   /* a NaN e makes it NaN */
static int is_norm(int k) { return k == UT_ATTN_NORM || k == UT_FFN_NORM || k == UT_FINAL_NORM; }

/* A tiny model: every tensor kind present (E = 2 experts: a router too). */
static void tiny_model(ut_model *m, uint64_t seed) {
    ut_config c = ut_config_default();
    c.vocab_size = 16; c.max_seq_len = 8; c.n_layers = 2; c.d_model = 8; c.n_heads = 2; c.n_kv_heads = 1;
    c.head_dim = 4; c.ffn_hidden = 8; c.n_experts = 2; c.top_k = 1;
    if (ut_model_init(m, &c, seed)) { printf("FAIL model_init %s\n", ut_error()); exit(1); }
}
/* Gradients of every size from 0.1 to 100, either sign. */
static void wide_grads(ut_model *m, uint64_t *r) {
    for (size_t i = 0; i < m->n_params; i++) {
        double mag = pow(10, -1 + 3 * ut_rng_uniform(r));
        m->grads[i] = ut_rng_uniform(r) < 0.5 ? -mag : mag;
    }
}
/* Normal gradients rescaled to a global norm of `norm`. */
static void grads_of_norm(ut_model *m, double norm, uint64_t *r) {
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++) { m->grads[i] = ut_rng_normal(r); ss += m->grads[i] * m->grads[i]; }
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] *= norm / sqrt(ss);
}
static double l2(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return sqrt(s);
}

/* AdamW as the papers write it, in double: p, m, v are the model's layout. */
static void reference_step(double *p, double *mm, double *vv, const double *grad, const ut_model *model,
                           const ut_train_config *t, double lr, int step) {
    double norm = l2(grad, model->n_params);
    double clip = t->grad_clip > 0 && norm > t->grad_clip ? t->grad_clip / norm : 1;
    double b1 = t->beta1, b2 = t->beta2;
    for (int k = 0; k < UT_NUM_TENSORS; k++) {
        size_t off = (size_t)(model->p[k] - model->params);
        double decay = is_norm(k) ? 0 : t->weight_decay;
        for (size_t i = off; i < off + model->sizes[k]; i++) {
            double g = grad[i] * clip;
            mm[i] = b1 * mm[i] + (1 - b1) * g;
            vv[i] = b2 * vv[i] + (1 - b2) * g * g;
            double mhat = mm[i] / (1 - pow(b1, step)), vhat = vv[i] / (1 - pow(b2, step));
            p[i] = p[i] - lr * decay * p[i] - lr * mhat / (sqrt(vhat) + t->eps);
        }
    }
}

int main(void) {
    ut_train_config t = ut_train_config_default();   /* b1 0.9, b2 0.99, eps 1e-8 */
    ut_model m;
    uint64_t rng = ut_rng_seed(11);
    tiny_model(&m, 1);
    size_t n = m.n_params;
    double *p0 = malloc(n * sizeof *p0);
    const float lr = 0.01f;

    /* 1. step 1 moves EVERY parameter by lr, against its gradient, whatever
          the gradient's size: m = (1-b1) g, v = (1-b2) g^2, so after the bias
          corrections mhat / sqrt(vhat) = g / |g| = sign(g). (Up to eps/|g| <=
          1e-7 here.) No decay, no clipping. */
    t.weight_decay = 0; t.grad_clip = 0;
    wide_grads(&m, &rng);
    memcpy(p0, m.params, n * sizeof *p0);
    adamw_step(&m, &t, lr, 1);
    double e1 = 0;
    for (size_t i = 0; i < n; i++) {
        double sign = m.grads[i] > 0 ? 1 : -1;
        e1 = worse(e1, fabs((m.params[i] - p0[i]) + lr * sign) / lr);
    }
    report(e1 <= 1e-6, "step1_moves_every_param_by_lr", "grads from 0.1 to 100: max |dp + lr sign(g)| / lr %.2e "
           "(tolerance %.0e)", e1, 1e-6);

    /* 2. with weight decay: a matrix also shrinks by lr * wd * p; the RMSNorm
          weights (UT_ATTN_NORM, UT_FFN_NORM, UT_FINAL_NORM) do not decay */
    ut_model_free(&m); tiny_model(&m, 1);
    t.weight_decay = 0.1f;
    wide_grads(&m, &rng);
    memcpy(p0, m.params, n * sizeof *p0);
    adamw_step(&m, &t, lr, 1);
    double e2 = 0;
    for (int k = 0; k < UT_NUM_TENSORS; k++) {
        size_t off = (size_t)(m.p[k] - m.params);
        double wd = is_norm(k) ? 0 : (double)lr * t.weight_decay;
        for (size_t i = off; i < off + m.sizes[k]; i++) {
            double sign = m.grads[i] > 0 ? 1 : -1;
            e2 = worse(e2, fabs((m.params[i] - p0[i]) + wd * p0[i] + lr * sign) / lr);
        }
    }
    report(e2 <= 1e-6, "step1_decays_matrices_not_norms", "wd 0.1: max |dp + lr wd p + lr sign(g)| / lr %.2e "
           "(tolerance %.0e)", e2, 1e-6);

    /* 3. clipping at 1: a gradient of norm 37 is used with norm exactly 1; one
          of norm 0.5 is left alone. After step 1 from zero moments,
          adam_m = (1-b1) g_used, so |adam_m| / (1-b1) is the norm used. The
          step returns the norm BEFORE clipping. */
    ut_model_free(&m); tiny_model(&m, 1);
    t.grad_clip = 1;
    grads_of_norm(&m, 37, &rng);
    double ret_big = adamw_step(&m, &t, lr, 1), used_big = l2(m.adam_m, n) / (1 - (double)t.beta1);
    ut_model_free(&m); tiny_model(&m, 1);
    grads_of_norm(&m, 0.5, &rng);
    double ret_small = adamw_step(&m, &t, lr, 1), used_small = l2(m.adam_m, n) / (1 - (double)t.beta1);
    double e3 = worse(fabs(used_big - 1), fabs(used_small - 0.5) / 0.5);
    report(e3 <= 1e-12, "clipped_norm_equals_clip", "clip 1: norm 37 used as 1, norm 0.5 as 0.5: max rel error %.2e "
           "(tolerance %.0e)", e3, 1e-12);
    double e4 = worse(fabs(ret_big - 37) / 37, fabs(ret_small - 0.5) / 0.5);
    report(e4 <= 1e-12, "returns_norm_before_clipping", "returned 37 and 0.5: max rel error %.2e (tolerance %.0e)",
           e4, 1e-12);

    /* 4. five steps with decay, clipping (norms 3 and 0.3 in turn: clipped,
          not clipped) and a changing lr, against the formula written out in
          double (reference_step), and against the header's ut_adamw_step on a
          second copy of the model */
    ut_model_free(&m); tiny_model(&m, 1);
    ut_model h; tiny_model(&h, 1);
    double *rp = malloc(n * sizeof *rp), *rm = calloc(n, sizeof *rm), *rv = calloc(n, sizeof *rv);
    memcpy(rp, m.params, n * sizeof *rp);
    const float lrs[5] = {2e-3f, 1e-2f, 5e-3f, 3e-2f, 1e-3f};
    double e5 = 0, e6 = 0;
    for (int s = 1; s <= 5; s++) {
        grads_of_norm(&m, s % 2 ? 3.0 : 0.3, &rng);
        memcpy(h.grads, m.grads, n * sizeof *rp);
        reference_step(rp, rm, rv, m.grads, &m, &t, lrs[s - 1], s);
        adamw_step(&m, &t, lrs[s - 1], s);
        ut_adamw_step(&h, &t, lrs[s - 1], s);
    }
    for (size_t i = 0; i < n; i++) {
        e5 = worse(e5, fmax(fabs(m.params[i] - rp[i]), fmax(fabs(m.adam_m[i] - rm[i]), fabs(m.adam_v[i] - rv[i]))));
        e6 = worse(e6, fmax(fabs(m.params[i] - h.params[i]),
                            fmax(fabs(m.adam_m[i] - h.adam_m[i]), fabs(m.adam_v[i] - h.adam_v[i]))));
    }
    report(e5 <= 1e-12, "five_steps_match_formula", "params and moments: max |yours - formula in double| %.2e "
           "(tolerance %.0e)", e5, 1e-12);
    report(e6 <= 1e-12, "five_steps_match_header", "params and moments: max |yours - ut_adamw_step| %.2e "
           "(tolerance %.0e)", e6, 1e-12);

    /* 5. the schedule: lr 1e-3, min_lr 1e-4, warmup 10, 111 steps */
    ut_train_config s = ut_train_config_default();
    s.lr = 1e-3f; s.min_lr = 1e-4f; s.warmup_steps = 10; s.total_steps = 111;
    double lr0 = lr_at(&s, 0), e7 = fabs(lr0 - (double)s.lr / 10) / ((double)s.lr / 10);
    report(e7 <= 1e-6, "lr_warmup_starts_at_lr_over_warmup", "step 0: %.6e = lr/warmup (rel tolerance %.0e)", lr0, 1e-6);
    double e8 = worse(fabs(lr_at(&s, 9) - (double)s.lr), fabs(lr_at(&s, 10) - (double)s.lr)) / s.lr;
    report(e8 <= 1e-6, "lr_peak_at_end_of_warmup", "steps 9 and 10 give lr: max rel error %.2e (tolerance %.0e)",
           e8, 1e-6);
    double e9 = worse(fabs(lr_at(&s, 110) - (double)s.min_lr), fabs(lr_at(&s, 200) - (double)s.min_lr)) / s.min_lr;
    report(e9 <= 1e-6, "lr_min_at_last_step", "step 110 (the last) and 200 give min_lr: max rel error %.2e "
           "(tolerance %.0e)", e9, 1e-6);
    /* halfway through the decay, progress = 50/100, cos(pi/2) = 0: the mean */
    double e10 = fabs(lr_at(&s, 60) - 5.5e-4) / 5.5e-4;
    report(e10 <= 1e-6, "lr_cosine_halfway", "step 60 gives (lr + min_lr)/2 = 5.5e-4: rel error %.2e (tolerance %.0e)",
           e10, 1e-6);
    /* every step of three schedules (one without warmup, one with a single
       decay step) against ut_lr_at */
    const int cfg[3][2] = {{10, 111}, {0, 50}, {5, 6}};
    double e11 = 0;
    for (int c = 0; c < 3; c++) {
        s.warmup_steps = cfg[c][0]; s.total_steps = cfg[c][1];
        for (int k = 0; k < s.total_steps + 5; k++)
            e11 = worse(e11, fabs(lr_at(&s, k) - ut_lr_at(&s, k)) / ut_lr_at(&s, k));
    }
    report(e11 <= 1e-6, "lr_matches_header", "three schedules, every step: max rel |yours - ut_lr_at| %.2e "
           "(tolerance %.0e)", e11, 1e-6);

    ut_model_free(&m); ut_model_free(&h);
    free(p0); free(rp); free(rm); free(rv);
    return failed;
}
