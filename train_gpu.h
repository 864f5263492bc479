/* train_gpu.h — how train.c becomes train_gpu: the compute calls swapped.

   `make train_gpu` compiles train.c with -DUT_GPU and links it with
   train_gpu.cu. train.c includes this file right after ultrathink.h (its only
   change for the GPU: three lines), and the macros at the bottom send the
   model's compute calls -- forward, backward, AdamW -- to the GPU versions.
   Everything else (options, run folder, metrics.jsonl, progress line,
   checkpoints, sampling, the dashboard) is train.c's own code, unchanged:
   same flags, same files, same checkpoint format.

   The host model (ut_model) stays the one the checkpoint is read into and
   written from. The GPU keeps its own copy of the weights and AdamW moments:
     - uploaded at the first GPU call after ut_model_init/ut_checkpoint_load;
     - downloaded before anything on the host reads them: a checkpoint save,
       sampling (which runs on the CPU through ut_kv_step), a failed state check.
   The loss, aux/z losses and expert counts of each forward are written into
   the host model, where train.c reads them.

   Several GPUs (data parallelism, comm.h's NCCL backend): train.c's
   all-reduce of m->grads is sent to the gradient's GPU copy (the last
   wrapper below); every other collective (losses, flags) moves host numbers
   and needs nothing from here. --zero 1 (ZeRO-1): train.c's zero_update
   runs the same four moves as on the CPU on the GPU's buffers, with the
   ut_zero_*_gpu calls below (the moments of this rank's shard live on the
   GPU; a download puts them into train.c's shard buffers).

   These wrappers live in train.c's translation unit, so they can report an
   error the way the library does (ut__fail sets ut_error(); train.c prints
   it and exits 1; a failing void call goes through train.c's die()). A CUDA error inside a kernel launch or a copy prints one
   line and exits 1 from train_gpu.cu itself. */
#ifndef TRAIN_GPU_H
#define TRAIN_GPU_H

#if defined(UT_MPI) && !defined(UT_NCCL)
#error "train_gpu with MPI needs NCCL (-DUT_NCCL): MPI alone would sum host copies, the gradient is on the GPU"
#endif

#ifdef __cplusplus
extern "C" {
#endif
/* train_gpu.cu: each returns 0 (or the loss) on success, -1 with
   ut_gpu_error() set on failure (no GPU, out of GPU memory, bad shape). */
const char *ut_gpu_error(void);
double ut_model_forward_gpu(ut_model *m, const int *inputs, const int *targets, int B, int T);
int    ut_model_zero_grad_gpu(ut_model *m);
int    ut_model_backward_gpu(ut_model *m, float scale);
double ut_adamw_step_gpu(ut_model *m, const ut_train_config *t, float lr, int step_t);
int    ut_model_check_state_gpu(const ut_model *m);   /* 0 ok, 1 bad, -1 error */
int    ut_model_download_gpu(const ut_model *m);      /* GPU weights + moments -> host */
void   ut_model_forget_gpu(const ut_model *m);        /* drop the GPU copy of m */
float *ut_gpu_grad_twin(const float *host, size_t n); /* m->grads + i -> its GPU copy, or NULL */
void   ut_gpu_on_grads_ready(void (*fn)(void *ctx, int layer), void *ctx);   /* the overlap's hook */
/* ZeRO-1 (train.c's zero_setup and zero_update; each 0 or a pointer, -1 or NULL on error) */
int    ut_zero_gpu(const ut_model *m, size_t lo, size_t shard, size_t padded, float *zm, float *zv);
float *ut_zero_grads_gpu(ut_model *m);                /* the GPU's gradient, padded */
float *ut_zero_params_gpu(ut_model *m);               /* the GPU's fp32 weights, padded */
int    ut_zero_norm_chunks_gpu(ut_model *m, double *part);   /* the shard's chunk sums of squares -> host */
int    ut_zero_adamw_gpu(ut_model *m, const ut_train_config *t, float lr, int step_t, float clip);
int    ut_zero_gathered_gpu(ut_model *m);             /* after the all-gather: the bf16 copy redone */
float *ut_zero_moment_gpu(ut_model *m, int v);        /* saving: moment m (0) or v (1) of the shard -> the gradient buffer */
int    ut_zero_fetch_gpu(ut_model *m, float *host);   /* saving: the gradient buffer (n_params) -> host */
#ifdef __cplusplus
}
#endif

#ifdef ULTRATHINK_IMPLEMENTATION   /* the wrappers: in train.c only */
#include "comm.h"   /* here, before the macro below renames its all-reduce for train.c */
/* train.c's die(): prints "train: error: ...", records the failure in the
   run folder (metrics.jsonl's end row, the dashboard) and exits 1 */
static void die(const char *fmt, ...);
static void ut__gpu_die(void) { die("%s", ut_gpu_error()); }
static double ut__gpu_forward(ut_model *m, const int *inputs, const int *targets, int B, int T) {
    double loss = ut_model_forward_gpu(m, inputs, targets, B, T);
    if (loss < 0) return ut__fail("%s", ut_gpu_error());
    return loss;
}
static void ut__gpu_zero_grad(ut_model *m) { if (ut_model_zero_grad_gpu(m)) ut__gpu_die(); }
static void ut__gpu_backward(ut_model *m, float scale) { if (ut_model_backward_gpu(m, scale)) ut__gpu_die(); }
static double ut__gpu_adamw(ut_model *m, const ut_train_config *t, float lr, int step_t) {
    double norm = ut_adamw_step_gpu(m, t, lr, step_t);
    if (norm < 0) ut__gpu_die();
    return norm;
}
/* the check runs on the GPU; only a bad state is downloaded, to name the
   first bad number with the library's own message */
static int ut__gpu_check_state(const ut_model *m) {
    int bad = ut_model_check_state_gpu(m);
    if (bad < 0) ut__gpu_die();
    if (!bad) return 0;
    if (ut_model_download_gpu(m)) ut__gpu_die();
    return ut_model_check_state(m) ? -1 : ut__fail("the GPU found a non-finite weight or moment");
}
static int ut__gpu_save(const char *path, const ut_model *m, const ut_train_config *t, const ut_progress *pr) {
    if (ut_model_download_gpu(m)) return ut__fail("%s", ut_gpu_error());
    return ut_checkpoint_save(path, m, t, pr);
}
static ut_float *ut__gpu_kv_step(ut_kv_cache *kv, const ut_model *m, int token) {
    if (kv->pos == 0 && ut_model_download_gpu(m)) ut__gpu_die();   /* sampling runs on the CPU */
    return ut_kv_step(kv, m, token);
}
static int ut__gpu_model_init(ut_model *m, const ut_config *c, uint64_t seed) {
    ut_model_forget_gpu(m);
    return ut_model_init(m, c, seed);
}
static int ut__gpu_load(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr) {
    ut_model_forget_gpu(m);
    return ut_checkpoint_load(path, m, t, pr);
}
static int ut__gpu_load_frozen(const char *path, ut_model *m, ut_train_config *t, ut_progress *pr) {
    ut_model_forget_gpu(m);
    return ut_checkpoint_load_frozen(path, m, t, pr);
}
static void ut__gpu_model_free(ut_model *m) { ut_model_forget_gpu(m); ut_model_free(m); }

/* Data parallelism (comm.h): train.c sums the step's gradient over the
   ranks with comm_allreduce_sum_f32(&g_comm, m->grads, n). The gradient is
   on the GPU: the call gets its GPU twin, which the NCCL backend reduces
   where it lies (no copy to the host). Any other buffer passes through.

   The overlap. Before each backward train.c calls ut__gpu_overlap, saying
   whether it is the step's last one on this rank (the gradient is then the
   step's whole gradient as soon as the backward has gone through a layer).
   For that backward the GPU code calls ut__gpu_grads_ready after each layer,
   which starts the all-reduce of that layer's slice of every tensor (the
   tensors are stored layer after layer: (L, ...)), and at the end of the
   rest (embedding, final norm, head). train.c's all-reduce of m->grads then
   only waits for them. UT_NCCL_OVERLAP=0 (on any rank) turns this off: one
   all-reduce of everything after the backward, to measure the gain. The
   sums are the same bit for bit with one or two ranks (a sum of two numbers
   is one addition however the buffer is cut); with more, NCCL's order of
   additions depends on the sizes it is given, so they agree to rounding. */
#ifdef UT_NCCL
static struct { ut_comm *c; const ut_model *m; int on; } ut__ov;
static void ut__gpu_grads_ready(void *ctx, int l) {
    (void)ctx;
    const ut_model *m = ut__ov.m;
    size_t L = (size_t)m->cfg.n_layers;
    float *x[UT_NUM_TENSORS];
    size_t n[UT_NUM_TENSORS];
    int k = 0;
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        int per_layer = !(t == UT_TOK_EMB || t == UT_FINAL_NORM || t == UT_LM_HEAD);
        if (per_layer != (l >= 0) || !m->sizes[t]) continue;
        n[k] = per_layer ? m->sizes[t] / L : m->sizes[t];                /* layer l's slice, or all of it */
        x[k] = ut_gpu_grad_twin(m->g[t] + (per_layer ? (size_t)l * n[k] : 0), n[k]);
        if (!x[k]) die("the overlap's gradient slice is outside the GPU's gradient");
        k++;
    }
    comm_allreduce_start(ut__ov.c, x, n, k);
}
#endif
static void ut__gpu_overlap(ut_comm *c, const ut_model *m, int last_backward) {
#ifdef UT_NCCL
    static int off = -1;
    if (off < 0 && c->nccl) {   /* decided once, the same on every rank (ranks that disagreed would deadlock) */
        const char *e = getenv("UT_NCCL_OVERLAP");
        off = comm_any(c, e && !strcmp(e, "0"));
        printf("nccl: the gradient's all-reduce %s\n", off ? "after the backward (UT_NCCL_OVERLAP=0)"
                                                           : "overlapped with the backward, layer by layer");
    }
    ut__ov.c = c; ut__ov.m = m;
    ut__ov.on = last_backward && c->nccl && !off;
    ut_gpu_on_grads_ready(ut__ov.on ? ut__gpu_grads_ready : NULL, NULL);
#else
    (void)c; (void)m; (void)last_backward;
#endif
}
static void ut__gpu_allreduce_sum_f32(ut_comm *c, float *x, size_t n) {
#ifdef UT_NCCL
    if (ut__ov.on && ut__ov.m && x == ut__ov.m->grads) {   /* started during the backward: wait for it */
        ut__ov.on = 0;
        ut_gpu_on_grads_ready(NULL, NULL);
        comm_allreduce_wait(c);
        return;
    }
#endif
    float *d = ut_gpu_grad_twin(x, n);
    comm_allreduce_sum_f32(c, d ? d : x, n);
}

#define comm_allreduce_sum_f32 ut__gpu_allreduce_sum_f32
#define ut_model_forward     ut__gpu_forward
#define ut_model_zero_grad   ut__gpu_zero_grad
#define ut_model_backward    ut__gpu_backward
#define ut_adamw_step        ut__gpu_adamw
#define ut_model_check_state ut__gpu_check_state
#define ut_checkpoint_save   ut__gpu_save
#define ut_kv_step           ut__gpu_kv_step
#define ut_model_init        ut__gpu_model_init
#define ut_checkpoint_load   ut__gpu_load
#define ut_checkpoint_load_frozen ut__gpu_load_frozen
#define ut_model_free        ut__gpu_model_free
#endif /* ULTRATHINK_IMPLEMENTATION */

#endif /* TRAIN_GPU_H */
