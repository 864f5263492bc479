/* ultrathink.h — a modern transformer trainer in one C header.

   Llama/Mixtral architecture: grouped-query attention, RoPE, SwiGLU, RMSNorm and
   Mixture-of-Experts, every forward and every backward pass written by hand, next
   to each other, with the math and the tensor shapes in comments.

   USING IT (stb style)
       #define ULTRATHINK_IMPLEMENTATION      // in exactly ONE .c file
       #include "ultrathink.h"
   Every other file just includes it. Compile with -O3 -march=native -fopenmp -lm
   (OpenMP is optional: without -fopenmp everything runs on one thread).

   COMPILE-TIME OPTIONS (#define before the include)
       UT_DOUBLE      the scalar type ut_float becomes double (gradient checks)
       UT_NO_FAST_MATMUL  the linear layers and experts use the plain
                          triple-loop matmul of section 4 (attention keeps
                          its fast version of appendix A)

   A TRAINING STEP, the whole API in use (train.c is the full program):
       ut_config c = ut_config_default();          // then set sizes, c.vocab_size...
       ut_train_config t = ut_train_config_default();
       ut_model m;  ut_model_init(&m, &c, t.seed);
       ut_tokens d; ut_tokens_load(&d, "data/x.train.bin");
       uint64_t rng = ut_rng_seed(t.seed);
       for (int step = 0; step < t.total_steps; step++) {
           ut_batch_random(&d, &rng, B, T, inputs, targets);   // int[B*T] each
           ut_model_zero_grad(&m);
           double loss = ut_model_forward(&m, inputs, targets, B, T);
           ut_model_backward(&m, 1.0f);
           ut_adamw_step(&m, &t, ut_lr_at(&t, step), step + 1);
       }
   Same seed and data give bit-identical losses on every run and for any
   number of threads: no reduction depends on how work is split.

   THE LIBRARY NEVER EXITS. Functions that can fail return 0 on success and -1 on
   error; ut_error() then holds a one-line message. The programs (train.c,
   tokenizer.c) decide what to print and when to exit.

   NAMES AND SIZES used in every comment
       B batch, T sequence length, N = B*T rows, D d_model, H query heads,
       KVH key/value heads, HD head_dim, F ffn hidden size, E experts,
       K experts per token (top-k), V vocabulary, L layers.
   Matrices follow PyTorch's nn.Linear convention: a weight is (out, in) and a
   linear layer computes y = x W^T.

   CONTENTS (sections appear in this order, following the data)
     1. utilities: errors, random numbers, little-endian bytes
     2. config: sizes, defaults, validation
     3. memory: the parameter layout (one buffer per kind of state), each
        layer's tensors by name, the activations
     4. matmul: the plain loops, and the calls the layers use
     5. layers, forward + backward side by side:
          embedding, RMSNorm, RoPE, attention (GQA, causal, sliding window),
          SwiGLU, Mixture-of-Experts (router, top-k, aux loss, z-loss),
          LoRA's low-rank update beside a frozen linear layer,
          softmax cross-entropy
     6. model: init, forward, backward (with or without a LoRA adapter)
     7. optimizer: gradient norm + clipping, AdamW, learning-rate schedule
     8. checkpoint: the file format, atomic save, validated load;
        8b. LoRA adapters: state, AdamW step, merge, the adapter file
     9. data: token files and batches
    10. tokenizer files (decoding ids back to text, encoding prompts)
    11. inference: KV cache and sampling; 11b. weight-only int8/int4
        quantization and the quantized linear layer (QLoRA's frozen base,
        int8/int4 inference: ut_model_quantize)
     A. appendix: how the matrix products are made fast (packing, the
        register-tiled micro-kernel, cache blocking, grouped products for
        the experts, attention tiled with an online softmax). Sections 1-11 say WHAT is
        computed, with plain calls; the appendix says HOW it is made fast,
        as a tutorial of its own. Read it last.
*/
#ifndef ULTRATHINK_H
#define ULTRATHINK_H

/* fsync/fileno are POSIX, not C11: ask for them before any system header. This
   works when ultrathink.h is the first include of the implementing .c file. */
#if defined(ULTRATHINK_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef UT_DOUBLE
typedef double ut_float;
#else
typedef float ut_float;
#endif

/* ---------------------------------------------------------------------------
   The model's shape. Stored in every checkpoint; ut_config_validate() checks it.
   ------------------------------------------------------------------------- */
typedef struct {
    int vocab_size;      /* V */
    int max_seq_len;     /* longest T the model is used with (RoPE table, KV cache) */
    int n_layers;        /* L */
    int d_model;         /* D */
    int n_heads;         /* H query heads */
    int n_kv_heads;      /* KVH key/value heads; H % KVH == 0 (KVH == H: plain multi-head) */
    int head_dim;        /* HD, even (RoPE rotates pairs) */
    int ffn_hidden;      /* F, hidden size of each SwiGLU MLP (of each expert) */
    int n_experts;       /* E; 1 = a dense SwiGLU MLP, no router */
    int top_k;           /* K experts per token, 1 <= K <= E */
    int tie_embeddings;  /* 1: the LM head reuses the token embedding matrix */
    int sliding_window;  /* 0: full causal attention; W > 0: attend to the last W positions */
    float rope_theta;    /* RoPE base, 10000 in Llama 2 */
    float norm_eps;      /* RMSNorm epsilon */
    float aux_loss_coef; /* weight of the load-balancing loss (MoE only) */
    float z_loss_coef;   /* weight of the router z-loss (MoE only) */
} ut_config;

/* The optimisation settings, also stored in the checkpoint so that --resume
   continues exactly the run that was started. */
typedef struct {
    int batch_size;      /* B sequences per micro-batch */
    int seq_len;         /* T */
    int grad_accum;      /* micro-batches per optimizer step */
    int total_steps;     /* optimizer steps in the run */
    int warmup_steps;    /* linear warmup from 0 to lr */
    float lr, min_lr;    /* peak and final learning rate (cosine decay between) */
    float beta1, beta2, eps, weight_decay, grad_clip; /* AdamW; grad_clip 0 = off */
    uint64_t seed;       /* weights init and data order */
    int decay_steps;     /* the cosine reaches min_lr at this step; 0 = total_steps.
                            A run extended past it (--resume --steps N) goes on
                            at min_lr: a constant tail. */
} ut_train_config;

ut_config       ut_config_default(void);
ut_train_config ut_train_config_default(void);
int  ut_config_validate(const ut_config *c);          /* 0 ok, -1 + ut_error() */
const char *ut_error(void);                           /* the last error message */

/* Parameter tensors, in the order they lie in the parameter buffer. Each one
   holds all layers: e.g. WQ is (L, H*HD, D). Expert tensors have an E axis. */
enum {
    UT_TOK_EMB,     /* (V, D)                      */
    UT_ATTN_NORM,   /* (L, D)                      */
    UT_WQ,          /* (L, H*HD, D)                */
    UT_WK,          /* (L, KVH*HD, D)              */
    UT_WV,          /* (L, KVH*HD, D)              */
    UT_WO,          /* (L, D, H*HD)                */
    UT_FFN_NORM,    /* (L, D)                      */
    UT_ROUTER,      /* (L, E, D)    empty if E == 1 */
    UT_W_GATE,      /* (L, E, F, D)                */
    UT_W_UP,        /* (L, E, F, D)                */
    UT_W_DOWN,      /* (L, E, D, F)                */
    UT_FINAL_NORM,  /* (D)                         */
    UT_LM_HEAD,     /* (V, D)       empty if tied  */
    UT_NUM_TENSORS
};
extern const char *const ut_tensor_names[UT_NUM_TENSORS];

void   ut_param_sizes(const ut_config *c, size_t sizes[UT_NUM_TENSORS]);
size_t ut_num_params(const ut_config *c);
size_t ut_num_active_params(const ut_config *c);   /* used per token: K of E experts */
double ut_flops_per_token(const ut_config *c, int T); /* training: 6*active + attention */

/* Bytes needed to train with micro-batch (B, T); recompute: with activation
   checkpointing (ut_model.recompute, section 6). The activations include
   their gradients and the scratch of attention and the MLP. */
typedef struct { size_t params, grads, optimizer, activations, total; } ut_memory;
ut_memory ut_memory_estimate(const ut_config *c, int B, int T, int recompute);

/* One MoE layer's routing and expert activations (section 5): N tokens make
   N*K "slots" (token, choice), sorted by expert. */
typedef struct {
    ut_float *probs;      /* (N, E) router softmax */
    ut_float *lse;        /* (N) logsumexp of the router logits (z-loss) */
    ut_float *topk_w;     /* (N, K) renormalised weights of the chosen experts */
    int *topk_e;          /* (N, K) which experts were chosen */
    int *slot_of;         /* (N, K) the slot of token n's k-th choice */
    int *slot_token;      /* (N*K) the token each slot came from */
    int *off;             /* (E+1) expert e owns slots [off[e], off[e+1]) */
    int *count;           /* (E) slots routed to each expert */
    ut_float *x;          /* (N*K, D) each slot's input row */
    ut_float *gate, *up, *h; /* (N*K, F) each slot's SwiGLU */
    ut_float *out;        /* (N*K, D) each slot's expert output */
} ut_moe_state;

/* Activations saved by the forward pass for the backward pass (see section 6). */
typedef struct {
    ut_float *resid;      /* (L+1, N, D) input of each layer; resid[L] feeds the final norm */
    ut_float *attn_rstd;  /* (L, N)      1/rms of each row at the attention norm */
    ut_float *attn_xn;    /* (L, N, D)   normalised input of attention */
    ut_float *q;          /* (L, N, H*HD)   queries after RoPE */
    ut_float *k;          /* (L, N, KVH*HD) keys after RoPE */
    ut_float *v;          /* (L, N, KVH*HD) values */
    ut_float *attn_lse;   /* (L, B, H, T)   log-sum-exp of each attention row (A.7) */
    ut_float *attn_y;     /* (L, N, H*HD)   attention output before W_o */
    ut_float *resid_mid;  /* (L, N, D)   residual after attention */
    ut_float *ffn_rstd;   /* (L, N) */
    ut_float *ffn_xn;     /* (L, N, D) */
    /* MoE routing (E > 1 only). A "slot" is one (token, choice) pair: N*K slots,
       ordered by expert so that each expert's rows are contiguous. */
    ut_float *router_probs;  /* (L, N, E) softmax of the router logits */
    ut_float *router_lse;    /* (L, N) logsumexp of the router logits (z-loss) */
    ut_float *topk_w;        /* (L, N, K) renormalised weights of the chosen experts */
    int      *topk_e;        /* (L, N, K) which experts were chosen */
    int      *slot_of;       /* (L, N, K) the slot of token n's k-th choice */
    int      *slot_token;    /* (L, N*K)  the token each slot came from */
    int      *expert_off;    /* (L, E+1)  expert e owns slots [off[e], off[e+1]) */
    ut_float *ffn_x;         /* (L, N*K, D) each slot's input row (gathered xn) */
    ut_float *ffn_gate;      /* (L, N*K, F) pre-activation of the gate */
    ut_float *ffn_up;        /* (L, N*K, F) */
    ut_float *ffn_h;         /* (L, N*K, F) silu(gate) * up; MoE only (the dense
                                MLP recomputes h in its backward) */
    ut_float *ffn_out;       /* (L, N*K, D) each slot's expert output */
    ut_float *final_rstd;    /* (N) */
    ut_float *final_xn;      /* (N, D) */
    ut_float *probs;         /* (N, V) softmax of the logits */
} ut_acts;

/* Gradients of the activations, used by the backward pass. Each layer's
   backward reuses them (nothing here survives a step); they and the
   activations are one allocation. */
typedef struct {
    ut_float *dresid;     /* (N, D) dL/dx of the residual stream */
    ut_float *dxn;        /* (N, D) gradient of a normalised input */
    ut_float *dq, *dy;    /* (N, H*HD) of the queries, of the attention output */
    ut_float *dk, *dv;    /* (N, KVH*HD) */
    ut_float *dlogits;    /* (N, V) */
    ut_float *ffn;        /* the MLP's (2 N F) or the experts' (ut_moe_scratch_floats) */
    ut_float *attn;       /* attention's own (ut_attention_scratch_floats), also forward */
    /* These are never needed at the same time, so they share one buffer (the
       largest of them): dlogits (only at the start of the backward), the
       MLP's scratch (during the MLP's backward; in the forward, the dense
       MLP's h), and dq, dy, dk, dv followed by attention's scratch. */
} ut_grad_acts;

/* One layer's parameters by name, pointing into the parameter buffer (or, the
   same layout, into the gradients): ut_layer_weights(m->p, c, l). */
typedef struct {
    ut_float *attn_norm;      /* (D) */
    ut_float *wq;             /* (H*HD, D) */
    ut_float *wk, *wv;        /* (KVH*HD, D) */
    ut_float *wo;             /* (D, H*HD) */
    ut_float *ffn_norm;       /* (D) */
    ut_float *router;         /* (E, D); unused when E == 1 */
    ut_float *w_gate, *w_up;  /* (E, F, D) */
    ut_float *w_down;         /* (E, D, F) */
} ut_layer;
ut_layer ut_layer_weights(ut_float *const tensors[UT_NUM_TENSORS], const ut_config *c, int l);

/* One layer's activations by name (pointers into ut_acts for layer l, or,
   with N = 1, into the KV cache when generating). N = B*T rows. */
typedef struct {
    ut_float *x;              /* (N, D) the layer's input, the residual stream */
    ut_float *attn_rstd;      /* (N) */
    ut_float *attn_xn;        /* (N, D) rmsnorm(x) */
    ut_float *q;              /* (N, H*HD) queries after RoPE */
    ut_float *k, *v;          /* (N, KVH*HD) keys after RoPE, values */
    ut_float *lse;            /* (B, H, T) log-sum-exp of each attention row */
    ut_float *attn_y;         /* (N, H*HD) attention output, before W_o */
    ut_float *mid;            /* (N, D) x + attention */
    ut_float *ffn_rstd;       /* (N) */
    ut_float *ffn_xn;         /* (N, D) rmsnorm(mid) */
    ut_float *gate, *up, *h;  /* (N, F) the SwiGLU MLP (E == 1); h only lives until
                                 the forward's W_down product (the backward
                                 recomputes it from gate and up) */
    ut_moe_state moe;         /* the experts (E > 1) */
    ut_float *out;            /* (N, D) mid + MLP: the next layer's x */
} ut_layer_acts;

/* Weight-only quantization (section 11b; inference, and QLoRA's frozen base): a matrix (rows,
   cols) as small integers, one float scale per group of `group` numbers
   along a row. */
typedef struct {
    int bits;           /* 8: q in [-127, 127]; 4: q in [-7, 7], two per byte */
    int group;          /* numbers per scale (the last group of a row may be shorter) */
    int rows, cols, groups_per_row;
    uint8_t *q;         /* int8: rows*cols bytes; int4: rows*ceil(cols/2) bytes */
    float *scale;       /* (rows, groups_per_row) */
} ut_qmatrix;

/* LoRA (low-rank adaptation, Hu et al. 2021; section 8b): the base weights
   stay frozen and each adapted matrix W (OC, C) gets a trainable pair
   A (r, C), B (OC, r):  y = x W^T + (alpha / r) (x A^T) B^T.  A starts small
   and random, B at zero, so an untrained adapter changes nothing. Targets
   are the attention projections q, k, v, o of every layer and, in a dense
   model (E = 1), the MLP's gate, up and down; the experts and the router of
   a MoE layer, the embedding, the norms and the LM head are never adapted. */
enum { UT_LORA_Q, UT_LORA_K, UT_LORA_V, UT_LORA_O, UT_LORA_GATE, UT_LORA_UP, UT_LORA_DOWN, UT_LORA_NT };
extern const char *const ut_lora_target_names[UT_LORA_NT];   /* "q", "k", ... */
typedef struct {
    int rank;                  /* r */
    float alpha;               /* the update is scaled by alpha / r */
    unsigned targets;          /* bit t set: target t is adapted in every layer */
    int n_layers, in[UT_LORA_NT], out[UT_LORA_NT];   /* L; C and OC of each target */
    size_t n_params;
    ut_float *params, *grads;  /* one buffer each, layer by layer, target by
                                  target: A (r, C) then B (OC, r) */
    ut_float *adam_m, *adam_v; /* AdamW moments, same layout */
    /* saved by the forward for the backward, for N = B*T rows */
    int N;
    ut_float *xa;              /* (L, UT_LORA_NT, N, r) x A^T of each adapted product */
    ut_float *work;            /* (N, max OC + 2 r) scratch */
    /* QLoRA: the base this adapter trains against. 0: the f32 base; 8 or 4:
       the base's block matrices quantized (ut_model_quantize, UT_QBASE) with
       base_group numbers per scale. Saved in the adapter file, so that a
       resumed run quantizes its base the same way. */
    int base_bits, base_group;
} ut_lora;
int   ut_lora_init(ut_lora *lo, const ut_config *c, int rank, float alpha, unsigned targets, uint64_t seed);
void  ut_lora_free(ut_lora *lo);
ut_float *ut_lora_a(const ut_lora *lo, ut_float *buf, int l, int t);   /* A of layer l, target t in buf (params, grads, ...) */
ut_float *ut_lora_b(const ut_lora *lo, ut_float *buf, int l, int t);   /* B, right after A */
/* one adapted product, forward (out += s (x A^T) B^T, xa = x A^T) and backward */
void ut_lora_forward(ut_float *out, ut_float *xa, const ut_float *x, const ut_float *A, const ut_float *B,
                     ut_float s, int N, int C, int OC, int r, ut_float *scratch);
void ut_lora_backward(ut_float *dx, ut_float *dA, ut_float *dB, const ut_float *dout, const ut_float *x,
                      const ut_float *xa, const ut_float *A, const ut_float *B, ut_float s, int N, int C, int OC,
                      int r, ut_float *scratch);

typedef struct {
    ut_config cfg;
    size_t sizes[UT_NUM_TENSORS], n_params;
    ut_float *params, *grads;          /* one buffer each, same layout */
    ut_float *adam_m, *adam_v;         /* AdamW moments, same layout */
    ut_float *p[UT_NUM_TENSORS], *g[UT_NUM_TENSORS];  /* tensor pointers into them */
    ut_float *rope_cos, *rope_sin;     /* (max_seq_len, HD/2) */
    /* activation checkpointing: 0 = keep every layer's activations for the
       backward pass; 1 = keep only each layer's input (resid) and recompute
       the layer during the backward pass (one more forward per step, about
       1/3 more time; activations of one layer instead of L). Set it before
       ut_model_forward; the results are bit-identical either way. */
    int recompute;
    /* activations for the current (B, T), and their gradients */
    int B, T, acts_recompute;
    ut_acts a;
    ut_grad_acts d;
    void *acts_mem;                    /* the one allocation a and d point into */
    int *inputs, *targets;             /* (N) copies of the last batch */
    /* results of the last forward pass */
    double loss;       /* cross-entropy, mean over targets (nats/token) */
    double aux_loss;   /* load-balancing loss, mean over layers (1.0 when balanced) */
    double z_loss;     /* router z-loss, mean over layers */
    int *expert_count; /* (L, E) tokens routed to each expert in the last forward */
    /* LoRA: NULL for ordinary training. Set, the forward adds the adapter's
       products (kv == NULL only: generation runs on merged weights,
       ut_lora_merge) and the backward computes the adapter's gradients and
       the input gradients only: no gradient of a frozen base weight is ever
       computed (m->grads stays zero). Not owned by the model. */
    ut_lora *lora;
    /* A quantized model (ut_model_quantize; qbits 0: none). The tensors in
       qtensors are held as int8/int4 in qw[t] -- the tensor of all layers as
       one (rows, C) matrix, e.g. W_q as (L*H*HD, D) -- and their f32 copies
       are gone (p[t] == NULL). qscratch: the f32 of one matrix at a time
       (the largest; a MoE layer's experts: all of them), see section 11b. */
    int qbits, qgroup;
    unsigned qtensors;
    ut_qmatrix qw[UT_NUM_TENSORS];
    ut_float *qscratch;
    size_t qscratch_n;       /* its numbers */
} ut_model;

int  ut_model_init(ut_model *m, const ut_config *c, uint64_t seed);  /* alloc + random init */
void ut_model_free(ut_model *m);
/* Frees the gradients and AdamW moments of a model that will not be trained
   itself (the frozen base of a LoRA run): 3/4 of its parameter memory. It can
   then run forward, and backward with an adapter (m->lora), nothing else. */
void ut_model_freeze(ut_model *m);
/* Quantizes the tensors named by the bits of `tensors` (1u << UT_WQ, ...) to
   `bits` (8 or 4) with one scale per `group` numbers of a row and frees
   their f32 copies; freezes the model (ut_model_freeze). Afterwards the
   model runs forward, ut_kv_step, and backward with an adapter (QLoRA),
   every product of a quantized matrix computed from its integers (section
   11b); it cannot be saved, merged into or trained itself. UT_QBASE: the
   block matrices (QLoRA's choice: the embedding and LM head stay f32);
   UT_QALL: also the embedding and the LM head (--dtype of sample, eval). */
#define UT_QBASE ((1u << UT_WQ) | (1u << UT_WK) | (1u << UT_WV) | (1u << UT_WO) | \
                  (1u << UT_W_GATE) | (1u << UT_W_UP) | (1u << UT_W_DOWN))
#define UT_QALL (UT_QBASE | (1u << UT_TOK_EMB) | (1u << UT_LM_HEAD))
int ut_model_quantize(ut_model *m, int bits, int group, unsigned tensors);
/* Forward pass over inputs (B,T). targets may be NULL (then loss = 0 and only
   the probabilities are computed). Returns the cross-entropy, or -1 with
   ut_error() set if B/T/tokens are out of range. */
double ut_model_forward(ut_model *m, const int *inputs, const int *targets, int B, int T);
void  ut_model_zero_grad(ut_model *m);
/* Backward of  scale * (CE + aux_coef * aux + z_coef * z)  from the last forward;
   gradients are ADDED to m->grads (scale = 1/grad_accum for accumulation). */
void  ut_model_backward(ut_model *m, float scale);

double ut_grad_norm(const ut_model *m);               /* global L2 norm of all grads */
float  ut_lr_at(const ut_train_config *t, int step);   /* schedule, step counts from 0 */
/* One AdamW step (t = 1, 2, ... for bias correction) with global-norm clipping;
   returns the gradient norm before clipping. */
double ut_adamw_step(ut_model *m, const ut_train_config *t, float lr, int step_t);
/* The two halves of ut_adamw_step, for a trainer that owns only a slice of the
   flat buffers (ZeRO-1, train.c): the sums of squares of x[0..n) in chunks of
   UT_NORM_CHUNK (part[n/UT_NORM_CHUNK rounded up]); and the update of the
   parameters [lo, hi) of the flat buffer, with moments mm, vv holding
   entries lo..hi-1 (mm[0] is entry lo) and the clip factor already chosen. */
#define UT_NORM_CHUNK ((size_t)1 << 14)
void   ut_sum_squares_chunks(const ut_float *x, size_t n, double *part);
void   ut_adamw_update(ut_model *m, const ut_train_config *t, float lr, int step_t, ut_float clip,
                       size_t lo, size_t hi, ut_float *mm, ut_float *vv);

/* Checkpoint (section 8 documents the format). */
typedef struct {
    uint64_t step;         /* optimizer steps done */
    uint64_t data_rng;     /* the data loader's random state */
    uint64_t tokens_seen;
} ut_progress;
int ut_checkpoint_save(const char *path, const ut_model *m, const ut_train_config *t,
                       const ut_progress *pr);
/* Loads into a fresh model (ut_model_init is called inside). Refuses a file
   whose settings are out of range or whose numbers are not finite; saving
   refuses the same things, so every saved checkpoint can be loaded. */
int ut_checkpoint_load(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr);
/* The same for a model that will not be trained (sampling, evaluation, an
   export, the frozen base of a LoRA run): the AdamW moments are read, summed
   into the checksum and checked, a piece at a time, but not kept, so the
   load holds 4 bytes per weight instead of 12. The model comes back frozen
   (ut_model_freeze). */
int ut_checkpoint_load_frozen(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr);
/* 0 when every weight and AdamW moment is finite and no second moment is
   negative; else -1, with ut_error() naming the first bad number. */
int ut_model_check_state(const ut_model *m);

/* LoRA's training step, the merge and the adapter file (section 8b). */
double ut_lora_grad_norm(const ut_lora *lo);
double ut_lora_adamw_step(ut_lora *lo, const ut_train_config *t, float lr, int step_t);
void   ut_lora_merge(ut_model *m, const ut_lora *lo);    /* W += (alpha / r) B A, every adapted W */
typedef struct { char path[4096]; uint64_t bytes, hash; } ut_base_ref;   /* the base model: path, size, FNV-1a 64 */
int ut_lora_save(const char *path, const ut_lora *lo, const ut_config *c, const ut_train_config *t,
                 const ut_progress *pr, const ut_base_ref *base);
/* The base an adapter file names (to load the base before the adapter). */
int ut_lora_base(const char *path, ut_base_ref *base);
/* Loads into a fresh lo (ut_lora_init inside); c: the base's config (must match the file's). */
int ut_lora_load(const char *path, ut_lora *lo, const ut_config *c, ut_train_config *t, ut_progress *pr,
                 ut_base_ref *base);

/* Token files written by `tokenizer encode` (section 9; the format is described
   there, next to its reader). */
typedef struct {
    uint32_t vocab_size, token_bytes;
    uint64_t n_tokens, n_bytes;
    int32_t *tokens;
} ut_tokens;
/* The reader: every field and every id checked; a file of 0 tokens is valid. */
int  ut_tokens_read(ut_tokens *d, const char *path);
/* ut_tokens_read for training data: also refuses a file that holds no tokens. */
int  ut_tokens_load(ut_tokens *d, const char *path);
void ut_tokens_free(ut_tokens *d);
/* The writer, in two pieces so a program can stream: the 32-byte header, then
   the ids block by block (each id takes ut_token_bytes_for(vocab_size) bytes). */
#define UT_TOKENS_HEADER 32
uint32_t ut_token_bytes_for(uint32_t vocab_size);            /* 2 if <= 65536, else 4 */
void     ut_tokens_pack_header(uint8_t out[UT_TOKENS_HEADER], uint32_t vocab_size, uint64_t n_tokens,
                               uint64_t n_bytes);
size_t   ut_tokens_pack_ids(uint8_t *out, const uint32_t *ids, size_t n, uint32_t vocab_size); /* bytes written */
/* B random windows of T+1 tokens: inputs (B,T), targets (B,T) = inputs shifted by one. */
void ut_batch_random(const ut_tokens *d, uint64_t *rng, int B, int T, int *inputs, int *targets);
/* The i-th batch of consecutive non-overlapping windows (wraps around), for evaluation. */
void ut_batch_sequential(const ut_tokens *d, uint64_t i, int B, int T, int *inputs, int *targets);

/* Tokenizer files written by `tokenizer train` (section 10; format there). */
typedef struct {
    uint32_t vocab_size, n_merges, n_special; /* vocab_size = 256 + n_merges + n_special (1) */
    uint32_t pretok;          /* the pre-tokenization rule its merges were learned with:
                                 UT_PRETOK_GPT2 (version 2 files), UT_PRETOK_V1 (version 1) */
    uint32_t eot_id;          /* the special token <|endoftext|> = 256 + n_merges */
    uint32_t *merges;         /* (n_merges, 2): merge i joins (left, right) into id 256 + i */
    uint8_t **token_bytes;    /* token_bytes[id] points at token_len[id] bytes inside blob */
    uint32_t *token_len;
    uint8_t *blob;            /* every token's bytes, back to back */
    uint64_t *pair_key;       /* hash table (left, right) -> merge rank, for encoding */
    uint32_t *pair_rank, pair_mask;
} ut_tokenizer;
/* The reader: checks everything, down to every token's bytes. */
int  ut_tokenizer_load(ut_tokenizer *tk, const char *path);
/* A tokenizer from its merge list, merges (n_merges, 2) (what training makes),
   with the current pre-tokenization rule, UT_PRETOK_GPT2. */
int  ut_tokenizer_build(ut_tokenizer *tk, const uint32_t *merges, uint32_t n_merges);
/* The writer: the whole file as malloc'd bytes (*len of them), or NULL. */
uint8_t *ut_tokenizer_serialize(const ut_tokenizer *tk, size_t *len);
void ut_tokenizer_free(ut_tokenizer *tk);
/* The rank (index) of the merge joining (left, right), or UINT32_MAX. */
uint32_t ut_tokenizer_merge_rank(const ut_tokenizer *tk, uint32_t left, uint32_t right);
/* A token file and the tokenizer it is decoded with agree: same vocab size,
   and the ids decode to exactly n_bytes bytes. */
int  ut_tokens_check_tokenizer(const ut_tokens *d, const ut_tokenizer *tk);

/* Pre-tokenization: cutting text into chunks that merges never cross (the rules
   are in section 10). Walk a text with
       ut_chunker c;  ut_chunker_init(&c, text, n, eot);
       while ((kind = ut_chunker_next(&c, &start, &len)) != UT_CHUNK_END) ...
   With eot, each literal <|endoftext|> comes back as a UT_CHUNK_EOT of its own.
   ut_chunker_init uses GPT-2's rule; ut_chunker_init_rule picks one (a
   tokenizer's tk->pretok). */
enum { UT_PRETOK_V1 = 1, UT_PRETOK_GPT2 = 2 };   /* pre-tokenization rules */
enum { UT_SPACE, UT_LETTER, UT_DIGIT, UT_PUNCT };            /* byte classes */
enum { UT_CHUNK_END, UT_CHUNK_TEXT, UT_CHUNK_EOT };
#define UT_EOT_TEXT "<|endoftext|>"
#define UT_EOT_LEN 13
typedef struct {
    const uint8_t *text;
    size_t n, pos;   /* length of the text; where the next chunk starts */
    size_t seg_end;  /* end of the plain text before the next <|endoftext|> (or n) */
    int eot;
    int rule;        /* UT_PRETOK_GPT2 or UT_PRETOK_V1 */
} ut_chunker;
int  ut_byte_class(uint8_t b);
/* GPT-2's class of the character at text[i] (of n bytes): UT_SPACE (Unicode
   White_Space), UT_LETTER (\p{L}), UT_DIGIT (\p{N}) or UT_PUNCT (anything
   else, and each byte of invalid UTF-8); *next is where the next one starts. */
int  ut_char_class(const uint8_t *text, size_t i, size_t n, size_t *next);
void ut_chunker_init(ut_chunker *c, const uint8_t *text, size_t n, int eot);
void ut_chunker_init_rule(ut_chunker *c, const uint8_t *text, size_t n, int eot, int rule);
int  ut_chunker_next(ut_chunker *c, size_t *start, size_t *len);

/* Encoding, the teaching version: chunk the text, then replay the merges on
   each chunk. Gives exactly the ids of `tokenizer encode` (with --eot when eot
   is 1). Writes at most max_out ids (a text never needs more ids than bytes);
   returns their number, or -1 if they do not fit. */
int  ut_tokenizer_encode_bytes(const ut_tokenizer *tk, const uint8_t *text, size_t n, int eot, int *out,
                               int max_out);
/* A prompt (C string) as `tokenizer encode` without --eot would encode it. */
int  ut_tokenizer_encode(const ut_tokenizer *tk, const char *text, int *out, int max_out);

/* Random numbers: xorshift64*, seeded through splitmix64. */
uint64_t ut_rng_seed(uint64_t seed);
uint64_t ut_rng_u64(uint64_t *s);
double   ut_rng_uniform(uint64_t *s);                  /* [0, 1) */
double   ut_rng_normal(uint64_t *s);

/* Little-endian integers, byte by byte: every file format (checkpoint, token
   file, tokenizer file) is written and read through these, so a file is the
   same on any machine. */
void     ut_put_u32(uint8_t *b, uint32_t v);
void     ut_put_u64(uint8_t *b, uint64_t v);
uint32_t ut_get_u32(const uint8_t *b);
uint64_t ut_get_u64(const uint8_t *b);

/* Inference with a KV cache: each new token costs one position (section 11). */
typedef struct {
    int pos;                 /* tokens already in the cache */
    ut_float *k, *v;         /* (L, max_seq_len, KVH*HD) keys and values of past positions */
    ut_float *scores;        /* (max_seq_len) one head's attention over the cache */
    ut_float *logits;        /* (V) the prediction for the next token */
    ut_layer_acts row;       /* one row (N = 1) of every activation, reused by each layer */
    void *mem;               /* the one allocation all of the above live in */
} ut_kv_cache;
int    ut_kv_init(ut_kv_cache *kv, const ut_model *m);
void   ut_kv_free(ut_kv_cache *kv);
/* Feeds one token at position kv->pos; returns the logits (V) for the next one. */
ut_float *ut_kv_step(ut_kv_cache *kv, const ut_model *m, int token);
/* Samples from logits with temperature (0 = greedy), top-k (0 = off), top-p (1 = off). */
int ut_sample(const ut_float *logits, int V, float temperature, int top_k, float top_p,
              uint64_t *rng);

/* Weight-only quantization (section 11b; the ut_qmatrix type is above ut_model). */
int    ut_quantize(ut_qmatrix *qm, const ut_float *w, int rows, int cols, int bits, int group);
void   ut_qmatrix_free(ut_qmatrix *qm);
int    ut_qget(const ut_qmatrix *qm, int r, int c);           /* the integer stored for w[r][c] */
void   ut_dequantize(ut_float *w, const ut_qmatrix *qm);       /* w[r][c] = scale * q */
ut_float ut_qdot(const ut_qmatrix *qm, int r, const ut_float *x); /* row r . x, straight from the integers */
size_t ut_qmatrix_bytes(const ut_qmatrix *qm);                 /* integers + scales */
/* Rows [r0, r0 + n) of qm as a matrix of their own: a view into qm's
   integers and scales (nothing is copied; never free it). */
ut_qmatrix ut_qrows(const ut_qmatrix *qm, int r0, int n);
/* The linear layer with a quantized weight W (OC, C) (section 11b):
     forward   out (N, OC)  = x (N, C) W^T
     backward  dx  (N, C)  += dout (N, OC) W    (no dW: a quantized weight is frozen)
   The _naive pair computes from the integers in plain loops (the oracle, and
   the kernel of one row at a time); the others take a scratch of OC*C floats
   (NULL: always the integer loops) and, for N > UT_QROWS rows, dequantize W
   into it and run the fast f32 product of section 4. */
#define UT_QROWS 4
void ut_qmatmul_forward_naive(ut_float *out, const ut_float *x, const ut_qmatrix *w, int N);
void ut_qmatmul_backward_naive(ut_float *dx, const ut_float *dout, const ut_qmatrix *w, int N);
void ut_qmatmul_forward(ut_float *out, const ut_float *x, const ut_qmatrix *w, int N, ut_float *scratch);
void ut_qmatmul_backward(ut_float *dx, const ut_float *dout, const ut_qmatrix *w, int N, ut_float *scratch);

/* Layer functions, public so that tests and lessons can call them one by one. */
void ut_matmul_forward(ut_float *out, const ut_float *inp, const ut_float *w, int N, int C, int OC);
void ut_matmul_backward(ut_float *dinp, ut_float *dw, const ut_float *dout, const ut_float *inp,
                        const ut_float *w, int N, int C, int OC);
void ut_matmul_forward_naive(ut_float *out, const ut_float *inp, const ut_float *w, int N, int C, int OC);
void ut_matmul_backward_naive(ut_float *dinp, ut_float *dw, const ut_float *dout, const ut_float *inp,
                              const ut_float *w, int N, int C, int OC);
/* n linear layers reading the same input x (N, C): out[i] = x w[i]^T, (N, OC[i]);
   backward: dw[i] += dout[i]^T x, and dx += dout[0] w[0] + dout[1] w[1] + ... */
void ut_linear_forward_n(int n, ut_float *const out[], const ut_float *x, const ut_float *const w[],
                         const int OC[], int N, int C);
void ut_linear_backward_n(int n, ut_float *dx, ut_float *const dw[], const ut_float *const dout[],
                          const ut_float *x, const ut_float *const w[], const int OC[], int N, int C);
void ut_embedding_forward(ut_float *out, const int *tokens, const ut_float *emb, int N, int D);
void ut_embedding_backward(ut_float *demb, const ut_float *dout, const int *tokens, int N, int D);
void ut_rmsnorm_forward(ut_float *out, ut_float *rstd, const ut_float *x, const ut_float *w,
                        int N, int D, float eps);
void ut_rmsnorm_backward(ut_float *dx, ut_float *dw, const ut_float *dout, const ut_float *x,
                         const ut_float *w, const ut_float *rstd, int N, int D);
void ut_rope_tables(ut_float *cos_t, ut_float *sin_t, int T, int HD, float theta);
void ut_rope_forward(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                     int nh, int HD, int pos0);
void ut_rope_backward(ut_float *dx, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                      int nh, int HD, int pos0);
/* Attention: the plain loops (the definition; tests' oracle; they keep every
   probability, att (B, H, T, T)) and the tiled version the model uses
   (appendix A.7, FlashAttention-2), which keeps one log-sum-exp per query
   row, lse (B, H, T), and needs ut_attention_scratch_floats floats of scratch
   (O(T), not O(T^2)). ut_attention_step: one new query against a KV cache. */
void ut_attention_forward_naive(ut_float *y, ut_float *att, const ut_float *q, const ut_float *k,
                                const ut_float *v, int B, int T, int H, int KVH, int HD, int window);
void ut_attention_backward_naive(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                                 const ut_float *att, const ut_float *q, const ut_float *k,
                                 const ut_float *v, int B, int T, int H, int KVH, int HD, int window);
size_t ut_attention_scratch_floats(int B, int T, int KVH, int HD);
void ut_attention_forward(ut_float *y, ut_float *lse, const ut_float *q, const ut_float *k,
                          const ut_float *v, int B, int T, int H, int KVH, int HD, int window,
                          ut_float *scratch);
void ut_attention_backward(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                           const ut_float *y, const ut_float *lse, const ut_float *q,
                           const ut_float *k, const ut_float *v, int B, int T, int H, int KVH,
                           int HD, int window, ut_float *scratch);
void ut_attention_step(ut_float *y, ut_float *scores, const ut_float *q, const ut_float *k_cache,
                       const ut_float *v_cache, int pos, int H, int KVH, int HD, int window);
/* h = silu(gate) * up, elementwise over n numbers; and its backward */
void ut_silu_mul_forward(ut_float *h, const ut_float *gate, const ut_float *up, size_t n);
void ut_silu_mul_backward(ut_float *dgate, ut_float *dup, const ut_float *dh, const ut_float *gate,
                          const ut_float *up, size_t n);
void ut_swiglu_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h, const ut_float *x,
                       const ut_float *wg, const ut_float *wu, const ut_float *wd, int N, int D, int F);
void ut_swiglu_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                        const ut_float *dout, const ut_float *gate, const ut_float *up,
                        const ut_float *h, const ut_float *x, const ut_float *wg,
                        const ut_float *wu, const ut_float *wd, ut_float *scratch, int N, int D, int F);
void ut_moe_forward(ut_float *out, ut_float *aux, ut_float *z, ut_moe_state *s, const ut_float *x,
                    const ut_float *router, const ut_float *wg, const ut_float *wu,
                    const ut_float *wd, int N, int D, int F, int E, int K);
void ut_moe_backward(ut_float *dx, ut_float *drouter, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                     const ut_float *dout, float daux, float dz, const ut_moe_state *s,
                     const ut_float *x, const ut_float *router, const ut_float *wg,
                     const ut_float *wu, const ut_float *wd, ut_float *scratch,
                     int N, int D, int F, int E, int K);
size_t ut_moe_scratch_floats(int N, int D, int F, int E, int K);
double ut_crossentropy_forward(ut_float *probs, const ut_float *logits, const int *targets, int N, int V);
void  ut_crossentropy_backward(ut_float *dlogits, const ut_float *probs, const int *targets,
                               int N, int V, float scale);

#endif /* ULTRATHINK_H */

/* ========================================================================= */
#ifdef ULTRATHINK_IMPLEMENTATION
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h>
#include <unistd.h>
#endif

/* ===========================================================================
   1. UTILITIES
   ======================================================================== */

/* Float math in the precision of ut_float: expf, not exp, when ut_float is
   float (the double versions would be slower and round differently). */
#ifdef UT_DOUBLE
#define ut__exp exp
#define ut__log log
#define ut__sqrt sqrt
#else
#define ut__exp ut__expf
#define ut__log logf
#define ut__sqrt sqrtf
/* exp(x) in float, written so a loop calling it vectorises (libm's expf is
   an opaque function call per number). Split x = k ln2 + r with k an integer
   and |r| <= ln2/2; then e^x = 2^k e^r, with e^r from its Taylor series to
   r^6 (error < r^7/7! ~ 1.2e-7, about one float ulp) and 2^k built directly
   as the float's exponent bits. Inputs are clamped to [-87, 88], the range of
   normal floats, so exp(-inf) gives ~1e-38 rather than 0 — harmless where it
   is used (softmax of finite scores, sigmoid). ln2 is split into a high part
   exactly representable in few bits and a small correction (Cody-Waite), so
   x - k ln2 is computed without losing precision. k is rounded to the nearest
   integer by adding and subtracting 1.5 * 2^23: at that magnitude a float has
   no fraction bits left, so the addition itself rounds (floorf would do, but
   gcc does not vectorise it). NaN fails every comparison, so the clamp
   written as "x > -87 ? x : -87" sends it to -87 (a NaN reaching the integer
   conversion and shift would be undefined behaviour); the NaN itself is
   returned at the end. Both are selects, which vectorise. */
static inline float ut__expf(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - k * 0.693145751953125f - k * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)k + 127) << 23;
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return x == x ? p * two_k : x;   /* NaN in, NaN out */
}
#endif

/* A dot product "s += a[i] * b[i]" cannot be vectorised as written: SIMD adds
   the terms in a different order, and C forbids the compiler to reorder float
   additions. UT_SIMD_SUM(s) before such a loop allows it (OpenMP's simd
   reduction). The order it picks is fixed at compile time, so results stay
   identical from run to run and for any number of threads. */
#define UT__PRAGMA(x) _Pragma(#x)
#define UT_SIMD_SUM(var) UT__PRAGMA(omp simd reduction(+ : var))

static char ut__errbuf[512];
const char *ut_error(void) { return ut__errbuf; }
static int ut__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ut__errbuf, sizeof ut__errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

/* Allocation that zeroes and reports failure through the return value. Sizes
   are in bytes; the caller checks for NULL (the library never exits). */
static void *ut__calloc(size_t n, size_t size) {
    void *p = (n && size) ? calloc(n, size) : calloc(1, 1);
    if (!p) ut__fail("out of memory allocating %zu bytes", n * size);
    return p;
}

/* xorshift64*: a tiny, good-enough generator whose whole state is one 64-bit
   number, so the checkpoint can store it and resume the exact same stream.
   splitmix64 turns any seed (even 0) into a well-mixed non-zero state. */
uint64_t ut_rng_seed(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}
uint64_t ut_rng_u64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
double ut_rng_uniform(uint64_t *s) { return (ut_rng_u64(s) >> 11) * (1.0 / 9007199254740992.0); }
/* Box-Muller: two uniforms -> one standard normal (the second is discarded so
   the state stays a single number). */
double ut_rng_normal(uint64_t *s) {
    double u1 = ut_rng_uniform(s), u2 = ut_rng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Two memory-bound helpers, split between the threads. */
/* Zeroing or adding big arrays is limited by how fast one core can write
   memory; two cores write faster. Small arrays stay on one thread. */
#define UT__CHUNK ((size_t)1 << 14)
static void ut__zero(ut_float *p, size_t n) {             /* p[0..n) = 0 */
    const size_t nc = (n + UT__CHUNK - 1) / UT__CHUNK;
    #pragma omp parallel for schedule(static) if (nc >= 4)
    for (size_t c = 0; c < nc; c++) {
        size_t a = c * UT__CHUNK, len = n - a < UT__CHUNK ? n - a : UT__CHUNK;
        memset(p + a, 0, len * sizeof(ut_float));
    }
}
static void ut__add(ut_float *restrict y, const ut_float *restrict x, size_t n) { /* y += x */
    #pragma omp parallel for schedule(static) if (n >= 4 * UT__CHUNK)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* Little-endian byte helpers (declared at the top). */
void ut_put_u32(uint8_t *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }
void ut_put_u64(uint8_t *b, uint64_t v) { for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i)); }
uint32_t ut_get_u32(const uint8_t *b) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i); return v; }
uint64_t ut_get_u64(const uint8_t *b) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i); return v; }

/* ===========================================================================
   2. CONFIG
   ======================================================================== */

/* The defaults are the model `make run` trains: the whole architecture (4
   query heads sharing 2 KV heads, RoPE, SwiGLU, 4 experts with top-2 routing),
   sized so that it learns Tiny Shakespeare in under 5 minutes on a 2-core
   laptop. train.c starts from these (one place for defaults); the vocabulary
   and max_seq_len are then set from the data and --seq. */
ut_config ut_config_default(void) {
    ut_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 256; c.max_seq_len = 128; c.n_layers = 4; c.d_model = 128;
    c.n_heads = 4; c.n_kv_heads = 2; c.head_dim = 32; c.ffn_hidden = 256;
    c.n_experts = 4; c.top_k = 2; c.tie_embeddings = 0; c.sliding_window = 0;
    c.rope_theta = 10000.0f; c.norm_eps = 1e-5f;
    c.aux_loss_coef = 0.01f; c.z_loss_coef = 0.001f;
    return c;
}

ut_train_config ut_train_config_default(void) {
    ut_train_config t;
    memset(&t, 0, sizeof t);
    t.batch_size = 16; t.seq_len = 128; t.grad_accum = 1; t.total_steps = 800;
    t.warmup_steps = 50; t.lr = 2e-3f; t.min_lr = 2e-4f;
    t.beta1 = 0.9f; t.beta2 = 0.99f; t.eps = 1e-8f; t.weight_decay = 0.1f;
    t.grad_clip = 1.0f; t.seed = 1337;
    return t;
}

int ut_config_validate(const ut_config *c) {
    if (c->vocab_size < 2 || c->vocab_size > (1 << 24))
        return ut__fail("vocab_size %d is out of range [2, 16777216]", c->vocab_size);
    if (c->max_seq_len < 1 || c->max_seq_len > (1 << 20))
        return ut__fail("max_seq_len %d is out of range [1, 1048576]", c->max_seq_len);
    if (c->n_layers < 1 || c->n_layers > 1024) return ut__fail("n_layers %d is out of range [1, 1024]", c->n_layers);
    if (c->d_model < 1 || c->d_model > 65536) return ut__fail("d_model %d is out of range [1, 65536]", c->d_model);
    if (c->n_heads < 1 || c->n_heads > 4096) return ut__fail("n_heads %d is out of range [1, 4096]", c->n_heads);
    if (c->n_kv_heads < 1 || c->n_kv_heads > c->n_heads)
        return ut__fail("n_kv_heads %d must be between 1 and n_heads %d", c->n_kv_heads, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return ut__fail("n_heads %d is not divisible by n_kv_heads %d", c->n_heads, c->n_kv_heads);
    if (c->head_dim < 2 || c->head_dim % 2 != 0 || c->head_dim > 4096)
        return ut__fail("head_dim %d must be even and in [2, 4096] (RoPE rotates pairs)", c->head_dim);
    if (c->ffn_hidden < 1 || c->ffn_hidden > (1 << 20)) return ut__fail("ffn_hidden %d is out of range", c->ffn_hidden);
    if (c->n_experts < 1 || c->n_experts > 1024) return ut__fail("n_experts %d is out of range [1, 1024]", c->n_experts);
    if (c->top_k < 1 || c->top_k > c->n_experts)
        return ut__fail("top_k %d must be between 1 and n_experts %d", c->top_k, c->n_experts);
    if (c->top_k > 64) return ut__fail("top_k %d is more than 64 experts per token", c->top_k);
    if (c->tie_embeddings != 0 && c->tie_embeddings != 1) return ut__fail("tie_embeddings must be 0 or 1");
    if (c->sliding_window < 0) return ut__fail("sliding_window %d must be >= 0 (0 = full causal)", c->sliding_window);
    if (!(c->rope_theta > 1.0f) || !isfinite(c->rope_theta)) return ut__fail("rope_theta must be > 1");
    if (!(c->norm_eps > 0.0f) || !(c->norm_eps < 1.0f)) return ut__fail("norm_eps must be in (0, 1)");
    if (!(c->aux_loss_coef >= 0.0f) || !isfinite(c->aux_loss_coef)) return ut__fail("aux_loss_coef must be >= 0");
    if (!(c->z_loss_coef >= 0.0f) || !isfinite(c->z_loss_coef)) return ut__fail("z_loss_coef must be >= 0");
    if (ut_num_params(c) > ((size_t)1 << 34)) return ut__fail("model too large (%zu parameters)", ut_num_params(c));
    return 0;
}

/* ===========================================================================
   3. MEMORY: the parameter layout
   All parameters live in ONE buffer; the gradients and both AdamW moments are
   buffers of the same size and layout. So zeroing gradients, the optimizer, the
   gradient norm and saving a checkpoint are each one loop over one array, and
   m->p[i] / m->g[i] point at tensor i inside params / grads. A layer's
   tensors also go by name: ut_layer_weights(m->p, c, l).wq is layer l's W_q,
   and ut_layer_weights(m->g, c, l).wq its gradient. The activations (for one
   micro-batch) and their gradients are one more allocation, carved the same
   way from the list in ut__act_bufs.
   ======================================================================== */

const char *const ut_tensor_names[UT_NUM_TENSORS] = {
    "tok_emb", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm",
    "router", "w_gate", "w_up", "w_down", "final_norm", "lm_head"};

void ut_param_sizes(const ut_config *c, size_t s[UT_NUM_TENSORS]) {
    size_t L = c->n_layers, D = c->d_model, V = c->vocab_size, HD = c->head_dim;
    size_t H = c->n_heads, KVH = c->n_kv_heads, F = c->ffn_hidden, E = c->n_experts;
    s[UT_TOK_EMB] = V * D;
    s[UT_ATTN_NORM] = L * D;
    s[UT_WQ] = L * H * HD * D;
    s[UT_WK] = L * KVH * HD * D;
    s[UT_WV] = L * KVH * HD * D;
    s[UT_WO] = L * D * H * HD;
    s[UT_FFN_NORM] = L * D;
    s[UT_ROUTER] = E > 1 ? L * E * D : 0;
    s[UT_W_GATE] = L * E * F * D;
    s[UT_W_UP] = L * E * F * D;
    s[UT_W_DOWN] = L * E * D * F;
    s[UT_FINAL_NORM] = D;
    s[UT_LM_HEAD] = c->tie_embeddings ? 0 : V * D;
}

size_t ut_num_params(const ut_config *c) {
    size_t s[UT_NUM_TENSORS], n = 0;
    ut_param_sizes(c, s);
    for (int i = 0; i < UT_NUM_TENSORS; i++) n += s[i];
    return n;
}

size_t ut_num_active_params(const ut_config *c) {
    size_t s[UT_NUM_TENSORS], n = 0;
    ut_param_sizes(c, s);
    for (int i = 0; i < UT_NUM_TENSORS; i++) {
        if (i == UT_W_GATE || i == UT_W_UP || i == UT_W_DOWN) n += s[i] / c->n_experts * c->top_k;
        else if (i == UT_TOK_EMB && !c->tie_embeddings) continue; /* a lookup, not a matmul */
        else n += s[i];
    }
    return n;
}

/* Training FLOPs per token: 6 per active weight (2 forward, 4 backward) plus
   attention's two T-long products per head, forward and backward (6 * 2 * HD
   per visible key, on average T/2 keys, or the window). */
double ut_flops_per_token(const ut_config *c, int T) {
    double keys = c->sliding_window && c->sliding_window < T ? c->sliding_window : (T + 1) / 2.0;
    return 6.0 * (double)ut_num_active_params(c) +
           12.0 * c->n_layers * c->n_heads * (double)c->head_dim * keys;
}

/* Layer l's parameters by name (the section 6 diagram's W_q, W_k, ...). With
   m->g instead of m->p, the same names point at their gradients. */
/* cppcheck-suppress constParameter ; the pointers it hands out must stay writable (gradients) */
ut_layer ut_layer_weights(ut_float *const t[UT_NUM_TENSORS], const ut_config *c, int l) {
    size_t D = c->d_model, QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t E = c->n_experts, F = c->ffn_hidden, L = (size_t)l;
    ut_layer w;
    /* a tensor that is NULL (frozen: no gradients; quantized: no f32 copy,
       ut_model_quantize) gives NULL pointers */
#define UT__AT(i, off) (t[i] ? t[i] + (off) : NULL)
    w.attn_norm = UT__AT(UT_ATTN_NORM, L * D);
    w.wq = UT__AT(UT_WQ, L * QD * D);
    w.wk = UT__AT(UT_WK, L * KD * D);
    w.wv = UT__AT(UT_WV, L * KD * D);
    w.wo = UT__AT(UT_WO, L * D * QD);
    w.ffn_norm = UT__AT(UT_FFN_NORM, L * D);
    w.router = E > 1 ? UT__AT(UT_ROUTER, L * E * D) : NULL;
    w.w_gate = UT__AT(UT_W_GATE, L * E * F * D);
    w.w_up = UT__AT(UT_W_UP, L * E * F * D);
    w.w_down = UT__AT(UT_W_DOWN, L * E * D * F);
#undef UT__AT
    return w;
}

/* The activation buffers: every pointer of ut_acts and of ut_grad_acts with
   its number of elements. Used both to measure (ut_memory_estimate) and to
   carve one allocation (ut__ensure_acts, section 6). */
typedef struct { void **ptr; size_t count; size_t elem; } ut__buf;
static int ut__act_bufs(const ut_config *c, ut_acts *a, ut_grad_acts *d, int B, int T, int recompute,
                        ut__buf *out) {
    /* L: layers whose activations are kept; with recompute only one layer's
       (the one being recomputed), but still every layer's input (resid) */
    size_t L = recompute ? 1 : (size_t)c->n_layers, D = c->d_model, N = (size_t)B * T, V = c->vocab_size;
    size_t H = c->n_heads, KVH = c->n_kv_heads, HD = c->head_dim, F = c->ffn_hidden;
    size_t E = c->n_experts, K = c->top_k, moe = E > 1 ? 1 : 0;
    size_t fl = sizeof(ut_float), in = sizeof(int);
    int n = 0;
#define UT__B(p, cnt, el) out[n].ptr = (void **)&a->p, out[n].count = (cnt), out[n].elem = (el), n++
    UT__B(resid, ((size_t)c->n_layers + 1) * N * D, fl);
    UT__B(attn_rstd, L * N, fl);
    UT__B(attn_xn, L * N * D, fl);
    UT__B(q, L * N * H * HD, fl);
    UT__B(k, L * N * KVH * HD, fl);
    UT__B(v, L * N * KVH * HD, fl);
    UT__B(attn_lse, L * B * H * (size_t)T, fl);
    UT__B(attn_y, L * N * H * HD, fl);
    UT__B(resid_mid, L * N * D, fl);
    UT__B(ffn_rstd, L * N, fl);
    UT__B(ffn_xn, L * N * D, fl);
    UT__B(router_probs, moe * L * N * E, fl);
    UT__B(router_lse, moe * L * N, fl);
    UT__B(topk_w, moe * L * N * K, fl);
    UT__B(topk_e, moe * L * N * K, in);
    UT__B(slot_of, moe * L * N * K, in);
    UT__B(slot_token, moe * L * N * K, in);
    UT__B(expert_off, moe * L * (E + 1), in);
    UT__B(ffn_x, moe * L * N * K * D, fl);
    UT__B(ffn_gate, L * N * K * F, fl);
    UT__B(ffn_up, L * N * K * F, fl);
    UT__B(ffn_h, moe * L * N * K * F, fl);
    UT__B(ffn_out, moe * L * N * K * D, fl);
    UT__B(final_rstd, N, fl);
    UT__B(final_xn, N * D, fl);
    UT__B(probs, N * V, fl);
    /* the gradients of activations. dq, dy, dk and dv lie one after another
       (one call zeroes them), then attention's scratch; they, dlogits and
       the MLP's scratch share one buffer (ut_grad_acts), carved here as
       `ffn`; ut__ensure_acts points the others into it. */
#define UT__G(p, cnt) out[n].ptr = (void **)&d->p, out[n].count = (cnt), out[n].elem = fl, n++
    UT__G(dresid, N * D);
    UT__G(dxn, N * D);
    size_t ffn = E > 1 ? ut_moe_scratch_floats((int)N, (int)D, (int)F, (int)E, (int)K) : 2 * N * F;
    size_t attn = N * (2 * H * HD + 2 * KVH * HD) + ut_attention_scratch_floats(B, T, (int)KVH, (int)HD);
    size_t shared = N * V > ffn ? N * V : ffn;
    UT__G(ffn, shared > attn ? shared : attn);
#undef UT__G
#undef UT__B
    return n;
}

/* The most floats appendix A packs at once (A.4, ut__gemm_many_chunked). */
#ifndef UT__PACK_MAX
#  define UT__PACK_MAX ((size_t)1 << 22)   /* 16 MB of floats */
#endif
ut_memory ut_memory_estimate(const ut_config *c, int B, int T, int recompute) {
    ut_memory r;
    ut_acts a;
    ut_grad_acts d;
    ut__buf bufs[48];
    int n = ut__act_bufs(c, &a, &d, B, T, recompute, bufs);
    size_t P = ut_num_params(c) * sizeof(ut_float);
    r.params = P; r.grads = P; r.optimizer = 2 * P; r.activations = 0;
    for (int i = 0; i < n; i++) r.activations += bufs[i].count * bufs[i].elem;
    /* and appendix A's buffer for packed matrices (A.2), which holds at most
       UT__PACK_MAX floats past the weights: a weight gradient packs its
       input, (N*K, F) at most */
    size_t N = (size_t)B * T, F = (size_t)c->ffn_hidden * c->top_k, D = c->d_model;
    size_t QD = (size_t)c->n_heads * c->head_dim, widest = F > D ? F : D;
    widest = widest > QD ? widest : QD;
    size_t pack = N * widest < UT__PACK_MAX ? N * widest : UT__PACK_MAX;
    r.activations += (pack + (size_t)c->vocab_size * D) * sizeof(ut_float);
    r.total = r.params + r.grads + r.optimizer + r.activations;
    return r;
}

/* ===========================================================================
   4. MATMUL: the linear layer
   Almost all of the compute is the linear layer and its two backward
   products. Weights are stored PyTorch-style as (out_features, in_features):

       forward        out  (N, OC)  =  inp  (N, C)  . w (OC, C)^T
       backward dinp  dinp (N, C)  +=  dout (N, OC) . w (OC, C)
       backward dw    dw   (OC, C) +=  dout (N, OC)^T . inp (N, C)

   Below: the plain triple loops, which define these products (and are the
   tests' oracle), then the calls the layers use. Those compute the very same
   sums, organised for the cache and the SIMD units (appendix A): about
   50-150x faster than the plain loops on one core, and parallel. They add
   in a different order, so the two agree to rounding error, not bit for bit;
   the fast one's order is fixed, so its results are identical from run to
   run and for any number of threads.
   ======================================================================== */

void ut_matmul_forward_naive(ut_float *out, const ut_float *inp, const ut_float *w,
                             int N, int C, int OC) {
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            ut_float sum = 0;
            for (int i = 0; i < C; i++) sum += inp[(size_t)n * C + i] * w[(size_t)o * C + i];
            out[(size_t)n * OC + o] = sum;
        }
    }
}

void ut_matmul_backward_naive(ut_float *dinp, ut_float *dw, const ut_float *dout,
                              const ut_float *inp, const ut_float *w, int N, int C, int OC) {
    if (dinp) { /* dinp[n][i] += sum_o dout[n][o] * w[o][i] */
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < C; i++) {
                ut_float sum = 0;
                for (int o = 0; o < OC; o++) sum += dout[(size_t)n * OC + o] * w[(size_t)o * C + i];
                dinp[(size_t)n * C + i] += sum;
            }
        }
    }
    if (dw) { /* dw[o][i] += sum_n dout[n][o] * inp[n][i] */
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < C; i++) {
                ut_float sum = 0;
                for (int n = 0; n < N; n++) sum += dout[(size_t)n * OC + o] * inp[(size_t)n * C + i];
                dw[(size_t)o * C + i] += sum;
            }
        }
    }
}

/* The fast versions live in appendix A, at the end of the file; these are
   the names the sections in between call. */
static void ut__linear_forward_fast(int n, ut_float *const out[], const ut_float *x,
                                    const ut_float *const w[], const int OC[], int N, int C);
static void ut__linear_backward_fast(int n, ut_float *dx, ut_float *const dw[], const ut_float *const dout[],
                                     const ut_float *x, const ut_float *const w[], const int OC[], int N, int C);
static void ut__experts_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h,
                                const ut_float *x, const ut_float *wg, const ut_float *wu,
                                const ut_float *wd, const int *off, int E, int D, int F);
static void ut__experts_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                                 const ut_float *dout, const ut_float *gate, const ut_float *up,
                                 const ut_float *h, const ut_float *x, const ut_float *wg,
                                 const ut_float *wu, const ut_float *wd, ut_float *scratch,
                                 const int *off, int E, int D, int F);

/* One linear layer: out = inp w^T, and its backward (dinp or dw may be NULL
   when that gradient is not needed). */
void ut_matmul_forward(ut_float *out, const ut_float *inp, const ut_float *w, int N, int C, int OC) {
    ut_linear_forward_n(1, &out, inp, &w, &OC, N, C);
}
void ut_matmul_backward(ut_float *dinp, ut_float *dw, const ut_float *dout, const ut_float *inp,
                        const ut_float *w, int N, int C, int OC) {
    ut_linear_backward_n(1, dinp, &dw, &dout, inp, &w, &OC, N, C);
}

/* Several linear layers that read the SAME input x (N, C): q, k and v all
   project the normalised input of attention; gate and up both project that
   of the MLP. Mathematically just n calls of the functions above:
       forward    out[i] (N, OC[i]) = x w[i]^T                   i = 0 .. n-1
       backward   dw[i] += dout[i]^T x                           for every i
                  dx    += dout[0] w[0] + dout[1] w[1] + ...     added in that order
   Computing them together lets the threads share out more work at once (a
   big win for small layers) and packs x once for all the dw products. */
void ut_linear_forward_n(int n, ut_float *const out[], const ut_float *x, const ut_float *const w[],
                         const int OC[], int N, int C) {
#ifdef UT_NO_FAST_MATMUL
    for (int i = 0; i < n; i++) ut_matmul_forward_naive(out[i], x, w[i], N, C, OC[i]);
#else
    ut__linear_forward_fast(n, out, x, w, OC, N, C);
#endif
}
void ut_linear_backward_n(int n, ut_float *dx, ut_float *const dw[], const ut_float *const dout[],
                          const ut_float *x, const ut_float *const w[], const int OC[], int N, int C) {
#ifdef UT_NO_FAST_MATMUL
    for (int i = 0; i < n; i++) ut_matmul_backward_naive(dx, dw[i], dout[i], x, w[i], N, C, OC[i]);
#else
    ut__linear_backward_fast(n, dx, dw, dout, x, w, OC, N, C);
#endif
}

/* ===========================================================================
   5. LAYERS — each forward next to its backward.
   Convention: a backward ADDS (+=) into parameter gradients and into the
   gradient of its input, because a tensor used in two places (the residual
   stream, tied embeddings) must receive both contributions. Buffers are zeroed
   once per step (parameter grads) or before each use (activation grads).
   ======================================================================== */

/* A softmax, used by attention, the MoE router and the loss. */
static ut_float ut__softmax_row(ut_float *x, int n) {
    ut_float mx = x[0], sum = 0;
    for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
    UT_SIMD_SUM(sum)
    for (int i = 0; i < n; i++) { x[i] = ut__exp(x[i] - mx); sum += x[i]; }
    for (int i = 0; i < n; i++) x[i] /= sum;
    /* cppcheck-suppress invalidFunctionArg ; n >= 1, so sum >= 1: the max's own term is exp(0) */
    return mx + ut__log(sum);
}

/* --- Token embedding -------------------------------------------------------
   out[n, :] = emb[tokens[n], :]          tokens (N), emb (V, D) -> out (N, D)
   backward:  demb[tokens[n], :] += dout[n, :]                                  */
void ut_embedding_forward(ut_float *out, const int *tokens, const ut_float *emb, int N, int D) {
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * D, emb + (size_t)tokens[n] * D, D * sizeof(ut_float));
}
void ut_embedding_backward(ut_float *demb, const ut_float *dout, const int *tokens, int N, int D) {
    /* Several rows can hit the same token, so rows are added one after another
       (n order) — a parallel loop over n would race on demb. */
    for (int n = 0; n < N; n++) {
        ut_float *d = demb + (size_t)tokens[n] * D;
        const ut_float *g = dout + (size_t)n * D;
        for (int i = 0; i < D; i++) d[i] += g[i];
    }
}

/* --- RMSNorm ---------------------------------------------------------------
   Each row x (D) is scaled to unit root-mean-square, then by a learned weight:
       rstd = 1 / sqrt(mean_i x_i^2 + eps)
       out_i = x_i * rstd * w_i                    x (N, D), w (D) -> out (N, D)
   Unlike LayerNorm there is no mean subtraction and no bias.
   Backward, with g_i = dout_i * w_i and xhat_i = x_i * rstd:
       dx_i = rstd * (g_i - xhat_i * mean_j(g_j * xhat_j))
       dw_i += sum over rows of dout_i * xhat_i                                  */
void ut_rmsnorm_forward(ut_float *out, ut_float *rstd, const ut_float *x, const ut_float *w,
                        int N, int D, float eps) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const ut_float *xr = x + (size_t)n * D;
        ut_float *o = out + (size_t)n * D;
        ut_float ss = 0;
        UT_SIMD_SUM(ss)
        for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        ut_float r = (ut_float)1 / ut__sqrt(ss / D + eps);
        for (int i = 0; i < D; i++) o[i] = xr[i] * r * w[i];
        rstd[n] = r;
    }
}
void ut_rmsnorm_backward(ut_float *dx, ut_float *dw, const ut_float *dout, const ut_float *x,
                         const ut_float *w, const ut_float *rstd, int N, int D) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const ut_float *xr = x + (size_t)n * D, *dy = dout + (size_t)n * D;
        ut_float *dxr = dx + (size_t)n * D, r = rstd[n];
        ut_float gx = 0;   /* sum_j g_j * xhat_j */
        UT_SIMD_SUM(gx)
        for (int i = 0; i < D; i++) gx += dy[i] * w[i] * xr[i] * r;
        gx /= D;
        for (int i = 0; i < D; i++) dxr[i] += r * (dy[i] * w[i] - xr[i] * r * gx);
    }
    /* dw: rows added one after another (a fixed order), each row a vector op
       (dw NULL: a frozen weight, LoRA) */
    for (int n = 0; dw && n < N; n++) {
        const ut_float *xr = x + (size_t)n * D, *dy = dout + (size_t)n * D;
        ut_float r = rstd[n];
        for (int i = 0; i < D; i++) dw[i] += dy[i] * xr[i] * r;
    }
}

/* --- RoPE: rotary position embedding -----------------------------------------
   Position p rotates each pair of a head's features by the angle p * f_i with
   f_i = theta^(-2i/HD), i < HD/2. We use the "rotate-half" layout of Hugging
   Face's Llama: feature i is paired with feature i + HD/2 (not with i+1 as in
   the original Meta code), so weights exported to HF need no permutation.
       x'_i        = x_i cos - x_{i+HD/2} sin
       x'_{i+HD/2} = x_{i+HD/2} cos + x_i sin
   A rotation's inverse is its transpose, so the backward rotates the gradient
   by -angle. Applied in place to q or k laid out as (B, T, nh, HD); token t of
   the window sits at absolute position pos0 + t (pos0 > 0 with a KV cache).   */
void ut_rope_tables(ut_float *cos_t, ut_float *sin_t, int T, int HD, float theta) {
    int half = HD / 2;
    for (int p = 0; p < T; p++)
        for (int i = 0; i < half; i++) {
            double f = pow((double)theta, -2.0 * i / HD);
            cos_t[(size_t)p * half + i] = (ut_float)cos(p * f);
            sin_t[(size_t)p * half + i] = (ut_float)sin(p * f);
        }
}
static void ut__rope(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                     int nh, int HD, int pos0, ut_float sign) {
    int half = HD / 2;
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const ut_float *c = cos_t + (size_t)(pos0 + t) * half, *s = sin_t + (size_t)(pos0 + t) * half;
            for (int h = 0; h < nh; h++) {
                ut_float *v = x + (((size_t)b * T + t) * nh + h) * HD;
                for (int i = 0; i < half; i++) {
                    ut_float a = v[i], bb = v[i + half], sn = sign * s[i];
                    v[i] = a * c[i] - bb * sn;
                    v[i + half] = bb * c[i] + a * sn;
                }
            }
        }
}
void ut_rope_forward(ut_float *x, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                     int nh, int HD, int pos0) { ut__rope(x, cos_t, sin_t, B, T, nh, HD, pos0, 1); }
void ut_rope_backward(ut_float *dx, const ut_float *cos_t, const ut_float *sin_t, int B, int T,
                      int nh, int HD, int pos0) { ut__rope(dx, cos_t, sin_t, B, T, nh, HD, pos0, -1); }

/* --- Causal grouped-query attention ------------------------------------------
   q (B, T, H, HD), k and v (B, T, KVH, HD) -> y (B, T, H, HD), att (B, H, T, T)
   Query head h reads key/value head h / (H/KVH): a group of H/KVH query heads
   shares one K and V, which is what makes the KV cache KVH/H the size. K and V
   are never copied per query head; we just index the shared one.
       s[t, u] = q_t . k_u / sqrt(HD)    for visible u, i.e. u <= t and, with a
                                         sliding window W, t - u < W
       att[t, :] = softmax(s[t, :])      (0 where not visible)
       y_t = sum_u att[t, u] v_u
   Backward, given dy:
       dv_u += sum_t att[t,u] dy_t           datt[t,u] = dy_t . v_u
       ds[t,u] = att[t,u] (datt[t,u] - sum_u' att[t,u'] datt[t,u'])  (softmax)
       dq_t += sum_u ds[t,u] k_u / sqrt(HD)   dk_u += sum_t ds[t,u] q_t / sqrt(HD) */
static inline int ut__first_visible(int t, int window) {
    return (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
}

/* The plain version: loops over the batch b, the head h, the query t, the key
   u and the feature i, exactly as the formulas read. It is the definition and
   the tests' oracle; the model calls the fast version, ut_attention_forward
   (appendix A.7), which computes the same sums tile by tile with an online
   softmax and keeps only each row's log-sum-exp instead of att. */
void ut_attention_forward_naive(ut_float *y, ut_float *att, const ut_float *q, const ut_float *k,
                                const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    int group = H / KVH;
    ut_float scale = (ut_float)(1.0 / sqrt((double)HD));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const ut_float *qt = q + ((size_t)(b * T + t) * H + h) * HD;
                ut_float *yt = y + ((size_t)(b * T + t) * H + h) * HD;
                ut_float *a = att + (((size_t)b * H + h) * T + t) * T;   /* att[b, h, t, :] */
                int kvh = h / group, u0 = ut__first_visible(t, window);
                ut_float mx = -INFINITY, sum = 0;
                for (int u = 0; u < T; u++) a[u] = 0;
                for (int u = u0; u <= t; u++) {            /* s[t, u] for the visible keys */
                    const ut_float *ku = k + ((size_t)(b * T + u) * KVH + kvh) * HD;
                    ut_float qk = 0;
                    for (int i = 0; i < HD; i++) qk += qt[i] * ku[i];
                    a[u] = qk * scale;
                    if (a[u] > mx) mx = a[u];
                }
                for (int u = u0; u <= t; u++) { a[u] = ut__exp(a[u] - mx); sum += a[u]; }
                for (int u = u0; u <= t; u++) a[u] /= sum;  /* softmax over them */
                for (int i = 0; i < HD; i++) yt[i] = 0;
                for (int u = u0; u <= t; u++) {            /* y_t = sum_u att[t, u] v_u */
                    const ut_float *vu = v + ((size_t)(b * T + u) * KVH + kvh) * HD;
                    for (int i = 0; i < HD; i++) yt[i] += a[u] * vu[i];
                }
            }
}
/* dq, dk and dv are added to. datt[t, u] = dy_t . v_u is computed twice per
   (t, u): once for the softmax's sum, once for ds -- simple, not fast. */
void ut_attention_backward_naive(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                                 const ut_float *att, const ut_float *q, const ut_float *k,
                                 const ut_float *v, int B, int T, int H, int KVH, int HD, int window) {
    int group = H / KVH;
    ut_float scale = (ut_float)(1.0 / sqrt((double)HD));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                size_t qrow = ((size_t)(b * T + t) * H + h) * HD;
                const ut_float *qt = q + qrow, *dyt = dy + qrow;
                ut_float *dqt = dq + qrow;
                const ut_float *a = att + (((size_t)b * H + h) * T + t) * T;
                int kvh = h / group, u0 = ut__first_visible(t, window);
                ut_float sum = 0;                          /* sum_u att[t,u] datt[t,u] */
                for (int u = u0; u <= t; u++) {
                    const ut_float *vu = v + ((size_t)(b * T + u) * KVH + kvh) * HD;
                    ut_float datt = 0;
                    for (int i = 0; i < HD; i++) datt += dyt[i] * vu[i];
                    sum += a[u] * datt;
                }
                for (int u = u0; u <= t; u++) {
                    size_t kvrow = ((size_t)(b * T + u) * KVH + kvh) * HD;
                    const ut_float *ku = k + kvrow, *vu = v + kvrow;
                    ut_float datt = 0;
                    for (int i = 0; i < HD; i++) datt += dyt[i] * vu[i];
                    ut_float ds = a[u] * (datt - sum) * scale;  /* through the softmax and the scale */
                    for (int i = 0; i < HD; i++) {
                        dqt[i] += ds * ku[i];
                        dk[kvrow + i] += ds * qt[i];
                        dv[kvrow + i] += a[u] * dyt[i];
                    }
                }
            }
}

/* Generating text: ONE new query, the token at position pos, against the
   keys and values of positions 0..pos kept in a KV cache (section 11).
   q (H*HD), k_cache and v_cache (positions, KVH*HD) -> y (H*HD); scores
   holds pos+1 numbers. The same sums as row t = pos of the plain version. */
void ut_attention_step(ut_float *y, ut_float *scores, const ut_float *q, const ut_float *k_cache,
                       const ut_float *v_cache, int pos, int H, int KVH, int HD, int window) {
    int group = H / KVH, u0 = ut__first_visible(pos, window);
    size_t KD = (size_t)KVH * HD;
    ut_float scale = (ut_float)(1.0 / sqrt((double)HD));
    for (int h = 0; h < H; h++) {
        const ut_float *qh = q + (size_t)h * HD;
        ut_float *yh = y + (size_t)h * HD, *a = scores;    /* a[u - u0]: visible keys only */
        int kvh = h / group;
        for (int u = u0; u <= pos; u++) {
            const ut_float *ku = k_cache + (size_t)u * KD + (size_t)kvh * HD;
            ut_float qk = 0;
            for (int i = 0; i < HD; i++) qk += qh[i] * ku[i];
            a[u - u0] = qk * scale;
        }
        ut__softmax_row(a, pos - u0 + 1);
        for (int i = 0; i < HD; i++) yh[i] = 0;
        for (int u = u0; u <= pos; u++) {
            const ut_float *vu = v_cache + (size_t)u * KD + (size_t)kvh * HD;
            for (int i = 0; i < HD; i++) yh[i] += a[u - u0] * vu[i];
        }
    }
}

/* --- SwiGLU MLP ----------------------------------------------------------------
   x (N, D); wg, wu (F, D); wd (D, F):
       gate = x wg^T, up = x wu^T              (N, F)
       h = silu(gate) * up                     silu(g) = g * sigmoid(g)
       out = h wd^T                            (N, D)
   Backward: dh = dout wd; dgate = dh * up * silu'(gate); dup = dh * silu(gate),
   with silu'(g) = sigmoid(g) * (1 + g * (1 - sigmoid(g))).
   The activation, elementwise; the experts of a MoE layer use it too. */
void ut_silu_mul_forward(ut_float *h, const ut_float *gate, const ut_float *up, size_t n) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        ut_float g = gate[i];
        h[i] = g / (1 + ut__exp(-g)) * up[i];
    }
}
/* dgate may be the same array as dh (it is overwritten in place) */
void ut_silu_mul_backward(ut_float *dgate, ut_float *dup, const ut_float *dh, const ut_float *gate,
                          const ut_float *up, size_t n) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        ut_float g = gate[i], sg = 1 / (1 + ut__exp(-g)), d = dh[i];
        dup[i] = d * g * sg;
        dgate[i] = d * up[i] * sg * (1 + g * (1 - sg));
    }
}

/* gate, up and h are saved for the backward pass. */
void ut_swiglu_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h, const ut_float *x,
                       const ut_float *wg, const ut_float *wu, const ut_float *wd, int N, int D, int F) {
    ut_float *gate_up[2] = {gate, up};
    const ut_float *w[2] = {wg, wu};
    const int out_dims[2] = {F, F};
    ut_linear_forward_n(2, gate_up, x, w, out_dims, N, D);   /* gate = x wg^T, up = x wu^T */
    ut_silu_mul_forward(h, gate, up, (size_t)N * F);         /* h = silu(gate) * up */
    ut_matmul_forward(out, h, wd, N, F, D);                   /* out = h wd^T */
}
/* scratch holds 2*N*F floats (dh, overwritten by dgate, and dup). dx is added to.
   h may be NULL (the model does not keep it): it is then recomputed from gate
   and up into dup's half of the scratch, free until the silu backward. */
void ut_swiglu_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                        const ut_float *dout, const ut_float *gate, const ut_float *up,
                        const ut_float *h, const ut_float *x, const ut_float *wg,
                        const ut_float *wu, const ut_float *wd, ut_float *scratch, int N, int D, int F) {
    size_t NF = (size_t)N * F;
    ut_float *dh = scratch, *dup = scratch + NF;
    if (!h) { ut_silu_mul_forward(dup, gate, up, NF); h = dup; }   /* the same numbers as the forward's */
    ut__zero(dh, NF);
    ut_matmul_backward(dh, dwd, dout, h, wd, N, F, D);        /* dh = dout wd, dwd += dout^T h */
    ut_silu_mul_backward(dh, dup, dh, gate, up, NF);          /* dgate (over dh) and dup */
    ut_float *dw[2] = {dwg, dwu};
    const ut_float *dgate_up[2] = {dh, dup}, *w[2] = {wg, wu};
    const int out_dims[2] = {F, F};
    /* dwg += dgate^T x, dwu += dup^T x, dx += dgate wg + dup wu */
    ut_linear_backward_n(2, dx, dw, dgate_up, x, w, out_dims, N, D);
}

/* --- LoRA: a low-rank update beside a frozen linear layer ---------------------
   x (N, C), W (OC, C) frozen, A (r, C), B (OC, r), s = alpha / r:
       y  = x W^T + s (x A^T) B^T              the base's product is computed as
                                               always; this adds the second term
   Backward, with xa = x A^T (N, r) kept from the forward:
       dB += s dout^T xa                       (OC, r)
       dxa = s dout B                          (N, r)
       dA += dxa^T x                           (r, C)
       dx += dxa A                             (N, C)   (+ dout W, the base's part)
   Two thin products instead of one (OC, C) one: r (C + OC) numbers learn in
   place of C * OC. Each step is a call of the linear layer of section 4, so
   the numbers are as deterministic as the rest of the model.
   scratch: N * OC floats (forward), 2 N r (backward). */
void ut_lora_forward(ut_float *out, ut_float *xa, const ut_float *x, const ut_float *A, const ut_float *B,
                     ut_float s, int N, int C, int OC, int r, ut_float *scratch) {
    ut_matmul_forward(xa, x, A, N, C, r);              /* xa = x A^T      (N, r) */
    ut_matmul_forward(scratch, xa, B, N, r, OC);       /* xa B^T          (N, OC) */
    size_t n = (size_t)N * OC;
    for (size_t i = 0; i < n; i++) out[i] += s * scratch[i];
}
void ut_lora_backward(ut_float *dx, ut_float *dA, ut_float *dB, const ut_float *dout, const ut_float *x,
                      const ut_float *xa, const ut_float *A, const ut_float *B, ut_float s, int N, int C, int OC,
                      int r, ut_float *scratch) {
    size_t n = (size_t)N * r;
    ut_float *sxa = scratch, *dxa = scratch + n;
    for (size_t i = 0; i < n; i++) sxa[i] = s * xa[i];
    ut_matmul_backward(NULL, dB, dout, sxa, B, N, r, OC);   /* dB += dout^T (s xa) */
    ut__zero(dxa, n);
    ut_matmul_backward(dxa, NULL, dout, sxa, B, N, r, OC);  /* dxa = dout B ... */
    for (size_t i = 0; i < n; i++) dxa[i] *= s;             /* ... times s */
    ut_matmul_backward(dx, dA, dxa, x, A, N, C, r);         /* dA += dxa^T x, dx += dxa A */
}

/* --- Mixture of Experts ------------------------------------------------------
   E SwiGLU experts; each token uses K of them. x (N, D) -> out (N, D).
     logits = x router^T                        (N, E)
     p = softmax(logits)                        over experts, per token
     top-k: the K largest p_e (a tie goes to the lower expert index)
     w_k = p_{e_k} / sum_j p_{e_j}              renormalised over the K chosen
     out_n = sum_k w_k * expert_{e_k}(x_n)
   Dropless: there is no capacity limit, every token reaches all K of its
   experts however unbalanced the routing. To run each expert as one matmul,
   the N*K (token, choice) pairs — "slots" — are sorted by expert: expert e owns
   slots [off[e], off[e+1]), gathered into contiguous rows, in token order.

   Load-balancing loss (Switch Transformer / Mixtral form):
     aux = E * sum_e f_e * P_e
     f_e = (slots routed to e) / (N*K)    fraction of assignments (no gradient)
     P_e = mean_n p[n, e]                 mean router probability (has gradient)
   With perfectly even routing f_e = P_e = 1/E and aux = 1, its minimum for
   a given f; collapse onto one expert gives aux -> E. (Hugging Face's Mixtral
   load_balancing_loss_func sums f over the K choices instead of averaging, so
   its value is K times ours.)
   Router z-loss (ST-MoE): z = mean_n logsumexp(logits_n)^2 keeps the router
   logits small so the softmax stays in a well-conditioned range.
   The router softmax runs in ut_float (float unless UT_DOUBLE).
   The experts themselves run as one "grouped" product per step: the
   products of all experts go to the threads together (ut__experts_forward
   and ut__experts_backward, appendix A.6) -- the same sums as calling
   ut_swiglu_forward on each expert's rows in turn. */

/* The K largest of p (E), larger first; ties -> lower index. */
static void ut__topk(const ut_float *p, int E, int K, int *idx, ut_float *w) {
    ut_float sum = 0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= idx[j] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        idx[k] = best;
        sum += p[best];
    }
    for (int k = 0; k < K; k++) w[k] = p[idx[k]] / sum;
}

size_t ut_moe_scratch_floats(int N, int D, int F, int E, int K) {
    size_t NK = (size_t)N * K;
    return 2 * NK * D + 2 * NK * F + (size_t)N * E + NK;
}

void ut_moe_forward(ut_float *out, ut_float *aux, ut_float *z, ut_moe_state *s, const ut_float *x,
                    const ut_float *router, const ut_float *wg, const ut_float *wu,
                    const ut_float *wd, int N, int D, int F, int E, int K) {
    /* 1. route: probabilities, logsumexp, top-k */
    ut_matmul_forward(s->probs, x, router, N, D, E);
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        s->lse[n] = ut__softmax_row(s->probs + (size_t)n * E, E);
        ut__topk(s->probs + (size_t)n * E, E, K, s->topk_e + (size_t)n * K, s->topk_w + (size_t)n * K);
    }
    /* 2. sort the slots by expert (a counting sort, in token order) */
    for (int e = 0; e < E; e++) s->count[e] = 0;
    for (size_t i = 0; i < (size_t)N * K; i++) s->count[s->topk_e[i]]++;
    s->off[0] = 0;
    for (int e = 0; e < E; e++) s->off[e + 1] = s->off[e] + s->count[e];
    for (int e = 0; e < E; e++) s->count[e] = 0;    /* reused as fill pointers */
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            int e = s->topk_e[(size_t)n * K + k], slot = s->off[e] + s->count[e]++;
            s->slot_of[(size_t)n * K + k] = slot;
            s->slot_token[slot] = n;
        }
    /* 3. gather each slot's input row, run each expert on its rows */
    #pragma omp parallel for
    for (int i = 0; i < N * K; i++)
        memcpy(s->x + (size_t)i * D, x + (size_t)s->slot_token[i] * D, D * sizeof(ut_float));
    ut__experts_forward(s->out, s->gate, s->up, s->h, s->x, wg, wu, wd, s->off, E, D, F);
    /* 4. combine: out_n = sum_k w_k y_slot(n,k), added in k order */
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        ut_float *o = out + (size_t)n * D;
        for (int i = 0; i < D; i++) o[i] = 0;
        for (int k = 0; k < K; k++) {
            ut_float w = s->topk_w[(size_t)n * K + k];
            const ut_float *y = s->out + (size_t)s->slot_of[(size_t)n * K + k] * D;
            for (int i = 0; i < D; i++) o[i] += w * y[i];
        }
    }
    /* 5. auxiliary losses */
    double a = 0, zz = 0;
    for (int e = 0; e < E; e++) {
        double P = 0;
        for (int n = 0; n < N; n++) P += s->probs[(size_t)n * E + e];
        a += (double)(s->off[e + 1] - s->off[e]) / ((double)N * K) * (P / N);
    }
    for (int n = 0; n < N; n++) zz += (double)s->lse[n] * s->lse[n];
    for (int e = 0; e < E; e++) s->count[e] = s->off[e + 1] - s->off[e];
    *aux = (ut_float)(E * a);
    *z = (ut_float)(zz / N);
}

/* Backward of  L(out) + daux * aux + dz * z,  given dout = dL/dout.
   The chain rule runs through three paths:
     expert outputs: dy_slot = w_k dout_n, then each expert's SwiGLU backward;
     mixing weights: dw_k = dout_n . y_slot(n,k); through the renormalisation
       w_k = p_k / S:  dp_k = (dw_k - sum_j w_j dw_j) / S  for chosen k;
     the losses:   daux/dp[n,e] = E f_e / N,   dz/dlogit[n,e] = 2 lse_n p[n,e] / N;
   then softmax backward dlogit_e = p_e (dp_e - sum_e' p_e' dp_e') and the
   router matmul. The top-k choice itself is piecewise constant: no gradient.
   scratch: ut_moe_scratch_floats(N, D, F, E, K) floats. */
void ut_moe_backward(ut_float *dx, ut_float *drouter, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                     const ut_float *dout, float daux, float dz, const ut_moe_state *s,
                     const ut_float *x, const ut_float *router, const ut_float *wg,
                     const ut_float *wu, const ut_float *wd, ut_float *scratch,
                     int N, int D, int F, int E, int K) {
    size_t NK = (size_t)N * K;
    ut_float *dy = scratch, *dxs = dy + NK * D, *sw = dxs + NK * D;
    ut_float *dlogits = sw + 2 * NK * F, *dw = dlogits + (size_t)N * E;
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            size_t slot = s->slot_of[(size_t)n * K + k];
            ut_float w = s->topk_w[(size_t)n * K + k], d = 0;
            const ut_float *g = dout + (size_t)n * D, *y = s->out + slot * D;
            for (int i = 0; i < D; i++) { dy[slot * D + i] = w * g[i]; d += g[i] * y[i]; }
            dw[(size_t)n * K + k] = d;
        }
    ut__zero(dxs, NK * D);
    ut__experts_backward(dxs, dwg, dwu, dwd, dy, s->gate, s->up, s->h, s->x, wg, wu, wd, sw,
                         s->off, E, D, F);
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        ut_float *d = dx + (size_t)n * D;
        for (int k = 0; k < K; k++) {     /* scatter back: the K slots of token n */
            const ut_float *g = dxs + (size_t)s->slot_of[(size_t)n * K + k] * D;
            for (int i = 0; i < D; i++) d[i] += g[i];
        }
        const ut_float *p = s->probs + (size_t)n * E;
        const ut_float *w = s->topk_w + (size_t)n * K, *dwn = dw + (size_t)n * K;
        const int *te = s->topk_e + (size_t)n * K;
        ut_float *dl = dlogits + (size_t)n * E;
        ut_float S = 0, wdw = 0, pdp = 0;
        for (int k = 0; k < K; k++) { S += p[te[k]]; wdw += w[k] * dwn[k]; }
        for (int e = 0; e < E; e++)       /* dp from the aux loss */
            dl[e] = daux * (ut_float)E * ((ut_float)s->count[e] / (ut_float)NK) / (ut_float)N;
        for (int k = 0; k < K; k++) dl[te[k]] += (dwn[k] - wdw) / S;
        for (int e = 0; e < E; e++) pdp += p[e] * dl[e];
        for (int e = 0; e < E; e++)       /* softmax backward, then the z-loss */
            dl[e] = p[e] * (dl[e] - pdp) + dz * 2 * s->lse[n] * p[e] / N;
    }
    ut_matmul_backward(dx, drouter, dlogits, x, router, N, D, E);
}

/* --- Softmax cross-entropy -----------------------------------------------------
   logits (N, V), targets (N) -> probs (N, V), loss = mean over rows with a
   target >= 0 of  -log softmax(logits)[target] = logsumexp(logits) - logit[target].
   probs may be the same buffer as logits (computed in place).
   Backward: dlogits = scale * (probs - onehot(target)) / n_targets, written
   (not added): it is the first gradient of the chain. */
double ut_crossentropy_forward(ut_float *probs, const ut_float *logits, const int *targets, int N, int V) {
    double *row_loss = (double *)malloc((size_t)N * sizeof(double));
    if (!row_loss) return NAN;
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const ut_float *l = logits + (size_t)n * V;
        ut_float *p = probs + (size_t)n * V;
        ut_float lt = targets && targets[n] >= 0 ? l[targets[n]] : 0;
        if (p != l) memcpy(p, l, V * sizeof(ut_float));
        ut_float lse = ut__softmax_row(p, V);
        row_loss[n] = targets && targets[n] >= 0 ? (double)lse - lt : 0;
    }
    double sum = 0;  /* summed in row order, so the loss never depends on threads */
    int count = 0;
    for (int n = 0; n < N; n++) { sum += row_loss[n]; count += targets && targets[n] >= 0; }
    free(row_loss);
    return count ? sum / count : 0.0;
}
void ut_crossentropy_backward(ut_float *dlogits, const ut_float *probs, const int *targets,
                              int N, int V, float scale) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    ut_float s = count ? (ut_float)scale / count : 0;
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        ut_float *d = dlogits + (size_t)n * V;
        const ut_float *p = probs + (size_t)n * V;
        if (targets[n] < 0) { memset(d, 0, V * sizeof(ut_float)); continue; }
        for (int i = 0; i < V; i++) d[i] = s * p[i];
        d[targets[n]] -= s;
    }
}

/* ===========================================================================
   6. MODEL
   tokens -> embedding -> L x block -> rmsnorm -> LM head -> logits -> cross-entropy

   one block (layer l), on x (N, D), its weights by name (ut_layer):
       xn  = rmsnorm(x) * attn_norm
       q, k, v = xn wq^T, xn wk^T, xn wv^T;  RoPE on q and k
       mid = x + attention(q, k, v) wo^T
       xn2 = rmsnorm(mid) * ffn_norm
       out = mid + ffn(xn2)          ffn: a SwiGLU MLP (E = 1) or a
                                     Mixture of Experts (E > 1)
   Every activation the backward pass needs is kept (ut_layer_acts), unless
   m->recompute is set: then only each layer's input is kept, and the
   backward pass runs the layer's forward again just before its backward
   (activation checkpointing: memory of one layer instead of L, for one more
   forward pass per step).
   ======================================================================== */

static void ut__point_tensors(ut_float *base, const size_t sizes[UT_NUM_TENSORS],
                              ut_float *ptrs[UT_NUM_TENSORS]) {
    for (int i = 0; i < UT_NUM_TENSORS; i++) { ptrs[i] = base; base += sizes[i]; }
}

/* Standard init (GPT-2 style): every matrix ~ N(0, 0.02^2), except the two
   projections that write into the residual stream (W_o, W_down), which are
   scaled by 1/sqrt(2L) so the stream's variance does not grow with depth;
   RMSNorm weights start at 1. With this the initial logits are small and the
   loss starts near ln(V), the loss of a uniform guess. */
int ut_model_init(ut_model *m, const ut_config *c, uint64_t seed) {
    memset(m, 0, sizeof *m);
    if (ut_config_validate(c)) return -1;
    m->cfg = *c;
    ut_param_sizes(c, m->sizes);
    m->n_params = ut_num_params(c);
    size_t n = m->n_params, half = c->head_dim / 2;
    m->params = (ut_float *)ut__calloc(n, sizeof(ut_float));
    m->grads = (ut_float *)ut__calloc(n, sizeof(ut_float));
    m->adam_m = (ut_float *)ut__calloc(n, sizeof(ut_float));
    m->adam_v = (ut_float *)ut__calloc(n, sizeof(ut_float));
    m->rope_cos = (ut_float *)ut__calloc((size_t)c->max_seq_len * half, sizeof(ut_float));
    m->rope_sin = (ut_float *)ut__calloc((size_t)c->max_seq_len * half, sizeof(ut_float));
    m->expert_count = (int *)ut__calloc((size_t)c->n_layers * c->n_experts, sizeof(int));
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->rope_cos || !m->rope_sin ||
        !m->expert_count) {
        ut_model_free(m);
        return ut__fail("out of memory for a model of %zu parameters", n);
    }
    ut__point_tensors(m->params, m->sizes, m->p);
    ut__point_tensors(m->grads, m->sizes, m->g);
    ut_rope_tables(m->rope_cos, m->rope_sin, c->max_seq_len, c->head_dim, c->rope_theta);
    uint64_t init_rng = ut_rng_seed(seed);
    double resid_std = 0.02 / sqrt(2.0 * c->n_layers);
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        int is_norm = t == UT_ATTN_NORM || t == UT_FFN_NORM || t == UT_FINAL_NORM;
        double std = (t == UT_WO || t == UT_W_DOWN) ? resid_std : 0.02;
        for (size_t i = 0; i < m->sizes[t]; i++)
            m->p[t][i] = is_norm ? (ut_float)1 : (ut_float)(std * ut_rng_normal(&init_rng));
    }
    return 0;
}

void ut_model_free(ut_model *m) {
    for (int t = 0; t < UT_NUM_TENSORS; t++) ut_qmatrix_free(&m->qw[t]);
    free(m->qscratch);
    free(m->params); free(m->grads); free(m->adam_m); free(m->adam_v);
    free(m->rope_cos); free(m->rope_sin); free(m->expert_count);
    free(m->acts_mem); free(m->inputs); free(m->targets);
    memset(m, 0, sizeof *m);
}

void ut_model_freeze(ut_model *m) {
    free(m->grads); free(m->adam_m); free(m->adam_v);
    m->grads = m->adam_m = m->adam_v = NULL;
    memset(m->g, 0, sizeof m->g);
}

/* The row length C of each weight matrix (0: a norm or the router, never
   quantized), and its rows in one layer (one expert of a MoE layer). */
static int ut__matrix_cols(const ut_config *c, int t) {
    int D = c->d_model;
    switch (t) {
    case UT_TOK_EMB: case UT_LM_HEAD: case UT_WQ: case UT_WK: case UT_WV: case UT_W_GATE: case UT_W_UP: return D;
    case UT_WO: return c->n_heads * c->head_dim;
    case UT_W_DOWN: return c->ffn_hidden;
    default: return 0;
    }
}
static int ut__matrix_rows(const ut_config *c, int t) {
    switch (t) {
    case UT_TOK_EMB: case UT_LM_HEAD: return c->vocab_size;
    case UT_WQ: return c->n_heads * c->head_dim;
    case UT_WK: case UT_WV: return c->n_kv_heads * c->head_dim;
    case UT_WO: case UT_W_DOWN: return c->d_model;
    case UT_W_GATE: case UT_W_UP: return c->ffn_hidden;
    default: return 0;
    }
}

/* Quantization of the model: each chosen tensor becomes one ut_qmatrix (a
   row never crosses a layer or an expert, so quantizing the (L*OC, C)
   whole is quantizing every layer's matrix on its own), then the f32
   numbers that remain (norms, router, whatever was not chosen) move to a
   smaller parameter buffer and the old one is freed: the memory really
   drops. Deterministic: the same f32 weights always give the same integers,
   so a resumed QLoRA run rebuilds exactly the base it trained against. */
int ut_model_quantize(ut_model *m, int bits, int group, unsigned tensors) {
    const ut_config *c = &m->cfg;
    if (m->qbits) return ut__fail("the model is quantized already");
    if (bits != 8 && bits != 4) return ut__fail("quantization to %d bits: 8 or 4", bits);
    if (group < 1) return ut__fail("quantization group %d: must be >= 1", group);
    if ((tensors & UT_QBASE) != UT_QBASE || (tensors & ~UT_QALL))   /* the block quantizes all its matrices or none */
        return ut__fail("quantize: tensors 0x%x must hold every block matrix (UT_QBASE), optionally the embedding and LM head", tensors);
    size_t keep = 0, scratch = 0;
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        int C = ut__matrix_cols(c, t);
        if (!((tensors >> t) & 1u) || !C || !m->sizes[t]) { keep += m->sizes[t]; continue; }
        if (ut_quantize(&m->qw[t], m->p[t], (int)(m->sizes[t] / (size_t)C), C, bits, group)) goto fail;
        size_t one = (size_t)ut__matrix_rows(c, t) * C;   /* one layer's (one expert's) matrix */
        if (t == UT_W_GATE || t == UT_W_UP || t == UT_W_DOWN) one *= (size_t)(c->n_experts > 1 ? 3 * c->n_experts : 1);
        if (one > scratch) scratch = one;
    }
    m->qscratch = (ut_float *)ut__calloc(scratch ? scratch : 1, sizeof(ut_float));
    m->qscratch_n = scratch;
    ut_float *kept = (ut_float *)ut__calloc(keep ? keep : 1, sizeof(ut_float)), *at = kept;
    if (!m->qscratch || !kept) { free(kept); ut__fail("out of memory quantizing the model"); goto fail; }
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        if (m->qw[t].q) { m->p[t] = NULL; continue; }
        memcpy(at, m->p[t], m->sizes[t] * sizeof(ut_float));
        m->p[t] = at;
        at += m->sizes[t];
    }
    free(m->params);
    m->params = kept;
    m->n_params = keep;   /* the f32 numbers left */
    ut_model_freeze(m);
    m->qbits = bits; m->qgroup = group; m->qtensors = tensors;
    return 0;
fail:
    for (int t = 0; t < UT_NUM_TENSORS; t++) ut_qmatrix_free(&m->qw[t]);
    free(m->qscratch);
    m->qscratch = NULL;
    m->qscratch_n = 0;
    return -1;
}
/* Layer l's matrix of tensor t (one layer's rows of qw[t]). */
static ut_qmatrix ut__qlayer(const ut_model *m, int t, int l) {
    int rows = m->qw[t].rows / m->cfg.n_layers;
    return ut_qrows(&m->qw[t], l * rows, rows);
}

/* (Re)allocates the activations and their gradients for a micro-batch (B, T):
   one allocation, carved into the buffers listed in ut__act_bufs, each
   starting on a 64-byte cache line. */
static int ut__ensure_acts(ut_model *m, int B, int T) {
    if (m->acts_mem && m->B == B && m->T == T && m->acts_recompute == m->recompute) return 0;
    free(m->acts_mem); free(m->inputs); free(m->targets);
    m->acts_mem = NULL; m->inputs = m->targets = NULL; m->B = m->T = 0;
    ut__buf bufs[48];
    int nb = ut__act_bufs(&m->cfg, &m->a, &m->d, B, T, m->recompute, bufs);
    size_t total = 0;
    for (int i = 0; i < nb; i++) total += (bufs[i].count * bufs[i].elem + 63) / 64 * 64;
    m->acts_mem = ut__calloc(total + 64, 1);
    m->inputs = (int *)ut__calloc((size_t)B * T, sizeof(int));
    m->targets = (int *)ut__calloc((size_t)B * T, sizeof(int));
    if (!m->acts_mem || !m->inputs || !m->targets)
        return ut__fail("out of memory for activations (B=%d, T=%d)", B, T);
    char *p = (char *)m->acts_mem + (64 - (uintptr_t)m->acts_mem % 64) % 64;
    for (int i = 0; i < nb; i++) {
        *bufs[i].ptr = p;
        p += (bufs[i].count * bufs[i].elem + 63) / 64 * 64;
    }
    size_t N = (size_t)B * T, QD = (size_t)m->cfg.n_heads * m->cfg.head_dim;
    size_t KD = (size_t)m->cfg.n_kv_heads * m->cfg.head_dim;
    m->d.dlogits = m->d.dq = m->d.ffn;   /* the shared buffer (ut_grad_acts) */
    m->d.dy = m->d.dq + N * QD; m->d.dk = m->d.dy + N * QD; m->d.dv = m->d.dk + N * KD;
    m->d.attn = m->d.dv + N * KD;
    m->B = B; m->T = T; m->acts_recompute = m->recompute;
    return 0;
}

/* Layer l's activations by name: pointers into the (L, ...) buffers of
   ut_acts. With recompute every layer uses the one slot (L = 0), except for
   its input x and output, which live in resid[l] and resid[l + 1]. */
static ut_layer_acts ut__layer_acts(ut_model *m, int l) {
    const ut_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, L = m->acts_recompute ? 0 : (size_t)l, D = c->d_model, F = c->ffn_hidden;
    size_t QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t E = c->n_experts, K = c->top_k, NK = N * K;
    ut_acts *a = &m->a;
    ut_layer_acts s;
    memset(&s, 0, sizeof s);
    s.x = a->resid + (size_t)l * N * D;
    s.attn_rstd = a->attn_rstd + L * N;
    s.attn_xn = a->attn_xn + L * N * D;
    s.q = a->q + L * N * QD;
    s.k = a->k + L * N * KD;
    s.v = a->v + L * N * KD;
    s.lse = a->attn_lse + L * N * c->n_heads;
    s.attn_y = a->attn_y + L * N * QD;
    s.mid = a->resid_mid + L * N * D;
    s.ffn_rstd = a->ffn_rstd + L * N;
    s.ffn_xn = a->ffn_xn + L * N * D;
    s.gate = a->ffn_gate + L * NK * F;
    s.up = a->ffn_up + L * NK * F;
    s.h = E > 1 ? a->ffn_h + L * NK * F : m->d.ffn + N * F;   /* dense: in the shared buffer, for the forward only */
    s.out = a->resid + ((size_t)l + 1) * N * D;
    s.moe.count = m->expert_count + L * E;
    if (E > 1) {
        s.moe.probs = a->router_probs + L * N * E;
        s.moe.lse = a->router_lse + L * N;
        s.moe.topk_w = a->topk_w + L * NK;
        s.moe.topk_e = a->topk_e + L * NK;
        s.moe.slot_of = a->slot_of + L * NK;
        s.moe.slot_token = a->slot_token + L * NK;
        s.moe.off = a->expert_off + L * (E + 1);
        s.moe.x = a->ffn_x + L * NK * D;
        s.moe.gate = s.gate; s.moe.up = s.up; s.moe.h = s.h;
        s.moe.out = a->ffn_out + L * NK * D;
    }
    return s;
}

/* LoRA inside the block (section 8b holds the adapter itself): one adapted
   product of layer l, target t, forward (out += s (x A^T) B^T) or backward
   (the adapter's gradients, dx += ...), with x A^T kept in lo->xa between
   them. Targets not in lo->targets are skipped. */
static int ut__lora_on(const ut_lora *lo, int t) { return (lo->targets >> t) & 1u; }
static int ut__lora_mlp(const ut_lora *lo) {
    return ut__lora_on(lo, UT_LORA_GATE) || ut__lora_on(lo, UT_LORA_UP) || ut__lora_on(lo, UT_LORA_DOWN);
}
static ut_float ut__lora_scale(const ut_lora *lo) { return (ut_float)(lo->alpha / (float)lo->rank); }
static ut_float *ut__lora_xa(const ut_lora *lo, int l, int t, int N) {
    return lo->xa + ((size_t)l * UT_LORA_NT + t) * N * lo->rank;
}
/* xa and the scratch for N rows */
static int ut__lora_reserve(ut_lora *lo, const ut_config *c, int N) {
    if (lo->N == N) return 0;
    size_t r = lo->rank, oc = c->d_model;
    for (int t = 0; t < UT_LORA_NT; t++) if ((size_t)lo->out[t] > oc) oc = lo->out[t];
    free(lo->xa); free(lo->work);
    lo->xa = (ut_float *)ut__calloc((size_t)lo->n_layers * UT_LORA_NT * N * r, sizeof(ut_float));
    lo->work = (ut_float *)ut__calloc((size_t)N * (oc + 2 * r), sizeof(ut_float));
    lo->N = lo->xa && lo->work ? N : 0;
    return lo->N ? 0 : ut__fail("out of memory for the LoRA activations (N=%d, r=%zu)", N, r);
}
static void ut__lora_product_forward(ut_lora *lo, int l, int t, ut_float *out, const ut_float *x, int N) {
    if (!lo || !ut__lora_on(lo, t)) return;
    ut_lora_forward(out, ut__lora_xa(lo, l, t, N), x, ut_lora_a(lo, lo->params, l, t), ut_lora_b(lo, lo->params, l, t),
                    ut__lora_scale(lo), N, lo->in[t], lo->out[t], lo->rank, lo->work);
}
static void ut__lora_product_backward(ut_lora *lo, int l, int t, ut_float *dx, const ut_float *dout,
                                      const ut_float *x, int N) {
    if (!lo || !ut__lora_on(lo, t)) return;
    ut_lora_backward(dx, ut_lora_a(lo, lo->grads, l, t), ut_lora_b(lo, lo->grads, l, t), dout, x,
                     ut__lora_xa(lo, l, t, N), ut_lora_a(lo, lo->params, l, t), ut_lora_b(lo, lo->params, l, t),
                     ut__lora_scale(lo), N, lo->in[t], lo->out[t], lo->rank, lo->work);
}
/* The base's products inside the block: out[i] = x W_i^T for n matrices of
   layer l that read the same x (N, C), and their backward dx += sum_i
   dout[i] W_i (with dW_i += dout[i]^T x where dw[i] is not NULL). f32
   weights w[i]: the grouped product of section 4. A quantized model
   (m->qbits, QLoRA or --dtype): tensor[i]'s integers, through the
   quantized linear layer of section 11b; a quantized weight is frozen and
   gets no gradient. */
static void ut__base_forward(const ut_model *m, int l, int n, const int tensor[], ut_float *const out[],
                             const ut_float *x, const ut_float *const w[], const int OC[], int N, int C) {
    if (!m->qbits) { ut_linear_forward_n(n, out, x, w, OC, N, C); return; }
    for (int i = 0; i < n; i++) {
        ut_qmatrix q = ut__qlayer(m, tensor[i], l);
        ut_qmatmul_forward(out[i], x, &q, N, m->qscratch);
    }
}
static void ut__base_backward(const ut_model *m, int l, int n, const int tensor[], ut_float *dx,
                              ut_float *const dw[], const ut_float *const dout[], const ut_float *x,
                              const ut_float *const w[], const int OC[], int N, int C) {
    if (!m->qbits) { ut_linear_backward_n(n, dx, dw, dout, x, w, OC, N, C); return; }
    for (int i = 0; i < n; i++) {   /* dx += dout[0] W_0 + dout[1] W_1 + ..., in that order */
        ut_qmatrix q = ut__qlayer(m, tensor[i], l);
        ut_qmatmul_backward(dx, dout[i], &q, N, m->qscratch);
    }
}
/* A quantized MoE layer's experts, dequantized together into the scratch
   (the grouped expert products of appendix A.6 want all E of them): the f32
   weights of layer l's experts for ut_moe_forward and ut_moe_backward. */
static void ut__experts_dequantize(const ut_model *m, int l, ut_layer *w) {
    const ut_config *c = &m->cfg;
    size_t EFD = (size_t)c->n_experts * c->ffn_hidden * c->d_model;
    ut_qmatrix g = ut__qlayer(m, UT_W_GATE, l), u = ut__qlayer(m, UT_W_UP, l), d = ut__qlayer(m, UT_W_DOWN, l);
    ut_dequantize(m->qscratch, &g);
    ut_dequantize(m->qscratch + EFD, &u);
    ut_dequantize(m->qscratch + 2 * EFD, &d);
    w->w_gate = m->qscratch; w->w_up = m->qscratch + EFD; w->w_down = m->qscratch + 2 * EFD;
}

/* ut_swiglu_backward step by step with the adapters of gate, up and down
   (any of them, or none: a quantized base) and no weight gradients:
   dresid (N, D) -> dxn (N, D) added to. */
static void ut__lora_swiglu_backward(ut_model *m, int l, const ut_layer_acts *s, ut_layer w, int N) {
    ut_lora *lo = m->lora;
    ut_grad_acts *d = &m->d;
    int D = m->cfg.d_model, F = m->cfg.ffn_hidden;
    size_t NF = (size_t)N * F;
    ut_float *dh = d->ffn, *dup = d->ffn + NF;
    ut_float *no_dw[2] = {NULL, NULL};
    const int t_down[1] = {UT_W_DOWN}, t_gu[2] = {UT_W_GATE, UT_W_UP};
    ut_silu_mul_forward(dup, s->gate, s->up, NF);                       /* h again, as the forward made it */
    ut__zero(dh, NF);
    const ut_float *dres[1] = {d->dresid}, *w_d[1] = {w.w_down};
    ut__base_backward(m, l, 1, t_down, dh, no_dw, dres, dup, w_d, &D, N, F);   /* dh = dout wd */
    ut__lora_product_backward(lo, l, UT_LORA_DOWN, dh, d->dresid, dup, N);
    ut_silu_mul_backward(dh, dup, dh, s->gate, s->up, NF);              /* dgate (over dh), dup (over h) */
    const ut_float *dgate_up[2] = {dh, dup}, *w_gu[2] = {w.w_gate, w.w_up};
    const int f_dims[2] = {F, F};
    ut__base_backward(m, l, 2, t_gu, d->dxn, no_dw, dgate_up, s->ffn_xn, w_gu, f_dims, N, D);
    ut__lora_product_backward(lo, l, UT_LORA_GATE, d->dxn, dh, s->ffn_xn, N);
    ut__lora_product_backward(lo, l, UT_LORA_UP, d->dxn, dup, s->ffn_xn, N);
}

/* One block, forward: the diagram above for layer l. Training runs it on B
   sequences of T tokens (kv = NULL); generating text runs it on the one new
   token (B = T = 1) at position kv->pos, whose key and value go into the
   cache and whose query attends to all cached positions (section 11). Adds
   the layer's MoE losses to *aux and *z. */
static void ut__block_forward(const ut_model *m, int l, ut_layer_acts *s, int B, int T,
                              ut_kv_cache *kv, double *aux, double *z) {
    const ut_config *c = &m->cfg;
    int N = B * T, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads, HD = c->head_dim;
    int F = c->ffn_hidden, E = c->n_experts, K = c->top_k, QD = H * HD, KD = KVH * HD;
    int pos = kv ? kv->pos : 0, S = c->max_seq_len;
    ut_layer w = ut_layer_weights(m->p, c, l);
    if (kv) {   /* the new key and value are written straight into the cache */
        s->k = kv->k + ((size_t)l * S + pos) * KD;
        s->v = kv->v + ((size_t)l * S + pos) * KD;
    }
    /* attention: mid = x + attention(q, k, v) wo^T */
    ut_rmsnorm_forward(s->attn_xn, s->attn_rstd, s->x, w.attn_norm, N, D, c->norm_eps);
    ut_float *qkv[3] = {s->q, s->k, s->v};
    const ut_float *w_qkv[3] = {w.wq, w.wk, w.wv};
    const int qkv_dims[3] = {QD, KD, KD}, t_qkv[3] = {UT_WQ, UT_WK, UT_WV}, t_o[1] = {UT_WO};
    ut__base_forward(m, l, 3, t_qkv, qkv, s->attn_xn, w_qkv, qkv_dims, N, D);   /* q, k, v = xn W^T */
    ut_lora *lo = kv ? NULL : m->lora;   /* the adapter's products (LoRA): training and evaluation */
    for (int t = UT_LORA_Q; lo && t <= UT_LORA_V; t++) ut__lora_product_forward(lo, l, t, qkv[t], s->attn_xn, N);
    ut_rope_forward(s->q, m->rope_cos, m->rope_sin, B, T, H, HD, pos);
    ut_rope_forward(s->k, m->rope_cos, m->rope_sin, B, T, KVH, HD, pos);
    if (kv)
        ut_attention_step(s->attn_y, kv->scores, s->q, kv->k + (size_t)l * S * KD,
                          kv->v + (size_t)l * S * KD, pos, H, KVH, HD, c->sliding_window);
    else
        ut_attention_forward(s->attn_y, s->lse, s->q, s->k, s->v, B, T, H, KVH, HD,
                             c->sliding_window, m->d.attn);
    const ut_float *w_o[1] = {w.wo};
    ut__base_forward(m, l, 1, t_o, &s->mid, s->attn_y, w_o, &D, N, QD);   /* attention(...) wo^T */
    ut__lora_product_forward(lo, l, UT_LORA_O, s->mid, s->attn_y, N);
    ut__add(s->mid, s->x, (size_t)N * D);
    /* feed-forward: out = mid + ffn(rmsnorm(mid)) */
    ut_rmsnorm_forward(s->ffn_xn, s->ffn_rstd, s->mid, w.ffn_norm, N, D, c->norm_eps);
    if (E == 1 && ((lo && ut__lora_mlp(lo)) || m->qbits)) {
        /* ut_swiglu_forward step by step, the adapter's products beside the
           MLP's (or the products of a quantized base) */
        ut_float *gate_up[2] = {s->gate, s->up};
        const ut_float *w_gu[2] = {w.w_gate, w.w_up}, *w_d[1] = {w.w_down};
        const int f_dims[2] = {F, F}, t_gu[2] = {UT_W_GATE, UT_W_UP}, t_d[1] = {UT_W_DOWN};
        ut__base_forward(m, l, 2, t_gu, gate_up, s->ffn_xn, w_gu, f_dims, N, D);
        ut__lora_product_forward(lo, l, UT_LORA_GATE, s->gate, s->ffn_xn, N);
        ut__lora_product_forward(lo, l, UT_LORA_UP, s->up, s->ffn_xn, N);
        ut_silu_mul_forward(s->h, s->gate, s->up, (size_t)N * F);
        ut__base_forward(m, l, 1, t_d, &s->out, s->h, w_d, &D, N, F);
        ut__lora_product_forward(lo, l, UT_LORA_DOWN, s->out, s->h, N);
        s->moe.count[0] = N;
    } else if (E == 1) {
        ut_swiglu_forward(s->out, s->gate, s->up, s->h, s->ffn_xn, w.w_gate, w.w_up, w.w_down, N, D, F);
        s->moe.count[0] = N;
    } else {
        ut_float la, lz;
        if (m->qbits) ut__experts_dequantize(m, l, &w);
        ut_moe_forward(s->out, &la, &lz, &s->moe, s->ffn_xn, w.router, w.w_gate, w.w_up, w.w_down,
                       N, D, F, E, K);
        *aux += la; *z += lz;
    }
    ut__add(s->out, s->mid, (size_t)N * D);
}

/* The embedding and the LM head, f32 or quantized (UT_QALL): a token's row
   of a quantized embedding is dequantized; the head is a linear layer. */
static void ut__embed(const ut_model *m, ut_float *out, const int *tokens, int N) {
    int D = m->cfg.d_model;
    if (!m->qw[UT_TOK_EMB].q) { ut_embedding_forward(out, tokens, m->p[UT_TOK_EMB], N, D); return; }
    for (int n = 0; n < N; n++) {
        ut_qmatrix row = ut_qrows(&m->qw[UT_TOK_EMB], tokens[n], 1);
        ut_dequantize(out + (size_t)n * D, &row);
    }
}
static int ut__head_tensor(const ut_model *m) { return m->cfg.tie_embeddings ? UT_TOK_EMB : UT_LM_HEAD; }
static void ut__head_forward(const ut_model *m, ut_float *logits, const ut_float *xn, int N) {
    int t = ut__head_tensor(m);
    if (m->qw[t].q) ut_qmatmul_forward(logits, xn, &m->qw[t], N, m->qscratch);
    else ut_matmul_forward(logits, xn, m->p[t], N, m->cfg.d_model, m->cfg.vocab_size);
}

double ut_model_forward(ut_model *m, const int *inputs, const int *targets, int B, int T) {
    const ut_config *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->max_seq_len)
        return ut__fail("batch shape B=%d T=%d is invalid (T must be in [1, %d])", B, T, c->max_seq_len);
    size_t N = (size_t)B * T;
    for (size_t i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->vocab_size)
            return ut__fail("token %d at position %zu is outside the vocabulary [0, %d)", inputs[i], i, c->vocab_size);
        if (targets && (targets[i] < -1 || targets[i] >= c->vocab_size))
            return ut__fail("target %d at position %zu is outside the vocabulary [0, %d)", targets[i], i, c->vocab_size);
    }
    if (ut__ensure_acts(m, B, T)) return -1;
    if (m->lora && ut__lora_reserve(m->lora, &m->cfg, (int)N)) return -1;
    memcpy(m->inputs, inputs, N * sizeof(int));
    if (targets) memcpy(m->targets, targets, N * sizeof(int));
    else for (size_t i = 0; i < N; i++) m->targets[i] = -1;

    int L = c->n_layers, D = c->d_model, E = c->n_experts, V = c->vocab_size;
    ut_acts *a = &m->a;
    double aux = 0, z = 0;
    ut__embed(m, a->resid, inputs, (int)N);
    for (int l = 0; l < L; l++) {
        ut_layer_acts s = ut__layer_acts(m, l);
        ut__block_forward(m, l, &s, B, T, NULL, &aux, &z);
    }
    ut_rmsnorm_forward(a->final_xn, a->final_rstd, a->resid + (size_t)L * N * D, m->p[UT_FINAL_NORM],
                       (int)N, D, c->norm_eps);
    ut__head_forward(m, a->probs, a->final_xn, (int)N);
    m->loss = ut_crossentropy_forward(a->probs, a->probs, m->targets, (int)N, V);
    m->aux_loss = E > 1 ? aux / L : 0.0;
    m->z_loss = E > 1 ? z / L : 0.0;
    return m->loss;
}

void ut_model_zero_grad(ut_model *m) { ut__zero(m->grads, m->n_params); }

/* The forward pass read backwards. dresid carries dL/dx of the residual
   stream: each block ADDS its input gradient to it, which is exactly the
   chain rule for x_out = x + f(x) (the identity path passes dresid through).
   w names a layer's weights, g the same tensors' gradients. */
void ut_model_backward(ut_model *m, float scale) {
    const ut_config *c = &m->cfg;
    int B = m->B, T = m->T, L = c->n_layers, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads;
    int HD = c->head_dim, F = c->ffn_hidden, E = c->n_experts, K = c->top_k, V = c->vocab_size;
    int QD = H * HD, KD = KVH * HD, N = B * T;
    ut_acts *a = &m->a;
    ut_grad_acts *d = &m->d;
    const int qkv_dims[3] = {QD, KD, KD};

    /* loss -> logits -> final norm */
    ut_crossentropy_backward(d->dlogits, a->probs, m->targets, N, V, scale);
    int tied = c->tie_embeddings;
    /* LoRA: the base is frozen, so every weight gradient below is NULL (not
       computed; g's pointers are all NULL) and only the adapters learn */
    ut_lora *lo = m->lora;
    ut__zero(d->dxn, (size_t)N * D);
    if (m->qw[ut__head_tensor(m)].q)   /* a quantized head: dxn = dlogits W, no weight gradient */
        ut_qmatmul_backward(d->dxn, d->dlogits, &m->qw[ut__head_tensor(m)], N, m->qscratch);
    else
        ut_matmul_backward(d->dxn, lo ? NULL : tied ? m->g[UT_TOK_EMB] : m->g[UT_LM_HEAD], d->dlogits, a->final_xn,
                           tied ? m->p[UT_TOK_EMB] : m->p[UT_LM_HEAD], N, D, V);
    ut__zero(d->dresid, (size_t)N * D);
    ut_rmsnorm_backward(d->dresid, lo ? NULL : m->g[UT_FINAL_NORM], d->dxn, a->resid + (size_t)L * N * D,
                        m->p[UT_FINAL_NORM], a->final_rstd, N, D);
    float daux = scale * c->aux_loss_coef / L, dz = scale * c->z_loss_coef / L;
    for (int l = L - 1; l >= 0; l--) {
        ut_layer w = ut_layer_weights(m->p, c, l), g;
        if (lo) memset(&g, 0, sizeof g);
        else g = ut_layer_weights(m->g, c, l);
        ut_layer_acts s = ut__layer_acts(m, l);
        if (m->acts_recompute && l < L - 1) {
            /* activation checkpointing: the slot holds the last layer's
               activations; run layer l's forward again from its input,
               resid[l], which gives the very same numbers (same code, same
               inputs, deterministic). Its output resid[l + 1] is rewritten
               with the same values, its losses are not needed again. */
            double aux_again = 0, z_again = 0;
            ut__block_forward(m, l, &s, B, T, NULL, &aux_again, &z_again);
        }
        /* feed-forward: dresid (= dL/dout) flows into dmid both directly and
           through the MLP and its norm */
        ut__zero(d->dxn, (size_t)N * D);
        if (E == 1 && ((lo && ut__lora_mlp(lo)) || m->qbits))
            ut__lora_swiglu_backward(m, l, &s, w, N);
        else if (E == 1)
            ut_swiglu_backward(d->dxn, g.w_gate, g.w_up, g.w_down, d->dresid, s.gate, s.up, NULL, s.ffn_xn,
                               w.w_gate, w.w_up, w.w_down, d->ffn, N, D, F);
        else if (m->qbits) {
            ut__experts_dequantize(m, l, &w);   /* the frozen experts, f32 for this layer only */
            ut_moe_backward(d->dxn, g.router, NULL, NULL, NULL, d->dresid, daux, dz, &s.moe,
                            s.ffn_xn, w.router, w.w_gate, w.w_up, w.w_down, d->ffn, N, D, F, E, K);
        } else
            ut_moe_backward(d->dxn, g.router, g.w_gate, g.w_up, g.w_down, d->dresid, daux, dz, &s.moe,
                            s.ffn_xn, w.router, w.w_gate, w.w_up, w.w_down, d->ffn, N, D, F, E, K);
        ut_rmsnorm_backward(d->dresid, g.ffn_norm, d->dxn, s.mid, w.ffn_norm, s.ffn_rstd, N, D);
        /* attention: dresid now holds dL/dmid */
        ut__zero(d->dq, (size_t)N * (2 * QD + 2 * KD));   /* dq, dy, dk, dv: one buffer */
        ut_float *dw_o[1] = {g.wo};
        const ut_float *d_o[1] = {d->dresid}, *w_o[1] = {w.wo};
        const int t_o[1] = {UT_WO}, t_qkv[3] = {UT_WQ, UT_WK, UT_WV};
        ut__base_backward(m, l, 1, t_o, d->dy, dw_o, d_o, s.attn_y, w_o, &D, N, QD);   /* dy = dmid wo */
        ut__lora_product_backward(lo, l, UT_LORA_O, d->dy, d->dresid, s.attn_y, N);
        ut_attention_backward(d->dq, d->dk, d->dv, d->dy, s.attn_y, s.lse, s.q, s.k, s.v, B, T, H, KVH, HD,
                              c->sliding_window, d->attn);
        ut_rope_backward(d->dq, m->rope_cos, m->rope_sin, B, T, H, HD, 0);
        ut_rope_backward(d->dk, m->rope_cos, m->rope_sin, B, T, KVH, HD, 0);
        ut__zero(d->dxn, (size_t)N * D);
        ut_float *dw_qkv[3] = {g.wq, g.wk, g.wv};
        const ut_float *d_qkv[3] = {d->dq, d->dk, d->dv}, *w_qkv[3] = {w.wq, w.wk, w.wv};
        /* dwq += dq^T xn, dwk += dk^T xn, dwv += dv^T xn;  dxn += dq wq + dk wk + dv wv */
        ut__base_backward(m, l, 3, t_qkv, d->dxn, dw_qkv, d_qkv, s.attn_xn, w_qkv, qkv_dims, N, D);
        for (int t = UT_LORA_Q; lo && t <= UT_LORA_V; t++)
            ut__lora_product_backward(lo, l, t, d->dxn, d_qkv[t], s.attn_xn, N);
        ut_rmsnorm_backward(d->dresid, g.attn_norm, d->dxn, s.x, w.attn_norm, s.attn_rstd, N, D);
    }
    if (!lo) ut_embedding_backward(m->g[UT_TOK_EMB], d->dresid, m->inputs, N, D);
}

/* ===========================================================================
   7. OPTIMIZER
   ======================================================================== */

/* Global L2 norm of the gradient: sqrt(sum of all squares). Summed in fixed
   chunks of UT_NORM_CHUNK numbers (parallel) whose partial sums are added in
   chunk order, so the result is the same for any number of threads. The same
   chunks let a trainer that holds only a slice of the gradient (ZeRO-1, whose
   slices start at multiples of UT_NORM_CHUNK) get the very same number:
   each process sums its own chunks, they exchange the partial sums, and every
   process adds all of them in chunk order. */
void ut_sum_squares_chunks(const ut_float *x, size_t n, double *part) {
    size_t nc = (n + UT_NORM_CHUNK - 1) / UT_NORM_CHUNK;
    #pragma omp parallel for
    for (size_t c = 0; c < nc; c++) {
        double s = 0;
        size_t end = (c + 1) * UT_NORM_CHUNK < n ? (c + 1) * UT_NORM_CHUNK : n;
        for (size_t i = c * UT_NORM_CHUNK; i < end; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
}
/* The norm of any n numbers (the model's gradient, a LoRA adapter's). */
static double ut__norm(const ut_float *g, size_t n) {
    size_t nc = (n + UT_NORM_CHUNK - 1) / UT_NORM_CHUNK;
    double *part = (double *)calloc(nc ? nc : 1, sizeof(double)), total = 0;
    if (!part) return NAN;
    ut_sum_squares_chunks(g, n, part);
    for (size_t c = 0; c < nc; c++) total += part[c];
    free(part);
    return sqrt(total);
}
double ut_grad_norm(const ut_model *m) { return ut__norm(m->grads, m->n_params); }

/* Learning rate at step s (0-based): linear warmup from lr/warmup to lr over
   the first warmup steps, then cosine decay from lr to min_lr at the last step
   of the schedule (decay_steps, or total_steps when it is 0); after it, min_lr. */
float ut_lr_at(const ut_train_config *t, int s) {
    if (s < t->warmup_steps) return t->lr * (float)(s + 1) / (float)t->warmup_steps;
    int decay = (t->decay_steps > 0 ? t->decay_steps : t->total_steps) - t->warmup_steps;
    double progress = decay > 1 ? (double)(s - t->warmup_steps) / (decay - 1) : 1.0;
    if (progress > 1) progress = 1;
    return (float)(t->min_lr + 0.5 * (t->lr - t->min_lr) * (1.0 + cos(3.141592653589793 * progress)));
}

/* AdamW (Loshchilov & Hutter), written as PyTorch's torch.optim.AdamW does it:
     g = grad * clip_scale                  clip_scale = min(1, grad_clip / ||grad||)
     m = b1 m + (1 - b1) g                  first moment
     v = b2 v + (1 - b2) g^2                second moment
     p = p * (1 - lr wd)                    decoupled weight decay (matrices only)
     p = p - lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
   Weight decay pulls matrices toward 0; it is not applied to the RMSNorm
   weights, which are scales around 1 (the model has no biases). */
static ut_float ut__clip_scale(const ut_train_config *t, double norm) {
    return t->grad_clip > 0 && norm > t->grad_clip ? (ut_float)(t->grad_clip / norm) : 1;
}
/* The update of n numbers p with gradients g and moments mm, vv (the
   formulas above); decay: apply weight decay. */
static void ut__adamw(ut_float *p, const ut_float *g, ut_float *mm, ut_float *vv, size_t n, const ut_train_config *t,
                      float lr, int step_t, ut_float clip, int decay) {
    double bc1 = 1.0 - pow(t->beta1, step_t), bc2 = 1.0 - pow(t->beta2, step_t);
    ut_float step_size = (ut_float)(lr / bc1), bc2_sqrt = (ut_float)sqrt(bc2);
    ut_float b1 = t->beta1, b2 = t->beta2, eps = t->eps;
    ut_float keep = decay ? (ut_float)(1.0 - (double)lr * t->weight_decay) : 1;
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        ut_float gi = g[i] * clip;
        mm[i] = b1 * mm[i] + (1 - b1) * gi;
        vv[i] = b2 * vv[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * keep - step_size * mm[i] / (ut__sqrt(vv[i]) / bc2_sqrt + eps);
    }
}
double ut_adamw_step(ut_model *m, const ut_train_config *t, float lr, int step_t) {
    double norm = ut_grad_norm(m);
    ut_adamw_update(m, t, lr, step_t, ut__clip_scale(t, norm), 0, m->n_params, m->adam_m, m->adam_v);
    return norm;
}

/* The update for the parameters [lo, hi) of the flat buffer (all of them:
   lo = 0, hi = n_params; ZeRO-1 gives each process one slice, with moments
   mom_m, mom_v for that slice only). Each tensor's overlap with [lo, hi) gets
   the formula above; whether it decays depends on the tensor. */
void ut_adamw_update(ut_model *m, const ut_train_config *t, float lr, int step_t, ut_float clip,
                     size_t lo, size_t hi, ut_float *mom_m, ut_float *mom_v) {
    for (int k = 0; k < UT_NUM_TENSORS; k++) {
        int decay = !(k == UT_ATTN_NORM || k == UT_FFN_NORM || k == UT_FINAL_NORM);
        size_t start = (size_t)(m->p[k] - m->params), end = start + m->sizes[k];
        if (start < lo) start = lo;
        if (end > hi) end = hi;
        if (start >= end) continue;                   /* this tensor lies outside [lo, hi) */
        ut__adamw(m->params + start, m->grads + start, mom_m + (start - lo), mom_v + (start - lo), end - start,
                  t, lr, step_t, clip, decay);
    }
}

/* ===========================================================================
   8. CHECKPOINT
   One binary file, little-endian, every number written byte by byte so the
   file is the same on any machine:

     offset size  field
       0     4    magic "UTCK"
       4     4    u32 version = 2
       8     4    u32 header size = 256
      12     4    u32 bytes per stored number = 4 (float32, whatever ut_float is)
      16    64    ut_config, 16 fields in declaration order: 12 x i32
                  (vocab_size .. sliding_window) then 4 x f32 (rope_theta,
                  norm_eps, aux_loss_coef, z_loss_coef)
      80    56    ut_train_config: 5 x i32 (batch_size, seq_len, grad_accum,
                  total_steps, warmup_steps), 7 x f32 (lr, min_lr, beta1, beta2,
                  eps, weight_decay, grad_clip), u64 seed
     136    24    progress: u64 step, u64 data_rng, u64 tokens_seen
     160     8    u64 n_params (must equal the count implied by the config)
     168     8    u64 checksum: FNV-1a 64 over the whole file, these 8
                  bytes counted as zero
     176     4    i32 decay_steps (0 = total_steps; a later addition: files
                  from before it hold 0 here, which means what they meant)
     180    76    zero (reserved)
     256  4n      parameters, float32, in tensor order (section 3)
   256+4n 4n      AdamW first moments, same layout
   256+8n 4n      AdamW second moments, same layout
   The file is exactly 256 + 12 n bytes long.
   Saving writes PATH.tmp (the checksum is computed while the numbers are
   written, then filled in), flushes it to disk (fsync), then renames it over
   PATH: a crash at any moment leaves either the old file or the new one.
   Version 1 (older builds) is the same file with a checksum over the bytes
   from 256 on only (its header was not covered); it still loads, with the
   same checks on its settings and numbers.
   Both saving and loading refuse settings out of range (0 < lr <= 10, 0 <=
   min_lr <= lr, betas in [0, 1), eps > 0, 0 <= weight_decay <= 10, grad_clip
   >= 0, all finite; warmup <= decay_steps <= total steps; step <= total
   steps), weights or moments
   that are NaN or infinite, and negative second moments: a run that went
   wrong cannot overwrite a good checkpoint, and a damaged or hand-edited
   file cannot start one.
   ======================================================================== */

#define UT_CKPT_VERSION 2
#define UT_CKPT_HEADER 256

static uint32_t ut__fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float ut__bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint64_t ut__fnv(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001B3ull; }
    return h;
}
#define UT_FNV_INIT 0xCBF29CE484222325ull

/* The settings in the header (offsets 16 to 160), in file order: one table
   that both packing and unpacking walk, so the two cannot disagree. Each
   field is 4 bytes (i32 or f32) or 8 bytes (u64), one after another. */
enum { UT__I32, UT__F32, UT__U64 };
typedef struct { int type, where; size_t offset; } ut__ckpt_field;   /* where: 0 config, 1 train, 2 progress */
#define UT__CF(f, ty) {ty, 0, offsetof(ut_config, f)}
#define UT__TF(f, ty) {ty, 1, offsetof(ut_train_config, f)}
#define UT__PF(f) {UT__U64, 2, offsetof(ut_progress, f)}
static const ut__ckpt_field ut__ckpt_fields[] = {
    UT__CF(vocab_size, UT__I32), UT__CF(max_seq_len, UT__I32), UT__CF(n_layers, UT__I32),
    UT__CF(d_model, UT__I32), UT__CF(n_heads, UT__I32), UT__CF(n_kv_heads, UT__I32),
    UT__CF(head_dim, UT__I32), UT__CF(ffn_hidden, UT__I32), UT__CF(n_experts, UT__I32),
    UT__CF(top_k, UT__I32), UT__CF(tie_embeddings, UT__I32), UT__CF(sliding_window, UT__I32),
    UT__CF(rope_theta, UT__F32), UT__CF(norm_eps, UT__F32), UT__CF(aux_loss_coef, UT__F32),
    UT__CF(z_loss_coef, UT__F32),
    UT__TF(batch_size, UT__I32), UT__TF(seq_len, UT__I32), UT__TF(grad_accum, UT__I32),
    UT__TF(total_steps, UT__I32), UT__TF(warmup_steps, UT__I32),
    UT__TF(lr, UT__F32), UT__TF(min_lr, UT__F32), UT__TF(beta1, UT__F32), UT__TF(beta2, UT__F32),
    UT__TF(eps, UT__F32), UT__TF(weight_decay, UT__F32), UT__TF(grad_clip, UT__F32),
    UT__TF(seed, UT__U64),
    UT__PF(step), UT__PF(data_rng), UT__PF(tokens_seen)};
#undef UT__CF
#undef UT__TF
#undef UT__PF
#define UT__NFIELDS ((int)(sizeof ut__ckpt_fields / sizeof ut__ckpt_fields[0]))

/* pack = 1: structs -> header bytes h[16..160) and h[176..180); pack = 0:
   the other way. decay_steps came later, so it sits in the reserved bytes. */
static void ut__ckpt_settings(uint8_t *h, ut_config *c, ut_train_config *t, ut_progress *pr, int pack) {
    if (pack) ut_put_u32(h + 176, (uint32_t)t->decay_steps);
    else t->decay_steps = (int)ut_get_u32(h + 176);
    size_t at = 16;
    for (int i = 0; i < UT__NFIELDS; i++) {
        const ut__ckpt_field *f = &ut__ckpt_fields[i];
        char *base = f->where == 0 ? (char *)c : f->where == 1 ? (char *)t : (char *)pr;
        void *p = base + f->offset;
        if (f->type == UT__U64) {
            if (pack) ut_put_u64(h + at, *(uint64_t *)p); else *(uint64_t *)p = ut_get_u64(h + at);
            at += 8;
        } else {
            if (pack) ut_put_u32(h + at, f->type == UT__F32 ? ut__fbits(*(float *)p) : (uint32_t)*(int *)p);
            else if (f->type == UT__F32) *(float *)p = ut__bitsf(ut_get_u32(h + at));
            else *(int *)p = (int)ut_get_u32(h + at);
            at += 4;
        }
    }
}

/* Streams n numbers as float32 little-endian, adding them to the checksum. */
static int ut__write_floats(FILE *f, const ut_float *x, size_t n, uint64_t *hash) {
    uint8_t buf[1 << 14];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof buf / 4 && i < n; k++, i++) ut_put_u32(buf + 4 * k, ut__fbits((float)x[i]));
        *hash = ut__fnv(*hash, buf, 4 * k);
        if (fwrite(buf, 4, k, f) != k) return -1;
    }
    return 0;
}
/* Reads n floats into x, adding their bytes to the checksum. x == NULL:
   reads them without keeping them (a frozen load's moments), and *bad gets
   the index of the first one that is not finite (or negative, with nonneg),
   n if none, and *bad_value its value. */
static int ut__read_floats_or_check(FILE *f, ut_float *x, size_t n, uint64_t *hash, int nonneg, size_t *bad,
                                    double *bad_value) {
    uint8_t buf[1 << 14];
    if (bad) *bad = n;
    for (size_t i = 0; i < n;) {
        size_t k = (n - i) < sizeof buf / 4 ? (n - i) : sizeof buf / 4;
        if (fread(buf, 4, k, f) != k) return -1;
        *hash = ut__fnv(*hash, buf, 4 * k);
        /* cppcheck-suppress knownConditionTrueFalse ; k >= 1 here (i < n), a false positive */
        for (size_t j = 0; j < k; j++, i++) {
            ut_float v = (ut_float)ut__bitsf(ut_get_u32(buf + 4 * j));
            if (x) x[i] = v;
            else if (*bad == n && (!isfinite(v) || (nonneg && v < 0))) { *bad = i; *bad_value = v; }
        }
    }
    return 0;
}
static int ut__read_floats(FILE *f, ut_float *x, size_t n, uint64_t *hash) {
    return ut__read_floats_or_check(f, x, n, hash, 0, NULL, NULL);
}

/* The settings a checkpoint may hold (the list above); the model config is
   checked by ut_config_validate. Written as !(x >= lo) so NaN fails too. */
static int ut__check_train_settings(const ut_config *c, const ut_train_config *t, const ut_progress *pr) {
    if (t->batch_size < 1 || t->seq_len < 1 || t->grad_accum < 1 || t->total_steps < 1)
        return ut__fail("batch_size %d, seq_len %d, grad_accum %d, total_steps %d must each be >= 1",
                        t->batch_size, t->seq_len, t->grad_accum, t->total_steps);
    if (t->seq_len > c->max_seq_len) return ut__fail("seq_len %d is longer than max_seq_len %d", t->seq_len, c->max_seq_len);
    if (t->warmup_steps < 0 || t->warmup_steps > t->total_steps)
        return ut__fail("warmup_steps %d is not in [0, total_steps %d]", t->warmup_steps, t->total_steps);
    if (t->decay_steps < 0 || t->decay_steps > t->total_steps || (t->decay_steps && t->decay_steps < t->warmup_steps))
        return ut__fail("decay_steps %d is not 0 or in [warmup_steps %d, total_steps %d]", t->decay_steps,
                        t->warmup_steps, t->total_steps);
    if (pr->step > (uint64_t)t->total_steps)
        return ut__fail("step %llu is past total_steps %d", (unsigned long long)pr->step, t->total_steps);
    if (!(t->lr > 0) || !(t->lr <= 10)) return ut__fail("lr %g is not in (0, 10]", t->lr);
    if (!(t->min_lr >= 0) || !(t->min_lr <= t->lr)) return ut__fail("min_lr %g is not in [0, lr %g]", t->min_lr, t->lr);
    if (!(t->beta1 >= 0) || !(t->beta1 < 1)) return ut__fail("beta1 %g is not in [0, 1)", t->beta1);
    if (!(t->beta2 >= 0) || !(t->beta2 < 1)) return ut__fail("beta2 %g is not in [0, 1)", t->beta2);
    if (!(t->eps > 0) || !isfinite(t->eps)) return ut__fail("eps %g must be finite and > 0", t->eps);
    if (!(t->weight_decay >= 0) || !(t->weight_decay <= 10))
        return ut__fail("weight_decay %g is not in [0, 10]", t->weight_decay);
    if (!(t->grad_clip >= 0) || !isfinite(t->grad_clip))
        return ut__fail("grad_clip %g must be finite and >= 0 (0 = off)", t->grad_clip);
    return 0;
}

/* The first index in x[0, n) that is NaN or infinite (or, with nonneg,
   below 0); n if none. x * 0 is 0 for a finite x and NaN otherwise, so one
   vectorised sum per chunk says whether to look into the chunk number by
   number. Chunks run in parallel; the smallest bad index wins. */
static size_t ut__first_bad(const ut_float *x, size_t n, int nonneg) {
    const size_t chunk = 1 << 12;
    size_t nc = (n + chunk - 1) / chunk, first = n;
    #pragma omp parallel for reduction(min : first)
    for (size_t c = 0; c < nc; c++) {
        size_t start = c * chunk, end = start + chunk < n ? start + chunk : n;
        ut_float s = 0;
        UT_SIMD_SUM(s)
        for (size_t i = start; i < end; i++) s += x[i] * 0 + (nonneg && x[i] < 0 ? 1 : 0);
        for (size_t i = start; s != 0 && i < end; i++)
            if (!isfinite(x[i]) || (nonneg && x[i] < 0)) { first = i < first ? i : first; break; }
    }
    return first;
}

static const char *const ut__state_names[3] = {"weight", "AdamW first moment", "AdamW second moment"};
/* "WHAT TENSOR[j] is VALUE" for entry i of the flat buffers */
static int ut__fail_bad_number(const ut_model *m, int b, size_t i, double value) {
    int k = 0;   /* the tensor holding index i */
    while (k + 1 < UT_NUM_TENSORS && (size_t)(m->p[k + 1] - m->params) <= i) k++;
    return ut__fail("%s %s[%zu] is %g", ut__state_names[b], ut_tensor_names[k], i - (size_t)(m->p[k] - m->params),
                    value);
}
int ut_model_check_state(const ut_model *m) {
    const ut_float *buf[3] = {m->params, m->adam_m, m->adam_v};
    for (int b = 0; b < 3; b++) {
        if (!buf[b]) continue;   /* a frozen model has no moments */
        size_t i = ut__first_bad(buf[b], m->n_params, b == 2);
        if (i < m->n_params) return ut__fail_bad_number(m, b, i, (double)buf[b][i]);
    }
    return 0;
}

/* ut__fail("PATH: WHAT: <the message now in ut_error()>TAIL") */
static int ut__fail_wrapped(const char *path, const char *what, const char *tail) {
    char why[sizeof ut__errbuf];
    memcpy(why, ut__errbuf, sizeof why);
    return ut__fail("%s: %s: %s%s", path, what, why, tail);
}

/* Writes a state file (the checkpoint, or the LoRA adapter of section 8b)
   so that a failure never costs the previous one: the header h (hsize bytes,
   its checksum field at offset 168 still 0), then the n numbers of each of
   bufs[0..2] (weights, AdamW m, AdamW v), then the FNV-1a 64 of all of it
   into bytes 168-175; to PATH.tmp, flushed to disk (fsync), then renamed over
   PATH. rename is atomic: PATH is always the old file or the whole new one.
   what names the file in messages ("checkpoint", "adapter"). */
static int ut__write_state(const char *path, const char *what, const uint8_t *h, size_t hsize,
                           const ut_float *const bufs[3], size_t n) {
    size_t plen = strlen(path);
    char *tmp = (char *)malloc(plen + 8);
    if (!tmp) return ut__fail("out of memory");
    memcpy(tmp, path, plen); memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) { int r = ut__fail("cannot write %s %s: %s", what, tmp, strerror(errno)); free(tmp); return r; }
    uint64_t hash = ut__fnv(UT_FNV_INIT, h, hsize);   /* the checksum field is still 0 */
    int bad = fwrite(h, 1, hsize, f) != hsize;
    for (int b = 0; b < 3; b++) bad = bad || ut__write_floats(f, bufs[b], n, &hash);
    uint8_t sum[8];
    ut_put_u64(sum, hash);
    bad = bad || fseek(f, 168, SEEK_SET) != 0 || fwrite(sum, 1, 8, f) != 8;
    bad = bad || fflush(f) != 0;
#if defined(__unix__) || defined(__APPLE__)
    bad = bad || fsync(fileno(f)) != 0;
#endif
    int err = errno;
    bad = (fclose(f) != 0) || bad;
    int r = 0;
    if (bad)
        r = ut__fail("writing %s %s failed: %s (the previous %s is untouched)", what, path,
                     strerror(err ? err : errno), what);
    else if (rename(tmp, path) != 0)
        r = ut__fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (r) remove(tmp);
    free(tmp);
    return r;
}

int ut_checkpoint_save(const char *path, const ut_model *m, const ut_train_config *t,
                       const ut_progress *pr) {
    if (m->qbits) return ut__fail("%s: not saved: a quantized model has no f32 weights to save", path);
    /* nothing the loader would refuse is written, and the previous file stays */
    if (ut_config_validate(&m->cfg) || ut__check_train_settings(&m->cfg, t, pr))
        return ut__fail_wrapped(path, "not saved, invalid settings", " (the previous checkpoint is untouched)");
    if (ut_model_check_state(m))
        return ut__fail_wrapped(path, "not saved", " (the previous checkpoint is untouched)");
    uint8_t h[UT_CKPT_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, "UTCK", 4);
    ut_put_u32(h + 4, UT_CKPT_VERSION); ut_put_u32(h + 8, UT_CKPT_HEADER); ut_put_u32(h + 12, 4);
    ut_config c = m->cfg;
    ut_train_config tc = *t;
    ut_progress p = *pr;
    ut__ckpt_settings(h, &c, &tc, &p, 1);
    ut_put_u64(h + 160, m->n_params);   /* the checksum at 168 is filled in after the numbers */
    const ut_float *const bufs[3] = {m->params, m->adam_m, m->adam_v};
    return ut__write_state(path, "checkpoint", h, UT_CKPT_HEADER, bufs, m->n_params);
}

static int ut__checkpoint_load(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr, int frozen) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return ut__fail("cannot open checkpoint %s: %s", path, strerror(errno));
    uint8_t h[UT_CKPT_HEADER];
    ut_config c;
    int r = -1;
    if (fread(h, 1, UT_CKPT_HEADER, f) != UT_CKPT_HEADER) { ut__fail("%s: truncated checkpoint header", path); goto done; }
    if (memcmp(h, "UTCK", 4) != 0) { ut__fail("%s is not an ultrathink checkpoint (bad magic)", path); goto done; }
    uint32_t version = ut_get_u32(h + 4);
    if (version != 1 && version != UT_CKPT_VERSION) {
        ut__fail("%s: checkpoint version %u, this build reads versions 1 and %d", path, version, UT_CKPT_VERSION);
        goto done;
    }
    if (ut_get_u32(h + 8) != UT_CKPT_HEADER || ut_get_u32(h + 12) != 4) { ut__fail("%s: bad header size or number width", path); goto done; }
    memset(&c, 0, sizeof c);
    memset(t, 0, sizeof *t);   /* padding too: a loaded struct compares equal to a saved one */
    ut__ckpt_settings(h, &c, t, pr, 0);
    if (ut_config_validate(&c)) { ut__fail_wrapped(path, "invalid model config in checkpoint", ""); goto done; }
    if (ut__check_train_settings(&c, t, pr)) { ut__fail_wrapped(path, "invalid training settings in checkpoint", ""); goto done; }
    uint64_t n = ut_get_u64(h + 160);
    if (n != ut_num_params(&c)) {
        ut__fail("%s: holds %llu parameters but its config implies %zu", path, (unsigned long long)n, ut_num_params(&c));
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0) { ut__fail("%s: cannot seek", path); goto done; }
    long long len = (long long)ftell(f), want = UT_CKPT_HEADER + 12 * (long long)n;
    if (len != want) {
        ut__fail("%s: file is %lld bytes, expected %lld (%s)", path, len, want, len < want ? "truncated" : "trailing bytes");
        goto done;
    }
    fseek(f, UT_CKPT_HEADER, SEEK_SET);
    if (ut_model_init(m, &c, 0)) goto done;
    if (frozen) ut_model_freeze(m);   /* the moments are checked below, not kept */
    /* version 2: the header counts, its checksum field as 0; version 1: only the numbers */
    uint64_t hash = UT_FNV_INIT;
    if (version >= 2) {
        uint8_t hz[UT_CKPT_HEADER];
        memcpy(hz, h, sizeof hz);
        memset(hz + 168, 0, 8);
        hash = ut__fnv(hash, hz, sizeof hz);
    }
    size_t bad[2];   /* a frozen load: the first bad number of each moment (n: none) */
    double bad_value[2];
    if (ut__read_floats(f, m->params, n, &hash) ||
        ut__read_floats_or_check(f, m->adam_m, n, &hash, 0, &bad[0], &bad_value[0]) ||
        ut__read_floats_or_check(f, m->adam_v, n, &hash, 1, &bad[1], &bad_value[1])) {
        ut__fail("%s: read error", path);
        goto done;
    }
    if (hash != ut_get_u64(h + 168)) { ut__fail("%s: checksum mismatch (the file is corrupted)", path); goto done; }
    if (ut_model_check_state(m)) { ut__fail_wrapped(path, "invalid checkpoint", ""); goto done; }
    for (int b = 0; frozen && b < 2; b++)
        if (bad[b] < n) {
            ut__fail_bad_number(m, b + 1, bad[b], bad_value[b]);
            ut__fail_wrapped(path, "invalid checkpoint", "");
            goto done;
        }
    r = 0;
done:
    fclose(f);
    if (r) ut_model_free(m);
    return r;
}
int ut_checkpoint_load(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr) {
    return ut__checkpoint_load(path, m, t, pr, 0);
}
int ut_checkpoint_load_frozen(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr) {
    return ut__checkpoint_load(path, m, t, pr, 1);
}

/* ===========================================================================
   8b. LORA ADAPTERS: the adapter's state, its optimizer step, the merge and
   its file
   The products are in section 5 (ut_lora_forward, ut_lora_backward) and the
   model calls them (section 6, when m->lora is set). Here: the adapter as
   one buffer per kind of state (like the model's), the AdamW step over it,
   merging it into the base (W += s B A), and the adapter file.
   Initialisation (as the LoRA paper): A ~ uniform(-1/sqrt(C), 1/sqrt(C)),
   the usual fan-in scale of a linear layer, so x A^T has the size of one of
   the base's own activations; B = 0, so the adapted model starts as the
   base model, number for number.
   ======================================================================== */

const char *const ut_lora_target_names[UT_LORA_NT] = {"q", "k", "v", "o", "gate", "up", "down"};

ut_float *ut_lora_a(const ut_lora *lo, ut_float *buf, int l, int t) {
    size_t off = 0, r = (size_t)lo->rank;
    for (int ll = 0; ll <= l; ll++)
        for (int tt = 0; tt < UT_LORA_NT; tt++) {
            if (!((lo->targets >> tt) & 1u)) continue;
            if (ll == l && tt == t) return buf + off;
            off += r * (size_t)(lo->in[tt] + lo->out[tt]);
        }
    return NULL;
}
ut_float *ut_lora_b(const ut_lora *lo, ut_float *buf, int l, int t) {
    return ut_lora_a(lo, buf, l, t) + (size_t)lo->rank * lo->in[t];
}

int ut_lora_init(ut_lora *lo, const ut_config *c, int rank, float alpha, unsigned targets, uint64_t seed) {
    memset(lo, 0, sizeof *lo);
    if (ut_config_validate(c)) return -1;
    if (rank < 1 || rank > 65536) return ut__fail("LoRA rank %d is not in [1, 65536]", rank);
    if (!(alpha > 0) || !isfinite(alpha)) return ut__fail("LoRA alpha %g must be finite and > 0", alpha);
    if (!targets || targets >> UT_LORA_NT) return ut__fail("LoRA targets 0x%x: none, or unknown ones", targets);
    if (c->n_experts > 1 && (targets >> UT_LORA_GATE))
        return ut__fail("LoRA on a MoE model (n_experts %d) adapts q, k, v and o only: its experts and router stay "
                        "frozen (there are no per-expert adapters)", c->n_experts);
    int D = c->d_model, QD = c->n_heads * c->head_dim, KD = c->n_kv_heads * c->head_dim, F = c->ffn_hidden;
    const int in[UT_LORA_NT] = {D, D, D, QD, D, D, F}, out[UT_LORA_NT] = {QD, KD, KD, D, F, F, D};
    lo->rank = rank; lo->alpha = alpha; lo->targets = targets; lo->n_layers = c->n_layers;
    memcpy(lo->in, in, sizeof in);
    memcpy(lo->out, out, sizeof out);
    for (int t = 0; t < UT_LORA_NT; t++)
        if ((targets >> t) & 1u) lo->n_params += (size_t)c->n_layers * rank * (size_t)(in[t] + out[t]);
    size_t n = lo->n_params;
    lo->params = (ut_float *)ut__calloc(n, sizeof(ut_float));
    lo->grads = (ut_float *)ut__calloc(n, sizeof(ut_float));
    lo->adam_m = (ut_float *)ut__calloc(n, sizeof(ut_float));
    lo->adam_v = (ut_float *)ut__calloc(n, sizeof(ut_float));
    if (!lo->params || !lo->grads || !lo->adam_m || !lo->adam_v) {
        ut_lora_free(lo);
        return ut__fail("out of memory for a LoRA adapter of %zu numbers", n);
    }
    uint64_t init_rng = ut_rng_seed(seed);
    for (int l = 0; l < c->n_layers; l++)
        for (int t = 0; t < UT_LORA_NT; t++) {
            if (!((targets >> t) & 1u)) continue;
            ut_float *A = ut_lora_a(lo, lo->params, l, t);
            double bound = 1.0 / sqrt((double)in[t]);
            for (size_t i = 0; i < (size_t)rank * in[t]; i++) A[i] = (ut_float)(bound * (2 * ut_rng_uniform(&init_rng) - 1));
        }
    return 0;
}
void ut_lora_free(ut_lora *lo) {
    free(lo->params); free(lo->grads); free(lo->adam_m); free(lo->adam_v);
    free(lo->xa); free(lo->work);
    memset(lo, 0, sizeof *lo);
}

/* The training step of section 7, over the adapter's numbers (weight decay
   on A and B: both are matrices). */
double ut_lora_grad_norm(const ut_lora *lo) { return ut__norm(lo->grads, lo->n_params); }
double ut_lora_adamw_step(ut_lora *lo, const ut_train_config *t, float lr, int step_t) {
    double norm = ut_lora_grad_norm(lo);
    ut__adamw(lo->params, lo->grads, lo->adam_m, lo->adam_v, lo->n_params, t, lr, step_t, ut__clip_scale(t, norm), 1);
    return norm;
}

/* Merging: W (OC, C) += s B A, i.e. W[o][i] += s sum_k B[o][k] A[k][i].
   Afterwards the plain model computes x (W + s B A)^T = x W^T + s (x A^T) B^T:
   the adapted model, up to rounding (the two sides add the same numbers in
   another order). */
void ut_lora_merge(ut_model *m, const ut_lora *lo) {
    if (m->qbits) return;   /* a quantized base has no f32 weights to merge into: merge into the f32 base */
    ut_float s = ut__lora_scale(lo);
    int r = lo->rank;
    for (int l = 0; l < lo->n_layers; l++) {
        ut_layer w = ut_layer_weights(m->p, &m->cfg, l);
        ut_float *W[UT_LORA_NT] = {w.wq, w.wk, w.wv, w.wo, w.w_gate, w.w_up, w.w_down};
        for (int t = 0; t < UT_LORA_NT; t++) {
            if (!ut__lora_on(lo, t)) continue;
            const ut_float *A = ut_lora_a(lo, lo->params, l, t), *B = ut_lora_b(lo, lo->params, l, t);
            int C = lo->in[t], OC = lo->out[t];
            #pragma omp parallel for
            for (int o = 0; o < OC; o++)
                for (int i = 0; i < C; i++) {
                    ut_float sum = 0;
                    for (int k = 0; k < r; k++) sum += B[(size_t)o * r + k] * A[(size_t)k * C + i];
                    W[t][(size_t)o * C + i] += s * sum;
                }
        }
    }
}

/* THE ADAPTER FILE: small (the adapter and its AdamW moments, no base
   weights), little-endian like the checkpoint of section 8, written the same
   way (PATH.tmp, fsync, rename) and read with the same checks:
     offset size  field
       0     4    magic "UTLA"
       4     4    u32 version = 1
       8     4    u32 header size = 4352
      12     4    u32 bytes per stored number = 4
      16   144    the base's ut_config, the run's ut_train_config and
                  progress: the checkpoint's fields at the checkpoint's offsets
     160     8    u64 n, the adapter's numbers
     168     8    u64 FNV-1a 64 of the whole file, these 8 bytes counted as 0
     176     4    i32 decay_steps
     180     4    u32 rank r
     184     4    f32 alpha
     188     4    u32 targets (bit t: ut_lora_target_names[t])
     192     8    u64 the base checkpoint's size in bytes
     200     8    u64 the base checkpoint's FNV-1a 64
     208     4    u32 base bits: 0 the f32 base; 8 or 4 a QLoRA run's
                  quantized base (ut_model_quantize with UT_QBASE)
     212     4    u32 base group (numbers per scale; 0 with an f32 base)
     216    40    zero
     256  4096    the base checkpoint's path, NUL-padded
    4352    4n    A then B of each target (q k v o gate up down order) of
                  each layer, float32
   4352+4n  4n    AdamW first moments;  4352+8n  4n  second moments
   The config must equal the base model's: an adapter only fits its base. */
#define UT_LORA_HEADER 4352
static int ut__lora_check(const ut_lora *lo) {
    const ut_float *buf[3] = {lo->params, lo->adam_m, lo->adam_v};
    const char *what[3] = {"weight", "AdamW first moment", "AdamW second moment"};
    for (int b = 0; b < 3; b++) {
        size_t i = ut__first_bad(buf[b], lo->n_params, b == 2);
        if (i != lo->n_params) return ut__fail("LoRA %s [%zu] is %g", what[b], i, (double)buf[b][i]);
    }
    return 0;
}
int ut_lora_save(const char *path, const ut_lora *lo, const ut_config *c, const ut_train_config *t,
                 const ut_progress *pr, const ut_base_ref *base) {
    if (ut_config_validate(c) || ut__check_train_settings(c, t, pr))
        return ut__fail_wrapped(path, "not saved, invalid settings", " (the previous adapter is untouched)");
    if (ut__lora_check(lo)) return ut__fail_wrapped(path, "not saved", " (the previous adapter is untouched)");
    static uint8_t h[UT_LORA_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, "UTLA", 4);
    ut_put_u32(h + 4, 1); ut_put_u32(h + 8, UT_LORA_HEADER); ut_put_u32(h + 12, 4);
    ut_config cc = *c;
    ut_train_config tc = *t;
    ut_progress p = *pr;
    ut__ckpt_settings(h, &cc, &tc, &p, 1);
    ut_put_u64(h + 160, lo->n_params);
    ut_put_u32(h + 180, (uint32_t)lo->rank); ut_put_u32(h + 184, ut__fbits(lo->alpha)); ut_put_u32(h + 188, lo->targets);
    ut_put_u64(h + 192, base->bytes); ut_put_u64(h + 200, base->hash);
    ut_put_u32(h + 208, (uint32_t)lo->base_bits); ut_put_u32(h + 212, (uint32_t)lo->base_group);
    memcpy(h + 256, base->path, strnlen(base->path, 4095));
    const ut_float *const bufs[3] = {lo->params, lo->adam_m, lo->adam_v};
    return ut__write_state(path, "adapter", h, UT_LORA_HEADER, bufs, lo->n_params);
}
int ut_lora_base(const char *path, ut_base_ref *base) {
    static uint8_t h[UT_LORA_HEADER];
    memset(base, 0, sizeof *base);
    FILE *f = fopen(path, "rb");
    if (!f) return ut__fail("cannot open adapter %s: %s", path, strerror(errno));
    int ok = fread(h, 1, UT_LORA_HEADER, f) == UT_LORA_HEADER && !memcmp(h, "UTLA", 4) && ut_get_u32(h + 4) == 1;
    fclose(f);
    if (!ok) return ut__fail("%s is not an ultrathink LoRA adapter (magic UTLA, version 1)", path);
    memcpy(base->path, h + 256, 4095);
    base->bytes = ut_get_u64(h + 192);
    base->hash = ut_get_u64(h + 200);
    return 0;
}
int ut_lora_load(const char *path, ut_lora *lo, const ut_config *c, ut_train_config *t, ut_progress *pr,
                 ut_base_ref *base) {
    memset(lo, 0, sizeof *lo);
    FILE *f = fopen(path, "rb");
    if (!f) return ut__fail("cannot open adapter %s: %s", path, strerror(errno));
    static uint8_t h[UT_LORA_HEADER], want[UT_LORA_HEADER];
    int r = -1;
    ut_config fc;
    memset(&fc, 0, sizeof fc);
    memset(t, 0, sizeof *t);
    if (fread(h, 1, UT_LORA_HEADER, f) != UT_LORA_HEADER) { ut__fail("%s: truncated adapter header", path); goto done; }
    if (memcmp(h, "UTLA", 4) || ut_get_u32(h + 4) != 1 || ut_get_u32(h + 8) != UT_LORA_HEADER || ut_get_u32(h + 12) != 4) {
        ut__fail("%s is not an ultrathink LoRA adapter (magic UTLA, version 1)", path);
        goto done;
    }
    ut__ckpt_settings(h, &fc, t, pr, 0);
    {   /* the base config, packed the same way, must give the same bytes */
        ut_config cc = *c;
        ut_train_config tt = *t;
        ut_progress pp = *pr;
        ut__ckpt_settings(want, &cc, &tt, &pp, 1);
    }
    if (memcmp(h + 16, want + 16, 64)) { ut__fail("%s: the adapter was made for a model of another shape", path); goto done; }
    if (ut__check_train_settings(c, t, pr)) { ut__fail_wrapped(path, "invalid training settings in adapter", ""); goto done; }
    if (ut_lora_init(lo, c, (int)ut_get_u32(h + 180), ut__bitsf(ut_get_u32(h + 184)), ut_get_u32(h + 188), 0)) {
        ut__fail_wrapped(path, "invalid adapter", "");
        goto done;
    }
    lo->base_bits = (int)ut_get_u32(h + 208);
    lo->base_group = (int)ut_get_u32(h + 212);
    if (lo->base_bits ? (lo->base_bits != 8 && lo->base_bits != 4) || lo->base_group < 1 || lo->base_group > (1 << 20)
                      : lo->base_group != 0) {
        ut__fail("%s: base quantization %d bits, group %d: not f32, int8 or int4", path, lo->base_bits, lo->base_group);
        goto done;
    }
    uint64_t n = ut_get_u64(h + 160);
    if (n != lo->n_params) { ut__fail("%s: holds %llu numbers, its rank and targets imply %zu", path, (unsigned long long)n, lo->n_params); goto done; }
    if (fseek(f, 0, SEEK_END) != 0 || ftell(f) != (long)(UT_LORA_HEADER + 12 * n)) {
        ut__fail("%s: the file is not %llu bytes long (truncated or damaged)", path, (unsigned long long)(UT_LORA_HEADER + 12 * n));
        goto done;
    }
    fseek(f, UT_LORA_HEADER, SEEK_SET);
    uint64_t hash;
    memcpy(want, h, UT_LORA_HEADER);
    memset(want + 168, 0, 8);
    hash = ut__fnv(UT_FNV_INIT, want, UT_LORA_HEADER);
    if (ut__read_floats(f, lo->params, n, &hash) || ut__read_floats(f, lo->adam_m, n, &hash) ||
        ut__read_floats(f, lo->adam_v, n, &hash)) { ut__fail("%s: read error", path); goto done; }
    if (hash != ut_get_u64(h + 168)) { ut__fail("%s: checksum mismatch (the file is corrupted)", path); goto done; }
    if (ut__lora_check(lo)) { ut__fail_wrapped(path, "invalid adapter", ""); goto done; }
    memset(base, 0, sizeof *base);
    memcpy(base->path, h + 256, 4095);
    base->bytes = ut_get_u64(h + 192);
    base->hash = ut_get_u64(h + 200);
    r = 0;
done:
    fclose(f);
    if (r) ut_lora_free(lo);
    return r;
}

/* ===========================================================================
   9. DATA: token files
   Written by `tokenizer encode`; read here, for training and by `tokenizer
   decode`. All integers little-endian:
     offset size  field
       0     4    magic "UTTK"
       4     4    u32 version = 1
       8     4    u32 vocab_size of the tokenizer that made it
      12     4    u32 token_bytes: 2 if vocab_size <= 65536, else 4
      16     8    u64 n_tokens
      24     8    u64 n_bytes, length of the text they encode (for bits per byte)
      32   ...    n_tokens ids, token_bytes each
   The file ends exactly there. The reader checks every field against the
   file's length and every id against vocab_size. The writer comes in two
   pieces so that `tokenizer encode` can stream a text of any size: it writes
   the header with n_tokens = 0, then the ids block by block, then the header
   again with the real count.
   ======================================================================== */

uint32_t ut_token_bytes_for(uint32_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

void ut_tokens_pack_header(uint8_t out[UT_TOKENS_HEADER], uint32_t vocab_size, uint64_t n_tokens,
                           uint64_t n_bytes) {
    memcpy(out, "UTTK", 4);
    ut_put_u32(out + 4, 1);
    ut_put_u32(out + 8, vocab_size);
    ut_put_u32(out + 12, ut_token_bytes_for(vocab_size));
    ut_put_u64(out + 16, n_tokens);
    ut_put_u64(out + 24, n_bytes);
}

/* out must hold n * ut_token_bytes_for(vocab_size) bytes. */
size_t ut_tokens_pack_ids(uint8_t *out, const uint32_t *ids, size_t n, uint32_t vocab_size) {
    uint32_t tb = ut_token_bytes_for(vocab_size);
    if (tb == 4) {
        for (size_t i = 0; i < n; i++) ut_put_u32(out + 4 * i, ids[i]);
    } else {
        for (size_t i = 0; i < n; i++) { out[2 * i] = (uint8_t)ids[i]; out[2 * i + 1] = (uint8_t)(ids[i] >> 8); }
    }
    return n * tb;
}

/* A whole file in memory, also from a pipe (whose size is not known in
   advance). Returns malloc'd bytes, or NULL with the error set; `what` names
   the kind of file in messages. */
static uint8_t *ut__read_file(const char *path, const char *what, size_t *len) {
    /* only a regular file: a pipe or a device (/dev/zero) has no size and
       could be read forever (a named pipe would even block the open); a
       folder opens but cannot be read */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { ut__fail("%s %s is not a regular file", what, path); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) { ut__fail("cannot open %s %s: %s", what, path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {            /* a regular file: its size, +1 to see EOF in one read */
        long end = ftell(f);
        if (end >= 0) cap = (size_t)end + 1;
        fseek(f, 0, SEEK_SET);
    }
    uint8_t *buf = (uint8_t *)malloc(cap);
    int oom = !buf;
    while (!oom) {
        if (n == cap) {
            uint8_t *bigger = (uint8_t *)realloc(buf, cap * 2);
            if (!bigger) { oom = 1; break; }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (oom) { free(buf); buf = NULL; ut__fail("out of memory reading %s %s", what, path); }
    else if (ferror(f)) { ut__fail("cannot read %s %s: %s", what, path, strerror(errno)); free(buf); buf = NULL; }
    fclose(f);
    *len = n;
    return buf;
}

/* The checks of the reader, on the file's bytes f[0..len). */
static int ut__tokens_parse(ut_tokens *d, const uint8_t *f, size_t len, const char *path) {
    if (len < UT_TOKENS_HEADER) return ut__fail("%s: %zu bytes, too short to be a token file", path, len);
    if (memcmp(f, "UTTK", 4) != 0)
        return ut__fail("%s is not a token file (bad magic; make one with `tokenizer encode`)", path);
    if (ut_get_u32(f + 4) != 1) return ut__fail("%s: token file version %u, expected 1", path, ut_get_u32(f + 4));
    d->vocab_size = ut_get_u32(f + 8); d->token_bytes = ut_get_u32(f + 12);
    d->n_tokens = ut_get_u64(f + 16); d->n_bytes = ut_get_u64(f + 24);
    uint32_t tb = d->token_bytes;
    if (d->vocab_size < 2) return ut__fail("%s: bad vocab size %u", path, d->vocab_size);
    if (tb != ut_token_bytes_for(d->vocab_size))
        return ut__fail("%s: token width %u bytes, expected %u for vocab size %u", path, tb,
                        ut_token_bytes_for(d->vocab_size), d->vocab_size);
    size_t body = len - UT_TOKENS_HEADER;
    if (body % tb != 0 || d->n_tokens != body / tb)
        return ut__fail("%s: file is %zu bytes but its header promises %llu tokens (truncated or corrupted)",
                        path, len, (unsigned long long)d->n_tokens);
    d->tokens = (int32_t *)malloc((body / tb + 1) * sizeof(int32_t));
    if (!d->tokens) return ut__fail("out of memory reading %s", path);
    const uint8_t *p = f + UT_TOKENS_HEADER;
    for (uint64_t i = 0; i < d->n_tokens; i++) {
        uint32_t id = tb == 2 ? (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8 : ut_get_u32(p + 4 * i);
        if (id >= d->vocab_size)
            return ut__fail("%s: token %u at index %llu is >= vocab size %u", path, id, (unsigned long long)i,
                            d->vocab_size);
        d->tokens[i] = (int32_t)id;
    }
    return 0;
}

int ut_tokens_read(ut_tokens *d, const char *path) {
    memset(d, 0, sizeof *d);
    size_t len;
    uint8_t *f = ut__read_file(path, "token file", &len);
    if (!f) return -1;
    int r = ut__tokens_parse(d, f, len, path);
    free(f);
    /* No model can use more ids than ut_config_validate allows (2^24); a
       larger size is a damaged header (printed unsigned: 2^32-1, not -1). */
    if (r == 0 && d->vocab_size > (1u << 24))
        r = ut__fail("%s: vocab size %u is above the limit of %u", path, d->vocab_size, 1u << 24);
    if (r) ut_tokens_free(d);
    return r;
}
int ut_tokens_load(ut_tokens *d, const char *path) {
    if (ut_tokens_read(d, path)) return -1;
    if (d->n_tokens == 0) { ut_tokens_free(d); return ut__fail("%s holds no tokens (was its text empty?)", path); }
    return 0;
}
void ut_tokens_free(ut_tokens *d) { free(d->tokens); memset(d, 0, sizeof *d); }

/* Random windows: start positions drawn uniformly from [0, n_tokens - T - 1].
   The only state is *rng, which the checkpoint stores: resuming draws the same
   batches an uninterrupted run would have. Needs n_tokens >= T + 1. */
void ut_batch_random(const ut_tokens *d, uint64_t *rng, int B, int T, int *inputs, int *targets) {
    uint64_t span = d->n_tokens - (uint64_t)T;   /* number of valid start positions */
    for (int b = 0; b < B; b++) {
        uint64_t s = ut_rng_u64(rng) % span;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = d->tokens[s + t];
            targets[b * T + t] = d->tokens[s + t + 1];
        }
    }
}
void ut_batch_sequential(const ut_tokens *d, uint64_t i, int B, int T, int *inputs, int *targets) {
    uint64_t windows = (d->n_tokens - 1) / (uint64_t)T;
    for (int b = 0; b < B; b++) {
        uint64_t s = ((i * B + b) % windows) * T;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = d->tokens[s + t];
            targets[b * T + t] = d->tokens[s + t + 1];
        }
    }
}

/* ===========================================================================
   10. TOKENIZER: the file, pre-tokenization, prompt encoding
   A byte-level BPE tokenizer: ids 0..255 are the bytes, id 256 + i is merge i
   (the i-th pair `tokenizer train` joined), and one special token,
   <|endoftext|>, comes last. tokenizer.c teaches how the merges are learned
   and has the fast encoder for whole corpora; this section holds what every
   program shares: the file, the rule that cuts text into chunks, and the
   plain encoder that `train sample --prompt` uses.

   THE FILE, written by `tokenizer train` (all integers little-endian):
     offset size  field
       0     4    magic "UTBP"
       4     4    u32 version = 2
       8     4    u32 vocab_size = 256 + n_merges + n_special
      12     4    u32 n_merges
      16     4    u32 n_special = 1 (<|endoftext|>, id 256 + n_merges)
      20     4    u32 pretok: the pre-tokenization rule the merges were learned
                  with, and that encoding must use: 2 = GPT-2's (the current
                  one), 1 = ultrathink's first rule (see PRE-TOKENIZATION)
      24   8 m    merges: (u32 left, u32 right) each; merge i makes id 256 + i
                  and uses only ids defined before it (< 256 + i)
      ...  ...    for every id 0..vocab_size-1: u32 length, then its bytes
                  (a byte: itself; a merge: its left's bytes then its right's;
                  the special token: the text <|endoftext|>)
   The file ends exactly there. The token table repeats what the merges
   define (so a reader in any language can decode without replaying merges);
   the reader insists that the two agree, byte for byte, that no two merges
   join the same pair, and that nothing trails.
   Version 1 files (before GPT-2's rule) have no pretok field: the merges
   start at offset 20, and they still load, with pretok = 1, so they encode
   exactly as they always did.
   ======================================================================== */

/* The whole tokenizer from its merge list; every token's bytes may add up to
   at most max_bytes (a reader passes its file's size, as the file holds every
   token: a forged count cannot make us allocate terabytes). */
static int ut__tokenizer_build(ut_tokenizer *tk, const uint32_t *merges, uint32_t n_merges, uint64_t max_bytes) {
    memset(tk, 0, sizeof *tk);
    if (n_merges > (1u << 24)) return ut__fail("%u merges is more than the limit of %u", n_merges, 1u << 24);
    for (uint32_t i = 0; i < n_merges; i++) {
        uint32_t left = merges[2 * i], right = merges[2 * i + 1];
        if (left >= 256 + i || right >= 256 + i)
            return ut__fail("merge %u (id %u) uses id %u, which is not defined before it", i, 256 + i,
                            left >= 256 + i ? left : right);
    }
    uint32_t V = 256 + n_merges + 1, cap = 2;
    while (cap < 2 * n_merges + 2) cap *= 2;     /* hash table at most half full */
    tk->vocab_size = V; tk->n_merges = n_merges; tk->n_special = 1; tk->eot_id = 256 + n_merges;
    tk->pretok = UT_PRETOK_GPT2;
    tk->merges = (uint32_t *)malloc((2 * (size_t)n_merges + 1) * sizeof(uint32_t));
    tk->token_bytes = (uint8_t **)malloc(V * sizeof(uint8_t *));
    tk->token_len = (uint32_t *)malloc(V * sizeof(uint32_t));
    tk->pair_key = (uint64_t *)malloc(cap * sizeof(uint64_t));
    tk->pair_rank = (uint32_t *)malloc(cap * sizeof(uint32_t));
    if (!tk->merges || !tk->token_bytes || !tk->token_len || !tk->pair_key || !tk->pair_rank) {
        ut_tokenizer_free(tk);
        return ut__fail("out of memory for a tokenizer of %u merges", n_merges);
    }
    memcpy(tk->merges, merges, 2 * (size_t)n_merges * sizeof(uint32_t));
    /* every token's length: 1 for a byte, left + right for a merge */
    uint64_t total = 0;
    for (uint32_t id = 0; id < V; id++) {
        uint64_t len = id < 256 ? 1 : id == tk->eot_id ? UT_EOT_LEN
                     : (uint64_t)tk->token_len[merges[2 * (id - 256)]] + tk->token_len[merges[2 * (id - 256) + 1]];
        if (len > UINT32_MAX || len > max_bytes - total) {
            ut_tokenizer_free(tk);
            return ut__fail("token %u needs more bytes than the file holds (truncated or corrupt)", id);
        }
        tk->token_len[id] = (uint32_t)len;
        total += len;
    }
    tk->blob = (uint8_t *)malloc((size_t)total);
    if (!tk->blob) { ut_tokenizer_free(tk); return ut__fail("out of memory for %llu bytes of tokens", (unsigned long long)total); }
    /* every token's bytes, back to back: a merge's are its left's then its right's */
    uint8_t *at = tk->blob;
    for (uint32_t id = 0; id < V; id++) {
        tk->token_bytes[id] = at;
        if (id < 256) at[0] = (uint8_t)id;
        else if (id == tk->eot_id) memcpy(at, UT_EOT_TEXT, UT_EOT_LEN);
        else {
            uint32_t left = merges[2 * (id - 256)], right = merges[2 * (id - 256) + 1];
            memcpy(at, tk->token_bytes[left], tk->token_len[left]);
            memcpy(at + tk->token_len[left], tk->token_bytes[right], tk->token_len[right]);
        }
        at += tk->token_len[id];
    }
    /* open-addressing hash table from a pair to its merge rank */
    tk->pair_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) tk->pair_key[i] = UINT64_MAX;
    for (uint32_t r = 0; r < n_merges; r++) {
        uint64_t key = (uint64_t)merges[2 * r] << 32 | merges[2 * r + 1];
        uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & tk->pair_mask;
        while (tk->pair_key[h] != UINT64_MAX && tk->pair_key[h] != key) h = (h + 1) & tk->pair_mask;
        if (tk->pair_key[h] == key) {
            uint32_t first = tk->pair_rank[h];
            ut_tokenizer_free(tk);
            return ut__fail("merges %u and %u join the same pair (%u, %u)", first, r, merges[2 * r], merges[2 * r + 1]);
        }
        tk->pair_key[h] = key;
        tk->pair_rank[h] = r;
    }
    return 0;
}
int ut_tokenizer_build(ut_tokenizer *tk, const uint32_t *merges, uint32_t n_merges) {
    return ut__tokenizer_build(tk, merges, n_merges, UINT64_MAX);
}

/* The checks of the reader, on the file's bytes f[0..len). */
static int ut__tokenizer_parse(ut_tokenizer *tk, const uint8_t *f, size_t len, const char *path) {
    if (len < 20) return ut__fail("%s: %zu bytes, too short to be a tokenizer file", path, len);
    if (memcmp(f, "UTBP", 4) != 0)
        return ut__fail("%s is not a tokenizer file (bad magic; make one with `tokenizer train`)", path);
    uint32_t version = ut_get_u32(f + 4), V = ut_get_u32(f + 8), n_merges = ut_get_u32(f + 12);
    uint32_t n_special = ut_get_u32(f + 16), pretok = UT_PRETOK_V1;
    if (version != 1 && version != 2) return ut__fail("%s: tokenizer version %u, expected 1 or 2", path, version);
    size_t head = version == 1 ? 20 : 24;   /* version 2 adds the pretok field */
    if (len < head) return ut__fail("%s: %zu bytes, too short to be a tokenizer file", path, len);
    if (version == 2) pretok = ut_get_u32(f + 20);
    if (pretok != UT_PRETOK_V1 && pretok != UT_PRETOK_GPT2)
        return ut__fail("%s: unknown pre-tokenization rule %u (expected 1 or 2)", path, pretok);
    if (n_special != 1) return ut__fail("%s: n_special is %u (version %u has exactly 1: <|endoftext|>)", path, n_special, version);
    if ((uint64_t)V != 256ull + n_merges + n_special)
        return ut__fail("%s: vocab_size %u != 256 + n_merges %u + n_special %u", path, V, n_merges, n_special);
    if (n_merges > (len - head) / 8) return ut__fail("%s: truncated: %u merges do not fit in %zu bytes", path, n_merges, len);
    uint32_t *merges = (uint32_t *)malloc((2 * (size_t)n_merges + 1) * sizeof(uint32_t));
    if (!merges) return ut__fail("out of memory reading %s", path);
    for (size_t i = 0; i < 2 * (size_t)n_merges; i++) merges[i] = ut_get_u32(f + head + 4 * i);
    int r = ut__tokenizer_build(tk, merges, n_merges, len);
    free(merges);
    if (r) {
        char why[sizeof ut__errbuf];
        snprintf(why, sizeof why, "%s", ut_error());
        return ut__fail("%s: %s", path, why);
    }
    tk->pretok = pretok;
    /* the token table must be exactly what the merges define */
    size_t pos = head + 8 * (size_t)n_merges;
    for (uint32_t id = 0; id < V; id++) {
        if (len - pos < 4) return ut__fail("%s: truncated in the token table (token %u)", path, id);
        uint32_t n = ut_get_u32(f + pos);
        pos += 4;
        if (n != tk->token_len[id]) return ut__fail("%s: token %u has length %u, expected %u", path, id, n, tk->token_len[id]);
        if (len - pos < n) return ut__fail("%s: truncated in the token table (token %u)", path, id);
        if (memcmp(f + pos, tk->token_bytes[id], n) != 0)
            return ut__fail("%s: token %u's bytes do not match its definition", path, id);
        pos += n;
    }
    if (pos != len) return ut__fail("%s: %zu trailing bytes after the token table", path, len - pos);
    return 0;
}

int ut_tokenizer_load(ut_tokenizer *tk, const char *path) {
    memset(tk, 0, sizeof *tk);
    size_t len;
    uint8_t *f = ut__read_file(path, "tokenizer", &len);
    if (!f) return -1;
    int r = ut__tokenizer_parse(tk, f, len, path);
    free(f);
    if (r) ut_tokenizer_free(tk);
    return r;
}

uint8_t *ut_tokenizer_serialize(const ut_tokenizer *tk, size_t *len) {
    size_t n = 24 + 8 * (size_t)tk->n_merges;
    for (uint32_t id = 0; id < tk->vocab_size; id++) n += 4 + (size_t)tk->token_len[id];
    uint8_t *buf = (uint8_t *)malloc(n), *p = buf;
    if (!buf) { ut__fail("out of memory (%zu bytes for a tokenizer file)", n); return NULL; }
    memcpy(p, "UTBP", 4);
    ut_put_u32(p + 4, 2);
    ut_put_u32(p + 8, tk->vocab_size);
    ut_put_u32(p + 12, tk->n_merges);
    ut_put_u32(p + 16, tk->n_special);
    ut_put_u32(p + 20, tk->pretok);
    p += 24;
    for (size_t i = 0; i < 2 * (size_t)tk->n_merges; i++, p += 4) ut_put_u32(p, tk->merges[i]);
    for (uint32_t id = 0; id < tk->vocab_size; id++) {
        ut_put_u32(p, tk->token_len[id]);
        memcpy(p + 4, tk->token_bytes[id], tk->token_len[id]);
        p += 4 + tk->token_len[id];
    }
    *len = n;
    return buf;
}

void ut_tokenizer_free(ut_tokenizer *tk) {
    free(tk->merges); free(tk->token_bytes); free(tk->token_len); free(tk->blob);
    free(tk->pair_key); free(tk->pair_rank);
    memset(tk, 0, sizeof *tk);
}

uint32_t ut_tokenizer_merge_rank(const ut_tokenizer *tk, uint32_t left, uint32_t right) {
    uint64_t key = (uint64_t)left << 32 | right;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & tk->pair_mask;
    while (tk->pair_key[h] != UINT64_MAX) {
        if (tk->pair_key[h] == key) return tk->pair_rank[h];
        h = (h + 1) & tk->pair_mask;
    }
    return UINT32_MAX;
}

int ut_tokens_check_tokenizer(const ut_tokens *d, const ut_tokenizer *tk) {
    if (d->vocab_size != tk->vocab_size)
        return ut__fail("the token file was made by a tokenizer with vocab size %u, but this one has %u",
                        d->vocab_size, tk->vocab_size);
    uint64_t text_len = 0;
    for (uint64_t i = 0; i < d->n_tokens; i++) text_len += tk->token_len[d->tokens[i]];
    if (text_len != d->n_bytes)
        return ut__fail("the token file's header says its text is %llu bytes, but its tokens decode to %llu",
                        (unsigned long long)d->n_bytes, (unsigned long long)text_len);
    return 0;
}

/* PRE-TOKENIZATION: cutting text into chunks before BPE sees it.
   Merges never cross a chunk boundary, so " the" can become one token but
   "e." or "d\n\nT" never can: the vocabulary goes to words, not to accidental
   byte combinations.

   THE RULE (UT_PRETOK_GPT2, every tokenizer trained now) is GPT-2's, exactly
   the regular expression of its encoder.py, so that llama.cpp (pre-tokenizer
   "gpt-2") and Hugging Face tokenizers (ByteLevel) cut a text as we do:
       's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
   At each position the first alternative that matches wins, and each `+` is
   greedy. Read as a procedure over characters (UTF-8 decoded), a chunk
   starting at character c is:
     1. a contraction: ' followed by s, t, re, ve, m, ll or d (lower case):
        "know'st" -> "know", "'s", "t"; "don't" -> "don", "'t";
     2. an optional ' ' (the ASCII space only) then a maximal run of letters
        (\p{L}, Unicode categories L*), of numbers (\p{N}: N*), or of
        "other" characters (neither whitespace, letter nor number: "?!'"
        is one run; a ' inside such a run is not a contraction);
     3. whitespace (\s): the maximal run; if a non-space character follows
        and the run is longer than one character, its last character is left
        to the next chunk ((?!\S) makes the regex back off one character):
        "\n\nJULIET" -> "\n", "\n", "JULIET" and "a  b" -> "a", " ", " b".
   Letters and numbers come from a table generated from the Unicode database
   (tools/unicode_classes.py: ranges of code points, binary-searched);
   whitespace is Unicode's White_Space list, written out below. A byte that is
   not part of valid UTF-8 is an "other" character of its own.

   THE FIRST RULE (UT_PRETOK_V1, tokenizer files of version 1) classed each
   byte instead: ' ' '\t' '\n' '\v' '\f' '\r' space, 'A'-'Z' 'a'-'z' and
   every byte >= 0x80 a letter, '0'-'9' a digit, the rest "other"; a chunk
   was an optional ' ' plus a run of one class, or a whitespace run that left
   only a final ' ' to the next word. It differs from GPT-2's in three ways:
   no contractions, "\n\n" stayed whole, and all non-ASCII bytes were
   letters. Old tokenizers keep it (their merges were learned with it).

   Both rules only look forward, so cutting a text at a chunk boundary chunks
   both halves exactly as before. With eot set (`tokenizer encode --eot`),
   each literal <|endoftext|> is cut out first and becomes a chunk of its own
   (the special id); the pieces between are chunked as above. Training never
   treats it specially. */
#define S_ UT_SPACE
#define L_ UT_LETTER
#define D_ UT_DIGIT
#define P_ UT_PUNCT
const uint8_t ut__byte_classes[256] = {
    /*         0   1   2   3   4   5   6   7   8   9   a   b   c   d   e   f */
    /* 0x00 */ P_, P_, P_, P_, P_, P_, P_, P_, P_, S_, S_, S_, S_, S_, P_, P_, /* \t \n \v \f \r */
    /* 0x10 */ P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_,
    /* 0x20 */ S_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, /* ' ' !"#$%&'()*+,-./ */
    /* 0x30 */ D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, P_, P_, P_, P_, P_, P_, /* 0-9 :;<=>? */
    /* 0x40 */ P_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, /* @ A-O */
    /* 0x50 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, P_, P_, P_, P_, P_, /* P-Z [\]^_ */
    /* 0x60 */ P_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, /* ` a-o */
    /* 0x70 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, P_, P_, P_, P_, P_, /* p-z {|}~ DEL */
    /* 0x80 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, /* 0x80-0xff: UTF-8 */
    /* 0x90 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xa0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xb0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xc0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xd0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xe0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
    /* 0xf0 */ L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,
};
#undef S_
#undef L_
#undef D_
#undef P_
int ut_byte_class(uint8_t b) { return ut__byte_classes[b]; }

/* GPT-2's classes: letters (UL) and numbers (UN) as sorted code point ranges
   [first, last]; every code point not in a range (nor whitespace) is other. */
#define UL UT_LETTER
#define UN UT_DIGIT
static const struct { uint32_t first, last; uint8_t cls; } ut__unicode_ranges[] = {
/* BEGIN table */
/* generated by tools/unicode_classes.py from Unicode 14.0.0: 782 ranges */
{0x30,0x39,UN}, {0x41,0x5A,UL}, {0x61,0x7A,UL}, {0xAA,0xAA,UL}, {0xB2,0xB3,UN}, {0xB5,0xB5,UL},
{0xB9,0xB9,UN}, {0xBA,0xBA,UL}, {0xBC,0xBE,UN}, {0xC0,0xD6,UL}, {0xD8,0xF6,UL}, {0xF8,0x2C1,UL},
{0x2C6,0x2D1,UL}, {0x2E0,0x2E4,UL}, {0x2EC,0x2EC,UL}, {0x2EE,0x2EE,UL}, {0x370,0x374,UL},
{0x376,0x377,UL}, {0x37A,0x37D,UL}, {0x37F,0x37F,UL}, {0x386,0x386,UL}, {0x388,0x38A,UL},
{0x38C,0x38C,UL}, {0x38E,0x3A1,UL}, {0x3A3,0x3F5,UL}, {0x3F7,0x481,UL}, {0x48A,0x52F,UL},
{0x531,0x556,UL}, {0x559,0x559,UL}, {0x560,0x588,UL}, {0x5D0,0x5EA,UL}, {0x5EF,0x5F2,UL},
{0x620,0x64A,UL}, {0x660,0x669,UN}, {0x66E,0x66F,UL}, {0x671,0x6D3,UL}, {0x6D5,0x6D5,UL},
{0x6E5,0x6E6,UL}, {0x6EE,0x6EF,UL}, {0x6F0,0x6F9,UN}, {0x6FA,0x6FC,UL}, {0x6FF,0x6FF,UL},
{0x710,0x710,UL}, {0x712,0x72F,UL}, {0x74D,0x7A5,UL}, {0x7B1,0x7B1,UL}, {0x7C0,0x7C9,UN},
{0x7CA,0x7EA,UL}, {0x7F4,0x7F5,UL}, {0x7FA,0x7FA,UL}, {0x800,0x815,UL}, {0x81A,0x81A,UL},
{0x824,0x824,UL}, {0x828,0x828,UL}, {0x840,0x858,UL}, {0x860,0x86A,UL}, {0x870,0x887,UL},
{0x889,0x88E,UL}, {0x8A0,0x8C9,UL}, {0x904,0x939,UL}, {0x93D,0x93D,UL}, {0x950,0x950,UL},
{0x958,0x961,UL}, {0x966,0x96F,UN}, {0x971,0x980,UL}, {0x985,0x98C,UL}, {0x98F,0x990,UL},
{0x993,0x9A8,UL}, {0x9AA,0x9B0,UL}, {0x9B2,0x9B2,UL}, {0x9B6,0x9B9,UL}, {0x9BD,0x9BD,UL},
{0x9CE,0x9CE,UL}, {0x9DC,0x9DD,UL}, {0x9DF,0x9E1,UL}, {0x9E6,0x9EF,UN}, {0x9F0,0x9F1,UL},
{0x9F4,0x9F9,UN}, {0x9FC,0x9FC,UL}, {0xA05,0xA0A,UL}, {0xA0F,0xA10,UL}, {0xA13,0xA28,UL},
{0xA2A,0xA30,UL}, {0xA32,0xA33,UL}, {0xA35,0xA36,UL}, {0xA38,0xA39,UL}, {0xA59,0xA5C,UL},
{0xA5E,0xA5E,UL}, {0xA66,0xA6F,UN}, {0xA72,0xA74,UL}, {0xA85,0xA8D,UL}, {0xA8F,0xA91,UL},
{0xA93,0xAA8,UL}, {0xAAA,0xAB0,UL}, {0xAB2,0xAB3,UL}, {0xAB5,0xAB9,UL}, {0xABD,0xABD,UL},
{0xAD0,0xAD0,UL}, {0xAE0,0xAE1,UL}, {0xAE6,0xAEF,UN}, {0xAF9,0xAF9,UL}, {0xB05,0xB0C,UL},
{0xB0F,0xB10,UL}, {0xB13,0xB28,UL}, {0xB2A,0xB30,UL}, {0xB32,0xB33,UL}, {0xB35,0xB39,UL},
{0xB3D,0xB3D,UL}, {0xB5C,0xB5D,UL}, {0xB5F,0xB61,UL}, {0xB66,0xB6F,UN}, {0xB71,0xB71,UL},
{0xB72,0xB77,UN}, {0xB83,0xB83,UL}, {0xB85,0xB8A,UL}, {0xB8E,0xB90,UL}, {0xB92,0xB95,UL},
{0xB99,0xB9A,UL}, {0xB9C,0xB9C,UL}, {0xB9E,0xB9F,UL}, {0xBA3,0xBA4,UL}, {0xBA8,0xBAA,UL},
{0xBAE,0xBB9,UL}, {0xBD0,0xBD0,UL}, {0xBE6,0xBF2,UN}, {0xC05,0xC0C,UL}, {0xC0E,0xC10,UL},
{0xC12,0xC28,UL}, {0xC2A,0xC39,UL}, {0xC3D,0xC3D,UL}, {0xC58,0xC5A,UL}, {0xC5D,0xC5D,UL},
{0xC60,0xC61,UL}, {0xC66,0xC6F,UN}, {0xC78,0xC7E,UN}, {0xC80,0xC80,UL}, {0xC85,0xC8C,UL},
{0xC8E,0xC90,UL}, {0xC92,0xCA8,UL}, {0xCAA,0xCB3,UL}, {0xCB5,0xCB9,UL}, {0xCBD,0xCBD,UL},
{0xCDD,0xCDE,UL}, {0xCE0,0xCE1,UL}, {0xCE6,0xCEF,UN}, {0xCF1,0xCF2,UL}, {0xD04,0xD0C,UL},
{0xD0E,0xD10,UL}, {0xD12,0xD3A,UL}, {0xD3D,0xD3D,UL}, {0xD4E,0xD4E,UL}, {0xD54,0xD56,UL},
{0xD58,0xD5E,UN}, {0xD5F,0xD61,UL}, {0xD66,0xD78,UN}, {0xD7A,0xD7F,UL}, {0xD85,0xD96,UL},
{0xD9A,0xDB1,UL}, {0xDB3,0xDBB,UL}, {0xDBD,0xDBD,UL}, {0xDC0,0xDC6,UL}, {0xDE6,0xDEF,UN},
{0xE01,0xE30,UL}, {0xE32,0xE33,UL}, {0xE40,0xE46,UL}, {0xE50,0xE59,UN}, {0xE81,0xE82,UL},
{0xE84,0xE84,UL}, {0xE86,0xE8A,UL}, {0xE8C,0xEA3,UL}, {0xEA5,0xEA5,UL}, {0xEA7,0xEB0,UL},
{0xEB2,0xEB3,UL}, {0xEBD,0xEBD,UL}, {0xEC0,0xEC4,UL}, {0xEC6,0xEC6,UL}, {0xED0,0xED9,UN},
{0xEDC,0xEDF,UL}, {0xF00,0xF00,UL}, {0xF20,0xF33,UN}, {0xF40,0xF47,UL}, {0xF49,0xF6C,UL},
{0xF88,0xF8C,UL}, {0x1000,0x102A,UL}, {0x103F,0x103F,UL}, {0x1040,0x1049,UN}, {0x1050,0x1055,UL},
{0x105A,0x105D,UL}, {0x1061,0x1061,UL}, {0x1065,0x1066,UL}, {0x106E,0x1070,UL}, {0x1075,0x1081,UL},
{0x108E,0x108E,UL}, {0x1090,0x1099,UN}, {0x10A0,0x10C5,UL}, {0x10C7,0x10C7,UL}, {0x10CD,0x10CD,UL},
{0x10D0,0x10FA,UL}, {0x10FC,0x1248,UL}, {0x124A,0x124D,UL}, {0x1250,0x1256,UL}, {0x1258,0x1258,UL},
{0x125A,0x125D,UL}, {0x1260,0x1288,UL}, {0x128A,0x128D,UL}, {0x1290,0x12B0,UL}, {0x12B2,0x12B5,UL},
{0x12B8,0x12BE,UL}, {0x12C0,0x12C0,UL}, {0x12C2,0x12C5,UL}, {0x12C8,0x12D6,UL}, {0x12D8,0x1310,UL},
{0x1312,0x1315,UL}, {0x1318,0x135A,UL}, {0x1369,0x137C,UN}, {0x1380,0x138F,UL}, {0x13A0,0x13F5,UL},
{0x13F8,0x13FD,UL}, {0x1401,0x166C,UL}, {0x166F,0x167F,UL}, {0x1681,0x169A,UL}, {0x16A0,0x16EA,UL},
{0x16EE,0x16F0,UN}, {0x16F1,0x16F8,UL}, {0x1700,0x1711,UL}, {0x171F,0x1731,UL}, {0x1740,0x1751,UL},
{0x1760,0x176C,UL}, {0x176E,0x1770,UL}, {0x1780,0x17B3,UL}, {0x17D7,0x17D7,UL}, {0x17DC,0x17DC,UL},
{0x17E0,0x17E9,UN}, {0x17F0,0x17F9,UN}, {0x1810,0x1819,UN}, {0x1820,0x1878,UL}, {0x1880,0x1884,UL},
{0x1887,0x18A8,UL}, {0x18AA,0x18AA,UL}, {0x18B0,0x18F5,UL}, {0x1900,0x191E,UL}, {0x1946,0x194F,UN},
{0x1950,0x196D,UL}, {0x1970,0x1974,UL}, {0x1980,0x19AB,UL}, {0x19B0,0x19C9,UL}, {0x19D0,0x19DA,UN},
{0x1A00,0x1A16,UL}, {0x1A20,0x1A54,UL}, {0x1A80,0x1A89,UN}, {0x1A90,0x1A99,UN}, {0x1AA7,0x1AA7,UL},
{0x1B05,0x1B33,UL}, {0x1B45,0x1B4C,UL}, {0x1B50,0x1B59,UN}, {0x1B83,0x1BA0,UL}, {0x1BAE,0x1BAF,UL},
{0x1BB0,0x1BB9,UN}, {0x1BBA,0x1BE5,UL}, {0x1C00,0x1C23,UL}, {0x1C40,0x1C49,UN}, {0x1C4D,0x1C4F,UL},
{0x1C50,0x1C59,UN}, {0x1C5A,0x1C7D,UL}, {0x1C80,0x1C88,UL}, {0x1C90,0x1CBA,UL}, {0x1CBD,0x1CBF,UL},
{0x1CE9,0x1CEC,UL}, {0x1CEE,0x1CF3,UL}, {0x1CF5,0x1CF6,UL}, {0x1CFA,0x1CFA,UL}, {0x1D00,0x1DBF,UL},
{0x1E00,0x1F15,UL}, {0x1F18,0x1F1D,UL}, {0x1F20,0x1F45,UL}, {0x1F48,0x1F4D,UL}, {0x1F50,0x1F57,UL},
{0x1F59,0x1F59,UL}, {0x1F5B,0x1F5B,UL}, {0x1F5D,0x1F5D,UL}, {0x1F5F,0x1F7D,UL}, {0x1F80,0x1FB4,UL},
{0x1FB6,0x1FBC,UL}, {0x1FBE,0x1FBE,UL}, {0x1FC2,0x1FC4,UL}, {0x1FC6,0x1FCC,UL}, {0x1FD0,0x1FD3,UL},
{0x1FD6,0x1FDB,UL}, {0x1FE0,0x1FEC,UL}, {0x1FF2,0x1FF4,UL}, {0x1FF6,0x1FFC,UL}, {0x2070,0x2070,UN},
{0x2071,0x2071,UL}, {0x2074,0x2079,UN}, {0x207F,0x207F,UL}, {0x2080,0x2089,UN}, {0x2090,0x209C,UL},
{0x2102,0x2102,UL}, {0x2107,0x2107,UL}, {0x210A,0x2113,UL}, {0x2115,0x2115,UL}, {0x2119,0x211D,UL},
{0x2124,0x2124,UL}, {0x2126,0x2126,UL}, {0x2128,0x2128,UL}, {0x212A,0x212D,UL}, {0x212F,0x2139,UL},
{0x213C,0x213F,UL}, {0x2145,0x2149,UL}, {0x214E,0x214E,UL}, {0x2150,0x2182,UN}, {0x2183,0x2184,UL},
{0x2185,0x2189,UN}, {0x2460,0x249B,UN}, {0x24EA,0x24FF,UN}, {0x2776,0x2793,UN}, {0x2C00,0x2CE4,UL},
{0x2CEB,0x2CEE,UL}, {0x2CF2,0x2CF3,UL}, {0x2CFD,0x2CFD,UN}, {0x2D00,0x2D25,UL}, {0x2D27,0x2D27,UL},
{0x2D2D,0x2D2D,UL}, {0x2D30,0x2D67,UL}, {0x2D6F,0x2D6F,UL}, {0x2D80,0x2D96,UL}, {0x2DA0,0x2DA6,UL},
{0x2DA8,0x2DAE,UL}, {0x2DB0,0x2DB6,UL}, {0x2DB8,0x2DBE,UL}, {0x2DC0,0x2DC6,UL}, {0x2DC8,0x2DCE,UL},
{0x2DD0,0x2DD6,UL}, {0x2DD8,0x2DDE,UL}, {0x2E2F,0x2E2F,UL}, {0x3005,0x3006,UL}, {0x3007,0x3007,UN},
{0x3021,0x3029,UN}, {0x3031,0x3035,UL}, {0x3038,0x303A,UN}, {0x303B,0x303C,UL}, {0x3041,0x3096,UL},
{0x309D,0x309F,UL}, {0x30A1,0x30FA,UL}, {0x30FC,0x30FF,UL}, {0x3105,0x312F,UL}, {0x3131,0x318E,UL},
{0x3192,0x3195,UN}, {0x31A0,0x31BF,UL}, {0x31F0,0x31FF,UL}, {0x3220,0x3229,UN}, {0x3248,0x324F,UN},
{0x3251,0x325F,UN}, {0x3280,0x3289,UN}, {0x32B1,0x32BF,UN}, {0x3400,0x4DBF,UL}, {0x4E00,0xA48C,UL},
{0xA4D0,0xA4FD,UL}, {0xA500,0xA60C,UL}, {0xA610,0xA61F,UL}, {0xA620,0xA629,UN}, {0xA62A,0xA62B,UL},
{0xA640,0xA66E,UL}, {0xA67F,0xA69D,UL}, {0xA6A0,0xA6E5,UL}, {0xA6E6,0xA6EF,UN}, {0xA717,0xA71F,UL},
{0xA722,0xA788,UL}, {0xA78B,0xA7CA,UL}, {0xA7D0,0xA7D1,UL}, {0xA7D3,0xA7D3,UL}, {0xA7D5,0xA7D9,UL},
{0xA7F2,0xA801,UL}, {0xA803,0xA805,UL}, {0xA807,0xA80A,UL}, {0xA80C,0xA822,UL}, {0xA830,0xA835,UN},
{0xA840,0xA873,UL}, {0xA882,0xA8B3,UL}, {0xA8D0,0xA8D9,UN}, {0xA8F2,0xA8F7,UL}, {0xA8FB,0xA8FB,UL},
{0xA8FD,0xA8FE,UL}, {0xA900,0xA909,UN}, {0xA90A,0xA925,UL}, {0xA930,0xA946,UL}, {0xA960,0xA97C,UL},
{0xA984,0xA9B2,UL}, {0xA9CF,0xA9CF,UL}, {0xA9D0,0xA9D9,UN}, {0xA9E0,0xA9E4,UL}, {0xA9E6,0xA9EF,UL},
{0xA9F0,0xA9F9,UN}, {0xA9FA,0xA9FE,UL}, {0xAA00,0xAA28,UL}, {0xAA40,0xAA42,UL}, {0xAA44,0xAA4B,UL},
{0xAA50,0xAA59,UN}, {0xAA60,0xAA76,UL}, {0xAA7A,0xAA7A,UL}, {0xAA7E,0xAAAF,UL}, {0xAAB1,0xAAB1,UL},
{0xAAB5,0xAAB6,UL}, {0xAAB9,0xAABD,UL}, {0xAAC0,0xAAC0,UL}, {0xAAC2,0xAAC2,UL}, {0xAADB,0xAADD,UL},
{0xAAE0,0xAAEA,UL}, {0xAAF2,0xAAF4,UL}, {0xAB01,0xAB06,UL}, {0xAB09,0xAB0E,UL}, {0xAB11,0xAB16,UL},
{0xAB20,0xAB26,UL}, {0xAB28,0xAB2E,UL}, {0xAB30,0xAB5A,UL}, {0xAB5C,0xAB69,UL}, {0xAB70,0xABE2,UL},
{0xABF0,0xABF9,UN}, {0xAC00,0xD7A3,UL}, {0xD7B0,0xD7C6,UL}, {0xD7CB,0xD7FB,UL}, {0xF900,0xFA6D,UL},
{0xFA70,0xFAD9,UL}, {0xFB00,0xFB06,UL}, {0xFB13,0xFB17,UL}, {0xFB1D,0xFB1D,UL}, {0xFB1F,0xFB28,UL},
{0xFB2A,0xFB36,UL}, {0xFB38,0xFB3C,UL}, {0xFB3E,0xFB3E,UL}, {0xFB40,0xFB41,UL}, {0xFB43,0xFB44,UL},
{0xFB46,0xFBB1,UL}, {0xFBD3,0xFD3D,UL}, {0xFD50,0xFD8F,UL}, {0xFD92,0xFDC7,UL}, {0xFDF0,0xFDFB,UL},
{0xFE70,0xFE74,UL}, {0xFE76,0xFEFC,UL}, {0xFF10,0xFF19,UN}, {0xFF21,0xFF3A,UL}, {0xFF41,0xFF5A,UL},
{0xFF66,0xFFBE,UL}, {0xFFC2,0xFFC7,UL}, {0xFFCA,0xFFCF,UL}, {0xFFD2,0xFFD7,UL}, {0xFFDA,0xFFDC,UL},
{0x10000,0x1000B,UL}, {0x1000D,0x10026,UL}, {0x10028,0x1003A,UL}, {0x1003C,0x1003D,UL},
{0x1003F,0x1004D,UL}, {0x10050,0x1005D,UL}, {0x10080,0x100FA,UL}, {0x10107,0x10133,UN},
{0x10140,0x10178,UN}, {0x1018A,0x1018B,UN}, {0x10280,0x1029C,UL}, {0x102A0,0x102D0,UL},
{0x102E1,0x102FB,UN}, {0x10300,0x1031F,UL}, {0x10320,0x10323,UN}, {0x1032D,0x10340,UL},
{0x10341,0x10341,UN}, {0x10342,0x10349,UL}, {0x1034A,0x1034A,UN}, {0x10350,0x10375,UL},
{0x10380,0x1039D,UL}, {0x103A0,0x103C3,UL}, {0x103C8,0x103CF,UL}, {0x103D1,0x103D5,UN},
{0x10400,0x1049D,UL}, {0x104A0,0x104A9,UN}, {0x104B0,0x104D3,UL}, {0x104D8,0x104FB,UL},
{0x10500,0x10527,UL}, {0x10530,0x10563,UL}, {0x10570,0x1057A,UL}, {0x1057C,0x1058A,UL},
{0x1058C,0x10592,UL}, {0x10594,0x10595,UL}, {0x10597,0x105A1,UL}, {0x105A3,0x105B1,UL},
{0x105B3,0x105B9,UL}, {0x105BB,0x105BC,UL}, {0x10600,0x10736,UL}, {0x10740,0x10755,UL},
{0x10760,0x10767,UL}, {0x10780,0x10785,UL}, {0x10787,0x107B0,UL}, {0x107B2,0x107BA,UL},
{0x10800,0x10805,UL}, {0x10808,0x10808,UL}, {0x1080A,0x10835,UL}, {0x10837,0x10838,UL},
{0x1083C,0x1083C,UL}, {0x1083F,0x10855,UL}, {0x10858,0x1085F,UN}, {0x10860,0x10876,UL},
{0x10879,0x1087F,UN}, {0x10880,0x1089E,UL}, {0x108A7,0x108AF,UN}, {0x108E0,0x108F2,UL},
{0x108F4,0x108F5,UL}, {0x108FB,0x108FF,UN}, {0x10900,0x10915,UL}, {0x10916,0x1091B,UN},
{0x10920,0x10939,UL}, {0x10980,0x109B7,UL}, {0x109BC,0x109BD,UN}, {0x109BE,0x109BF,UL},
{0x109C0,0x109CF,UN}, {0x109D2,0x109FF,UN}, {0x10A00,0x10A00,UL}, {0x10A10,0x10A13,UL},
{0x10A15,0x10A17,UL}, {0x10A19,0x10A35,UL}, {0x10A40,0x10A48,UN}, {0x10A60,0x10A7C,UL},
{0x10A7D,0x10A7E,UN}, {0x10A80,0x10A9C,UL}, {0x10A9D,0x10A9F,UN}, {0x10AC0,0x10AC7,UL},
{0x10AC9,0x10AE4,UL}, {0x10AEB,0x10AEF,UN}, {0x10B00,0x10B35,UL}, {0x10B40,0x10B55,UL},
{0x10B58,0x10B5F,UN}, {0x10B60,0x10B72,UL}, {0x10B78,0x10B7F,UN}, {0x10B80,0x10B91,UL},
{0x10BA9,0x10BAF,UN}, {0x10C00,0x10C48,UL}, {0x10C80,0x10CB2,UL}, {0x10CC0,0x10CF2,UL},
{0x10CFA,0x10CFF,UN}, {0x10D00,0x10D23,UL}, {0x10D30,0x10D39,UN}, {0x10E60,0x10E7E,UN},
{0x10E80,0x10EA9,UL}, {0x10EB0,0x10EB1,UL}, {0x10F00,0x10F1C,UL}, {0x10F1D,0x10F26,UN},
{0x10F27,0x10F27,UL}, {0x10F30,0x10F45,UL}, {0x10F51,0x10F54,UN}, {0x10F70,0x10F81,UL},
{0x10FB0,0x10FC4,UL}, {0x10FC5,0x10FCB,UN}, {0x10FE0,0x10FF6,UL}, {0x11003,0x11037,UL},
{0x11052,0x1106F,UN}, {0x11071,0x11072,UL}, {0x11075,0x11075,UL}, {0x11083,0x110AF,UL},
{0x110D0,0x110E8,UL}, {0x110F0,0x110F9,UN}, {0x11103,0x11126,UL}, {0x11136,0x1113F,UN},
{0x11144,0x11144,UL}, {0x11147,0x11147,UL}, {0x11150,0x11172,UL}, {0x11176,0x11176,UL},
{0x11183,0x111B2,UL}, {0x111C1,0x111C4,UL}, {0x111D0,0x111D9,UN}, {0x111DA,0x111DA,UL},
{0x111DC,0x111DC,UL}, {0x111E1,0x111F4,UN}, {0x11200,0x11211,UL}, {0x11213,0x1122B,UL},
{0x11280,0x11286,UL}, {0x11288,0x11288,UL}, {0x1128A,0x1128D,UL}, {0x1128F,0x1129D,UL},
{0x1129F,0x112A8,UL}, {0x112B0,0x112DE,UL}, {0x112F0,0x112F9,UN}, {0x11305,0x1130C,UL},
{0x1130F,0x11310,UL}, {0x11313,0x11328,UL}, {0x1132A,0x11330,UL}, {0x11332,0x11333,UL},
{0x11335,0x11339,UL}, {0x1133D,0x1133D,UL}, {0x11350,0x11350,UL}, {0x1135D,0x11361,UL},
{0x11400,0x11434,UL}, {0x11447,0x1144A,UL}, {0x11450,0x11459,UN}, {0x1145F,0x11461,UL},
{0x11480,0x114AF,UL}, {0x114C4,0x114C5,UL}, {0x114C7,0x114C7,UL}, {0x114D0,0x114D9,UN},
{0x11580,0x115AE,UL}, {0x115D8,0x115DB,UL}, {0x11600,0x1162F,UL}, {0x11644,0x11644,UL},
{0x11650,0x11659,UN}, {0x11680,0x116AA,UL}, {0x116B8,0x116B8,UL}, {0x116C0,0x116C9,UN},
{0x11700,0x1171A,UL}, {0x11730,0x1173B,UN}, {0x11740,0x11746,UL}, {0x11800,0x1182B,UL},
{0x118A0,0x118DF,UL}, {0x118E0,0x118F2,UN}, {0x118FF,0x11906,UL}, {0x11909,0x11909,UL},
{0x1190C,0x11913,UL}, {0x11915,0x11916,UL}, {0x11918,0x1192F,UL}, {0x1193F,0x1193F,UL},
{0x11941,0x11941,UL}, {0x11950,0x11959,UN}, {0x119A0,0x119A7,UL}, {0x119AA,0x119D0,UL},
{0x119E1,0x119E1,UL}, {0x119E3,0x119E3,UL}, {0x11A00,0x11A00,UL}, {0x11A0B,0x11A32,UL},
{0x11A3A,0x11A3A,UL}, {0x11A50,0x11A50,UL}, {0x11A5C,0x11A89,UL}, {0x11A9D,0x11A9D,UL},
{0x11AB0,0x11AF8,UL}, {0x11C00,0x11C08,UL}, {0x11C0A,0x11C2E,UL}, {0x11C40,0x11C40,UL},
{0x11C50,0x11C6C,UN}, {0x11C72,0x11C8F,UL}, {0x11D00,0x11D06,UL}, {0x11D08,0x11D09,UL},
{0x11D0B,0x11D30,UL}, {0x11D46,0x11D46,UL}, {0x11D50,0x11D59,UN}, {0x11D60,0x11D65,UL},
{0x11D67,0x11D68,UL}, {0x11D6A,0x11D89,UL}, {0x11D98,0x11D98,UL}, {0x11DA0,0x11DA9,UN},
{0x11EE0,0x11EF2,UL}, {0x11FB0,0x11FB0,UL}, {0x11FC0,0x11FD4,UN}, {0x12000,0x12399,UL},
{0x12400,0x1246E,UN}, {0x12480,0x12543,UL}, {0x12F90,0x12FF0,UL}, {0x13000,0x1342E,UL},
{0x14400,0x14646,UL}, {0x16800,0x16A38,UL}, {0x16A40,0x16A5E,UL}, {0x16A60,0x16A69,UN},
{0x16A70,0x16ABE,UL}, {0x16AC0,0x16AC9,UN}, {0x16AD0,0x16AED,UL}, {0x16B00,0x16B2F,UL},
{0x16B40,0x16B43,UL}, {0x16B50,0x16B59,UN}, {0x16B5B,0x16B61,UN}, {0x16B63,0x16B77,UL},
{0x16B7D,0x16B8F,UL}, {0x16E40,0x16E7F,UL}, {0x16E80,0x16E96,UN}, {0x16F00,0x16F4A,UL},
{0x16F50,0x16F50,UL}, {0x16F93,0x16F9F,UL}, {0x16FE0,0x16FE1,UL}, {0x16FE3,0x16FE3,UL},
{0x17000,0x187F7,UL}, {0x18800,0x18CD5,UL}, {0x18D00,0x18D08,UL}, {0x1AFF0,0x1AFF3,UL},
{0x1AFF5,0x1AFFB,UL}, {0x1AFFD,0x1AFFE,UL}, {0x1B000,0x1B122,UL}, {0x1B150,0x1B152,UL},
{0x1B164,0x1B167,UL}, {0x1B170,0x1B2FB,UL}, {0x1BC00,0x1BC6A,UL}, {0x1BC70,0x1BC7C,UL},
{0x1BC80,0x1BC88,UL}, {0x1BC90,0x1BC99,UL}, {0x1D2E0,0x1D2F3,UN}, {0x1D360,0x1D378,UN},
{0x1D400,0x1D454,UL}, {0x1D456,0x1D49C,UL}, {0x1D49E,0x1D49F,UL}, {0x1D4A2,0x1D4A2,UL},
{0x1D4A5,0x1D4A6,UL}, {0x1D4A9,0x1D4AC,UL}, {0x1D4AE,0x1D4B9,UL}, {0x1D4BB,0x1D4BB,UL},
{0x1D4BD,0x1D4C3,UL}, {0x1D4C5,0x1D505,UL}, {0x1D507,0x1D50A,UL}, {0x1D50D,0x1D514,UL},
{0x1D516,0x1D51C,UL}, {0x1D51E,0x1D539,UL}, {0x1D53B,0x1D53E,UL}, {0x1D540,0x1D544,UL},
{0x1D546,0x1D546,UL}, {0x1D54A,0x1D550,UL}, {0x1D552,0x1D6A5,UL}, {0x1D6A8,0x1D6C0,UL},
{0x1D6C2,0x1D6DA,UL}, {0x1D6DC,0x1D6FA,UL}, {0x1D6FC,0x1D714,UL}, {0x1D716,0x1D734,UL},
{0x1D736,0x1D74E,UL}, {0x1D750,0x1D76E,UL}, {0x1D770,0x1D788,UL}, {0x1D78A,0x1D7A8,UL},
{0x1D7AA,0x1D7C2,UL}, {0x1D7C4,0x1D7CB,UL}, {0x1D7CE,0x1D7FF,UN}, {0x1DF00,0x1DF1E,UL},
{0x1E100,0x1E12C,UL}, {0x1E137,0x1E13D,UL}, {0x1E140,0x1E149,UN}, {0x1E14E,0x1E14E,UL},
{0x1E290,0x1E2AD,UL}, {0x1E2C0,0x1E2EB,UL}, {0x1E2F0,0x1E2F9,UN}, {0x1E7E0,0x1E7E6,UL},
{0x1E7E8,0x1E7EB,UL}, {0x1E7ED,0x1E7EE,UL}, {0x1E7F0,0x1E7FE,UL}, {0x1E800,0x1E8C4,UL},
{0x1E8C7,0x1E8CF,UN}, {0x1E900,0x1E943,UL}, {0x1E94B,0x1E94B,UL}, {0x1E950,0x1E959,UN},
{0x1EC71,0x1ECAB,UN}, {0x1ECAD,0x1ECAF,UN}, {0x1ECB1,0x1ECB4,UN}, {0x1ED01,0x1ED2D,UN},
{0x1ED2F,0x1ED3D,UN}, {0x1EE00,0x1EE03,UL}, {0x1EE05,0x1EE1F,UL}, {0x1EE21,0x1EE22,UL},
{0x1EE24,0x1EE24,UL}, {0x1EE27,0x1EE27,UL}, {0x1EE29,0x1EE32,UL}, {0x1EE34,0x1EE37,UL},
{0x1EE39,0x1EE39,UL}, {0x1EE3B,0x1EE3B,UL}, {0x1EE42,0x1EE42,UL}, {0x1EE47,0x1EE47,UL},
{0x1EE49,0x1EE49,UL}, {0x1EE4B,0x1EE4B,UL}, {0x1EE4D,0x1EE4F,UL}, {0x1EE51,0x1EE52,UL},
{0x1EE54,0x1EE54,UL}, {0x1EE57,0x1EE57,UL}, {0x1EE59,0x1EE59,UL}, {0x1EE5B,0x1EE5B,UL},
{0x1EE5D,0x1EE5D,UL}, {0x1EE5F,0x1EE5F,UL}, {0x1EE61,0x1EE62,UL}, {0x1EE64,0x1EE64,UL},
{0x1EE67,0x1EE6A,UL}, {0x1EE6C,0x1EE72,UL}, {0x1EE74,0x1EE77,UL}, {0x1EE79,0x1EE7C,UL},
{0x1EE7E,0x1EE7E,UL}, {0x1EE80,0x1EE89,UL}, {0x1EE8B,0x1EE9B,UL}, {0x1EEA1,0x1EEA3,UL},
{0x1EEA5,0x1EEA9,UL}, {0x1EEAB,0x1EEBB,UL}, {0x1F100,0x1F10C,UN}, {0x1FBF0,0x1FBF9,UN},
{0x20000,0x2A6DF,UL}, {0x2A700,0x2B738,UL}, {0x2B740,0x2B81D,UL}, {0x2B820,0x2CEA1,UL},
{0x2CEB0,0x2EBE0,UL}, {0x2F800,0x2FA1D,UL}, {0x30000,0x3134A,UL},
/* END table */
};
#undef UL
#undef UN
/* Unicode's White_Space property: what \s means to GPT-2's regex. (Not all
   regex engines agree at the edges: JavaScript's \s lacks U+0085 and adds
   U+FEFF, and Python's re adds U+001C-U+001F.) */
static int ut__is_white_space(uint32_t cp) {
    return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}
/* One UTF-8 character at t[i] (of n bytes): its code point in *cp and its
   length, or 0 if the bytes there are not valid UTF-8 (a stray continuation
   byte, a truncated sequence, an overlong form, a surrogate, > U+10FFFF). */
static size_t ut__utf8_decode(const uint8_t *t, size_t i, size_t n, uint32_t *cp) {
    uint8_t b = t[i];
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n - i) return 0;
    uint32_t c = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < len; k++) {
        if ((t[i + k] & 0xC0) != 0x80) return 0;
        c = c << 6 | (t[i + k] & 0x3Fu);
    }
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_of_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}
int ut_char_class(const uint8_t *text, size_t i, size_t n, size_t *next) {
    if (text[i] < 0x80) { *next = i + 1; return ut__byte_classes[text[i]]; }   /* ASCII: both rules agree */
    uint32_t cp = 0;
    size_t len = ut__utf8_decode(text, i, n, &cp);
    *next = i + (len ? len : 1);
    if (len == 0) return UT_PUNCT;
    if (ut__is_white_space(cp)) return UT_SPACE;
    size_t lo = 0, hi = sizeof ut__unicode_ranges / sizeof ut__unicode_ranges[0];
    while (lo < hi) {                      /* the first range whose last >= cp */
        size_t mid = (lo + hi) / 2;
        if (ut__unicode_ranges[mid].last < cp) lo = mid + 1; else hi = mid;
    }
    if (lo < sizeof ut__unicode_ranges / sizeof ut__unicode_ranges[0] && ut__unicode_ranges[lo].first <= cp)
        return ut__unicode_ranges[lo].cls;
    return UT_PUNCT;
}

/* Position of the next literal <|endoftext|> at or after `from`, or n. */
size_t ut__find_eot(const uint8_t *t, size_t n, size_t from) {
    while (from + UT_EOT_LEN <= n) {
        const uint8_t *p = (const uint8_t *)memchr(t + from, '<', n - from - UT_EOT_LEN + 1);
        if (!p) break;
        if (memcmp(p, UT_EOT_TEXT, UT_EOT_LEN) == 0) return (size_t)(p - t);
        from = (size_t)(p - t) + 1;
    }
    return n;
}

void ut_chunker_init_rule(ut_chunker *c, const uint8_t *text, size_t n, int eot, int rule) {
    c->text = text;
    c->n = n;
    c->pos = 0;
    c->eot = eot;
    c->rule = rule;
    c->seg_end = eot ? ut__find_eot(text, n, 0) : n;
}
void ut_chunker_init(ut_chunker *c, const uint8_t *text, size_t n, int eot) {
    ut_chunker_init_rule(c, text, n, eot, UT_PRETOK_GPT2);
}

/* GPT-2's rule (above) on t[i..end): where the chunk starting at i ends. */
size_t ut__gpt2_chunk_end(const uint8_t *t, size_t i, size_t end) {
    static const char *const contractions[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (t[i] == '\'')                                            /* 1. 's 't 're 've 'm 'll 'd */
        for (int k = 0; k < 7; k++) {
            size_t m = strlen(contractions[k]);
            if (m <= end - i - 1 && memcmp(t + i + 1, contractions[k], m) == 0) return i + 1 + m;
        }
    size_t j, next;
    int k = ut_char_class(t, i, end, &j);
    if (k == UT_SPACE && t[i] == ' ' && j < end) {               /* 2. " " + a run */
        int k2 = ut_char_class(t, j, end, &next);
        if (k2 != UT_SPACE) { k = k2; j = next; }
    }
    if (k != UT_SPACE) {                                          /* 2. a run of one class */
        while (j < end && ut_char_class(t, j, end, &next) == k) j = next;
        return j;
    }
    size_t last = i;                                              /* 3. whitespace */
    while (j < end && ut_char_class(t, j, end, &next) == UT_SPACE) { last = j; j = next; }
    return (j < end && last > i) ? last : j;   /* a non-space follows: leave it the last one */
}

/* The next chunk: sets *start and *len and says what it is. (`inline` is only
   a hint, kept because every encoder calls this once per chunk: a normal,
   external definition all the same, as the declaration above lacks it. C
   lets such a function use only names with external linkage, which is why
   ut__byte_classes, ut__find_eot and ut__gpt2_chunk_end are not `static`.) */
inline int ut_chunker_next(ut_chunker *c, size_t *start, size_t *len) {
    const uint8_t *t = c->text, *cls = ut__byte_classes;
    size_t i = c->pos, end = c->seg_end;
    if (i >= c->n) return UT_CHUNK_END;
    if (c->eot && i == end) {                    /* at a literal <|endoftext|> */
        *start = i;
        *len = UT_EOT_LEN;
        c->pos = i + UT_EOT_LEN;
        c->seg_end = ut__find_eot(t, c->n, c->pos);
        return UT_CHUNK_EOT;
    }
    if (c->rule == UT_PRETOK_GPT2) {
        size_t j = ut__gpt2_chunk_end(t, i, end);
        *start = i;
        *len = j - i;
        c->pos = j;
        return UT_CHUNK_TEXT;
    }
    size_t j = i + 1;                            /* UT_PRETOK_V1 */
    int k = cls[t[i]];
    if (k != UT_SPACE) {                                           /* rule 2: a run of one class */
        while (j < end && cls[t[j]] == k) j++;
    } else if (t[i] == ' ' && j < end && cls[t[j]] != UT_SPACE) {  /* rule 1: " word" */
        k = cls[t[j]];
        while (j < end && cls[t[j]] == k) j++;
    } else {                                     /* rule 3: whitespace, a final ' ' left to the next word */
        while (j < end && cls[t[j]] == UT_SPACE) j++;
        if (j < end && t[j - 1] == ' ' && j - 1 > i) j--;
    }
    *start = i;
    *len = j - i;
    c->pos = j;
    return UT_CHUNK_TEXT;
}

/* ENCODING, the teaching version: BPE on one chunk by replaying the merges.
   Start from its bytes; repeatedly find the adjacent pair with the lowest
   merge rank (the earliest learned) and join every occurrence of it, left to
   right without overlap ("aaa" -> "x a"), exactly as training did to this
   chunk. Each round looks every adjacent pair up: O(n) per round, O(n^2) at
   worst, fine for prompts. tokenizer.c's encoder gives the same ids faster
   (a heap of candidate merges, a cache of chunks seen before).
   s[0..n) -> ids[0..returned), ids has room for n. */
static size_t ut__encode_chunk(const ut_tokenizer *tk, const uint8_t *s, size_t n, int *ids) {
    for (size_t i = 0; i < n; i++) ids[i] = s[i];
    for (;;) {
        uint32_t best = UINT32_MAX;
        for (size_t i = 0; i + 1 < n; i++) {
            uint32_t r = ut_tokenizer_merge_rank(tk, (uint32_t)ids[i], (uint32_t)ids[i + 1]);
            if (r < best) best = r;
        }
        if (best == UINT32_MAX) return n;
        int left = (int)tk->merges[2 * best], right = (int)tk->merges[2 * best + 1];
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && ids[i] == left && ids[i + 1] == right) { ids[j++] = (int)(256 + best); i++; }
            else ids[j++] = ids[i];
        }
        n = j;
    }
}

int ut_tokenizer_encode_bytes(const ut_tokenizer *tk, const uint8_t *text, size_t n, int eot, int *out,
                              int max_out) {
    ut_chunker c;
    ut_chunker_init_rule(&c, text, n, eot, (int)tk->pretok);
    size_t start, len, count = 0, room = max_out > 0 ? (size_t)max_out : 0;
    int kind;
    while ((kind = ut_chunker_next(&c, &start, &len)) != UT_CHUNK_END) {
        if (count + (kind == UT_CHUNK_EOT ? 1 : len) > room)
            return ut__fail("encoding a text of %zu bytes needs room for more than %d ids", n, max_out);
        if (kind == UT_CHUNK_EOT) out[count++] = (int)tk->eot_id;
        else count += ut__encode_chunk(tk, text + start, len, out + count);
    }
    return (int)count;
}
int ut_tokenizer_encode(const ut_tokenizer *tk, const char *text, int *out, int max_out) {
    return ut_tokenizer_encode_bytes(tk, (const uint8_t *)text, strlen(text), 0, out, max_out);
}

/* ===========================================================================
   11. INFERENCE: KV cache and sampling
   Training sees whole sequences; generating text adds one token at a time.
   Each layer's keys and values for past positions never change, so we keep
   them (the KV cache, KVH heads — GQA makes it H/KVH times smaller) and a new
   token costs one row of every matmul plus attention over the cache.
   ======================================================================== */

/* One allocation holds the cache and one row of every activation: the list
   below gives each piece's size, and the same list measures and carves. */
int ut_kv_init(ut_kv_cache *kv, const ut_model *m) {
    const ut_config *c = &m->cfg;
    memset(kv, 0, sizeof *kv);
    size_t L = c->n_layers, S = c->max_seq_len, D = c->d_model, V = c->vocab_size, F = c->ffn_hidden;
    size_t QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t E = c->n_experts, K = c->top_k;
    ut_layer_acts *r = &kv->row;
    ut_moe_state *moe = &r->moe;
    size_t fl = sizeof(ut_float), in = sizeof(int);
    struct { void **ptr; size_t count, elem; } part[] = {
        {(void **)&kv->k, L * S * KD, fl}, {(void **)&kv->v, L * S * KD, fl},   /* the cache */
        {(void **)&kv->scores, S, fl}, {(void **)&kv->logits, V, fl},
        {(void **)&r->x, D, fl}, {(void **)&r->attn_rstd, 1, fl}, {(void **)&r->attn_xn, D, fl},
        {(void **)&r->q, QD, fl}, {(void **)&r->attn_y, QD, fl}, {(void **)&r->mid, D, fl},
        {(void **)&r->ffn_rstd, 1, fl}, {(void **)&r->ffn_xn, D, fl},
        {(void **)&r->gate, K * F, fl}, {(void **)&r->up, K * F, fl}, {(void **)&r->h, K * F, fl},
        /* routing of the one token (E > 1) */
        {(void **)&moe->probs, E, fl}, {(void **)&moe->lse, 1, fl}, {(void **)&moe->topk_w, K, fl},
        {(void **)&moe->x, K * D, fl}, {(void **)&moe->out, K * D, fl},
        {(void **)&moe->topk_e, K, in}, {(void **)&moe->slot_of, K, in}, {(void **)&moe->slot_token, K, in},
        {(void **)&moe->off, E + 1, in}, {(void **)&moe->count, E, in}};
    int np = (int)(sizeof part / sizeof part[0]);
    size_t total = 0;   /* bytes, each piece on its own 64-byte cache line */
    for (int i = 0; i < np; i++) total += (part[i].count * part[i].elem + 63) / 64 * 64;
    kv->mem = ut__calloc(total, 1);
    if (!kv->mem) return ut__fail("out of memory for the KV cache (%zu MB)", total >> 20);
    char *p = (char *)kv->mem;
    for (int i = 0; i < np; i++) { *part[i].ptr = p; p += (part[i].count * part[i].elem + 63) / 64 * 64; }
    moe->gate = r->gate; moe->up = r->up; moe->h = r->h;
    r->out = r->x;      /* each block's output is the next block's input: one buffer */
    return 0;
}
void ut_kv_free(ut_kv_cache *kv) {
    free(kv->mem);
    memset(kv, 0, sizeof *kv);
}

/* The forward pass of section 6 for N = 1 row -- the same ut__block_forward,
   with the cache: the new token's key and value join it, its query attends
   to every cached position. Returns the logits (V) for the next token, or
   NULL (ut_error()) when the cache is full (pos = max_seq_len) or the token
   is out of range. */
ut_float *ut_kv_step(ut_kv_cache *kv, const ut_model *m, int token) {
    const ut_config *c = &m->cfg;
    int D = c->d_model, S = c->max_seq_len;
    if (kv->pos >= S) { ut__fail("context full: the model was built for %d positions", S); return NULL; }
    if (token < 0 || token >= c->vocab_size) { ut__fail("token %d outside the vocabulary", token); return NULL; }
    double aux = 0, z = 0;   /* the MoE losses: not needed here */
    ut_float rstd;
    const int tokens[1] = {token};
    ut__embed(m, kv->row.x, tokens, 1);
    for (int l = 0; l < c->n_layers; l++) ut__block_forward(m, l, &kv->row, 1, 1, kv, &aux, &z);
    ut_rmsnorm_forward(kv->row.ffn_xn, &rstd, kv->row.x, m->p[UT_FINAL_NORM], 1, D, c->norm_eps);
    ut__head_forward(m, kv->logits, kv->row.ffn_xn, 1);
    kv->pos++;
    return kv->logits;
}

/* Sampling: p = softmax(logits / temperature); keep the top_k most likely ids
   (0 = all), then the smallest set of them whose probability reaches top_p
   (1 = all); renormalise and draw. temperature 0 means greedy (argmax). The
   candidates are sorted by probability (ties: lower id first) so the draw is
   the same on every machine. */
typedef struct { double p; int id; } ut__cand;
static int ut__cand_cmp(const void *a, const void *b) {
    const ut__cand *x = (const ut__cand *)a, *y = (const ut__cand *)b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}
int ut_sample(const ut_float *logits, int V, float temperature, int top_k, float top_p, uint64_t *rng) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    ut__cand *c = (ut__cand *)malloc((size_t)V * sizeof(ut__cand));
    if (!c) return best;
    double sum = 0;
    for (int i = 0; i < V; i++) { c[i].p = exp((logits[i] - logits[best]) / temperature); c[i].id = i; sum += c[i].p; }
    for (int i = 0; i < V; i++) c[i].p /= sum;
    int keep = (top_k > 0 && top_k < V) ? top_k : V;
    if (keep < V || top_p < 1.0f) {
        qsort(c, (size_t)V, sizeof *c, ut__cand_cmp);
        double cum = 0;
        for (int i = 0; i < keep && top_p < 1.0f; i++) { cum += c[i].p; if (cum >= top_p) { keep = i + 1; break; } }
    }
    double mass = 0;
    for (int i = 0; i < keep; i++) mass += c[i].p;
    double r = ut_rng_uniform(rng) * mass;
    int pick = c[keep - 1].id;
    for (int i = 0; i < keep; i++) { r -= c[i].p; if (r < 0) { pick = c[i].id; break; } }
    free(c);
    return pick;
}

/* ===========================================================================
   11b. WEIGHT-ONLY QUANTIZATION (inference, and QLoRA's frozen base)
   A trained weight matrix is stored as small integers and one scale per group
   of G numbers of a row (G = 32 or 64: a group shares one scale, so one
   outlier only coarsens its own group):
       scale = max_i |w_i| / Q          over the group; Q = 127 (int8), 7 (int4)
       q_i   = round(w_i / scale)       an integer in [-Q, Q]
       w_i  ~= scale * q_i              error |w_i - scale q_i| <= scale / 2
   int8 takes 8 bits and int4 4 bits per number, plus 32 bits per group for
   the scale: at G = 32, 9 and 5 bits instead of 32 (3.6x and 6.4x smaller).
   Only the weights are quantized ("weight-only"); activations stay float, so
   a dot product is computed group by group: the integers times x, summed,
   then times the group's scale (ut_qdot). int4 stores two numbers per byte,
   q + 8 in each half (low half first).
   A whole model is quantized by ut_model_quantize (section 6): its matrices
   become ut_qmatrix, their f32 copies are freed, and every product the
   model makes with one of them goes to the quantized linear layer below
   (ut_qmatmul_forward, and ut_qmatmul_backward for the input gradient).
   That is all QLoRA (Dettmers et al. 2023) needs: the base is frozen, so
   the backward pass only carries dX = dY W through it, to the adapters
   (section 8b) beside it; no gradient of a quantized W is ever computed.
   ======================================================================== */

int ut_quantize(ut_qmatrix *qm, const ut_float *w, int rows, int cols, int bits, int group) {
    memset(qm, 0, sizeof *qm);
    if (bits != 8 && bits != 4) return ut__fail("quantization to %d bits: 8 or 4", bits);
    if (group < 1 || rows < 1 || cols < 1) return ut__fail("quantization group %d, matrix %dx%d", group, rows, cols);
    int Q = bits == 8 ? 127 : 7, G = (cols + group - 1) / group;
    size_t row_bytes = bits == 8 ? (size_t)cols : ((size_t)cols + 1) / 2;
    qm->bits = bits; qm->group = group; qm->rows = rows; qm->cols = cols; qm->groups_per_row = G;
    qm->q = (uint8_t *)ut__calloc((size_t)rows * row_bytes, 1);
    qm->scale = (float *)ut__calloc((size_t)rows * G, sizeof(float));
    if (!qm->q || !qm->scale) { ut_qmatrix_free(qm); return ut__fail("out of memory quantizing a %dx%d matrix", rows, cols); }
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < G; g++) {
            const ut_float *x = w + (size_t)r * cols;
            int c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;
            float amax = 0;
            for (int c = c0; c < c1; c++) amax = fmaxf(amax, fabsf((float)x[c]));
            float scale = amax / (float)Q, inv = scale > 0 ? 1.0f / scale : 0.0f;
            qm->scale[(size_t)r * G + g] = scale;
            for (int c = c0; c < c1; c++) {
                int q = (int)lrintf((float)x[c] * inv);
                q = q > Q ? Q : q < -Q ? -Q : q;
                if (bits == 8) qm->q[(size_t)r * row_bytes + c] = (uint8_t)(int8_t)q;
                else qm->q[(size_t)r * row_bytes + c / 2] |= (uint8_t)((q + 8) << (4 * (c & 1)));
            }
        }
    return 0;
}
void ut_qmatrix_free(ut_qmatrix *qm) { free(qm->q); free(qm->scale); memset(qm, 0, sizeof *qm); }
size_t ut_qmatrix_bytes(const ut_qmatrix *qm) {
    size_t row_bytes = qm->bits == 8 ? (size_t)qm->cols : ((size_t)qm->cols + 1) / 2;
    return (size_t)qm->rows * row_bytes + (size_t)qm->rows * qm->groups_per_row * sizeof(float);
}
int ut_qget(const ut_qmatrix *qm, int r, int c) {
    if (qm->bits == 8) return (int8_t)qm->q[(size_t)r * qm->cols + c];
    uint8_t b = qm->q[(size_t)r * (((size_t)qm->cols + 1) / 2) + c / 2];
    return (int)((b >> (4 * (c & 1))) & 15) - 8;
}
void ut_dequantize(ut_float *w, const ut_qmatrix *qm) {
    for (int r = 0; r < qm->rows; r++)
        for (int c = 0; c < qm->cols; c++)
            w[(size_t)r * qm->cols + c] = (ut_float)(qm->scale[(size_t)r * qm->groups_per_row + c / qm->group] *
                                                     (float)ut_qget(qm, r, c));
}
/* The quantized dot product, row r of W with x (cols):
       w . x = sum_g scale_g * (sum_{i in g} q_i x_i)
   Each group's integers multiply x first; the scale is applied once per
   group, not once per number. (A kernel that also quantizes x to int8 would
   sum q_i * qx_i in integers; here x stays float: weight-only.)
   The sums run in UT__QLANES partial sums ("lanes": number i of a group goes
   to lane i mod UT__QLANES) instead of one: one running sum would make every
   addition wait for the one before, and the compiler may not reorder float
   additions itself; independent lanes become SIMD instructions. The lanes
   are added pairwise at the end, a fixed order: the same result every run. */
#define UT__QLANES 16
ut_float ut_qdot(const ut_qmatrix *qm, int r, const ut_float *x) {
    enum { L = UT__QLANES };
    const int8_t *q8 = (const int8_t *)qm->q + (size_t)r * qm->cols;         /* int8: one byte each */
    const uint8_t *q4 = qm->q + (size_t)r * (((size_t)qm->cols + 1) / 2);   /* int4: two per byte */
    ut_float acc[L];                      /* sum over the groups of scale_g * lane */
    for (int j = 0; j < L; j++) acc[j] = 0;
    for (int g = 0; g < qm->groups_per_row; g++) {
        int c0 = g * qm->group, c1 = c0 + qm->group < qm->cols ? c0 + qm->group : qm->cols, c = c0;
        ut_float lane[L];
        for (int j = 0; j < L; j++) lane[j] = 0;
        if (qm->bits == 8) {              /* the int8 dot product: integer times x, added up */
            for (; c + L <= c1; c += L)
                for (int j = 0; j < L; j++) lane[j] += (ut_float)q8[c + j] * x[c + j];
            for (int j = 0; c < c1; c++, j++) lane[j] += (ut_float)q8[c] * x[c];
        } else {                          /* int4: the half byte of c, minus the offset 8 */
            for (; c % 2 == 0 && c + L <= c1; c += L)   /* from an even c: byte k holds c = 2k (low), 2k + 1 (high) */
                for (int j = 0; j < L; j += 2) {
                    uint8_t b = q4[(c + j) / 2];
                    lane[j] += (ut_float)((b & 15) - 8) * x[c + j];
                    lane[j + 1] += (ut_float)((b >> 4) - 8) * x[c + j + 1];
                }
            for (int j = 0; c < c1; c++, j = (j + 1) % L) lane[j] += (ut_float)(((q4[c / 2] >> (4 * (c & 1))) & 15) - 8) * x[c];
        }
        ut_float s = qm->scale[(size_t)r * qm->groups_per_row + g];
        for (int j = 0; j < L; j++) acc[j] += s * lane[j];
    }
    for (int h = L / 2; h >= 1; h /= 2)   /* pairwise: lanes j and j + h */
        for (int j = 0; j < h; j++) acc[j] += acc[j + h];
    return acc[0];
}

ut_qmatrix ut_qrows(const ut_qmatrix *qm, int r0, int n) {
    ut_qmatrix v = *qm;
    size_t row_bytes = qm->bits == 8 ? (size_t)qm->cols : ((size_t)qm->cols + 1) / 2;
    v.rows = n;
    v.q = qm->q + (size_t)r0 * row_bytes;
    v.scale = qm->scale + (size_t)r0 * qm->groups_per_row;
    return v;
}

/* --- The quantized linear layer ----------------------------------------------
   W (OC, C) as integers q and scales s (one per group g of a row), x (N, C):
       forward   out[n][o]  = sum_g s[o][g] * (sum_{i in g} q[o][i] x[n][i])
       backward  dx[n][i]  += sum_o dout[n][o] * s[o][g(i)] * q[o][i]
   Two ways to compute it, the same sums up to rounding:
   - from the integers (ut_qmatmul_forward_naive): one pass over q per row of
     x, reading 1 byte (int8) or half a byte (int4) per weight instead of 4.
     Generating text multiplies ONE row by every matrix: the work is reading
     the weights, so this is the fast way there (UT_QROWS rows or fewer).
   - dequantize, then multiply: W = s * q into an (OC, C) f32 scratch, then
     the ordinary product (section 4). With many rows (training, evaluation)
     the products cost N times more than the dequantization, and the f32
     kernel of appendix A is far faster than any plain loop. Only one matrix
     is ever expanded at a time, so the model's memory stays quantized.
     This gives exactly the numbers of the f32 product on the rounded
     weights (ut_dequantize, then ut_matmul_forward). */
void ut_qmatmul_forward_naive(ut_float *out, const ut_float *x, const ut_qmatrix *w, int N) {
    int OC = w->rows;
    #pragma omp parallel for
    for (int o = 0; o < OC; o++)
        for (int n = 0; n < N; n++) out[(size_t)n * OC + o] = ut_qdot(w, o, x + (size_t)n * w->cols);
}
void ut_qmatmul_backward_naive(ut_float *dx, const ut_float *dout, const ut_qmatrix *w, int N) {
    int OC = w->rows, C = w->cols;
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        ut_float *d = dx + (size_t)n * C;
        for (int o = 0; o < OC; o++) {            /* d += dout[n][o] * (row o of W) */
            ut_float g = dout[(size_t)n * OC + o];
            for (int gi = 0; gi < w->groups_per_row; gi++) {
                ut_float sg = g * w->scale[(size_t)o * w->groups_per_row + gi];
                int c0 = gi * w->group, c1 = c0 + w->group < C ? c0 + w->group : C;
                for (int c = c0; c < c1; c++) d[c] += sg * (ut_float)ut_qget(w, o, c);
            }
        }
    }
}
void ut_qmatmul_forward(ut_float *out, const ut_float *x, const ut_qmatrix *w, int N, ut_float *scratch) {
    if (!scratch || N <= UT_QROWS) { ut_qmatmul_forward_naive(out, x, w, N); return; }
    ut_dequantize(scratch, w);
    ut_matmul_forward(out, x, scratch, N, w->cols, w->rows);
}
void ut_qmatmul_backward(ut_float *dx, const ut_float *dout, const ut_qmatrix *w, int N, ut_float *scratch) {
    if (!scratch || N <= UT_QROWS) { ut_qmatmul_backward_naive(dx, dout, w, N); return; }
    ut_dequantize(scratch, w);
    ut_matmul_backward(dx, NULL, dout, NULL, scratch, N, w->cols, w->rows);
}

/* ===========================================================================
   A. APPENDIX: HOW THE MATRIX PRODUCTS ARE MADE FAST
   ===========================================================================
 *
 * Almost every FLOP of a transformer step is spent in the three products of a
 * linear layer (weights stored PyTorch-style as (out_features, in_features)):
 *
 *     forward        out  (N, OC)  =  inp  (N, C)  . w (OC, C)^T
 *     backward dinp  dinp (N, C)  +=  dout (N, OC) . w (OC, C)
 *     backward dw    dw   (OC, C) +=  dout (N, OC)^T . inp (N, C)
 *
 * Section 4 computes them with the textbook triple loops. This appendix
 * computes the same sums reorganised so that the CPU spends its time doing
 * multiply-adds instead of waiting for memory. Plain C, no BLAS, and on the
 * machine this was tuned on (AMD EPYC, AVX-512) about 50-150x faster than the
 * plain loops on one core.
 *
 * The parts, in the order they appear:
 *   A.1  tuning knobs: register tile, cache blocks, when to use threads
 *   A.2  packing B into panels, and the buffer that holds them
 *   A.3  the micro-kernel: an MR x NR tile of the output in registers
 *   A.4  one block of a product; several products at once (ut__gemm_many)
 *   A.5  the linear layers of section 4 as such products
 *   A.6  the experts of a MoE layer: one grouped product per step
 *   A.7  attention, tiled (FlashAttention-2): online softmax, memory O(T)
 *
 * ---- Why the naive loop is slow ------------------------------------------
 * A modern core can issue two 16-wide fused multiply-adds (FMA) per cycle:
 * 64 flops/cycle. To feed that, each FMA would need its two inputs in
 * registers. The naive dot-product loop loads 2 numbers from memory per
 * multiply-add and (without -ffast-math) cannot even use SIMD, because a
 * vectorised sum would add the numbers in a different order. Memory, not
 * arithmetic, is the bottleneck.
 *
 * ---- The three tricks (the "GotoBLAS/BLIS" recipe) -----------------------
 * All three products are instances of one generic product
 *
 *         Cm (M x Nn) (+)=  A (M x K) . B (K x Nn)
 *
 * where A and B are read through strides, so a transposed operand is just a
 * different pair of strides (see ut__job_fwd, ut__job_dinp and ut__job_dw, A.5).
 *
 * 1. REGISTER TILE (the micro-kernel). We compute a small MR x NR block of Cm
 *    at a time, keeping its MR*NR partial sums in registers for the whole
 *    reduction over k. Per k we load NR values of B (two vector loads),
 *    broadcast MR single values of A, and do MR*NR multiply-adds. With
 *    AVX-512 and float (MR=8, NR=32): 8 broadcasts + 2 vector loads feed 16
 *    vector FMAs = 256 multiply-adds, instead of 2 loads per multiply-add.
 *
 * 2. PACKING. The inner loop wants the NR values of B for one k to sit next to
 *    each other in memory so they are one or two vector loads. We copy B once
 *    per call into "panels": panel p holds columns [p*NR, p*NR+NR) for every
 *    k, stored k-major (NR contiguous numbers per k). The copy costs O(K*Nn),
 *    the product O(M*K*Nn), so it is cheap -- and it also turns a transposed
 *    B (the forward pass reads w^T) into unit-stride loads, and pads the
 *    ragged last panel with zeros so the micro-kernel never needs a special
 *    case for it. A is NOT packed: the kernel only broadcasts single numbers
 *    from it, which cost the same from any address. (BLIS packs A too; we
 *    measured that here and it was slower: the copy cost more than it saved.)
 *
 * 3. CACHE BLOCKING. The reduction over k is cut into blocks of KC. For one
 *    KC block the kernel re-reads a KC x NR panel of B (KC*NR*4 bytes = 32 KB
 *    for KC=256, NR=32: it stays in the L1 cache) while sweeping down the
 *    MR-row strips of A, and the MC x KC block of A (64 KB) stays in L2 while
 *    we move to the next panel of B. So nearly every load of the inner loop
 *    hits the L1 or L2 cache instead of main memory.
 *
 * ---- Threads and determinism -----------------------------------------------
 * The output Cm is cut into fixed-size MC x NC tiles (64 x 64). Tiles are
 * independent (they write disjoint parts of Cm), so OpenMP hands them out to
 * the threads: each thread takes the next tile as soon as it is free (a
 * "dynamic" schedule), so a thread that the OS pauses for a moment, or a
 * run of costlier tiles, does not leave the others waiting. Several products
 * can share one parallel region (ut__gemm_many): a layer's dinp and dw, the
 * experts of a MoE layer. Every output element is computed by exactly ONE
 * thread, with one fixed order of additions: k = 0,1,...,K-1 within each KC
 * block (into a register accumulator that starts at 0), and the blocks added
 * into Cm in order of increasing k. KC, MR and NR are compile-time constants
 * and the edges use the very same kernel (with clamped rows and zero-padded
 * columns) so that order never depends on the number of threads, on which
 * thread takes which tile, or on anything but the shape. No atomics, no
 * per-thread partial sums: the result is bit-identical for 1, 2 or 64
 * threads. (It is NOT bit-identical to the naive version, which adds in a
 * different order and without FMA; the two agree to rounding error. Nor are
 * builds by different compilers or for different CPUs guaranteed to agree.)
 *
 * ---- Why the compiler vectorises the kernel ------------------------------
 * The accumulator is a local array acc[MR][NR] with compile-time sizes. The
 * innermost loop "acc[r][j] += a * b[j]" runs over j, which is contiguous in
 * both acc and the packed panel, has no dependence between iterations and a
 * fixed trip count NR (a multiple of the vector width): the textbook case
 * for SIMD. Fully unrolled, all MR*NR/VLEN vectors of acc live in registers.
 * (gcc does exactly this; clang 14 vectorises but keeps acc in memory, so for
 * clang the kernel spells the registers out with GNU vector types -- see
 * ut__vec below.) We write the multiply-add as fma() when the target has a
 * fast one (FP_FAST_FMAF): in strict ISO C mode (-std=c11) gcc will not fuse
 * "a*b + c" on its own, and separate multiply + add halves the peak.
 *
 * Not reentrant: the packed copy of B lives in one shared buffer, so do not
 * call these from several threads of your own at once (they are already
 * parallel inside).
 *
 * Needs (from the surrounding file): ut_float; <stdlib.h> (aligned_alloc,
 * free), <string.h> (memset, memcpy), <math.h> (fma, FP_FAST_FMA[F]).
 * No omp_* function is called; the #pragma omp lines are ignored by a
 * compiler without OpenMP (gcc -Wall warns about them), giving one thread.
 */

/* ---- A.1 Tuning knobs (compile-time so the kernel is fully unrolled) ------ */

/* Width of one SIMD register in bytes for the target we are compiled for. */
#if defined(__AVX512F__)
#  define UT__VBYTES 64
#elif defined(__AVX__)
#  define UT__VBYTES 32
#else
#  define UT__VBYTES 16 /* SSE2, ARM NEON, or a plain scalar target */
#endif
#define UT__VLEN ((int)(UT__VBYTES / sizeof(ut_float))) /* numbers per register */

/* Register tile: MR rows x NR columns of the output. NR = two registers wide.
 * MR*NR/VLEN accumulators + 2 registers of B + 1 broadcast of A must fit in
 * the register file (32 vector registers with AVX-512 or on AArch64, 16 on
 * AVX2/SSE), or the compiler "spills" them to memory and speed collapses. */
#ifndef UT__NR
#  define UT__NR (2 * UT__VLEN)
#endif
#ifndef UT__MR
#  if UT__VBYTES == 64 || defined(__aarch64__)
#    define UT__MR 8 /* 16 accumulators of 32 registers */
#  else
#    define UT__MR 6 /* 12 accumulators of 16 registers */
#  endif
#endif
/* Cache blocks: KC = depth of one reduction block (B panel KC x NR in L1),
 * MC x NC = the output tile one thread owns at a time (A block MC x KC in L2).
 * Measured on the tuning machine: MR in 6..14 and tiles 64..128 wide were all
 * within noise on one thread; NR = 1 register wide was 35% slower; 64 x 64
 * tiles scaled best to 2 threads on the small shapes (more, smaller tiles). */
#ifndef UT__KC
#  define UT__KC 256
#endif
#ifndef UT__MC
#  define UT__MC (8 * UT__MR)
#endif
#ifndef UT__NC
#  define UT__NC (2 * UT__NR)
#endif

/* Below this many multiply-adds (a few microseconds of work) a product runs
 * on one thread: waking the others costs about as much as it saves, and on a
 * busy machine a second thread may not get a core for milliseconds (we saw
 * N=1 calls go from 10 us to 4 ms). The test depends only on the shape, so
 * it cannot make results thread-dependent. */
#ifndef UT__PAR_MIN
#  define UT__PAR_MIN (1LL << 20)
#endif

/* Fused multiply-add when it is a single fast instruction, else a*b+c.
 * (C's math.h defines FP_FAST_FMA[F] exactly when fma() is that fast.) */
#ifdef UT_DOUBLE
#  ifdef FP_FAST_FMA
#    define UT__FMA(a, b, c) fma((a), (b), (c))
#  endif
#else
#  ifdef FP_FAST_FMAF
#    define UT__FMA(a, b, c) fmaf((a), (b), (c))
#  endif
#endif
#ifndef UT__FMA
#  define UT__FMA(a, b, c) ((a) * (b) + (c))
#endif


/* ---- A.2 Packing: the buffer for the packed B ----------------------------- */
/* One buffer, grown on demand and reused by every call, so the training loop
 * does no malloc per matmul. (Consequence: the fast matmuls must not be
 * called concurrently from two threads of your own; they parallelise inside.)
 * It is never freed; it stays reachable, so leak checkers do not complain. */
static ut_float *ut__mm_scratch_buf = NULL;
static size_t ut__mm_scratch_cap = 0; /* in elements */

static ut_float *ut__mm_scratch(size_t n) {
    if (n > ut__mm_scratch_cap) {
        free(ut__mm_scratch_buf);
        /* 64-byte aligned so every packed row of B starts on a cache line;
         * aligned_alloc wants a size that is a multiple of the alignment. */
        size_t bytes = (n * sizeof(ut_float) + 63) / 64 * 64;
        ut__mm_scratch_buf = (ut_float *)aligned_alloc(64, bytes);
        if (!ut__mm_scratch_buf) { ut__mm_scratch_cap = 0; return NULL; }
        ut__mm_scratch_cap = n;
    }
    return ut__mm_scratch_buf;
}

/* ---- Packing one NR-wide panel of B --------------------------------------- */
/* B(k, j) lives at B[k*rsb + j*csb]. Panel `p` covers columns j0 = p*NR ...
 * and is written k-major: dst[k*NR + jj] = B(k, j0 + jj), zero past column Nn. */
static void ut__mm_pack_b(ut_float *restrict dst, const ut_float *restrict B, long rsb, long csb,
                          int K, int Nn, int j0) {
    int nr = Nn - j0 < UT__NR ? Nn - j0 : UT__NR;
    if (csb == 1) { /* rows of B are contiguous: copy NR-long row pieces */
        for (int k = 0; k < K; k++) {
            const ut_float *src = B + (size_t)k * rsb + j0;
            ut_float *d = dst + (size_t)k * UT__NR;
            if (nr == UT__NR) {
                for (int jj = 0; jj < UT__NR; jj++) d[jj] = src[jj]; /* fixed count: SIMD copy */
            } else {
                for (int jj = 0; jj < UT__NR; jj++) d[jj] = jj < nr ? src[jj] : 0;
            }
        }
    } else {        /* B is transposed (forward: B(k,j) = w[j][k]). For each k we
                       collect NR numbers that lie C apart in memory; with a fixed
                       inner trip count the compiler turns this into SIMD "gather"
                       loads (measured ~1.5x faster than the scalar transpose that
                       reads along k). */
        if (nr == UT__NR) {
            for (int k = 0; k < K; k++)
                for (int jj = 0; jj < UT__NR; jj++)
                    dst[(size_t)k * UT__NR + jj] = B[(size_t)k * rsb + (size_t)(j0 + jj) * csb];
        } else {
            for (int k = 0; k < K; k++)
                for (int jj = 0; jj < UT__NR; jj++)
                    dst[(size_t)k * UT__NR + jj] = jj < nr ? B[(size_t)k * rsb + (size_t)(j0 + jj) * csb] : 0;
        }
    }
}

/* ---- A.3 The micro-kernel -------------------------------------------------- */
/* Cm[0..mr) x [0..nr) (+)= A-strip (mr x kc) . packed-B panel (kc x NR).
 * A(r, k) is at a[r*rsa + k*csa]. Rows r >= mr re-read row mr-1 (a valid
 * address) and their results are thrown away; columns >= nr of the panel are
 * zeros and are not stored. So every element, edge or not, is produced by the
 * same sequence of FMAs -- the determinism argument above relies on it. */
#if defined(__clang__) && !defined(UT_NO_VECTOR_EXT)
/* clang (14) vectorises the plain loop below but leaves acc[][] in memory,
 * costing 2.5x. For clang only, we spell the SIMD registers out with the
 * GNU "vector_size" extension (portable across x86 and ARM, no intrinsics):
 * ut__vec is VLEN numbers, arithmetic on it is element-wise, and a scalar
 * operand is broadcast. Same arithmetic, same order as the plain version. */
typedef ut_float ut__vec __attribute__((vector_size(UT__VBYTES)));
#define UT__NV (UT__NR / UT__VLEN)
#endif

static void ut__mm_kernel(int kc, const ut_float *a, long rsa, long csa, int mr,
                          const ut_float *restrict b, ut_float *restrict c, long ldc, int nr,
                          int overwrite) {
    ut_float acc[UT__MR][UT__NR];
    const ut_float *ar[UT__MR];
    for (int r = 0; r < UT__MR; r++) ar[r] = a + (long)(r < mr ? r : mr - 1) * rsa;
#ifdef UT__NV
    ut__vec vacc[UT__MR][UT__NV];
    for (int r = 0; r < UT__MR; r++)
        for (int v = 0; v < UT__NV; v++) vacc[r][v] = (ut__vec){0};
    long off = 0;
    for (int k = 0; k < kc; k++, off += csa) {
        ut__vec bv[UT__NV];
        memcpy(bv, b + (size_t)k * UT__NR, sizeof bv);
        for (int r = 0; r < UT__MR; r++) {
            const ut_float av = ar[r][off];
            for (int v = 0; v < UT__NV; v++) vacc[r][v] += av * bv[v]; /* fused by clang */
        }
    }
    memcpy(acc, vacc, sizeof acc);
#else
    for (int r = 0; r < UT__MR; r++)
        for (int j = 0; j < UT__NR; j++) acc[r][j] = 0;
    long off = 0;
    for (int k = 0; k < kc; k++, off += csa) {
        const ut_float *restrict bk = b + (size_t)k * UT__NR;
        for (int r = 0; r < UT__MR; r++) {
            const ut_float av = ar[r][off]; /* broadcast one number of A ...    */
#pragma omp simd
            for (int j = 0; j < UT__NR; j++) /* ... times NR numbers of B      */
                acc[r][j] = UT__FMA(av, bk[j], acc[r][j]);
        }
    }
#endif
    /* write back: full tiles take the fast fixed-size path */
    if (mr == UT__MR && nr == UT__NR) {
        for (int r = 0; r < UT__MR; r++) {
            ut_float *cr = c + (size_t)r * ldc;
            if (overwrite) {
                for (int j = 0; j < UT__NR; j++) cr[j] = acc[r][j];
            } else {
                for (int j = 0; j < UT__NR; j++) cr[j] += acc[r][j];
            }
        }
    } else {
        for (int r = 0; r < mr; r++) {
            ut_float *cr = c + (size_t)r * ldc;
            for (int j = 0; j < nr; j++) cr[j] = overwrite ? acc[r][j] : cr[j] + acc[r][j];
        }
    }
}

/* ---- A.4 One block of the product, from an already packed B --------------- */
/* Cm (M x Nn, row stride ldc) = or += A . B, where bp holds B packed panel by
 * panel (panel p, columns p*NR.., at bp + p*K*NR). The parallel product hands
 * each thread 64 x 64 blocks of its output; attention calls it whole.
 *
 * Attention's products are causal: half of each T x T square is known in
 * advance to be masked or zero. `skip` says which half, so whole MR-row
 * strips can leave it out (the few entries a strip still computes on the
 * wrong side of the diagonal are exact zeros of A, or masked afterwards):
 *   UT__ALL        compute everything                     (linear layers)
 *   UT__OUT_LOWER  only Cm(i, j) with j <= i is wanted    (S = Q K^T)
 *   UT__A_LOWER    A(i, k) = 0 for k > i: sum k <= i only   (P V, G K)
 *   UT__A_UPPER    A(i, k) = 0 for k < i: sum k >= i only   (P^T dY, G^T Q)
 * Reduction blocks of KC run in order of k, so every element is summed the
 * same way whichever block, thread or caller computes it. */
enum { UT__ALL, UT__OUT_LOWER, UT__A_LOWER, UT__A_UPPER };
static void ut__gemm_block(int M, int Nn, int K, const ut_float *A, long rsa, long csa,
                           const ut_float *bp, ut_float *Cm, long ldc, int accumulate, int skip) {
    for (int pc = 0; pc < K; pc += UT__KC) {            /* reduction blocks, in order */
        const int pend = K - pc < UT__KC ? K : pc + UT__KC;
        for (int jr = 0; jr < Nn; jr += UT__NR) {        /* B panels (stay in L1) */
            const ut_float *bpan = bp + (size_t)(jr / UT__NR) * K * UT__NR;
            for (int ir = 0; ir < M; ir += UT__MR) {     /* MR-row strips of A */
                const int mr = M - ir < UT__MR ? M - ir : UT__MR;
                int j1 = Nn, k0 = 0, k1 = K;             /* this strip's columns and sum range */
                if (skip == UT__OUT_LOWER && ir + mr < Nn) j1 = ir + mr;
                if (skip == UT__A_LOWER && ir + mr < K) k1 = ir + mr;
                if (skip == UT__A_UPPER) k0 = ir < K ? ir : K;
                if (jr >= j1) continue;
                const int nr = j1 - jr < UT__NR ? j1 - jr : UT__NR;
                ut_float *c = Cm + (size_t)ir * ldc + jr;
                const int a = pc > k0 ? pc : k0, b = pend < k1 ? pend : k1;   /* [a, b): this block's share */
                if (a < b)
                    ut__mm_kernel(b - a, A + (size_t)ir * rsa + (size_t)a * csa, rsa, csa, mr,
                                  bpan + (size_t)a * UT__NR, c, ldc, nr, !accumulate && a == k0);
                else if (k0 >= k1 && pc == 0 && !accumulate)  /* empty sum: write zeros once */
                    for (int r = 0; r < mr; r++) memset(c + (size_t)r * ldc, 0, (size_t)nr * sizeof(ut_float));
            }
        }
    }
}

/* Floats needed to pack a K x Nn matrix (whole panels of NR columns). */
static size_t ut__packed_size(int K, int Nn) {
    return (size_t)((Nn + UT__NR - 1) / UT__NR) * UT__NR * (size_t)(K > 0 ? K : 0);
}

/* ---- The generic blocked product, for several products at once ----------- */
/* One job: Cm (M x Nn, row stride ldc) = or += A . B, with A(i,k) =
 * A[i*rsa + k*csa] and B(k,j) = B[k*rsb + j*csb]. ut__gemm_many runs a list
 * of jobs whose outputs do not overlap inside ONE parallel region: the
 * backward of a linear layer (dinp and dw), the gate and up projections of
 * SwiGLU, or every expert of a MoE layer at once (a "grouped GEMM"). Fewer
 * parallel regions means less time waiting at barriers, and many small
 * products share out between the threads better than each one alone. */
typedef struct {
    int M, Nn, K;
    const ut_float *A; long rsa, csa;
    const ut_float *B; long rsb, csb;
    ut_float *Cm; long ldc;
    int accumulate;
    /* set by ut__gemm_many: where the job's packed B, panels and tiles start */
    size_t bp_off; int panel0, tile0, tm;
} ut__mm_job;

/* A job by the plain triple loop: the same sums as section 4's loops. */
static void ut__gemm_plain(const ut__mm_job *jb) {
    for (int i = 0; i < jb->M; i++)
        for (int c = 0; c < jb->Nn; c++) {
            ut_float sum = 0;
            for (int k = 0; k < jb->K; k++)
                sum += jb->A[(size_t)i * jb->rsa + (size_t)k * jb->csa] * jb->B[(size_t)k * jb->rsb + (size_t)c * jb->csb];
            ut_float *o = jb->Cm + (size_t)i * jb->ldc + c;
            *o = jb->accumulate ? *o + sum : sum;
        }
}

/* The packed copy of B is capped at UT__PACK_MAX floats. A weight gradient
 * dw += dout^T inp packs its whole input inp (N x C, N = B*T rows): 180 MB
 * for N = 32768, C = 1376, more than the rest of a layer's activations. Past
 * the cap, the sums over k are cut into chunks of whole KC blocks, one
 * ut__gemm_many per chunk, the later chunks adding to the first. Every KC
 * block is still computed the same way and added into Cm in the same order
 * (see ut__gemm_block), so the result is bit-identical to one call. */
/* (UT__PACK_MAX is defined in section 3, for ut_memory_estimate.) */
static void ut__gemm_many(ut__mm_job *jobs, int njobs);
static int ut__gemm_many_chunked(ut__mm_job *jobs, int njobs) {   /* 1: done here */
    size_t need = 0, width = 0;
    int maxK = 0;
    for (int j = 0; j < njobs; j++) {
        if (jobs[j].M <= 0 || jobs[j].Nn <= 0 || jobs[j].K <= 0) continue;
        need += ut__packed_size(jobs[j].K, jobs[j].Nn);
        width += ut__packed_size(1, jobs[j].Nn);
        if (jobs[j].K > maxK) maxK = jobs[j].K;
    }
    size_t kch = width ? UT__PACK_MAX / width / UT__KC * UT__KC : 0;
    if (kch < UT__KC) kch = UT__KC;
    if (need <= UT__PACK_MAX || (size_t)maxK <= kch) return 0;
    ut__mm_job sub[64];
    for (size_t k0 = 0; k0 < (size_t)maxK; k0 += kch) {
        int n = 0;
        for (int j = 0; j < njobs; j++) {
            const ut__mm_job *jb = &jobs[j];
            int live = jb->M > 0 && jb->Nn > 0 && jb->K > 0;
            if (!live) { if (k0 == 0) sub[n++] = *jb; continue; }
            if ((size_t)jb->K <= k0) continue;
            sub[n] = *jb;
            sub[n].K = (size_t)jb->K - k0 < kch ? (int)((size_t)jb->K - k0) : (int)kch;
            sub[n].A = jb->A + k0 * (size_t)jb->csa;
            sub[n].B = jb->B + k0 * (size_t)jb->rsb;
            sub[n].accumulate = jb->accumulate || k0 > 0;
            n++;
        }
        ut__gemm_many(sub, n);
    }
    return 1;
}

static void ut__gemm_many(ut__mm_job *jobs, int njobs) {
    /* Number the B panels and the output tiles of all jobs one after another,
     * the jobs with the longest sums (the costliest tiles) first: threads
     * take tiles in that order, so the big ones are not left for last. */
    int ord[64] = {0}, npanels = 0, ntiles = 0;
    size_t nbp = 0;
    long long work = 0;
    if (njobs > 64) {   /* more than fits in ord: run them in two halves */
        ut__gemm_many(jobs, njobs / 2);
        ut__gemm_many(jobs + njobs / 2, njobs - njobs / 2);
        return;
    }
    if (ut__gemm_many_chunked(jobs, njobs)) return;   /* too big to pack at once */
    for (int j = 0; j < njobs; j++) {   /* insertion sort by K, longest first */
        int i = j;
        while (i > 0 && jobs[ord[i - 1]].K < jobs[j].K) { ord[i] = ord[i - 1]; i--; }
        ord[i] = j;
    }
    for (int o = 0; o < njobs; o++) {
        ut__mm_job *jb = &jobs[ord[o]];
        jb->bp_off = nbp; jb->panel0 = npanels; jb->tile0 = ntiles; jb->tm = 0;
        if (jb->M <= 0 || jb->Nn <= 0) continue;
        if (jb->K <= 0) { /* empty sum: out = 0, or += 0 */
            if (!jb->accumulate)
                for (int i = 0; i < jb->M; i++) memset(jb->Cm + (size_t)i * jb->ldc, 0, (size_t)jb->Nn * sizeof(ut_float));
            continue;
        }
        jb->tm = (jb->M + UT__MC - 1) / UT__MC;
        ntiles += jb->tm * ((jb->Nn + UT__NC - 1) / UT__NC);
        work += (long long)jb->M * jb->Nn * jb->K;
        int same = -1;   /* an earlier job with the same B (e.g. the weight
                            gradients of q, k and v all read xn): share its copy */
        for (int o2 = 0; o2 < o && same < 0; o2++) {
            const ut__mm_job *j2 = &jobs[ord[o2]];
            if (j2->tm && j2->B == jb->B && j2->rsb == jb->rsb && j2->csb == jb->csb &&
                j2->K == jb->K && j2->Nn == jb->Nn) same = ord[o2];
        }
        if (same >= 0) { jb->bp_off = jobs[same].bp_off; continue; }   /* packs no panels */
        npanels += (jb->Nn + UT__NR - 1) / UT__NR;
        nbp += ut__packed_size(jb->K, jb->Nn);
    }
    (void)work;                      /* read only by the OpenMP pragma below */
    if (ntiles == 0) return;
#ifdef UT_NO_FAST_MATMUL
    ut_float *bp = NULL;             /* the plain loop, everywhere (the experts) */
#else
    ut_float *bp = ut__mm_scratch(nbp);
#endif
    /* cppcheck-suppress knownConditionTrueFalse ; always true only in the UT_NO_FAST_MATMUL build */
    if (!bp) { /* (or out of memory for the packed copy: the plain loop needs none) */
        for (int j = 0; j < njobs; j++)
            if (jobs[j].tm) ut__gemm_plain(&jobs[j]);
        return;
    }

#pragma omp parallel if (work >= UT__PAR_MIN)
    {
        /* step 1: pack B, one panel per iteration (the implicit barrier at the
         * end of the loop makes every panel visible before step 2 starts) */
#pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < npanels; p++) {
            int o = 0;
            while (o + 1 < njobs && jobs[ord[o + 1]].panel0 <= p) o++;   /* the job of panel p */
            const ut__mm_job *jb = &jobs[ord[o]];
            int lp = p - jb->panel0;
            ut__mm_pack_b(bp + jb->bp_off + (size_t)lp * jb->K * UT__NR, jb->B, jb->rsb, jb->csb,
                          jb->K, jb->Nn, lp * UT__NR);
        }

        /* step 2: the output tiles. Each thread takes the next tile as soon as
         * it is free ("dynamic" schedule): tiles of different jobs cost
         * different amounts, and on a shared machine one thread may be paused
         * for a while, so a fixed split would leave the other waiting. Tile t
         * of a job -> (row block t % tm, column block t / tm): consecutive
         * tiles share the same B panels, which then stay in cache. Each tile
         * is computed by one thread from start to end, in a fixed order, so
         * the result does not depend on which thread that is. */
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntiles; t++) {
            int o = 0;
            while (o + 1 < njobs && jobs[ord[o + 1]].tile0 <= t) o++;     /* the job of tile t */
            const ut__mm_job *jb = &jobs[ord[o]];
            const int lt = t - jb->tile0;
            const int i0 = (lt % jb->tm) * UT__MC, j0 = (lt / jb->tm) * UT__NC;
            const int i1 = i0 + UT__MC < jb->M ? i0 + UT__MC : jb->M;
            const int j1 = j0 + UT__NC < jb->Nn ? j0 + UT__NC : jb->Nn;
            ut__gemm_block(i1 - i0, j1 - j0, jb->K, jb->A + (size_t)i0 * jb->rsa, jb->rsa, jb->csa,
                           bp + jb->bp_off + (size_t)(j0 / UT__NR) * jb->K * UT__NR,
                           jb->Cm + (size_t)i0 * jb->ldc + j0, jb->ldc, jb->accumulate, UT__ALL);
        }
    }
}


/* ---- A.5 The linear layers of section 4 as jobs ---------------------------- */
/* Filling in a job for the three products of a linear layer: out = inp w^T
 * (forward), dinp += dout w and dw += dout^T inp (backward). */
static ut__mm_job ut__job(int M, int Nn, int K, const ut_float *A, long rsa, long csa,
                          const ut_float *B, long rsb, long csb, ut_float *Cm, long ldc, int acc) {
    ut__mm_job j;
    memset(&j, 0, sizeof j);
    j.M = M; j.Nn = Nn; j.K = K; j.A = A; j.rsa = rsa; j.csa = csa;
    j.B = B; j.rsb = rsb; j.csb = csb; j.Cm = Cm; j.ldc = ldc; j.accumulate = acc;
    return j;
}
static ut__mm_job ut__job_fwd(ut_float *out, const ut_float *inp, const ut_float *w, int N, int C, int OC) {
    /* out(n,o) = sum_i inp(n,i) w(o,i):  M=N, Nn=OC, K=C,
     * A = inp (row-major), B(k=i, j=o) = w[o*C + i] (transposed) */
    return ut__job(N, OC, C, inp, C, 1, w, 1, C, out, OC, 0);
}
static ut__mm_job ut__job_dinp(ut_float *dinp, const ut_float *dout, const ut_float *w, int N, int C, int OC) {
    /* dinp(n,i) += sum_o dout(n,o) w(o,i):  M=N, Nn=C, K=OC,
     * A = dout (row-major), B = w (row-major) */
    return ut__job(N, C, OC, dout, OC, 1, w, C, 1, dinp, C, 1);
}
static ut__mm_job ut__job_dw(ut_float *dw, const ut_float *dout, const ut_float *inp, int N, int C, int OC) {
    /* dw(o,i) += sum_n dout(n,o) inp(n,i):  M=OC, Nn=C, K=N,
     * A(o,n) = dout[n*OC + o] (transposed: the MR numbers broadcast for one k
     * are neighbours in memory), B = inp (row-major) */
    return ut__job(OC, C, N, dout, 1, OC, inp, C, 1, dw, C, 1);
}

/* ---- Small products on one thread, with the caller's buffer ---------------- */
/* Attention multiplies many small matrices (T x HD by HD x T, ...), one (batch,
 * head) per thread. To use the same register-tiled kernel without the shared
 * buffer or a parallel region, it packs B once into a buffer of its own
 * (ut__packed_size(K, Nn) floats, 64-byte aligned) with ut__pack, then
 * multiplies any number of A's by it with ut__gemm_block. */
static void ut__pack(ut_float *bp, const ut_float *B, long rsb, long csb, int K, int Nn) {
    for (int j0 = 0; j0 < Nn; j0 += UT__NR)
        ut__mm_pack_b(bp + (size_t)(j0 / UT__NR) * K * UT__NR, B, rsb, csb, K, Nn, j0);
}

/* ---- A few rows only: dot products (token-by-token sampling, N = 1) ------- */
/* With only a few rows the register tile is mostly wasted, and packing w (which
 * the blocked path does on every call) costs as much as the product itself:
 * each weight is used just N times. So for the forward pass with tiny N we
 * compute every output as a dot product of two contiguous rows, inp[n] and
 * w[o]. To let the compiler use SIMD without changing the result from run to
 * run, the dot product keeps UT__DOTL separate partial sums (lane j adds
 * elements j, j+DOTL, j+2*DOTL, ...) and combines them at the end in a fixed
 * pairwise order -- the same order every time, whatever the thread count.
 * (The order differs from the blocked path, so row n of a 1-row call and of
 * a 64-row call may differ in the last bits; both are equally accurate.)
 * Measured: 3-9x faster than the blocked path at N=1..2, about even at N=6. */
#define UT__DOTL (4 * UT__VLEN)
#ifndef UT__SMALL_N
#  define UT__SMALL_N 4 /* use dot products when N <= this */
#endif

static ut_float ut__dot(const ut_float *restrict a, const ut_float *restrict b, int n) {
    ut_float lane[UT__DOTL];
    for (int j = 0; j < UT__DOTL; j++) lane[j] = 0;
    int k = 0;
    for (; k + UT__DOTL <= n; k += UT__DOTL)
#pragma omp simd
        for (int j = 0; j < UT__DOTL; j++) lane[j] = UT__FMA(a[k + j], b[k + j], lane[j]);
    for (int j = 0; k < n; j++, k++) lane[j] = UT__FMA(a[k], b[k], lane[j]); /* tail */
    for (int h = UT__DOTL / 2; h >= 1; h /= 2) /* pairwise: lanes j and j+h */
        for (int j = 0; j < h; j++) lane[j] += lane[j + h];
    return lane[0];
}

/* A few rows: every output a dot product of two contiguous rows, in parallel
 * over the outputs when there is enough work. */
static void ut__matmul_dots(ut_float *out, const ut_float *inp, const ut_float *w, int N, int C, int OC) {
#pragma omp parallel for schedule(static) if ((long long)N * C * OC >= UT__PAR_MIN)
    for (int o = 0; o < OC; o++)
        for (int n = 0; n < N; n++)
            out[(size_t)n * OC + o] = ut__dot(inp + (size_t)n * C, w + (size_t)o * C, C);
}

/* n forward products that read the same x (ut_linear_forward_n): one parallel
   region for all of them; with a few rows only, dot products instead. */
static void ut__linear_forward_fast(int n, ut_float *const out[], const ut_float *x,
                                    const ut_float *const w[], const int OC[], int N, int C) {
    if (N <= UT__SMALL_N) {
        for (int i = 0; i < n; i++) ut__matmul_dots(out[i], x, w[i], N, C, OC[i]);
        return;
    }
    ut__mm_job j[8];
    for (int i0 = 0; i0 < n; i0 += 8) {
        int k = 0;
        for (int i = i0; i < n && i < i0 + 8; i++) j[k++] = ut__job_fwd(out[i], x, w[i], N, C, OC[i]);
        ut__gemm_many(j, k);
    }
}

/* Their backward (ut_linear_backward_n). Every dw[i] += dout[i]^T x and the
   first term of dx go to the threads together; all the dw products read x,
   packed once for all of them. The other terms of dx write the same rows of
   dx, so each one waits for its own parallel region, in order i = 1, 2, ...
   dx or any dw[i] may be NULL (not wanted). */
static void ut__linear_backward_fast(int n, ut_float *dx, ut_float *const dw[], const ut_float *const dout[],
                                     const ut_float *x, const ut_float *const w[], const int OC[], int N, int C) {
    ut__mm_job j[9];
    int k = 0;
    for (int i = 0; i < n && i < 8; i++)
        if (dw[i]) j[k++] = ut__job_dw(dw[i], dout[i], x, N, C, OC[i]);
    if (dx && n > 0) j[k++] = ut__job_dinp(dx, dout[0], w[0], N, C, OC[0]);
    ut__gemm_many(j, k);
    for (int i = 8; i < n; i++)
        if (dw[i]) { j[0] = ut__job_dw(dw[i], dout[i], x, N, C, OC[i]); ut__gemm_many(j, 1); }
    for (int i = 1; dx && i < n; i++) {
        j[0] = ut__job_dinp(dx, dout[i], w[i], N, C, OC[i]);
        ut__gemm_many(j, 1);
    }
}

/* ---- A.6 The experts of a MoE layer: grouped products ---------------------- */
/* Expert e runs a SwiGLU on its own rows: rows [off[e], off[e+1]) of x, gate,
   up, h and out (and of dout, dx), with its weights at wg + e*F*D, wu + e*F*D,
   wd + e*D*F. Instead of one product after another, the products that do not
   depend on each other -- gate and up, and those of all experts -- go to the
   threads together (a "grouped GEMM"), UT__GROUP experts at a time: a MoE
   layer costs a handful of parallel regions, not a few per expert. Experts
   that received no token are skipped. */
#define UT__GROUP 16   /* up to 3 products per expert: 48 jobs per call */

/* One product, described once for all experts:
     UT__FWD   out[rows] = a[rows] . w_e^T     (a linear layer's forward)
     UT__DINP  out[rows] += a[rows] . w_e      (its input gradient; `write`:
                                                = instead of +=)
     UT__DW    w_e += a[rows]^T . b[rows]      (its weight gradient; out is
                                                the gradient tensor)
   in a layer with C inputs and OC outputs, so expert e's weight is at
   w + e*OC*C; a (and out, b) rows are OC (or C) wide. */
enum { UT__FWD, UT__DINP, UT__DW };
typedef struct { int kind; ut_float *out; const ut_float *a, *b; int C, OC, write; } ut__expert_product;

/* The one builder: these np products for every expert that got tokens,
   UT__GROUP experts per parallel region. Forward products of a few rows
   (one token, when sampling) take the dot-product path. */
static void ut__for_each_expert(const ut__expert_product *p, int np, const int *off, int E) {
    ut__mm_job j[3 * UT__GROUP];
    for (int e0 = 0; e0 < E; e0 += UT__GROUP) {
        int n = 0;
        for (int e = e0; e < E && e < e0 + UT__GROUP; e++) {
            int o = off[e], M = off[e + 1] - o;
            if (M == 0) continue;
            for (int i = 0; i < np; i++) {
                const ut__expert_product *q = &p[i];
                size_t we = (size_t)e * q->OC * q->C;   /* expert e's weight */
                if (q->kind == UT__FWD && M <= UT__SMALL_N)
                    ut__matmul_dots(q->out + (size_t)o * q->OC, q->a + (size_t)o * q->C, q->b + we, M, q->C, q->OC);
                else if (q->kind == UT__FWD)
                    j[n++] = ut__job_fwd(q->out + (size_t)o * q->OC, q->a + (size_t)o * q->C, q->b + we, M, q->C, q->OC);
                else if (q->kind == UT__DINP) {
                    j[n] = ut__job_dinp(q->out + (size_t)o * q->C, q->a + (size_t)o * q->OC, q->b + we, M, q->C, q->OC);
                    j[n++].accumulate = !q->write;
                } else if (q->out)   /* a NULL dw: a frozen expert (LoRA), no product */
                    j[n++] = ut__job_dw(q->out + we, q->a + (size_t)o * q->OC, q->b + (size_t)o * q->C, M, q->C, q->OC);
            }
        }
        ut__gemm_many(j, n);
    }
}

/* The same steps as ut_swiglu_forward, each for all experts at once. */
static void ut__experts_forward(ut_float *out, ut_float *gate, ut_float *up, ut_float *h,
                                const ut_float *x, const ut_float *wg, const ut_float *wu,
                                const ut_float *wd, const int *off, int E, int D, int F) {
    const ut__expert_product gate_up[2] = {{UT__FWD, gate, x, wg, D, F, 0}, {UT__FWD, up, x, wu, D, F, 0}};
    ut__for_each_expert(gate_up, 2, off, E);                    /* gate = x wg^T, up = x wu^T */
    ut_silu_mul_forward(h, gate, up, (size_t)off[E] * F);        /* h = silu(gate) * up */
    const ut__expert_product down = {UT__FWD, out, h, wd, F, D, 0};
    ut__for_each_expert(&down, 1, off, E);                       /* out = h wd^T */
}
/* The same steps as ut_swiglu_backward. scratch: 2 * off[E] * F floats (dh,
   overwritten by dgate, and dup). dx is added to. */
static void ut__experts_backward(ut_float *dx, ut_float *dwg, ut_float *dwu, ut_float *dwd,
                                 const ut_float *dout, const ut_float *gate, const ut_float *up,
                                 const ut_float *h, const ut_float *x, const ut_float *wg,
                                 const ut_float *wu, const ut_float *wd, ut_float *scratch,
                                 const int *off, int E, int D, int F) {
    size_t NF = (size_t)off[E] * F;
    ut_float *dh = scratch, *dup = scratch + NF;
    /* dh = dout wd (written: it has no other term, so no zeroing first), dwd += dout^T h */
    const ut__expert_product down[2] = {{UT__DINP, dh, dout, wd, F, D, 1}, {UT__DW, dwd, dout, h, F, D, 0}};
    ut__for_each_expert(down, 2, off, E);
    ut_silu_mul_backward(dh, dup, dh, gate, up, NF);             /* dgate (over dh), dup */
    /* dwg += dgate^T x and dwu += dup^T x (both read x, packed once), and
       dx += dgate wg; then dx += dup wu, which writes the same rows of dx and
       so waits for a parallel region of its own. */
    const ut__expert_product gate_up[3] = {{UT__DW, dwg, dh, x, D, F, 0}, {UT__DW, dwu, dup, x, D, F, 0},
                                           {UT__DINP, dx, dh, wg, D, F, 0}};
    ut__for_each_expert(gate_up, 3, off, E);
    const ut__expert_product up_dx = {UT__DINP, dx, dup, wu, D, F, 0};
    ut__for_each_expert(&up_dx, 1, off, E);
}

/* ---- A.7 Attention, tiled: FlashAttention-2 on the CPU --------------------- */
/* The attention of section 5 (ut_attention_forward_naive and _backward_naive
   define it), computed without ever holding a T x T matrix. The plain version
   keeps every probability att[b, h, t, u] for the backward pass: (B, H, T, T)
   numbers per layer, 43 GB for an 8-layer model at B = 8, T = 4096. This one
   keeps ONE number per query row, and its memory grows like T, not T^2.

   THE IDEA: ONLINE SOFTMAX. Cut the keys into tiles of UT__ATT_TILE
   positions. For one query row t, with scores s_u = scale q_t . k_u, the
   output is
         y_t = sum_u e^(s_u - m) v_u  /  sum_u e^(s_u - m)      (any constant m)
   Both sums can be built one key tile at a time if we remember, per row, the
   largest score so far m, the running denominator l and the running
   (unnormalised) numerator o. A new tile with scores s_u (u in the tile):
         m' = max(m, max_u s_u)                  the new maximum
         p_u = e^(s_u - m')                      the tile's weights
         l' = e^(m - m') l + sum_u p_u           old terms re-based to m'
         o' = e^(m - m') o + sum_u p_u v_u
   After the last tile y_t = o / l, exactly the softmax-weighted sum (in exact
   arithmetic; in floats it agrees to rounding). Subtracting the running
   maximum keeps every exponent <= 0, as in a plain softmax. We keep
         lse_t = m + log(l) = log sum_u e^(s_u)     (the row's log-sum-exp)
   because it gives back any probability in one exp: att[t, u] = e^(s_u - lse_t).

   THE BACKWARD, with P recomputed tile by tile. With dP[t,u] = dy_t . v_u, the
   softmax backward of section 5 is  ds[t,u] = P[t,u] (dP[t,u] - D_t)  with
         D_t = sum_u P[t,u] dP[t,u] = dy_t . sum_u P[t,u] v_u = dy_t . y_t
   so D is one dot product per row, from the forward's output -- no pass over
   the keys is needed for it. Then for each pair of tiles (queries i, keys j):
         S = Q_i K_j^T,  P = exp(scale S - lse_i),  dP = dY_i V_j^T
         dS = P * (dP - D_i) * scale
         dQ_i += dS K_j      dK_j += dS^T Q_i      dV_j += P^T dY_i
   Each product is a small matrix product (tile x HD by HD x tile, ...) and
   goes through the register-tiled kernel of A.3 (ut__gemm_block) on one
   thread. Shapes, per (batch b, query head h), tile size BT:
         Q_i, dY_i, Y_i, dQ_i   (BT, HD)    rows t0 .. t0+BT of the head
         K_j, V_j, dK_j, dV_j   (BT, HD)    rows u0 .. u0+BT of its kv head
         S, P, dP, dS           (BT, BT)    one tile pair
         lse_i, D_i             (BT)

   WHAT IS SKIPPED. A key tile entirely after the query tile (j > i) is never
   visible (causal), and a key tile entirely before the window of the query
   tile's first row is never visible (sliding window W): neither is touched,
   so full causal attention costs half of T^2 and a window costs O(T W). On
   the diagonal tile (j == i) ut__gemm_block's `skip` leaves out the upper
   half strip by strip; entries that are computed but not visible are set to
   exactly 0 in P and dS.

   GQA AND THREADS. One (batch, kv head) pair is one task: it packs its K and
   V tiles once and runs the group's H/KVH query heads against them (K and V
   are never copied per query head). Every output row -- y and lse of the
   group's heads; dq of those heads; dk and dv of the kv head -- is written by
   that one task, in a fixed order (query tiles i ascending, then key tiles j
   ascending, then heads h ascending), so the result does not depend on the
   number of threads, and no atomics are needed. Memory: each pair's packed
   tiles, two BT x BT tiles and the per-head row state, O(T HD) --
   ut_attention_scratch_floats.

   WHY THE HEADS ARE THE INNERMOST LOOP. A key tile j is used by every query
   head of the group. Run the heads one after another over all key tiles
   (h outer, j inner) and each head streams the whole packed K and V of the
   pair again: 2 MB at T = 4096, HD = 64 -- more than the L2 cache, so every
   head re-reads them from L3. With the heads innermost (i, then j, then h),
   a K_j/V_j tile (16 KB each) is loaded once and used by UT__ATT_HEADS heads
   while it is still in L1/L2; the price is that the running softmax state
   (m, l; the packed Q_i and dY_i in the backward) is kept for all those
   heads at once -- a few KB per head.

   Differences from the plain version: the sums are added in another order
   and the forward's exp is taken against a running maximum, so results agree
   with it to rounding (~1e-6 relative in float), not bit for bit. */
#ifndef UT__ATT_TILE
#  define UT__ATT_TILE 64   /* BT: query and key tile; measured 32-128 within a few % */
#endif
#ifndef UT__ATT_HEADS
#  define UT__ATT_HEADS 4   /* query heads sharing one pass over the key tiles (a GQA group) */
#endif

/* Scratch of one (batch, kv head) pair, in floats: the packed tiles
   (K_j^T and V_j^T, HD x BT each, and K_j or V_j, BT x HD, for every key
   tile j), the packed Q_i and dY_i of the current query tile for
   UT__ATT_HEADS heads, the two BT x BT tiles and two BT row vectors per head
   (m and l in the forward, D in the backward); whole cache lines. */
static size_t ut__att_pair_floats(int T, int HD) {
    size_t nt = (size_t)(T + UT__ATT_TILE - 1) / UT__ATT_TILE;
    size_t kt = ut__packed_size(HD, UT__ATT_TILE), kv = ut__packed_size(UT__ATT_TILE, HD);
    size_t n = nt * (2 * kt + kv) + UT__ATT_HEADS * (2 * kv + 2 * (size_t)UT__ATT_TILE)
             + 2 * (size_t)UT__ATT_TILE * UT__ATT_TILE;
    return (n + 15) / 16 * 16;
}
size_t ut_attention_scratch_floats(int B, int T, int KVH, int HD) {
    return (size_t)B * KVH * ut__att_pair_floats(T, HD);
}

/* The key range of row t inside key tile [u0, u0 + bk): columns [*lo, *hi)
   are visible (u <= t, and t - u < window); none when *lo >= *hi. */
static void ut__att_visible(int t, int u0, int bk, int window, int *lo, int *hi) {
    int a = ut__first_visible(t, window) - u0, b = t - u0 + 1;
    *lo = a > 0 ? a : 0;
    *hi = b < bk ? b : bk;
}

/* One row of the online softmax, for one key tile: s (bk scores q_t . k_u)
   becomes p_u = exp(scale s_u - m') on the visible columns [lo, hi) and 0
   elsewhere; the running max m and sum l are updated. Returns e^(m - m'),
   the factor the row's running output must be multiplied by.
   Speed: the loops run over the whole row, 0 .. bk, and choose "visible or
   not" with a select instead of starting at lo and stopping at hi. A loop of
   fixed length vectorises without a scalar remainder; with variable bounds
   the diagonal tile's rows (1, 2, ..., 64 visible entries) spent most of
   their time in the one-at-a-time remainder. The entries outside [lo, hi)
   are computed and thrown away (they are finite: stale scores or zeros).
   The max is a vector reduction too: max is exact, so any order gives the
   same m (the result stays bit-identical for any number of threads). */
static ut_float ut__online_softmax_row(ut_float *s, int lo, int hi, int bk, ut_float scale,
                                       ut_float *m, ut_float *l) {
    if (lo >= hi) {                  /* nothing visible in this tile: no change */
        for (int u = 0; u < bk; u++) s[u] = 0;
        return 1;
    }
    ut_float mx = -INFINITY, sum = 0;
    UT__PRAGMA(omp simd reduction(max : mx))
    for (int u = 0; u < bk; u++) {
        ut_float x = (u >= lo && u < hi) ? s[u] * scale : -INFINITY;
        mx = x > mx ? x : mx;
    }
    ut_float m_new = mx > *m ? mx : *m;
    ut_float alpha = *m == -INFINITY ? 0 : ut__exp(*m - m_new);   /* first tile: o = l = 0 anyway */
    UT_SIMD_SUM(sum)
    for (int u = 0; u < bk; u++) {
        ut_float e = ut__exp(s[u] * scale - m_new);
        s[u] = (u >= lo && u < hi) ? e : 0;
        sum += s[u];
    }
    *l = *l * alpha + sum;
    *m = m_new;
    return alpha;
}

/* y (B, T, H, HD) and lse (B, H, T) from q (B, T, H, HD), k, v (B, T, KVH, HD). */
void ut_attention_forward(ut_float *y, ut_float *lse, const ut_float *q, const ut_float *k,
                          const ut_float *v, int B, int T, int H, int KVH, int HD, int window,
                          ut_float *scratch) {
    const int BT = UT__ATT_TILE, nt = (T + BT - 1) / BT, group = H / KVH;
    const ut_float scale = (ut_float)(1.0 / sqrt((double)HD));
    const long qs = (long)H * HD, ks = (long)KVH * HD;       /* row strides of q/y and of k/v */
    const size_t kt_sz = ut__packed_size(HD, BT), kv_sz = ut__packed_size(BT, HD);
    const size_t per = ut__att_pair_floats(T, HD);
    #pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int kvh = 0; kvh < KVH; kvh++) {
            /* this pair's scratch: packed K_j^T for every j, packed V_j, then S
               and, per head of the chunk, m and l (BT each) */
            ut_float *kt = scratch + ((size_t)b * KVH + kvh) * per, *vp = kt + nt * kt_sz;
            ut_float *S = vp + nt * kv_sz, *mrow = S + (size_t)BT * BT, *lrow = mrow + UT__ATT_HEADS * BT;
            const ut_float *kb = k + (size_t)b * T * ks + (size_t)kvh * HD;
            const ut_float *vb = v + (size_t)b * T * ks + (size_t)kvh * HD;
            for (int j = 0; j < nt; j++) {
                int u0 = j * BT, bk = T - u0 < BT ? T - u0 : BT;
                ut__pack(kt + j * kt_sz, kb + u0 * ks, 1, ks, HD, bk);  /* K_j^T: (i, u) = k[u0+u][i] */
                ut__pack(vp + j * kv_sz, vb + u0 * ks, ks, 1, bk, HD);  /* V_j:   (u, i) = v[u0+u][i] */
            }
            memset(S, 0, (size_t)BT * BT * sizeof(ut_float));   /* the softmax reads whole rows */
            for (int i = 0; i < nt; i++) {                         /* query tile i: rows t0 .. t0+bq */
                int t0 = i * BT, bq = T - t0 < BT ? T - t0 : BT;
                /* the group's heads, UT__ATT_HEADS at a time (all of them, for
                   the usual group of 4 or fewer) */
                for (int h0 = kvh * group; h0 < (kvh + 1) * group; h0 += UT__ATT_HEADS) {
                    int nh = (kvh + 1) * group - h0 < UT__ATT_HEADS ? (kvh + 1) * group - h0 : UT__ATT_HEADS;
                    size_t row0 = ((size_t)b * T + t0) * qs + (size_t)h0 * HD;   /* head h0, row t0 */
                    for (int hh = 0; hh < nh; hh++)                 /* o = 0, l = 0, m = -inf */
                        for (int r = 0; r < bq; r++) {
                            mrow[hh * BT + r] = -INFINITY; lrow[hh * BT + r] = 0;
                            memset(y + row0 + hh * HD + r * qs, 0, (size_t)HD * sizeof(ut_float));
                        }
                    for (int j = ut__first_visible(t0, window) / BT; j <= i; j++) {
                        int u0 = j * BT, bk = T - u0 < BT ? T - u0 : BT, diag = j == i;
                        for (int hh = 0; hh < nh; hh++) {           /* head h0 + hh against K_j, V_j */
                            const ut_float *qi = q + row0 + hh * HD;
                            ut_float *yi = y + row0 + hh * HD, *m = mrow + hh * BT, *l = lrow + hh * BT;
                            /* S = Q_i K_j^T (bq x bk); on the diagonal only its lower half */
                            ut__gemm_block(bq, bk, HD, qi, qs, 1, kt + j * kt_sz, S, BT, 0,
                                           diag ? UT__OUT_LOWER : UT__ALL);
                            for (int r = 0; r < bq; r++) {         /* S -> P, rescale o */
                                int lo, hi;
                                ut__att_visible(t0 + r, u0, bk, window, &lo, &hi);
                                ut_float alpha = ut__online_softmax_row(S + (size_t)r * BT, lo, hi, bk, scale,
                                                                        &m[r], &l[r]);
                                if (alpha != 1)
                                    for (int c = 0; c < HD; c++) yi[r * qs + c] *= alpha;
                            }
                            /* o += P V_j (bq x HD); on the diagonal P is lower triangular */
                            ut__gemm_block(bq, HD, bk, S, BT, 1, vp + j * kv_sz, yi, qs, 1,
                                           diag ? UT__A_LOWER : UT__ALL);
                        }
                    }
                    for (int hh = 0; hh < nh; hh++) {               /* y = o / l, lse = m + log l */
                        ut_float *yi = y + row0 + hh * HD, *m = mrow + hh * BT, *l = lrow + hh * BT;
                        ut_float *lsei = lse + ((size_t)b * H + h0 + hh) * T + t0;
                        for (int r = 0; r < bq; r++) {
                            ut_float inv = 1 / l[r];
                            for (int c = 0; c < HD; c++) yi[r * qs + c] *= inv;
                            lsei[r] = m[r] + ut__log(l[r]);
                        }
                    }
                }
            }
        }
}

/* The backward: dq, dk, dv (shaped as q, k, v) are ADDED to, from dy, the
   forward's y and lse, and q, k, v. */
void ut_attention_backward(ut_float *dq, ut_float *dk, ut_float *dv, const ut_float *dy,
                           const ut_float *y, const ut_float *lse, const ut_float *q,
                           const ut_float *k, const ut_float *v, int B, int T, int H, int KVH,
                           int HD, int window, ut_float *scratch) {
    const int BT = UT__ATT_TILE, nt = (T + BT - 1) / BT, group = H / KVH;
    const ut_float scale = (ut_float)(1.0 / sqrt((double)HD));
    const long qs = (long)H * HD, ks = (long)KVH * HD;
    const size_t kt_sz = ut__packed_size(HD, BT), kv_sz = ut__packed_size(BT, HD);
    const size_t per = ut__att_pair_floats(T, HD);
    #pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int kvh = 0; kvh < KVH; kvh++) {
            /* this pair's scratch: packed K_j^T, V_j^T, K_j for every j; per
               head of the chunk packed Q_i and dY_i; P and dS (BT x BT); per
               head D (BT) */
            ut_float *kt = scratch + ((size_t)b * KVH + kvh) * per, *vt = kt + nt * kt_sz;
            ut_float *kp = vt + nt * kt_sz, *qp = kp + nt * kv_sz, *dyp = qp + UT__ATT_HEADS * kv_sz;
            ut_float *P = dyp + UT__ATT_HEADS * kv_sz, *G = P + (size_t)BT * BT, *Drow = G + (size_t)BT * BT;
            const ut_float *kb = k + (size_t)b * T * ks + (size_t)kvh * HD;
            const ut_float *vb = v + (size_t)b * T * ks + (size_t)kvh * HD;
            ut_float *dkb = dk + (size_t)b * T * ks + (size_t)kvh * HD;
            ut_float *dvb = dv + (size_t)b * T * ks + (size_t)kvh * HD;
            for (int j = 0; j < nt; j++) {
                int u0 = j * BT, bk = T - u0 < BT ? T - u0 : BT;
                ut__pack(kt + j * kt_sz, kb + u0 * ks, 1, ks, HD, bk);  /* K_j^T */
                ut__pack(vt + j * kt_sz, vb + u0 * ks, 1, ks, HD, bk);  /* V_j^T */
                ut__pack(kp + j * kv_sz, kb + u0 * ks, ks, 1, bk, HD);  /* K_j   */
            }
            memset(P, 0, 2 * (size_t)BT * BT * sizeof(ut_float));   /* P and G: whole rows are read */
            for (int i = 0; i < nt; i++) {
                int t0 = i * BT, bq = T - t0 < BT ? T - t0 : BT;
                for (int h0 = kvh * group; h0 < (kvh + 1) * group; h0 += UT__ATT_HEADS) {
                    int nh = (kvh + 1) * group - h0 < UT__ATT_HEADS ? (kvh + 1) * group - h0 : UT__ATT_HEADS;
                    size_t row0 = ((size_t)b * T + t0) * qs + (size_t)h0 * HD;   /* head h0, row t0 */
                    for (int hh = 0; hh < nh; hh++) {
                        const ut_float *qi = q + row0 + hh * HD, *dyi = dy + row0 + hh * HD, *yi = y + row0 + hh * HD;
                        ut__pack(qp + hh * kv_sz, qi, qs, 1, bq, HD);      /* Q_i  (bq x HD) */
                        ut__pack(dyp + hh * kv_sz, dyi, qs, 1, bq, HD);    /* dY_i (bq x HD) */
                        for (int r = 0; r < bq; r++) {                     /* D_t = dy_t . y_t */
                            ut_float s = 0;
                            for (int c = 0; c < HD; c++) s += dyi[r * qs + c] * yi[r * qs + c];
                            Drow[hh * BT + r] = s;
                        }
                    }
                    for (int j = ut__first_visible(t0, window) / BT; j <= i; j++) {
                        int u0 = j * BT, bk = T - u0 < BT ? T - u0 : BT, diag = j == i;
                        for (int hh = 0; hh < nh; hh++) {           /* head h0 + hh against K_j, V_j */
                            const ut_float *qi = q + row0 + hh * HD, *dyi = dy + row0 + hh * HD;
                            const ut_float *lsei = lse + ((size_t)b * H + h0 + hh) * T + t0, *D = Drow + hh * BT;
                            ut_float *dqi = dq + row0 + hh * HD;
                            ut__gemm_block(bq, bk, HD, qi, qs, 1, kt + j * kt_sz, P, BT, 0,
                                           diag ? UT__OUT_LOWER : UT__ALL);    /* S  = Q_i K_j^T  */
                            ut__gemm_block(bq, bk, HD, dyi, qs, 1, vt + j * kt_sz, G, BT, 0,
                                           diag ? UT__OUT_LOWER : UT__ALL);    /* dP = dY_i V_j^T */
                            for (int r = 0; r < bq; r++) { /* P = exp(scale S - lse), dS = P (dP - D) scale */
                                int lo, hi;
                                ut__att_visible(t0 + r, u0, bk, window, &lo, &hi);
                                ut_float *p = P + (size_t)r * BT, *g = G + (size_t)r * BT;
                                const ut_float lr = lsei[r], dr = D[r];
                                /* whole rows and a select, as in ut__online_softmax_row */
                                for (int u = 0; u < bk; u++) {
                                    ut_float e = ut__exp(scale * p[u] - lr);
                                    e = (u >= lo && u < hi) ? e : 0;
                                    p[u] = e;
                                    g[u] = e * (g[u] - dr) * scale;
                                }
                            }
                            /* dQ_i += dS K_j;  dK_j += dS^T Q_i;  dV_j += P^T dY_i. A transposed
                               tile is read with row stride 1 and column stride BT: no copy */
                            ut__gemm_block(bq, HD, bk, G, BT, 1, kp + j * kv_sz, dqi, qs, 1,
                                           diag ? UT__A_LOWER : UT__ALL);
                            ut__gemm_block(bk, HD, bq, G, 1, BT, qp + hh * kv_sz, dkb + u0 * ks, ks, 1,
                                           diag ? UT__A_UPPER : UT__ALL);
                            ut__gemm_block(bk, HD, bq, P, 1, BT, dyp + hh * kv_sz, dvb + u0 * ks, ks, 1,
                                           diag ? UT__A_UPPER : UT__ALL);
                        }
                    }
                }
            }
        }
}

#endif /* ULTRATHINK_IMPLEMENTATION */
