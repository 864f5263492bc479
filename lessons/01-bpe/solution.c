/* lessons/01-bpe/solution.c — one solution: the naive trainer of tokenizer.c
   (bpe_train_naive), written with plain malloc'd arrays instead of stb_ds.
   Counting uses a sort: every adjacent pair becomes a 64-bit key
   left << 32 | right, the keys are sorted, and equal keys stand next to each
   other, so one pass finds each pair's count. Keys sort exactly like
   (left, right), so scanning them in order and keeping only a strictly higher
   count gives the tie-break for free. */
#include <stdlib.h>

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void bpe_train_naive(const uint8_t *text, size_t n, uint32_t n_merges, ut_tokenizer *tk) {
    /* 1. Pre-tokenize: the words are the chunks of ut_chunker, back to back in
          ids[], word k being ids[start[k] .. start[k] + len[k]). */
    uint32_t *ids = malloc((n + 1) * sizeof *ids);
    size_t *start = malloc((n + 1) * sizeof *start), *len = malloc((n + 1) * sizeof *len);
    uint64_t *keys = malloc((n + 1) * sizeof *keys);
    uint32_t *merges = malloc((2 * (size_t)n_merges + 1) * sizeof *merges);
    size_t n_words = 0, s, l;
    ut_chunker c;
    ut_chunker_init(&c, text, n, 0);
    while (ut_chunker_next(&c, &s, &l) != UT_CHUNK_END) {
        for (size_t i = 0; i < l; i++) ids[s + i] = text[s + i];
        start[n_words] = s; len[n_words] = l; n_words++;
    }
    uint32_t m = 0;
    for (; m < n_merges; m++) {
        /* 2. Count every adjacent pair inside every word (never across two). */
        size_t n_keys = 0;
        for (size_t k = 0; k < n_words; k++)
            for (size_t i = 0; i + 1 < len[k]; i++)
                keys[n_keys++] = (uint64_t)ids[start[k] + i] << 32 | ids[start[k] + i + 1];
        if (n_keys == 0) break;                          /* no pairs left: stop early */
        qsort(keys, n_keys, sizeof *keys, cmp_u64);
        /* 3. The best pair: highest count; ties go to the smallest key, i.e.
              the smallest left id, then the smallest right id. */
        uint64_t best = 0; size_t best_count = 0;
        for (size_t i = 0, j; i < n_keys; i = j) {
            for (j = i; j < n_keys && keys[j] == keys[i]; j++) {}
            if (j - i > best_count) { best_count = j - i; best = keys[i]; }
        }
        uint32_t a = (uint32_t)(best >> 32), b = (uint32_t)best, x = 256 + m;
        merges[2 * m] = a; merges[2 * m + 1] = b;
        /* 4. Replace a b by x in every word, left to right, without overlap. */
        for (size_t k = 0; k < n_words; k++) {
            uint32_t *w = ids + start[k];
            size_t o = 0;
            for (size_t i = 0; i < len[k]; i++) {
                if (i + 1 < len[k] && w[i] == a && w[i + 1] == b) { w[o++] = x; i++; }
                else w[o++] = w[i];
            }
            len[k] = o;
        }
    }
    /* 5. The merge list is the whole tokenizer: the header builds the rest. */
    ut_tokenizer_build(tk, merges, m);    /* (on failure tk is left empty and ut_error() says why) */
    free(ids); free(start); free(len); free(keys); free(merges);
}
