/* lessons/10-moe/solution.c — one solution: the routing steps of
   ut_moe_forward (ultrathink.h section 5, "Mixture of Experts"), written out. */
#include <math.h>
#include <stdlib.h>

void topk(const ut_float *p, int E, int K, int *idx, ut_float *w) {
    ut_float sum = 0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= idx[j] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;   /* '>': a tie keeps the lower e */
        }
        idx[k] = best;
        sum += p[best];
    }
    for (int k = 0; k < K; k++) w[k] = p[idx[k]] / sum;
}

void sort_slots(const int *topk_e, int N, int K, int E, int *off, int *slot_of, int *slot_token) {
    for (int e = 0; e <= E; e++) off[e] = 0;
    for (int i = 0; i < N * K; i++) off[topk_e[i] + 1]++;          /* count into off[e+1] */
    for (int e = 0; e < E; e++) off[e + 1] += off[e];               /* running sum */
    int *fill = malloc((size_t)E * sizeof *fill);   /* the next free slot of each expert */
    for (int e = 0; e < E; e++) fill[e] = off[e];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            int slot = fill[topk_e[n * K + k]]++;
            slot_of[n * K + k] = slot;
            slot_token[slot] = n;
        }
    free(fill);
}

double load_balance_loss(const ut_float *probs, const int *off, int N, int E, int K) {
    double a = 0;
    for (int e = 0; e < E; e++) {
        double P = 0;
        for (int n = 0; n < N; n++) P += probs[n * E + e];
        a += (double)(off[e + 1] - off[e]) / ((double)N * K) * (P / N);
    }
    return E * a;
}

double z_loss(const ut_float *logits, int N, int E) {
    double z = 0;
    for (int n = 0; n < N; n++) {
        const ut_float *l = logits + n * E;
        double m = l[0], s = 0;
        for (int e = 1; e < E; e++) if (l[e] > m) m = l[e];
        for (int e = 0; e < E; e++) s += exp(l[e] - m);
        double lse = m + log(s);
        z += lse * lse;
    }
    return z / N;
}
