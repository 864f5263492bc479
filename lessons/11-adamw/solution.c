/* lessons/11-adamw/solution.c — one solution: ut_lr_at and ut_adamw_step of
   ultrathink.h section 7, without the OpenMP pragma and the chunked norm. */
#include <math.h>

float lr_at(const ut_train_config *t, int s) {
    if (s < t->warmup_steps) return t->lr * (float)(s + 1) / (float)t->warmup_steps;
    int decay = t->total_steps - t->warmup_steps;
    double progress = decay > 1 ? (double)(s - t->warmup_steps) / (decay - 1) : 1.0;
    if (progress > 1) progress = 1;
    return (float)(t->min_lr + 0.5 * (t->lr - t->min_lr) * (1.0 + cos(3.141592653589793 * progress)));
}

double adamw_step(ut_model *m, const ut_train_config *t, float lr, int step_t) {
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++) ss += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(ss);
    ut_float clip = 1;
    if (t->grad_clip > 0 && norm > t->grad_clip) clip = (ut_float)(t->grad_clip / norm);
    double bc1 = 1.0 - pow(t->beta1, step_t), bc2 = 1.0 - pow(t->beta2, step_t);
    ut_float b1 = t->beta1, b2 = t->beta2;
    for (int k = 0; k < UT_NUM_TENSORS; k++) {
        int decay = !(k == UT_ATTN_NORM || k == UT_FFN_NORM || k == UT_FINAL_NORM);
        ut_float keep = decay ? (ut_float)(1.0 - (double)lr * t->weight_decay) : 1;
        size_t off = (size_t)(m->p[k] - m->params);
        for (size_t i = off; i < off + m->sizes[k]; i++) {
            ut_float g = m->grads[i] * clip;
            m->adam_m[i] = b1 * m->adam_m[i] + (1 - b1) * g;
            m->adam_v[i] = b2 * m->adam_v[i] + (1 - b2) * g * g;
            ut_float mhat = m->adam_m[i] / (ut_float)bc1, vhat = m->adam_v[i] / (ut_float)bc2;
            m->params[i] = m->params[i] * keep - lr * mhat / (sqrt(vhat) + t->eps);
        }
    }
    return norm;
}
