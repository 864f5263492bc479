/* train_gpu.cu — the same model trained on an NVIDIA GPU.

   STATUS: this file compiles (CUDA 13, sm_80/sm_90) but HAS NEVER RUN ON A
   GPU. Nothing in it is verified until `make gpu-check` has run on one
   (README, "The GPU build"). Read it as a careful first draft.

   HOW IT FITS
   `make train_gpu` compiles train.c with -DUT_GPU and links it with this
   file. train.c stays the program (options, run folder, metrics.jsonl,
   progress line, checkpoints, sampling); train_gpu.h swaps its compute calls
   (forward, backward, AdamW) for the functions at the end of this file. So
   the flags, the files and the checkpoint format are exactly those of
   ./train: a run started on the CPU resumes on the GPU and back.

   This file mirrors ultrathink.h's compute sections, in the same order and
   with the same names (ut_rmsnorm_forward -> rmsnorm_forward_kernel, called
   by rmsnorm_forward_gpu). Put the two side by side: the header's loop is the
   definition, the kernel computes the same sums with one thread (or one warp)
   per independent piece.

     1. utilities: errors, the compute type floatX, warp sums
     3. memory: the GPU copy of the model and its activations
     4. matmul: every linear layer through cuBLASLt
     5. layers: embedding, RMSNorm, RoPE, attention, SwiGLU, MoE, cross-entropy
     6. model: forward, backward
     7. optimizer: gradient norm, AdamW (fp32 master weights and moments)
     8. checkpoint: moving the weights between host and GPU
     9. the API train_gpu.h calls

   PRECISION. Default build: matrices and activations in bf16 (floatX), every
   sum accumulated in fp32; fp32 master weights, gradients of the weights and
   AdamW moments; the RMSNorm weights and the MoE router run in fp32.
   `make train_gpu FP32=1` (-DUT_GPU_FP32) makes floatX = float: the parity
   build, which should match the CPU to ~1e-5.

   DETERMINISM. No atomics anywhere: every sum over rows that feeds a weight
   gradient is split into fixed chunks whose partial sums are added in chunk
   order (rmsnorm dw, router dw), or done by one thread in row order
   (embedding dw, one block per token). cuBLASLt is asked for one algorithm
   per shape, chosen once and cached, so the same shape always runs the same
   code. Same seed and data -> the same bits on the same GPU.

   WHAT IS SIMPLE ON PURPOSE (correctness and clarity first; speed later):
   attention is a warp per query row (or key row in the dK/dV pass) walking
   the visible keys with an online softmax, reading K and V from global
   memory: no shared-memory tiles, no tensor cores (a tensor-core forward,
   attention_forward_tc_kernel, is here as an experiment for the tests and
   the benchmark; the model does not call it yet). The MoE slot sort runs on
   the host (train_gpu_host.h), one small copy per layer. --recompute is
   accepted but the GPU keeps every layer's activations. */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublasLt.h>
#include <mma.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "ultrathink.h"
#include "train_gpu.h"
}
#include "train_gpu_host.h"

/* ===========================================================================
   1. UTILITIES
   ======================================================================== */

/* Errors. The API functions (section 9) return -1 with a message in g_err;
   a failing CUDA or cuBLAS call inside a step prints one line and exits 1:
   the run cannot continue, and train.c's last checkpoint stays the good one. */
static char g_err[512];
extern "C" const char *ut_gpu_error(void) { return g_err; }
static int gpu_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return -1;
}
static void cuda_check(cudaError_t e, const char *what, const char *file, int line) {
    if (e == cudaSuccess) return;
    fprintf(stderr, "train_gpu: error: CUDA: %s (%s, %s:%d)\n", cudaGetErrorString(e), what, file, line);
    exit(1);
}
static void cublas_check(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fprintf(stderr, "train_gpu: error: cuBLASLt status %d (%s, %s:%d)\n", (int)s, what, file, line);
    exit(1);
}
#define CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cublas_check((call), #call, __FILE__, __LINE__)
#define LAUNCHED() cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

/* floatX: what matrices and activations are stored in. Kernels load it into
   float, compute in float, and round once when they store. */
#ifdef UT_GPU_FP32
typedef float floatX;
#define CUDA_R_X CUDA_R_32F
__device__ __forceinline__ float ld(floatX x) { return x; }
__device__ __forceinline__ floatX st(float x) { return x; }
#define GPU_PRECISION "fp32"
#else
typedef __nv_bfloat16 floatX;
#define CUDA_R_X CUDA_R_16BF
__device__ __forceinline__ float ld(floatX x) { return __bfloat162float(x); }
__device__ __forceinline__ floatX st(float x) { return __float2bfloat16(x); }
#define GPU_PRECISION "bf16"
#endif

/* The sum of v over the 32 lanes of a warp, in every lane. The butterfly
   (xor 16, 8, 4, 2, 1) adds in a fixed pattern: the same inputs always give
   the same bits. */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Launch shapes. "A warp per row" kernels use blocks of 8 warps = 256
   threads, row = blockIdx.x * 8 + warp; elementwise kernels one thread per
   number, blocks of 256. */
#define WARPS 8
static unsigned blocks_for(size_t n, int per_block) { return (unsigned)((n + per_block - 1) / per_block); }

/* float -> floatX of a whole buffer (the weights' compute copy). */
__global__ void float_to_x_kernel(floatX *out, const float *in, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = st(in[i]);
}
[[maybe_unused]] static void float_to_x_gpu(floatX *out, const float *in, size_t n) {  /* unused in the FP32 build */
    if (!n) return;
    float_to_x_kernel<<<blocks_for(n, 256), 256>>>(out, in, n);
    LAUNCHED();
}

/* y += x, elementwise (the residual additions) */
__global__ void add_kernel(floatX *y, const floatX *x, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = st(ld(y[i]) + ld(x[i]));
}
static void add_gpu(floatX *y, const floatX *x, size_t n) {
    add_kernel<<<blocks_for(n, 256), 256>>>(y, x, n);
    LAUNCHED();
}

/* Deterministic column sums. Several weight gradients are sums over the N
   rows of a batch: dw[i] += sum_n f(n, i). One thread per (column i, chunk of
   ROWS_PER_CHUNK rows) sums its chunk in row order into partial[chunk, i];
   then one thread per column adds the chunks in chunk order. No atomics, and
   the result never depends on how the GPU schedules the blocks. */
#define ROWS_PER_CHUNK 256
__global__ void column_reduce_kernel(float *dw, const float *partial, int chunks, int cols) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= cols) return;
    float s = 0;
    for (int c = 0; c < chunks; c++) s += partial[(size_t)c * cols + i];
    dw[i] += s;
}

/* ===========================================================================
   3. MEMORY: the GPU copy of the model
   The parameter buffers have the host's layout (ut_param_sizes), so moving
   them is one cudaMemcpy each. wx is the compute copy of the weights in
   floatX (bf16), rewritten by every AdamW step; in the FP32 build it is the
   master buffer itself.
   ======================================================================== */

/* One layer's parameters by name: gpu_layer_offsets (train_gpu_host.h). */

/* Activations saved by the forward pass (the GPU twin of ut_acts) and the
   backward's scratch (ut_grad_acts). N = B*T rows, NK = N*K slots (N when
   E == 1). floatX unless marked float. */
typedef struct {
    int *tokens, *targets;            /* (N) */
    int *tok_off, *tok_pos;           /* (V+1), (N): token buckets, train_gpu_host.h */
    floatX *resid;                    /* (L+1, N, D) */
    float *attn_rstd;                 /* (L, N) float */
    floatX *attn_xn;                  /* (L, N, D) */
    floatX *q, *k, *v;                /* (L, N, QD), (L, N, KD) x2: after RoPE */
    float *attn_lse;                  /* (L, B, H, T) float */
    floatX *attn_y;                   /* (L, N, QD) */
    floatX *mid;                      /* (L, N, D) */
    float *ffn_rstd;                  /* (L, N) float */
    floatX *ffn_xn;                   /* (L, N, D) */
    floatX *gate, *up;                /* (L, NK, F) */
    floatX *h;                        /* MoE: (L, NK, F); dense: (N, F), forward only */
    float *probs, *rlse, *topk_w;     /* (L, N, E), (L, N), (L, N, K) float */
    int *topk_e, *slot_of, *slot_token, *count;   /* (L, N, K) x2, (L, NK), (L, E) */
    floatX *xs, *ffn_out;             /* (L, NK, D) each slot's input and output */
    float *final_rstd;                /* (N) */
    floatX *final_xn;                 /* (N, D) */
    floatX *logits;                   /* (N, V): logits, then dlogits in place */
    float *ce_lse, *row_loss;         /* (N) */
    /* backward scratch */
    floatX *dresid, *dxn;             /* (N, D) */
    floatX *dq, *dy, *dk, *dv;        /* (N, QD), (N, QD), (N, KD), (N, KD) */
    float *attn_D;                    /* (B, H, T): dy . y of each attention row */
    floatX *dys, *dxs;                /* (NK, D) */
    floatX *dgate, *dup;              /* (NK, F) */
    float *dwk, *dl;                  /* (N, K), (N, E) */
    float *partial;                   /* column-sum chunks */
} gpu_acts;

typedef struct {
    const ut_model *owner;            /* the host model this copy belongs to */
    ut_config c;
    size_t sizes[UT_NUM_TENSORS], n_params;
    size_t padded;                    /* params and grads hold this many (n_params, or ZeRO-1's padding) */
    size_t mom_lo, n_mom;             /* adam_m/adam_v hold the moments of [mom_lo, mom_lo + n_mom) */
    float *params, *grads, *adam_m, *adam_v;
    floatX *wx;                       /* compute copy of the weights */
    float *rope_cos, *rope_sin;       /* (max_seq_len, HD/2), the host's tables */
    double *norm_part, *h_norm;       /* the gradient's chunk sums of squares, on the GPU and the host */
    int *bad_flag;                    /* ut_model_check_state_gpu's answer */
    int host_stale;                   /* the GPU's weights are newer than the host's */
    int B, T;                         /* the activations' shape */
    gpu_acts a;
    void *act_alloc[64];
    int n_act_alloc;
    /* host mirrors of the MoE routing (the sort runs on the host) */
    int *h_off;                       /* (L, E+1) */
    int *h_topk_e, *h_slot_of, *h_slot_token, *h_fill, *h_tok_off, *h_tok_pos;
    float *h_probs, *h_lse, *h_row_loss;
    int *h_targets;
    double aux_sum, z_sum;
    void *workspace;                  /* cuBLASLt */
} gpu_model;

static gpu_model G;
static int g_device_ok = 0;

/* ZeRO-1 (train.c, --zero 1): this rank keeps the AdamW moments of the
   shard [lo, lo + shard) of the flat buffer only, and the weights and
   gradient padded to `padded` numbers (W x shard). Set by ut_zero_gpu, read
   by gpu_attach: it outlives the GPU copy (a checkpoint load drops the copy,
   the next step makes it again). zm, zv: the host's copy of the shard's
   moments (train.c's), where a download puts them and an upload takes them. */
static struct {
    const ut_model *owner;
    size_t lo, shard, padded;
    float *zm, *zv;
} g_zero;

/* Is there a GPU? Asked once; a machine without one gets a clear message. */
static int gpu_device_ready(void) {
    if (g_device_ok) return 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return gpu_fail("no CUDA GPU found (%s): train_gpu needs an NVIDIA GPU; ./train trains on the CPU",
                        e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    /* the GPU is the current device: 0, or the one comm_init chose for this
       rank (its local rank) before anything touched CUDA */
    g_device_ok = 1;
    return 0;
}

static void *dmalloc(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 16));
    return p;
}
static void *act_alloc(size_t bytes) {
    void *p = dmalloc(bytes);
    CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 16));
    G.act_alloc[G.n_act_alloc++] = p;
    return p;
}

static void gpu_free_acts(void) {
    for (int i = 0; i < G.n_act_alloc; i++) cudaFree(G.act_alloc[i]);
    G.n_act_alloc = 0;
    free(G.h_off); free(G.h_topk_e); free(G.h_slot_of); free(G.h_slot_token); free(G.h_fill);
    free(G.h_tok_off); free(G.h_tok_pos); free(G.h_probs); free(G.h_lse); free(G.h_row_loss); free(G.h_targets);
    G.h_off = G.h_topk_e = G.h_slot_of = G.h_slot_token = G.h_fill = G.h_tok_off = G.h_tok_pos = G.h_targets = NULL;
    G.h_probs = G.h_lse = G.h_row_loss = NULL;
    memset(&G.a, 0, sizeof G.a);
    G.B = G.T = 0;
}

/* The activations for (B, T), allocated on the first step of that shape. */
static void gpu_ensure_acts(int B, int T) {
    if (G.B == B && G.T == T) return;
    gpu_free_acts();
    const ut_config *c = &G.c;
    size_t N = (size_t)B * T, L = c->n_layers, D = c->d_model, V = c->vocab_size, F = c->ffn_hidden;
    size_t H = c->n_heads, QD = H * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t E = c->n_experts, K = E > 1 ? c->top_k : 1, NK = N * K, X = sizeof(floatX), S = sizeof(float);
    gpu_acts *a = &G.a;
    a->tokens = (int *)act_alloc(N * sizeof(int));
    a->targets = (int *)act_alloc(N * sizeof(int));
    a->tok_off = (int *)act_alloc((V + 1) * sizeof(int));
    a->tok_pos = (int *)act_alloc(N * sizeof(int));
    a->resid = (floatX *)act_alloc((L + 1) * N * D * X);
    a->attn_rstd = (float *)act_alloc(L * N * S);
    a->attn_xn = (floatX *)act_alloc(L * N * D * X);
    a->q = (floatX *)act_alloc(L * N * QD * X);
    a->k = (floatX *)act_alloc(L * N * KD * X);
    a->v = (floatX *)act_alloc(L * N * KD * X);
    a->attn_lse = (float *)act_alloc(L * N * H * S);
    a->attn_y = (floatX *)act_alloc(L * N * QD * X);
    a->mid = (floatX *)act_alloc(L * N * D * X);
    a->ffn_rstd = (float *)act_alloc(L * N * S);
    a->ffn_xn = (floatX *)act_alloc(L * N * D * X);
    a->gate = (floatX *)act_alloc(L * NK * F * X);
    a->up = (floatX *)act_alloc(L * NK * F * X);
    a->h = (floatX *)act_alloc((E > 1 ? L * NK : N) * F * X);
    if (E > 1) {
        a->probs = (float *)act_alloc(L * N * E * S);
        a->rlse = (float *)act_alloc(L * N * S);
        a->topk_w = (float *)act_alloc(L * NK * S);
        a->topk_e = (int *)act_alloc(L * NK * sizeof(int));
        a->slot_of = (int *)act_alloc(L * NK * sizeof(int));
        a->slot_token = (int *)act_alloc(L * NK * sizeof(int));
        a->count = (int *)act_alloc(L * E * sizeof(int));
        a->xs = (floatX *)act_alloc(L * NK * D * X);
        a->ffn_out = (floatX *)act_alloc(L * NK * D * X);
        a->dys = (floatX *)act_alloc(NK * D * X);
        a->dxs = (floatX *)act_alloc(NK * D * X);
        a->dwk = (float *)act_alloc(NK * S);
        a->dl = (float *)act_alloc(N * E * S);
    }
    a->dgate = (floatX *)act_alloc(NK * F * X);
    a->dup = (floatX *)act_alloc(NK * F * X);
    a->final_rstd = (float *)act_alloc(N * S);
    a->final_xn = (floatX *)act_alloc(N * D * X);
    a->logits = (floatX *)act_alloc(N * V * X);
    a->ce_lse = (float *)act_alloc(N * S);
    a->row_loss = (float *)act_alloc(N * S);
    a->dresid = (floatX *)act_alloc(N * D * X);
    a->dxn = (floatX *)act_alloc(N * D * X);
    a->dq = (floatX *)act_alloc(N * QD * X);
    a->dy = (floatX *)act_alloc(N * QD * X);
    a->dk = (floatX *)act_alloc(N * KD * X);
    a->dv = (floatX *)act_alloc(N * KD * X);
    a->attn_D = (float *)act_alloc(N * H * S);
    size_t chunks = (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK, cols = E > 1 ? E * D : D;
    a->partial = (float *)act_alloc(chunks * cols * S);
    G.h_off = (int *)calloc(L * (E + 1), sizeof(int));
    G.h_topk_e = (int *)calloc(NK, sizeof(int));
    G.h_slot_of = (int *)calloc(NK, sizeof(int));
    G.h_slot_token = (int *)calloc(NK, sizeof(int));
    G.h_fill = (int *)calloc(E > V ? E + 1 : V + 1, sizeof(int));
    G.h_tok_off = (int *)calloc(V + 1, sizeof(int));
    G.h_tok_pos = (int *)calloc(N, sizeof(int));
    G.h_probs = (float *)calloc(N * E, sizeof(float));
    G.h_lse = (float *)calloc(N, sizeof(float));
    G.h_row_loss = (float *)calloc(N, sizeof(float));
    G.h_targets = (int *)calloc(N, sizeof(int));
    if (!G.h_off || !G.h_topk_e || !G.h_slot_of || !G.h_slot_token || !G.h_fill || !G.h_tok_off ||
        !G.h_tok_pos || !G.h_probs || !G.h_lse || !G.h_row_loss || !G.h_targets) {
        fprintf(stderr, "train_gpu: error: out of host memory for B=%d T=%d\n", B, T);
        exit(1);
    }
    G.B = B; G.T = T;
}

/* ===========================================================================
   4. MATMUL: the linear layers, through cuBLASLt
   Every product the model needs is one of three, in row-major terms
   (x (N, C), W (OC, C), out (N, OC)):
       forward       out  = x W^T           (N, OC)
       input grad    dx  += dout W          (N, C)
       weight grad   dW  += dout^T x        (OC, C), fp32
   matmul_gpu computes C (M, N) = beta C + op(A) op(B) for row-major matrices.
   cuBLAS thinks in column-major, where a row-major (M, N) matrix is its own
   transpose, so we ask it for C^T = op(B)^T op(A)^T: the operands swap
   places and nothing is copied.
   Inputs are floatX (bf16), the sums fp32 (CUBLAS_COMPUTE_32F; the FP32 build
   gets true fp32, no TF32); C is floatX for activations or fp32 for weight
   gradients. Each distinct shape gets a descriptor and an algorithm (the
   heuristic's first choice) once; later calls find them in a small table.
   ======================================================================== */

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, c_fp32, align;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} gemm_plan;
#define MAX_PLANS 512
static gemm_plan g_plans[MAX_PLANS];
static int g_nplans;
static cublasLtHandle_t g_lt;
static const size_t WORKSPACE = (size_t)32 << 20;

/* the largest power of two (<= 256) dividing every pointer: cuBLASLt picks
   algorithms by the alignment it is promised */
static int ptr_align(const void *a, const void *b, const void *c) {
    uintptr_t x = (uintptr_t)a | (uintptr_t)b | (uintptr_t)c;
    int al = 256;
    while (al > 1 && (x % (uintptr_t)al)) al >>= 1;
    return al;
}

static gemm_plan *gemm_plan_for(int ta, int tb, int M, int N, int K, int lda, int ldb, int ldc, int c_fp32,
                                int align) {
    for (int i = 0; i < g_nplans; i++) {
        gemm_plan *p = &g_plans[i];
        if (p->ta == ta && p->tb == tb && p->M == M && p->N == N && p->K == K && p->lda == lda &&
            p->ldb == ldb && p->ldc == ldc && p->c_fp32 == c_fp32 && p->align == align)
            return p;
    }
    if (g_nplans == MAX_PLANS) {   /* a table this full means shapes keep changing: start over */
        for (int i = 0; i < g_nplans; i++) {
            cublasLtMatmulDescDestroy(g_plans[i].desc);
            cublasLtMatrixLayoutDestroy(g_plans[i].la);
            cublasLtMatrixLayoutDestroy(g_plans[i].lb);
            cublasLtMatrixLayoutDestroy(g_plans[i].lc);
        }
        g_nplans = 0;
    }
    gemm_plan *p = &g_plans[g_nplans];
    p->ta = ta; p->tb = tb; p->M = M; p->N = N; p->K = K;
    p->lda = lda; p->ldb = ldb; p->ldc = ldc; p->c_fp32 = c_fp32; p->align = align;
    /* the column-major question (gpu_gemm_colmajor, train_gpu_host.h):
       cuBLAS's A is our B, its B our A, its C (N x M) our C */
    gpu_gemm_args g = gpu_gemm_colmajor(ta, tb, M, N, K);
    cublasOperation_t op1 = g.op_a ? CUBLAS_OP_T : CUBLAS_OP_N, op2 = g.op_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op1, sizeof op1));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op2, sizeof op2));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_X, g.a_rows, g.a_cols, g.lda));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_X, g.b_rows, g.b_cols, g.ldb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, c_fp32 ? CUDA_R_32F : CUDA_R_X, g.c_rows, g.c_cols, g.ldc));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &WORKSPACE, sizeof WORKSPACE));
    uint32_t al = (uint32_t)align;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(g_lt, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (!found) {
        fprintf(stderr, "train_gpu: error: cuBLASLt has no algorithm for a %dx%dx%d product (ta=%d tb=%d)\n", M, N, K,
                ta, tb);
        exit(1);
    }
    p->algo = res.algo;
    g_nplans++;
    return p;
}

/* C (M, N) = beta * C + op(A) op(B), row-major; A, B floatX, C floatX or
   float (c_fp32). op(A) is (M, K), op(B) is (K, N). */
static void matmul_gpu(void *C, const floatX *A, const floatX *B, int M, int N, int K, int ta, int tb, float beta,
                       int c_fp32) {
    if (M == 0 || N == 0) return;
    if (K == 0) return;   /* an empty sum adds nothing (beta is 0 or 1 here; a 0-beta C is never read) */
    gpu_gemm_args g = gpu_gemm_colmajor(ta, tb, M, N, K);
    gemm_plan *p = gemm_plan_for(ta, tb, M, N, K, g.ldb, g.lda, g.ldc, c_fp32, ptr_align(A, B, C));
    float alpha = 1.0f;
    CUBLAS_CHECK(cublasLtMatmul(g_lt, p->desc, &alpha, B, p->la, A, p->lb, &beta, C, p->lc, C, p->lc, &p->algo,
                                G.workspace, WORKSPACE, 0));
}
/* the three products of a linear layer (section 4 of the header) */
static void linear_forward_gpu(floatX *out, const floatX *x, const floatX *w, int N, int C, int OC) {
    matmul_gpu(out, x, w, N, OC, C, 0, 1, 0.0f, 0);           /* out = x W^T */
}
static void linear_backward_dx_gpu(floatX *dx, const floatX *dout, const floatX *w, int N, int C, int OC,
                                   float beta) {
    matmul_gpu(dx, dout, w, N, C, OC, 0, 0, beta, 0);         /* dx = beta dx + dout W */
}
static void linear_backward_dw_gpu(float *dw, const floatX *dout, const floatX *x, int N, int C, int OC) {
    matmul_gpu(dw, dout, x, OC, C, N, 1, 0, 1.0f, 1);         /* dW += dout^T x (fp32) */
}

/* ===========================================================================
   5. LAYERS — each forward next to its backward, as in the header.
   ======================================================================== */

/* --- Token embedding -------------------------------------------------------
   out[n, :] = emb[tokens[n], :]; a thread per number (n, i).
   Backward demb[v, :] += sum over rows n holding v of dout[n, :]. Rows with
   the same token would race, so the host first buckets the rows by token
   (gpu_token_buckets, train_gpu_host.h); then block v adds its rows in n
   order, the same order as the CPU loop: one block per vocabulary entry, its
   threads across the D features. */
__global__ void embedding_forward_kernel(floatX *out, const int *tokens, const floatX *emb, int N, int D) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * D) return;
    size_t n = idx / D, i = idx % D;
    out[idx] = emb[(size_t)tokens[n] * D + i];
}
__global__ void embedding_backward_kernel(float *demb, const floatX *dout, const int *tok_off, const int *tok_pos,
                                          int D) {
    int v = blockIdx.x, r0 = tok_off[v], r1 = tok_off[v + 1];
    if (r0 == r1) return;   /* token v is not in the batch */
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float s = demb[(size_t)v * D + i];
        for (int r = r0; r < r1; r++) s += ld(dout[(size_t)tok_pos[r] * D + i]);
        demb[(size_t)v * D + i] = s;
    }
}
static void embedding_forward_gpu(floatX *out, const int *tokens, const floatX *emb, int N, int D) {
    embedding_forward_kernel<<<blocks_for((size_t)N * D, 256), 256>>>(out, tokens, emb, N, D);
    LAUNCHED();
}
/* host_tokens: the same tokens on the host, for the buckets */
static void embedding_backward_gpu(float *demb, const floatX *dout, const int *host_tokens, int N, int D, int V) {
    gpu_token_buckets(host_tokens, N, V, G.h_tok_off, G.h_tok_pos, G.h_fill);
    CUDA_CHECK(cudaMemcpy(G.a.tok_off, G.h_tok_off, (V + 1) * sizeof(int), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(G.a.tok_pos, G.h_tok_pos, N * sizeof(int), cudaMemcpyHostToDevice));
    embedding_backward_kernel<<<V, 128>>>(demb, dout, G.a.tok_off, G.a.tok_pos, D);
    LAUNCHED();
}

/* --- RMSNorm -----------------------------------------------------------------
   rstd = 1 / sqrt(mean_i x_i^2 + eps);  out_i = x_i * rstd * w_i
   A warp per row: each lane sums the squares of features lane, lane+32, ...,
   warp_sum adds the 32 partial sums. w is the fp32 master weight.
   Backward (the header's formula): g_i = dout_i w_i, xhat_i = x_i rstd,
       dx_i += rstd (g_i - xhat_i mean_j(g_j xhat_j))     a warp per row
       dw_i += sum_n dout_i xhat_i                         chunked column sums */
__global__ void rmsnorm_forward_kernel(floatX *out, float *rstd, const floatX *x, const float *w, int N, int D,
                                       float eps) {
    int row = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX *xr = x + (size_t)row * D;
    float ss = 0;
    for (int i = lane; i < D; i += 32) { float v = ld(xr[i]); ss += v * v; }
    ss = warp_sum(ss);
    float r = 1.0f / sqrtf(ss / D + eps);
    for (int i = lane; i < D; i += 32) out[(size_t)row * D + i] = st(ld(xr[i]) * r * w[i]);
    if (lane == 0) rstd[row] = r;
}
__global__ void rmsnorm_backward_kernel(floatX *dx, const floatX *dout, const floatX *x, const float *w,
                                        const float *rstd, int N, int D) {
    int row = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX *xr = x + (size_t)row * D, *dy = dout + (size_t)row * D;
    float r = rstd[row], gx = 0;
    for (int i = lane; i < D; i += 32) gx += ld(dy[i]) * w[i] * ld(xr[i]) * r;
    gx = warp_sum(gx) / D;
    for (int i = lane; i < D; i += 32) {
        size_t j = (size_t)row * D + i;
        dx[j] = st(ld(dx[j]) + r * (ld(dy[i]) * w[i] - ld(xr[i]) * r * gx));
    }
}
/* partial[chunk, i] = sum over the chunk's rows of dout_i x_i rstd */
__global__ void rmsnorm_dw_partial_kernel(float *partial, const floatX *dout, const floatX *x, const float *rstd,
                                          int N, int D) {
    int i = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
    if (i >= D) return;
    int n0 = c * ROWS_PER_CHUNK, n1 = min(N, n0 + ROWS_PER_CHUNK);
    float s = 0;
    for (int n = n0; n < n1; n++) s += ld(dout[(size_t)n * D + i]) * ld(x[(size_t)n * D + i]) * rstd[n];
    partial[(size_t)c * D + i] = s;
}
static void rmsnorm_forward_gpu(floatX *out, float *rstd, const floatX *x, const float *w, int N, int D, float eps) {
    rmsnorm_forward_kernel<<<blocks_for(N, WARPS), 32 * WARPS>>>(out, rstd, x, w, N, D, eps);
    LAUNCHED();
}
static void rmsnorm_backward_gpu(floatX *dx, float *dw, const floatX *dout, const floatX *x, const float *w,
                                 const float *rstd, int N, int D) {
    rmsnorm_backward_kernel<<<blocks_for(N, WARPS), 32 * WARPS>>>(dx, dout, x, w, rstd, N, D);
    LAUNCHED();
    int chunks = (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    rmsnorm_dw_partial_kernel<<<dim3(blocks_for(D, 256), chunks), 256>>>(G.a.partial, dout, x, rstd, N, D);
    LAUNCHED();
    column_reduce_kernel<<<blocks_for(D, 256), 256>>>(dw, G.a.partial, chunks, D);
    LAUNCHED();
}

/* --- RoPE (rotate-half, as the header) ---------------------------------------
       x'_i        = x_i cos - x_{i+HD/2} sin
       x'_{i+HD/2} = x_{i+HD/2} cos + x_i sin        angle of position t, pair i
   One thread per pair (row n, head, i < HD/2), in place on (B, T, nh, HD);
   the backward rotates by -angle (sign = -1). cos/sin are the host's tables,
   copied, so both devices use the very same angles. */
__global__ void rope_kernel(floatX *x, const float *cos_t, const float *sin_t, int N, int T, int nh, int HD,
                            float sign) {
    int half = HD / 2;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * nh * half) return;
    int i = (int)(idx % half);
    size_t nhh = idx / half;             /* (n, head) */
    int t = (int)((nhh / nh) % T);
    floatX *v = x + nhh * HD;
    float c = cos_t[(size_t)t * half + i], s = sign * sin_t[(size_t)t * half + i];
    float a = ld(v[i]), b = ld(v[i + half]);
    v[i] = st(a * c - b * s);
    v[i + half] = st(b * c + a * s);
}
static void rope_forward_gpu(floatX *x, const float *cos_t, const float *sin_t, int B, int T, int nh, int HD) {
    size_t n = (size_t)B * T * nh * (HD / 2);
    rope_kernel<<<blocks_for(n, 256), 256>>>(x, cos_t, sin_t, B * T, T, nh, HD, 1.0f);
    LAUNCHED();
}
static void rope_backward_gpu(floatX *dx, const float *cos_t, const float *sin_t, int B, int T, int nh, int HD) {
    size_t n = (size_t)B * T * nh * (HD / 2);
    rope_kernel<<<blocks_for(n, 256), 256>>>(dx, cos_t, sin_t, B * T, T, nh, HD, -1.0f);
    LAUNCHED();
}

/* --- Causal grouped-query attention --------------------------------------------
   q (B, T, H, HD), k and v (B, T, KVH, HD) -> y (B, T, H, HD), lse (B, H, T).
   Query head h reads key/value head h / (H/KVH) in place: K and V are never
   copied per head.
   FORWARD: a warp per query row r = (b, h, t). Lane j holds features
   j, j+32, ... of q_t and of the output accumulator (HD <= 32*MAX_PER_LANE).
   The warp walks the visible keys u in [first_visible(t), t] -- keys outside
   the causal window or the sliding window are never touched, which is the
   tile skipping of a tiled kernel, one key at a time -- with the online
   softmax of the header's appendix A.7:
       s = q.k_u / sqrt(HD);  m' = max(m, s);  c = exp(m - m');  p = exp(s - m')
       l = l c + p;  acc = acc c + p v_u;  m = m'
   and ends with y_t = acc / l and lse = m + log l (kept for the backward).
   BACKWARD, deterministic, in two passes that each own what they write:
       D_r = dy_r . y_r                          (attention_rowdot_kernel)
       p = exp(s - lse_r);  dp = dy_r . v_u;  ds = p (dp - D_r)
       dQ pass, a warp per query row:  dq_t = sum_u ds k_u / sqrt(HD)
       dK/dV pass, a warp per key row (b, kvh, u), over the query heads of its
       group and the queries that see u:
           dv_u = sum_{h,t} p dy_t;   dk_u = sum_{h,t} ds q_t / sqrt(HD)
   Each output is written by exactly one warp: no atomics. */
#define MAX_PER_LANE 8
__device__ __forceinline__ int first_visible(int t, int window) {
    return (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
}
__global__ void attention_forward_kernel(floatX *y, float *lse, const floatX *q, const floatX *k, const floatX *v,
                                         int B, int T, int H, int KVH, int HD, int window, float scale) {
    int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= B * H * T) return;
    int t = r % T, h = (r / T) % H, b = r / (T * H), kvh = h / (H / KVH);
    const floatX *qt = q + ((size_t)(b * T + t) * H + h) * HD;
    float qr[MAX_PER_LANE], acc[MAX_PER_LANE];
    for (int j = 0; j < MAX_PER_LANE; j++) {
        int i = lane + 32 * j;
        qr[j] = i < HD ? ld(qt[i]) : 0.0f;
        acc[j] = 0;
    }
    float m = -INFINITY, l = 0;
    for (int u = first_visible(t, window); u <= t; u++) {
        const floatX *ku = k + ((size_t)(b * T + u) * KVH + kvh) * HD;
        const floatX *vu = v + ((size_t)(b * T + u) * KVH + kvh) * HD;
        float s = 0;
        for (int j = 0; j < MAX_PER_LANE; j++) { int i = lane + 32 * j; if (i < HD) s += qr[j] * ld(ku[i]); }
        s = warp_sum(s) * scale;
        float mn = fmaxf(m, s), c = expf(m - mn), p = expf(s - mn);
        l = l * c + p;
        for (int j = 0; j < MAX_PER_LANE; j++) { int i = lane + 32 * j; if (i < HD) acc[j] = acc[j] * c + p * ld(vu[i]); }
        m = mn;
    }
    floatX *yt = y + ((size_t)(b * T + t) * H + h) * HD;
    for (int j = 0; j < MAX_PER_LANE; j++) { int i = lane + 32 * j; if (i < HD) yt[i] = st(acc[j] / l); }
    if (lane == 0) lse[r] = m + logf(l);
}
__global__ void attention_rowdot_kernel(float *Dr, const floatX *dy, const floatX *y, int B, int T, int H, int HD) {
    int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= B * H * T) return;
    int t = r % T, h = (r / T) % H, b = r / (T * H);
    size_t o = ((size_t)(b * T + t) * H + h) * HD;
    float s = 0;
    for (int i = lane; i < HD; i += 32) s += ld(dy[o + i]) * ld(y[o + i]);
    s = warp_sum(s);
    if (lane == 0) Dr[r] = s;
}
__global__ void attention_backward_dq_kernel(floatX *dq, const floatX *dy, const float *lse, const float *Dr,
                                             const floatX *q, const floatX *k, const floatX *v, int B, int T, int H,
                                             int KVH, int HD, int window, float scale) {
    int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= B * H * T) return;
    int t = r % T, h = (r / T) % H, b = r / (T * H), kvh = h / (H / KVH);
    size_t o = ((size_t)(b * T + t) * H + h) * HD;
    float qr[MAX_PER_LANE], dyr[MAX_PER_LANE], acc[MAX_PER_LANE];
    for (int j = 0; j < MAX_PER_LANE; j++) {
        int i = lane + 32 * j;
        qr[j] = i < HD ? ld(q[o + i]) : 0.0f;
        dyr[j] = i < HD ? ld(dy[o + i]) : 0.0f;
        acc[j] = 0;
    }
    float L = lse[r], Dt = Dr[r];
    for (int u = first_visible(t, window); u <= t; u++) {
        const floatX *ku = k + ((size_t)(b * T + u) * KVH + kvh) * HD;
        const floatX *vu = v + ((size_t)(b * T + u) * KVH + kvh) * HD;
        float s = 0, dp = 0;
        for (int j = 0; j < MAX_PER_LANE; j++) {
            int i = lane + 32 * j;
            if (i < HD) { s += qr[j] * ld(ku[i]); dp += dyr[j] * ld(vu[i]); }
        }
        s = warp_sum(s) * scale;
        dp = warp_sum(dp);
        float ds = expf(s - L) * (dp - Dt);
        for (int j = 0; j < MAX_PER_LANE; j++) { int i = lane + 32 * j; if (i < HD) acc[j] += ds * ld(ku[i]); }
    }
    for (int j = 0; j < MAX_PER_LANE; j++) { int i = lane + 32 * j; if (i < HD) dq[o + i] = st(acc[j] * scale); }
}
__global__ void attention_backward_dkdv_kernel(floatX *dk, floatX *dv, const floatX *dy, const float *lse,
                                               const float *Dr, const floatX *q, const floatX *k, const floatX *v,
                                               int B, int T, int H, int KVH, int HD, int window, float scale) {
    int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= B * KVH * T) return;
    int u = r % T, kvh = (r / T) % KVH, b = r / (T * KVH), group = H / KVH;
    size_t o = ((size_t)(b * T + u) * KVH + kvh) * HD;
    float kr[MAX_PER_LANE], vr[MAX_PER_LANE], dka[MAX_PER_LANE], dva[MAX_PER_LANE];
    for (int j = 0; j < MAX_PER_LANE; j++) {
        int i = lane + 32 * j;
        kr[j] = i < HD ? ld(k[o + i]) : 0.0f;
        vr[j] = i < HD ? ld(v[o + i]) : 0.0f;
        dka[j] = dva[j] = 0;
    }
    int t1 = window > 0 ? min(T - 1, u + window - 1) : T - 1;   /* the last query that sees key u */
    for (int h = kvh * group; h < (kvh + 1) * group; h++)
        for (int t = u; t <= t1; t++) {
            size_t oq = ((size_t)(b * T + t) * H + h) * HD;
            int row = (b * H + h) * T + t;
            float s = 0, dp = 0;
            for (int j = 0; j < MAX_PER_LANE; j++) {
                int i = lane + 32 * j;
                if (i < HD) { s += ld(q[oq + i]) * kr[j]; dp += ld(dy[oq + i]) * vr[j]; }
            }
            s = warp_sum(s) * scale;
            dp = warp_sum(dp);
            float p = expf(s - lse[row]), ds = p * (dp - Dr[row]);
            for (int j = 0; j < MAX_PER_LANE; j++) {
                int i = lane + 32 * j;
                if (i < HD) { dva[j] += p * ld(dy[oq + i]); dka[j] += ds * ld(q[oq + i]); }
            }
        }
    for (int j = 0; j < MAX_PER_LANE; j++) {
        int i = lane + 32 * j;
        if (i < HD) { dk[o + i] = st(dka[j] * scale); dv[o + i] = st(dva[j]); }
    }
}
static float attention_scale(int HD) { return (float)(1.0 / sqrt((double)HD)); }   /* as the header */
static void attention_forward_gpu(floatX *y, float *lse, const floatX *q, const floatX *k, const floatX *v, int B,
                                  int T, int H, int KVH, int HD, int window) {
    attention_forward_kernel<<<blocks_for((size_t)B * H * T, WARPS), 32 * WARPS>>>(y, lse, q, k, v, B, T, H, KVH, HD,
                                                                                 window, attention_scale(HD));
    LAUNCHED();
}
/* dq, dk, dv are written (not added): nothing else feeds them. Dr: (B, H, T). */
static void attention_backward_gpu(floatX *dq, floatX *dk, floatX *dv, float *Dr, const floatX *dy, const floatX *y,
                                   const float *lse, const floatX *q, const floatX *k, const floatX *v, int B, int T,
                                   int H, int KVH, int HD, int window) {
    float sc = attention_scale(HD);
    unsigned gq = blocks_for((size_t)B * H * T, WARPS), gk = blocks_for((size_t)B * KVH * T, WARPS);
    attention_rowdot_kernel<<<gq, 32 * WARPS>>>(Dr, dy, y, B, T, H, HD);
    LAUNCHED();
    attention_backward_dq_kernel<<<gq, 32 * WARPS>>>(dq, dy, lse, Dr, q, k, v, B, T, H, KVH, HD, window, sc);
    LAUNCHED();
    attention_backward_dkdv_kernel<<<gk, 32 * WARPS>>>(dk, dv, dy, lse, Dr, q, k, v, B, T, H, KVH, HD, window, sc);
    LAUNCHED();
}

/* --- Attention forward on tensor cores (bf16; an experiment, not used by the model) ---
   The same sums as attention_forward_kernel, 16 query rows at a time on the
   tensor cores (WMMA, 16x16x16 bf16 tiles, fp32 accumulators) -- the first
   step of the road to the issue's speed target. NOT USED BY THE MODEL: it
   is checked against the CPU by test_gpu (kernel_attention_forward_tc_*)
   and timed by bench_gpu; once those pass on a GPU it can replace the simple
   kernel. Limits: HD == 64, T a multiple of 64, the bf16 build.
   A warp owns 16 consecutive query rows t0..t0+15 of one (b, h); the 4 warps
   of a block take the 64 rows of a query tile. For each tile of 64 keys the
   warp can see (tiles wholly before the window or after t0+15 are skipped):
       S = Q K^T            (16 x 64)  4 x 4 WMMA products, K read from global
       online softmax       over S's rows, in shared memory, the whole
                            warp on one row at a time (2 columns per lane)
       O = O c + P V        (16 x 64)  P in bf16, O in fp32 in shared memory
   Everything a warp touches in shared memory is its own: no __syncthreads. */
#ifndef UT_GPU_FP32
#define TC_HD 64
#define TC_KEYS 64
__global__ void attention_forward_tc_kernel(floatX *y, float *lse, const floatX *q, const floatX *k, const floatX *v,
                                            int B, int T, int H, int KVH, int window, float scale) {
    using namespace nvcuda;
    __shared__ __align__(128) float S_all[4][16][TC_KEYS];
    __shared__ __align__(128) float O_all[4][16][TC_HD];
    __shared__ __align__(128) __nv_bfloat16 P_all[4][16][TC_KEYS];
    __shared__ float m_all[4][16], l_all[4][16];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int tiles = T / 64, qt = blockIdx.x % tiles, h = (blockIdx.x / tiles) % H, b = blockIdx.x / (tiles * H);
    int kvh = h / (H / KVH), t0 = qt * 64 + warp * 16;
    float (*S)[TC_KEYS] = S_all[warp], (*O)[TC_HD] = O_all[warp], *mrow = m_all[warp], *lrow = l_all[warp];
    __nv_bfloat16 (*P)[TC_KEYS] = P_all[warp];
    int ldq = H * TC_HD, ldk = KVH * TC_HD;
    /* Q's 16 x 64 block as 4 fragments of 16 x 16, kept for the whole loop */
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[TC_HD / 16];
    for (int kk = 0; kk < TC_HD / 16; kk++)
        wmma::load_matrix_sync(qf[kk], q + ((size_t)(b * T + t0) * H + h) * TC_HD + 16 * kk, ldq);
    for (int i = lane; i < 16 * TC_HD; i += 32) O[i / TC_HD][i % TC_HD] = 0;
    if (lane < 16) { mrow[lane] = -INFINITY; lrow[lane] = 0; }
    __syncwarp();
    int u_first = first_visible(t0, window), kt0 = u_first / TC_KEYS, kt1 = (t0 + 15) / TC_KEYS;
    for (int kt = kt0; kt <= kt1; kt++) {
        int u0 = kt * TC_KEYS;
        /* S = Q K^T: K^T (64 x 64 keys) is K read column-major */
        for (int j = 0; j < TC_KEYS / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
            wmma::fill_fragment(sf, 0.0f);
            for (int kk = 0; kk < TC_HD / 16; kk++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, k + ((size_t)(b * T + u0 + 16 * j) * KVH + kvh) * TC_HD + 16 * kk, ldk);
                wmma::mma_sync(sf, qf[kk], kf, sf);
            }
            wmma::store_matrix_sync(&S[0][16 * j], sf, TC_KEYS, wmma::mem_row_major);
        }
        __syncwarp();
        /* online softmax, row by row: lane j holds columns j and j + 32 */
        for (int r = 0; r < 16; r++) {
            int t = t0 + r, lo = first_visible(t, window);
            float s[2], mx = -INFINITY;
            for (int c = 0; c < 2; c++) {
                int u = u0 + lane + 32 * c;
                s[c] = (u >= lo && u <= t) ? S[r][lane + 32 * c] * scale : -INFINITY;
                mx = fmaxf(mx, s[c]);
            }
            mx = warp_max(mx);
            float m_old = mrow[r], m_new = fmaxf(m_old, mx), sum = 0;
            float corr = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
            for (int c = 0; c < 2; c++) {
                float p = s[c] == -INFINITY ? 0.0f : expf(s[c] - m_new);
                P[r][lane + 32 * c] = __float2bfloat16(p);
                sum += p;
            }
            sum = warp_sum(sum);
            for (int c = 0; c < 2; c++) O[r][lane + 32 * c] *= corr;
            __syncwarp();
            if (lane == 0) { mrow[r] = m_new; lrow[r] = lrow[r] * corr + sum; }
            __syncwarp();
        }
        /* O += P V */
        for (int jn = 0; jn < TC_HD / 16; jn++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
            wmma::load_matrix_sync(of, &O[0][16 * jn], TC_HD, wmma::mem_row_major);
            for (int kk = 0; kk < TC_KEYS / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pf;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vf;
                wmma::load_matrix_sync(pf, &P[0][16 * kk], TC_KEYS);
                wmma::load_matrix_sync(vf, v + ((size_t)(b * T + u0 + 16 * kk) * KVH + kvh) * TC_HD + 16 * jn, ldk);
                wmma::mma_sync(of, pf, vf, of);
            }
            wmma::store_matrix_sync(&O[0][16 * jn], of, TC_HD, wmma::mem_row_major);
        }
        __syncwarp();
    }
    for (int i = lane; i < 16 * TC_HD; i += 32) {
        int r = i / TC_HD, c = i % TC_HD;
        y[((size_t)(b * T + t0 + r) * H + h) * TC_HD + c] = st(O[r][c] / lrow[r]);
    }
    if (lane < 16) lse[((size_t)b * H + h) * T + t0 + lane] = mrow[lane] + logf(lrow[lane]);
}
/* 0 if it ran, -1 if the shape is not one it handles */
[[maybe_unused]] static int attention_forward_tc_gpu(floatX *y, float *lse, const floatX *q, const floatX *k, const floatX *v, int B,
                                    int T, int H, int KVH, int HD, int window) {
    if (HD != TC_HD || T % 64) return -1;
    attention_forward_tc_kernel<<<B * H * (T / 64), 128>>>(y, lse, q, k, v, B, T, H, KVH, window, attention_scale(HD));
    LAUNCHED();
    return 0;
}
#endif

/* --- SwiGLU -------------------------------------------------------------------
   h = silu(gate) * up, silu(g) = g sigmoid(g); a thread per number.
   Backward: dup = dh silu(g); dgate = dh up sigmoid(g) (1 + g (1 - sigmoid(g))).
   dgate may be the same array as dh (each thread reads dh before writing). */
__global__ void silu_mul_forward_kernel(floatX *h, const floatX *gate, const floatX *up, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = ld(gate[i]);
    h[i] = st(g / (1.0f + expf(-g)) * ld(up[i]));
}
__global__ void silu_mul_backward_kernel(floatX *dgate, floatX *dup, const floatX *dh, const floatX *gate,
                                         const floatX *up, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = ld(gate[i]), sg = 1.0f / (1.0f + expf(-g)), d = ld(dh[i]);
    dup[i] = st(d * g * sg);
    dgate[i] = st(d * ld(up[i]) * sg * (1.0f + g * (1.0f - sg)));
}
static void silu_mul_forward_gpu(floatX *h, const floatX *gate, const floatX *up, size_t n) {
    if (!n) return;
    silu_mul_forward_kernel<<<blocks_for(n, 256), 256>>>(h, gate, up, n);
    LAUNCHED();
}
static void silu_mul_backward_gpu(floatX *dgate, floatX *dup, const floatX *dh, const floatX *gate, const floatX *up,
                                  size_t n) {
    if (!n) return;
    silu_mul_backward_kernel<<<blocks_for(n, 256), 256>>>(dgate, dup, dh, gate, up, n);
    LAUNCHED();
}
/* out = (silu(x wg^T) * (x wu^T)) wd^T, x (N, D), wg/wu (F, D), wd (D, F) */
static void swiglu_forward_gpu(floatX *out, floatX *gate, floatX *up, floatX *h, const floatX *x, const floatX *wg,
                               const floatX *wu, const floatX *wd, int N, int D, int F) {
    linear_forward_gpu(gate, x, wg, N, D, F);
    linear_forward_gpu(up, x, wu, N, D, F);
    silu_mul_forward_gpu(h, gate, up, (size_t)N * F);
    linear_forward_gpu(out, h, wd, N, F, D);
}
/* dx += dgate wg + dup wu (dx_beta: 0 writes dx, 1 adds); h is recomputed
   into dup's buffer first (as the header does for the dense MLP). */
static void swiglu_backward_gpu(floatX *dx, float dx_beta, float *dwg, float *dwu, float *dwd, const floatX *dout,
                                const floatX *gate, const floatX *up, const floatX *x, const floatX *wg,
                                const floatX *wu, const floatX *wd, floatX *dh, floatX *dup, int N, int D, int F) {
    size_t NF = (size_t)N * F;
    silu_mul_forward_gpu(dup, gate, up, NF);                  /* h, the forward's numbers */
    linear_backward_dx_gpu(dh, dout, wd, N, F, D, 0.0f);      /* dh = dout wd */
    linear_backward_dw_gpu(dwd, dout, dup, N, F, D);          /* dwd += dout^T h */
    silu_mul_backward_gpu(dh, dup, dh, gate, up, NF);         /* dgate (over dh), dup */
    linear_backward_dw_gpu(dwg, dh, x, N, D, F);
    linear_backward_dw_gpu(dwu, dup, x, N, D, F);
    linear_backward_dx_gpu(dx, dh, wg, N, D, F, dx_beta);
    linear_backward_dx_gpu(dx, dup, wu, N, D, F, 1.0f);
}

/* --- Mixture of Experts ----------------------------------------------------------
   The header's ut_moe_forward, step by step:
     1. route (GPU, fp32): logits = x router^T, a thread per (n, e) summing
        over D in order; softmax, logsumexp and top-k, a thread per token
        (E is small), with the header's tie rule (lower expert index wins);
     2. sort the N*K slots by expert (host, gpu_moe_sort: topk_e comes back,
        slot_of and slot_token go out; the expert counts and offsets stay on
        the host, where the expert GEMMs are launched from);
     3. gather each slot's row, then for each expert ONE product over its
        contiguous rows (a grouped GEMM, as a loop of cuBLASLt calls);
     4. combine: out_n = sum_k w_k y_slot(n,k), a thread per (n, i), k in order
        (a gather, not a scatter: no atomics);
     5. aux and z losses on the host from probs and lse (gpu_moe_losses).
   The backward follows ut_moe_backward's three paths (see its comment). */
__global__ void router_logits_kernel(float *logits, const floatX *x, const float *router, int N, int D, int E) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * E) return;
    size_t n = idx / E, e = idx % E;
    float s = 0;
    for (int i = 0; i < D; i++) s += ld(x[n * D + i]) * router[e * D + i];
    logits[idx] = s;
}
/* in place: probs (N, E) holds the logits on entry */
__global__ void router_softmax_topk_kernel(float *probs, float *lse, int *topk_e, float *topk_w, int N, int E,
                                           int K) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    float *p = probs + (size_t)n * E;
    float mx = p[0], sum = 0;
    for (int e = 1; e < E; e++) mx = fmaxf(mx, p[e]);
    for (int e = 0; e < E; e++) { p[e] = expf(p[e] - mx); sum += p[e]; }
    for (int e = 0; e < E; e++) p[e] /= sum;
    lse[n] = mx + logf(sum);
    int *idx = topk_e + (size_t)n * K;
    float *w = topk_w + (size_t)n * K, S = 0;
    for (int k = 0; k < K; k++) {      /* the K largest, larger first; ties -> lower index */
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= idx[j] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        idx[k] = best;
        S += p[best];
    }
    for (int k = 0; k < K; k++) w[k] = p[idx[k]] / S;
}
__global__ void moe_gather_kernel(floatX *xs, const floatX *x, const int *slot_token, int NK, int D) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)NK * D) return;
    size_t s = idx / D, i = idx % D;
    xs[idx] = x[(size_t)slot_token[s] * D + i];
}
__global__ void moe_combine_kernel(floatX *out, const floatX *ys, const int *slot_of, const float *topk_w, int N,
                                   int K, int D) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * D) return;
    size_t n = idx / D, i = idx % D;
    float o = 0;
    for (int k = 0; k < K; k++) o += topk_w[n * K + k] * ld(ys[(size_t)slot_of[n * K + k] * D + i]);
    out[idx] = st(o);
}
/* backward 1: a warp per (n, k): dy_slot = w_k dout_n, dw_k = dout_n . y_slot */
__global__ void moe_dslot_kernel(floatX *dys, float *dwk, const floatX *dout, const floatX *ys, const int *slot_of,
                                 const float *topk_w, int N, int K, int D) {
    int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= N * K) return;
    int n = r / K;
    size_t slot = slot_of[r];
    float w = topk_w[r], d = 0;
    for (int i = lane; i < D; i += 32) {
        float g = ld(dout[(size_t)n * D + i]);
        dys[slot * D + i] = st(w * g);
        d += g * ld(ys[slot * D + i]);
    }
    d = warp_sum(d);
    if (lane == 0) dwk[r] = d;
}
/* backward 2: dx_n += sum_k dxs[slot(n, k)], a thread per (n, i), k in order */
__global__ void moe_scatter_back_kernel(floatX *dx, const floatX *dxs, const int *slot_of, int N, int K, int D) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * D) return;
    size_t n = idx / D, i = idx % D;
    float s = ld(dx[idx]);
    for (int k = 0; k < K; k++) s += ld(dxs[(size_t)slot_of[n * K + k] * D + i]);
    dx[idx] = st(s);
}
/* backward 3: the router logits' gradient, a thread per token (the header's
   loop, line for line) */
__global__ void moe_router_backward_kernel(float *dl, const float *probs, const float *lse, const int *topk_e,
                                           const float *topk_w, const float *dwk, const int *count, float daux,
                                           float dz, int N, int E, int K) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float *p = probs + (size_t)n * E, *w = topk_w + (size_t)n * K, *dwn = dwk + (size_t)n * K;
    const int *te = topk_e + (size_t)n * K;
    float *d = dl + (size_t)n * E;
    float S = 0, wdw = 0, pdp = 0, NK = (float)N * K;
    for (int k = 0; k < K; k++) { S += p[te[k]]; wdw += w[k] * dwn[k]; }
    for (int e = 0; e < E; e++) d[e] = daux * (float)E * ((float)count[e] / NK) / (float)N;
    for (int k = 0; k < K; k++) d[te[k]] += (dwn[k] - wdw) / S;
    for (int e = 0; e < E; e++) pdp += p[e] * d[e];
    for (int e = 0; e < E; e++) d[e] = p[e] * (d[e] - pdp) + dz * 2 * lse[n] * p[e] / N;
}
/* the router product's backward: dx[n, i] += sum_e dl[n, e] router[e, i] (a
   thread per (n, i)) and drouter[e, i] += sum_n dl[n, e] x[n, i] (chunked) */
__global__ void router_dx_kernel(floatX *dx, const float *dl, const float *router, int N, int D, int E) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * D) return;
    size_t n = idx / D, i = idx % D;
    float s = 0;
    for (int e = 0; e < E; e++) s += dl[n * E + e] * router[(size_t)e * D + i];
    dx[idx] = st(ld(dx[idx]) + s);
}
__global__ void router_dw_partial_kernel(float *partial, const float *dl, const floatX *x, int N, int D, int E) {
    int col = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;   /* col = e * D + i */
    if (col >= E * D) return;
    int e = col / D, i = col % D, n0 = c * ROWS_PER_CHUNK, n1 = min(N, n0 + ROWS_PER_CHUNK);
    float s = 0;
    for (int n = n0; n < n1; n++) s += dl[(size_t)n * E + e] * ld(x[(size_t)n * D + i]);
    partial[(size_t)c * E * D + col] = s;
}

/* One MoE layer forward. Layer l's routing lands in G.a (L, ...) slices and
   G.h_off; returns aux and z. */
static void moe_forward_gpu(floatX *out, float *aux, float *z, int l, const floatX *x, const float *router,
                            const floatX *wg, const floatX *wu, const floatX *wd, int N, int D, int F, int E, int K,
                            int *host_count) {
    gpu_acts *a = &G.a;
    size_t NK = (size_t)N * K;
    float *probs = a->probs + (size_t)l * N * E, *lse = a->rlse + (size_t)l * N, *tw = a->topk_w + l * NK;
    int *te = a->topk_e + l * NK, *so = a->slot_of + l * NK, *st_ = a->slot_token + l * NK;
    int *off = G.h_off + (size_t)l * (E + 1);
    floatX *xs = a->xs + l * NK * D, *gate = a->gate + l * NK * F, *up = a->up + l * NK * F;
    floatX *h = a->h + l * NK * F, *ys = a->ffn_out + l * NK * D;
    /* 1. route */
    router_logits_kernel<<<blocks_for((size_t)N * E, 256), 256>>>(probs, x, router, N, D, E);
    LAUNCHED();
    router_softmax_topk_kernel<<<blocks_for(N, 128), 128>>>(probs, lse, te, tw, N, E, K);
    LAUNCHED();
    /* 2. sort on the host */
    CUDA_CHECK(cudaMemcpy(G.h_topk_e, te, NK * sizeof(int), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(G.h_probs, probs, (size_t)N * E * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(G.h_lse, lse, (size_t)N * sizeof(float), cudaMemcpyDeviceToHost));
    gpu_moe_sort(G.h_topk_e, N, K, E, host_count, off, G.h_slot_of, G.h_slot_token, G.h_fill);
    CUDA_CHECK(cudaMemcpy(so, G.h_slot_of, NK * sizeof(int), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(st_, G.h_slot_token, NK * sizeof(int), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(a->count + (size_t)l * E, host_count, E * sizeof(int), cudaMemcpyHostToDevice));
    /* 3. gather, experts */
    moe_gather_kernel<<<blocks_for(NK * D, 256), 256>>>(xs, x, st_, (int)NK, D);
    LAUNCHED();
    for (int e = 0; e < E; e++) {
        int r0 = off[e], rows = off[e + 1] - off[e];
        if (!rows) continue;
        const floatX *we_g = wg + (size_t)e * F * D, *we_u = wu + (size_t)e * F * D;
        linear_forward_gpu(gate + (size_t)r0 * F, xs + (size_t)r0 * D, we_g, rows, D, F);
        linear_forward_gpu(up + (size_t)r0 * F, xs + (size_t)r0 * D, we_u, rows, D, F);
    }
    silu_mul_forward_gpu(h, gate, up, NK * F);
    for (int e = 0; e < E; e++) {
        int r0 = off[e], rows = off[e + 1] - off[e];
        if (rows) linear_forward_gpu(ys + (size_t)r0 * D, h + (size_t)r0 * F, wd + (size_t)e * D * F, rows, F, D);
    }
    /* 4. combine */
    moe_combine_kernel<<<blocks_for((size_t)N * D, 256), 256>>>(out, ys, so, tw, N, K, D);
    LAUNCHED();
    /* 5. losses */
    gpu_moe_losses(G.h_probs, G.h_lse, off, N, K, E, aux, z);
}

/* dx is added to (it holds 0 on entry in the model). */
static void moe_backward_gpu(floatX *dx, float *drouter, float *dwg, float *dwu, float *dwd, const floatX *dout,
                             float daux, float dz, int l, const floatX *x, const float *router, const floatX *wg,
                             const floatX *wu, const floatX *wd, int N, int D, int F, int E, int K) {
    gpu_acts *a = &G.a;
    size_t NK = (size_t)N * K;
    const float *probs = a->probs + (size_t)l * N * E, *lse = a->rlse + (size_t)l * N, *tw = a->topk_w + l * NK;
    const int *te = a->topk_e + l * NK, *so = a->slot_of + l * NK, *off = G.h_off + (size_t)l * (E + 1);
    const floatX *xs = a->xs + l * NK * D, *gate = a->gate + l * NK * F, *up = a->up + l * NK * F;
    const floatX *h = a->h + l * NK * F, *ys = a->ffn_out + l * NK * D;
    moe_dslot_kernel<<<blocks_for(NK, WARPS), 32 * WARPS>>>(a->dys, a->dwk, dout, ys, so, tw, N, K, D);
    LAUNCHED();
    /* each expert's SwiGLU backward on its rows: dh, then silu', then the inputs */
    for (int e = 0; e < E; e++) {
        int r0 = off[e], rows = off[e + 1] - off[e];
        if (!rows) continue;
        const floatX *dy_e = a->dys + (size_t)r0 * D, *h_e = h + (size_t)r0 * F;
        linear_backward_dx_gpu(a->dgate + (size_t)r0 * F, dy_e, wd + (size_t)e * D * F, rows, F, D, 0.0f);
        linear_backward_dw_gpu(dwd + (size_t)e * D * F, dy_e, h_e, rows, F, D);
    }
    silu_mul_backward_gpu(a->dgate, a->dup, a->dgate, gate, up, NK * F);
    for (int e = 0; e < E; e++) {
        int r0 = off[e], rows = off[e + 1] - off[e];
        if (!rows) continue;
        const floatX *dg = a->dgate + (size_t)r0 * F, *du = a->dup + (size_t)r0 * F, *x_e = xs + (size_t)r0 * D;
        floatX *dx_e = a->dxs + (size_t)r0 * D;
        linear_backward_dw_gpu(dwg + (size_t)e * F * D, dg, x_e, rows, D, F);
        linear_backward_dw_gpu(dwu + (size_t)e * F * D, du, x_e, rows, D, F);
        linear_backward_dx_gpu(dx_e, dg, wg + (size_t)e * F * D, rows, D, F, 0.0f);
        linear_backward_dx_gpu(dx_e, du, wu + (size_t)e * F * D, rows, D, F, 1.0f);
    }
    moe_scatter_back_kernel<<<blocks_for((size_t)N * D, 256), 256>>>(dx, a->dxs, so, N, K, D);
    LAUNCHED();
    moe_router_backward_kernel<<<blocks_for(N, 128), 128>>>(a->dl, probs, lse, te, tw, a->dwk,
                                                           a->count + (size_t)l * E, daux, dz, N, E, K);
    LAUNCHED();
    router_dx_kernel<<<blocks_for((size_t)N * D, 256), 256>>>(dx, a->dl, router, N, D, E);
    LAUNCHED();
    int chunks = (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    router_dw_partial_kernel<<<dim3(blocks_for((size_t)E * D, 256), chunks), 256>>>(a->partial, a->dl, x, N, D, E);
    LAUNCHED();
    column_reduce_kernel<<<blocks_for((size_t)E * D, 256), 256>>>(drouter, a->partial, chunks, E * D);
    LAUNCHED();
}

/* --- Softmax cross-entropy, fused -------------------------------------------------
   Forward: a block per row n: lse = max + log sum exp(l - max) (block
   reductions in a fixed tree), row_loss = lse - l[target] (0 without a
   target). The host adds the row losses in row order, in double, like the CPU.
   Backward, in place over the logits: d_i = s (exp(l_i - lse) - [i = target]),
   s = scale / (rows with a target). The probabilities are never stored. */
#define CE_THREADS 256
__device__ float block_reduce(float v, float *sh, int is_max) {
    int lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
    v = is_max ? warp_max(v) : warp_sum(v);
    __syncthreads();                 /* sh may still be read by a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float r = sh[0];
    for (int i = 1; i < nw; i++) r = is_max ? fmaxf(r, sh[i]) : r + sh[i];
    return r;
}
__global__ void crossentropy_forward_kernel(float *row_loss, float *lse_out, const floatX *logits, const int *targets,
                                            int V) {
    __shared__ float sh[32];
    int n = blockIdx.x;
    const floatX *l = logits + (size_t)n * V;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, ld(l[i]));
    mx = block_reduce(mx, sh, 1);
    float s = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(ld(l[i]) - mx);
    s = block_reduce(s, sh, 0);
    if (threadIdx.x == 0) {
        float lse = mx + logf(s);
        int t = targets[n];
        lse_out[n] = lse;
        row_loss[n] = t >= 0 ? lse - ld(l[t]) : 0.0f;
    }
}
__global__ void crossentropy_backward_kernel(floatX *logits, const float *lse, const int *targets, int V, float s) {
    int n = blockIdx.x, t = targets[n];
    floatX *l = logits + (size_t)n * V;
    float L = lse[n];
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float d = t < 0 ? 0.0f : s * (expf(ld(l[i]) - L) - (i == t ? 1.0f : 0.0f));
        l[i] = st(d);
    }
}
/* returns the mean loss over rows with a target (0 if none) */
static double crossentropy_forward_gpu(const floatX *logits, const int *host_targets, int N, int V) {
    crossentropy_forward_kernel<<<N, CE_THREADS>>>(G.a.row_loss, G.a.ce_lse, logits, G.a.targets, V);
    LAUNCHED();
    CUDA_CHECK(cudaMemcpy(G.h_row_loss, G.a.row_loss, (size_t)N * sizeof(float), cudaMemcpyDeviceToHost));
    double sum = 0;
    int count = 0;
    for (int n = 0; n < N; n++) { sum += G.h_row_loss[n]; count += host_targets[n] >= 0; }
    return count ? sum / count : 0.0;
}
static void crossentropy_backward_gpu(floatX *logits, const int *host_targets, int N, int V, float scale) {
    int count = 0;
    for (int n = 0; n < N; n++) count += host_targets[n] >= 0;
    float s = count ? scale / count : 0.0f;
    crossentropy_backward_kernel<<<N, CE_THREADS>>>(logits, G.a.ce_lse, G.a.targets, V, s);
    LAUNCHED();
}

/* ===========================================================================
   6. MODEL: forward and backward, the header's ut_model_forward and
   ut_model_backward with _gpu calls. w: a layer's weights (fp32 master, for
   the norms and the router), wx: the same in floatX (for the products),
   g: the gradients.
   ======================================================================== */

#define P(off) (G.params + (off))
#define WX(off) (G.wx + (off))
#define GR(off) (G.grads + (off))

static size_t tensor_off(int t) {
    size_t o = 0;
    for (int i = 0; i < t; i++) o += G.sizes[i];
    return o;
}

static void block_forward_gpu(int l, int B, int T, double *aux, double *z, int *host_count) {
    const ut_config *c = &G.c;
    gpu_acts *a = &G.a;
    int N = B * T, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads, HD = c->head_dim;
    int F = c->ffn_hidden, E = c->n_experts, K = c->top_k, QD = H * HD, KD = KVH * HD;
    size_t n = (size_t)N, L = (size_t)l;
    gpu_layer w = gpu_layer_offsets(c, G.sizes, l);
    floatX *x = a->resid + L * n * D, *out = a->resid + (L + 1) * n * D;
    floatX *xn = a->attn_xn + L * n * D, *q = a->q + L * n * QD, *k = a->k + L * n * KD, *v = a->v + L * n * KD;
    floatX *y = a->attn_y + L * n * QD, *mid = a->mid + L * n * D, *xn2 = a->ffn_xn + L * n * D;
    /* attention: mid = x + attention(q, k, v) wo^T */
    rmsnorm_forward_gpu(xn, a->attn_rstd + L * n, x, P(w.attn_norm), N, D, c->norm_eps);
    linear_forward_gpu(q, xn, WX(w.wq), N, D, QD);
    linear_forward_gpu(k, xn, WX(w.wk), N, D, KD);
    linear_forward_gpu(v, xn, WX(w.wv), N, D, KD);
    rope_forward_gpu(q, G.rope_cos, G.rope_sin, B, T, H, HD);
    rope_forward_gpu(k, G.rope_cos, G.rope_sin, B, T, KVH, HD);
    attention_forward_gpu(y, a->attn_lse + L * n * H, q, k, v, B, T, H, KVH, HD, c->sliding_window);
    linear_forward_gpu(mid, y, WX(w.wo), N, QD, D);
    add_gpu(mid, x, n * D);
    /* feed-forward: out = mid + ffn(rmsnorm(mid)) */
    rmsnorm_forward_gpu(xn2, a->ffn_rstd + L * n, mid, P(w.ffn_norm), N, D, c->norm_eps);
    if (E == 1) {
        swiglu_forward_gpu(out, a->gate + L * n * F, a->up + L * n * F, a->h, xn2, WX(w.w_gate), WX(w.w_up),
                           WX(w.w_down), N, D, F);
        host_count[0] = N;
    } else {
        float la, lz;
        moe_forward_gpu(out, &la, &lz, l, xn2, P(w.router), WX(w.w_gate), WX(w.w_up), WX(w.w_down), N, D, F, E, K,
                        host_count);
        *aux += la; *z += lz;
    }
    add_gpu(out, mid, n * D);
}

static double model_forward_gpu(ut_model *m, const int *inputs, const int *targets, int B, int T) {
    const ut_config *c = &G.c;
    gpu_ensure_acts(B, T);
    size_t N = (size_t)B * T;
    int L = c->n_layers, D = c->d_model, E = c->n_experts, V = c->vocab_size;
    gpu_acts *a = &G.a;
    for (size_t i = 0; i < N; i++) G.h_targets[i] = targets ? targets[i] : -1;
    CUDA_CHECK(cudaMemcpy(a->tokens, inputs, N * sizeof(int), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(a->targets, G.h_targets, N * sizeof(int), cudaMemcpyHostToDevice));
    double aux = 0, z = 0;
    embedding_forward_gpu(a->resid, a->tokens, WX(tensor_off(UT_TOK_EMB)), (int)N, D);
    for (int l = 0; l < L; l++) block_forward_gpu(l, B, T, &aux, &z, m->expert_count + (size_t)l * E);
    rmsnorm_forward_gpu(a->final_xn, a->final_rstd, a->resid + (size_t)L * N * D, P(tensor_off(UT_FINAL_NORM)),
                        (int)N, D, c->norm_eps);
    size_t head = tensor_off(c->tie_embeddings ? UT_TOK_EMB : UT_LM_HEAD);
    linear_forward_gpu(a->logits, a->final_xn, WX(head), (int)N, D, V);
    m->loss = crossentropy_forward_gpu(a->logits, G.h_targets, (int)N, V);
    m->aux_loss = E > 1 ? aux / L : 0.0;
    m->z_loss = E > 1 ? z / L : 0.0;
    return m->loss;
}

/* The overlap of data parallelism (comm.h, train_gpu.h): when set, called
   on the host right after the backward of layer l has been queued (its
   weight gradients are then final once the GPU gets there) and with -1
   after the whole backward (the embedding, the final norm, the head). The
   callee queues the all-reduce of those gradients on the collectives' own
   stream, which waits for this point of the default stream: the GPU sums
   layer l over the ranks while it computes layer l-1. */
static void (*g_grads_ready)(void *ctx, int layer);
static void *g_grads_ready_ctx;

static void model_backward_gpu(float scale) {
    const ut_config *c = &G.c;
    gpu_acts *a = &G.a;
    int B = G.B, T = G.T, L = c->n_layers, D = c->d_model, H = c->n_heads, KVH = c->n_kv_heads;
    int HD = c->head_dim, F = c->ffn_hidden, E = c->n_experts, K = c->top_k, V = c->vocab_size;
    int QD = H * HD, KD = KVH * HD, N = B * T;
    size_t n = (size_t)N;
    /* loss -> logits -> final norm */
    crossentropy_backward_gpu(a->logits, G.h_targets, N, V, scale);   /* dlogits, in place */
    size_t head = tensor_off(c->tie_embeddings ? UT_TOK_EMB : UT_LM_HEAD);
    linear_backward_dx_gpu(a->dxn, a->logits, WX(head), N, D, V, 0.0f);
    linear_backward_dw_gpu(GR(head), a->logits, a->final_xn, N, D, V);
    CUDA_CHECK(cudaMemset(a->dresid, 0, n * D * sizeof(floatX)));
    rmsnorm_backward_gpu(a->dresid, GR(tensor_off(UT_FINAL_NORM)), a->dxn, a->resid + (size_t)L * n * D,
                         P(tensor_off(UT_FINAL_NORM)), a->final_rstd, N, D);
    float daux = scale * c->aux_loss_coef / L, dz = scale * c->z_loss_coef / L;
    for (int l = L - 1; l >= 0; l--) {
        size_t Ll = (size_t)l;
        gpu_layer w = gpu_layer_offsets(c, G.sizes, l);
        floatX *x = a->resid + Ll * n * D, *xn = a->attn_xn + Ll * n * D, *q = a->q + Ll * n * QD;
        floatX *k = a->k + Ll * n * KD, *v = a->v + Ll * n * KD, *y = a->attn_y + Ll * n * QD;
        floatX *mid = a->mid + Ll * n * D, *xn2 = a->ffn_xn + Ll * n * D;
        /* feed-forward */
        if (E == 1) {
            swiglu_backward_gpu(a->dxn, 0.0f, GR(w.w_gate), GR(w.w_up), GR(w.w_down), a->dresid, a->gate + Ll * n * F,
                                a->up + Ll * n * F, xn2, WX(w.w_gate), WX(w.w_up), WX(w.w_down), a->dgate, a->dup, N,
                                D, F);
        } else {
            CUDA_CHECK(cudaMemset(a->dxn, 0, n * D * sizeof(floatX)));
            moe_backward_gpu(a->dxn, GR(w.router), GR(w.w_gate), GR(w.w_up), GR(w.w_down), a->dresid, daux, dz, l,
                             xn2, P(w.router), WX(w.w_gate), WX(w.w_up), WX(w.w_down), N, D, F, E, K);
        }
        rmsnorm_backward_gpu(a->dresid, GR(w.ffn_norm), a->dxn, mid, P(w.ffn_norm), a->ffn_rstd + Ll * n, N, D);
        /* attention: dresid holds dL/dmid */
        linear_backward_dx_gpu(a->dy, a->dresid, WX(w.wo), N, QD, D, 0.0f);
        linear_backward_dw_gpu(GR(w.wo), a->dresid, y, N, QD, D);
        attention_backward_gpu(a->dq, a->dk, a->dv, a->attn_D, a->dy, y, a->attn_lse + Ll * n * H, q, k, v, B, T, H,
                               KVH, HD, c->sliding_window);
        rope_backward_gpu(a->dq, G.rope_cos, G.rope_sin, B, T, H, HD);
        rope_backward_gpu(a->dk, G.rope_cos, G.rope_sin, B, T, KVH, HD);
        linear_backward_dw_gpu(GR(w.wq), a->dq, xn, N, D, QD);
        linear_backward_dw_gpu(GR(w.wk), a->dk, xn, N, D, KD);
        linear_backward_dw_gpu(GR(w.wv), a->dv, xn, N, D, KD);
        linear_backward_dx_gpu(a->dxn, a->dq, WX(w.wq), N, D, QD, 0.0f);
        linear_backward_dx_gpu(a->dxn, a->dk, WX(w.wk), N, D, KD, 1.0f);
        linear_backward_dx_gpu(a->dxn, a->dv, WX(w.wv), N, D, KD, 1.0f);
        rmsnorm_backward_gpu(a->dresid, GR(w.attn_norm), a->dxn, x, P(w.attn_norm), a->attn_rstd + Ll * n, N, D);
        if (g_grads_ready) g_grads_ready(g_grads_ready_ctx, l);   /* layer l's weight gradients are complete */
    }
    /* the embedding's backward follows in ut_model_backward_gpu: it needs
       the batch's tokens on the host (kept by the forward) */
}

/* ===========================================================================
   7. OPTIMIZER: global gradient norm, clipping, AdamW
   ======================================================================== */

/* The sums of squares of the gradient, in the header's chunks of
   UT_NORM_CHUNK numbers: block c sums chunk c (each thread a fixed stride of
   it, in double, then a fixed tree), and the host adds the chunk sums in
   chunk order. The chunks are what make ZeRO-1 exact: a rank holding only
   its shard (which starts at a multiple of UT_NORM_CHUNK) computes the very
   same chunk sums for its chunks, so the norm every rank adds up from all
   the ranks' chunks is the norm of the plain update, bit for bit. */
__global__ void sum_squares_chunks_kernel(double *part, const float *g, size_t n) {
    __shared__ double sh[256];
    size_t start = (size_t)blockIdx.x * UT_NORM_CHUNK;
    size_t end = start + UT_NORM_CHUNK < n ? start + UT_NORM_CHUNK : n;
    double s = 0;
    for (size_t i = start + threadIdx.x; i < end; i += blockDim.x) s += (double)g[i] * g[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}
/* part (host) <- the chunk sums of g[0..n): n/UT_NORM_CHUNK rounded up of them */
static void sum_squares_chunks_gpu(const float *g, size_t n, double *part) {
    size_t nc = (n + UT_NORM_CHUNK - 1) / UT_NORM_CHUNK;
    if (!nc) return;
    sum_squares_chunks_kernel<<<(unsigned)nc, 256>>>((double *)G.norm_part, g, n);
    LAUNCHED();
    CUDA_CHECK(cudaMemcpy(part, G.norm_part, nc * sizeof(double), cudaMemcpyDeviceToHost));
}
static double grad_norm_gpu(void) {
    size_t nc = (G.n_params + UT_NORM_CHUNK - 1) / UT_NORM_CHUNK;
    sum_squares_chunks_gpu(G.grads, G.n_params, G.h_norm);
    double total = 0;
    for (size_t c = 0; c < nc; c++) total += G.h_norm[c];   /* chunk order, as ut_grad_norm */
    return sqrt(total);
}

/* The header's AdamW, one thread per parameter; also refreshes the floatX
   compute copy of the weight it just updated. m and v are the moments of
   the same n parameters (with ZeRO-1 the shard's own buffers). */
__global__ void adamw_kernel(float *p, floatX *px, const float *g, float *m, float *v, size_t n, float clip, float b1,
                             float b2, float eps, float keep, float step_size, float bc2_sqrt) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gi = g[i] * clip;
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] = p[i] * keep - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    if ((void *)px != (void *)p) px[i] = st(p[i]);
}
/* The update of the parameters [lo, hi) of the flat buffer with the clip
   factor chosen (the header's ut_adamw_update). The moments hold entries
   G.mom_lo.. (0 without ZeRO-1, the shard's start with it). Tensor by
   tensor, since the norms have no weight decay: each tensor's part inside
   [lo, hi) is one launch. */
static void adamw_update_gpu(const ut_train_config *t, float lr, int step_t, float clip, size_t lo, size_t hi) {
    double bc1 = 1.0 - pow(t->beta1, step_t), bc2 = 1.0 - pow(t->beta2, step_t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    size_t off = 0;
    for (int k = 0; k < UT_NUM_TENSORS; k++) {
        int decay = !(k == UT_ATTN_NORM || k == UT_FFN_NORM || k == UT_FINAL_NORM);
        float keep = decay ? (float)(1.0 - (double)lr * t->weight_decay) : 1.0f;
        size_t a = off > lo ? off : lo, b = off + G.sizes[k] < hi ? off + G.sizes[k] : hi;   /* tensor k in [lo, hi) */
        if (a < b) {
            size_t j = a - G.mom_lo;
            adamw_kernel<<<blocks_for(b - a, 256), 256>>>(G.params + a, G.wx + a, G.grads + a, G.adam_m + j,
                                                         G.adam_v + j, b - a, clip, t->beta1, t->beta2, t->eps,
                                                         keep, step_size, bc2_sqrt);
            LAUNCHED();
        }
        off += G.sizes[k];
    }
    G.host_stale = 1;
}
static double adamw_step_gpu(const ut_train_config *t, float lr, int step_t) {
    double norm = grad_norm_gpu();
    float clip = 1;
    if (t->grad_clip > 0 && norm > t->grad_clip) clip = (float)(t->grad_clip / norm);
    adamw_update_gpu(t, lr, step_t, clip, 0, G.n_params);
    return norm;
}

/* Any NaN/inf weight or moment, or a negative second moment? (a flag only;
   the host names the first one after a download). p, m, v: the same n
   parameters (with ZeRO-1 this rank's shard). */
__global__ void check_state_kernel(int *bad, const float *p, const float *m, const float *v, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (!isfinite(p[i]) || !isfinite(m[i]) || !isfinite(v[i]) || v[i] < 0) *bad = 1;   /* same value: no race */
}

/* ===========================================================================
   8. CHECKPOINT: the host model <-> the GPU copy
   The checkpoint file itself is written and read by the header
   (ut_checkpoint_save/load) from the host model; these two move the numbers.
   ======================================================================== */

static void gpu_release(void) {
    gpu_free_acts();
    cudaFree(G.params); cudaFree(G.grads); cudaFree(G.adam_m); cudaFree(G.adam_v);
#ifndef UT_GPU_FP32
    cudaFree(G.wx);
#endif
    cudaFree(G.rope_cos); cudaFree(G.rope_sin); cudaFree(G.norm_part); cudaFree(G.bad_flag);
    free(G.h_norm);
    void *ws = G.workspace;
    memset(&G, 0, sizeof G);
    G.workspace = ws;
}

/* Make G the GPU copy of m (upload its weights and moments) unless it is. */
static int gpu_attach(const ut_model *m) {
    if (gpu_device_ready()) return -1;
    if (G.owner == m) return 0;
    if (sizeof(ut_float) != sizeof(float)) return gpu_fail("the GPU build needs float (not UT_DOUBLE)");
    if (m->cfg.head_dim > 32 * MAX_PER_LANE)
        return gpu_fail("head_dim %d is larger than the GPU attention supports (%d)", m->cfg.head_dim,
                        32 * MAX_PER_LANE);
    if (G.owner) gpu_release();
    if (!g_lt) {
        CUBLAS_CHECK(cublasLtCreate(&g_lt));
        G.workspace = dmalloc(WORKSPACE);
    }
    /* ZeRO-1: weights and gradient padded, the moments of one shard */
    int zero = g_zero.owner == m;
    size_t n = m->n_params, np = zero ? g_zero.padded : n, nm = zero ? g_zero.shard : n;
    size_t half = m->cfg.head_dim / 2, S = sizeof(float);
    size_t need = 2 * np * S + 2 * nm * S + (sizeof(floatX) == S ? 0 : np * sizeof(floatX));
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    if (need > free_b)
        return gpu_fail("the model needs %.2f GB of GPU memory for weights, gradients and AdamW; %.2f GB are free",
                        need / 1e9, free_b / 1e9);
    G.c = m->cfg;
    memcpy(G.sizes, m->sizes, sizeof G.sizes);
    G.n_params = n;
    G.padded = np;
    G.mom_lo = zero ? g_zero.lo : 0;
    G.n_mom = nm;
    G.params = (float *)dmalloc(np * S);
    G.grads = (float *)dmalloc(np * S);
    G.adam_m = (float *)dmalloc(nm * S);
    G.adam_v = (float *)dmalloc(nm * S);
#ifdef UT_GPU_FP32
    G.wx = G.params;
#else
    G.wx = (floatX *)dmalloc(np * sizeof(floatX));
#endif
    G.rope_cos = (float *)dmalloc((size_t)m->cfg.max_seq_len * half * S);
    G.rope_sin = (float *)dmalloc((size_t)m->cfg.max_seq_len * half * S);
    size_t nc = (np + UT_NORM_CHUNK - 1) / UT_NORM_CHUNK;
    G.norm_part = (double *)dmalloc(nc * sizeof(double));
    G.h_norm = (double *)malloc((nc ? nc : 1) * sizeof(double));
    if (!G.h_norm) return gpu_fail("out of host memory");
    G.bad_flag = (int *)dmalloc(sizeof(int));
    CUDA_CHECK(cudaMemset(G.params, 0, np * S));   /* the padding: zero, and it stays zero */
    CUDA_CHECK(cudaMemcpy(G.params, m->params, n * S, cudaMemcpyHostToDevice));
    /* the moments: the shard's (ZeRO-1), the model's, or zeros for a frozen
       model (train eval: ut_checkpoint_load_frozen keeps none) */
    const float *hm = zero ? g_zero.zm : m->adam_m, *hv = zero ? g_zero.zv : m->adam_v;
    if (hm) CUDA_CHECK(cudaMemcpy(G.adam_m, hm, nm * S, cudaMemcpyHostToDevice));
    else CUDA_CHECK(cudaMemset(G.adam_m, 0, nm * S));
    if (hv) CUDA_CHECK(cudaMemcpy(G.adam_v, hv, nm * S, cudaMemcpyHostToDevice));
    else CUDA_CHECK(cudaMemset(G.adam_v, 0, nm * S));
    CUDA_CHECK(cudaMemset(G.grads, 0, np * S));
    CUDA_CHECK(cudaMemcpy(G.rope_cos, m->rope_cos, (size_t)m->cfg.max_seq_len * half * S, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(G.rope_sin, m->rope_sin, (size_t)m->cfg.max_seq_len * half * S, cudaMemcpyHostToDevice));
#ifndef UT_GPU_FP32
    float_to_x_gpu(G.wx, G.params, np);
#endif
    G.owner = m;
    G.host_stale = 0;
    return 0;
}

/* ===========================================================================
   9. THE API train_gpu.h calls (extern "C": train.c is C)
   ======================================================================== */

static int *g_host_tokens;   /* the last forward's inputs, for the embedding backward */
static size_t g_host_tokens_n;

extern "C" double ut_model_forward_gpu(ut_model *m, const int *inputs, const int *targets, int B, int T) {
    const ut_config *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->max_seq_len)
        return gpu_fail("batch shape B=%d T=%d is invalid (T must be in [1, %d])", B, T, c->max_seq_len);
    size_t N = (size_t)B * T;
    for (size_t i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->vocab_size)
            return gpu_fail("token %d at position %zu is outside the vocabulary [0, %d)", inputs[i], i, c->vocab_size);
        if (targets && (targets[i] < -1 || targets[i] >= c->vocab_size))
            return gpu_fail("target %d at position %zu is outside the vocabulary [0, %d)", targets[i], i,
                            c->vocab_size);
    }
    if (gpu_attach(m)) return -1;
    if (g_host_tokens_n < N) {
        free(g_host_tokens);
        g_host_tokens = (int *)malloc(N * sizeof(int));
        if (!g_host_tokens) return gpu_fail("out of host memory");
        g_host_tokens_n = N;
    }
    memcpy(g_host_tokens, inputs, N * sizeof(int));
    return model_forward_gpu(m, inputs, targets, B, T);
}

extern "C" int ut_model_zero_grad_gpu(ut_model *m) {
    if (gpu_attach(m)) return -1;
    CUDA_CHECK(cudaMemset(G.grads, 0, G.padded * sizeof(float)));
    return 0;
}

extern "C" int ut_model_backward_gpu(ut_model *m, float scale) {
    if (gpu_attach(m)) return -1;
    if (!G.B) return gpu_fail("backward before any forward");
    model_backward_gpu(scale);
    embedding_backward_gpu(GR(tensor_off(UT_TOK_EMB)), G.a.dresid, g_host_tokens, G.B * G.T, G.c.d_model,
                           G.c.vocab_size);
    if (g_grads_ready) g_grads_ready(g_grads_ready_ctx, -1);   /* the rest: embedding, final norm, head */
    return 0;
}

/* fn(ctx, layer) after each layer of every backward from now on (NULL: none) */
extern "C" void ut_gpu_on_grads_ready(void (*fn)(void *ctx, int layer), void *ctx) {
    g_grads_ready = fn;
    g_grads_ready_ctx = ctx;
}

extern "C" double ut_adamw_step_gpu(ut_model *m, const ut_train_config *t, float lr, int step_t) {
    if (gpu_attach(m)) return -1;
    return adamw_step_gpu(t, lr, step_t);
}

extern "C" int ut_model_check_state_gpu(const ut_model *m) {
    if (gpu_attach(m)) return -1;
    int h = 0;
    /* the parameters whose moments this rank holds: all, or its shard (the
       padding past n_params is not a weight) */
    size_t lo = G.mom_lo, hi = G.mom_lo + G.n_mom < G.n_params ? G.mom_lo + G.n_mom : G.n_params;
    if (hi <= lo) return 0;
    CUDA_CHECK(cudaMemset(G.bad_flag, 0, sizeof(int)));
    check_state_kernel<<<blocks_for(hi - lo, 256), 256>>>(G.bad_flag, G.params + lo, G.adam_m, G.adam_v, hi - lo);
    LAUNCHED();
    CUDA_CHECK(cudaMemcpy(&h, G.bad_flag, sizeof(int), cudaMemcpyDeviceToHost));
    return h ? 1 : 0;
}

extern "C" int ut_model_download_gpu(const ut_model *m) {
    if (G.owner != m || !G.host_stale) return 0;   /* the host already has the newest numbers */
    CUDA_CHECK(cudaMemcpy(m->params, G.params, G.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    int zero = g_zero.owner == m;   /* ZeRO-1: the shard's moments go to train.c's copy of them */
    float *hm = zero ? g_zero.zm : m->adam_m, *hv = zero ? g_zero.zv : m->adam_v;   /* NULL: a frozen model */
    if (hm) CUDA_CHECK(cudaMemcpy(hm, G.adam_m, G.n_mom * sizeof(float), cudaMemcpyDeviceToHost));
    if (hv) CUDA_CHECK(cudaMemcpy(hv, G.adam_v, G.n_mom * sizeof(float), cudaMemcpyDeviceToHost));
    G.host_stale = 0;
    return 0;
}

extern "C" void ut_model_forget_gpu(const ut_model *m) {
    if (G.owner == m) gpu_release();
}

/* The GPU twin of the host model's gradient: train.c names the gradient by
   the host model's pointer (m->grads); on the GPU build the numbers that
   count are the GPU copy's, in the same layout, so an address `host` inside
   m->grads maps to the same offset in G.grads. NULL for any other address
   (the caller then uses `host` itself). Only the gradient: the weights have
   a second, bf16 copy (wx) that a collective writing G.params would leave
   stale. train_gpu.h's all-reduce of the gradient goes through this, so the
   gradient is summed over the ranks where it lies (comm.h, NCCL). */
extern "C" float *ut_gpu_grad_twin(const float *host, size_t n) {
    const ut_model *m = G.owner;
    if (!m || host < m->grads || host + n > m->grads + G.n_params) return NULL;
    return G.grads + (host - m->grads);
}

/* For the tests: the GPU's weight gradients, copied into the host model's
   grads (they are otherwise never needed on the host). */
extern "C" int ut_model_download_grads_gpu(const ut_model *m) {
    if (G.owner != m) return gpu_fail("this model has no GPU copy");
    CUDA_CHECK(cudaMemcpy(m->grads, G.grads, G.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}

/* ---- ZeRO-1 on the GPU (train.c's zero_update) -----------------------------
   train.c runs the four moves of the sharded update; the numbers stay on
   the GPU, so it needs these: the GPU's padded gradient and weights (for
   the reduce-scatter and the all-gather, which NCCL runs where they lie),
   the shard's chunk sums of squares, AdamW on the shard, and, after the
   all-gather has rewritten the weights, the bf16 compute copy redone. */

/* From now on the GPU copy of m is ZeRO-1's: weights and gradient padded to
   `padded`, the moments of [lo, lo + shard) only, uploaded from (and
   downloaded to) zm, zv. Drops the present copy: the next call makes it. */
extern "C" int ut_zero_gpu(const ut_model *m, size_t lo, size_t shard, size_t padded, float *zm, float *zv) {
    if (lo % UT_NORM_CHUNK || shard % UT_NORM_CHUNK || padded < m->n_params || lo + shard > padded)
        return gpu_fail("ZeRO-1 shard [%zu, %zu) of %zu does not fit the chunks of %zu", lo, lo + shard, padded,
                        (size_t)UT_NORM_CHUNK);
    ut_model_forget_gpu(m);
    g_zero.owner = m;
    g_zero.lo = lo; g_zero.shard = shard; g_zero.padded = padded;
    g_zero.zm = zm; g_zero.zv = zv;
    return 0;
}

/* The GPU's gradient (padded: W x shard numbers) and weights (the same), or
   NULL with ut_gpu_error() set. */
extern "C" float *ut_zero_grads_gpu(ut_model *m) { return gpu_attach(m) ? NULL : G.grads; }
extern "C" float *ut_zero_params_gpu(ut_model *m) { return gpu_attach(m) ? NULL : G.params; }

/* part (host, shard / UT_NORM_CHUNK numbers) <- the chunk sums of squares of
   this rank's shard of the (reduce-scattered) gradient */
extern "C" int ut_zero_norm_chunks_gpu(ut_model *m, double *part) {
    if (gpu_attach(m)) return -1;
    sum_squares_chunks_gpu(G.grads + G.mom_lo, G.n_mom, part);
    return 0;
}

/* AdamW on this rank's shard (the weights past n_params are padding: left
   at zero), the clip factor chosen from the global norm */
extern "C" int ut_zero_adamw_gpu(ut_model *m, const ut_train_config *t, float lr, int step_t, float clip) {
    if (gpu_attach(m)) return -1;
    size_t hi = G.mom_lo + G.n_mom < G.n_params ? G.mom_lo + G.n_mom : G.n_params;
    if (G.mom_lo < hi) adamw_update_gpu(t, lr, step_t, clip, G.mom_lo, hi);
    return 0;
}

/* The all-gather wrote every rank's shard into the fp32 weights: the other
   shards' bf16 copies are now stale; make them again. */
extern "C" int ut_zero_gathered_gpu(ut_model *m) {
    if (gpu_attach(m)) return -1;
#ifndef UT_GPU_FP32
    float_to_x_gpu(G.wx, G.params, G.n_params);
#endif
    G.host_stale = 1;
    return 0;
}

/* Saving a checkpoint gathers the moments (train.c's save_checkpoint). On
   the GPU they are gathered where they lie, in the gradient buffer, free
   between two steps (the next step zeroes it first): moment m (v = 0) or v
   (v = 1) of this shard is copied to its place [lo, lo + shard) there, the
   all-gather fills the other shards, and ut_zero_fetch_gpu copies the first
   n_params numbers to the host. */
extern "C" float *ut_zero_moment_gpu(ut_model *m, int v) {
    if (gpu_attach(m)) return NULL;
    CUDA_CHECK(cudaMemcpy(G.grads + G.mom_lo, v ? G.adam_v : G.adam_m, G.n_mom * sizeof(float),
                          cudaMemcpyDeviceToDevice));
    return G.grads;
}
extern "C" int ut_zero_fetch_gpu(ut_model *m, float *host) {
    if (gpu_attach(m)) return -1;
    CUDA_CHECK(cudaMemcpy(host, G.grads, G.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}
