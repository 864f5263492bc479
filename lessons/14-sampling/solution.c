/* lessons/14-sampling/solution.c — one solution. sample() follows
   ut_sample (ultrathink.h, section 11); generate_nocache() is the loop the
   KV cache replaces: every new token pays for the whole sequence again. */
#include <stdlib.h>

typedef struct { double p; int id; } cand;
static int cand_cmp(const void *a, const void *b) {     /* p descending, then id ascending */
    const cand *x = (const cand *)a, *y = (const cand *)b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

int sample(const ut_float *logits, int V, float temperature, int top_k, float top_p, uint64_t *rng) {
    int best = 0;                                          /* strict >: ties keep the lowest id */
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    cand *c = malloc((size_t)V * sizeof *c);
    if (!c) return best;
    double sum = 0;
    for (int i = 0; i < V; i++) {
        c[i].p = exp(((double)logits[i] - logits[best]) / temperature);
        c[i].id = i;
        sum += c[i].p;
    }
    for (int i = 0; i < V; i++) c[i].p /= sum;
    int keep = (top_k > 0 && top_k < V) ? top_k : V;
    if (keep < V || top_p < 1.0f) {
        qsort(c, (size_t)V, sizeof *c, cand_cmp);
        double cum = 0;
        for (int i = 0; i < keep && top_p < 1.0f; i++) {
            cum += c[i].p;
            if (cum >= top_p) { keep = i + 1; break; }
        }
    }
    double mass = 0;
    for (int i = 0; i < keep; i++) mass += c[i].p;
    double r = ut_rng_uniform(rng) * mass;
    int pick = c[keep - 1].id;                             /* if rounding leaves r >= 0 at the end */
    for (int i = 0; i < keep; i++) {
        r -= c[i].p;
        if (r < 0) { pick = c[i].id; break; }
    }
    free(c);
    return pick;
}

int generate_nocache(ut_model *m, int *tokens, int n_prompt, int n_new, float temperature, int top_k,
                     float top_p, uint64_t *rng) {
    int V = m->cfg.vocab_size;
    ut_float *logits = malloc((size_t)V * sizeof *logits);
    if (!logits) return -1;
    for (int len = n_prompt; len < n_prompt + n_new; len++) {
        if (ut_model_forward(m, tokens, NULL, 1, len) < 0) { free(logits); return -1; }
        const ut_float *p = m->a.probs + (size_t)(len - 1) * V;   /* the last position's row */
        for (int i = 0; i < V; i++) logits[i] = (ut_float)log((double)p[i]);
        tokens[len] = sample(logits, V, temperature, top_k, top_p, rng);
    }
    free(logits);
    return 0;
}
