/* test_torch.c — ultrathink.h against an independent PyTorch reference.

   test/torch_ref.py builds the same model in PyTorch (float64, autograd) and
   writes a state file (its docstring documents the format): config, weights, a
   batch, logits, losses, every parameter gradient and a 10-step AdamW run. This
   program loads that file into a ut_model, runs the C forward, backward and
   optimizer, and compares:

     logits       the C logits, recomputed as ut_matmul_forward(final_xn, head)
                  after ut_model_forward (m.a.probs only keeps the softmax)
     probs        m.a.probs, the softmax of the logits
     loss, aux_loss, z_loss     m.loss, m.aux_loss, m.z_loss
     router_probs m.a.router_probs (MoE only)
     grad_<name>  each parameter gradient after ut_model_backward(m, 1)
     train_*      ce/aux/z before each of 10 steps and after the last, the
                  learning rate from ut_lr_at and the gradient norm returned by
                  ut_adamw_step, and the weights after the last step

   Tolerances (the C side runs in float32, the reference in float64):
     logits, probs, router_probs, losses:  max |c - ref| <= 1e-4
     gradients:  max |c - ref| / max |ref| <= 1e-4, per tensor
     training losses: max |c - ref| <= 1e-4; lr, grad norm: relative <= 1e-4
     final weights: max |c - ref| / max |ref| <= 1e-3, per tensor (ten AdamW
       steps divide by sqrt(v): small gradient differences grow into the weights)
   Observed differences are about 1e-6 (rel) for everything but the final
   weights (about 2e-5), so each tolerance leaves a margin of 30x or more.
   Prints one PASS/FAIL line per quantity with its max abs difference and that
   difference relative to the largest |ref| of the quantity ("rel").

   usage: test_torch STATE_FILE   (exit status 1 if anything failed) */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"

#define TOL_ABS 1e-4          /* logits, probs, router probs, losses */
#define TOL_GRAD_REL 1e-4     /* gradients: relative to the tensor's max |ref| */
#define TOL_TRAIN_ABS 1e-4    /* losses along the training run */
#define TOL_SCALAR_REL 1e-4   /* learning rate, gradient norm */
#define TOL_FINAL_REL 1e-3    /* weights after the run: relative to the tensor's max |ref| */

static int n_fail = 0;
static char tag[64];          /* the config name, e.g. "dense" */

/* Compares n values; mode 'a': pass if max abs diff <= tol, 'r': pass if
   max abs diff / max |ref| <= tol. Prints one line either way. */
static void compare(const char *what, const ut_float *got, const float *ref, size_t n,
                    double tol, char mode) {
    double max_abs = 0, max_ref = 0;
    size_t worst = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!isfinite((double)got[i])) finite = 0;
        if (d > max_abs) { max_abs = d; worst = i; }
        if (fabs((double)ref[i]) > max_ref) max_ref = fabs((double)ref[i]);
    }
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    int ok = finite && (mode == 'a' ? max_abs <= tol : rel <= tol);
    if (!ok) n_fail++;
    printf("%s torch_%s_%s  max_abs %.3e  rel %.3e  (tol %s <= %.0e, n=%zu)", ok ? "PASS" : "FAIL",
           tag, what, max_abs, rel, mode == 'a' ? "abs" : "rel", tol, n);
    if (!ok) printf("  worst [%zu] c=%.9g ref=%.9g%s", worst, (double)got[worst], (double)ref[worst],
                    finite ? "" : " (non-finite values)");
    printf("\n");
}

static void fail_file(const char *path, const char *why) {
    printf("FAIL torch_state_file %s: %s\n", path, why);
    exit(1);
}

/* Reads n items of size sz; the caller checked the file size, so a short read
   means the file changed under us. */
static void *read_array(FILE *f, const char *path, size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) fail_file(path, "out of memory");
    if (fread(p, sz, n, f) != n) fail_file(path, "short read");
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s STATE_FILE (written by test/torch_ref.py)\n", argv[0]); return 2; }
    const char *path = argv[1];
    FILE *f = fopen(path, "rb");
    if (!f) fail_file(path, "cannot open");

    /* ---- the text header: 5 lines, every field checked ---------------------- */
    char line[4096];
    ut_config c = ut_config_default();
    ut_train_config tc = ut_train_config_default();
    int version = 0, B = 0, T = 0, steps = 0, warmup = 0, total = 0;
    double theta = 0, eps = 0, auxc = 0, zc = 0, lr = 0, min_lr = 0, b1 = 0, b2 = 0, aeps = 0, wd = 0, clip = 0;
    if (!fgets(line, sizeof line, f) || sscanf(line, "ut-torch-ref %d %63s", &version, tag) != 2 || version != 1)
        fail_file(path, "not a ut-torch-ref version 1 file");
    if (!fgets(line, sizeof line, f) ||
        sscanf(line, "config V=%d maxT=%d L=%d D=%d H=%d KVH=%d HD=%d F=%d E=%d K=%d tie=%d window=%d "
                     "theta=%lf eps=%lf aux_coef=%lf z_coef=%lf",
               &c.vocab_size, &c.max_seq_len, &c.n_layers, &c.d_model, &c.n_heads, &c.n_kv_heads,
               &c.head_dim, &c.ffn_hidden, &c.n_experts, &c.top_k, &c.tie_embeddings,
               &c.sliding_window, &theta, &eps, &auxc, &zc) != 16)
        fail_file(path, "bad config line");
    c.rope_theta = (float)theta; c.norm_eps = (float)eps;
    c.aux_loss_coef = (float)auxc; c.z_loss_coef = (float)zc;
    if (!fgets(line, sizeof line, f) || sscanf(line, "batch B=%d T=%d", &B, &T) != 2)
        fail_file(path, "bad batch line");
    if (!fgets(line, sizeof line, f) ||
        sscanf(line, "train steps=%d warmup=%d total=%d lr=%lf min_lr=%lf beta1=%lf beta2=%lf "
                     "eps=%lf wd=%lf clip=%lf",
               &steps, &warmup, &total, &lr, &min_lr, &b1, &b2, &aeps, &wd, &clip) != 10)
        fail_file(path, "bad train line");
    if (ut_config_validate(&c)) fail_file(path, ut_error());
    if (B < 1 || T < 1 || T > c.max_seq_len || steps < 1 || steps > 1000)
        fail_file(path, "batch or step count out of range");

    ut_model m;
    if (ut_model_init(&m, &c, 1)) fail_file(path, ut_error());
    if (!fgets(line, sizeof line, f) || strncmp(line, "tensors ", 8) != 0) fail_file(path, "bad tensors line");
    const char *p = line + 8;
    for (int i = 0; i < UT_NUM_TENSORS; i++) {
        char name[64];
        size_t size;
        int used = 0;
        if (sscanf(p, " %63[^:]:%zu%n", name, &size, &used) != 2 || strcmp(name, ut_tensor_names[i]) != 0 ||
            size != m.sizes[i]) {
            char why[256];
            snprintf(why, sizeof why, "tensor %d: expected %s:%zu in the tensors line", i,
                     ut_tensor_names[i], m.sizes[i]);
            fail_file(path, why);
        }
        p += used;
    }

    /* ---- the arrays: the file must be exactly as long as the header says ----- */
    size_t N = (size_t)B * T, V = c.vocab_size, P = m.n_params, L = c.n_layers, E = c.n_experts;
    size_t n_router = E > 1 ? L * N * E : 0;
    size_t n_floats = P + 2 * N * V + 3 + n_router + P + (size_t)(steps + 1) * 3 + (size_t)steps * 2 + P;
    long start = ftell(f);
    if (start < 0 || fseek(f, 0, SEEK_END) != 0) fail_file(path, "cannot seek");
    long end = ftell(f);
    if (end - start != (long)(2 * N * sizeof(int32_t) + n_floats * sizeof(float))) {
        char why[256];
        snprintf(why, sizeof why, "data is %ld bytes, the header implies %zu", end - start,
                 2 * N * sizeof(int32_t) + n_floats * sizeof(float));
        fail_file(path, why);
    }
    fseek(f, start, SEEK_SET);
    int32_t *inputs = read_array(f, path, N, 4), *targets = read_array(f, path, N, 4);
    float *params = read_array(f, path, P, 4), *logits = read_array(f, path, N * V, 4);
    float *probs = read_array(f, path, N * V, 4), *losses = read_array(f, path, 3, 4);
    float *router = read_array(f, path, n_router, 4), *grads = read_array(f, path, P, 4);
    float *tr_loss = read_array(f, path, (size_t)(steps + 1) * 3, 4);
    float *tr_step = read_array(f, path, (size_t)steps * 2, 4), *final = read_array(f, path, P, 4);
    fclose(f);
    int *in = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
    if (!in || !tg) fail_file(path, "out of memory");
    for (size_t i = 0; i < N; i++) { in[i] = inputs[i]; tg[i] = targets[i]; }

    printf("torch reference %s: V=%d L=%d D=%d H=%d KVH=%d HD=%d F=%d E=%d K=%d tie=%d window=%d B=%d T=%d, %zu params\n",
           tag, c.vocab_size, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_hidden,
           c.n_experts, c.top_k, c.tie_embeddings, c.sliding_window, B, T, P);

    /* ---- one forward + backward ------------------------------------------------ */
    for (size_t i = 0; i < P; i++) m.params[i] = (ut_float)params[i];
    ut_model_zero_grad(&m);
    float loss = ut_model_forward(&m, in, tg, B, T);
    if (loss < 0) { printf("FAIL torch_%s_forward %s\n", tag, ut_error()); return 1; }
    ut_model_backward(&m, 1.0f);

    ut_float *clogits = malloc(N * V * sizeof(ut_float));
    const ut_float *head = c.tie_embeddings ? m.p[UT_TOK_EMB] : m.p[UT_LM_HEAD];
    ut_matmul_forward(clogits, m.a.final_xn, head, (int)N, c.d_model, (int)V);
    compare("logits", clogits, logits, N * V, TOL_ABS, 'a');
    compare("probs", m.a.probs, probs, N * V, TOL_ABS, 'a');
    ut_float closs[3] = {m.loss, m.aux_loss, m.z_loss};
    compare("loss", closs, losses, 1, TOL_ABS, 'a');
    if (E > 1) {
        compare("aux_loss", closs + 1, losses + 1, 1, TOL_ABS, 'a');
        compare("z_loss", closs + 2, losses + 2, 1, TOL_ABS, 'a');
        compare("router_probs", m.a.router_probs, router, n_router, TOL_ABS, 'a');
    }
    size_t off = 0;
    for (int i = 0; i < UT_NUM_TENSORS; i++) {
        char what[64];
        snprintf(what, sizeof what, "grad_%s", ut_tensor_names[i]);
        if (m.sizes[i]) compare(what, m.g[i], grads + off, m.sizes[i], TOL_GRAD_REL, 'r');
        off += m.sizes[i];
    }

    /* ---- the training run: same schedule, clipping and AdamW ------------------- */
    tc.batch_size = B; tc.seq_len = T; tc.grad_accum = 1;
    tc.total_steps = total; tc.warmup_steps = warmup;
    tc.lr = (float)lr; tc.min_lr = (float)min_lr; tc.beta1 = (float)b1; tc.beta2 = (float)b2;
    tc.eps = (float)aeps; tc.weight_decay = (float)wd; tc.grad_clip = (float)clip;
    for (size_t i = 0; i < P; i++) m.params[i] = (ut_float)params[i];
    memset(m.adam_m, 0, P * sizeof(ut_float));
    memset(m.adam_v, 0, P * sizeof(ut_float));
    ut_float *c_loss = malloc((size_t)(steps + 1) * 3 * sizeof(ut_float));
    ut_float *c_lr = malloc((size_t)steps * sizeof(ut_float)), *c_norm = malloc((size_t)steps * sizeof(ut_float));
    float *r_lr = malloc((size_t)steps * sizeof(float)), *r_norm = malloc((size_t)steps * sizeof(float));
    for (int s = 0; s <= steps; s++) {
        ut_model_zero_grad(&m);
        if (ut_model_forward(&m, in, tg, B, T) < 0) { printf("FAIL torch_%s_train %s\n", tag, ut_error()); return 1; }
        c_loss[3 * s] = m.loss; c_loss[3 * s + 1] = m.aux_loss; c_loss[3 * s + 2] = m.z_loss;
        if (s == steps) break;
        ut_model_backward(&m, 1.0f);
        c_lr[s] = ut_lr_at(&tc, s);
        c_norm[s] = (ut_float)ut_adamw_step(&m, &tc, c_lr[s], s + 1);
        r_lr[s] = tr_step[2 * s]; r_norm[s] = tr_step[2 * s + 1];
    }
    printf("  train loss  c:  ");
    for (int s = 0; s <= steps; s++) printf(" %.6f", (double)c_loss[3 * s]);
    printf("\n  train loss ref: ");
    for (int s = 0; s <= steps; s++) printf(" %.6f", (double)tr_loss[3 * s]);
    printf("\n");
    /* strided (ce, aux, z) triples -> three comparisons */
    for (int j = 0; j < (E > 1 ? 3 : 1); j++) {
        ut_float got[1001]; float ref[1001];
        for (int s = 0; s <= steps; s++) { got[s] = c_loss[3 * s + j]; ref[s] = tr_loss[3 * s + j]; }
        compare(j == 0 ? "train_loss" : j == 1 ? "train_aux_loss" : "train_z_loss", got, ref,
                (size_t)steps + 1, TOL_TRAIN_ABS, 'a');
    }
    compare("train_lr", c_lr, r_lr, (size_t)steps, TOL_SCALAR_REL, 'r');
    compare("train_grad_norm", c_norm, r_norm, (size_t)steps, TOL_SCALAR_REL, 'r');
    off = 0;
    for (int i = 0; i < UT_NUM_TENSORS; i++) {
        char what[64];
        snprintf(what, sizeof what, "final_%s", ut_tensor_names[i]);
        if (m.sizes[i]) compare(what, m.p[i], final + off, m.sizes[i], TOL_FINAL_REL, 'r');
        off += m.sizes[i];
    }

    free(inputs); free(targets); free(params); free(logits); free(probs); free(losses);
    free(router); free(grads); free(tr_loss); free(tr_step); free(final); free(clogits);
    free(in); free(tg); free(c_loss); free(c_lr); free(c_norm); free(r_lr); free(r_norm);
    ut_model_free(&m);
    return n_fail ? 1 : 0;
}
