/* lessons/03-bigram/solution.c — one solution (the loops of
   ut_crossentropy_forward/backward and ut__softmax_row, ultrathink.h
   section 5, without the OpenMP pragmas). */
#include <math.h>
#include <string.h>

double crossentropy_forward(ut_float *probs, const ut_float *logits, const int *targets, int N, int V) {
    double sum = 0;
    int count = 0;
    for (int n = 0; n < N; n++) {
        const ut_float *l = logits + (size_t)n * V;
        ut_float *p = probs + (size_t)n * V;
        int t = targets[n];
        ut_float lt = t >= 0 ? l[t] : 0;       /* before p overwrites l (in place) */
        ut_float mx = l[0], s = 0;
        for (int i = 1; i < V; i++) if (l[i] > mx) mx = l[i];
        for (int i = 0; i < V; i++) { p[i] = exp(l[i] - mx); s += p[i]; }
        for (int i = 0; i < V; i++) p[i] /= s;
        if (t >= 0) { sum += (double)(mx + log(s) - lt); count++; }
    }
    return count ? sum / count : 0.0;
}

void crossentropy_backward(ut_float *dlogits, const ut_float *probs, const int *targets,
                           int N, int V, float scale) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    ut_float s = count ? (ut_float)scale / count : 0;
    for (int n = 0; n < N; n++) {
        ut_float *d = dlogits + (size_t)n * V;
        const ut_float *p = probs + (size_t)n * V;
        if (targets[n] < 0) { memset(d, 0, V * sizeof(ut_float)); continue; }
        for (int i = 0; i < V; i++) d[i] = s * p[i];
        d[targets[n]] -= s;
    }
}
