/* lessons/11-adamw/exercise.c — YOUR optimizer step and learning-rate
   schedule. Fill in the two TODOs, then run `make lesson N=11`. The
   signatures are those of ut_adamw_step and ut_lr_at in ultrathink.h
   (section 7, "OPTIMIZER"); ut_float is double here (the check compiles with
   UT_DOUBLE, so the step can be compared with the formula to ~1e-15).

   The model keeps one buffer per kind of state, all in the same layout:
   m->params, m->grads, m->adam_m, m->adam_v, each m->n_params numbers.
   Tensor k (UT_TOK_EMB .. UT_LM_HEAD) starts at offset m->p[k] - m->params
   in every one of them and holds m->sizes[k] numbers.                      */
#include <math.h>

/* Schedule, step s counted from 0 (t: warmup_steps, total_steps, lr, min_lr):
     s < warmup:  lr * (s + 1) / warmup            linear warmup; s = 0 gives lr/warmup
     after:       progress = (s - warmup) / (total - warmup - 1), at most 1
                  (progress = 1 when total - warmup <= 1)
                  min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2
   so the peak lr is reached at s = warmup - 1 and kept at s = warmup, and the
   last step, s = total - 1, has exactly min_lr (and so has every s after it). */
float lr_at(const ut_train_config *t, int s) {
    /* TODO: the two branches above (compute the cosine in double).          */
    (void)t; (void)s;
    return 0;
}

/* One AdamW step; step_t = 1, 2, ... (the bias corrections use it). Returns
   the global gradient norm BEFORE clipping, sqrt(sum of all grads^2), summed
   in double. For every parameter i, with b1 = t->beta1, b2 = t->beta2:
     g = grads[i] * clip     clip = grad_clip / norm if grad_clip > 0 and
                             norm > grad_clip, else 1 (so the clipped norm is
                             exactly grad_clip)
     adam_m[i] = b1 adam_m[i] + (1 - b1) g
     adam_v[i] = b2 adam_v[i] + (1 - b2) g^2
     params[i] = params[i] * (1 - lr * weight_decay)       (decay: see below)
                 - lr * mhat / (sqrt(vhat) + eps)
       with mhat = adam_m[i] / (1 - b1^step_t), vhat = adam_v[i] / (1 - b2^step_t)
   Weight decay applies to the matrices only: NOT to the RMSNorm weights
   (tensors UT_ATTN_NORM, UT_FFN_NORM, UT_FINAL_NORM), which are scales around 1.
   The parameters must not change anything else: the grads stay as they are. */
double adamw_step(ut_model *m, const ut_train_config *t, float lr, int step_t) {
    /* TODO: 1. the norm and the clip factor;
             2. for each tensor k: does it decay?  then the loop over its numbers. */
    (void)m; (void)t; (void)lr; (void)step_t;
    return 0;
}
