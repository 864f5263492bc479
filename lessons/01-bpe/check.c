/* lessons/01-bpe/check.c — checks your naive BPE trainer (exercise.c, or
   solution.c with SOLUTION=1). check.sh builds this program and runs it twice:
       01-IMPL write TEXT          writes the small corpus (6 kB, generated)
       01-IMPL check TEXT REF.tok  the checks; REF.tok is what
                                   `./tokenizer train --vocab-size 456` made
   The references do not depend on your code: two examples worked out by hand
   (one is minbpe's), the merges of the real trainer (tokenizer.c's fast
   bpe_train, a different algorithm), and a property of the chunker. */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: bpe_train_naive */

enum { N_MERGES = 200 };
static int failed = 0;
static void report(int ok, const char *name, const char *what) {
    printf("%s %s %s\n", ok ? "PASS" : "FAIL", name, what);
    failed |= !ok;
}
/* Your trainer on a C string. */
static void train(const char *s, uint32_t n_merges, ut_tokenizer *tk) {
    memset(tk, 0, sizeof *tk);
    bpe_train_naive((const uint8_t *)s, strlen(s), n_merges, tk);
}
/* tk's merges equal want (n pairs)? */
static int merges_are(const ut_tokenizer *tk, const uint32_t *want, uint32_t n) {
    if (!tk->merges || tk->n_merges != n) return 0;
    for (uint32_t i = 0; i < 2 * n; i++) if (tk->merges[i] != want[i]) return 0;
    return 1;
}
static void print_merges(char *out, size_t cap, const ut_tokenizer *tk) {
    size_t at = (size_t)snprintf(out, cap, "got %u merges", tk->merges ? tk->n_merges : 0);
    for (uint32_t i = 0; tk->merges && i < tk->n_merges && i < 4 && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, " (%u,%u)", tk->merges[2 * i], tk->merges[2 * i + 1]);
}
/* A token's bytes, printable: "\n" for a newline, "\xe9" for a byte >= 0x80. */
static void escape(char *out, size_t cap, const uint8_t *p, uint32_t n) {
    size_t at = 0;
    for (uint32_t i = 0; i < n && at + 5 < cap; i++) {
        if (p[i] == '\n') at += (size_t)snprintf(out + at, cap - at, "\\n");
        else if (p[i] == '"' || p[i] == '\\') at += (size_t)snprintf(out + at, cap - at, "\\%c", p[i]);
        else if (p[i] >= 32 && p[i] < 127) out[at++] = (char)p[i];
        else at += (size_t)snprintf(out + at, cap - at, "\\x%02x", p[i]);
    }
    out[at] = 0;
}

/* THE CORPUS: sentences of common words drawn from a fixed random stream, with
   capitals, commas, numbers, a few UTF-8 words, blank lines and indentation, so
   that every rule of the chunker is used. About 6 kB; the same bytes on every
   machine (ut_rng is xorshift64*, seeded through splitmix64). */
static const char *WORDS[] = {
    "the", "of", "and", "to", "a", "in", "is", "that", "it", "was", "for", "on", "are", "with", "as",
    "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "word", "but", "what",
    "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how",
    "said", "an", "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many",
    "then", "them", "write", "would", "like", "so", "these", "her", "long", "make", "thing", "see",
    "him", "two", "has", "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no",
    "most", "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down",
    "token", "tokens", "merge", "merges", "pair", "pairs", "byte", "bytes", "café", "naïve", "über"};
static size_t corpus(char *out, size_t cap) {
    uint64_t rng = ut_rng_seed(1);
    size_t at = 0, n_words = sizeof WORDS / sizeof *WORDS;
    while (at + 200 < cap && at < 6000) {
        int len = 4 + (int)(ut_rng_u64(&rng) % 9);
        for (int w = 0; w < len; w++) {
            double u = ut_rng_uniform(&rng);
            const char *word = WORDS[(size_t)(u * u * (double)n_words)];   /* small indices more often */
            if (w > 0) out[at++] = ' ';
            if (ut_rng_u64(&rng) % 25 == 0) at += (size_t)sprintf(out + at, "%u ", (unsigned)(ut_rng_u64(&rng) % 2000));
            size_t first = at;
            at += (size_t)sprintf(out + at, "%s", word);
            if (w == 0 && out[first] >= 'a' && out[first] <= 'z') out[first] = (char)(out[first] - 'a' + 'A');
            if (w + 1 < len && ut_rng_u64(&rng) % 8 == 0) out[at++] = ',';
        }
        uint64_t e = ut_rng_u64(&rng) % 10;
        at += (size_t)sprintf(out + at, "%s", e < 6 ? "." : e < 8 ? ".\n" : e < 9 ? "!\n\n" : "?\n    ");
        if (e < 6) out[at++] = ' ';
    }
    return at;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 16);
    *n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "write") == 0) {
        char *text = malloc(1 << 14);
        size_t n = corpus(text, 1 << 14);
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) { printf("FAIL write_corpus cannot write %s\n", argv[2]); return 1; }
        free(text);
        return 0;
    }
    if (argc != 4 || strcmp(argv[1], "check") != 0) { fprintf(stderr, "usage: %s write TEXT | check TEXT REF.tok\n", argv[0]); return 2; }
    char msg[512];
    ut_tokenizer tk;

    /* 1. The tie-break, by hand. "zy.zy.ac.ab" chunks as zy . zy . ac . ab:
          pairs (z,y) x2, (a,c) x1, (a,b) x1. Merge 0: the highest count, (z,y)
          = (122,121). Merge 1: (a,c) and (a,b) tie, same left 97: the smaller
          right, (97,98). Merge 2: (97,99). Without chunks, (y,.) and (.,a)
          would also count 2 and (.,a) = (46,97) would win merge 0. */
    const uint32_t tie[] = {122, 121, 97, 98, 97, 99};
    train("zy.zy.ac.ab", 3, &tk);
    print_merges(msg, sizeof msg, &tk);
    strncat(msg, " (want (122,121) (97,98) (97,99))", sizeof msg - strlen(msg) - 1);
    report(merges_are(&tk, tie, 3), "tie_break_by_hand", msg);
    ut_tokenizer_free(&tk);

    /* 2. minbpe's example: "aaabdaaabac", 3 merges. Counts (a,a) 4, (a,b) 2,
          ... -> (97,97) = 256: "256 a b d 256 a b a c"; now (256,a) and (a,b)
          both count 2 and the smaller left id wins: (97,98) = 257 (minbpe,
          which takes the first pair it met, picks (256,97) here); then
          (256,257) = 258. Either way the text encodes to [258, 100, 258, 97, 99]. */
    const uint32_t mb[] = {97, 97, 97, 98, 256, 257};
    const int mb_ids[] = {258, 100, 258, 97, 99};
    train("aaabdaaabac", 3, &tk);
    int ids[16] = {0}, n_ids = tk.merges ? ut_tokenizer_encode(&tk, "aaabdaaabac", ids, 16) : -1;
    int ok = merges_are(&tk, mb, 3) && n_ids == 5 && memcmp(ids, mb_ids, sizeof mb_ids) == 0;
    print_merges(msg, sizeof msg, &tk);
    size_t at = strlen(msg);
    at += (size_t)snprintf(msg + at, sizeof msg - at, "; encodes to [");
    for (int i = 0; i < n_ids && at < sizeof msg; i++) at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%d", i ? ", " : "", ids[i]);
    snprintf(msg + at, sizeof msg - at, "] (want (97,97) (97,98) (256,257) and [258, 100, 258, 97, 99])");
    report(ok, "minbpe_example", msg);
    ut_tokenizer_free(&tk);

    /* 3. Training stops when no pair is left: "ab" allows exactly one merge. */
    train("ab", 5, &tk);
    snprintf(msg, sizeof msg, "\"ab\" asked for 5 merges: got %u (want 1)", tk.merges ? tk.n_merges : 0);
    report(tk.merges && tk.n_merges == 1, "stops_when_no_pairs_left", msg);
    ut_tokenizer_free(&tk);

    /* 4. The first 200 merges of `./tokenizer train` on the 6 kB corpus. */
    size_t n = 0;
    uint8_t *text = read_all(argv[2], &n);
    ut_tokenizer ref;
    if (!text || ut_tokenizer_load(&ref, argv[3]) || ref.n_merges != N_MERGES) {
        printf("FAIL merges_match_tokenizer_train cannot read %s or %s (%s)\n", argv[2], argv[3], ut_error());
        return 1;
    }
    memset(&tk, 0, sizeof tk);
    bpe_train_naive(text, n, N_MERGES, &tk);
    uint32_t got = tk.merges ? tk.n_merges : 0, same = 0;
    while (same < got && same < N_MERGES && tk.merges[2 * same] == ref.merges[2 * same] &&
           tk.merges[2 * same + 1] == ref.merges[2 * same + 1]) same++;
    if (same == N_MERGES && got == N_MERGES)
        snprintf(msg, sizeof msg, "%u of %u merges identical on %zu bytes (tolerance: none)", same, N_MERGES, n);
    else if (same < got) {
        char agree[64] = "no merge agrees";
        if (same) snprintf(agree, sizeof agree, "merges 0..%u agree", same - 1);
        snprintf(msg, sizeof msg, "%s; merge %u is (%u,%u), ./tokenizer made (%u,%u)", agree, same,
                 tk.merges[2 * same], tk.merges[2 * same + 1], ref.merges[2 * same], ref.merges[2 * same + 1]);
    } else
        snprintf(msg, sizeof msg, "got %u merges (want %u); the first %u agree", got, N_MERGES, same);
    report(same == N_MERGES && got == N_MERGES, "merges_match_tokenizer_train", msg);

    /* 5. No token crosses a chunk boundary: each learned token's bytes lie
          inside one chunk of the corpus. (A token like "e t" or "d.\n"
          spans two or more. Chunking the token alone is not the same test:
          under GPT-2's rule a piece of a chunk such as "'l" of "'ll", or
          "f\xc3" of "für" cut inside the UTF-8 of 'ü', is two chunks.) */
    int crossing = 0;
    char list[256] = "", one[64];
    for (uint32_t id = 256; tk.merges && id < 256 + tk.n_merges; id++) {
        ut_chunker c;
        size_t s, l, inside = 0;
        const uint8_t *tb = tk.token_bytes[id];
        size_t tl = tk.token_len[id];
        ut_chunker_init(&c, text, n, 0);
        while (!inside && ut_chunker_next(&c, &s, &l) != UT_CHUNK_END)
            for (size_t i = 0; i + tl <= l && !inside; i++) inside = memcmp(text + s + i, tb, tl) == 0;
        if (inside) continue;
        if (crossing++ < 6) {
            escape(one, sizeof one, tk.token_bytes[id], tk.token_len[id]);
            size_t k = strlen(list);
            snprintf(list + k, sizeof list - k, " %u=\"%s\"", id, one);
        }
    }
    if (crossing) snprintf(msg, sizeof msg, "%d tokens cross a chunk boundary (want 0), e.g.%s", crossing, list);
    else snprintf(msg, sizeof msg, "all %u learned tokens lie inside one chunk", got);
    report(got > 0 && crossing == 0, "tokens_stay_inside_chunks", got ? msg : "no tokens learned (want 200, each inside one chunk)");

    /* Not a check: what the merges buy on this text (bytes per token). */
    if (got) {
        int *out = malloc(n * sizeof *out);
        int k = ut_tokenizer_encode_bytes(&tk, text, n, 0, out, (int)n);
        printf("  info: your %u merges encode the %zu-byte corpus in %d tokens: %.3f bytes/token\n", got, n, k,
               (double)n / k);
        free(out);
    }
    ut_tokenizer_free(&tk);
    ut_tokenizer_free(&ref);
    free(text);
    return failed;
}
