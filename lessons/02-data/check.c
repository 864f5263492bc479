/* lessons/02-data/check.c — checks your batch samplers and bits per byte
   (exercise.c, or solution.c with SOLUTION=1). The data is a token file the
   check writes, whose token at position i is the id i: a row's first input
   then IS its start position, and "targets = inputs shifted by one" reads
   target = input + 1. References: the header's ut_batch_random and
   ut_batch_sequential, a chi-square test of uniformity, and values worked out
   by hand. The tokens live in an allocation of exactly n ids, so a read past
   the end is caught by AddressSanitizer (README: the exercise). */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include LESSON_IMPL   /* exercise.c or solution.c: batch_random, batch_sequential, bits_per_byte */

static int failed = 0;
static void report(int ok, const char *name, const char *what) {
    printf("%s %s %s\n", ok ? "PASS" : "FAIL", name, what);
    failed |= !ok;
}

/* Writes a token file (section 9's format) holding ids 0..n-1 for a text of
   n_bytes bytes, reads it back with ut_tokens_load, and moves the ids into an
   allocation of exactly n (the reader's has one spare slot, which would hide
   a read one past the end from AddressSanitizer). */
static ut_tokens positions(uint32_t n, uint64_t n_bytes) {
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/ut-lesson02-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ut_tokens d;
    memset(&d, 0, sizeof d);
    if (!mkdtemp(dir)) { printf("FAIL token_file cannot make a temporary folder\n"); exit(1); }
    snprintf(path, sizeof path, "%s/pos.bin", dir);
    uint8_t head[UT_TOKENS_HEADER], *body = malloc(4 * (size_t)n);
    uint32_t *ids = malloc(4 * (size_t)n);
    for (uint32_t i = 0; i < n; i++) ids[i] = i;
    ut_tokens_pack_header(head, 1024, n, n_bytes);                  /* vocab 1024: 2 bytes an id */
    size_t len = ut_tokens_pack_ids(body, ids, n, 1024);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(body, 1, len, f) == len;
    if (f) fclose(f);
    ok = ok && ut_tokens_load(&d, path) == 0;
    remove(path); rmdir(dir); free(body); free(ids);
    if (!ok) { printf("FAIL token_file cannot write and read %s: %s\n", path, ut_error()); exit(1); }
    int32_t *exact = malloc(n * sizeof *exact);
    memcpy(exact, d.tokens, n * sizeof *exact);
    free(d.tokens);
    d.tokens = exact;
    return d;
}
/* Rows whose targets are not their inputs shifted by one, or whose inputs are
   not consecutive positions. */
static int bad_rows(const int *in, const int *tg, int B, int T) {
    int bad = 0;
    for (int b = 0; b < B; b++) {
        int ok = 1;
        for (int t = 0; t < T; t++)
            ok &= in[b * T + t] == in[b * T] + t && tg[b * T + t] == in[b * T + t] + 1;
        bad += !ok;
    }
    return bad;
}
static void fill(int *p, int n) { for (int i = 0; i < n; i++) p[i] = -1; }

int main(void) {
    enum { N = 50, T = 8, B = 42, S = N - T, BATCHES = 200 };  /* S = 42 valid starts, 0..41 */
    char msg[512];
    int in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    ut_tokens d = positions(N, 4 * N);

    /* 1. Shift by one: every row is inputs s..s+T-1, targets s+1..s+T. */
    uint64_t rng = ut_rng_seed(2);
    fill(in, B * T); fill(tg, B * T);
    batch_random(&d, &rng, B, T, in, tg);
    int bad = bad_rows(in, tg, B, T), row = 0;
    while (row < B - 1 && !bad_rows(in + row * T, tg + row * T, 1, T)) row++;   /* the first bad row */
    if (bad) {
        int s0 = in[row * T], at = snprintf(msg, sizeof msg, "%d of %d rows are not inputs s..s+%d with targets "
                                            "s+1..s+%d; first bad row %d: inputs", bad, B, T - 1, T, row);
        for (int t = 0; t < T; t++) at += snprintf(msg + at, sizeof msg - (size_t)at, " %d", in[row * T + t]);
        at += snprintf(msg + at, sizeof msg - (size_t)at, ", targets");
        for (int t = 0; t < T; t++) at += snprintf(msg + at, sizeof msg - (size_t)at, " %d", tg[row * T + t]);
        if (s0 >= 0 && s0 < S)
            snprintf(msg + at, sizeof msg - (size_t)at, " (want inputs %d..%d, targets %d..%d)", s0, s0 + T - 1, s0 + 1, s0 + T);
        else
            snprintf(msg + at, sizeof msg - (size_t)at, " (want a start s in 0..%d: inputs s..s+%d, targets s+1..s+%d)", S - 1,
                     T - 1, T);
    } else
        snprintf(msg, sizeof msg, "%d of %d rows are not inputs s..s+%d with targets s+1..s+%d", bad, B, T - 1, T);
    report(bad == 0, "random_targets_are_inputs_shifted_by_one", msg);

    /* 2. The header's draws, one ut_rng_u64 per row: same batches, same state
          after them (a checkpoint stores that state; resuming replays it). */
    uint64_t r1 = ut_rng_seed(7), r2 = ut_rng_seed(7);
    int diff = 0;
    char first[160] = "";
    for (int k = 0; k < 5; k++) {
        fill(in, B * T); fill(tg, B * T);
        batch_random(&d, &r1, B, T, in, tg);
        ut_batch_random(&d, &r2, B, T, in2, tg2);
        for (int i = 0; i < B * T; i++)
            if (in[i] != in2[i] || tg[i] != tg2[i])
                if (diff++ == 0)
                    snprintf(first, sizeof first, "; first: batch %d row %d t %d is (%d, %d), want (%d, %d)", k, i / T,
                             i % T, in[i], tg[i], in2[i], tg2[i]);
    }
    snprintf(msg, sizeof msg, "5 batches from seed 7: %d of %d (input, target) pairs differ from ut_batch_random, rng state %s%s%s",
             diff, 5 * B * T, r1 == r2 ? "equal" : "differs", r1 == r2 ? "" : " (want equal: one ut_rng_u64 per row)", first);
    report(diff == 0 && r1 == r2, "random_matches_header", msg);

    /* 3. and 4. Where rows start: 200 batches of 42 rows = 8400 starts, 200
          expected at each of the 42 valid positions 0..n-T-1 = 0..41.
          Coverage: every start in range, and every one of the 42 drawn (a
          correct sampler misses a given start with probability
          (41/42)^8400 = 1e-88). Uniformity: Pearson's chi-square,
          X2 = sum over starts (count - 200)^2 / 200, follows a chi-square law
          with 41 degrees of freedom when the draws are uniform: mean 41,
          P(X2 > 100) = 7.7e-7, the chance that a correct sampler fails here
          (for this fixed seed the result is the same on every run). */
    int count[S] = {0}, outside = 0, reached = 0, lo = 1 << 30, hi = -(1 << 30);
    rng = ut_rng_seed(3);
    for (int k = 0; k < BATCHES; k++) {
        fill(in, B * T); fill(tg, B * T);
        batch_random(&d, &rng, B, T, in, tg);
        for (int b = 0; b < B; b++) {
            int s = in[b * T];
            if (s < lo) lo = s;
            if (s > hi) hi = s;
            if (s < 0 || s >= S || bad_rows(in + b * T, tg + b * T, 1, T)) outside++;
            else count[s]++;
        }
    }
    double x2 = 0;
    for (int s = 0; s < S; s++) {
        reached += count[s] > 0;
        x2 += (count[s] - 200.0) * (count[s] - 200.0) / 200.0;
    }
    snprintf(msg, sizeof msg, "%d of %d starts drawn (lowest %d, highest %d; want 0 and %d), %d rows outside 0..%d",
             reached, S, lo, hi, S - 1, outside, S - 1);
    report(reached == S && outside == 0, "random_starts_cover_0_to_n-T-1", msg);
    snprintf(msg, sizeof msg, "chi-square %.1f over %d starts, 8400 draws (tolerance 100: df 41, false alarm 7.7e-7)",
             x2, S);
    report(outside == 0 && x2 <= 100, "random_starts_uniform", msg);

    /* 5. Sequential windows, against the header: n = 49, T = 8: (49-1)/8 = 6
          windows; B = 4 so batches wrap in the middle. */
    ut_tokens d49 = positions(49, 49);
    diff = 0;
    first[0] = 0;
    for (uint64_t i = 0; i < 6; i++) {
        fill(in, 4 * T); fill(tg, 4 * T);
        batch_sequential(&d49, i, 4, T, in, tg);
        ut_batch_sequential(&d49, i, 4, T, in2, tg2);
        for (int k = 0; k < 4 * T; k++)
            if (in[k] != in2[k] || tg[k] != tg2[k])
                if (diff++ == 0)
                    snprintf(first, sizeof first, "; first: batch %d row %d t %d is (%d, %d), want (%d, %d)", (int)i,
                             k / T, k % T, in[k], tg[k], in2[k], tg2[k]);
    }
    snprintf(msg, sizeof msg, "n=49 T=8 B=4, batches 0..5: %d of %d (input, target) pairs differ from ut_batch_sequential%s",
             diff, 6 * 4 * T, first);
    report(diff == 0, "sequential_matches_header", msg);

    /* 6. By hand, n = 48, T = 8: windows start at 0, 8, 16, 24, 32 — five, not
          six: a window at 40 would need token 48 as its last target, and the
          file ends at 47. Batch i (B = 1) starts at 8 * (i mod 5). */
    ut_tokens d48 = positions(48, 48);
    int wrong = 0, first_bad = -1;
    for (int i = 0; i < 10; i++) {
        fill(in, T); fill(tg, T);
        batch_sequential(&d48, (uint64_t)i, 1, T, in, tg);
        if (in[0] != 8 * (i % 5) || bad_rows(in, tg, 1, T)) { wrong++; if (first_bad < 0) first_bad = i; }
    }
    if (wrong) {
        fill(in, T); fill(tg, T);
        batch_sequential(&d48, (uint64_t)first_bad, 1, T, in, tg);
        snprintf(msg, sizeof msg, "n=48 T=8 B=1: %d of 10 batches wrong; batch %d starts at %d (want %d)", wrong,
                 first_bad, in[0], 8 * (first_bad % 5));
    } else snprintf(msg, sizeof msg, "n=48 T=8 B=1: batches 0..9 start at 0 8 16 24 32 0 8 16 24 32");
    report(wrong == 0, "sequential_windows_by_hand", msg);

    /* 7. Bits per byte, by hand. A byte-level text (1 token per byte) and a
          model that gives every one of 256 bytes the same probability: loss
          ln 256 nats per token = 8 bits per token = 8 bits per byte. d: 50
          tokens for 200 bytes (4 bytes per token), loss ln 1024 = 10 bits per
          token -> 2.5 bits per byte. */
    double b1 = bits_per_byte(&d49, log(256.0)), b2 = bits_per_byte(&d, log(1024.0));
    double e = fmax(fabs(b1 - 8), fabs(b2 - 2.5));
    snprintf(msg, sizeof msg, "uniform over 256 bytes: %.6f (want 8); ln 1024 at 4 bytes/token: %.6f (want 2.5); "
             "max |error| %.1e (tolerance 1e-12)", b1, b2, e);
    report(e <= 1e-12, "bits_per_byte_by_hand", msg);

    ut_tokens_free(&d); ut_tokens_free(&d49); ut_tokens_free(&d48);
    return failed;
}
