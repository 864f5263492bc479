/* lessons/01-bpe/exercise.c — YOUR naive BPE trainer. Fill in the TODO, then
   run `make lesson N=1`. It has the signature of tokenizer.c's naive trainer,
   `static void bpe_train_naive(...)` there (its "TRAINING, STEP 1"; static,
   so the check cannot call it: it runs `./tokenizer train`, the fast trainer,
   and compares merges). Yours must agree exactly, tie-break included.

   text[0..n) -> tk, a tokenizer of at most n_merges merges:
     1. cut the text into chunks with the header's chunker (ultrathink.h
        section 10): every chunk is a word, a list of ids, at first its bytes
        (written for you below);
     2. for merge m = 0, 1, ...: count every adjacent pair (left, right)
        inside every word (pairs never cross two words);
     3. the best pair has the highest count; among equal counts the smallest
        left id, then the smallest right id (no pairs left: stop early);
     4. it becomes id 256 + m: replace it in every word, left to right,
        without overlap ("a a a" -> "x a"), and shorten the word;
     5. ut_tokenizer_build(tk, merges, m) turns the merge list, (m, 2) ids,
        into the tokenizer (written for you below).                          */
#include <stdlib.h>

void bpe_train_naive(const uint8_t *text, size_t n, uint32_t n_merges, ut_tokenizer *tk) {
    /* 1. The words, back to back in ids[]: word k is ids[start[k] .. start[k] + len[k]). */
    uint32_t *ids = malloc((n + 1) * sizeof *ids);
    size_t *start = malloc((n + 1) * sizeof *start), *len = malloc((n + 1) * sizeof *len);
    uint32_t *merges = calloc(2 * (size_t)n_merges + 1, sizeof *merges);
    size_t n_words = 0, s, l;
    ut_chunker c;
    ut_chunker_init(&c, text, n, 0);
    while (ut_chunker_next(&c, &s, &l) != UT_CHUNK_END) {
        for (size_t i = 0; i < l; i++) ids[s + i] = text[s + i];
        start[n_words] = s; len[n_words] = l; n_words++;
    }
    uint32_t m = 0;
    /* TODO: steps 2-4, for m = 0 .. n_merges-1: count the pairs, pick the
       best, store it in merges[2m], merges[2m+1], replace it by 256 + m in
       every word. Any way of counting is fine: the check's text is 6 kB. The
       simplest is a table of (256 + n_merges)^2 counts, cnt[left * W + right]
       with W = 256 + n_merges: scanning it in index order and keeping only a
       STRICTLY higher count gives the tie-break for free. (The solution
       sorts 64-bit keys left << 32 | right instead.)                        */
    (void)n_merges;
    /* 5. The merge list is the whole tokenizer: the header builds the rest. */
    ut_tokenizer_build(tk, merges, m);
    free(ids); free(start); free(len); free(merges);
}
