/* bench_gpu.cu — speed of the GPU backend (make bench-gpu).

   STATUS: compiles; HAS NEVER RUN ON A GPU.

     G1  a 124M-class dense model: 12 layers, dim 768, 12 heads, 4 kv heads,
         ffn 2048, seq 1024, vocab 32768, batch 16
     G2  the same with 8 experts, top-2, ffn 1024 per expert: each token uses
         2 x 1024 = 2048 hidden units, so the active parameters match G1
         (plus the router's 8 x 768 per layer)
     attention alone: B 16, H 12, KVH 4, T 1024, HD 64, causal; forward and
         forward + backward
   For each model: ms per step (forward + backward + AdamW), tokens/s, GPU
   memory in use, and MFU = model FLOPs per second / the GPU's bf16 dense
   peak. Model FLOPs: ut_flops_per_token (6 x active params + attention).
   The peak is known for H100 SXM and H200 (989 TFLOP/s); on any other GPU
   the MFU line says "unknown peak" instead of a number.
   Usage: bench_gpu [--steps N] [--only G1|G2|attn] */
#include "../train_gpu.cu"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double g_peak;            /* bf16 dense peak, FLOP/s; 0 = unknown */
static char g_gpu_name[256];

static void print_mfu(double flops_per_s) {
    if (g_peak > 0 && flops_per_s > 0) printf("  MFU %.1f%% of %.0f TFLOP/s (%s bf16 dense peak)\n",
                                              100.0 * flops_per_s / g_peak, g_peak / 1e12, g_gpu_name);
    else printf("  MFU: unknown peak for %s (not printed)\n", g_gpu_name);
}

static ut_config g1_config(int moe) {
    ut_config c = ut_config_default();
    c.vocab_size = 32768; c.max_seq_len = 1024; c.n_layers = 12; c.d_model = 768;
    c.n_heads = 12; c.n_kv_heads = 4; c.head_dim = 64;
    c.ffn_hidden = moe ? 1024 : 2048; c.n_experts = moe ? 8 : 1; c.top_k = moe ? 2 : 1;
    c.sliding_window = 0; c.tie_embeddings = 0;
    return c;
}

static void bench_model(const char *name, int moe, int steps) {
    ut_config c = g1_config(moe);
    int B = 16, T = 1024, N = B * T;
    ut_model m;
    printf("%s: L=%d D=%d H=%d KVH=%d F=%d E=%d K=%d T=%d V=%d B=%d | %.1fM params, %.1fM active\n", name, c.n_layers,
           c.d_model, c.n_heads, c.n_kv_heads, c.ffn_hidden, c.n_experts, c.top_k, T, c.vocab_size, B,
           ut_num_params(&c) / 1e6, ut_num_active_params(&c) / 1e6);
    fflush(stdout);
    if (ut_model_init(&m, &c, 1)) { printf("FAIL %s init: %s\n", name, ut_error()); return; }
    ut_train_config tc = ut_train_config_default();
    int *in = (int *)malloc(N * sizeof(int)), *tg = (int *)malloc(N * sizeof(int));
    uint64_t rng = ut_rng_seed(1);
    for (int i = 0; i < N; i++) { in[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); tg[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); }
    size_t free0 = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free0, &total));
    double t_total = 0, loss = 0;
    for (int s = 0; s < steps + 2; s++) {   /* 2 warm-up steps: allocation, cuBLASLt plans */
        CUDA_CHECK(cudaDeviceSynchronize());
        double t0 = now_s();
        if (ut_model_zero_grad_gpu(&m)) { printf("FAIL %s: %s\n", name, ut_gpu_error()); return; }
        loss = ut_model_forward_gpu(&m, in, tg, B, T);
        if (loss < 0) { printf("FAIL %s: %s\n", name, ut_gpu_error()); return; }
        ut_model_backward_gpu(&m, 1.0f);
        ut_adamw_step_gpu(&m, &tc, 1e-4f, s + 1);
        CUDA_CHECK(cudaDeviceSynchronize());
        if (s >= 2) t_total += now_s() - t0;
    }
    size_t free1 = 0;
    CUDA_CHECK(cudaMemGetInfo(&free1, &total));
    double ms = 1e3 * t_total / steps, tps = N / (t_total / steps);
    double flops = ut_flops_per_token(&c, T) * tps;
    printf("  %.1f ms/step, %.0f tokens/s, loss %.3f, GPU memory in use %.2f GB of %.1f GB\n", ms, tps, loss,
           (total - free1) / 1e9, total / 1e9);
    print_mfu(flops);
    ut_model_forget_gpu(&m);
    ut_model_free(&m);
    free(in); free(tg);
}

/* Attention alone. FLOPs counted as the model does (causal: half the
   T x T products): forward 2 products of 2 T^2 HD / 2 each per head; the
   backward 2.5x the forward (the usual FlashAttention convention). */
static void bench_attention(int reps) {
    int B = 16, T = 1024, H = 12, KVH = 4, HD = 64;
    size_t nq = (size_t)B * T * H * HD, nk = (size_t)B * T * KVH * HD;
    floatX *q = (floatX *)dmalloc(nq * sizeof(floatX)), *y = (floatX *)dmalloc(nq * sizeof(floatX));
    floatX *dy = (floatX *)dmalloc(nq * sizeof(floatX)), *dq = (floatX *)dmalloc(nq * sizeof(floatX));
    floatX *k = (floatX *)dmalloc(nk * sizeof(floatX)), *v = (floatX *)dmalloc(nk * sizeof(floatX));
    floatX *dk = (floatX *)dmalloc(nk * sizeof(floatX)), *dv = (floatX *)dmalloc(nk * sizeof(floatX));
    float *lse = (float *)dmalloc((size_t)B * H * T * sizeof(float)), *Dr = (float *)dmalloc((size_t)B * H * T * sizeof(float));
    float *tmp = (float *)dmalloc(nq * sizeof(float));
    float *h = (float *)malloc(nq * sizeof(float));
    uint64_t rng = ut_rng_seed(2);
    for (size_t i = 0; i < nq; i++) h[i] = (float)ut_rng_normal(&rng);
    CUDA_CHECK(cudaMemcpy(tmp, h, nq * sizeof(float), cudaMemcpyHostToDevice));
    float_to_x_gpu(q, tmp, nq); float_to_x_gpu(dy, tmp, nq); float_to_x_gpu(k, tmp, nk); float_to_x_gpu(v, tmp + nk, nk);
    double fwd_flops = 4.0 * B * H * (double)T * T * HD / 2, t_f = 0, t_b = 0;
    for (int r = 0; r < reps + 1; r++) {
        CUDA_CHECK(cudaDeviceSynchronize());
        double t0 = now_s();
        attention_forward_gpu(y, lse, q, k, v, B, T, H, KVH, HD, 0);
        CUDA_CHECK(cudaDeviceSynchronize());
        double t1 = now_s();
        attention_backward_gpu(dq, dk, dv, Dr, dy, y, lse, q, k, v, B, T, H, KVH, HD, 0);
        CUDA_CHECK(cudaDeviceSynchronize());
        if (r) { t_f += t1 - t0; t_b += now_s() - t1; }
    }
    t_f /= reps; t_b /= reps;
    double t_tc = 0;   /* the tensor-core forward (bf16 build), an experiment the model does not use yet */
#ifndef UT_GPU_FP32
    for (int r = 0; r < reps + 1; r++) {
        CUDA_CHECK(cudaDeviceSynchronize());
        double t0 = now_s();
        if (attention_forward_tc_gpu(y, lse, q, k, v, B, T, H, KVH, HD, 0)) break;
        CUDA_CHECK(cudaDeviceSynchronize());
        if (r) t_tc += (now_s() - t0) / reps;
    }
#endif
    printf("attention alone: B=%d H=%d KVH=%d T=%d HD=%d causal\n", B, H, KVH, T, HD);
    printf("  forward  %.2f ms, %.1f TFLOP/s\n", 1e3 * t_f, fwd_flops / t_f / 1e12);
    printf("  backward %.2f ms, %.1f TFLOP/s\n", 1e3 * t_b, 2.5 * fwd_flops / t_b / 1e12);
    printf("  fwd+bwd  %.2f ms, %.1f TFLOP/s\n", 1e3 * (t_f + t_b), 3.5 * fwd_flops / (t_f + t_b) / 1e12);
    if (t_tc > 0) printf("  forward on tensor cores (attention_forward_tc_kernel, not used by the model yet) %.2f ms, %.1f TFLOP/s\n",
                         1e3 * t_tc, fwd_flops / t_tc / 1e12);
    cudaFree(q); cudaFree(y); cudaFree(dy); cudaFree(dq); cudaFree(k); cudaFree(v); cudaFree(dk); cudaFree(dv);
    cudaFree(lse); cudaFree(Dr); cudaFree(tmp); free(h);
}

int main(int argc, char **argv) {
    int steps = 5;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: bench_gpu [--steps N] [--only G1|G2|attn]\n"); return 2; }
    }
    if (steps < 1) steps = 1;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("bench_gpu: skipped: no GPU\n");
        return 0;
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    snprintf(g_gpu_name, sizeof g_gpu_name, "%s", prop.name);
    /* bf16 dense tensor-core peak: H100 SXM and H200 989 TFLOP/s (the PCIe
       H100 is lower: 756). Other GPUs: unknown, no MFU printed. */
    if (strstr(prop.name, "H200") || (strstr(prop.name, "H100") && !strstr(prop.name, "PCIe"))) g_peak = 989e12;
    else if (strstr(prop.name, "H100")) g_peak = 756e12;
    printf("GPU: %s (sm_%d%d, %d SMs, %.1f GB), build %s\n", prop.name, prop.major, prop.minor,
           prop.multiProcessorCount, prop.totalGlobalMem / 1e9, GPU_PRECISION);
    if (!*only || !strcmp(only, "attn")) bench_attention(3);
    if (!*only || !strcmp(only, "G1")) bench_model("G1 (dense)", 0, steps);
    if (!*only || !strcmp(only, "G2")) bench_model("G2 (MoE 8 experts, top-2)", 1, steps);
    return 0;
}
