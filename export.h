/* export.h — a trained model out of ultrathink: a GGUF file (llama.cpp,
   ollama) and a Hugging Face folder (safetensors + config.json +
   tokenizer.json). Included by train.c, which gives it its command:

       ./train export --resume RUN --format gguf --out model.gguf [--dtype f32|f16|q8_0]
       ./train export --resume RUN --format hf   --out model_dir  [--dtype f32|f16]

   Everything here is static and reads a loaded model (ut_model) and its
   tokenizer (ut_tokenizer); nothing is computed, only laid out again in the
   order and the byte layout another program expects. The sections follow
   what a reader needs:

     1. numbers in other formats: half precision (f16), Q8_0 blocks
     2. the tokenizer as strings: GPT-2's byte-to-unicode map, the token and
        merge strings both formats store
     3. RoPE: why llama.cpp needs Q and K rows permuted, and the permutation
     4. GGUF: the file layout, the keys, the tensor names, the writer
     5. Hugging Face: safetensors, config.json, tokenizer.json, the model card
     6. writing safely: a temp file or folder, then one rename

   Functions return 0, or -1 with a one-line message in ex_err (the caller
   prints it). Nothing is written to the destination until everything has
   been written beside it, so a failed export leaves nothing behind.        */
#ifndef ULTRATHINK_EXPORT_H
#define ULTRATHINK_EXPORT_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char ex_err[600];
static int ex_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ex_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex_err, sizeof ex_err, fmt, ap);
    va_end(ap);
    return -1;
}

/* The kinds of numbers a tensor can be written as (the values are GGML's
   type ids, which GGUF stores). */
enum { EX_F32 = 0, EX_F16 = 1, EX_Q8_0 = 8 };

/* ===========================================================================
   1. NUMBERS: f16 and Q8_0
   f16 (IEEE half): 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits;
   about 3 significant digits, largest 65504. A float becomes a half by
   keeping the top 10 of its 23 mantissa bits, rounding to nearest (ties to
   even), with exponent 2^-14 .. 2^15; smaller numbers become subnormals
   (multiples of 2^-24).
   Q8_0 (llama.cpp's 8-bit format): a row is cut into blocks of 32 numbers;
   each block stores one f16 scale d = max|x| / 127 and 32 signed bytes
   q = round(x / d), so x ~ q d. 34 bytes per 32 numbers (8.5 bits each);
   the error of a number is at most d/2, relative to the block's largest.
   ======================================================================== */

static uint16_t ex_f16_from_f32(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) return sign | 0x7C00 | (a > 0x7F800000u ? 0x200 : 0);   /* inf, NaN */
    if (a >= 0x477FF000u) return sign | 0x7C00;           /* rounds past 65504: inf */
    if (a < 0x38800000u) {                                /* below 2^-14: a subnormal half */
        float v;
        memcpy(&v, &a, 4);
        return sign | (uint16_t)lrintf(v * 16777216.0f); /* in units of 2^-24, ties to even */
    }
    uint32_t h = (a >> 13) - ((127u - 15u) << 10), rest = a & 0x1FFFu;  /* rebias the exponent */
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;            /* round to nearest even */
    return sign | (uint16_t)h;
}
static float ex_f32_from_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF, x;
    if (e == 0) {                                         /* zero or subnormal: m * 2^-24 */
        float v = (float)m * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (e == 31) x = sign | 0x7F800000u | (m << 13);
    else x = sign | ((e + 127 - 15) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* One Q8_0 block: x[32] -> 34 bytes (f16 scale, 32 int8). Same rounding as
   llama.cpp's reference quantizer, so our dequantised numbers are its. */
#define EX_QK 32
static void ex_q8_0_block(uint8_t out[34], const float *x) {
    float amax = 0;
    for (int i = 0; i < EX_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t dh = ex_f16_from_f32(d);
    out[0] = (uint8_t)(dh & 0xFF);
    out[1] = (uint8_t)(dh >> 8);
    for (int i = 0; i < EX_QK; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
}

/* What the numbers become after a round trip through a type: the weights
   llama.cpp computes with. x[n] in place; Q8_0 needs n % 32 == 0. */
static void ex_round_trip(float *x, size_t n, int type) {
    if (type == EX_F16)
        for (size_t i = 0; i < n; i++) x[i] = ex_f32_from_f16(ex_f16_from_f32(x[i]));
    else if (type == EX_Q8_0)
        for (size_t b = 0; b < n; b += EX_QK) {
            uint8_t blk[34];
            ex_q8_0_block(blk, x + b);
            float d = ex_f32_from_f16((uint16_t)(blk[0] | blk[1] << 8));
            for (int i = 0; i < EX_QK; i++) x[b + i] = (float)(int8_t)blk[2 + i] * d;
        }
}

/* Bytes of a tensor of n numbers with rows of ne0 as a type. */
static uint64_t ex_type_bytes(int type, uint64_t n) {
    return type == EX_F32 ? 4 * n : type == EX_F16 ? 2 * n : n / EX_QK * 34;
}

/* ===========================================================================
   2. THE TOKENIZER AS STRINGS
   Our tokens are byte strings; GGUF and tokenizer.json store them as text,
   so GPT-2 invented a reversible map from the 256 byte values to 256
   printable Unicode characters: the bytes that are already printable and
   not a space ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves (as
   the code point of that number), and the other 68 (control bytes, space,
   0x7F..0xA0, 0xAD) get the code points 256, 257, ... in byte order. So the
   space 0x20 is U+0120 'Ġ' and "\n" is U+010A 'Ċ': " the" is "Ġthe". Both
   clients undo the map when decoding (the ByteLevel decoder).
   A token's string is its bytes through the map, written as UTF-8; a merge
   is stored as "LEFT RIGHT", the two strings and one space (never inside a
   string: the space byte maps to 'Ġ').
   ======================================================================== */

/* byte -> its code point under GPT-2's map */
static void ex_byte_to_unicode(uint32_t cp[256]) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp[b] = printable ? (uint32_t)b : (uint32_t)next++;
    }
}
/* UTF-8 of a code point < 0x800 (all the map makes): 1 or 2 bytes */
static int ex_utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    out[0] = (uint8_t)(0xC0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
}

/* Every token's string (malloc'd, NUL-terminated; str[id]); the special
   token stays the literal <|endoftext|>. Refuses a vocabulary where two ids
   have the same bytes: both formats look tokens up by string. */
typedef struct { char **str; uint32_t n; } ex_vocab;
static void ex_vocab_free(ex_vocab *v) {
    for (uint32_t i = 0; v->str && i < v->n; i++) free(v->str[i]);
    free(v->str);
    memset(v, 0, sizeof *v);
}
static int ex_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static int ex_vocab_build(ex_vocab *v, const ut_tokenizer *tk) {
    uint32_t cp[256];
    ex_byte_to_unicode(cp);
    v->n = tk->vocab_size;
    v->str = (char **)calloc(v->n, sizeof(char *));
    if (!v->str) return ex_fail("out of memory");
    for (uint32_t id = 0; id < v->n; id++) {
        uint32_t len = tk->token_len[id];
        char *s = (char *)malloc(2 * (size_t)len + 1);
        if (!s) { ex_vocab_free(v); return ex_fail("out of memory"); }
        size_t k = 0;
        if (id == tk->eot_id) { memcpy(s, tk->token_bytes[id], len); k = len; }
        else for (uint32_t i = 0; i < len; i++) k += (size_t)ex_utf8((uint8_t *)s + k, cp[tk->token_bytes[id][i]]);
        s[k] = 0;
        v->str[id] = s;
    }
    char **sorted = (char **)malloc(v->n * sizeof(char *));
    if (!sorted) { ex_vocab_free(v); return ex_fail("out of memory"); }
    memcpy(sorted, v->str, v->n * sizeof(char *));
    qsort(sorted, v->n, sizeof(char *), ex_cmp_str);
    for (uint32_t i = 1; i < v->n; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            free(sorted);
            ex_vocab_free(v);
            return ex_fail("two tokens have the same bytes; GGUF and tokenizer.json need distinct tokens");
        }
    free(sorted);
    return 0;
}
/* merge i as "LEFT RIGHT" into buf (room for both strings + 2) */
static char *ex_merge_string(const ex_vocab *v, const ut_tokenizer *tk, uint32_t i) {
    const char *l = v->str[tk->merges[2 * i]], *r = v->str[tk->merges[2 * i + 1]];
    size_t nl = strlen(l), nr = strlen(r);
    char *s = (char *)malloc(nl + nr + 2);
    if (!s) return NULL;
    memcpy(s, l, nl);
    s[nl] = ' ';
    memcpy(s + nl + 1, r, nr + 1);
    return s;
}

/* ===========================================================================
   3. ROPE: FROM ROTATE-HALF TO INTERLEAVED PAIRS
   RoPE rotates pairs of a head's HD features by the angle p f_i, f_i =
   theta^(-2i/HD), i < HD/2. Which features form pair i is a convention:
     rotate-half (ours, Hugging Face's Llama):  (i, i + HD/2)
     interleaved (Meta's original, llama.cpp's "llama" architecture): (2i, 2i+1)
   Both are the same rotation of differently ordered features. Let P be the
   permutation that puts feature i at place 2i and feature i + HD/2 at place
   2i+1. If our head computes q = Wq x and k = Wk x, a model whose weights
   are P Wq and P Wk (rows reordered) computes P q and P k; interleaved RoPE
   on P q rotates exactly the pairs rotate-half rotated on q (same angle,
   same pair index i), so it gives P rope(q), and likewise P rope(k). The
   attention score only uses dot products, and permuting both vectors the
   same way keeps them: (P a) . (P b) = a . b. So with Q and K rows permuted
   per head, llama.cpp's scores, softmax and outputs equal ours; V and the
   output projection are untouched.
   Per head, new row 2i+j (j = 0, 1) = old row j*HD/2 + i: the reshape
   (HD, D) -> (2, HD/2, D), swap the first two axes, -> (HD, D) that
   llama.cpp's Hugging Face converter applies. Hugging Face itself uses
   rotate-half, so its export needs nothing.
   ======================================================================== */

/* w (nh*HD, D) -> out, rows permuted within each of the nh heads */
static void ex_permute_rope_rows(float *out, const float *w, int nh, int HD, int D) {
    int half = HD / 2;
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < half; i++)
            for (int j = 0; j < 2; j++)
                memcpy(out + ((size_t)h * HD + 2 * i + j) * D, w + ((size_t)h * HD + (size_t)j * half + i) * D,
                       (size_t)D * sizeof(float));
}

/* ===========================================================================
   4. GGUF
   One file, read by llama.cpp with mmap. All integers little-endian.
     u32 magic "GGUF", u32 version 3, u64 number of tensors, u64 number of
     key/value pairs
     the key/value pairs: a string key, u32 value type, the value
       (a string is u64 length + bytes, no NUL; an array is u32 element
       type, u64 count, the elements)
     the tensor infos: string name, u32 n_dims, u64 dims[n_dims] (GGML
       order: dims[0] is the length of a row, the fastest-moving index),
       u32 type, u64 offset of its data from the start of the data section
     zero padding to general.alignment (32), then the data section: each
       tensor's bytes, each starting at a multiple of 32
   Our (out, in) row-major matrices are GGML's [in, out]: the same bytes.
   The keys llama.cpp's "llama" architecture reads (llama.*), the
   tokenizer's (tokenizer.ggml.*) and the general ones are written by
   ex_gguf_write below; the tensor names:
       token_embd.weight            (V, D)    our UT_TOK_EMB
       blk.N.attn_norm.weight       (D)
       blk.N.attn_q.weight          (H*HD, D) rows permuted (section 3)
       blk.N.attn_k.weight          (KVH*HD, D) rows permuted
       blk.N.attn_v.weight, blk.N.attn_output.weight
       blk.N.ffn_norm.weight
       dense:  blk.N.ffn_gate.weight, ffn_up.weight (F, D), ffn_down.weight (D, F)
       MoE:    blk.N.ffn_gate_inp.weight (E, D) the router;
               blk.N.ffn_gate_exps.weight, ffn_up_exps.weight (E, F, D),
               blk.N.ffn_down_exps.weight (E, D, F): all experts in one tensor
       output_norm.weight           (D)
       output.weight                (V, D)    absent when tied: llama.cpp
                                              then reuses token_embd
   Types: --dtype f32 writes everything as F32; f16 and q8_0 convert the
   matrices and keep the norms and the router F32 (as llama.cpp's converter
   does: they are tiny and sensitive). Q8_0 needs rows of a multiple of 32;
   a matrix whose rows are not is written F16.
   Our MoE routing (softmax over all E experts, the top K, weights
   renormalised to sum 1) is llama.cpp's for Mixtral-style "llama" models.
   llama.cpp's "llama" architecture has no sliding window: a model trained
   with one attends to the whole context there (the exporter warns).
   ======================================================================== */

/* One tensor to write: its GGUF name, its shape in GGML order (ne[0] = row
   length), where its floats are (our layout) and the type to write. */
typedef struct {
    char name[96];
    int n_dims;
    uint64_t ne[3];
    const float *data;
    int type;
    uint64_t offset;   /* in the data section (GGUF) or the data block (safetensors) */
} ex_tensor;

typedef struct {
    ex_tensor *t;
    int n, cap;
    float *owned[4];   /* buffers this list allocated (permuted Q and K) */
} ex_tensors;
static void ex_tensors_free(ex_tensors *ts) {
    free(ts->t);
    for (int i = 0; i < 4; i++) free(ts->owned[i]);
    memset(ts, 0, sizeof *ts);
}
/* Adds a tensor; dims given outermost first, as in our comments: (V, D). */
static int ex_add(ex_tensors *ts, const float *data, int type, int n_dims, uint64_t d0, uint64_t d1, uint64_t d2,
                  const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int ex_add(ex_tensors *ts, const float *data, int type, int n_dims, uint64_t d0, uint64_t d1, uint64_t d2,
                  const char *fmt, ...) {
    if (ts->n == ts->cap) {
        int cap = ts->cap ? 2 * ts->cap : 64;
        ex_tensor *t = (ex_tensor *)realloc(ts->t, (size_t)cap * sizeof *t);
        if (!t) return ex_fail("out of memory");
        ts->t = t;
        ts->cap = cap;
    }
    ex_tensor *t = &ts->t[ts->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    const uint64_t d[3] = {d0, d1, d2};
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) t->ne[i] = d[n_dims - 1 - i];   /* GGML order: innermost first */
    t->data = data;
    /* matrices take the asked type; vectors stay F32; Q8_0 needs whole blocks per row */
    t->type = n_dims == 1 ? EX_F32 : (type == EX_Q8_0 && t->ne[0] % EX_QK) ? EX_F16 : type;
    return 0;
}
static uint64_t ex_numel(const ex_tensor *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->ne[i];
    return n;
}

/* The GGUF tensor list of model m (Q, K permuted into new buffers). */
static int ex_gguf_tensors(ex_tensors *ts, const ut_model *m, int type) {
    const ut_config *c = &m->cfg;
    int L = c->n_layers, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads, HD = c->head_dim;
    int F = c->ffn_hidden, E = c->n_experts, V = c->vocab_size;
    memset(ts, 0, sizeof *ts);
    size_t qn = (size_t)H * HD * D, kn = (size_t)KVH * HD * D;
    float *q = (float *)malloc((size_t)L * qn * sizeof(float)), *k = (float *)malloc((size_t)L * kn * sizeof(float));
    ts->owned[0] = q; ts->owned[1] = k;
    if (!q || !k) return ex_fail("out of memory");
    ut_float *const *p = m->p;
    int r = ex_add(ts, p[UT_TOK_EMB], type, 2, (uint64_t)V, (uint64_t)D, 0, "token_embd.weight");
    for (int l = 0; l < L && !r; l++) {
        ut_layer w = ut_layer_weights((ut_float **)p, c, l);
        ex_permute_rope_rows(q + l * qn, w.wq, H, HD, D);
        ex_permute_rope_rows(k + l * kn, w.wk, KVH, HD, D);
        r |= ex_add(ts, w.attn_norm, EX_F32, 1, (uint64_t)D, 0, 0, "blk.%d.attn_norm.weight", l);
        r |= ex_add(ts, q + l * qn, type, 2, (uint64_t)H * HD, (uint64_t)D, 0, "blk.%d.attn_q.weight", l);
        r |= ex_add(ts, k + l * kn, type, 2, (uint64_t)KVH * HD, (uint64_t)D, 0, "blk.%d.attn_k.weight", l);
        r |= ex_add(ts, w.wv, type, 2, (uint64_t)KVH * HD, (uint64_t)D, 0, "blk.%d.attn_v.weight", l);
        r |= ex_add(ts, w.wo, type, 2, (uint64_t)D, (uint64_t)H * HD, 0, "blk.%d.attn_output.weight", l);
        r |= ex_add(ts, w.ffn_norm, EX_F32, 1, (uint64_t)D, 0, 0, "blk.%d.ffn_norm.weight", l);
        if (E == 1) {
            r |= ex_add(ts, w.w_gate, type, 2, (uint64_t)F, (uint64_t)D, 0, "blk.%d.ffn_gate.weight", l);
            r |= ex_add(ts, w.w_up, type, 2, (uint64_t)F, (uint64_t)D, 0, "blk.%d.ffn_up.weight", l);
            r |= ex_add(ts, w.w_down, type, 2, (uint64_t)D, (uint64_t)F, 0, "blk.%d.ffn_down.weight", l);
        } else {
            r |= ex_add(ts, w.router, EX_F32, 2, (uint64_t)E, (uint64_t)D, 0, "blk.%d.ffn_gate_inp.weight", l);
            r |= ex_add(ts, w.w_gate, type, 3, (uint64_t)E, (uint64_t)F, (uint64_t)D, "blk.%d.ffn_gate_exps.weight", l);
            r |= ex_add(ts, w.w_up, type, 3, (uint64_t)E, (uint64_t)F, (uint64_t)D, "blk.%d.ffn_up_exps.weight", l);
            r |= ex_add(ts, w.w_down, type, 3, (uint64_t)E, (uint64_t)D, (uint64_t)F, "blk.%d.ffn_down_exps.weight", l);
        }
    }
    if (!r) r = ex_add(ts, p[UT_FINAL_NORM], EX_F32, 1, (uint64_t)D, 0, 0, "output_norm.weight");
    if (!r && !c->tie_embeddings) r = ex_add(ts, p[UT_LM_HEAD], type, 2, (uint64_t)V, (uint64_t)D, 0, "output.weight");
    /* the router is F32 whatever the type (ex_add gave it the asked type) */
    for (int i = 0; i < ts->n; i++)
        if (strstr(ts->t[i].name, "ffn_gate_inp")) ts->t[i].type = EX_F32;
    return r;
}

/* A tensor's bytes as its type, written to f (rows converted one at a time). */
static int ex_write_tensor_data(FILE *f, const ex_tensor *t) {
    uint64_t row = t->ne[0], rows = ex_numel(t) / row;
    uint8_t *buf = (uint8_t *)malloc(ex_type_bytes(t->type == EX_Q8_0 ? EX_Q8_0 : EX_F32, row) + 64);
    if (!buf) return ex_fail("out of memory");
    int ok = 1;
    for (uint64_t r = 0; r < rows && ok; r++) {
        const float *x = t->data + r * row;
        size_t nb = (size_t)ex_type_bytes(t->type, row);
        if (t->type == EX_F32) memcpy(buf, x, nb);   /* little-endian hosts: the float's bytes */
        else if (t->type == EX_F16)
            for (uint64_t i = 0; i < row; i++) {
                uint16_t h = ex_f16_from_f32(x[i]);
                buf[2 * i] = (uint8_t)(h & 0xFF);
                buf[2 * i + 1] = (uint8_t)(h >> 8);
            }
        else
            for (uint64_t b = 0; b < row / EX_QK; b++) ex_q8_0_block(buf + 34 * b, x + EX_QK * b);
        ok = fwrite(buf, 1, nb, f) == nb;
    }
    free(buf);
    return ok ? 0 : ex_fail("write failed: %s", strerror(errno));
}

/* The little writers of GGUF values. Each returns 1 if the bytes went out. */
static int ex_w(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }
static int ex_w_u32(FILE *f, uint32_t v) { uint8_t b[4]; ut_put_u32(b, v); return ex_w(f, b, 4); }
static int ex_w_u64(FILE *f, uint64_t v) { uint8_t b[8]; ut_put_u64(b, v); return ex_w(f, b, 8); }
static int ex_w_f32(FILE *f, float v) { uint32_t u; memcpy(&u, &v, 4); return ex_w_u32(f, u); }
static int ex_w_str(FILE *f, const char *s) { size_t n = strlen(s); return ex_w_u64(f, n) && ex_w(f, s, n); }
enum { GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9 };
static int ex_kv_u32(FILE *f, const char *k, uint32_t v) { return ex_w_str(f, k) && ex_w_u32(f, GGUF_U32) && ex_w_u32(f, v); }
static int ex_kv_f32(FILE *f, const char *k, float v) { return ex_w_str(f, k) && ex_w_u32(f, GGUF_F32) && ex_w_f32(f, v); }
static int ex_kv_bool(FILE *f, const char *k, int v) {
    uint8_t b = (uint8_t)(v != 0);
    return ex_w_str(f, k) && ex_w_u32(f, GGUF_BOOL) && ex_w(f, &b, 1);
}
static int ex_kv_str(FILE *f, const char *k, const char *v) { return ex_w_str(f, k) && ex_w_u32(f, GGUF_STRING) && ex_w_str(f, v); }
static int ex_kv_array(FILE *f, const char *k, uint32_t type, uint64_t n) {
    return ex_w_str(f, k) && ex_w_u32(f, GGUF_ARRAY) && ex_w_u32(f, type) && ex_w_u64(f, n);
}
static int ex_pad(FILE *f, uint64_t *pos, uint64_t align) {
    static const uint8_t zeros[64];
    uint64_t n = (align - *pos % align) % align;
    *pos += n;
    return ex_w(f, zeros, (size_t)n);
}

/* The whole GGUF file to f. name: general.name. */
static int ex_gguf_write(FILE *f, const ut_model *m, const ut_tokenizer *tk, int type, const char *name) {
    const ut_config *c = &m->cfg;
    ex_vocab v;
    if (ex_vocab_build(&v, tk)) return -1;
    ex_tensors ts;
    if (ex_gguf_tensors(&ts, m, type)) { ex_vocab_free(&v); ex_tensors_free(&ts); return -1; }
    int moe = c->n_experts > 1;
    uint64_t n_kv = 4 + 11 + (moe ? 2 : 0) + 10, align = 32;   /* general, llama, MoE, tokenizer keys */
    int ok = ex_w(f, "GGUF", 4) && ex_w_u32(f, 3) && ex_w_u64(f, (uint64_t)ts.n) && ex_w_u64(f, n_kv);
    /* general.file_type: LLAMA_FTYPE_ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7 */
    ok = ok && ex_kv_str(f, "general.architecture", "llama") && ex_kv_str(f, "general.name", name) &&
         ex_kv_u32(f, "general.file_type", type == EX_F32 ? 0 : type == EX_F16 ? 1 : 7) &&
         ex_kv_u32(f, "general.alignment", (uint32_t)align) &&
         ex_kv_u32(f, "llama.context_length", (uint32_t)c->max_seq_len) &&
         ex_kv_u32(f, "llama.embedding_length", (uint32_t)c->d_model) &&
         ex_kv_u32(f, "llama.block_count", (uint32_t)c->n_layers) &&
         ex_kv_u32(f, "llama.feed_forward_length", (uint32_t)c->ffn_hidden) &&
         ex_kv_u32(f, "llama.attention.head_count", (uint32_t)c->n_heads) &&
         ex_kv_u32(f, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads) &&
         ex_kv_u32(f, "llama.attention.key_length", (uint32_t)c->head_dim) &&
         ex_kv_u32(f, "llama.attention.value_length", (uint32_t)c->head_dim) &&
         ex_kv_u32(f, "llama.rope.dimension_count", (uint32_t)c->head_dim) &&
         ex_kv_f32(f, "llama.rope.freq_base", c->rope_theta) &&
         ex_kv_f32(f, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    if (moe) ok = ok && ex_kv_u32(f, "llama.expert_count", (uint32_t)c->n_experts) &&
                  ex_kv_u32(f, "llama.expert_used_count", (uint32_t)c->top_k);
    /* the tokenizer: GPT-2's byte-level BPE, GPT-2's pre-tokenizer; our one
       special token ends a text (eos) and is also named bos, never added */
    ok = ok && ex_kv_u32(f, "llama.vocab_size", tk->vocab_size) &&
         ex_kv_str(f, "tokenizer.ggml.model", "gpt2") && ex_kv_str(f, "tokenizer.ggml.pre", "gpt-2");
    ok = ok && ex_kv_array(f, "tokenizer.ggml.tokens", GGUF_STRING, v.n);
    for (uint32_t id = 0; ok && id < v.n; id++) ok = ex_w_str(f, v.str[id]);
    /* token types: 1 normal, 3 control (the special token) */
    ok = ok && ex_kv_array(f, "tokenizer.ggml.token_type", GGUF_I32, v.n);
    for (uint32_t id = 0; ok && id < v.n; id++) ok = ex_w_u32(f, id == tk->eot_id ? 3 : 1);
    ok = ok && ex_kv_array(f, "tokenizer.ggml.merges", GGUF_STRING, tk->n_merges);
    for (uint32_t i = 0; ok && i < tk->n_merges; i++) {
        char *s = ex_merge_string(&v, tk, i);
        ok = s && ex_w_str(f, s);
        free(s);
    }
    ok = ok && ex_kv_u32(f, "tokenizer.ggml.eos_token_id", tk->eot_id) &&
         ex_kv_u32(f, "tokenizer.ggml.bos_token_id", tk->eot_id) &&
         ex_kv_bool(f, "tokenizer.ggml.add_bos_token", 0) && ex_kv_bool(f, "tokenizer.ggml.add_eos_token", 0);
    /* tensor infos, data offsets aligned */
    uint64_t off = 0;
    for (int i = 0; ok && i < ts.n; i++) {
        ex_tensor *t = &ts.t[i];
        off = (off + align - 1) / align * align;
        t->offset = off;
        off += ex_type_bytes(t->type, ex_numel(t));
        ok = ex_w_str(f, t->name) && ex_w_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; ok && d < t->n_dims; d++) ok = ex_w_u64(f, t->ne[d]);
        ok = ok && ex_w_u32(f, (uint32_t)t->type) && ex_w_u64(f, t->offset);
    }
    long head = ok ? ftell(f) : -1;
    uint64_t pos = head < 0 ? 0 : (uint64_t)head;
    ok = ok && head >= 0 && ex_pad(f, &pos, align);
    int r = ok ? 0 : ex_fail("write failed: %s", strerror(errno));
    uint64_t data_pos = 0;
    for (int i = 0; !r && i < ts.n; i++) {
        if (!ex_pad(f, &data_pos, align)) r = ex_fail("write failed: %s", strerror(errno));
        else r = ex_write_tensor_data(f, &ts.t[i]);
        data_pos += ex_type_bytes(ts.t[i].type, ex_numel(&ts.t[i]));
    }
    ex_tensors_free(&ts);
    ex_vocab_free(&v);
    return r;
}

/* ===========================================================================
   5. HUGGING FACE: a folder that from_pretrained loads
     model.safetensors        the weights under Hugging Face's names
     config.json              LlamaForCausalLM (dense), MistralForCausalLM
                              (dense with a sliding window), MixtralForCausalLM
                              (MoE: E experts, top K, renormalised softmax
                              routing, as ours)
     generation_config.json   the end-of-text id
     tokenizer.json           the tokenizer for the `tokenizers` library
     tokenizer_config.json    which class wraps it in transformers
     README.md                a model card: config, training, final loss
   SAFETENSORS: u64 N (little-endian), then N bytes of JSON (padded with
   spaces to a multiple of 8), then the data block. The JSON maps each name to
   {"dtype": "F32" or "F16", "shape": [...], "data_offsets": [begin, end]}
   (bytes from the start of the data block), plus "__metadata__". Shapes are
   PyTorch's (outermost first): our (out, in) matrices as they are. HF Llama
   uses rotate-half RoPE like us: no permutation. The names:
       model.embed_tokens.weight, model.norm.weight, lm_head.weight (untied)
       model.layers.N.input_layernorm.weight, .post_attention_layernorm.weight
       model.layers.N.self_attn.{q,k,v,o}_proj.weight
       dense:  model.layers.N.mlp.{gate,up,down}_proj.weight
       MoE:    model.layers.N.block_sparse_moe.gate.weight (the router)
               model.layers.N.block_sparse_moe.experts.M.{w1,w3,w2}.weight
               (w1 gate, w3 up, w2 down: Mixtral's names)
   ======================================================================== */

static int ex_hf_tensors(ex_tensors *ts, const ut_model *m, int type) {
    const ut_config *c = &m->cfg;
    int L = c->n_layers, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads, HD = c->head_dim;
    int F = c->ffn_hidden, E = c->n_experts, V = c->vocab_size;
    memset(ts, 0, sizeof *ts);
    ut_float *const *p = m->p;
    const char *a = "model.layers";
    int r = ex_add(ts, p[UT_TOK_EMB], type, 2, (uint64_t)V, (uint64_t)D, 0, "model.embed_tokens.weight");
    for (int l = 0; l < L && !r; l++) {
        ut_layer w = ut_layer_weights((ut_float **)p, c, l);
        r |= ex_add(ts, w.attn_norm, EX_F32, 1, (uint64_t)D, 0, 0, "%s.%d.input_layernorm.weight", a, l);
        r |= ex_add(ts, w.wq, type, 2, (uint64_t)H * HD, (uint64_t)D, 0, "%s.%d.self_attn.q_proj.weight", a, l);
        r |= ex_add(ts, w.wk, type, 2, (uint64_t)KVH * HD, (uint64_t)D, 0, "%s.%d.self_attn.k_proj.weight", a, l);
        r |= ex_add(ts, w.wv, type, 2, (uint64_t)KVH * HD, (uint64_t)D, 0, "%s.%d.self_attn.v_proj.weight", a, l);
        r |= ex_add(ts, w.wo, type, 2, (uint64_t)D, (uint64_t)H * HD, 0, "%s.%d.self_attn.o_proj.weight", a, l);
        r |= ex_add(ts, w.ffn_norm, EX_F32, 1, (uint64_t)D, 0, 0, "%s.%d.post_attention_layernorm.weight", a, l);
        if (E == 1) {
            r |= ex_add(ts, w.w_gate, type, 2, (uint64_t)F, (uint64_t)D, 0, "%s.%d.mlp.gate_proj.weight", a, l);
            r |= ex_add(ts, w.w_up, type, 2, (uint64_t)F, (uint64_t)D, 0, "%s.%d.mlp.up_proj.weight", a, l);
            r |= ex_add(ts, w.w_down, type, 2, (uint64_t)D, (uint64_t)F, 0, "%s.%d.mlp.down_proj.weight", a, l);
            continue;
        }
        r |= ex_add(ts, w.router, type, 2, (uint64_t)E, (uint64_t)D, 0, "%s.%d.block_sparse_moe.gate.weight", a, l);
        size_t FD = (size_t)F * D;
        for (int e = 0; e < E && !r; e++) {
            const char *x = "block_sparse_moe.experts";
            r |= ex_add(ts, w.w_gate + e * FD, type, 2, (uint64_t)F, (uint64_t)D, 0, "%s.%d.%s.%d.w1.weight", a, l, x, e);
            r |= ex_add(ts, w.w_down + e * FD, type, 2, (uint64_t)D, (uint64_t)F, 0, "%s.%d.%s.%d.w2.weight", a, l, x, e);
            r |= ex_add(ts, w.w_up + e * FD, type, 2, (uint64_t)F, (uint64_t)D, 0, "%s.%d.%s.%d.w3.weight", a, l, x, e);
        }
    }
    if (!r) r = ex_add(ts, p[UT_FINAL_NORM], EX_F32, 1, (uint64_t)D, 0, 0, "model.norm.weight");
    if (!r && !c->tie_embeddings) r = ex_add(ts, p[UT_LM_HEAD], type, 2, (uint64_t)V, (uint64_t)D, 0, "lm_head.weight");
    /* safetensors files hold one dtype per tensor; keep vectors in the asked type too (transformers casts
       the whole model to one dtype anyway) */
    for (int i = 0; i < ts->n; i++) ts->t[i].type = type;
    return r;
}

/* JSON text of a string (quotes, escapes; UTF-8 bytes pass through). */
static void ex_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static int ex_safetensors_write(FILE *f, const ut_model *m, int type) {
    ex_tensors ts;
    if (ex_hf_tensors(&ts, m, type)) { ex_tensors_free(&ts); return -1; }
    /* the JSON header, built in memory to know its length */
    char *json = NULL;
    size_t jlen = 0;
    FILE *j = open_memstream(&json, &jlen);
    if (!j) { ex_tensors_free(&ts); return ex_fail("out of memory"); }
    fprintf(j, "{\"__metadata__\":{\"format\":\"pt\",\"source\":\"ultrathink\"}");
    uint64_t off = 0;
    for (int i = 0; i < ts.n; i++) {
        ex_tensor *t = &ts.t[i];
        uint64_t nb = ex_type_bytes(t->type, ex_numel(t));
        fprintf(j, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, t->type == EX_F16 ? "F16" : "F32");
        for (int d = t->n_dims - 1; d >= 0; d--) fprintf(j, "%llu%s", (unsigned long long)t->ne[d], d ? "," : "");
        fprintf(j, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        t->offset = off;
        off += nb;
    }
    fputc('}', j);
    while (ftell(j) % 8) fputc(' ', j);
    fclose(j);
    int r = (ex_w_u64(f, jlen) && ex_w(f, json, jlen)) ? 0 : ex_fail("write failed: %s", strerror(errno));
    free(json);
    for (int i = 0; !r && i < ts.n; i++) r = ex_write_tensor_data(f, &ts.t[i]);
    ex_tensors_free(&ts);
    return r;
}

/* config.json: the model's real sizes under transformers' names. */
static int ex_config_json(FILE *f, const ut_model *m, const ut_tokenizer *tk, int type) {
    const ut_config *c = &m->cfg;
    int moe = c->n_experts > 1, mistral = !moe && c->sliding_window > 0;
    const char *arch = moe ? "MixtralForCausalLM" : mistral ? "MistralForCausalLM" : "LlamaForCausalLM";
    const char *mt = moe ? "mixtral" : mistral ? "mistral" : "llama";
    fprintf(f, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", arch, mt);
    fprintf(f, "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n", c->vocab_size,
            c->d_model, c->ffn_hidden);
    fprintf(f, "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n",
            c->n_layers, c->n_heads, c->n_kv_heads);
    fprintf(f, "  \"head_dim\": %d,\n  \"max_position_embeddings\": %d,\n", c->head_dim, c->max_seq_len);
    fprintf(f, "  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n  \"rope_scaling\": null,\n", c->norm_eps,
            c->rope_theta);
    fprintf(f, "  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n");
    if (!moe && !mistral) fprintf(f, "  \"mlp_bias\": false,\n");
    if (moe)
        fprintf(f, "  \"num_local_experts\": %d,\n  \"num_experts_per_tok\": %d,\n  \"router_aux_loss_coef\": %.9g,\n"
                "  \"output_router_logits\": false,\n", c->n_experts, c->top_k, c->aux_loss_coef);
    if (moe || mistral) {
        if (c->sliding_window > 0) fprintf(f, "  \"sliding_window\": %d,\n", c->sliding_window);
        else fprintf(f, "  \"sliding_window\": null,\n");
    }
    fprintf(f, "  \"tie_word_embeddings\": %s,\n  \"bos_token_id\": %u,\n  \"eos_token_id\": %u,\n",
            c->tie_embeddings ? "true" : "false", tk->eot_id, tk->eot_id);
    fprintf(f, "  \"initializer_range\": 0.02,\n  \"use_cache\": true,\n  \"torch_dtype\": \"%s\"\n}\n",
            type == EX_F16 ? "float16" : "float32");
    return 0;
}

/* tokenizer.json: a BPE model (vocab: string -> id, merges in rank order),
   ByteLevel pre-tokenizer (GPT-2's regex + the byte map; no prefix space)
   and decoder, the end-of-text token as a special added token. The BPE
   replays merges lowest rank first, as ours. ignore_merges false: a chunk
   that is itself a token is still built by merges (as we do). */
static int ex_tokenizer_json(FILE *f, const ut_tokenizer *tk) {
    ex_vocab v;
    if (ex_vocab_build(&v, tk)) return -1;
    const char *bl = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}";
    fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n");
    fprintf(f, "  \"added_tokens\": [{\"id\": %u, \"content\": \"<|endoftext|>\", \"single_word\": false, "
            "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],\n", tk->eot_id);
    fprintf(f, "  \"normalizer\": null,\n  \"pre_tokenizer\": %s,\n  \"post_processor\": null,\n  \"decoder\": %s,\n", bl, bl);
    fprintf(f, "  \"model\": {\n    \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
            "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
            "\"byte_fallback\": false, \"ignore_merges\": false,\n    \"vocab\": {");
    for (uint32_t id = 0; id < v.n; id++) {
        fputs(id ? ", " : "", f);
        ex_json_str(f, v.str[id]);
        fprintf(f, ": %u", id);
    }
    fprintf(f, "},\n    \"merges\": [");
    int ok = 1;
    for (uint32_t i = 0; i < tk->n_merges && ok; i++) {
        char *s = ex_merge_string(&v, tk, i);
        if (!s) { ok = 0; break; }
        fputs(i ? ", " : "", f);
        ex_json_str(f, s);
        free(s);
    }
    fprintf(f, "]\n  }\n}\n");
    ex_vocab_free(&v);
    return ok ? 0 : ex_fail("out of memory");
}

static int ex_tokenizer_config_json(FILE *f, const ut_model *m) {
    fprintf(f, "{\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"model_max_length\": %d,\n"
            "  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n  \"unk_token\": null,\n"
            "  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n  \"clean_up_tokenization_spaces\": false\n}\n",
            m->cfg.max_seq_len);
    return 0;
}

static int ex_generation_config_json(FILE *f, const ut_tokenizer *tk) {
    fprintf(f, "{\n  \"bos_token_id\": %u,\n  \"eos_token_id\": %u,\n  \"do_sample\": true,\n  \"temperature\": 0.8,\n"
            "  \"top_p\": 0.95\n}\n", tk->eot_id, tk->eot_id);
    return 0;
}

/* What the model card says about training, gathered by the caller. */
typedef struct {
    const char *name;
    const ut_train_config *tc;
    const ut_progress *pr;
    double val_loss, val_bpb;   /* the last evaluation in metrics.jsonl (NaN: none) */
    long val_step;
} ex_card;

static int ex_readme(FILE *f, const ut_model *m, const ut_tokenizer *tk, const ex_card *k) {
    const ut_config *c = &m->cfg;
    const ut_train_config *t = k->tc;
    fprintf(f, "# %s\n\nA %s language model trained from scratch with ultrathink (a single-header C trainer).\n\n",
            k->name, c->n_experts > 1 ? "Mixture-of-Experts" : "dense");
    fprintf(f, "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "model = AutoModelForCausalLM.from_pretrained(\"PATH\")\ntok = AutoTokenizer.from_pretrained(\"PATH\")\n"
            "ids = tok(\"ROMEO:\", return_tensors=\"pt\").input_ids\n"
            "print(tok.decode(model.generate(ids, max_new_tokens=64, do_sample=False)[0]))\n```\n\n");
    fprintf(f, "## Model\n\n| | |\n|---|---|\n| parameters | %zu (%zu active per token) |\n", ut_num_params(c),
            ut_num_active_params(c));
    fprintf(f, "| layers L | %d |\n| d_model D | %d |\n| heads H / KV heads | %d / %d (head_dim %d) |\n",
            c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim);
    fprintf(f, "| ffn hidden F | %d |\n| experts E / top-k | %d / %d |\n| vocabulary | %d (byte-level BPE, "
            "GPT-2 pre-tokenization, <\\|endoftext\\|> = %u) |\n", c->ffn_hidden, c->n_experts, c->top_k,
            c->vocab_size, tk->eot_id);
    fprintf(f, "| context | %d |\n| RoPE theta | %g |\n| RMSNorm eps | %g |\n| tied embeddings | %s |\n"
            "| sliding window | %d |\n\n", c->max_seq_len, c->rope_theta, c->norm_eps,
            c->tie_embeddings ? "yes" : "no", c->sliding_window);
    fprintf(f, "## Training\n\n| | |\n|---|---|\n| steps | %llu of %d |\n| tokens seen | %llu |\n",
            (unsigned long long)k->pr->step, t->total_steps, (unsigned long long)k->pr->tokens_seen);
    fprintf(f, "| batch | %d x %d tokens, %d micro-batches per step |\n| AdamW | lr %g -> %g (warmup %d, cosine), "
            "betas (%g, %g), eps %g, weight decay %g, clip %g |\n| seed | %llu |\n", t->batch_size, t->seq_len,
            t->grad_accum, t->lr, t->min_lr, t->warmup_steps, t->beta1, t->beta2, t->eps, t->weight_decay,
            t->grad_clip, (unsigned long long)t->seed);
    if (!isnan(k->val_loss))
        fprintf(f, "| validation loss | %.4f nats/token (%.4f bits/byte) at step %ld |\n", k->val_loss, k->val_bpb,
                k->val_step);
    else fprintf(f, "| validation loss | not measured |\n");
    fprintf(f, "\nExported by `./train export --format hf`.\n");
    return 0;
}

/* ===========================================================================
   6. WRITING SAFELY
   A file goes to PATH.tmp.PID beside PATH, is flushed to disk and renamed
   over PATH; a folder is filled as PATH.tmp.PID and renamed to PATH. A
   reader sees the old thing or the whole new one, never half; a failure
   removes the temp and leaves PATH as it was.
   ======================================================================== */

typedef int (*ex_writer)(FILE *f, const void *ctx);

/* Writes path through write(f, ctx), atomically. */
static int ex_write_file(const char *path, ex_writer write, const void *ctx) {
    char tmp[4200];
    int len = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (len < 0 || (size_t)len >= sizeof tmp) return ex_fail("cannot write %s: the path is too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return ex_fail("cannot write %s: %s", path, strerror(errno));
    int r = write(f, ctx);
    if (!r && (fflush(f) != 0 || fsync(fileno(f)) != 0)) r = ex_fail("cannot write %s: %s", path, strerror(errno));
    if (fclose(f) != 0 && !r) r = ex_fail("cannot write %s: %s", path, strerror(errno));
    if (!r && rename(tmp, path) != 0) r = ex_fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (r) remove(tmp);
    return r;
}

/* Removes a folder this exporter made (plain files only, one level). */
static void ex_remove_dir(const char *dir, const char *const *files, int n) {
    char p[4400];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
}

/* ===========================================================================
   7. IMPORT: A HUGGING FACE FOLDER BACK INTO A MODEL
   The reverse of section 5, for fine-tuning (`train --init-from-hf DIR`,
   `train import --hf DIR`): config.json gives the ut_config, model.safetensors
   the weights, tokenizer.json the tokenizer. What loads is what section 5
   writes, from any writer: a Llama, Mistral or Mixtral folder with one
   model.safetensors whose tensors are exactly the ones ex_hf_tensors lists
   (the same names and shapes; dtype F32, F16 or BF16, converted to f32), and
   a byte-level BPE tokenizer laid out as ours: ids 0..255 the single bytes in
   byte order, id 256 + i made by merge i, then <|endoftext|>. Hugging Face's
   Llama uses rotate-half RoPE as we do, so Q and K are taken as they are (the
   permutation of section 3 is for GGUF only). Anything else (a bias, RoPE
   scaling, another activation, a sharded checkpoint, a SentencePiece
   vocabulary) is one error line naming it: nothing is guessed.

   The JSON reader below is the least that reads these three files: strings
   (with \uXXXX escapes), numbers, true/false/null, and skipping any value. */

static void ex_js_ws(const char **p) { while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t') (*p)++; }

/* The JSON string at *p as UTF-8 into out[cap] (NUL-terminated); -1 if it
   is not a string or does not fit. */
static int ex_js_str(const char **p, char *out, size_t cap) {
    const char *q = *p;
    size_t k = 0;
    if (*q++ != '"') return -1;
    while (*q && *q != '"') {
        uint32_t cp = (uint8_t)*q++;
        if (cp == '\\') {
            char e = *q++;
            if (e == 'u') {
                unsigned v, lo;
                if (sscanf(q, "%4x", &v) != 1) return -1;
                q += 4;
                if (v >= 0xD800 && v < 0xDC00) {   /* a surrogate pair: two escapes, one code point */
                    if (q[0] != '\\' || q[1] != 'u' || sscanf(q + 2, "%4x", &lo) != 1) return -1;
                    q += 6;
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                }
                cp = v;
            } else cp = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f'
                        : (uint32_t)(uint8_t)e;
            if (k + 5 > cap) return -1;
            if (cp < 0x80) out[k++] = (char)cp;
            else if (cp < 0x800) { out[k++] = (char)(0xC0 | cp >> 6); out[k++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                out[k++] = (char)(0xE0 | cp >> 12); out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[k++] = (char)(0xF0 | cp >> 18); out[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[k++] = (char)(0x80 | (cp & 0x3F));
            }
            continue;
        }
        if (k + 2 > cap) return -1;
        out[k++] = (char)cp;   /* a raw byte (UTF-8 passes through) */
    }
    if (*q != '"') return -1;
    out[k] = 0;
    *p = q + 1;
    return 0;
}

/* Skips one value of any kind at *p; -1 on bad JSON. */
static int ex_js_skip(const char **p) {
    ex_js_ws(p);
    if (**p == '"') {
        const char *q = *p + 1;
        while (*q && *q != '"') q += *q == '\\' && q[1] ? 2 : 1;
        if (!*q) return -1;
        *p = q + 1;
        return 0;
    }
    if (**p == '{' || **p == '[') {
        char close = **p == '{' ? '}' : ']';
        (*p)++;
        ex_js_ws(p);
        if (**p == close) { (*p)++; return 0; }
        for (;;) {
            if (close == '}') {
                if (ex_js_skip(p)) return -1;   /* the key */
                ex_js_ws(p);
                if (*(*p)++ != ':') return -1;
            }
            if (ex_js_skip(p)) return -1;
            ex_js_ws(p);
            if (**p == ',') { (*p)++; continue; }
            if (**p == close) { (*p)++; return 0; }
            return -1;
        }
    }
    const char *q = *p;                          /* a number, true, false or null */
    while (*q && strchr("+-.0123456789eEtrufalsn", *q)) q++;
    if (q == *p) return -1;
    *p = q;
    return 0;
}

/* The value of "key" in a flat JSON object (the first such key in the
   text), or NULL when absent. */
static const char *ex_js_get(const char *text, const char *key) {
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    for (const char *p = strstr(text, pat); p; p = strstr(p + 1, pat)) {
        const char *q = p + strlen(pat);
        ex_js_ws(&q);
        if (*q != ':') continue;
        q++;
        ex_js_ws(&q);
        return q;
    }
    return NULL;
}
static int ex_js_is(const char *v, const char *word) { return v && !strncmp(v, word, strlen(word)); }

/* A whole file as a NUL-terminated string (NULL + ex_err when unreadable). */
static char *ex_read_text(const char *dir, const char *name, size_t *len) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    uint8_t *b = ut__read_file(path, name, &n);   /* its buffer has room for the NUL */
    if (!b) { ex_fail("%s", ut_error()); return NULL; }
    b[n] = 0;
    if (len) *len = n;
    return (char *)b;
}

/* config.json -> c. Reads the keys section 5 writes, with transformers'
   defaults for the optional ones; refuses every setting we cannot compute. */
static int ex_hf_read_config(const char *dir, ut_config *c) {
    char *t = ex_read_text(dir, "config.json", NULL);
    if (!t) return -1;
    const char *a = ex_js_get(t, "architectures");
    char arch[128] = "";
    if (a && *a == '[') { a++; ex_js_ws(&a); if (ex_js_str(&a, arch, sizeof arch)) arch[0] = 0; }
    int moe = !strcmp(arch, "MixtralForCausalLM");
    int r = 0;
    if (strcmp(arch, "LlamaForCausalLM") && strcmp(arch, "MistralForCausalLM") && !moe)
        r = ex_fail("%s/config.json: architecture '%s' cannot be loaded (LlamaForCausalLM, MistralForCausalLM or "
                    "MixtralForCausalLM)", dir, arch);
    const char *act = ex_js_get(t, "hidden_act"), *rs = ex_js_get(t, "rope_scaling");
    if (!r && act && !ex_js_is(act, "\"silu\""))
        r = ex_fail("%s/config.json: hidden_act %.20s is not silu (SwiGLU is the only MLP ultrathink has)", dir, act);
    if (!r && rs && !ex_js_is(rs, "null"))
        r = ex_fail("%s/config.json: rope_scaling is set; ultrathink has plain RoPE only", dir);
    if (!r && (ex_js_is(ex_js_get(t, "attention_bias"), "true") || ex_js_is(ex_js_get(t, "mlp_bias"), "true")))
        r = ex_fail("%s/config.json: the model has biases; ultrathink's linear layers have none", dir);
    /* integer keys: name, where it goes, default (-1: required) */
    struct { const char *key; int *dst; int def; } ints[] = {
        {"vocab_size", &c->vocab_size, -1}, {"hidden_size", &c->d_model, -1},
        {"intermediate_size", &c->ffn_hidden, -1}, {"num_hidden_layers", &c->n_layers, -1},
        {"num_attention_heads", &c->n_heads, -1}, {"num_key_value_heads", &c->n_kv_heads, 0},
        {"head_dim", &c->head_dim, 0}, {"max_position_embeddings", &c->max_seq_len, -1},
        {"num_local_experts", &c->n_experts, moe ? -1 : 1}, {"num_experts_per_tok", &c->top_k, moe ? -1 : 1},
        {"sliding_window", &c->sliding_window, 0}};
    for (size_t i = 0; !r && i < sizeof ints / sizeof ints[0]; i++) {
        const char *v = ex_js_get(t, ints[i].key);
        if (!moe && (!strcmp(ints[i].key, "num_local_experts") || !strcmp(ints[i].key, "num_experts_per_tok"))) v = NULL;
        if (!v || ex_js_is(v, "null")) {
            if (ints[i].def < 0) r = ex_fail("%s/config.json has no %s", dir, ints[i].key);
            *ints[i].dst = ints[i].def;
            continue;
        }
        char *end;
        double x = strtod(v, &end);
        if (end == v || x != floor(x) || x < 0 || x > 1e9) r = ex_fail("%s/config.json: %s is not a count", dir, ints[i].key);
        *ints[i].dst = (int)x;
    }
    if (r) { free(t); return r; }
    if (!c->n_kv_heads) c->n_kv_heads = c->n_heads;                      /* absent: multi-head */
    if (!c->head_dim && c->n_heads) c->head_dim = c->d_model / c->n_heads;
    if (!strcmp(arch, "LlamaForCausalLM")) c->sliding_window = 0;          /* Llama has no window */
    const char *v;
    c->rope_theta = (v = ex_js_get(t, "rope_theta")) && !ex_js_is(v, "null") ? (float)strtod(v, NULL) : 10000.0f;
    c->norm_eps = (v = ex_js_get(t, "rms_norm_eps")) ? (float)strtod(v, NULL) : 1e-6f;
    c->tie_embeddings = ex_js_is(ex_js_get(t, "tie_word_embeddings"), "true");
    if (moe && (v = ex_js_get(t, "router_aux_loss_coef"))) c->aux_loss_coef = (float)strtod(v, NULL);
    free(t);
    if (ut_config_validate(c)) return ex_fail("%s/config.json: %s", dir, ut_error());
    return 0;
}

/* SAFETENSORS, read: the header's entries, then each tensor ex_hf_tensors
   lists copied into the model (converted to f32). */
enum { EX_ST_F32, EX_ST_F16, EX_ST_BF16 };
typedef struct { char name[128]; int dtype, nd, used; uint64_t shape[4], begin, end; } ex_st_entry;

/* One entry's value {"dtype": ..., "shape": [...], "data_offsets": [a, b]} */
static int ex_st_entry_parse(const char **p, ex_st_entry *e) {
    char key[32], dt[16] = "";
    ex_js_ws(p);
    if (*(*p)++ != '{') return -1;
    int have_off = 0;
    e->nd = -1;
    for (;;) {
        ex_js_ws(p);
        if (ex_js_str(p, key, sizeof key)) return -1;
        ex_js_ws(p);
        if (*(*p)++ != ':') return -1;
        ex_js_ws(p);
        if (!strcmp(key, "dtype")) { if (ex_js_str(p, dt, sizeof dt)) return -1; }
        else if (!strcmp(key, "shape") || !strcmp(key, "data_offsets")) {
            uint64_t x[4];
            int n = 0;
            if (*(*p)++ != '[') return -1;
            for (;;) {
                ex_js_ws(p);
                if (**p == ']') { (*p)++; break; }
                char *end;
                unsigned long long u = strtoull(*p, &end, 10);
                if (end == *p || n == 4) return -1;
                x[n++] = u;
                *p = end;
                ex_js_ws(p);
                if (**p == ',') (*p)++;
            }
            if (key[0] == 's') { e->nd = n; memcpy(e->shape, x, sizeof x); }
            else { if (n != 2) return -1; e->begin = x[0]; e->end = x[1]; have_off = 1; }
        } else if (ex_js_skip(p)) return -1;
        ex_js_ws(p);
        if (**p == ',') { (*p)++; continue; }
        if (*(*p)++ != '}') return -1;
        break;
    }
    e->dtype = !strcmp(dt, "F32") ? EX_ST_F32 : !strcmp(dt, "F16") ? EX_ST_F16 : !strcmp(dt, "BF16") ? EX_ST_BF16 : -1;
    if (e->dtype < 0) return ex_fail("tensor %s has dtype '%s'; F32, F16 and BF16 can be loaded", e->name, dt);
    return e->nd < 0 || !have_off ? -1 : 0;
}

/* model.safetensors of dir -> the weights of m (its config already set). */
static int ex_hf_read_weights(const char *dir, ut_model *m) {
    char path[4400];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    struct stat st;
    if (stat(path, &st) == 0)
        return ex_fail("%s: a sharded checkpoint (several .safetensors files) cannot be loaded; save it as one "
                       "model.safetensors", dir);
    size_t len;
    char *f = ex_read_text(dir, "model.safetensors", &len);
    if (!f) return -1;
    uint64_t hl = len >= 8 ? ut_get_u64((const uint8_t *)f) : 0;
    if (len < 8 || hl < 2 || hl > len - 8)
        { free(f); return ex_fail("%s/model.safetensors is not a safetensors file (header length %llu of a %zu-byte "
                                  "file)", dir, (unsigned long long)hl, len); }
    char *h = (char *)malloc(hl + 1);
    if (!h) { free(f); return ex_fail("out of memory"); }
    memcpy(h, f + 8, hl);
    h[hl] = 0;
    const uint8_t *data = (const uint8_t *)f + 8 + hl;
    uint64_t data_len = len - 8 - hl;
    /* the entries */
    ex_st_entry *es = NULL;
    int n = 0, cap = 0, r = 0;
    const char *p = h;
    ex_js_ws(&p);
    if (*p++ != '{') r = -1;
    while (!r) {
        ex_js_ws(&p);
        if (*p == '}') break;
        char name[256];
        if (ex_js_str(&p, name, sizeof name)) { r = -1; break; }
        ex_js_ws(&p);
        if (*p++ != ':') { r = -1; break; }
        if (!strcmp(name, "__metadata__")) r = ex_js_skip(&p);
        else {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                ex_st_entry *b = (ex_st_entry *)realloc(es, (size_t)cap * sizeof *es);
                if (!b) { r = ex_fail("out of memory"); break; }
                es = b;
            }
            ex_st_entry *e = &es[n++];
            memset(e, 0, sizeof *e);
            size_t nl = strlen(name);
            if (nl >= sizeof e->name) r = ex_fail("%s/model.safetensors: unexpected tensor %.100s...", dir, name);
            else { memcpy(e->name, name, nl + 1); r = ex_st_entry_parse(&p, e); }
        }
        ex_js_ws(&p);
        if (*p == ',') p++;
    }
    if (r && !ex_err[0]) ex_fail("%s/model.safetensors: its JSON header is damaged", dir);
    /* each tensor we need: present, the right shape, inside the data block */
    ex_tensors ts;
    if (!r) r = ex_hf_tensors(&ts, m, EX_F32);
    else memset(&ts, 0, sizeof ts);
    for (int i = 0; !r && i < ts.n; i++) {
        const ex_tensor *t = &ts.t[i];
        ex_st_entry *e = NULL;
        for (int j = 0; j < n && !e; j++) if (!strcmp(es[j].name, t->name)) e = &es[j];
        if (!e) { r = ex_fail("%s/model.safetensors has no tensor %s", dir, t->name); break; }
        int same = e->nd == t->n_dims;
        for (int d = 0; same && d < t->n_dims; d++) same = e->shape[d] == t->ne[t->n_dims - 1 - d];
        if (!same) {
            char want[64];
            snprintf(want, sizeof want, t->n_dims == 1 ? "[%llu]" : "[%llu, %llu]", (unsigned long long)t->ne[t->n_dims - 1],
                     (unsigned long long)t->ne[0]);
            r = ex_fail("%s/model.safetensors: %s has shape [%llu%s] of %d dims; config.json makes it %s", dir, t->name,
                        (unsigned long long)e->shape[0], e->nd > 1 ? ", ..." : "", e->nd, want);
            break;
        }
        uint64_t numel = ex_numel(t), esz = e->dtype == EX_ST_F32 ? 4 : 2;
        if (e->end < e->begin || e->end > data_len || e->end - e->begin != numel * esz) {
            r = ex_fail("%s/model.safetensors: %s's data_offsets [%llu, %llu] do not hold %llu numbers inside the "
                        "file's %llu data bytes", dir, t->name, (unsigned long long)e->begin,
                        (unsigned long long)e->end, (unsigned long long)numel, (unsigned long long)data_len);
            break;
        }
        const uint8_t *src = data + e->begin;
        float *dst = (float *)t->data;   /* the list points into m's parameters */
        for (uint64_t k = 0; k < numel; k++) {
            if (e->dtype == EX_ST_F32) dst[k] = ut__bitsf(ut_get_u32(src + 4 * k));
            else {
                uint16_t hv = (uint16_t)(src[2 * k] | src[2 * k + 1] << 8);
                dst[k] = e->dtype == EX_ST_F16 ? ex_f32_from_f16(hv) : ut__bitsf((uint32_t)hv << 16);  /* bf16: the top half of a float */
            }
        }
        e->used = 1;
    }
    /* tied embeddings: a copy of the embedding as lm_head.weight is allowed (some writers save it) */
    for (int j = 0; !r && j < n; j++) {
        if (es[j].used) continue;
        if (m->cfg.tie_embeddings && !strcmp(es[j].name, "lm_head.weight")) continue;
        r = ex_fail("%s/model.safetensors: unexpected tensor %s (ultrathink's model has no such weight)", dir,
                    es[j].name);
    }
    if (!r && ut_model_check_state(m)) r = ex_fail("%s/model.safetensors: %s", dir, ut_error());
    ex_tensors_free(&ts);
    free(es);
    free(h);
    free(f);
    return r;
}

/* TOKENIZER.JSON, read: the vocabulary (string -> id) and the merges
   ("LEFT RIGHT" or ["LEFT", "RIGHT"]) rebuilt as our merge list, then the
   tokenizer built from it (ut_tokenizer_build) and its strings compared,
   id by id, with the file's: the tokenizer we return encodes as the file's. */
typedef struct { const char *s; uint32_t id; } ex_str_id;
static int ex_cmp_str_id(const void *a, const void *b) { return strcmp(((const ex_str_id *)a)->s, ((const ex_str_id *)b)->s); }
static int ex_lookup(const ex_str_id *tab, uint32_t n, const char *s, uint32_t *id) {
    ex_str_id key = {s, 0};
    const ex_str_id *hit = (const ex_str_id *)bsearch(&key, tab, n, sizeof *tab, ex_cmp_str_id);
    if (hit) *id = hit->id;
    return hit ? 0 : -1;
}

static int ex_hf_read_tokenizer(const char *dir, ut_tokenizer *tk) {
    memset(tk, 0, sizeof *tk);
    char *t = ex_read_text(dir, "tokenizer.json", NULL);
    if (!t) return -1;
    const char *model = ex_js_get(t, "model"), *p = model ? ex_js_get(model, "vocab") : NULL;
    const char *type = model ? ex_js_get(model, "type") : NULL;
    if (!p || *p != '{' || !ex_js_is(type, "\"BPE\"")) {
        free(t);
        return ex_fail("%s/tokenizer.json: not a BPE tokenizer with a vocab (ultrathink reads byte-level BPE)", dir);
    }
    /* the vocabulary: every string kept (malloc'd) with its id */
    ex_str_id *tab = NULL;
    char **by_id = NULL;
    uint32_t n = 0, cap = 0, *merges = NULL;
    int r = 0;
    char buf[4096];
    p++;
    for (;;) {
        ex_js_ws(&p);
        if (*p == '}') break;
        if (ex_js_str(&p, buf, sizeof buf)) { r = -1; break; }
        ex_js_ws(&p);
        char *end;
        unsigned long id = *p == ':' ? strtoul(p + 1, &end, 10) : 0;
        if (*p != ':' || end == p + 1 || id > (1u << 25)) { r = -1; break; }
        p = end;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            ex_str_id *b = (ex_str_id *)realloc(tab, cap * sizeof *tab);
            if (!b) { r = ex_fail("out of memory"); break; }
            tab = b;
        }
        if (!(tab[n].s = strdup(buf))) { r = ex_fail("out of memory"); break; }
        tab[n++].id = (uint32_t)id;
        ex_js_ws(&p);
        if (*p == ',') p++;
    }
    if (r && !ex_err[0]) ex_fail("%s/tokenizer.json: its vocab is damaged", dir);
    /* ids 0..n-1, each once */
    if (!r && n < 257) r = ex_fail("%s/tokenizer.json: a vocabulary of %u tokens; a byte-level BPE has at least 257", dir, n);
    if (!r && !(by_id = (char **)calloc(n, sizeof(char *)))) r = ex_fail("out of memory");
    for (uint32_t i = 0; !r && i < n; i++) {
        if (tab[i].id >= n || by_id[tab[i].id])
            r = ex_fail("%s/tokenizer.json: the vocab's ids are not 0..%u, each once (id %u)", dir, n - 1, tab[i].id);
        else by_id[tab[i].id] = (char *)tab[i].s;
    }
    if (!r) qsort(tab, n, sizeof *tab, ex_cmp_str_id);
    /* the merges, as id pairs; merge i must make id 256 + i */
    uint32_t n_merges = n - 257;
    const char *mp = !r ? ex_js_get(p, "merges") : NULL;   /* after the vocab: a token may be "merges" */
    if (!r && (!mp || *mp != '[')) r = ex_fail("%s/tokenizer.json has no merges", dir);
    if (!r && !(merges = (uint32_t *)malloc((2 * (size_t)n_merges + 1) * sizeof(uint32_t)))) r = ex_fail("out of memory");
    uint32_t k = 0;
    if (!r) mp++;
    while (!r) {
        ex_js_ws(&mp);
        if (*mp == ']') { mp++; break; }
        char l[4096], rt[4096];
        if (*mp == '[') {                            /* ["LEFT", "RIGHT"] */
            mp++;
            ex_js_ws(&mp);
            if (ex_js_str(&mp, l, sizeof l)) { r = -1; break; }
            ex_js_ws(&mp);
            if (*mp++ != ',') { r = -1; break; }
            ex_js_ws(&mp);
            if (ex_js_str(&mp, rt, sizeof rt)) { r = -1; break; }
            ex_js_ws(&mp);
            if (*mp++ != ']') { r = -1; break; }
        } else {                                     /* "LEFT RIGHT" */
            if (ex_js_str(&mp, buf, sizeof buf)) { r = -1; break; }
            char *sp = strchr(buf, ' ');
            if (!sp) { r = -1; break; }
            *sp = 0;
            snprintf(l, sizeof l, "%s", buf);
            snprintf(rt, sizeof rt, "%s", sp + 1);
        }
        uint32_t a, b;
        if (k >= n_merges) { r = ex_fail("%s/tokenizer.json: more merges than its vocabulary allows (%u)", dir, n_merges); break; }
        if (ex_lookup(tab, n, l, &a) || ex_lookup(tab, n, rt, &b)) {
            r = ex_fail("%s/tokenizer.json: merge %u ('%s' '%s') uses a string not in the vocab", dir, k, l, rt);
            break;
        }
        merges[2 * k] = a; merges[2 * k + 1] = b;
        k++;
        ex_js_ws(&mp);
        if (*mp == ',') mp++;
    }
    if (r && !ex_err[0]) ex_fail("%s/tokenizer.json: its merges are damaged", dir);
    if (!r && k != n_merges)
        r = ex_fail("%s/tokenizer.json: %u merges for %u tokens; ultrathink's layout needs 256 bytes + one token per "
                    "merge + <|endoftext|> (%u merges)", dir, k, n, n_merges);
    if (!r && ut_tokenizer_build(tk, merges, n_merges)) r = ex_fail("%s/tokenizer.json: %s", dir, ut_error());
    /* the built tokenizer's strings must be the file's, id by id */
    ex_vocab v;
    memset(&v, 0, sizeof v);
    if (!r && ex_vocab_build(&v, tk)) r = -1;
    for (uint32_t id = 0; !r && id < n; id++)
        if (strcmp(v.str[id], by_id[id]))
            r = ex_fail("%s/tokenizer.json: token %u is '%s' where ultrathink's byte-level layout has '%s' (not a "
                        "vocabulary ultrathink can encode with)", dir, id, by_id[id], v.str[id]);
    ex_vocab_free(&v);
    for (uint32_t i = 0; i < n; i++) free((char *)tab[i].s);
    free(tab); free(by_id); free(merges); free(t);
    if (r) ut_tokenizer_free(tk);
    return r;
}

/* The whole folder: m (allocated here) and tk. Checks that the tokenizer's
   vocabulary is the model's. */
static int ex_hf_import(const char *dir, ut_model *m, ut_tokenizer *tk) {
    ut_config c = ut_config_default();
    memset(m, 0, sizeof *m);
    memset(tk, 0, sizeof *tk);
    ex_err[0] = 0;
    if (ex_hf_read_config(dir, &c)) return -1;
    if (ex_hf_read_tokenizer(dir, tk)) return -1;
    if ((int)tk->vocab_size != c.vocab_size) {
        ex_fail("%s: tokenizer.json has %u tokens but config.json's vocab_size is %d", dir, tk->vocab_size, c.vocab_size);
        ut_tokenizer_free(tk);
        return -1;
    }
    if (ut_model_init(m, &c, 0)) { ut_tokenizer_free(tk); return ex_fail("%s", ut_error()); }
    if (ex_hf_read_weights(dir, m)) { ut_model_free(m); ut_tokenizer_free(tk); return -1; }
    return 0;
}

#endif /* ULTRATHINK_EXPORT_H */
