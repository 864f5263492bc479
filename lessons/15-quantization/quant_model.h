/* lessons/15-quantization/quant_model.h — applies YOUR quantize / dequantize /
   pack_int4 / unpack_int4 (included before this file) to a whole ut_model,
   and evaluates it. Used by check.c (a tiny random model) and by
   quantize_model.c (a trained checkpoint, LONG=1).

   Which numbers are quantized: every MATRIX of the model (section 3's
   tensors): the token embedding, W_q, W_k, W_v, W_o, the router, the expert
   matrices W_gate, W_up, W_down and the LM head. The RMSNorm weights (one
   vector of D per norm, 0.1% of the model) stay in float. A header tensor
   stacks L (or L*E) matrices of (rows, cols), each row-major with rows of
   `cols` contiguous numbers (cols is the layer's input size: y = x W^T), so
   the three schemes are one call each with a different group:
       per tensor: group = rows * cols   (one scale per matrix)
       per row:    group = cols          (one scale per output row)
       per group:  group = G             (one scale per G numbers of a row)
   "Weight-only" means the activations stay in float: here the model runs with
   w <- dequantize(quantize(w)) (int4 goes through pack_int4 / unpack_int4, as
   it would be stored), exactly the numbers a kernel that dequantizes on the
   fly would multiply. The memory column counts the stored form: 1 byte (int8)
   or half a byte (int4) per number, plus a float32 scale per group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { QM_PER_TENSOR, QM_PER_ROW, QM_PER_GROUP };

/* The matrices of tensor t: how many (count) and their row length (cols);
   returns 0 for the norms (not quantized) and for empty tensors. */
static int qm_matrices(const ut_model *m, int t, size_t *count, size_t *cols) {
    const ut_config *c = &m->cfg;
    size_t L = (size_t)c->n_layers, E = (size_t)c->n_experts, D = (size_t)c->d_model;
    if (m->sizes[t] == 0 || t == UT_ATTN_NORM || t == UT_FFN_NORM || t == UT_FINAL_NORM) return 0;
    switch (t) {
    case UT_TOK_EMB: case UT_LM_HEAD: *count = 1; *cols = D; break;
    case UT_WQ: case UT_WK: case UT_WV: case UT_ROUTER: *count = L; *cols = D; break;
    case UT_WO: *count = L; *cols = (size_t)c->n_heads * c->head_dim; break;
    case UT_W_GATE: case UT_W_UP: *count = L * E; *cols = D; break;
    case UT_W_DOWN: *count = L * E; *cols = (size_t)c->ffn_hidden; break;
    default: return 0;
    }
    return 1;
}

/* Replaces every matrix of m by dequantize(quantize(matrix)) with `bits` and
   the scheme `kind` (G: the group size of QM_PER_GROUP). Returns the bytes the
   quantized model takes (matrices as stored + norms in float32), or 0 if G
   does not divide a row. *n_quant: how many numbers were quantized. */
static size_t qm_quantize_model(ut_model *m, int bits, int kind, size_t G, size_t *n_quant) {
    size_t bytes = 0, nq = 0;
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        size_t count, cols, n = m->sizes[t];
        if (!qm_matrices(m, t, &count, &cols)) { bytes += 4 * n; continue; }
        size_t group = kind == QM_PER_TENSOR ? n / count : kind == QM_PER_ROW ? cols : G;
        if (group == 0 || (kind == QM_PER_GROUP && cols % group != 0)) return 0;
        int8_t *q = malloc(n), *q2 = malloc(n);
        uint8_t *packed = malloc((n + 1) / 2);
        float *scales = malloc(n / group * sizeof *scales);
        if (!q || !q2 || !packed || !scales) { fprintf(stderr, "out of memory\n"); exit(1); }
        memset(q, 0, n); memset(scales, 0, n / group * sizeof *scales);
        quantize(q, scales, m->p[t], n, group, bits);
        if (bits == 4) {                       /* through the stored form */
            memset(q2, 0, n);
            pack_int4(packed, q, n);
            unpack_int4(q2, packed, n);
            memset(m->p[t], 0, n * sizeof(ut_float));
            dequantize(m->p[t], q2, scales, n, group);
            bytes += (n + 1) / 2;
        } else {
            memset(m->p[t], 0, n * sizeof(ut_float));
            dequantize(m->p[t], q, scales, n, group);
            bytes += n;
        }
        bytes += 4 * (n / group);
        nq += n;
        free(q); free(q2); free(packed); free(scales);
    }
    if (n_quant) *n_quant = nq;
    return bytes;
}

/* Mean cross-entropy (nats/token) over `batches` batches of consecutive
   windows (ut_batch_sequential, as train.c evaluates); batches = 0: all of d. */
static double qm_eval(ut_model *m, const ut_tokens *d, int B, int T, int batches) {
    int all = (int)((d->n_tokens - 1) / (uint64_t)T / (uint64_t)B);
    if (all < 1) all = 1;
    if (batches <= 0 || batches > all) batches = all;
    int *in = malloc((size_t)B * T * sizeof *in), *tgt = malloc((size_t)B * T * sizeof *tgt);
    if (!in || !tgt) { fprintf(stderr, "out of memory\n"); exit(1); }
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        ut_batch_sequential(d, (uint64_t)i * all / batches, B, T, in, tgt);
        double loss = ut_model_forward(m, in, tgt, B, T);
        if (loss < 0) { fprintf(stderr, "%s\n", ut_error()); exit(1); }
        sum += loss;
    }
    free(in); free(tgt);
    return sum / batches;
}
