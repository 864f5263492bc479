/* lessons/09-model/solution.c — one solution: the counts of ut_num_params,
   ut_num_active_params and ut_flops_per_token (ultrathink.h section 3),
   written out tensor by tensor. */

/* the weights of one layer that every token uses (attention, norms, router) */
static size_t layer_shared(const ut_config *c) {
    size_t D = c->d_model, QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t E = c->n_experts;
    return 2 * D                      /* attn_norm, ffn_norm */
           + QD * D + 2 * KD * D      /* W_q, W_k, W_v */
           + D * QD                   /* W_o */
           + (E > 1 ? E * D : 0);     /* router */
}
static size_t expert(const ut_config *c) { return 3 * (size_t)c->ffn_hidden * c->d_model; } /* gate, up, down */

size_t num_params(const ut_config *c) {
    size_t V = c->vocab_size, D = c->d_model, L = c->n_layers;
    return V * D                                          /* token embedding */
           + L * (layer_shared(c) + c->n_experts * expert(c))
           + D                                            /* final norm */
           + (c->tie_embeddings ? 0 : V * D);             /* LM head */
}

size_t num_active_params(const ut_config *c) {
    size_t V = c->vocab_size, D = c->d_model, L = c->n_layers;
    /* the LM head's (V, D) product is there either way: its own matrix, or the tied embedding */
    return L * (layer_shared(c) + c->top_k * expert(c)) + D + V * D;
}

double flops_per_token(const ut_config *c, int T) {
    double keys = (c->sliding_window > 0 && c->sliding_window < T) ? c->sliding_window : (T + 1) / 2.0;
    return 6.0 * (double)num_active_params(c) + 12.0 * c->n_layers * c->n_heads * (double)c->head_dim * keys;
}
