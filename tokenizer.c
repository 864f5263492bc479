/*
 * tokenizer.c — a byte-level BPE tokenizer (the kind GPT-2 uses), in one file.
 *
 *   tokenizer train  --input FILE [FILE...] --vocab-size N --output TOK
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
 * PRE-TOKENIZATION (how text is cut into chunks before BPE sees it)
 *   Merges never cross a chunk boundary, so " the" can become one token but
 *   "e." or "d\n\nT" never can; this keeps the vocabulary for words instead of
 *   spending it on accidental byte combinations.  Every byte falls in a class:
 *     SPACE  ' ' '\t' '\n' '\r' '\v' '\f'
 *     LETTER 'A'-'Z' 'a'-'z' and every byte >= 0x80 (so the bytes of a UTF-8
 *            character, and so whole non-ASCII words, stay together)
 *     DIGIT  '0'-'9'
 *     PUNCT  everything else (punctuation, symbols, control bytes, NUL)
 *   A chunk starting at byte i is:
 *     1. if text[i] is ' ' and text[i+1] exists and is not SPACE: the space
 *        plus the maximal run of text[i+1]'s class ("  word" -> " word");
 *     2. else if text[i] is not SPACE: the maximal run of its class;
 *     3. else (whitespace): the maximal run of SPACE bytes, except that when
 *        the run is longer than one byte, ends in ' ', and is followed by a
 *        non-space byte, that last ' ' is left out so that rule 1 attaches it
 *        to the next word ("\n\n   Hi" -> "\n\n  ", " Hi").
 *   This is GPT-2's rule without a regex and without the contraction special
 *   cases ("don't" -> "don", "'", "t").  The chunker only looks forward, so
 *   cutting a text at a chunk boundary chunks both halves exactly as before.
 *   In encode --eot mode the literal text <|endoftext|> is cut out first and
 *   becomes the special id; the pieces between are chunked as above.  Training
 *   never treats <|endoftext|> specially (it is just bytes there).
 *
 * TRAINING (incremental, not a recount per merge)
 *   1. Chunk the corpus and count each distinct chunk once (hash map chunk ->
 *      count).  Real text has few distinct chunks: 1.1 MB of Shakespeare is
 *      ~295 k chunks but only ~15 k distinct ones; 20 copies of it add none.
 *   2. Each distinct chunk becomes a "word": an array of token ids with a
 *      count.  For every adjacent pair we keep its total count (sum of the
 *      counts of the words it occurs in, overlapping occurrences included:
 *      "aaa" holds (a,a) twice) and the list of words it occurs in.
 *   3. The best pair comes off a max-heap.  Counts change all the time, so the
 *      heap may hold stale entries ("lazy deletion"): a popped entry whose
 *      count differs from the pair's real count is dropped (or re-pushed with
 *      the real count).  Whenever a pair's count goes up we push a fresh entry.
 *   4. To merge (a,b) -> x we visit only the words in the pair's list, replace
 *      a b by x left to right without overlap ("aaa" -> "x a"), and adjust the
 *      counts of the neighbouring pairs: (p,a) and (b,n) lose, (p,x) and (x,n)
 *      gain.  Work per merge is proportional to the words it touches.
 *   TIE-BREAK (makes output byte-identical on every machine): the best pair
 *   has the highest count; among equal counts, the smallest left id, then the
 *   smallest right id.  Nothing depends on hash-map order or hash values.
 *   If the corpus runs out of pairs before N is reached, training stops early
 *   (with a note on stderr) and the vocab is smaller than asked.
 *
 * ENCODING
 *   Chunk the text, and look each chunk up in a cache (hash map chunk ->
 *   token ids, with a small direct-mapped table in front of it for the most
 *   frequent words): the same words recur, so almost every chunk is a hit.
 *   A new chunk is encoded by applying merges lowest rank (= earliest learned)
 *   first: its bytes go in a linked list, every adjacent pair that is a merge
 *   goes in a min-heap keyed (rank, position), and we pop, merge, and push the
 *   two new neighbour pairs.  That reproduces exactly what training did to the
 *   chunk, and stays O(n log n) even for a 1 MB chunk with no spaces.
 *   `encode` reads the input through mmap and writes tokens block by block
 *   (64 KB of text at a time, cut only where a chunk boundary is certain), so
 *   its memory is the cache, not the size of the input.
 *
 * FILE FORMATS (all integers little-endian)
 *   Tokenizer file (TOK):
 *     offset size  field
 *     0      4     magic  "UTBP" (bytes 'U','T','B','P')
 *     4      4     u32 version = 1
 *     8      4     u32 vocab_size   (total ids = 256 + n_merges + n_special)
 *     12     4     u32 n_merges
 *     16     4     u32 n_special    (1: <|endoftext|>)
 *     20     ...   merges: n_merges × (u32 left, u32 right); merge i creates id 256+i
 *     ...    ...   tokens: for every id 0..vocab_size-1: u32 length, then that many
 *                  bytes (the token's byte string; for a special token its literal text)
 *   The file must end exactly there (loaders reject trailing bytes).  The
 *   loader checks everything: magic, version, counts, merges only refer to
 *   earlier ids, and every token's bytes are what its merge implies.
 *
 *   Token file (TOKENS):
 *     0   4  magic "UTTK"
 *     4   4  u32 version = 1
 *     8   4  u32 vocab_size   (of the tokenizer that made it)
 *     12  4  u32 token_bytes  (2 if vocab_size <= 65536, else 4)
 *     16  8  u64 n_tokens
 *     24  8  u64 n_bytes      (length of the text these tokens encode — the trainer uses it for bits per byte)
 *     32  ... n_tokens tokens, u16 or u32 each
 *
 * ERRORS AND OUTPUT FILES
 *   Any bad input gives one line "tokenizer: error: ..." on stderr and exit
 *   status 1.  Every output file is written to PATH.tmp.<pid> in the same
 *   directory, flushed to disk (fsync) and then renamed over PATH, so a reader
 *   never sees half a file and a failed run leaves no file behind.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync, mmap, getpid, clock_gettime under -std=c11 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Errors and memory                                                         */
/* ------------------------------------------------------------------------ */

_Noreturn static void die(const char *fmt, ...);

/* Allocation that cannot fail silently: out of memory is a clean error. */
static void *xrealloc(void *p, size_t n)
{
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

/* Temporary output files that exist right now (stb_ds array); die() deletes
 * them, so a failed run never leaves a half-written file behind. */
static char **g_temp_files;

_Noreturn static void die(const char *fmt, ...)
{
    fflush(stdout);
    fputs("tokenizer: error: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    for (ptrdiff_t i = 0; i < arrlen(g_temp_files); i++) unlink(g_temp_files[i]);
    exit(1);
}

/* die() for a malformed input file: "'PATH' is not a valid WHAT: details" */
_Noreturn static void bad_file(const char *path, const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die("'%s' is not a valid %s: %s", path, what, msg);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* Reads a whole file into memory (also works for pipes, whose size is not
 * known in advance).  Returns a malloc'd buffer; *len gets its length. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) die("'%s' is a directory, not a file", path);
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

/* A whole input file in memory, read-only.  A regular file is mmap'ed: the
 * kernel then lends us its own cached pages, several per page fault, instead
 * of copying the file into fresh memory we must fault in page by page (that
 * makes `encode` of 1 MB about 15% faster).  Anything else (a pipe, an empty
 * file) goes through read_file. */
typedef struct {
    const uint8_t *data;
    size_t len;
    int mapped;
} InFile;

static void in_open(InFile *f, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
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

static void in_close(InFile *f)
{
    if (f->mapped) munmap((void *)f->data, f->len);
    else free((void *)f->data);
}

/* An output file written atomically: out_open() creates PATH.tmp.<pid>,
 * out_write() appends, out_finish() flushes it to disk, out_commit() renames
 * it to PATH.  Until the rename, PATH is untouched. */
typedef struct {
    FILE *f;
    const char *path;
    char *tmp;
} OutFile;

static void out_open(OutFile *o, const char *path)
{
    size_t n = strlen(path) + 32;
    o->path = path;
    o->tmp = xmalloc(n);
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) die("cannot create output file '%s': %s", path, strerror(errno));
    arrput(g_temp_files, o->tmp);
}

static void out_write(OutFile *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n) die("cannot write '%s': %s", o->path, strerror(errno));
}

static void out_finish(OutFile *o)
{
    /* fflush moves our buffer to the kernel; fsync moves the kernel's to disk,
     * so after the rename the new file is really there even after a crash. */
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        die("cannot write '%s': %s", o->path, strerror(errno));
    if (fclose(o->f) != 0) die("cannot write '%s': %s", o->path, strerror(errno));
    o->f = NULL;
}

static void out_commit(OutFile *o)
{
    if (rename(o->tmp, o->path) != 0) die("cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
    for (ptrdiff_t i = 0; i < arrlen(g_temp_files); i++)
        if (g_temp_files[i] == o->tmp) { arrdel(g_temp_files, i); break; }
    free(o->tmp);
    o->tmp = NULL;
}

/* Little-endian integers, byte by byte, so the files are the same on any CPU. */
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Appends a u32 to a growing byte buffer (stb_ds array). */
static void buf_u32(uint8_t **buf, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    memcpy(arraddnptr(*buf, 4), b, 4);
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
static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
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
static inline int bytes_equal(const uint8_t *p, const uint8_t *q, size_t n)
{
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
} MapU64;

/* A pair of token ids packed into one hash-map key. */
static inline uint64_t pair_key(uint32_t left, uint32_t right) { return (uint64_t)left << 32 | right; }

/* ------------------------------------------------------------------------ */
/* Pre-tokenization: cutting text into chunks (rule in the top comment)      */
/* ------------------------------------------------------------------------ */

enum { CLS_SPACE, CLS_LETTER, CLS_DIGIT, CLS_PUNCT };
static uint8_t g_class[256];

static void init_classes(void)
{
    for (int b = 0; b < 256; b++) {
        if (b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f') g_class[b] = CLS_SPACE;
        else if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b >= 0x80) g_class[b] = CLS_LETTER;
        else if (b >= '0' && b <= '9') g_class[b] = CLS_DIGIT;
        else g_class[b] = CLS_PUNCT;
    }
}

static const char EOT_TEXT[] = "<|endoftext|>";
#define EOT_LEN (sizeof EOT_TEXT - 1)

/* Position of the next literal <|endoftext|> at or after `from`, or n. */
static size_t find_eot(const uint8_t *t, size_t n, size_t from)
{
    while (from + EOT_LEN <= n) {
        const uint8_t *p = memchr(t + from, '<', n - from - EOT_LEN + 1);
        if (!p) break;
        if (memcmp(p, EOT_TEXT, EOT_LEN) == 0) return (size_t)(p - t);
        from = (size_t)(p - t) + 1;
    }
    return n;
}

/* Walks a text chunk by chunk.  With eot set, each literal <|endoftext|> is
 * returned as a chunk of its own, and plain chunks stop before it. */
typedef struct {
    const uint8_t *text;
    size_t n;
    size_t pos;     /* where the next chunk starts */
    size_t seg_end; /* end of the plain text before the next <|endoftext|> (or n) */
    int eot;
} Chunker;

static void chunker_init(Chunker *c, const uint8_t *text, size_t n, int eot)
{
    if (g_class['a'] != CLS_LETTER) init_classes();
    c->text = text;
    c->n = n;
    c->pos = 0;
    c->eot = eot;
    c->seg_end = eot ? find_eot(text, n, 0) : n;
}

enum { CHUNK_END = 0, CHUNK_TEXT = 1, CHUNK_EOT = 2 };

/* Next chunk: sets *start and *len and says what it is. */
static inline int chunker_next(Chunker *c, size_t *start, size_t *len)
{
    size_t i = c->pos, end = c->seg_end;
    const uint8_t *t = c->text;
    if (i >= c->n) return CHUNK_END;
    if (c->eot && i == end) { /* we are at a literal <|endoftext|> */
        *start = i;
        *len = EOT_LEN;
        c->pos = i + EOT_LEN;
        c->seg_end = find_eot(t, c->n, c->pos);
        return CHUNK_EOT;
    }
    size_t j = i + 1;
    int cls = g_class[t[i]];
    if (cls != CLS_SPACE) { /* rule 2: a run of one class */
        while (j < end && g_class[t[j]] == cls) j++;
    } else if (t[i] == ' ' && j < end && g_class[t[j]] != CLS_SPACE) { /* rule 1: " word" */
        cls = g_class[t[j]];
        while (j < end && g_class[t[j]] == cls) j++;
    } else { /* rule 3: whitespace run, leaving a final ' ' to the next word */
        while (j < end && g_class[t[j]] == CLS_SPACE) j++;
        if (j < end && t[j - 1] == ' ' && j - 1 > i) j--;
    }
    *start = i;
    *len = j - i;
    c->pos = j;
    return CHUNK_TEXT;
}

/* ------------------------------------------------------------------------ */
/* The tokenizer: merges and the byte string of every token                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t left, right;
} Merge;

typedef struct {
    uint32_t n_merges;
    uint32_t vocab_size; /* 256 + n_merges + 1 (the <|endoftext|> token) */
    uint32_t eot_id;     /* = 256 + n_merges */
    Merge *merges;       /* merge i turns (left, right) into id 256 + i */
    uint8_t *bytes;      /* every token's bytes, back to back */
    uint64_t *offset;    /* token id -> where its bytes start in `bytes` */
    uint32_t *length;    /* token id -> number of bytes */
    MapU64 *rank;        /* stb_ds map: pair_key(left, right) -> merge index */
} Tokenizer;

static void tok_free(Tokenizer *tk)
{
    free(tk->merges);
    free(tk->bytes);
    free(tk->offset);
    free(tk->length);
    hmfree(tk->rank);
    memset(tk, 0, sizeof *tk);
}

/* Builds the token table from a merge list (the caller has checked that merge
 * i only uses ids < 256 + i).  Returns 0 if the tokens would need more than
 * max_bytes bytes in total: a loader passes its file size, since every token
 * is stored in the file, so a forged file cannot make us allocate 2^40 bytes. */
static int tok_build(Tokenizer *tk, const Merge *merges, uint32_t n_merges, uint64_t max_bytes)
{
    memset(tk, 0, sizeof *tk);
    tk->n_merges = n_merges;
    tk->eot_id = 256 + n_merges;
    tk->vocab_size = 256 + n_merges + 1;
    tk->merges = xmalloc(sizeof(Merge) * (n_merges + 1));
    memcpy(tk->merges, merges, sizeof(Merge) * n_merges);
    tk->offset = xmalloc(sizeof(uint64_t) * tk->vocab_size);
    tk->length = xmalloc(sizeof(uint32_t) * tk->vocab_size);
    uint64_t total = 0;
    for (uint32_t id = 0; id < tk->vocab_size; id++) {
        uint64_t len = id < 256 ? 1 : id == tk->eot_id ? EOT_LEN
                                    : (uint64_t)tk->length[merges[id - 256].left] + tk->length[merges[id - 256].right];
        if (len > UINT32_MAX || total + len > max_bytes) { tok_free(tk); return 0; }
        tk->offset[id] = total;
        tk->length[id] = (uint32_t)len;
        total += len;
    }
    tk->bytes = xmalloc(total);
    for (uint32_t id = 0; id < tk->vocab_size; id++) {
        uint8_t *dst = tk->bytes + tk->offset[id];
        if (id < 256) dst[0] = (uint8_t)id;
        else if (id == tk->eot_id) memcpy(dst, EOT_TEXT, EOT_LEN);
        else { /* a merge's bytes are its left token's then its right token's */
            Merge m = merges[id - 256];
            memcpy(dst, tk->bytes + tk->offset[m.left], tk->length[m.left]);
            memcpy(dst + tk->length[m.left], tk->bytes + tk->offset[m.right], tk->length[m.right]);
        }
    }
    for (uint32_t i = 0; i < n_merges; i++) hmput(tk->rank, pair_key(merges[i].left, merges[i].right), i);
    return 1;
}

/* The TOK file as bytes (stb_ds array; format in the top comment). */
static uint8_t *tok_serialize(const Tokenizer *tk)
{
    uint8_t *buf = NULL;
    memcpy(arraddnptr(buf, 4), "UTBP", 4);
    buf_u32(&buf, 1);
    buf_u32(&buf, tk->vocab_size);
    buf_u32(&buf, tk->n_merges);
    buf_u32(&buf, 1);
    for (uint32_t i = 0; i < tk->n_merges; i++) {
        buf_u32(&buf, tk->merges[i].left);
        buf_u32(&buf, tk->merges[i].right);
    }
    for (uint32_t id = 0; id < tk->vocab_size; id++) {
        buf_u32(&buf, tk->length[id]);
        memcpy(arraddnptr(buf, tk->length[id]), tk->bytes + tk->offset[id], tk->length[id]);
    }
    return buf;
}

/* Writes the TOK file into an open output file and puts it in place. */
static void tok_write(const Tokenizer *tk, OutFile *o)
{
    uint8_t *buf = tok_serialize(tk);
    out_write(o, buf, arrlenu(buf));
    out_finish(o);
    out_commit(o);
    arrfree(buf);
}

static void tok_save(const Tokenizer *tk, const char *path)
{
    OutFile o;
    out_open(&o, path);
    tok_write(tk, &o);
}

/* Loads and fully checks a TOK file; any problem is a clean error. */
static void tok_load(Tokenizer *tk, const char *path)
{
    size_t size;
    uint8_t *f = read_file(path, &size);
#define BAD(...) bad_file(path, "tokenizer file", __VA_ARGS__)
    if (size < 20) BAD("truncated header (%zu bytes)", size);
    if (memcmp(f, "UTBP", 4) != 0) BAD("bad magic (expected \"UTBP\")");
    uint32_t version = get_u32(f + 4), vocab = get_u32(f + 8), n_merges = get_u32(f + 12), n_special = get_u32(f + 16);
    if (version != 1) BAD("unsupported version %u (expected 1)", version);
    if (n_special != 1) BAD("n_special is %u (version 1 has exactly 1: <|endoftext|>)", n_special);
    if ((uint64_t)vocab != 256ull + n_merges + n_special) BAD("vocab_size %u != 256 + n_merges %u + n_special %u", vocab, n_merges, n_special);
    if (n_merges > (size - 20) / 8) BAD("truncated: %u merges do not fit in %zu bytes", n_merges, size);
    Merge *merges = xmalloc(sizeof(Merge) * (n_merges + 1));
    for (uint32_t i = 0; i < n_merges; i++) {
        merges[i].left = get_u32(f + 20 + 8ull * i);
        merges[i].right = get_u32(f + 24 + 8ull * i);
        if (merges[i].left >= 256 + i || merges[i].right >= 256 + i)
            BAD("merge %u (id %u) uses id %u, which is not defined before it", i, 256 + i,
                merges[i].left >= 256 + i ? merges[i].left : merges[i].right);
    }
    if (!tok_build(tk, merges, n_merges, size)) BAD("token strings longer than the file (truncated or corrupt)");
    free(merges);
    /* the rank map holds one entry per distinct pair: fewer means a repeat */
    if (hmlenu(tk->rank) != n_merges) BAD("two merges join the same pair");
    size_t pos = 20 + 8ull * n_merges;
    for (uint32_t id = 0; id < vocab; id++) {
        if (size - pos < 4) BAD("truncated in the token table (token %u)", id);
        uint32_t len = get_u32(f + pos);
        pos += 4;
        if (len != tk->length[id]) BAD("token %u has length %u, expected %u", id, len, tk->length[id]);
        if (size - pos < len) BAD("truncated in the token table (token %u)", id);
        if (memcmp(f + pos, tk->bytes + tk->offset[id], len) != 0) BAD("token %u's bytes do not match its definition", id);
        pos += len;
    }
    if (pos != size) BAD("%zu trailing bytes after the token table", size - pos);
#undef BAD
    free(f);
}

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */

/* One distinct chunk of the corpus, during counting. */
typedef struct {
    size_t start;  /* first occurrence in the text */
    uint32_t len;
    int32_t next;  /* next chunk with the same 64-bit hash, or -1 */
    int64_t count; /* how many times it occurs */
} ChunkCount;

typedef struct {
    uint32_t left, right;
    int64_t count;   /* sum over words of (word count × occurrences in the word) */
    uint32_t *where; /* stb_ds array: words the pair has been seen in (may repeat or be stale) */
    uint32_t stamp;  /* merge step at which it was last queued for a heap push */
} PairStat;

typedef struct {
    int64_t count; /* the pair's count when this entry was pushed */
    uint32_t left, right, pair;
} HeapItem;

typedef struct {
    /* words: distinct chunks of >= 2 bytes, as token ids, back to back */
    uint32_t *syms;
    size_t *word_start;
    uint32_t *word_len;
    int64_t *word_count;
    uint32_t *word_stamp; /* last merge step that visited the word */
    uint32_t n_words;
    PairStat *pairs;      /* stb_ds array */
    MapU64 *pair_index;   /* stb_ds map: pair_key -> index in pairs */
    HeapItem *heap;       /* stb_ds array used as a binary max-heap */
    uint32_t *touched;    /* pairs whose count went up during this step */
    uint32_t step;
} Trainer;

/* The tie rule lives here: more count wins, then smaller left, then right. */
static inline int heap_better(const HeapItem *a, const HeapItem *b)
{
    if (a->count != b->count) return a->count > b->count;
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

static void heap_push(Trainer *T, uint32_t pair)
{
    HeapItem it = {T->pairs[pair].count, T->pairs[pair].left, T->pairs[pair].right, pair};
    arrput(T->heap, it);
    HeapItem *h = T->heap;
    size_t i = arrlenu(h) - 1;
    while (i > 0 && heap_better(&it, &h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = it;
}

static HeapItem heap_pop(Trainer *T)
{
    HeapItem *h = T->heap, top = h[0], last = arrpop(T->heap);
    size_t n = arrlenu(T->heap), i = 0;
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
static void pair_add(Trainer *T, uint32_t left, uint32_t right, int64_t delta, uint32_t w)
{
    uint64_t key = pair_key(left, right);
    ptrdiff_t k = hmgeti(T->pair_index, key);
    uint32_t p;
    if (k >= 0) {
        p = T->pair_index[k].value;
    } else {
        PairStat ps = {left, right, 0, NULL, UINT32_MAX};
        p = (uint32_t)arrlenu(T->pairs);
        arrput(T->pairs, ps);
        hmput(T->pair_index, key, p);
    }
    PairStat *ps = &T->pairs[p];
    ps->count += delta;
    if (delta > 0) {
        if (arrlenu(ps->where) == 0 || arrlast(ps->where) != w) arrput(ps->where, w);
        if (ps->stamp != T->step) { ps->stamp = T->step; arrput(T->touched, p); }
    }
}

/* Replaces every a b in word w by x (left to right, no overlap) and fixes
 * the counts of the pairs around each replacement.  Written in place: the
 * write index o never passes the read index i. */
static void merge_word(Trainer *T, uint32_t w, uint32_t a, uint32_t b, uint32_t x)
{
    uint32_t *s = T->syms + T->word_start[w];
    uint32_t n = T->word_len[w], o = 0;
    int64_t c = T->word_count[w];
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            /* s[o-1] is the already-rewritten left neighbour (maybe an x);
             * s[i+2] is the not-yet-read right neighbour. */
            if (o > 0) { pair_add(T, s[o - 1], a, -c, w); pair_add(T, s[o - 1], x, c, w); }
            if (i + 2 < n) { pair_add(T, b, s[i + 2], -c, w); pair_add(T, x, s[i + 2], c, w); }
            s[o++] = x;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    T->word_len[w] = o;
}

/* Learns up to n_merges merges from text; fills tk.  Prints nothing. */
static void bpe_train(const uint8_t *text, size_t n, uint32_t n_merges, Tokenizer *tk)
{
    /* 1. distinct chunks and their counts */
    Chunker ch;
    chunker_init(&ch, text, n, 0);
    MapU64 *map = NULL;
    ChunkCount *chunks = NULL;
    size_t s, len, total_syms = 0;
    while (chunker_next(&ch, &s, &len)) {
        if (len < 2) continue; /* a single byte has no pair to merge */
        if (len > UINT32_MAX) die("a chunk of %zu bytes without a break is too long to train on", len);
        uint64_t h = hash_bytes(text + s, len);
        ptrdiff_t k = hmgeti(map, h);
        int32_t head = k >= 0 ? (int32_t)map[k].value : -1, i = head;
        while (i >= 0 && !(chunks[i].len == len && bytes_equal(text + chunks[i].start, text + s, len))) i = chunks[i].next;
        if (i >= 0) { chunks[i].count++; continue; }
        if (arrlenu(chunks) >= INT32_MAX) die("more than %d distinct chunks: corpus too varied to train on", INT32_MAX);
        ChunkCount cc = {s, (uint32_t)len, head, 1};
        arrput(chunks, cc);
        hmput(map, h, (uint32_t)(arrlenu(chunks) - 1));
        total_syms += len;
    }
    hmfree(map);

    /* 2. words as arrays of byte ids, and the initial pair counts */
    Trainer T;
    memset(&T, 0, sizeof T);
    T.n_words = (uint32_t)arrlenu(chunks);
    T.syms = xmalloc(sizeof(uint32_t) * (total_syms + 1));
    T.word_start = xmalloc(sizeof(size_t) * (T.n_words + 1));
    T.word_len = xmalloc(sizeof(uint32_t) * (T.n_words + 1));
    T.word_count = xmalloc(sizeof(int64_t) * (T.n_words + 1));
    T.word_stamp = calloc(T.n_words + 1, sizeof(uint32_t));
    if (!T.word_stamp) die("out of memory");
    size_t at = 0;
    for (uint32_t w = 0; w < T.n_words; w++) {
        T.word_start[w] = at;
        T.word_len[w] = chunks[w].len;
        T.word_count[w] = chunks[w].count;
        for (uint32_t i = 0; i < chunks[w].len; i++) T.syms[at + i] = text[chunks[w].start + i];
        for (uint32_t i = 0; i + 1 < chunks[w].len; i++) pair_add(&T, T.syms[at + i], T.syms[at + i + 1], chunks[w].count, w);
        at += chunks[w].len;
    }
    arrfree(chunks);
    for (size_t i = 0; i < arrlenu(T.touched); i++) heap_push(&T, T.touched[i]);
    ARR_CLEAR(T.touched);

    /* 3. merge loop */
    Merge *merges = xmalloc(sizeof(Merge) * ((size_t)n_merges + 1));
    uint32_t done = 0;
    while (done < n_merges && arrlenu(T.heap) > 0) {
        HeapItem top = heap_pop(&T);
        int64_t real = T.pairs[top.pair].count;
        if (real != top.count) {
            /* stale entry.  If the count went down, the pair is queued again
             * with its real count; if it went up, a newer entry exists. */
            if (real > 0 && real < top.count) heap_push(&T, top.pair);
            continue;
        }
        uint32_t a = top.left, b = top.right, x = 256 + done;
        merges[done++] = (Merge){a, b};
        T.step++;
        uint32_t *where = T.pairs[top.pair].where; /* pair_add may move T.pairs: keep no pointer into it */
        T.pairs[top.pair].where = NULL;
        for (size_t i = 0; i < arrlenu(where); i++) {
            uint32_t w = where[i];
            if (T.word_stamp[w] == T.step) continue; /* listed twice */
            T.word_stamp[w] = T.step;
            merge_word(&T, w, a, b, x);
        }
        arrfree(where);
        T.pairs[top.pair].count = 0; /* every a b is now x, and no new a b can ever form */
        for (size_t i = 0; i < arrlenu(T.touched); i++)
            if (T.pairs[T.touched[i]].count > 0) heap_push(&T, T.touched[i]);
        ARR_CLEAR(T.touched);
    }

    tok_build(tk, merges, done, UINT64_MAX);
    free(merges);
    for (size_t i = 0; i < arrlenu(T.pairs); i++) arrfree(T.pairs[i].where);
    arrfree(T.pairs);
    hmfree(T.pair_index);
    arrfree(T.heap);
    arrfree(T.touched);
    free(T.syms);
    free(T.word_start);
    free(T.word_len);
    free(T.word_count);
    free(T.word_stamp);
}

/* ------------------------------------------------------------------------ */
/* Encoding and decoding                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t rank; /* merge index of the pair starting at pos */
    size_t pos;
} RankItem;

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
} FrontSlot;

typedef struct {
    Tokenizer *tk;        /* not const: stb_ds lookups may write the map pointer */
    MapU64 *cache;        /* stb_ds map: hash of a chunk -> offset of its record */
    uint32_t *records;    /* stb_ds array of cache records, back to back */
    FrontSlot front[FRONT_SLOTS];
    /* scratch space for bpe_chunk, reused between calls */
    uint32_t *ids;        /* its output */
    uint32_t *sym;
    size_t *next, *prev;
    RankItem *heap;
} Encoder;

static void encoder_init(Encoder *e, Tokenizer *tk)
{
    memset(e, 0, sizeof *e);
    e->tk = tk;
    for (size_t i = 0; i < FRONT_SLOTS; i++) e->front[i].record = NO_RECORD;
}

/* Is the chunk p[0..len) the one stored in record r? */
static inline int record_holds(const uint32_t *records, uint32_t r, const uint8_t *p, size_t len)
{
    return records[r] == len && bytes_equal(p, (const uint8_t *)(records + r + 3), len);
}

static void encoder_free(Encoder *e)
{
    hmfree(e->cache);
    arrfree(e->records);
    arrfree(e->ids);
    arrfree(e->sym);
    arrfree(e->next);
    arrfree(e->prev);
    arrfree(e->heap);
}

static inline int rank_less(RankItem a, RankItem b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void rank_push(Encoder *e, uint32_t left, uint32_t right, size_t pos)
{
    ptrdiff_t k = hmgeti(e->tk->rank, pair_key(left, right));
    if (k < 0) return; /* not a merge: this pair never joins */
    RankItem it = {e->tk->rank[k].value, pos};
    arrput(e->heap, it);
    RankItem *h = e->heap;
    size_t i = arrlenu(h) - 1;
    while (i > 0 && rank_less(it, h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = it;
}

static RankItem rank_pop(Encoder *e)
{
    RankItem *h = e->heap, top = h[0], last = arrpop(e->heap);
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
 * O(1); a symbol merged into its left neighbour is marked DEAD.  Heap entries are checked when
 * popped: an entry is still good only if its position is alive and the pair
 * there is still exactly that merge's pair.  (rank, position) order applies
 * merges in the order they were learned, and each one left to right. */
static void bpe_chunk(Encoder *e, const uint8_t *s, size_t n)
{
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
    const Merge *merges = e->tk->merges;
    while (arrlenu(e->heap) > 0) {
        RankItem it = rank_pop(e);
        size_t i = it.pos, j = next[i];
        if (sym[i] == DEAD || j == NONE) continue;
        if (sym[i] != merges[it.rank].left || sym[j] != merges[it.rank].right) continue; /* stale */
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
static uint32_t cache_find(Encoder *e, uint64_t h, const uint8_t *p, size_t len)
{
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
static void encode_text(Encoder *e, const uint8_t *text, size_t n, int eot, uint32_t **out)
{
    Chunker ch;
    chunker_init(&ch, text, n, eot);
    size_t s, len;
    int kind;
    while ((kind = chunker_next(&ch, &s, &len)) != CHUNK_END) {
        if (kind == CHUNK_EOT) { arrput(*out, e->tk->eot_id); continue; }
        if (len == 1) { arrput(*out, text[s]); continue; } /* one byte is its own token */
        const uint8_t *p = text + s;
        uint64_t h = hash_bytes(p, len);
        FrontSlot *fs = &e->front[h % FRONT_SLOTS];
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

/* Where to cut a text for a train/validation split: the first chunk
 * boundary at or after `target` that follows a '\n', or failing that the
 * first chunk boundary at or after it.  Cutting at a chunk boundary means the
 * two halves encode to exactly the tokens of the whole. */
static size_t split_point(const uint8_t *text, size_t n, size_t target, int eot)
{
    Chunker ch;
    chunker_init(&ch, text, n, eot);
    size_t s, len, first = n;
    while (chunker_next(&ch, &s, &len)) {
        size_t end = s + len;
        if (end < target) continue;
        if (first == n) first = end;
        if (text[end - 1] == '\n') return end;
    }
    return first;
}

/* The token ids must all be < vocab_size (the caller checks). */
static void decode_ids(const Tokenizer *tk, const uint32_t *ids, size_t n, uint8_t **out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(arraddnptr(*out, tk->length[ids[i]]), tk->bytes + tk->offset[ids[i]], tk->length[ids[i]]);
}

/* ------------------------------------------------------------------------ */
/* Token files                                                               */
/* ------------------------------------------------------------------------ */

static uint32_t token_bytes_for(uint32_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

static void write_token_header(OutFile *o, uint32_t vocab_size, uint64_t n_tokens, uint64_t n_bytes)
{
    uint8_t hdr[32];
    memcpy(hdr, "UTTK", 4);
    put_u32(hdr + 4, 1);
    put_u32(hdr + 8, vocab_size);
    put_u32(hdr + 12, token_bytes_for(vocab_size));
    put_u64(hdr + 16, n_tokens);
    put_u64(hdr + 24, n_bytes);
    out_write(o, hdr, sizeof hdr);
}

/* Appends ids to a token file as little-endian u16 or u32. */
static void write_token_ids(OutFile *o, uint32_t vocab_size, const uint32_t *ids, size_t n)
{
    uint32_t tb = token_bytes_for(vocab_size);
    uint8_t buf[1 << 16]; /* converted a buffer-full at a time */
    size_t per = sizeof buf / tb;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) {
            uint32_t v = ids[i + j];
            buf[j * tb] = (uint8_t)v;
            buf[j * tb + 1] = (uint8_t)(v >> 8);
            if (tb == 4) { buf[j * tb + 2] = (uint8_t)(v >> 16); buf[j * tb + 3] = (uint8_t)(v >> 24); }
        }
        out_write(o, buf, m * tb);
    }
}

/* encode_to_file works through the text in blocks of about this many bytes,
 * writing each block's tokens before encoding the next, so its memory does
 * not grow with the input (a variable so that tests can make it tiny). */
static size_t g_block_bytes = 1 << 16;

/* Where the block starting at `start` ends: the first position at or after
 * start + g_block_bytes that follows a '\n' and holds a non-space byte, or n.
 * Such a position is always a chunk boundary (a whitespace chunk runs up to
 * the next non-space byte and gives up at most a final ' ', never a '\n'),
 * and no <|endoftext|> spans it, so blocks encode to exactly the tokens of
 * the whole text. */
static size_t block_end(const uint8_t *text, size_t n, size_t start)
{
    if (g_class['a'] != CLS_LETTER) init_classes();
    size_t i = start + g_block_bytes; /* the candidate: text[i - 1] must be '\n' */
    while (i < n) {
        const uint8_t *nl = memchr(text + i - 1, '\n', n - (i - 1));
        if (!nl) break;
        i = (size_t)(nl - text) + 1;
        if (i < n && g_class[text[i]] != CLS_SPACE) return i;
        i++;
    }
    return n;
}

/* Encodes text[0..n) into the token file o: a header whose token count is
 * still 0, the tokens block by block, then the header again with the real
 * count.  Returns the number of tokens. */
static size_t encode_to_file(Encoder *e, const uint8_t *text, size_t n, int eot, OutFile *o)
{
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

/* Reads and checks a TOKENS file made by tokenizer tk.  Returns the ids
 * (malloc'd), *n their number, *n_bytes the header's text length. */
static uint32_t *read_tokens(const char *path, const Tokenizer *tk, size_t *n, uint64_t *n_bytes)
{
    size_t size;
    uint8_t *f = read_file(path, &size);
#define BAD(...) bad_file(path, "token file", __VA_ARGS__)
    if (size < 32) BAD("truncated header (%zu bytes)", size);
    if (memcmp(f, "UTTK", 4) != 0) BAD("bad magic (expected \"UTTK\")");
    uint32_t version = get_u32(f + 4), vocab = get_u32(f + 8), tb = get_u32(f + 12);
    uint64_t count = get_u64(f + 16);
    if (version != 1) BAD("unsupported version %u (expected 1)", version);
    if (vocab != tk->vocab_size) BAD("made by a tokenizer with vocab size %u, but this one has %u", vocab, tk->vocab_size);
    if (tb != token_bytes_for(vocab)) BAD("token_bytes is %u, expected %u", tb, token_bytes_for(vocab));
    if (count != (size - 32) / tb || (size - 32) % tb != 0)
        BAD("header says %llu tokens but the file holds %zu bytes of tokens", (unsigned long long)count, size - 32);
    *n = (size_t)count;
    *n_bytes = get_u64(f + 24);
    uint32_t *ids = xmalloc(sizeof(uint32_t) * (*n + 1));
    uint64_t text_len = 0;
    for (size_t i = 0; i < *n; i++) {
        const uint8_t *p = f + 32 + i * tb;
        ids[i] = tb == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : get_u32(p);
        if (ids[i] >= tk->vocab_size) BAD("token %zu is id %u, out of range (vocab size %u)", i, ids[i], tk->vocab_size);
        text_len += tk->length[ids[i]];
    }
    if (text_len != *n_bytes)
        BAD("header says the text is %llu bytes but the tokens decode to %llu", (unsigned long long)*n_bytes,
            (unsigned long long)text_len);
#undef BAD
    free(f);
    return ids;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *cmd, *usage;
    int argc, i;
    char **argv;
} Args;

/* The value after option argv[i]; missing values are an error. */
static const char *arg_value(Args *a)
{
    const char *opt = a->argv[a->i];
    if (a->i + 1 >= a->argc || strncmp(a->argv[a->i + 1], "--", 2) == 0)
        die("option %s needs a value (see: tokenizer %s --help)", opt, a->cmd);
    return a->argv[++a->i];
}

static long long parse_int(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') die("%s: '%s' is not an integer", opt, s);
    return v;
}

static double parse_double(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) die("%s: '%s' is not a number", opt, s);
    return v;
}

static void unknown_option(Args *a)
{
    die("unknown option '%s' for '%s' (see: tokenizer %s --help)", a->argv[a->i], a->cmd, a->cmd);
}

static int is_help(const char *s) { return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0; }

static int cmd_train(Args *a)
{
    const char **inputs = NULL;
    const char *output = NULL;
    long long vocab = -1;
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
        else unknown_option(a);
    }
    if (!inputs) die("train needs --input FILE (see: tokenizer train --help)");
    if (vocab < 0 && vocab != -1) die("--vocab-size must be between 256 and %u, got %lld", 1u << 20, vocab);
    if (vocab == -1) die("train needs --vocab-size N (see: tokenizer train --help)");
    if (vocab < 256 || vocab > (1 << 20)) die("--vocab-size must be between 256 and %u, got %lld", 1u << 20, vocab);
    if (!output) die("train needs --output TOK (see: tokenizer train --help)");

    /* create the output first: an unwritable path fails now, not after training */
    OutFile out;
    out_open(&out, output);
    double t0 = now_seconds();
    /* The corpus is the inputs concatenated.  One input is used where it
     * lies (mmap'ed); several are copied into one buffer. */
    InFile *ins = NULL;
    size_t n = 0;
    for (ptrdiff_t k = 0; k < arrlen(inputs); k++) {
        InFile f;
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
    Tokenizer tk;
    bpe_train(text, n, (uint32_t)(vocab - 256), &tk);
    if (tk.n_merges < vocab - 256)
        fprintf(stderr, "tokenizer: note: the corpus only allows %u merges, so the vocab size is %u, not %lld\n",
                tk.n_merges, 256 + tk.n_merges, vocab);
    tok_write(&tk, &out);
    printf("trained %u merges on %zu bytes in %.3f s: vocab %u (incl. <|endoftext|> = %u) -> %s\n", tk.n_merges, n,
           now_seconds() - t0, tk.vocab_size, tk.eot_id, output);
    tok_free(&tk);
    free(joined);
    for (ptrdiff_t k = 0; k < arrlen(ins); k++) in_close(&ins[k]);
    arrfree(ins);
    arrfree(inputs);
    return 0;
}

static int cmd_encode(Args *a)
{
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
    if (val_output && strcmp(val_output, output) == 0) die("--output and --val-output are the same file");

    Tokenizer tk;
    tok_load(&tk, model);
    InFile in;
    in_open(&in, input);
    const uint8_t *text = in.data;
    size_t n = in.len;
    double t0 = now_seconds();
    size_t cut = n;
    if (have_frac) {
        cut = split_point(text, n, (size_t)((1.0 - frac) * (double)n), eot);
        if (cut == 0 || cut == n)
            die("cannot split '%s' (%zu bytes) with --val-fraction %g: one part would be empty", input, n, frac);
    }
    /* both files are complete on disk before either is renamed into place */
    Encoder e;
    encoder_init(&e, &tk);
    OutFile o, ov;
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
           nt + nv ? (double)n / (double)(nt + nv) : 0.0, dt, dt > 0 ? (double)n / dt / 1e6 : 0.0);
    if (have_frac)
        printf("  %s: %zu bytes, %zu tokens;  %s: %zu bytes, %zu tokens\n", output, cut, nt, val_output, n - cut, nv);
    encoder_free(&e);
    in_close(&in);
    tok_free(&tk);
    return 0;
}

static int cmd_decode(Args *a)
{
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
    Tokenizer tk;
    tok_load(&tk, model);
    size_t n;
    uint64_t n_bytes;
    uint32_t *ids = read_tokens(input, &tk, &n, &n_bytes); /* checks every id first: no partial output */
    uint8_t *text = NULL;
    decode_ids(&tk, ids, n, &text);
    size_t len = arrlenu(text);
    if ((len && fwrite(text, 1, len, stdout) != len) || fflush(stdout) != 0)
        die("cannot write to stdout: %s", strerror(errno));
    arrfree(text);
    free(ids);
    tok_free(&tk);
    return 0;
}

/* Prints a token's bytes as a C-like string literal. */
static void print_escaped(const uint8_t *p, size_t n)
{
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

static int cmd_info(Args *a)
{
    const char *model = NULL, *input = NULL;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *o = a->argv[a->i];
        if (is_help(o)) { fputs(a->usage, stdout); exit(0); }
        else if (strcmp(o, "--model") == 0) model = arg_value(a);
        else if (strcmp(o, "--input") == 0) input = arg_value(a);
        else unknown_option(a);
    }
    if (!model) die("info needs --model TOK (see: tokenizer info --help)");
    Tokenizer tk;
    tok_load(&tk, model);
    InFile in = {NULL, 0, 0};
    if (input) in_open(&in, input); /* open before printing: a bad --input prints nothing */
    printf("vocab size: %u (256 bytes + %u merges + 1 special: <|endoftext|> = %u)\n", tk.vocab_size, tk.n_merges,
           tk.eot_id);
    /* the 10 longest tokens (ties: smaller id first), special token excluded */
    uint32_t top[10];
    int nt = 0;
    for (uint32_t id = 0; id < tk.eot_id; id++) {
        int at = nt;
        while (at > 0 && tk.length[top[at - 1]] < tk.length[id]) at--;
        if (at >= 10) continue;
        if (nt < 10) nt++;
        memmove(top + at + 1, top + at, sizeof(uint32_t) * (size_t)(nt - 1 - at));
        top[at] = id;
    }
    printf("longest tokens:\n");
    for (int k = 0; k < nt; k++) {
        printf("  %6u  len %3u  ", top[k], tk.length[top[k]]);
        print_escaped(tk.bytes + tk.offset[top[k]], tk.length[top[k]]);
        putchar('\n');
    }
    if (input) {
        Encoder e;
        encoder_init(&e, &tk);
        uint32_t *ids = NULL;
        encode_text(&e, in.data, in.len, 0, &ids);
        printf("compression on %s: %zu bytes -> %zu tokens = %.3f bytes/token\n", input, in.len, arrlenu(ids),
               arrlenu(ids) ? (double)in.len / (double)arrlenu(ids) : 0.0);
        arrfree(ids);
        encoder_free(&e);
        in_close(&in);
    }
    tok_free(&tk);
    return 0;
}

#ifndef TOKENIZER_TESTING
int main(int argc, char **argv)
{
    static const char *USAGE_TRAIN =
        "usage: tokenizer train --input FILE [FILE...] --vocab-size N --output TOK\n"
        "  Learns a byte-level BPE tokenizer from the FILEs (concatenated).\n"
        "  N = 256 byte tokens + merges (256..1048576; 256 means bytes only).\n"
        "  <|endoftext|> is added as id N, so the total vocab is N + 1.\n";
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
    if (is_help(argv[1])) { fputs(USAGE, stdout); return 0; }
    Args a = {argv[1], NULL, argc, 0, argv};
    if (strcmp(argv[1], "train") == 0) { a.usage = USAGE_TRAIN; return cmd_train(&a); }
    if (strcmp(argv[1], "encode") == 0) { a.usage = USAGE_ENCODE; return cmd_encode(&a); }
    if (strcmp(argv[1], "decode") == 0) { a.usage = USAGE_DECODE; return cmd_decode(&a); }
    if (strcmp(argv[1], "info") == 0) { a.usage = USAGE_INFO; return cmd_info(&a); }
    die("unknown command '%s' (commands: train, encode, decode, info; see: tokenizer --help)", argv[1]);
}
#endif
