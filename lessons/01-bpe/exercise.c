/* lessons/01-bpe/exercise.c — YOUR naive BPE trainer. Fill in the TODOs, then
   run `make lesson N=1`. The signature is that of bpe_train_naive in
   tokenizer.c (its "TRAINING, STEP 1"); the check compares your merges with
   those of `./tokenizer train`, so they must agree exactly, tie-break included.

   text[0..n) -> tk, a tokenizer of at most n_merges merges:
     1. cut the text into chunks with the header's chunker (ultrathink.h
        section 10): every chunk is a word, a list of ids, at first its bytes
            ut_chunker c;  ut_chunker_init(&c, text, n, 0);
            while (ut_chunker_next(&c, &start, &len) != UT_CHUNK_END) ...
     2. for merge m = 0, 1, ...: count every adjacent pair (left, right)
        inside every word (pairs never cross two words);
     3. the best pair has the highest count; among equal counts the smallest
        left id, then the smallest right id (no pairs left: stop early);
     4. it becomes id 256 + m: replace it in every word, left to right,
        without overlap ("a a a" -> "x a");
     5. ut_tokenizer_build(tk, merges, m) turns the merge list, (m, 2) ids,
        into the tokenizer.                                                  */
#include <stdlib.h>

void bpe_train_naive(const uint8_t *text, size_t n, uint32_t n_merges, ut_tokenizer *tk) {
    /* TODO: steps 1-5. Any way of counting is fine (a sort, a table of
       (256 + n_merges)^2 counts, ...): the check's text is 6 kB.             */
    (void)text; (void)n; (void)n_merges; (void)tk;
}
