/* lessons/02-data/solution.c — one solution: the loops of ut_batch_random and
   ut_batch_sequential (ultrathink.h section 9) and train.c's bits_per_byte. */
#include <math.h>

/* B windows of T + 1 tokens starting anywhere in [0, n - T - 1]:
   inputs = window[0..T), targets = window[1..T]. There are n - T such starts
   (the last one, n - T - 1, ends at token n - 1). One draw per row. */
void batch_random(const ut_tokens *d, uint64_t *rng, int B, int T, int *inputs, int *targets) {
    uint64_t span = d->n_tokens - (uint64_t)T;          /* number of valid starts */
    for (int b = 0; b < B; b++) {
        uint64_t s = ut_rng_u64(rng) % span;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = d->tokens[s + t];
            targets[b * T + t] = d->tokens[s + t + 1];
        }
    }
}

/* Windows side by side, 0, T, 2T, ...: as many as fit with one token to spare
   for the last target, (n - 1) / T of them; batch i holds windows
   i*B .. i*B + B - 1, counted modulo the number of windows. */
void batch_sequential(const ut_tokens *d, uint64_t i, int B, int T, int *inputs, int *targets) {
    uint64_t windows = (d->n_tokens - 1) / (uint64_t)T;
    for (int b = 0; b < B; b++) {
        uint64_t s = ((i * B + b) % windows) * T;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = d->tokens[s + t];
            targets[b * T + t] = d->tokens[s + t + 1];
        }
    }
}

/* nats per token -> bits per byte: divide by ln 2 (nats -> bits) and by the
   bytes per token of this text, n_bytes / n_tokens. */
double bits_per_byte(const ut_tokens *val, double loss) {
    return loss * ((double)val->n_tokens / (double)val->n_bytes) / log(2.0);
}
