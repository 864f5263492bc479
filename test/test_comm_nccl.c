/* test_comm_nccl.c — comm.h's NCCL backend, every call, on W ranks.

   STATUS: compiles; HAS NEVER RUN ON A GPU (none was available when it was
   written). Run by test/test_gpu.sh: on one rank (RANK=0 WORLD_SIZE=1, the
   whole NCCL path with a sum of one), and on two ranks when the machine has
   two GPUs. Without a GPU it prints SKIP lines and exits 0.

   Rank r fills its buffers with numbers that depend on r and the index i,
   so every result has a closed form to compare with, exactly (small whole
   numbers: fp32 sums of them are exact):
     all-reduce          x[i] = r + i            -> W*i + W(W-1)/2
     reduce-scatter      x[i] = r + i, W blocks  -> block r of that sum
                         (also in place: out = x + r * block, as ZeRO-1 on the GPU)
     started all-reduce  the overlap: two GPU buffers filled by copies queued
                         on the default stream just before, started in one
                         group, then waited for -> the all-reduce's sums
                         (the collective must wait for those copies); and,
                         what one rank can see too (its sum changes
                         nothing): behind a 300 ms pause queued on the
                         default stream, the collectives' stream is still
                         busy 100 ms after the start (it waits for the pause)
     all-gather          block r = r + 1         -> block q holds q + 1
     broadcast           x = r (root 0)          -> 0 everywhere
     any                 flag = (r == W-1)       -> 1 everywhere
   each on a GPU buffer (NCCL's own) and on a host buffer (staged). Rank 0
   prints PASS/FAIL; the others print only their FAILs. */
#define _XOPEN_SOURCE 700
#define UT_NCCL
#include "../comm.h"

static int n_fail;
static ut_comm C;

static void report(int ok, const char *name) {
    if (!ok) { printf("FAIL nccl_w%d_%s (rank %d)\n", C.world, name, C.rank); n_fail++; }
    else if (C.rank == 0) printf("PASS nccl_w%d_%s\n", C.world, name);
    fflush(stdout);
}

/* a pause on a stream: a host function that sleeps (it calls no CUDA) */
static void CUDART_CB pause_300ms(void *arg) {
    (void)arg;
    struct timespec t = {0, 300000000L};
    nanosleep(&t, NULL);
}

/* a host array of n floats, or its GPU copy */
static float *on(int gpu, const float *h, size_t n) {
    if (!gpu) { float *x = (float *)malloc(n * sizeof(float)); memcpy(x, h, n * sizeof(float)); return x; }
    float *d = NULL;
    if (cudaMalloc((void **)&d, n * sizeof(float)) != cudaSuccess) { printf("FAIL nccl_cudaMalloc\n"); exit(1); }
    cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice);
    return d;
}
static void back(int gpu, float *h, float *x, size_t n) {
    if (gpu) { cudaMemcpy(h, x, n * sizeof(float), cudaMemcpyDeviceToHost); cudaFree(x); }
    else { memcpy(h, x, n * sizeof(float)); free(x); }
}

int main(void) {
    int ngpu = 0;
    if (cudaGetDeviceCount(&ngpu) != cudaSuccess || ngpu == 0) {
        const char *names[] = {"allreduce_f32_gpu", "allreduce_f32_host", "allreduce_f64_host", "reduce_scatter_gpu",
                               "reduce_scatter_in_place_gpu", "allreduce_started_gpu", "allgather_gpu",
                               "broadcast_host", "any", "barrier"};
        for (int i = 0; i < 10; i++) printf("SKIP nccl_%s (skipped: no GPU)\n", names[i]);
        return 0;
    }
    if (comm_init(&C, NULL, NULL)) { printf("FAIL nccl_init\n"); return 1; }
    if (!C.nccl) { printf("FAIL nccl_init (no launcher variables: run with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)\n"); return 1; }
    const size_t n = 3000, W = (size_t)C.world, r = (size_t)C.rank;
    float *h = (float *)malloc(n * W * sizeof(float));
    for (int gpu = 1; gpu >= 0; gpu--) {   /* a GPU buffer (what the trainer's gradient is), then a host one */
        for (size_t i = 0; i < n; i++) h[i] = (float)(r + i);
        float *x = on(gpu, h, n);
        comm_allreduce_sum_f32(&C, x, n);
        back(gpu, h, x, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= h[i] == (float)(W * i + W * (W - 1) / 2);
        report(ok, gpu ? "allreduce_f32_gpu" : "allreduce_f32_host");
    }
    double d[5];
    for (int i = 0; i < 5; i++) d[i] = (double)r + i;
    comm_allreduce_sum_f64(&C, d, 5);
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= d[i] == (double)(W * (size_t)i + W * (W - 1) / 2);
    report(ok, "allreduce_f64_host");

    for (size_t i = 0; i < n * W; i++) h[i] = (float)(r + i);
    float *x = on(1, h, n * W), *out = on(1, h, n);
    comm_reduce_scatter_sum_f32(&C, x, out, n);
    back(1, h, out, n);
    cudaFree(x);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= h[i] == (float)(W * (r * n + i) + W * (W - 1) / 2);
    report(ok, "reduce_scatter_gpu");

    for (size_t i = 0; i < n * W; i++) h[i] = (float)(r + i);
    x = on(1, h, n * W);
    comm_reduce_scatter_sum_f32(&C, x, x + r * n, n);   /* in place */
    cudaMemcpy(h, x + r * n, n * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(x);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= h[i] == (float)(W * (r * n + i) + W * (W - 1) / 2);
    report(ok, "reduce_scatter_in_place_gpu");

    /* the overlap: the buffers' numbers arrive by copies queued on the
       default stream (pinned host memory: truly asynchronous), then the
       all-reduces start at once; they must wait for the copies */
    {
        const size_t big = (size_t)1 << 22;
        float *pin = NULL, *a = NULL, *b = NULL;
        if (cudaMallocHost((void **)&pin, big * sizeof(float)) != cudaSuccess ||
            cudaMalloc((void **)&a, big * sizeof(float)) != cudaSuccess ||
            cudaMalloc((void **)&b, n * sizeof(float)) != cudaSuccess) { printf("FAIL nccl_cudaMalloc\n"); exit(1); }
        for (size_t i = 0; i < big; i++) pin[i] = (float)(r + i % 1000);
        cudaMemset(a, 0, big * sizeof(float));
        cudaMemset(b, 0, n * sizeof(float));
        cudaDeviceSynchronize();
        cudaLaunchHostFunc(0, pause_300ms, NULL);   /* the "backward" still running */
        cudaMemcpyAsync(a, pin, big * sizeof(float), cudaMemcpyHostToDevice, 0);
        cudaMemcpyAsync(b, pin, n * sizeof(float), cudaMemcpyHostToDevice, 0);
        float *bufs[2] = {a, b};
        size_t counts[2] = {big, n};
        comm_allreduce_start(&C, bufs, counts, 2);
        struct timespec t100 = {0, 100000000L};
        nanosleep(&t100, NULL);
        int waited = cudaStreamQuery(C.stream) == cudaErrorNotReady;   /* still behind the pause */
        comm_allreduce_wait(&C);
        cudaMemcpy(pin, a, big * sizeof(float), cudaMemcpyDeviceToHost);
        if (!waited) printf("  (the collectives' stream was idle 100 ms after the start: it did not wait for the default stream)\n");
        ok = C.started == 0 && waited;
        for (size_t i = 0; i < big; i++) ok &= pin[i] == (float)(W * (i % 1000) + W * (W - 1) / 2);
        cudaMemcpy(pin, b, n * sizeof(float), cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < n; i++) ok &= pin[i] == (float)(W * (i % 1000) + W * (W - 1) / 2);
        report(ok, "allreduce_started_gpu");
        cudaFreeHost(pin); cudaFree(a); cudaFree(b);
    }

    for (size_t i = 0; i < n * W; i++) h[i] = i / n == r ? (float)(r + 1) : -1.0f;
    x = on(1, h, n * W);
    comm_allgather_f32(&C, x, n);
    back(1, h, x, n * W);
    ok = 1;
    for (size_t i = 0; i < n * W; i++) ok &= h[i] == (float)(i / n + 1);
    report(ok, "allgather_gpu");

    int v[4] = {(int)r, (int)r, (int)r, (int)r};
    comm_broadcast(&C, v, sizeof v, 0);
    report(v[0] == 0 && v[3] == 0, "broadcast_host");
    int any1 = comm_any(&C, r == W - 1), any0 = comm_any(&C, 0);   /* both on every rank, whatever the first gave */
    report(any1 == 1 && any0 == 0, "any");
    comm_barrier(&C);
    report(1, "barrier");
    free(h);
    comm_finalize(&C);
    return n_fail ? 1 : 0;
}
