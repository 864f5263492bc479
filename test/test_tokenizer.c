/*
 * test_tokenizer.c — unit tests for tokenizer.c, calling its functions directly.
 * Prints one "PASS name" / "FAIL name details" line per check (see test/run.sh)
 * and exits non-zero if any check failed.  Generates all its own data.
 * The command-line behaviour (files, errors) is tested by test_tokenizer.sh.
 */
#define TOKENIZER_TESTING
#include "../tokenizer.c"

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

/* The chunking rule, checked on examples. */
static void test_chunker(void) {
    static const struct { const char *text; const char *want; } cases[] = {
        {"Hello, world!", "Hello|,| world|!"},
        {"a  b", "a| | b"},
        {"x\n\n   y", "x|\n\n  | y"},
        {"end.  \n", "end|.|  \n"},
        {"it's 2024", "it|'|s| 2024"},
        {"naïve café", "naïve| café"},
        {" \t x", " \t| x"},
        {"  ", "  "},
        {"a<|endoftext|>b", "a|<||endoftext||>|b"},
    };
    int ok = 1;
    char got[256] = "";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && ok; c++) {
        ut_chunker ch;
        const uint8_t *t = (const uint8_t *)cases[c].text;
        ut_chunker_init(&ch, t, strlen(cases[c].text), 0);
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
    double t0 = now_seconds();
    ok = roundtrip(&e, line, big, 0, &nt);
    double dt = now_seconds() - t0;
    check(ok && nt < big, "roundtrip_1mb_single_chunk", "ok=%d tokens=%zu", ok, nt);
    check(dt < 2.0, "encode_1mb_chunk_fast", "took %.2f s (a quadratic encoder would take minutes)", dt);
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
        size_t n = arrlenu(corpus), cut = split_point(corpus, n, n * (size_t)k / 10, 0);
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

int main(void) {
    test_chunker();
    test_hand_worked();
    test_fast_matches_naive();
    test_roundtrips();
    test_bytes_only();
    test_u32_token_file();
    test_determinism();
    return g_failed;
}
