/* lessons/03-bigram/exercise.c — YOUR softmax cross-entropy. Fill in the two
   TODOs, then run `make lesson N=3`. The signatures are those of
   ut_crossentropy_forward and ut_crossentropy_backward in ultrathink.h
   (section 5, "Softmax cross-entropy"); ut_float is double here (the check
   compiles with UT_DOUBLE, so finite differences are accurate).

   logits (N, V), targets (N) -> probs (N, V), returns the mean loss:
       m_n    = max_i logits_ni                     (subtract it: exp never overflows)
       p_ni   = exp(logits_ni - m_n) / sum_j exp(logits_nj - m_n)
       loss_n = log sum_j exp(logits_nj) - logits_n,target
              = m_n + log sum_j exp(logits_nj - m_n) - logits_n,target
       loss   = mean of loss_n over the rows whose target is >= 0
   A row with targets[n] < 0 has no target: it gets probs but no loss.
   probs may be the SAME buffer as logits (the model computes it in place):
   read logits[n, target] before you overwrite the row.                     */

double crossentropy_forward(ut_float *probs, const ut_float *logits, const int *targets, int N, int V) {
    /* TODO: per row: the max, the exps and their sum, probs, loss_n; then
       the mean over the rows that have a target.                            */
    (void)probs; (void)logits; (void)targets; (void)N; (void)V;
    return 0;
}

/* Backward: with count = the number of rows whose target is >= 0,
       dlogits_ni = scale * (p_ni - [i == target_n]) / count
   and 0 for a row without a target. WRITE (=, not +=): the loss is where the
   chain rule starts, so there is nothing to add to.                         */
void crossentropy_backward(ut_float *dlogits, const ut_float *probs, const int *targets,
                           int N, int V, float scale) {
    /* TODO: count the rows with a target, then dlogits = s * probs with
       s = scale / count, and subtract s at each row's target.               */
    (void)dlogits; (void)probs; (void)targets; (void)N; (void)V; (void)scale;
}
