/* lessons/14-sampling/exercise.c — YOUR sampler and a generator without the
   KV cache. Fill in the TODOs, then run `make lesson N=14`.

   1. sample(): the signature of ut_sample (ultrathink.h, section 11).
      logits (V) -> one token id:
        temperature <= 0: greedy, the argmax (ties: the lowest id);
        else p_i = softmax(logits / temperature)_i, then
          top_k > 0 (and < V): keep the top_k most likely ids,
          top_p < 1: of those, keep the smallest prefix (most likely first,
                     ties: lower id first) whose probability reaches top_p
                     (cumulative >= top_p);
        renormalise what is kept and draw one id with u = ut_rng_uniform(rng).
      Compute in double: exp((l_i - l_max) / temperature) never overflows.

   2. generate_nocache(): appends n_new tokens to tokens[0 .. n_prompt)
      (tokens has room for n_prompt + n_new <= max_seq_len ids). For each
      new token run the WHOLE sequence so far through
          ut_model_forward(m, tokens, NULL, 1, len)
      which leaves softmax(logits) of every position in m->a.probs (len, V);
      the last row predicts the next token. Turn it back into logits with
      log(p) (softmax is unchanged by adding a constant to the logits) and
      call your sample(). Returns 0, or -1 if the forward pass fails.     */

int sample(const ut_float *logits, int V, float temperature, int top_k, float top_p, uint64_t *rng) {
    /* TODO: greedy when temperature <= 0; else softmax, sort (probability
       descending, id ascending), cut to top_k and top_p, draw.             */
    (void)logits; (void)V; (void)temperature; (void)top_k; (void)top_p; (void)rng;
    return 0;
}

int generate_nocache(ut_model *m, int *tokens, int n_prompt, int n_new, float temperature, int top_k,
                     float top_p, uint64_t *rng) {
    /* TODO: for len = n_prompt .. n_prompt + n_new - 1: forward tokens[0..len),
       take row len - 1 of m->a.probs, log it, tokens[len] = sample(...).     */
    (void)m; (void)tokens; (void)n_prompt; (void)n_new; (void)temperature; (void)top_k; (void)top_p;
    (void)rng;
    return -1;
}
