/*
 * tokenizer.c — a byte-level BPE tokenizer (the kind GPT-2 uses), in one file.
 *
 *   tokenizer train  --input FILE [FILE...] --vocab-size N --output TOK [--naive]
 *   tokenizer encode --model TOK --input FILE --output TOKENS
 *                    [--val-fraction F --val-output VALTOKENS] [--eot]
 *   tokenizer decode --model TOK --input TOKENS        (text goes to stdout)
 *   tokenizer info   --model TOK [--input FILE]
 *
 * WHAT BPE IS
 *   Start with the 256 byte values as tokens (ids 0..255), so any text at all
 *   can be encoded.  Then repeatedly find the pair of adjacent tokens that
 *   occurs most often in the training text, and add a new token for it (a
 *   "merge": id 256 is the first merge, 257 the second, ...).  Encoding a new
 *   text replays those merges in the order they were learned.  N = vocab size
 *   counts the 256 bytes plus the merges, so N = 256 means no merges at all
 *   (a plain byte / character-level model).  One special token,
 *   <|endoftext|>, is added after the merges: total vocab N + 1, its id is N.
 *
 * WHAT LIVES IN ultrathink.h (section 10), shared with ./train
 *   - pre-tokenization: the rule that cuts text into chunks before BPE sees
 *     it (merges never cross a chunk boundary), ut_chunker;
 *   - the tokenizer file (TOK): its format, reader ut_tokenizer_load and
 *     writer ut_tokenizer_serialize (section 10), and the token file
 *     (TOKENS): format, reader ut_tokens_read, writer ut_tokens_pack_header +
 *     ut_tokens_pack_ids (section 9);
 *   - the plain encoder ut_tokenizer_encode_bytes (merge replay per chunk),
 *     which gives exactly the ids of the fast encoder below.
 *   This file learns merges and encodes whole corpora fast.
 *
 * TRAINING, STEP 1: THE NAIVE TRAINER (bpe_train_naive, `train --naive`)
 *   Chunk the corpus; every chunk is a word, a list of token ids (its bytes).
 *   For each merge: count every adjacent pair in every word, take the best
 *   pair, give it a new id and replace it in every word, left to right
 *   without overlap ("aaa" -> "x a").  The same as minbpe's BasicTokenizer
 *   (plus chunking, like its RegexTokenizer).  It does the whole corpus per
 *   merge: fine for a few kB, hours for megabytes and thousands of merges.
 *   TIE-BREAK (makes output byte-identical on every machine): the best pair
 *   has the highest count; among equal counts, the smallest left id, then the
 *   smallest right id.  Nothing depends on hash-map order or hash values.
 *
 * TRAINING, STEP 2: THE FAST TRAINER (bpe_train, the default)
 *   The same merges as the naive one (the tests check it), found incrementally:
 *   1. Count each distinct chunk once (hash map chunk -> count).  Real text
 *      has few distinct chunks: 1.1 MB of Shakespeare is ~295 k chunks but
 *      only ~15 k distinct ones; 20 copies of it add none.
 *   2. Each distinct chunk becomes a "word": an array of token ids with a
 *      count.  For every adjacent pair we keep its total count (sum of the
 *      counts of the words it occurs in, overlapping occurrences included:
 *      "aaa" holds (a,a) twice) and the list of words it occurs in.
 *   3. The best pair comes off a max-heap ordered by the tie-break.  Counts
 *      change all the time, so the heap may hold stale entries ("lazy
 *      deletion"): a popped entry whose count differs from the pair's real
 *      count is dropped (or re-pushed with the real count).  Whenever a pair's
 *      count goes up we push a fresh entry.
 *   4. To merge (a,b) -> x we visit only the words in the pair's list, replace
 *      a b by x left to right without overlap, and adjust the counts of the
 *      neighbouring pairs: (p,a) and (b,n) lose, (p,x) and (x,n) gain.  Work
 *      per merge is proportional to the words it touches, not the corpus.
 *   If the corpus runs out of pairs before N is reached, training stops early
 *   (with a note on stderr) and the vocab is smaller than asked.
 *
 * ENCODING (fast; ultrathink.h's ut_tokenizer_encode_bytes is the plain one)
 *   Chunk the text, and look each chunk up in a cache (hash map chunk ->
 *   token ids, with a small direct-mapped table in front of it for the most
 *   frequent words): the same words recur, so almost every chunk is a hit.
 *   A new chunk is encoded by applying merges lowest rank (= earliest learned)
 *   first: its bytes go in a linked list, every adjacent pair that is a merge
 *   goes in a min-heap keyed (rank, position), and we pop, merge, and push the
 *   two new neighbour pairs.  That reproduces exactly what the merge replay
 *   does, and stays O(n log n) even for a 1 MB chunk with no spaces.
 *   `encode` reads the input through mmap and writes tokens block by block
 *   (64 KB of text at a time, cut only where a chunk boundary is certain), so
 *   its memory is the cache, not the size of the input.
 *
 * ERRORS AND OUTPUT FILES
 *   Any bad input gives one line "tokenizer: error: ..." on stderr and exit
 *   status 1.  Every output file is written to PATH.tmp.<pid> in the same
 *   directory, flushed to disk (fsync) and then renamed over PATH, so a reader
 *   never sees half a file and a failed run leaves no file behind; Ctrl-C,
 *   SIGTERM or SIGHUP also delete the temp file (on_signal).  An output that
 *   is one of the inputs (same device and inode: `./x` for `x`, a hard link)
 *   is refused before anything is written.  Inputs must be regular files or
 *   pipes (`cat a b | tokenizer encode --input /dev/stdin ...`); a device such
 *   as /dev/zero, which may never end, is refused.
 */
#define ULTRATHINK_IMPLEMENTATION /* the file formats, the chunker; also asks for POSIX (mmap, fsync...) */
#include "ultrathink.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Errors and memory                                                         */
/* ------------------------------------------------------------------------ */

_Noreturn static void die(const char *fmt, ...);

/* Allocation that cannot fail silently: out of memory is a clean error. */
static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) die("out of memory (wanted %zu bytes)", n);
    return p;
}
static void *xmalloc(size_t n) { return xrealloc(NULL, n); }

/* stb_ds grows its arrays and hash maps through these, so they also die
 * cleanly instead of crashing on a NULL from realloc. */
#define STBDS_REALLOC(context, ptr, size) xrealloc((ptr), (size))
#define STBDS_FREE(context, ptr) free(ptr)
/* stb_ds's hmput/hmget take the key's address through gcc's `typeof`, which
 * strict -std=c11 only offers under its reserved name __typeof__. */
#ifndef typeof
#define typeof __typeof__
#endif
#define STB_DS_IMPLEMENTATION
#include "stb_ds.h"

/* Empties an stb_ds array but keeps its memory (arrsetlen(a, 0) trips gcc's
 * -Wtype-limits inside the macro). */
#define ARR_CLEAR(a) ((a) ? (stbds_header(a)->length = 0) : 0)

/* Temporary output files that exist right now; die() and a fatal signal
 * (on_signal, below) delete them, so a failed or interrupted run never leaves
 * a half-written file behind.  A fixed table rather than a growing array:
 * the signal handler may run at any moment, and must never see memory that
 * realloc is moving.  Each slot is set before the file is created and cleared
 * after it is renamed into place, so an interruption anywhere between finds
 * it.  (encode has at most two outputs at once.) */
#define MAX_TEMP_FILES 4
static char *volatile g_temp_files[MAX_TEMP_FILES];

static void unlink_temp_files(void) {
    for (int i = 0; i < MAX_TEMP_FILES; i++) {
        const char *p = g_temp_files[i];
        if (p) unlink(p);
    }
}

_Noreturn static void die(const char *fmt, ...) {
    fflush(stdout);
    fputs("tokenizer: error: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    unlink_temp_files();
    exit(1);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* What we read must end.  A regular file does; so does a pipe (`cat a b |
 * tokenizer ... --input /dev/stdin`), when its writer is done: a pipe's length
 * is the writer's business, as with any Unix filter.  A device may never end
 * (/dev/zero, /dev/urandom) or is not text (a disk; a terminal waits for a
 * typist), so devices are refused before anything is read. */
static void check_input_kind(const struct stat *st, const char *path) {
    if (S_ISDIR(st->st_mode)) die("'%s' is a directory, not a file", path);
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        die("'%s' is a device, not a regular file or a pipe (it may never end)", path);
}
/* The same for a file that a reader in ultrathink.h opens by name. */
static void check_input_path(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) check_input_kind(&st, path); /* a missing file: the reader says so */
}

/* Reads a whole file into memory (also works for pipes, whose size is not
 * known in advance).  Returns a malloc'd buffer; *len gets its length. */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &st) == 0) {
        check_input_kind(&st, path);
        if (S_ISREG(st.st_mode)) cap = (size_t)st.st_size + 1; /* +1: see EOF in one read */
    }
    uint8_t *buf = xmalloc(cap);
    size_t n = 0;
    for (;;) {
        if (n == cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) die("cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    *len = n;
    return buf;
}

/* An output file written atomically: out_open() creates PATH.tmp.<pid>,
 * out_write() appends, out_finish() flushes it to disk, out_commit() renames
 * it to PATH.  Until the rename, PATH is untouched. */
typedef struct {
    FILE *f;
    const char *path;
    char *tmp;
} out_file;

static void out_open(out_file *o, const char *path) {
    size_t n = strlen(path) + 32;
    o->path = path;
    o->tmp = xmalloc(n);
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    int slot = 0;
    while (slot < MAX_TEMP_FILES && g_temp_files[slot]) slot++;
    if (slot == MAX_TEMP_FILES) die("more than %d output files at once", MAX_TEMP_FILES);
    g_temp_files[slot] = o->tmp; /* before fopen: a signal right after it still finds the file */
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        int err = errno;
        g_temp_files[slot] = NULL; /* not ours: nothing to delete */
        die("cannot create output file '%s': %s", path, strerror(err));
    }
}

static void out_write(out_file *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->f) != n) die("cannot write '%s': %s", o->path, strerror(errno));
}

static void out_finish(out_file *o) {
    /* fflush moves our buffer to the kernel; fsync moves the kernel's to disk,
     * so after the rename the new file is really there even after a crash. */
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        die("cannot write '%s': %s", o->path, strerror(errno));
    if (fclose(o->f) != 0) die("cannot write '%s': %s", o->path, strerror(errno));
    o->f = NULL;
}

static void out_commit(out_file *o) {
    if (rename(o->tmp, o->path) != 0) die("cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
    for (int i = 0; i < MAX_TEMP_FILES; i++) /* after the rename: the name is gone, unlinking it is harmless */
        if (g_temp_files[i] == o->tmp) g_temp_files[i] = NULL;
    free(o->tmp);
    o->tmp = NULL;
}

/* ------------------------------------------------------------------------ */
/* Hashing byte strings                                                      */
/* ------------------------------------------------------------------------ */

/* stb_ds hash maps compare keys with memcmp, so a key holding a pointer would
 * compare pointers, not text.  We therefore key our chunk maps by a 64-bit
 * hash of the bytes and keep, per hash, a chain of entries whose bytes we
 * compare for real: a hash collision costs a memcmp, never a wrong answer.
 * The hash reads 8 bytes at a time (memcpy: no unaligned-access trouble).
 * Its values differ between little- and big-endian CPUs, but nothing we
 * write depends on them. */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    /* Clear bits 31 and 63.  stb_ds hashes an 8-byte key with d[3] << 24 and
     * d[7] << 24 computed in int, which overflows (undefined behaviour, and
     * -fsanitize=undefined says so) when those top bits are set.  62 bits of
     * hash are plenty.  (Pair keys never set them: ids are < 2^31.) */
    return h & 0x7FFFFFFF7FFFFFFFull;
}

/* memcmp(p, q, n) == 0 as an inline loop, 8 bytes at a time: for the short
 * strings we compare (chunks, mostly under 10 bytes) it beats calling memcmp. */
static inline int bytes_equal(const uint8_t *p, const uint8_t *q, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, q + i, 8);
        if (a != b) return 0;
    }
    for (; i < n; i++)
        if (p[i] != q[i]) return 0;
    return 1;
}

/* The hash map type we use everywhere: 64-bit key -> 32-bit value. */
typedef struct {
    uint64_t key;
    uint32_t value;
} map_u64;

/* A pair of token ids packed into one hash-map key. */
static inline uint64_t pair_key(uint32_t left, uint32_t right) { return (uint64_t)left << 32 | right; }

/* ------------------------------------------------------------------------ */
/* The tokenizer (ut_tokenizer, ultrathink.h section 10): load and save      */
/* ------------------------------------------------------------------------ */

static void tok_load(ut_tokenizer *tk, const char *path) {
    check_input_path(path);
    if (ut_tokenizer_load(tk, path)) die("%s", ut_error());
}

/* Writes the TOK file into an open output file and puts it in place. */
static void tok_write(const ut_tokenizer *tk, out_file *o) {
    size_t len;
    uint8_t *buf = ut_tokenizer_serialize(tk, &len);
    if (!buf) die("%s", ut_error());
    out_write(o, buf, len);
    out_finish(o);
    out_commit(o);
    free(buf);
}

/* The tokenizer of a finished training run, from its merges (n, 2). */
static void tok_from_merges(ut_tokenizer *tk, const uint32_t *merges, uint32_t n) {
    if (ut_tokenizer_build(tk, merges, n)) die("%s", ut_error());
}

/* ------------------------------------------------------------------------ */
/* Training, step 1: the naive trainer (the teaching version)                */
/* ------------------------------------------------------------------------ */

/* Learns up to n_merges merges from text, recounting every pair of every
 * chunk for every merge (see the top comment); fills tk.  Each chunk
 * occurrence is its own word, so a pair's count is simply how often it
 * occurs in the chunked text.  bpe_train below finds the same merges. */
static void bpe_train_naive(const uint8_t *text, size_t n, uint32_t n_merges, ut_tokenizer *tk) {
    uint32_t **words = NULL; /* stb_ds array of words, each an stb_ds array of ids */
    ut_chunker ch;
    ut_chunker_init(&ch, text, n, 0);
    size_t s, len;
    while (ut_chunker_next(&ch, &s, &len)) {
        if (len < 2) continue; /* a single byte has no pair to merge */
        uint32_t *w = NULL;
        for (size_t i = 0; i < len; i++) arrput(w, text[s + i]);
        arrput(words, w);
    }
    uint32_t *merges = xmalloc(sizeof(uint32_t) * (2 * (size_t)n_merges + 1)); /* (n_merges, 2) */
    map_u64 *counts = NULL; /* stb_ds map: pair_key -> count, rebuilt for every merge */
    uint32_t m = 0;         /* merges made */
    for (; m < n_merges; m++) {
        /* 1. count every adjacent pair */
        hmfree(counts);
        for (ptrdiff_t k = 0; k < arrlen(words); k++)
            for (ptrdiff_t i = 0; i + 1 < arrlen(words[k]); i++) {
                uint64_t key = pair_key(words[k][i], words[k][i + 1]);
                uint32_t c = hmget(counts, key); /* 0 when absent (two statements: both macros write counts) */
                hmput(counts, key, c + 1);
            }
        /* 2. the best pair: highest count, then smallest (left, right); a
         * pair_key orders exactly like (left, right) */
        ptrdiff_t best = -1;
        for (ptrdiff_t i = 0; i < hmlen(counts); i++)
            if (best < 0 || counts[i].value > counts[best].value ||
                (counts[i].value == counts[best].value && counts[i].key < counts[best].key))
                best = i;
        if (best < 0) break; /* no pairs left: the corpus allows no more merges */
        uint32_t a = (uint32_t)(counts[best].key >> 32), b = (uint32_t)counts[best].key, x = 256 + m;
        merges[2 * m] = a;
        merges[2 * m + 1] = b;
        /* 3. replace a b by x in every word, left to right, without overlap */
        for (ptrdiff_t k = 0; k < arrlen(words); k++) {
            uint32_t *w = words[k];
            ptrdiff_t o = 0;
            for (ptrdiff_t i = 0; i < arrlen(w); i++) {
                if (i + 1 < arrlen(w) && w[i] == a && w[i + 1] == b) { w[o++] = x; i++; }
                else w[o++] = w[i];
            }
            arrsetlen(words[k], (size_t)o);
        }
    }
    hmfree(counts);
    tok_from_merges(tk, merges, m);
    free(merges);
    for (ptrdiff_t k = 0; k < arrlen(words); k++) arrfree(words[k]);
    arrfree(words);
}

/* ------------------------------------------------------------------------ */
/* Training, step 2: the fast trainer                                        */
/* ------------------------------------------------------------------------ */

/* One distinct chunk of the corpus, during counting. */
typedef struct {
    size_t start;  /* first occurrence in the text */
    uint32_t len;
    int32_t next;  /* next chunk with the same 64-bit hash, or -1 */
    int64_t count; /* how many times it occurs */
} chunk_count;

typedef struct {
    uint32_t left, right;
    int64_t count;   /* sum over words of (word count × occurrences in the word) */
    uint32_t *where; /* stb_ds array: words the pair has been seen in (may repeat or be stale) */
    uint32_t stamp;  /* merge step at which it was last queued for a heap push */
} pair_stat;

typedef struct {
    int64_t count; /* the pair's count when this entry was pushed */
    uint32_t left, right, pair;
} heap_item;

typedef struct {
    /* words: distinct chunks of >= 2 bytes, as token ids, back to back */
    uint32_t *syms;
    size_t *word_start;
    uint32_t *word_len;
    int64_t *word_count;
    uint32_t *word_stamp; /* last merge step that visited the word */
    uint32_t n_words;
    pair_stat *pairs;      /* stb_ds array */
    map_u64 *pair_index;   /* stb_ds map: pair_key -> index in pairs */
    heap_item *heap;       /* stb_ds array used as a binary max-heap */
    uint32_t *touched;    /* pairs whose count went up during this step */
    uint32_t step;
} trainer;

/* The tie rule lives here: more count wins, then smaller left, then right. */
static inline int heap_better(const heap_item *a, const heap_item *b) {
    if (a->count != b->count) return a->count > b->count;
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

static void heap_push(trainer *tr, uint32_t pair) {
    heap_item it = {tr->pairs[pair].count, tr->pairs[pair].left, tr->pairs[pair].right, pair};
    arrput(tr->heap, it);
    heap_item *h = tr->heap;
    size_t i = arrlenu(h) - 1;
    while (i > 0 && heap_better(&it, &h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = it;
}

static heap_item heap_pop(trainer *tr) {
    heap_item *h = tr->heap, top = h[0], last = arrpop(tr->heap);
    size_t n = arrlenu(tr->heap), i = 0;
    if (n == 0) return top;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_better(&h[c + 1], &h[c])) c++;
        if (!heap_better(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Adds delta (may be negative) to the count of pair (left, right), which
 * occurs in word w.  A pair whose count rises is queued for a heap push. */
static void pair_add(trainer *tr, uint32_t left, uint32_t right, int64_t delta, uint32_t w) {
    uint64_t key = pair_key(left, right);
    ptrdiff_t k = hmgeti(tr->pair_index, key);
    uint32_t p;
    if (k >= 0) {
        p = tr->pair_index[k].value;
    } else {
        pair_stat ps = {left, right, 0, NULL, UINT32_MAX};
        p = (uint32_t)arrlenu(tr->pairs);
        arrput(tr->pairs, ps);
        hmput(tr->pair_index, key, p);
    }
    pair_stat *ps = &tr->pairs[p];
    ps->count += delta;
    if (delta > 0) {
        if (arrlenu(ps->where) == 0 || arrlast(ps->where) != w) arrput(ps->where, w);
        if (ps->stamp != tr->step) { ps->stamp = tr->step; arrput(tr->touched, p); }
    }
}

/* Replaces every a b in word w by x (left to right, no overlap) and fixes
 * the counts of the pairs around each replacement.  Written in place: the
 * write index o never passes the read index i. */
static void merge_word(trainer *tr, uint32_t w, uint32_t a, uint32_t b, uint32_t x) {
    uint32_t *s = tr->syms + tr->word_start[w];
    uint32_t n = tr->word_len[w], o = 0;
    int64_t c = tr->word_count[w];
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            /* s[o-1] is the already-rewritten left neighbour (maybe an x);
             * s[i+2] is the not-yet-read right neighbour. */
            if (o > 0) { pair_add(tr, s[o - 1], a, -c, w); pair_add(tr, s[o - 1], x, c, w); }
            if (i + 2 < n) { pair_add(tr, b, s[i + 2], -c, w); pair_add(tr, x, s[i + 2], c, w); }
            s[o++] = x;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    tr->word_len[w] = o;
}

/* Learns up to n_merges merges from text; fills tk.  Prints nothing. */
static void bpe_train(const uint8_t *text, size_t n, uint32_t n_merges, ut_tokenizer *tk) {
    /* 1. distinct chunks and their counts */
    ut_chunker ch;
    ut_chunker_init(&ch, text, n, 0);
    map_u64 *map = NULL;
    chunk_count *chunks = NULL;
    size_t s, len, total_syms = 0;
    while (ut_chunker_next(&ch, &s, &len)) {
        if (len < 2) continue; /* a single byte has no pair to merge */
        if (len > UINT32_MAX) die("a chunk of %zu bytes without a break is too long to train on", len);
        uint64_t h = hash_bytes(text + s, len);
        ptrdiff_t k = hmgeti(map, h);
        int32_t head = k >= 0 ? (int32_t)map[k].value : -1, i = head;
        while (i >= 0 && !(chunks[i].len == len && bytes_equal(text + chunks[i].start, text + s, len))) i = chunks[i].next;
        if (i >= 0) { chunks[i].count++; continue; }
        if (arrlenu(chunks) >= INT32_MAX) die("more than %d distinct chunks: corpus too varied to train on", INT32_MAX);
        chunk_count cc = {s, (uint32_t)len, head, 1};
        arrput(chunks, cc);
        hmput(map, h, (uint32_t)(arrlenu(chunks) - 1));
        total_syms += len;
    }
    hmfree(map);

    /* 2. words as arrays of byte ids, and the initial pair counts */
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.n_words = (uint32_t)arrlenu(chunks);
    tr.syms = xmalloc(sizeof(uint32_t) * (total_syms + 1));
    tr.word_start = xmalloc(sizeof(size_t) * (tr.n_words + 1));
    tr.word_len = xmalloc(sizeof(uint32_t) * (tr.n_words + 1));
    tr.word_count = xmalloc(sizeof(int64_t) * (tr.n_words + 1));
    tr.word_stamp = calloc(tr.n_words + 1, sizeof(uint32_t));
    if (!tr.word_stamp) die("out of memory");
    size_t at = 0;
    for (uint32_t w = 0; w < tr.n_words; w++) {
        tr.word_start[w] = at;
        tr.word_len[w] = chunks[w].len;
        tr.word_count[w] = chunks[w].count;
        for (uint32_t i = 0; i < chunks[w].len; i++) tr.syms[at + i] = text[chunks[w].start + i];
        for (uint32_t i = 0; i + 1 < chunks[w].len; i++) pair_add(&tr, tr.syms[at + i], tr.syms[at + i + 1], chunks[w].count, w);
        at += chunks[w].len;
    }
    arrfree(chunks);
    for (size_t i = 0; i < arrlenu(tr.touched); i++) heap_push(&tr, tr.touched[i]);
    ARR_CLEAR(tr.touched);

    /* 3. merge loop */
    uint32_t *merges = xmalloc(sizeof(uint32_t) * (2 * (size_t)n_merges + 1)); /* (n_merges, 2) */
    uint32_t done = 0;
    while (done < n_merges && arrlenu(tr.heap) > 0) {
        heap_item top = heap_pop(&tr);
        int64_t real = tr.pairs[top.pair].count;
        if (real != top.count) {
            /* stale entry.  If the count went down, the pair is queued again
             * with its real count; if it went up, a newer entry exists. */
            if (real > 0 && real < top.count) heap_push(&tr, top.pair);
            continue;
        }
        uint32_t a = top.left, b = top.right, x = 256 + done;
        merges[2 * done] = a;
        merges[2 * done + 1] = b;
        done++;
        tr.step++;
        uint32_t *where = tr.pairs[top.pair].where; /* pair_add may move tr.pairs: keep no pointer into it */
        tr.pairs[top.pair].where = NULL;
        for (size_t i = 0; i < arrlenu(where); i++) {
            uint32_t w = where[i];
            if (tr.word_stamp[w] == tr.step) continue; /* listed twice */
            tr.word_stamp[w] = tr.step;
            merge_word(&tr, w, a, b, x);
        }
        arrfree(where);
        tr.pairs[top.pair].count = 0; /* every a b is now x, and no new a b can ever form */
        for (size_t i = 0; i < arrlenu(tr.touched); i++)
            if (tr.pairs[tr.touched[i]].count > 0) heap_push(&tr, tr.touched[i]);
        ARR_CLEAR(tr.touched);
    }

    tok_from_merges(tk, merges, done);
    free(merges);
    for (size_t i = 0; i < arrlenu(tr.pairs); i++) arrfree(tr.pairs[i].where);
    arrfree(tr.pairs);
    hmfree(tr.pair_index);
    arrfree(tr.heap);
    arrfree(tr.touched);
    free(tr.syms);
    free(tr.word_start);
    free(tr.word_len);
    free(tr.word_count);
    free(tr.word_stamp);
}

/* ------------------------------------------------------------------------ */
/* Encoding and decoding                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t rank; /* merge index of the pair starting at pos */
    size_t pos;
} rank_item;

/* The encoder's cache of chunk -> token ids.  Each distinct chunk seen so far
 * has one "record" in the u32 array `records`, laid out as
 *     [0] length of the chunk in bytes
 *     [1] number of token ids
 *     [2] offset of the next record whose chunk has the same 64-bit hash
 *         (NO_RECORD if none)
 *     [3...] the chunk's bytes, padded with zeros to a multiple of 4
 *     [...]  its token ids
 * The hash map gives the offset of the first record for a hash.  Keeping a
 * chunk's length, bytes and ids side by side means a cache hit touches one
 * place in memory instead of three; on 1 MB of text that is most of the time. */
#define NO_RECORD UINT32_MAX

/* In front of the hash map sits a small direct-mapped table, like a CPU
 * cache: slot (hash % FRONT_SLOTS) remembers the last record looked up with a
 * hash that lands there.  Frequent words (" the", " and") almost always hit it
 * and skip the general hash map, which costs several times more. */
#define FRONT_SLOTS 4096

typedef struct {
    uint64_t hash;
    uint32_t record; /* NO_RECORD: empty */
} front_slot;

typedef struct {
    const ut_tokenizer *tk;
    map_u64 *cache;       /* stb_ds map: hash of a chunk -> offset of its record */
    uint32_t *records;    /* stb_ds array of cache records, back to back */
    front_slot front[FRONT_SLOTS];
    /* scratch space for bpe_chunk, reused between calls */
    uint32_t *ids;        /* its output */
    uint32_t *sym;
    size_t *next, *prev;
    rank_item *heap;
} encoder;

static void encoder_init(encoder *e, const ut_tokenizer *tk) {
    memset(e, 0, sizeof *e);
    e->tk = tk;
    for (size_t i = 0; i < FRONT_SLOTS; i++) e->front[i].record = NO_RECORD;
}

/* Is the chunk p[0..len) the one stored in record r? */
static inline int record_holds(const uint32_t *records, uint32_t r, const uint8_t *p, size_t len) {
    return records[r] == len && bytes_equal(p, (const uint8_t *)(records + r + 3), len);
}

static void encoder_free(encoder *e) {
    hmfree(e->cache);
    arrfree(e->records);
    arrfree(e->ids);
    arrfree(e->sym);
    arrfree(e->next);
    arrfree(e->prev);
    arrfree(e->heap);
}

static inline int rank_less(rank_item a, rank_item b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void rank_push(encoder *e, uint32_t left, uint32_t right, size_t pos) {
    uint32_t rank = ut_tokenizer_merge_rank(e->tk, left, right);
    if (rank == UINT32_MAX) return; /* not a merge: this pair never joins */
    rank_item it = {rank, pos};
    arrput(e->heap, it);
    rank_item *h = e->heap;
    size_t i = arrlenu(h) - 1;
    while (i > 0 && rank_less(it, h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = it;
}

static rank_item rank_pop(encoder *e) {
    rank_item *h = e->heap, top = h[0], last = arrpop(e->heap);
    size_t n = arrlenu(e->heap), i = 0;
    if (n == 0) return top;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && rank_less(h[c + 1], h[c])) c++;
        if (!rank_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* BPE on one chunk of n >= 1 bytes; puts its ids in e->ids.
 * The chunk is a doubly linked list of symbols (next/prev), so a merge is
 * O(1); a symbol merged into its left neighbour is marked DEAD.  Heap entries
 * are checked when popped: an entry is still good only if its position is alive and the pair
 * there is still exactly that merge's pair.  (rank, position) order applies
 * merges in the order they were learned, and each one left to right. */
static void bpe_chunk(encoder *e, const uint8_t *s, size_t n) {
    const size_t NONE = SIZE_MAX;     /* no next / previous symbol */
    const uint32_t DEAD = UINT32_MAX; /* sym[] of a symbol that was merged away */
    arrsetlen(e->sym, n);
    arrsetlen(e->next, n);
    arrsetlen(e->prev, n);
    uint32_t *sym = e->sym;
    size_t *next = e->next, *prev = e->prev;
    ARR_CLEAR(e->heap);
    for (size_t i = 0; i < n; i++) {
        sym[i] = s[i];
        next[i] = i + 1 < n ? i + 1 : NONE;
        prev[i] = i > 0 ? i - 1 : NONE;
    }
    for (size_t i = 0; i + 1 < n; i++) rank_push(e, sym[i], sym[i + 1], i);
    const uint32_t *merges = e->tk->merges; /* (n_merges, 2) */
    while (arrlenu(e->heap) > 0) {
        rank_item it = rank_pop(e);
        size_t i = it.pos, j = next[i];
        if (sym[i] == DEAD || j == NONE) continue;
        if (sym[i] != merges[2 * it.rank] || sym[j] != merges[2 * it.rank + 1]) continue; /* stale */
        sym[i] = 256 + it.rank;
        sym[j] = DEAD;
        next[i] = next[j];
        if (next[j] != NONE) prev[next[j]] = i;
        if (prev[i] != NONE) rank_push(e, sym[prev[i]], sym[i], prev[i]);
        if (next[i] != NONE) rank_push(e, sym[i], sym[next[i]], i);
    }
    ARR_CLEAR(e->ids);
    for (size_t i = 0; i != NONE; i = next[i]) arrput(e->ids, sym[i]);
}

/* The cache record of chunk p[0..len) with hash h, made on first sight by
 * running BPE on it.  Returns NO_RECORD only for a chunk too big to cache
 * (4 GB, or a cache of 16 GB); its ids are then left in e->ids. */
static uint32_t cache_find(encoder *e, uint64_t h, const uint8_t *p, size_t len) {
    ptrdiff_t k = hmgeti(e->cache, h);
    uint32_t head = k >= 0 ? e->cache[k].value : NO_RECORD;
    for (uint32_t r = head; r != NO_RECORD; r = e->records[r + 2])
        if (record_holds(e->records, r, p, len)) return r;
    bpe_chunk(e, p, len);
    size_t n_ids = arrlenu(e->ids), byte_words = (len + 3) / 4, words = 3 + byte_words + n_ids;
    if (len >= NO_RECORD || arrlenu(e->records) + words >= NO_RECORD) return NO_RECORD;
    uint32_t r = (uint32_t)arrlenu(e->records);
    uint32_t *rec = arraddnptr(e->records, words);
    rec[0] = (uint32_t)len;
    rec[1] = (uint32_t)n_ids;
    rec[2] = head; /* a new chunk with an old hash goes first in the chain */
    rec[3 + byte_words - 1] = 0; /* zero the padding */
    memcpy(rec + 3, p, len);
    memcpy(rec + 3 + byte_words, e->ids, sizeof(uint32_t) * n_ids);
    hmput(e->cache, h, r);
    return r;
}

/* Encodes text[0..n) and appends the ids to *out (stb_ds array). */
static void encode_text(encoder *e, const uint8_t *text, size_t n, int eot, uint32_t **out) {
    ut_chunker ch;
    ut_chunker_init_rule(&ch, text, n, eot, (int)e->tk->pretok);
    size_t s, len;
    int kind;
    while ((kind = ut_chunker_next(&ch, &s, &len)) != UT_CHUNK_END) {
        if (kind == UT_CHUNK_EOT) { arrput(*out, e->tk->eot_id); continue; }
        if (len == 1) { arrput(*out, text[s]); continue; } /* one byte is its own token */
        const uint8_t *p = text + s;
        uint64_t h = hash_bytes(p, len);
        front_slot *fs = &e->front[h % FRONT_SLOTS];
        uint32_t r = fs->record;
        if (r == NO_RECORD || fs->hash != h || !record_holds(e->records, r, p, len)) {
            r = cache_find(e, h, p, len);
            if (r == NO_RECORD) { /* not cacheable: its ids are in e->ids */
                memcpy(arraddnptr(*out, arrlenu(e->ids)), e->ids, sizeof(uint32_t) * arrlenu(e->ids));
                continue;
            }
            fs->hash = h;
            fs->record = r;
        }
        const uint32_t *rec = e->records + r;
        memcpy(arraddnptr(*out, rec[1]), rec + 3 + (rec[0] + 3) / 4, sizeof(uint32_t) * rec[1]);
    }
}

/* Can the text be cut at `end`, the end of the chunk [s, end), so that the
 * two halves chunk (and so encode) exactly as the whole?  Chunking only
 * looks forward, so the second half always does.  The first half does
 * unless its last chunk changes when the text ends there: a run of
 * whitespace does, under GPT-2's rule (at the end of a text a run is not
 * made to give back its last character: "a\n\nb" is a|\n|\n|b, but "a\n\n"
 * alone is a|\n\n).  So: a chunk that ends in a non-space byte (a word, a
 * number, punctuation: an ASCII byte, to be sure it is not part of a
 * Unicode space), or a lone "\n" between two such bytes.  Both rules agree. */
static int is_ascii_nonspace(uint8_t b) { return b < 0x80 && ut_byte_class(b) != UT_SPACE; }
static int safe_cut(const uint8_t *text, size_t n, size_t s, size_t end) {
    if (is_ascii_nonspace(text[end - 1])) return 1;
    return end - s == 1 && text[s] == '\n' && s > 0 && is_ascii_nonspace(text[s - 1]) && end < n &&
           is_ascii_nonspace(text[end]);
}

/* Where to cut a text for a train/validation split: the first chunk
 * boundary at or after `target` that follows a lone '\n' (safe_cut), or
 * failing that the first safe chunk boundary at or after it, so that the
 * two halves encode to exactly the tokens of the whole. */
static size_t split_point(const uint8_t *text, size_t n, size_t target, int eot, int rule) {
    ut_chunker ch;
    ut_chunker_init_rule(&ch, text, n, eot, rule);
    size_t s, len, first = n;
    while (ut_chunker_next(&ch, &s, &len)) {
        size_t end = s + len;
        if (end < target || !safe_cut(text, n, s, end)) continue;
        if (first == n) first = end;
        if (text[end - 1] == '\n') return end;
    }
    return first;
}

/* Appends the bytes of ids[0..n) to *out (stb_ds array); every id must be
 * < vocab_size (ut_tokens_read checked). */
static void decode_ids(const ut_tokenizer *tk, const int32_t *ids, size_t n, uint8_t **out) {
    for (size_t i = 0; i < n; i++)
        memcpy(arraddnptr(*out, tk->token_len[ids[i]]), tk->token_bytes[ids[i]], tk->token_len[ids[i]]);
}

/* ------------------------------------------------------------------------ */
/* Writing token files (format: ultrathink.h section 9), block by block      */
/* ------------------------------------------------------------------------ */

static void write_token_header(out_file *o, uint32_t vocab_size, uint64_t n_tokens, uint64_t n_bytes) {
    uint8_t hdr[UT_TOKENS_HEADER];
    ut_tokens_pack_header(hdr, vocab_size, n_tokens, n_bytes);
    out_write(o, hdr, sizeof hdr);
}

/* Appends ids to a token file, converted a buffer-full at a time. */
static void write_token_ids(out_file *o, uint32_t vocab_size, const uint32_t *ids, size_t n) {
    uint8_t buf[1 << 16];
    size_t per = sizeof buf / ut_token_bytes_for(vocab_size);
    for (size_t i = 0; i < n; i += per)
        out_write(o, buf, ut_tokens_pack_ids(buf, ids + i, n - i < per ? n - i : per, vocab_size));
}

/* encode_to_file works through the text in blocks of about this many bytes,
 * writing each block's tokens before encoding the next, so its memory does
 * not grow with the input (a variable so that tests can make it tiny). */
static size_t g_block_bytes = 1 << 16;

/* Where the block starting at `start` ends: the first position at or after
 * start + g_block_bytes that follows a lone '\n' between two ASCII
 * non-space bytes ("x\nY"), or n.  Such a position is always a safe cut (see
 * safe_cut: the "\n" is a chunk of its own under both rules, and would be
 * one at the end of a text too), and no <|endoftext|> spans it, so blocks
 * encode to exactly the tokens of the whole text. */
static size_t block_end(const uint8_t *text, size_t n, size_t start) {
    size_t i = start + g_block_bytes; /* the candidate: text[i - 1] must be '\n' */
    while (i < n) {
        const uint8_t *nl = memchr(text + i - 1, '\n', n - (i - 1));
        if (!nl) break;
        i = (size_t)(nl - text) + 1;
        if (i < n && i >= 2 && is_ascii_nonspace(text[i]) && is_ascii_nonspace(text[i - 2])) return i;
        i++;
    }
    return n;
}

/* Encodes text[0..n) into the token file o: a header whose token count is
 * still 0, the tokens block by block, then the header again with the real
 * count.  Returns the number of tokens. */
static size_t encode_to_file(encoder *e, const uint8_t *text, size_t n, int eot, out_file *o) {
    uint32_t vocab = e->tk->vocab_size, *ids = NULL;
    size_t total = 0;
    write_token_header(o, vocab, 0, n);
    for (size_t start = 0; start < n;) {
        size_t end = block_end(text, n, start);
        ARR_CLEAR(ids);
        encode_text(e, text + start, end - start, eot, &ids);
        write_token_ids(o, vocab, ids, arrlenu(ids));
        total += arrlenu(ids);
        start = end;
    }
    if (fseek(o->f, 0, SEEK_SET) != 0) die("cannot write '%s': %s", o->path, strerror(errno));
    write_token_header(o, vocab, total, n);
    arrfree(ids);
    return total;
}

/* ------------------------------------------------------------------------ */
/* Command line (left out when test/test_tokenizer.c includes this file)     */
/* ------------------------------------------------------------------------ */
#ifndef TOKENIZER_TESTING

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Ctrl-C (SIGINT), kill (SIGTERM) or a closed terminal (SIGHUP): delete the
 * temp files, then die of the same signal, so the caller still sees "killed by
 * SIGTERM" (exit status 128 + 15 in a shell).  Only async-signal-safe calls
 * here: unlink, signal, raise.  The raised signal is blocked until the handler
 * returns, then its default action ends the process. */
static void on_signal(int sig) {
    unlink_temp_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Installs on_signal, except for a signal the caller chose to ignore (nohup,
 * or a background job of a non-interactive shell, which ignores SIGINT). */
static void catch_fatal_signals(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Two paths name the same file: the same device and inode when both exist
 * (so `x`, `./x`, a hard link and a symlink to x all match); when neither
 * exists yet (two outputs), the same directory and the same last name. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea || eb) return 0;
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    ba = ba ? ba + 1 : a;
    bb = bb ? bb + 1 : b;
    if (strcmp(ba, bb) != 0) return 0;
    /* the directories: "." when there is no slash, "/" for "/name" */
    char *da = xmalloc((size_t)(ba - a) + 2), *db = xmalloc((size_t)(bb - b) + 2);
    snprintf(da, (size_t)(ba - a) + 2, "%.*s", (int)(ba - a), a);
    snprintf(db, (size_t)(bb - b) + 2, "%.*s", (int)(bb - b), b);
    if (!*da) strcpy(da, ".");
    if (!*db) strcpy(db, ".");
    int same = stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    free(da);
    free(db);
    return same;
}

/* Refuses an output that is one of the inputs: writing it would replace the
 * input (the output is renamed over its path).  Called before anything is
 * read or created.  Names are "--output" etc., as the user typed them. */
static void check_not_an_input(const char *out_opt, const char *out, const char *in_opt, const char *in) {
    if (out && in && same_file(out, in))
        die("%s '%s' is the same file as %s '%s': it would be overwritten (choose another output)", out_opt, out,
            in_opt, in);
}

/* A whole input file in memory, read-only.  A regular file is mmap'ed: the
 * kernel then lends us its own cached pages, several per page fault, instead
 * of copying the file into fresh memory we must fault in page by page (that
 * makes `encode` of 1 MB about 15% faster).  Anything else (a pipe, an empty
 * file) goes through read_file. */
typedef struct {
    const uint8_t *data;
    size_t len;
    int mapped;
} in_file;

static void in_open(in_file *f, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    int have_st = fstat(fd, &st) == 0;
    if (have_st) check_input_kind(&st, path);
    if (have_st && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            close(fd);
            f->data = p;
            f->len = (size_t)st.st_size;
            f->mapped = 1;
            return;
        }
    }
    close(fd);
    size_t len;
    f->data = read_file(path, &len);
    f->len = len;
    f->mapped = 0;
}

static void in_close(in_file *f) {
    if (f->mapped) munmap((void *)f->data, f->len);
    else free((void *)f->data);
}


typedef struct {
    const char *cmd, *usage;
    int argc, i;
    char **argv;
} args;

/* The value after option argv[i]; missing values are an error. */
static const char *arg_value(args *a) {
    const char *opt = a->argv[a->i];
    if (a->i + 1 >= a->argc || strncmp(a->argv[a->i + 1], "--", 2) == 0)
        die("option %s needs a value (see: tokenizer %s --help)", opt, a->cmd);
    return a->argv[++a->i];
}

static long long parse_int(const char *opt, const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') die("%s: '%s' is not an integer", opt, s);
    return v;
}

static double parse_double(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) die("%s: '%s' is not a number", opt, s);
    return v;
}

static void unknown_option(args *a) {
    die("unknown option '%s' for '%s' (see: tokenizer %s --help)", a->argv[a->i], a->cmd, a->cmd);
}

static int is_help(const char *s) { return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0; }

static int cmd_train(args *a) {
    const char **inputs = NULL;
    const char *output = NULL;
    long long vocab = -1;
    int naive = 0;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *o = a->argv[a->i];
        if (is_help(o)) { fputs(a->usage, stdout); exit(0); }
        else if (strcmp(o, "--input") == 0) {
            arg_value(a); /* at least one */
            arrput(inputs, a->argv[a->i]);
            while (a->i + 1 < a->argc && strncmp(a->argv[a->i + 1], "--", 2) != 0) arrput(inputs, a->argv[++a->i]);
        }
        else if (strcmp(o, "--vocab-size") == 0) vocab = parse_int(o, arg_value(a));
        else if (strcmp(o, "--output") == 0) output = arg_value(a);
        else if (strcmp(o, "--naive") == 0) naive = 1;
        else unknown_option(a);
    }
    if (!inputs) die("train needs --input FILE (see: tokenizer train --help)");
    if (vocab < 0 && vocab != -1) die("--vocab-size must be between 256 and %u, got %lld", 1u << 20, vocab);
    if (vocab == -1) die("train needs --vocab-size N (see: tokenizer train --help)");
    if (vocab < 256 || vocab > (1 << 20)) die("--vocab-size must be between 256 and %u, got %lld", 1u << 20, vocab);
    if (!output) die("train needs --output TOK (see: tokenizer train --help)");
    for (ptrdiff_t k = 0; k < arrlen(inputs); k++) check_not_an_input("--output", output, "--input", inputs[k]);

    /* create the output first: an unwritable path fails now, not after training */
    out_file out;
    out_open(&out, output);
    double t0 = now_seconds();
    /* The corpus is the inputs concatenated.  One input is used where it
     * lies (mmap'ed); several are copied into one buffer. */
    in_file *ins = NULL;
    size_t n = 0;
    for (ptrdiff_t k = 0; k < arrlen(inputs); k++) {
        in_file f;
        in_open(&f, inputs[k]);
        arrput(ins, f);
        n += f.len;
    }
    if (n == 0) die("the training corpus is empty");
    const uint8_t *text = ins[0].data;
    uint8_t *joined = NULL;
    if (arrlen(ins) > 1) {
        joined = xmalloc(n);
        size_t at = 0;
        for (ptrdiff_t k = 0; k < arrlen(ins); k++) {
            if (ins[k].len) memcpy(joined + at, ins[k].data, ins[k].len); /* (memcpy with NULL is undefined, even for 0 bytes) */
            at += ins[k].len;
        }
        text = joined;
    }
    ut_tokenizer tk;
    if (naive) bpe_train_naive(text, n, (uint32_t)(vocab - 256), &tk);
    else bpe_train(text, n, (uint32_t)(vocab - 256), &tk);
    if (tk.n_merges < vocab - 256)
        fprintf(stderr, "tokenizer: note: the corpus only allows %u merges, so the vocab size is %u, not %lld\n",
                tk.n_merges, 256 + tk.n_merges, vocab);
    tok_write(&tk, &out);
    printf("trained %u merges on %zu bytes in %.3f s: vocab %u (incl. <|endoftext|> = %u) -> %s\n", tk.n_merges, n,
           now_seconds() - t0, tk.vocab_size, tk.eot_id, output);
    ut_tokenizer_free(&tk);
    free(joined);
    for (ptrdiff_t k = 0; k < arrlen(ins); k++) in_close(&ins[k]);
    arrfree(ins);
    arrfree(inputs);
    return 0;
}

static int cmd_encode(args *a) {
    const char *model = NULL, *input = NULL, *output = NULL, *val_output = NULL;
    double frac = 0;
    int have_frac = 0, eot = 0;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *o = a->argv[a->i];
        if (is_help(o)) { fputs(a->usage, stdout); exit(0); }
        else if (strcmp(o, "--model") == 0) model = arg_value(a);
        else if (strcmp(o, "--input") == 0) input = arg_value(a);
        else if (strcmp(o, "--output") == 0) output = arg_value(a);
        else if (strcmp(o, "--val-output") == 0) val_output = arg_value(a);
        else if (strcmp(o, "--val-fraction") == 0) { frac = parse_double(o, arg_value(a)); have_frac = 1; }
        else if (strcmp(o, "--eot") == 0) eot = 1;
        else unknown_option(a);
    }
    if (!model) die("encode needs --model TOK (see: tokenizer encode --help)");
    if (!input) die("encode needs --input FILE (see: tokenizer encode --help)");
    if (!output) die("encode needs --output TOKENS (see: tokenizer encode --help)");
    if (have_frac && !(frac > 0 && frac < 1)) die("--val-fraction must be between 0 and 1 (exclusive), got %g", frac);
    if (have_frac && !val_output) die("--val-fraction needs --val-output VALTOKENS");
    if (!have_frac && val_output) die("--val-output needs --val-fraction F");
    check_not_an_input("--output", output, "--input", input);
    check_not_an_input("--output", output, "--model", model);
    check_not_an_input("--val-output", val_output, "--input", input);
    check_not_an_input("--val-output", val_output, "--model", model);
    check_not_an_input("--val-output", val_output, "--output", output); /* both are written: one would be lost */

    ut_tokenizer tk;
    tok_load(&tk, model);
    in_file in;
    in_open(&in, input);
    const uint8_t *text = in.data;
    size_t n = in.len;
    double t0 = now_seconds();
    size_t cut = n;
    if (have_frac) {
        cut = split_point(text, n, (size_t)((1.0 - frac) * (double)n), eot, (int)tk.pretok);
        if (cut == 0 || cut == n)
            die("cannot split '%s' (%zu bytes) with --val-fraction %g: one part would be empty", input, n, frac);
    }
    /* both files are complete on disk before either is renamed into place */
    encoder e;
    encoder_init(&e, &tk);
    out_file o, ov;
    out_open(&o, output);
    if (have_frac) out_open(&ov, val_output);
    size_t nt = encode_to_file(&e, text, cut, eot, &o), nv = 0;
    if (have_frac) nv = encode_to_file(&e, text + cut, n - cut, eot, &ov);
    double dt = now_seconds() - t0;
    out_finish(&o);
    if (have_frac) out_finish(&ov);
    out_commit(&o);
    if (have_frac) out_commit(&ov);

    printf("encoded %zu bytes -> %zu tokens (%.3f bytes/token) in %.3f s (%.1f MB/s)\n", n, nt + nv,
           (nt + nv) ? (double)n / (double)(nt + nv) : 0.0, dt, dt > 0 ? (double)n / dt / 1e6 : 0.0);
    if (have_frac)
        printf("  %s: %zu bytes, %zu tokens;  %s: %zu bytes, %zu tokens\n", output, cut, nt, val_output, n - cut, nv);
    encoder_free(&e);
    in_close(&in);
    ut_tokenizer_free(&tk);
    return 0;
}

static int cmd_decode(args *a) {
    const char *model = NULL, *input = NULL;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *o = a->argv[a->i];
        if (is_help(o)) { fputs(a->usage, stdout); exit(0); }
        else if (strcmp(o, "--model") == 0) model = arg_value(a);
        else if (strcmp(o, "--input") == 0) input = arg_value(a);
        else unknown_option(a);
    }
    if (!model) die("decode needs --model TOK (see: tokenizer decode --help)");
    if (!input) die("decode needs --input TOKENS (see: tokenizer decode --help)");
    ut_tokenizer tk;
    tok_load(&tk, model);
    ut_tokens d; /* every id is checked before any text is written: no partial output */
    check_input_path(input);
    if (ut_tokens_read(&d, input)) die("%s", ut_error());
    if (ut_tokens_check_tokenizer(&d, &tk)) die("'%s': %s", input, ut_error());
    uint8_t *text = NULL;
    decode_ids(&tk, d.tokens, (size_t)d.n_tokens, &text);
    size_t len = arrlenu(text);
    if ((len && fwrite(text, 1, len, stdout) != len) || fflush(stdout) != 0)
        die("cannot write to stdout: %s", strerror(errno));
    arrfree(text);
    ut_tokens_free(&d);
    ut_tokenizer_free(&tk);
    return 0;
}

/* Prints a token's bytes as a C-like string literal. */
static void print_escaped(const uint8_t *p, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f) putchar(c);
        else printf("\\x%02x", c);
    }
    putchar('"');
}

static int cmd_info(args *a) {
    const char *model = NULL, *input = NULL;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *o = a->argv[a->i];
        if (is_help(o)) { fputs(a->usage, stdout); exit(0); }
        else if (strcmp(o, "--model") == 0) model = arg_value(a);
        else if (strcmp(o, "--input") == 0) input = arg_value(a);
        else unknown_option(a);
    }
    if (!model) die("info needs --model TOK (see: tokenizer info --help)");
    ut_tokenizer tk;
    tok_load(&tk, model);
    in_file in = {NULL, 0, 0};
    if (input) in_open(&in, input); /* open before printing: a bad --input prints nothing */
    printf("vocab size: %u (256 bytes + %u merges + 1 special: <|endoftext|> = %u)\n", tk.vocab_size, tk.n_merges,
           tk.eot_id);
    printf("pre-tokenization: %s\n", tk.pretok == UT_PRETOK_GPT2 ? "GPT-2's regex (version 2 file)"
                                     : "ultrathink's first rule (a version 1 file; retrain for GPT-2's)");
    /* the 10 longest tokens (ties: smaller id first), special token excluded */
    uint32_t top[10];
    int nt = 0;
    for (uint32_t id = 0; id < tk.eot_id; id++) {
        int at = nt;
        while (at > 0 && tk.token_len[top[at - 1]] < tk.token_len[id]) at--;
        if (at >= 10) continue;
        if (nt < 10) nt++;
        memmove(top + at + 1, top + at, sizeof(uint32_t) * (size_t)(nt - 1 - at));
        top[at] = id;
    }
    printf("longest tokens:\n");
    for (int k = 0; k < nt; k++) {
        printf("  %6u  len %3u  ", top[k], tk.token_len[top[k]]);
        print_escaped(tk.token_bytes[top[k]], tk.token_len[top[k]]);
        putchar('\n');
    }
    if (input) {
        encoder e;
        encoder_init(&e, &tk);
        uint32_t *ids = NULL;
        encode_text(&e, in.data, in.len, 0, &ids);
        printf("compression on %s: %zu bytes -> %zu tokens = %.3f bytes/token\n", input, in.len, arrlenu(ids),
               arrlenu(ids) ? (double)in.len / (double)arrlenu(ids) : 0.0);
        arrfree(ids);
        encoder_free(&e);
        in_close(&in);
    }
    ut_tokenizer_free(&tk);
    return 0;
}

int main(int argc, char **argv) {
    static const char *USAGE_TRAIN =
        "usage: tokenizer train --input FILE [FILE...] --vocab-size N --output TOK [--naive]\n"
        "  Learns a byte-level BPE tokenizer from the FILEs (concatenated).\n"
        "  N = 256 byte tokens + merges (256..1048576; 256 means bytes only).\n"
        "  <|endoftext|> is added as id N, so the total vocab is N + 1.\n"
        "  --naive: the teaching trainer (recounts every pair for every merge):\n"
        "  the same file, far slower; for small corpora.\n";
    static const char *USAGE_ENCODE =
        "usage: tokenizer encode --model TOK --input FILE --output TOKENS\n"
        "                        [--val-fraction F --val-output VALTOKENS] [--eot]\n"
        "  Encodes FILE into a token file.  With --val-fraction F (0 < F < 1) the last\n"
        "  F of the text (cut at a line/chunk boundary) goes to VALTOKENS instead.\n"
        "  With --eot the literal text <|endoftext|> becomes the special token;\n"
        "  without it, it is encoded as ordinary bytes.\n";
    static const char *USAGE_DECODE =
        "usage: tokenizer decode --model TOK --input TOKENS\n"
        "  Writes the text of a token file to stdout, byte for byte.\n";
    static const char *USAGE_INFO =
        "usage: tokenizer info --model TOK [--input FILE]\n"
        "  Prints vocab size, merges, the 10 longest tokens and, with --input,\n"
        "  the compression (bytes per token) on FILE.\n";
    static const char *USAGE =
        "usage: tokenizer COMMAND [OPTIONS]   (tokenizer COMMAND --help for details)\n"
        "  train   learn a byte-level BPE tokenizer from text\n"
        "  encode  text -> token file\n"
        "  decode  token file -> text (stdout)\n"
        "  info    describe a tokenizer (and its compression on a file)\n";
    if (argc < 2) { fputs(USAGE, stderr); return 2; }
    catch_fatal_signals();
    if (is_help(argv[1])) { fputs(USAGE, stdout); return 0; }
    args a = {argv[1], NULL, argc, 0, argv};
    if (strcmp(argv[1], "train") == 0) { a.usage = USAGE_TRAIN; return cmd_train(&a); }
    if (strcmp(argv[1], "encode") == 0) { a.usage = USAGE_ENCODE; return cmd_encode(&a); }
    if (strcmp(argv[1], "decode") == 0) { a.usage = USAGE_DECODE; return cmd_decode(&a); }
    if (strcmp(argv[1], "info") == 0) { a.usage = USAGE_INFO; return cmd_info(&a); }
    die("unknown command '%s' (commands: train, encode, decode, info; see: tokenizer --help)", argv[1]);
}
#endif
