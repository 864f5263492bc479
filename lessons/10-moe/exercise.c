/* lessons/10-moe/exercise.c — YOUR router bookkeeping for a Mixture of
   Experts. Fill in the four TODOs, then run `make lesson N=10`. They are the
   routing steps of ut_moe_forward in ultrathink.h (section 5, "Mixture of
   Experts"); the experts themselves are ordinary SwiGLU MLPs (lesson 08).
   ut_float is double here (the check compiles with UT_DOUBLE).

   Sizes: N tokens, E experts, K experts per token (top-k). A "slot" is one
   (token, choice) pair: there are N*K slots.                               */

/* 1. top-k and renormalisation (the header's ut__topk, step 1).
   p (E): one token's router probabilities (a softmax: positive, sum 1).
   -> idx (K): the K largest p_e, larger first; a TIE goes to the LOWER index.
   -> w (K):   w_k = p[idx[k]] / sum_j p[idx[j]]   (the K weights sum to 1)
   e.g. p = (0.1, 0.4, 0.2, 0.3), K = 2: idx = (1, 3), w = (4/7, 3/7).       */
void topk(const ut_float *p, int E, int K, int *idx, ut_float *w) {
    /* TODO: K passes; pass k picks the largest p_e not chosen yet (use a
       strict '>' while scanning e upward: then a tie keeps the lower e).
       Then divide each chosen p by their sum.                              */
    (void)p; (void)E; (void)K; (void)idx; (void)w;
}

/* 2. the dropless sort by expert (step 2 of ut_moe_forward): a counting sort.
   topk_e (N, K): the experts token n chose, as topk() returned them.
   -> off (E+1):       expert e owns slots [off[e], off[e+1]); off[0] = 0,
                       off[E] = N*K (an expert nobody chose owns no slots)
   -> slot_of (N, K):  the slot of token n's k-th choice
   -> slot_token (N*K): the token each slot came from
   Within one expert the slots keep TOKEN ORDER (n = 0, 1, ...; then k).
   Dropless: every (token, choice) gets a slot, however unbalanced.           */
void sort_slots(const int *topk_e, int N, int K, int E, int *off, int *slot_of, int *slot_token) {
    /* TODO: count the slots of each expert; off = running sum of the counts;
       then walk n = 0..N-1, k = 0..K-1 and hand out the next free slot of
       expert topk_e[n*K + k] (a fill pointer per expert).                  */
    (void)topk_e; (void)N; (void)K; (void)E; (void)off; (void)slot_of; (void)slot_token;
}

/* 3. the load-balancing loss (Switch Transformer / Mixtral form, step 5):
     aux = E * sum_e f_e * P_e
     f_e = (slots of expert e) / (N*K)      from off
     P_e = mean over n of probs[n, e]       probs (N, E)
   1 when balanced (f_e = P_e = 1/E), E when every token goes to one expert
   with probability 1.                                                       */
double load_balance_loss(const ut_float *probs, const int *off, int N, int E, int K) {
    /* TODO: the two sums; return E * sum_e f_e * P_e.                        */
    (void)probs; (void)off; (void)N; (void)E; (void)K;
    return 0;
}

/* 4. the router z-loss (ST-MoE):  z = mean over n of logsumexp(logits_n)^2,
   logits (N, E). Compute logsumexp stably: m + log(sum_e exp(l_e - m)) with
   m = max_e l_e (a logit of 1000 must not give inf).                        */
double z_loss(const ut_float *logits, int N, int E) {
    /* TODO: per row the max, then the logsumexp, then the mean of squares.  */
    (void)logits; (void)N; (void)E;
    return 0;
}
