/* lessons/02-data/exercise.c — YOUR batch samplers and bits per byte. Fill in
   the TODOs, then run `make lesson N=2`. The signatures are those of
   ut_batch_random and ut_batch_sequential (declared near the top of
   ultrathink.h, defined in section 9) and of train.c's bits_per_byte (a
   static function there, private to ./train). Read the declarations and
   section 9's comment first; the bodies are the answer (read them after).

   d->tokens[0 .. d->n_tokens) are the ids of the text, n = d->n_tokens.
   A window of T + 1 consecutive tokens starting at s gives one row:
       inputs[b*T + t]  = tokens[s + t]          t = 0 .. T-1
       targets[b*T + t] = tokens[s + t + 1]      (the next token: shift by one)
   so the last token a window reads is tokens[s + T]; it must be < n.        */
#include <math.h>

/* B rows, each from its own start s, uniform over EVERY valid start
   0 .. n-T-1: draw s = ut_rng_u64(rng) % (number of valid starts), one draw
   per row, in row order (then your batches are the header's, draw for draw,
   which is what resuming from a checkpoint relies on).                      */
void batch_random(const ut_tokens *d, uint64_t *rng, int B, int T, int *inputs, int *targets) {
    /* TODO */
    (void)d; (void)rng; (void)B; (void)T; (void)inputs; (void)targets;
}

/* For evaluation: windows side by side, starting at 0, T, 2T, ... as many as
   fit (each needs T + 1 tokens, the last target included); batch i holds
   windows i*B .. i*B + B-1, counted modulo the number of windows (so it
   wraps around to window 0).                                                */
void batch_sequential(const ut_tokens *d, uint64_t i, int B, int T, int *inputs, int *targets) {
    /* TODO */
    (void)d; (void)i; (void)B; (void)T; (void)inputs; (void)targets;
}

/* A validation loss in nats per token -> bits per byte of text (comparable
   between tokenizers of different V): val->n_bytes is the length of the text
   that val->n_tokens tokens encode.                                          */
double bits_per_byte(const ut_tokens *val, double loss) {
    /* TODO */
    (void)val; (void)loss;
    return 0;
}
