/* lessons/09-model/exercise.c — YOUR parameter and FLOP counts. Fill in the
   three TODOs, then run `make lesson N=9`. The signatures are those of
   ut_num_params, ut_num_active_params and ut_flops_per_token in ultrathink.h
   (section 3); write them from the shapes of the tensors (the enum of
   parameter tensors at the top of the header lists them all), without
   calling ut_param_sizes.

   Sizes from the config c: V = vocab_size, D = d_model, L = n_layers,
   H = n_heads, KVH = n_kv_heads, HD = head_dim, F = ffn_hidden,
   E = n_experts, K = top_k. Use size_t: big models pass 2^31.            */

/* Every weight the model stores. Per layer: two RMSNorm weights (D each),
   W_q (H*HD, D), W_k and W_v (KVH*HD, D), W_o (D, H*HD), a router (E, D)
   only when E > 1, and E experts of three (F, D) matrices. Outside the
   layers: the token embedding (V, D), the final norm (D) and the LM head
   (V, D), which is absent when tie_embeddings is 1 (the head reuses the
   embedding). */
size_t num_params(const ut_config *c) {
    /* TODO */
    (void)c;
    return 0;
}

/* The weights one token multiplies with: as num_params, but only K of the E
   experts, and without the token embedding, which is a lookup, not a
   product (when the embeddings are tied the same matrix is the LM head,
   which is a product, so it counts once). */
size_t num_active_params(const ut_config *c) {
    /* TODO */
    (void)c;
    return 0;
}

/* Training FLOPs per token for sequences of T tokens:
       6 per active weight (forward 2: a multiply and an add; backward 4: the
       two products dinp and dw)
     + attention: per layer and head, scores q.k and the weighted sum of v,
       2*HD each per visible key, forward (x 2) and backward (x 2 more): 12*HD
       per key. A token sees on average (T + 1) / 2 keys (causal), or the
       sliding window W when 0 < W < T.                                      */
double flops_per_token(const ut_config *c, int T) {
    /* TODO */
    (void)c; (void)T;
    return 0;
}
