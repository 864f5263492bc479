/*
 * test_tokenizer.c — unit tests for tokenizer.c, calling its functions directly.
 * Prints one "PASS name" / "FAIL name details" line per check (see test/run.sh)
 * and exits non-zero if any check failed.  Generates all its own data.
 * The command-line behaviour (files, errors) is tested by test_tokenizer.sh.
 */
#define TOKENIZER_TESTING
#include "../tokenizer.c"
#include <time.h>

static int g_failed;

static void check(int ok, const char *name, const char *fmt, ...) {
    if (ok) { printf("PASS %s\n", name); return; }
    g_failed = 1;
    printf("FAIL %s ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* splitmix64: a tiny seeded random generator, so every run sees the same data */
static uint64_t g_rng;
static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

static void append(uint8_t **buf, const char *s) { size_t n = strlen(s); memcpy(arraddnptr(*buf, n), s, n); }

/* Text that looks a bit like language: a Zipf-ish vocabulary of invented words
 * (some with UTF-8 letters), punctuation, numbers, runs of spaces and newlines,
 * and now and then a random byte.  Lots of equal pair counts, so the tie rule
 * is exercised too. */
static uint8_t *gen_text(uint64_t seed, size_t target) {
    g_rng = seed;
    char words[60][16];
    for (int w = 0; w < 60; w++) {
        int len = 1 + (int)rnd_below(7);
        for (int i = 0; i < len; i++) words[w][i] = "etaoinshrdlucmTHE"[rnd_below(17)];
        words[w][len] = 0;
    }
    static const char *extra[] = {"é", "日本", "😀", "naïve", "Ωμέγα"};
    static const char *punct[] = {",", ".", "!", "?", "--", "'", ";", ":"};
    static const char *space[] = {" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "   "};
    uint8_t *t = NULL;
    while (arrlenu(t) < target) {
        uint32_t r = rnd_below(100);
        if (r < 70) {
            uint32_t k = rnd_below(60);
            k = k * k / 60; /* skew towards the first words */
            append(&t, words[k]);
        } else if (r < 78) append(&t, extra[rnd_below(5)]);
        else if (r < 86) append(&t, punct[rnd_below(8)]);
        else if (r < 92) { char num[16]; snprintf(num, sizeof num, "%u", rnd_below(2000)); append(&t, num); }
        else if (r < 97) arrput(t, (uint8_t)rnd());
        append(&t, space[rnd_below(10)]);
    }
    return t;
}

/* ---------------------------------------------------------------------- */

static void train_str(const char *text, uint32_t n_merges, ut_tokenizer *tk) {
    bpe_train((const uint8_t *)text, strlen(text), n_merges, tk);
}

/* want: (n, 2) merges */
static int merges_equal(const ut_tokenizer *tk, const uint32_t *want, uint32_t n, char *why, size_t why_len) {
    if (tk->n_merges != n) { snprintf(why, why_len, "got %u merges, want %u", tk->n_merges, n); return 0; }
    for (uint32_t i = 0; i < n; i++)
        if (tk->merges[2 * i] != want[2 * i] || tk->merges[2 * i + 1] != want[2 * i + 1]) {
            snprintf(why, why_len, "merge %u is (%u,%u), want (%u,%u)", i, tk->merges[2 * i], tk->merges[2 * i + 1],
                     want[2 * i], want[2 * i + 1]);
            return 0;
        }
    return 1;
}

/* Worked by hand.  Corpus "hug hug hug pug bug" chunks into
 *   "hug" x1, " hug" x2, " pug" x1, " bug" x1      (' ' = 32, b=98 g=103 h=104 p=112 u=117)
 * Pair counts: (u,g)=5  (h,u)=3  (' ',h)=2  (' ',p)=(p,u)=(' ',b)=(b,u)=1
 *   256 = (u,g)=(117,103)       count 5 -> "h ug", " h ug", " p ug", " b ug"
 *   counts now: (h,ug)=3 (' ',h)=2, (' ',p)=(p,ug)=(' ',b)=(b,ug)=1
 *   257 = (h,256)=(104,256)     count 3 -> "hug" (one token), " hug", " p ug", " b ug"
 *   258 = (' ',257)=(32,257)    count 2 -> " hug" is one token
 *   now (32,112) (112,256) (32,98) (98,256) all have count 1: the tie goes to
 *   the smallest left id (32), then the smallest right id (98 'b' < 112 'p'):
 *   259 = (32,98)  " b"         -> pairs (32,112) (112,256) (259,256), all 1
 *   260 = (32,112) " p"         (left 32 is smallest) -> (260,256) (259,256)
 *   261 = (259,256) " bug"      (259 < 260)
 *   262 = (260,256) " pug"      and then no pairs are left: 7 merges in all.
 *
 * Corpus "aaaa aaa" (overlapping pairs):  chunks "aaaa" x1, " aaa" x1  (a = 97)
 *   (a,a) occurs 3 times in "aaaa" and 2 in " aaa": 5; (' ',a) = 1
 *   256 = (97,97): replaced left to right without overlap:
 *         "aaaa" -> [256,256],  " aaa" -> [32,256,97]
 *   pairs (256,256) (32,256) (256,97) all count 1: smallest left wins
 *   257 = (32,256) -> [257,97];  258 = (256,256);  259 = (257,97).
 */
static void test_hand_worked(void) {
    ut_tokenizer tk;
    char why[200] = "";
    train_str("hug hug hug pug bug", 1000, &tk); /* asks for more than the corpus allows */
    uint32_t want1[] = {117, 103, 104, 256, 32, 257, 32, 98, 32, 112, 259, 256, 260, 256};
    check(merges_equal(&tk, want1, 7, why, sizeof why), "hand_worked_hug", "%s", why);
    check(tk.vocab_size == 256 + 7 + 1 && tk.eot_id == 263 && tk.token_len[262] == 4 &&
              memcmp(tk.token_bytes[262], " pug", 4) == 0,
          "hand_worked_token_bytes", "vocab %u, token 262 has %u bytes", tk.vocab_size, tk.token_len[262]);
    ut_tokenizer_free(&tk);

    train_str("hug hug hug pug bug", 3, &tk); /* stops where asked */
    check(merges_equal(&tk, want1, 3, why, sizeof why), "hand_worked_stop_at_n", "%s", why);
    ut_tokenizer_free(&tk);

    train_str("aaaa aaa", 1000, &tk);
    uint32_t want2[] = {97, 97, 32, 256, 256, 256, 257, 97};
    check(merges_equal(&tk, want2, 4, why, sizeof why), "hand_worked_overlap", "%s", why);
    ut_tokenizer_free(&tk);

    train_str("hello world", 0, &tk); /* vocab 256: bytes only */
    check(tk.n_merges == 0 && tk.vocab_size == 257, "bytes_only_vocab", "n_merges %u vocab %u", tk.n_merges,
          tk.vocab_size);
    ut_tokenizer_free(&tk);
}

/* The chunking rules, checked on examples: GPT-2's (rule 2, the default)
   and the first one (rule 1, version 1 tokenizers). */
static void test_chunker(void) {
    static const struct { int rule; const char *text; const char *want; } cases[] = {
        {2, "Hello, world!", "Hello|,| world|!"},
        {2, "a  b", "a| | b"},
        {2, "x\n\n   y", "x|\n\n  | y"},
        {2, "\n\nJULIET", "\n|\n|JULIET"},
        {2, "a \tb", "a| |\t|b"},
        {2, "end.  \n", "end|.|  \n"},
        {2, "it's 2024", "it|'s| 2024"},
        {2, "know'st we'll I'M", "know|'s|t| we|'ll| I|'|M"},
        {2, "?!'s", "?!'|s"},
        {2, "naïve café", "naïve| café"},
        {2, "x½Ⅻ3", "x|½Ⅻ3"},                         /* numbers: No, Nl, Nd */
        {2, "日本語 テキスト", "日本語| テキスト"},
        {2, "हिन्दी", "ह|ि|न|्|द|ी"},                 /* combining marks are not letters */
        {2, "a\u00a0b\u3000c", "a|\u00a0|b|\u3000|c"},  /* Unicode spaces */
        {2, "x\xff\xfey", "x|\xff\xfe|y"},           /* invalid UTF-8: other, byte by byte */
        {2, " \t x", " \t| x"},
        {2, "  ", "  "},
        {2, "a<|endoftext|>b", "a|<||endoftext||>|b"},
        {1, "Hello, world!", "Hello|,| world|!"},
        {1, "x\n\n   y", "x|\n\n  | y"},
        {1, "\n\nJULIET", "\n\n|JULIET"},
        {1, "it's 2024", "it|'|s| 2024"},
        {1, "naïve café", "naïve| café"},
        {1, "a<|endoftext|>b", "a|<||endoftext||>|b"},
    };
    int ok = 1;
    char got[256] = "";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && ok; c++) {
        ut_chunker ch;
        const uint8_t *t = (const uint8_t *)cases[c].text;
        ut_chunker_init_rule(&ch, t, strlen(cases[c].text), 0, cases[c].rule);
        size_t s, len, at = 0;
        got[0] = 0;
        while (ut_chunker_next(&ch, &s, &len)) {
            if (at) got[at++] = '|';
            memcpy(got + at, t + s, len);
            at += len;
            got[at] = 0;
        }
        if (strcmp(got, cases[c].want) != 0) ok = 0;
    }
    check(ok, "chunker_rule", "got \"%s\"", got);
}

/* The fast trainer against the naive one (bpe_train_naive, the teaching
 * version: recounts every pair for every merge) on generated corpora and
 * several vocab sizes: the merge lists must be identical, pair for pair
 * (tolerance: none).  Also checks the naive trainer made a real number of
 * merges, so an empty list cannot pass. */
static void test_fast_matches_naive(void) {
    static const uint32_t n_merges[] = {1, 40, 344, 1200};
    for (uint64_t seed = 1; seed <= 4; seed++) {
        uint8_t *text = gen_text(seed, 3000 + 1000 * seed);
        uint32_t want = n_merges[seed - 1];
        ut_tokenizer fast, naive;
        bpe_train(text, arrlenu(text), want, &fast);
        bpe_train_naive(text, arrlenu(text), want, &naive);
        char name[64], why[200] = "";
        snprintf(name, sizeof name, "fast_trainer_matches_naive_seed%llu_merges%u", (unsigned long long)seed, want);
        check(merges_equal(&fast, naive.merges, naive.n_merges, why, sizeof why) &&
                  naive.n_merges >= (want < 300 ? want : 300),
              name, "%s (naive made %u merges)", why, naive.n_merges);
        ut_tokenizer_free(&fast);
        ut_tokenizer_free(&naive);
        arrfree(text);
    }
    /* a two-letter alphabet: long words, deep merge chains, ties everywhere */
    g_rng = 99;
    uint8_t *text = NULL;
    for (int i = 0; i < 3000; i++) {
        arrput(text, "ab"[rnd_below(2)]);
        if (rnd_below(12) == 0) arrput(text, ' ');
    }
    ut_tokenizer fast, naive;
    bpe_train(text, arrlenu(text), 400, &fast);
    bpe_train_naive(text, arrlenu(text), 400, &naive);
    char why[200] = "";
    check(merges_equal(&fast, naive.merges, naive.n_merges, why, sizeof why) && naive.n_merges > 100,
          "fast_trainer_matches_naive_ab", "%s", why);
    ut_tokenizer_free(&fast);
    ut_tokenizer_free(&naive);
    arrfree(text);
}

/* A token file read back through the header's reader, checked against tk:
 * the ids (malloc'd), *n their number, *n_bytes the header's text length;
 * NULL if the reader refused it. */
static uint32_t *read_token_file(const char *path, const ut_tokenizer *tk, size_t *n, uint64_t *n_bytes) {
    ut_tokens d;
    if (ut_tokens_read(&d, path)) return NULL;
    if (ut_tokens_check_tokenizer(&d, tk)) { ut_tokens_free(&d); return NULL; }
    uint32_t *ids = xmalloc(sizeof(uint32_t) * (d.n_tokens + 1));
    for (uint64_t i = 0; i < d.n_tokens; i++) ids[i] = (uint32_t)d.tokens[i];
    *n = (size_t)d.n_tokens;
    *n_bytes = d.n_bytes;
    ut_tokens_free(&d);
    return ids;
}

/* decode(encode(x)) == x, with every id in range */
static int roundtrip(encoder *e, const uint8_t *x, size_t n, int eot, size_t *n_tokens) {
    uint32_t *ids = NULL;
    uint8_t *back = NULL;
    encode_text(e, x, n, eot, &ids);
    int ok = 1;
    for (size_t i = 0; i < arrlenu(ids); i++) ok &= ids[i] < e->tk->vocab_size;
    if (ok) decode_ids(e->tk, (const int32_t *)ids, arrlenu(ids), &back); /* ids < 2^31: same bits */
    ok = ok && arrlenu(back) == n && (n == 0 || memcmp(back, x, n) == 0);
    if (n_tokens) *n_tokens = arrlenu(ids);
    arrfree(ids);
    arrfree(back);
    return ok;
}

static void test_roundtrips(void) {
    uint8_t *corpus = gen_text(7, 20000);
    ut_tokenizer tk;
    bpe_train(corpus, arrlenu(corpus), 600 - 256, &tk);
    encoder e;
    encoder_init(&e, &tk);
    size_t nt;

    int ok = roundtrip(&e, (const uint8_t *)"", 0, 0, &nt);
    check(ok && nt == 0, "roundtrip_empty", "%zu tokens", nt);
    static const uint8_t nul[] = {0, 0, 'a', 0, ' ', 0, '\n', 0};
    check(roundtrip(&e, nul, sizeof nul, 0, NULL), "roundtrip_nul_bytes", "mismatch");
    static const uint8_t bad_utf8[] = {0xff, 0xfe, 0xc3, ' ', 0x80, 0x80, 'x', 0xe6, 0x97, 0xed, 0xa0, 0x80, 0xc0, 0xaf};
    check(roundtrip(&e, bad_utf8, sizeof bad_utf8, 0, NULL), "roundtrip_invalid_utf8", "mismatch");
    const char *mixed = "English, Ελληνικά, Русский, 日本語, 中文, العربية, עברית, हिन्दी 😀👍🏽🇫🇷 e\xcc\x81 ok";
    check(roundtrip(&e, (const uint8_t *)mixed, strlen(mixed), 0, NULL), "roundtrip_mixed_scripts_emoji", "mismatch");

    /* a 1 MB line: one huge chunk of letters, then one of mixed words */
    size_t big = 1 << 20;
    uint8_t *line = xmalloc(big);
    g_rng = 5;
    for (size_t i = 0; i < big; i++) line[i] = "etaoinTHE"[rnd_below(9)];
    /* CPU seconds, not wall time: a busy machine must not fail this. It
     * guards against a quadratic encoder (hours for 1 MB), not for speed:
     * the bound is 50x what it takes here (0.1 s, 1.5 s under ASan). */
    clock_t c0 = clock();
    ok = roundtrip(&e, line, big, 0, &nt);
    double dt = (double)(clock() - c0) / CLOCKS_PER_SEC;
    check(ok && nt < big, "roundtrip_1mb_single_chunk", "ok=%d tokens=%zu", ok, nt);
    check(dt < 20.0, "encode_1mb_chunk_not_quadratic", "%.2f CPU seconds (bound 20; a quadratic encoder would take hours)", dt);
    /* cppcheck-suppress zerodiv ; corpus is the non-empty text made above (arrlenu is 0 only for NULL) */
    for (size_t i = 0; i < big; i++) line[i] = corpus[i % arrlenu(corpus)] == '\n' ? ' ' : corpus[i % arrlenu(corpus)];
    check(roundtrip(&e, line, big, 0, NULL), "roundtrip_1mb_line", "mismatch");
    free(line);

    /* no whitespace at all: punctuation, digits and letters glued together */
    uint8_t *nows = NULL;
    for (size_t i = 0; i < arrlenu(corpus); i++)
        if (ut_byte_class(corpus[i]) != UT_SPACE) arrput(nows, corpus[i]);
    check(roundtrip(&e, nows, arrlenu(nows), 0, NULL), "roundtrip_no_whitespace", "mismatch");
    arrfree(nows);

    /* thousands of random byte strings (any bytes, any lengths) */
    g_rng = 12345;
    int n_ok = 0, n_cases = 3000;
    for (int c = 0; c < n_cases; c++) {
        uint8_t buf[300];
        size_t n = rnd_below(300);
        uint32_t mode = rnd_below(3);
        for (size_t i = 0; i < n; i++) /* mode 0: any byte; 1: mostly text; 2: few distinct bytes */
            buf[i] = mode == 0 ? (uint8_t)rnd() : mode == 1 ? corpus[rnd_below((uint32_t)arrlenu(corpus))] : "a b\n"[rnd_below(4)];
        n_ok += roundtrip(&e, buf, n, (int)(c & 1), NULL);
    }
    check(n_ok == n_cases, "roundtrip_random_byte_strings", "%d of %d round-tripped", n_ok, n_cases);

    /* the training corpus itself round-trips, with fewer tokens than bytes / 2 */
    ok = roundtrip(&e, corpus, arrlenu(corpus), 0, &nt);
    check(ok && nt < arrlenu(corpus) / 2, "roundtrip_corpus_compresses",
          "%zu tokens for %zu bytes", nt, arrlenu(corpus));

    /* <|endoftext|>: the special id only with eot on; plain bytes otherwise */
    const char *doc = "one doc<|endoftext|>two<|endoftext|><|endoftext|> three <|endoftext";
    uint32_t *ids = NULL;
    encode_text(&e, (const uint8_t *)doc, strlen(doc), 1, &ids);
    int n_eot = 0;
    for (size_t i = 0; i < arrlenu(ids); i++) n_eot += ids[i] == tk.eot_id;
    check(n_eot == 3 && roundtrip(&e, (const uint8_t *)doc, strlen(doc), 1, NULL), "eot_on_gives_special_id",
          "%d special ids", n_eot);
    ARR_CLEAR(ids);
    encode_text(&e, (const uint8_t *)doc, strlen(doc), 0, &ids);
    n_eot = 0;
    for (size_t i = 0; i < arrlenu(ids); i++) n_eot += ids[i] == tk.eot_id;
    check(n_eot == 0 && roundtrip(&e, (const uint8_t *)doc, strlen(doc), 0, NULL), "eot_off_is_plain_bytes",
          "%d special ids", n_eot);
    arrfree(ids);

    /* a split at split_point() gives exactly the tokens of the whole */
    int split_ok = 1;
    for (int k = 1; k < 10 && split_ok; k++) {
        size_t n = arrlenu(corpus), cut = split_point(corpus, n, n * (size_t)k / 10, 0, UT_PRETOK_GPT2);
        uint32_t *whole = NULL, *parts = NULL;
        encode_text(&e, corpus, n, 0, &whole);
        encode_text(&e, corpus, cut, 0, &parts);
        encode_text(&e, corpus + cut, n - cut, 0, &parts);
        split_ok = cut >= n * (size_t)k / 10 && cut < n && arrlenu(whole) == arrlenu(parts) &&
                   memcmp(whole, parts, sizeof(uint32_t) * arrlenu(whole)) == 0;
        arrfree(whole);
        arrfree(parts);
    }
    check(split_ok, "split_at_chunk_boundary_keeps_tokens", "tokens differ");

    /* encode_to_file works block by block: with tiny blocks (so there are
     * hundreds of them) the file must still hold the tokens of the whole */
    uint8_t *text = NULL;
    /* cppcheck-suppress nullPointer ; arraddnptr (stb_ds) grows text first: cppcheck does not follow the macro */
    memcpy(arraddnptr(text, 5000), corpus, 5000);
    append(&text, "<|endoftext|>\nabc<|endoftext|>\n\n<|endoftext|>x\n");
    memcpy(arraddnptr(text, arrlenu(corpus) - 5000), corpus + 5000, arrlenu(corpus) - 5000);
    char dir[] = "/tmp/test_tokenizer_XXXXXX", path[64];
    int block_ok = mkdtemp(dir) != NULL;
    snprintf(path, sizeof path, "%s/t.bin", dir);
    size_t saved = g_block_bytes;
    g_block_bytes = 50;
    for (int eot = 0; eot < 2 && block_ok; eot++) {
        uint32_t *whole = NULL;
        encode_text(&e, text, arrlenu(text), eot, &whole);
        out_file o;
        out_open(&o, path);
        size_t n_written = encode_to_file(&e, text, arrlenu(text), eot, &o);
        out_finish(&o);
        out_commit(&o);
        size_t n_read;
        uint64_t n_bytes;
        uint32_t *got = read_token_file(path, &tk, &n_read, &n_bytes);
        block_ok = got && n_written == arrlenu(whole) && n_read == n_written && n_bytes == arrlenu(text) &&
                   memcmp(got, whole, sizeof(uint32_t) * n_read) == 0;
        free(got);
        arrfree(whole);
        unlink(path);
    }
    g_block_bytes = saved;
    rmdir(dir);
    arrfree(text);
    check(block_ok, "blockwise_encode_file_matches_whole", "token file differs from encoding the whole text");

    encoder_free(&e);
    ut_tokenizer_free(&tk);
    arrfree(corpus);
}

/* bytes only (vocab 256): one token per byte */
static void test_bytes_only(void) {
    ut_tokenizer tk;
    train_str("abc abc", 0, &tk);
    encoder e;
    encoder_init(&e, &tk);
    size_t nt;
    const char *s = "hello there, world";
    int ok = roundtrip(&e, (const uint8_t *)s, strlen(s), 0, &nt);
    check(ok && nt == strlen(s), "bytes_only_one_token_per_byte",
          "%zu tokens", nt);
    encoder_free(&e);
    ut_tokenizer_free(&tk);
}

/* A vocab over 65536 ids needs 4-byte tokens in the token file.  Every pair
 * of bytes as a merge gives 256 + 65536 + 1 ids without any training. */
static void test_u32_token_file(void) {
    uint32_t *merges = xmalloc(sizeof(uint32_t) * 2 * 65536);
    for (uint32_t i = 0; i < 65536; i++) { merges[2 * i] = i >> 8; merges[2 * i + 1] = i & 255; }
    ut_tokenizer tk;
    tok_from_merges(&tk, merges, 65536);
    free(merges);
    encoder e;
    encoder_init(&e, &tk);
    g_rng = 77;
    uint8_t text[5000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)rnd();
    char dir[] = "/tmp/test_tokenizer_XXXXXX", path[64];
    int ok = mkdtemp(dir) != NULL;
    snprintf(path, sizeof path, "%s/t.bin", dir);
    size_t n_read = 0;
    uint32_t max_id = 0;
    if (ok) {
        out_file o;
        out_open(&o, path);
        encode_to_file(&e, text, sizeof text, 0, &o);
        out_finish(&o);
        out_commit(&o);
        uint64_t n_bytes;
        uint8_t *back = NULL;
        uint32_t *ids = read_token_file(path, &tk, &n_read, &n_bytes);
        for (size_t i = 0; ids && i < n_read; i++) max_id = ids[i] > max_id ? ids[i] : max_id;
        if (ids) decode_ids(&tk, (const int32_t *)ids, n_read, &back);
        size_t fsize;
        uint8_t *f = read_file(path, &fsize);
        ok = ids && ut_get_u32(f + 12) == 4 && fsize == 32 + 4 * n_read && n_bytes == sizeof text &&
             arrlenu(back) == sizeof text && memcmp(back, text, sizeof text) == 0;
        free(f);
        free(ids);
        arrfree(back);
        unlink(path);
        rmdir(dir);
    }
    check(ok && max_id > 65535, "u32_token_file_roundtrip", "ok=%d max id %u", ok, max_id);
    encoder_free(&e);
    ut_tokenizer_free(&tk);
}

/* same corpus -> byte-identical tokenizer; save + load gives it back */
static void test_determinism(void) {
    uint8_t *corpus = gen_text(3, 30000);
    ut_tokenizer a, b;
    bpe_train(corpus, arrlenu(corpus), 1000, &a);
    bpe_train(corpus, arrlenu(corpus), 1000, &b);
    size_t na, nb, nc;
    uint8_t *sa = ut_tokenizer_serialize(&a, &na), *sb = ut_tokenizer_serialize(&b, &nb);
    check(na == nb && memcmp(sa, sb, na) == 0, "train_twice_identical", "files differ");

    char dir[] = "/tmp/test_tokenizer_XXXXXX", path[64];
    if (!mkdtemp(dir)) { check(0, "save_load_identical", "mkdtemp failed"); return; }
    snprintf(path, sizeof path, "%s/t.tok", dir);
    out_file o;
    out_open(&o, path);
    tok_write(&a, &o);
    ut_tokenizer c;
    tok_load(&c, path);
    uint8_t *sc = ut_tokenizer_serialize(&c, &nc);
    check(na == nc && memcmp(sa, sc, na) == 0 && memcmp(sa, "UTBP", 4) == 0 &&
              ut_get_u32(sa + 8) == c.vocab_size && ut_get_u32(sa + 12) == c.n_merges,
          "save_load_identical", "differ");
    unlink(path);
    rmdir(dir);
    free(sa);
    free(sb);
    free(sc);
    ut_tokenizer_free(&a);
    ut_tokenizer_free(&b);
    ut_tokenizer_free(&c);
    arrfree(corpus);
}

/* ---------------------------------------------------------------------- */
/* The prompt path (ut_tokenizer_encode_bytes in ultrathink.h: chunk, then
 * replay merges) against `tokenizer encode` (encode_text: chunk, cache, heap
 * encoder; and encode_to_file, which writes the real token file).  The ids
 * must be identical (tolerance: none). */

enum { TEXT_ASCII, TEXT_UTF8, TEXT_ANY_BYTES, TEXT_RUNS, TEXT_EOT, TEXT_KINDS };
static const char *g_text_kind[TEXT_KINDS] = {"ascii", "utf8", "any_bytes", "runs", "eot"};

/* A random text of one kind, 0..max_len bytes (about), appended to *t. */
static void random_text(uint8_t **t, int kind, size_t max_len) {
    static const char *utf8[] = {"é", "日本", "😀", "naïve", "Ωμέγα", "ß", "\xcc\x81", "中文"};
    size_t target = rnd_below((uint32_t)max_len + 1);
    while (arrlenu(*t) < target) {
        uint32_t r = rnd_below(100);
        if (kind == TEXT_ANY_BYTES) arrput(*t, (uint8_t)rnd());
        else if (kind == TEXT_RUNS) { /* long runs of one space/digit/newline byte, a little text between */
            uint8_t c = (uint8_t)" \n\t0123456789 \n"[rnd_below(15)];
            for (uint32_t i = rnd_below(200) + 1; i > 0; i--) arrput(*t, r < 50 ? c : (uint8_t)"0123456789"[rnd_below(10)]);
            if (r % 3 == 0) append(t, "word");
        } else if (r < 60) arrput(*t, (uint8_t)"etaoin shrdlu ETAOIN\n.,;'!?-"[rnd_below(28)]);
        else if (r < 75 && kind == TEXT_UTF8) append(t, utf8[rnd_below(8)]);
        else if (r < 80 && kind == TEXT_EOT) append(t, rnd_below(3) ? "<|endoftext|>" : "<|endoft");
        else arrput(*t, (uint8_t)"abc 12 \n"[rnd_below(8)]);
    }
}

/* ids of the prompt path; NULL (and *n = 0) if it failed */
static int *prompt_encode(const ut_tokenizer *tk, const uint8_t *t, size_t n, int eot, size_t *n_ids) {
    int *ids = xmalloc(sizeof(int) * (n + 1));
    int m = ut_tokenizer_encode_bytes(tk, t, n, eot, ids, (int)n);
    *n_ids = m < 0 ? 0 : (size_t)m;
    if (m < 0) { free(ids); return NULL; }
    return ids;
}

static int same_ids(const uint32_t *a, size_t na, const int *b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i] != (uint32_t)b[i]) return 0;
    return 1;
}

static void test_prompt_path_matches_encode(void) {
    /* a tokenizer that knows merges for words, UTF-8, space and digit runs */
    uint8_t *corpus = gen_text(11, 20000);
    g_rng = 2024;
    for (int k = 0; k < 40; k++) random_text(&corpus, k % TEXT_KINDS, 500);
    ut_tokenizer tk;
    bpe_train(corpus, arrlenu(corpus), 700, &tk);
    encoder e;
    encoder_init(&e, &tk);
    char dir[] = "/tmp/test_tokenizer_XXXXXX", path[64];
    int have_dir = mkdtemp(dir) != NULL;
    snprintf(path, sizeof path, "%s/t.bin", dir);
    size_t saved = g_block_bytes;
    g_block_bytes = 200; /* many blocks per file */

    for (int kind = 0; kind < TEXT_KINDS; kind++) {
        g_rng = 1000 + (uint64_t)kind;
        int n_texts = 300, bad = 0, bad_cstr = 0, n_cstr = 0;
        char first_bad[160] = "";
        uint8_t *all = NULL; /* every text of this kind, one after the other */
        for (int c = 0; c < n_texts; c++) {
            uint8_t *t = NULL;
            random_text(&t, kind, c < 10 ? 3 : 700); /* the first few: empty or a byte or two */
            size_t n = arrlenu(t);
            int eot = kind == TEXT_EOT ? c % 3 != 0 : c & 1;
            uint32_t *fast = NULL;
            encode_text(&e, t, n, eot, &fast);
            size_t np;
            int *slow = prompt_encode(&tk, t, n, eot, &np);
            if (!slow || !same_ids(fast, arrlenu(fast), slow, np)) {
                if (!bad++) snprintf(first_bad, sizeof first_bad, "text %d (%zu bytes): %zu ids vs %zu", c, n, arrlenu(fast), np);
            }
            /* the C-string entry point (what ./train sample --prompt calls), no --eot */
            if (!eot && (n == 0 || !memchr(t, 0, n))) {
                char *z = xmalloc(n + 1);
                if (n) memcpy(z, t, n);
                z[n] = 0;
                int *ids = xmalloc(sizeof(int) * (n + 1));
                int m = ut_tokenizer_encode(&tk, z, ids, (int)n);
                n_cstr++;
                bad_cstr += m < 0 || !same_ids(fast, arrlenu(fast), ids, (size_t)m);
                free(ids);
                free(z);
            }
            if (n) memcpy(arraddnptr(all, n), t, n);
            free(slow);
            arrfree(fast);
            arrfree(t);
        }
        char name[96];
        snprintf(name, sizeof name, "prompt_path_matches_encode_%s", g_text_kind[kind]);
        check(bad == 0, name, "%d of %d texts differ; first: %s", bad, n_texts, first_bad);
        snprintf(name, sizeof name, "prompt_cstring_matches_encode_%s", g_text_kind[kind]);
        check(bad_cstr == 0 && n_cstr > 0, name, "%d of %d C strings differ", bad_cstr, n_cstr);

        /* all texts of the kind as one file through encode_to_file, read back
         * with the header's reader (ut_tokens_read + ut_tokens_check_tokenizer) */
        int eot = kind == TEXT_EOT;
        int file_ok = have_dir;
        size_t n_read = 0, np = 0;
        if (file_ok) {
            out_file o;
            out_open(&o, path);
            encode_to_file(&e, all, arrlenu(all), eot, &o);
            out_finish(&o);
            out_commit(&o);
            uint64_t n_bytes;
            uint32_t *got = read_token_file(path, &tk, &n_read, &n_bytes);
            int *slow = prompt_encode(&tk, all, arrlenu(all), eot, &np);
            file_ok = got && slow && n_bytes == arrlenu(all) && same_ids(got, n_read, slow, np);
            free(got);
            free(slow);
            unlink(path);
        }
        snprintf(name, sizeof name, "token_file_matches_prompt_path_%s", g_text_kind[kind]);
        check(file_ok && np > 0, name, "%zu bytes: file holds %zu ids, prompt path gives %zu", arrlenu(all), n_read, np);
        arrfree(all);
    }
    /* every single byte alone */
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t t = (uint8_t)b;
        uint32_t *fast = NULL;
        encode_text(&e, &t, 1, 0, &fast);
        size_t np;
        int *slow = prompt_encode(&tk, &t, 1, 0, &np);
        bad += !slow || !same_ids(fast, arrlenu(fast), slow, np) || np != 1 || slow[0] != b;
        free(slow);
        arrfree(fast);
    }
    check(bad == 0, "prompt_path_single_bytes", "%d of 256 single bytes differ", bad);
    int out[4];
    check(ut_tokenizer_encode_bytes(&tk, (const uint8_t *)"", 0, 1, out, 0) == 0, "prompt_path_empty_text", "not 0 ids");
    check(ut_tokenizer_encode_bytes(&tk, (const uint8_t *)"hello there", 11, 0, out, 4) == -1 &&
              strstr(ut_error(), "room"),
          "prompt_path_refuses_small_buffer", "error: \"%s\"", ut_error());
    g_block_bytes = saved;
    if (have_dir) rmdir(dir);
    encoder_free(&e);
    ut_tokenizer_free(&tk);
    arrfree(corpus);
}

/* The heap encoder (bpe_chunk) against the merge replay (the header's
 * ut__encode_chunk) on one chunk, skipping the chunker and the cache: random
 * strings that cross every chunk rule, for a tokenizer with deep merge chains
 * ("ab") and one for text.  Identical ids required. */
static void test_heap_matches_replay(void) {
    g_rng = 4242;
    uint8_t *ab = NULL;
    for (int i = 0; i < 4000; i++) {
        arrput(ab, "ab"[rnd_below(2)]);
        if (rnd_below(15) == 0) arrput(ab, ' ');
    }
    uint8_t *text = gen_text(5, 20000);
    const uint8_t *corpora[2] = {ab, text};
    const size_t sizes[2] = {arrlenu(ab), arrlenu(text)};
    for (int k = 0; k < 2; k++) {
        ut_tokenizer tk;
        bpe_train(corpora[k], sizes[k], 500, &tk);
        encoder e;
        encoder_init(&e, &tk);
        int bad = 0, n_cases = 2000;
        size_t longest = 0;
        for (int c = 0; c < n_cases; c++) {
            size_t n = 1 + rnd_below(c < 1900 ? 60 : 600);
            uint8_t *s = xmalloc(n);
            uint32_t mode = rnd_below(3);
            for (size_t i = 0; i < n; i++)
                s[i] = mode == 0 ? "ab"[rnd_below(2)] : mode == 1 ? corpora[k][rnd_below((uint32_t)sizes[k])] : (uint8_t)rnd();
            int *ids = xmalloc(sizeof(int) * n);
            size_t m = ut__encode_chunk(&tk, s, n, ids);
            bpe_chunk(&e, s, n);
            bad += !same_ids(e.ids, arrlenu(e.ids), ids, m);
            if (m && arrlenu(e.ids) && n > longest && m < n) longest = n;
            free(ids);
            free(s);
        }
        char name[64];
        snprintf(name, sizeof name, "heap_encoder_matches_merge_replay_%s", k ? "text" : "ab");
        check(bad == 0 && longest > 0, name, "%d of %d strings differ", bad, n_cases);
        encoder_free(&e);
        ut_tokenizer_free(&tk);
    }
    arrfree(ab);
    arrfree(text);
}

/* ---------------------------------------------------------------------- */
/* Strict readers: one corruption at a time, each refused with a message
 * naming the problem (the check compares the message with a substring). */

static char g_dir[64];

static void write_bytes(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { if (n) fwrite(b, 1, n, f); fclose(f); }
}

/* Loads bytes b[0..n) as a tokenizer file: must fail with `want` in the message. */
static void expect_bad_tok(const char *name, const uint8_t *b, size_t n, const char *want) {
    char path[96];
    snprintf(path, sizeof path, "%s/bad.tok", g_dir);
    write_bytes(path, b, n);
    ut_tokenizer tk;
    int r = ut_tokenizer_load(&tk, path);
    check(r == -1 && strstr(ut_error(), want) != NULL, name, "load gave %d, error \"%s\", want \"%s\"", r,
          r ? ut_error() : "", want);
    if (r == 0) ut_tokenizer_free(&tk);
}

static void test_strict_tokenizer_reader(void) {
    ut_tokenizer tk;
    train_str("hug hug hug pug bug", 1000, &tk); /* 7 merges, vocab 264 */
    size_t n;
    uint8_t *good = ut_tokenizer_serialize(&tk, &n), *b = xmalloc(n + 1);
    ut_tokenizer_free(&tk);
    char path[96];
    snprintf(path, sizeof path, "%s/good.tok", g_dir);
    write_bytes(path, good, n);
    int r = ut_tokenizer_load(&tk, path);
    check(r == 0 && tk.vocab_size == 264 && tk.eot_id == 263, "tok_reader_accepts_good_file", "%s", r ? ut_error() : "");
    if (r == 0) ut_tokenizer_free(&tk);

#define CORRUPT(name, edit, len, want) do { memcpy(b, good, n); edit; expect_bad_tok(name, b, len, want); } while (0)
    CORRUPT("tok_reader_bad_magic", b[0] = 'X', n, "bad magic");
    CORRUPT("tok_reader_bad_version", ut_put_u32(b + 4, 3), n, "version 3");
    CORRUPT("tok_reader_bad_pretok", ut_put_u32(b + 20, 7), n, "pre-tokenization rule 7");
    CORRUPT("tok_reader_two_specials", (ut_put_u32(b + 16, 2), ut_put_u32(b + 8, 265)), n, "n_special is 2");
    CORRUPT("tok_reader_inconsistent_counts", ut_put_u32(b + 8, 300), n, "vocab_size 300");
    CORRUPT("tok_reader_huge_merge_count", (ut_put_u32(b + 12, 100000), ut_put_u32(b + 8, 100257)), n, "do not fit");
    CORRUPT("tok_reader_merge_refers_forward", ut_put_u32(b + 24, 300), n, "not defined before it");
    CORRUPT("tok_reader_repeated_pair", memcpy(b + 32, b + 24, 8), n, "join the same pair");
    CORRUPT("tok_reader_token_length", ut_put_u32(b + 24 + 8 * 7, 2), n, "token 0 has length 2");
    CORRUPT("tok_reader_token_bytes", b[n - 1] = 'X', n, "do not match its definition");
    CORRUPT("tok_reader_truncated", (void)0, n - 1, "truncated in the token table");
    CORRUPT("tok_reader_trailing_byte", b[n] = 'x', n + 1, "1 trailing bytes");
    CORRUPT("tok_reader_short_header", (void)0, 10, "too short");
    CORRUPT("tok_reader_empty_file", (void)0, 0, "too short");
#undef CORRUPT
    /* a version 1 file (no pretok field) still loads, with the first rule */
    memcpy(b, good, 20);
    ut_put_u32(b + 4, 1);
    memcpy(b + 20, good + 24, n - 24);
    snprintf(path, sizeof path, "%s/v1.tok", g_dir);
    write_bytes(path, b, n - 4);
    r = ut_tokenizer_load(&tk, path);
    check(r == 0 && tk.pretok == UT_PRETOK_V1 && tk.vocab_size == 264, "tok_reader_version_1_loads", "%s",
          r ? ut_error() : "wrong pretok");
    if (r == 0) ut_tokenizer_free(&tk);
    snprintf(path, sizeof path, "%s/nope.tok", g_dir);
    r = ut_tokenizer_load(&tk, path);
    check(r == -1 && strstr(ut_error(), "cannot open"), "tok_reader_missing_file", "error \"%s\"", ut_error());

    /* A file packed here byte by byte, independent of the writer (as old
     * files were written): it loads, and the writer gives the same bytes.
     * Merges: (a,b) -> 256 "ab", (256,256) -> 257 "abab", (' ',b) -> 258 " b". */
    uint8_t *hand = NULL;
    uint8_t w[4];
    append(&hand, "UTBP");
    const uint32_t head[] = {2, 260, 3, 1, UT_PRETOK_GPT2, 'a', 'b', 256, 256, ' ', 'b'};  /* version 2 */
    for (int i = 0; i < 11; i++) { ut_put_u32(w, head[i]); memcpy(arraddnptr(hand, 4), w, 4); }
    for (int id = 0; id < 256; id++) { ut_put_u32(w, 1); memcpy(arraddnptr(hand, 4), w, 4); arrput(hand, (uint8_t)id); }
    const char *extra[4] = {"ab", "abab", " b", "<|endoftext|>"};
    for (int i = 0; i < 4; i++) {
        ut_put_u32(w, (uint32_t)strlen(extra[i]));
        memcpy(arraddnptr(hand, 4), w, 4);
        append(&hand, extra[i]);
    }
    snprintf(path, sizeof path, "%s/hand.tok", g_dir);
    write_bytes(path, hand, arrlenu(hand));
    size_t n2 = 0;
    uint8_t *again = NULL;
    r = ut_tokenizer_load(&tk, path);
    if (r == 0) again = ut_tokenizer_serialize(&tk, &n2);
    check(r == 0 && again && n2 == arrlenu(hand) && memcmp(again, hand, n2) == 0, "tok_hand_packed_file_loads_and_rewrites",
          "load %d (%s), rewritten %zu bytes of %zu", r, r ? ut_error() : "ok", n2, arrlenu(hand));
    if (r == 0) ut_tokenizer_free(&tk);
    free(again);
    arrfree(hand);
    free(good);
    free(b);
}

/* Reads bytes b[0..n) as a token file (checked against tk when given): must
 * fail with `want` in the message. */
static void expect_bad_tokens(const char *name, const uint8_t *b, size_t n, const ut_tokenizer *tk, const char *want) {
    char path[96];
    snprintf(path, sizeof path, "%s/bad.bin", g_dir);
    write_bytes(path, b, n);
    ut_tokens d;
    int r = ut_tokens_read(&d, path);
    if (r == 0 && tk) r = ut_tokens_check_tokenizer(&d, tk);
    check(r == -1 && strstr(ut_error(), want) != NULL, name, "gave %d, error \"%s\", want \"%s\"", r, r ? ut_error() : "",
          want);
    ut_tokens_free(&d);
}

static void test_strict_token_reader(void) {
    ut_tokenizer tk;
    train_str("hug hug hug pug bug", 1000, &tk); /* vocab 264 */
    const char *text = "hug pug bug hugs";
    encoder e;
    encoder_init(&e, &tk);
    uint32_t *ids = NULL;
    encode_text(&e, (const uint8_t *)text, strlen(text), 0, &ids);
    size_t nt = arrlenu(ids), n = UT_TOKENS_HEADER + 2 * nt;
    uint8_t *good = xmalloc(n + 1), *b = xmalloc(n + 1);
    ut_tokens_pack_header(good, tk.vocab_size, nt, strlen(text));
    size_t body = ut_tokens_pack_ids(good + UT_TOKENS_HEADER, ids, nt, tk.vocab_size);

    char path[96];
    snprintf(path, sizeof path, "%s/good.bin", g_dir);
    write_bytes(path, good, n);
    ut_tokens d;
    int r = ut_tokens_read(&d, path);
    int same = r == 0 && d.n_tokens == nt && d.n_bytes == strlen(text) && ut_tokens_check_tokenizer(&d, &tk) == 0;
    for (size_t i = 0; same && i < nt; i++) same = (uint32_t)d.tokens[i] == ids[i];
    check(same && body == 2 * nt && nt > 3, "tokens_writer_reader_roundtrip", "%s", r ? ut_error() : "ids differ");
    ut_tokens_free(&d);

#define CORRUPT(name, edit, len, tok, want) do { memcpy(b, good, n); edit; expect_bad_tokens(name, b, len, tok, want); } while (0)
    CORRUPT("tokens_reader_bad_magic", b[0] = 'X', n, NULL, "not a token file (bad magic");
    CORRUPT("tokens_reader_bad_version", ut_put_u32(b + 4, 2), n, NULL, "version 2");
    CORRUPT("tokens_reader_bad_vocab", ut_put_u32(b + 8, 1), n, NULL, "bad vocab size 1");
    CORRUPT("tokens_reader_wrong_token_width", ut_put_u32(b + 12, 4), n, NULL, "token width 4");
    CORRUPT("tokens_reader_count_mismatch", ut_put_u64(b + 16, nt + 1), n, NULL, "promises");
    CORRUPT("tokens_reader_truncated", (void)0, n - 1, NULL, "truncated");
    CORRUPT("tokens_reader_trailing_byte", b[n] = 0, n + 1, NULL, "truncated or corrupted");
    CORRUPT("tokens_reader_short_header", (void)0, 20, NULL, "too short");
    CORRUPT("tokens_reader_id_out_of_range", ut_put_u32(b + 8, 200), n, NULL, ">= vocab size 200");
    CORRUPT("tokens_reader_other_tokenizer", (ut_put_u32(b + 8, 300)), n, &tk, "vocab size 300");
    CORRUPT("tokens_reader_n_bytes_mismatch", ut_put_u64(b + 24, 99), n, &tk, "decode to 16");
#undef CORRUPT
    /* 0 tokens: a valid file (an empty text) for the reader, not for training */
    ut_tokens_pack_header(b, tk.vocab_size, 0, 0);
    snprintf(path, sizeof path, "%s/empty.bin", g_dir);
    write_bytes(path, b, UT_TOKENS_HEADER);
    int r_read = ut_tokens_read(&d, path);
    ut_tokens_free(&d);
    int r_load = ut_tokens_load(&d, path);
    check(r_read == 0 && r_load == -1 && strstr(ut_error(), "holds no tokens"), "tokens_empty_file_read_not_loaded",
          "read %d load %d (%s)", r_read, r_load, ut_error());

    /* Vocabulary sizes above the model's limit (2^24, as ut_config_validate)
     * are refused by the reader, with the size printed unsigned: 2^32 - 1 must
     * read 4294967295, never -1.  The file is otherwise well formed (4-byte
     * ids, all small), so only the vocab check can refuse it.  2^24 itself is
     * accepted. */
    static const uint32_t huge[] = {4294967295u, (1u << 24) + 1, 1u << 24};
    for (int k = 0; k < 3; k++) {
        uint8_t w[UT_TOKENS_HEADER + 8];
        const uint32_t two[2] = {1, 2};
        ut_tokens_pack_header(w, huge[k], 2, 2);
        ut_tokens_pack_ids(w + UT_TOKENS_HEADER, two, 2, huge[k]);
        snprintf(path, sizeof path, "%s/huge.bin", g_dir);
        write_bytes(path, w, sizeof w);
        char want[32], name[48];
        snprintf(want, sizeof want, "vocab size %u", huge[k]);
        snprintf(name, sizeof name, "tokens_reader_vocab_%u", huge[k]);
        int rr = ut_tokens_read(&d, path);
        char err_read[600];
        snprintf(err_read, sizeof err_read, "%s", rr ? ut_error() : "");
        ut_tokens_free(&d);
        int rl = ut_tokens_load(&d, path);
        const char *err_load = rl ? ut_error() : "";
        if (huge[k] == 1u << 24)
            check(rr == 0 && rl == 0 && d.vocab_size == huge[k], name, "read %d load %d: %s", rr, rl, err_load);
        else
            check(rr == -1 && rl == -1 && strstr(err_read, want) && strstr(err_load, want) &&
                      strstr(err_load, "16777216") && !strstr(err_load, "-1"),
                  name, "read %d load %d, errors \"%s\" / \"%s\", want \"%s\" and the limit 16777216", rr, rl, err_read,
                  err_load, want);
        ut_tokens_free(&d);
    }
    free(good);
    free(b);
    arrfree(ids);
    encoder_free(&e);
    ut_tokenizer_free(&tk);
}

/* The byte-class table agrees with the rule as written in ultrathink.h. */
static void test_byte_classes(void) {
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        int want = (b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f') ? UT_SPACE
                 : ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b >= 0x80) ? UT_LETTER
                 : (b >= '0' && b <= '9') ? UT_DIGIT : UT_PUNCT;
        bad += ut_byte_class((uint8_t)b) != want;
    }
    check(bad == 0, "byte_class_table_matches_rule", "%d of 256 bytes in the wrong class", bad);
}

int main(void) {
    test_chunker();
    test_hand_worked();
    test_fast_matches_naive();
    test_roundtrips();
    test_bytes_only();
    test_u32_token_file();
    test_determinism();
    test_byte_classes();
    test_prompt_path_matches_encode();
    test_heap_matches_replay();
    snprintf(g_dir, sizeof g_dir, "/tmp/test_tokenizer_XXXXXX");
    if (!mkdtemp(g_dir)) { check(0, "strict_readers", "mkdtemp failed"); return 1; }
    test_strict_tokenizer_reader();
    test_strict_token_reader();
    static const char *files[] = {"bad.tok", "good.tok", "hand.tok", "bad.bin", "good.bin", "empty.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    rmdir(g_dir);
    return g_failed;
}
