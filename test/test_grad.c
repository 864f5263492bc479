/* test_grad.c — every hand-written backward pass against finite differences.

   Built with -DUT_DOUBLE: ut_float is double, so the checks can be tight.
   For a layer y = f(x, w) we pick a random "upstream gradient" R and define the
   scalar loss  L = sum(R * y). Its gradient with respect to y is exactly R, so
   calling the backward with dout = R gives dL/dx and dL/dw analytically. Each
   entry is then checked against the central difference
        dL/dp ~ (L(p + h) - L(p - h)) / (2h),   h = 1e-5,
   whose truncation error is O(h^2 f''') ~ 1e-10 relative for one layer, far
   below the threshold. The whole-model checks use h = 1e-6: the model's
   larger curvature (weights are scaled up so every path carries signal)
   would make the O(h^2) term ~1e-6 at h = 1e-5; rounding error stays at
   ~1e-16 * |L| / h ~ 1e-10.

   Error reported per tensor:  max_i |analytic_i - numeric_i| / max_i |numeric_i|
   (relative to the tensor's largest gradient, so a gradient that happens to be
   ~0 cannot produce a meaningless huge ratio). Threshold: 1e-6.

   Top-k ties: the MoE forward picks experts by comparing probabilities; if two
   were within ~h of each other a finite-difference step could flip the choice
   and the function would jump. Each MoE check first measures the smallest gap
   between the K-th and (K+1)-th router probability over all tokens and reseeds
   the inputs until it exceeds 1e-3 (the probability moves by ~1e-6 per step). */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef UT_DOUBLE
#error "test_grad.c must be compiled with -DUT_DOUBLE"
#endif

#define TOL 1e-6
static double FD_H = 1e-5;   /* the model checks use 1e-6: see test_model */
static int n_fail = 0;
static uint64_t rng;

static double *randn(size_t n, double scale) {
    double *x = (double *)malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) x[i] = scale * ut_rng_normal(&rng);
    return x;
}
static double *zeros(size_t n) { return (double *)calloc(n ? n : 1, sizeof(double)); }

/* The function under test: recomputes the scalar loss from the current inputs. */
typedef double (*loss_fn)(void);

/* Checks analytic gradient g (n) of loss() with respect to the array p (n),
   at most max_checks entries spread evenly over the tensor. */
static void check(const char *name, double *p, const double *g, size_t n, loss_fn loss, size_t max_checks) {
    /* Under `make test-asan` (UT_SANITIZED set) an eighth of the entries (at
       least 10): each entry costs two full evaluations of the same code, so
       the sanitizers see every line either way; make test checks them all. */
    if (getenv("UT_SANITIZED") && max_checks > 10) max_checks = max_checks / 8 > 10 ? max_checks / 8 : 10;
    size_t step = n > max_checks ? n / max_checks : 1;
    double max_diff = 0, max_num = 0;
    for (size_t i = 0; i < n; i += step) {
        double old = p[i];
        p[i] = old + FD_H; double lp = loss();
        p[i] = old - FD_H; double lm = loss();
        p[i] = old;
        double num = (lp - lm) / (2 * FD_H);
        double d = fabs(num - g[i]);
        if (d > max_diff) max_diff = d;
        if (fabs(num) > max_num) max_num = fabs(num);
    }
    double rel = max_num > 0 ? max_diff / max_num : max_diff;
    int ok = rel <= TOL && max_num > 0;   /* an all-zero gradient would prove nothing */
    if (!ok) n_fail++;
    printf("%s grad %-34s max_rel_err %.2e  (max |grad| %.2e)%s\n", ok ? "PASS" : "FAIL", name, rel,
           max_num, max_num > 0 ? "" : "  gradient is all zero");
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- embedding ---------------------------------------------------------- */
enum { EN = 7, ED = 5, EV = 4 };
static int e_tok[EN] = {0, 3, 1, 3, 3, 2, 0};
static double *e_emb, *e_R, e_out[EN * ED];
static double loss_embedding(void) {
    ut_embedding_forward(e_out, e_tok, e_emb, EN, ED);
    return dot(e_out, e_R, EN * ED);
}
static void test_embedding(void) {
    e_emb = randn(EV * ED, 1); e_R = randn(EN * ED, 1);
    double *g = zeros(EV * ED);
    ut_embedding_backward(g, e_R, e_tok, EN, ED);
    check("embedding/emb", e_emb, g, EV * ED, loss_embedding, 1000);
    free(e_emb); free(e_R); free(g);
}

/* ---- RMSNorm ------------------------------------------------------------ */
enum { RN = 6, RD = 9 };
static double *r_x, *r_w, *r_R, r_out[RN * RD], r_rstd[RN];
static double loss_rmsnorm(void) {
    ut_rmsnorm_forward(r_out, r_rstd, r_x, r_w, RN, RD, 1e-5f);
    return dot(r_out, r_R, RN * RD);
}
static void test_rmsnorm(void) {
    r_x = randn(RN * RD, 1); r_w = randn(RD, 1); r_R = randn(RN * RD, 1);
    double *gx = zeros(RN * RD), *gw = zeros(RD);
    loss_rmsnorm();
    ut_rmsnorm_backward(gx, gw, r_R, r_x, r_w, r_rstd, RN, RD);
    check("rmsnorm/x", r_x, gx, RN * RD, loss_rmsnorm, 1000);
    check("rmsnorm/w", r_w, gw, RD, loss_rmsnorm, 1000);
    free(r_x); free(r_w); free(r_R); free(gx); free(gw);
}

/* ---- linear (both the fast matmul and the plain loop) ------------------- */
enum { LN = 13, LC = 11, LO = 7 };
static double *l_x, *l_w, *l_R, l_out[LN * LO];
static int l_naive;
static double loss_linear(void) {
    if (l_naive) ut_matmul_forward_naive(l_out, l_x, l_w, LN, LC, LO);
    else ut_matmul_forward(l_out, l_x, l_w, LN, LC, LO);
    return dot(l_out, l_R, LN * LO);
}
static void test_linear(int naive) {
    l_naive = naive;
    l_x = randn(LN * LC, 1); l_w = randn(LO * LC, 1); l_R = randn(LN * LO, 1);
    double *gx = zeros(LN * LC), *gw = zeros(LO * LC);
    if (naive) ut_matmul_backward_naive(gx, gw, l_R, l_x, l_w, LN, LC, LO);
    else ut_matmul_backward(gx, gw, l_R, l_x, l_w, LN, LC, LO);
    check(naive ? "linear_naive/x" : "linear/x", l_x, gx, LN * LC, loss_linear, 1000);
    check(naive ? "linear_naive/w" : "linear/w", l_w, gw, LO * LC, loss_linear, 1000);
    free(l_x); free(l_w); free(l_R); free(gx); free(gw);
}

/* ---- RoPE ----------------------------------------------------------------- */
enum { PB = 2, PT = 5, PH = 3, PHD = 8 };
static double *p_x, *p_R, p_out[PB * PT * PH * PHD], p_cos[(PT + 3) * PHD / 2], p_sin[(PT + 3) * PHD / 2];
static double loss_rope(void) {
    memcpy(p_out, p_x, sizeof p_out);
    ut_rope_forward(p_out, p_cos, p_sin, PB, PT, PH, PHD, 3);   /* positions 3..7 */
    return dot(p_out, p_R, PB * PT * PH * PHD);
}
static void test_rope(void) {
    size_t n = PB * PT * PH * PHD;
    ut_rope_tables(p_cos, p_sin, PT + 3, PHD, 10000.0f);
    p_x = randn(n, 1); p_R = randn(n, 1);
    double *g = zeros(n);
    memcpy(g, p_R, n * sizeof(double));
    ut_rope_backward(g, p_cos, p_sin, PB, PT, PH, PHD, 3);
    check("rope/x", p_x, g, n, loss_rope, 1000);
    free(p_x); free(p_R); free(g);
}

/* ---- attention ------------------------------------------------------------ */
/* Both versions: the plain loops of section 5 (a_naive = 1) and the tiled
   one of appendix A.7 (FlashAttention-2: online softmax, the backward
   recomputes the probabilities from the saved log-sum-exp). */
static int a_B, a_T, a_H, a_KVH, a_HD, a_W, a_naive;
static double *a_q, *a_k, *a_v, *a_R, *a_y, *a_att, *a_lse, *a_scratch;
static double loss_attention(void) {
    if (a_naive) ut_attention_forward_naive(a_y, a_att, a_q, a_k, a_v, a_B, a_T, a_H, a_KVH, a_HD, a_W);
    else ut_attention_forward(a_y, a_lse, a_q, a_k, a_v, a_B, a_T, a_H, a_KVH, a_HD, a_W, a_scratch);
    return dot(a_y, a_R, (size_t)a_B * a_T * a_H * a_HD);
}
static void test_attention_version(const char *version, const char *label, int B, int T, int H,
                                   int KVH, int HD, int W) {
    a_B = B; a_T = T; a_H = H; a_KVH = KVH; a_HD = HD; a_W = W;
    size_t nq = (size_t)B * T * H * HD, nk = (size_t)B * T * KVH * HD;
    a_q = randn(nq, 1); a_k = randn(nk, 1); a_v = randn(nk, 1); a_R = randn(nq, 1);
    a_y = zeros(nq); a_att = zeros((size_t)B * H * T * T); a_lse = zeros((size_t)B * H * T);
    a_scratch = zeros(ut_attention_scratch_floats(B, T, KVH, HD));
    double *gq = zeros(nq), *gk = zeros(nk), *gv = zeros(nk);
    loss_attention();
    if (a_naive) ut_attention_backward_naive(gq, gk, gv, a_R, a_att, a_q, a_k, a_v, B, T, H, KVH, HD, W);
    else ut_attention_backward(gq, gk, gv, a_R, a_y, a_lse, a_q, a_k, a_v, B, T, H, KVH, HD, W, a_scratch);
    char name[96];
    snprintf(name, sizeof name, "attention%s%s/q", version, label); check(name, a_q, gq, nq, loss_attention, 1000);
    snprintf(name, sizeof name, "attention%s%s/k", version, label); check(name, a_k, gk, nk, loss_attention, 1000);
    snprintf(name, sizeof name, "attention%s%s/v", version, label); check(name, a_v, gv, nk, loss_attention, 1000);
    free(a_q); free(a_k); free(a_v); free(a_R); free(a_y); free(a_att); free(a_lse); free(a_scratch);
    free(gq); free(gk); free(gv);
}
static void test_attention(const char *label, int B, int T, int H, int KVH, int HD, int W) {
    a_naive = 0; test_attention_version("", label, B, T, H, KVH, HD, W);
    a_naive = 1; test_attention_version("_naive", label, B, T, H, KVH, HD, W);
}

/* ---- SwiGLU --------------------------------------------------------------- */
enum { SN = 5, SD = 6, SF = 10 };
static double *s_x, *s_wg, *s_wu, *s_wd, *s_R, s_out[SN * SD], s_g[SN * SF], s_u[SN * SF], s_h[SN * SF];
static double loss_swiglu(void) {
    ut_swiglu_forward(s_out, s_g, s_u, s_h, s_x, s_wg, s_wu, s_wd, SN, SD, SF);
    return dot(s_out, s_R, SN * SD);
}
static void test_swiglu(void) {
    s_x = randn(SN * SD, 1); s_wg = randn(SF * SD, 0.5); s_wu = randn(SF * SD, 0.5);
    s_wd = randn(SD * SF, 0.5); s_R = randn(SN * SD, 1);
    double *gx = zeros(SN * SD), *gg = zeros(SF * SD), *gu = zeros(SF * SD), *gd = zeros(SD * SF);
    double scratch[2 * SN * SF];
    loss_swiglu();
    ut_swiglu_backward(gx, gg, gu, gd, s_R, s_g, s_u, s_h, s_x, s_wg, s_wu, s_wd, scratch, SN, SD, SF);
    check("swiglu/x", s_x, gx, SN * SD, loss_swiglu, 1000);
    check("swiglu/w_gate", s_wg, gg, SF * SD, loss_swiglu, 1000);
    check("swiglu/w_up", s_wu, gu, SF * SD, loss_swiglu, 1000);
    check("swiglu/w_down", s_wd, gd, SD * SF, loss_swiglu, 1000);
    free(s_x); free(s_wg); free(s_wu); free(s_wd); free(s_R); free(gx); free(gg); free(gu); free(gd);
}

/* ---- Mixture of Experts: router, top-k, renormalisation, aux and z-loss ---- */
static int MN, MD, MF, ME, MK;   /* set by test_moe */
static const char *m_label;
static const double M_AUX = 0.7, M_Z = 0.3;   /* large coefficients: their gradients must show */
static double *m_x, *m_r, *m_wg, *m_wu, *m_wd, *m_R, *m_out;
static ut_moe_state m_s;
static double loss_moe(void) {
    double aux, z;
    ut_moe_forward(m_out, &aux, &z, &m_s, m_x, m_r, m_wg, m_wu, m_wd, MN, MD, MF, ME, MK);
    return dot(m_out, m_R, MN * MD) + M_AUX * aux + M_Z * z;
}
/* smallest gap between the K-th and (K+1)-th largest router probability */
static double topk_margin(const double *probs, int N, int E, int K) {
    double margin = 1;
    for (int n = 0; n < N; n++) {
        double p[64];
        memcpy(p, probs + (size_t)n * E, E * sizeof(double));
        for (int i = 0; i < E; i++)       /* sort descending (tiny E) */
            for (int j = i + 1; j < E; j++) if (p[j] > p[i]) { double t = p[i]; p[i] = p[j]; p[j] = t; }
        if (K < E && p[K - 1] - p[K] < margin) margin = p[K - 1] - p[K];
    }
    return margin;
}
static void moe_alloc_state(ut_moe_state *s, int N, int D, int F, int E, int K) {
    size_t NK = (size_t)N * K;
    s->probs = zeros((size_t)N * E); s->lse = zeros(N); s->topk_w = zeros(NK);
    s->x = zeros(NK * D); s->gate = zeros(NK * F); s->up = zeros(NK * F); s->h = zeros(NK * F);
    s->out = zeros(NK * D);
    s->topk_e = (int *)calloc(NK, sizeof(int)); s->slot_of = (int *)calloc(NK, sizeof(int));
    s->slot_token = (int *)calloc(NK, sizeof(int)); s->off = (int *)calloc(E + 1, sizeof(int));
    s->count = (int *)calloc(E, sizeof(int));
}
static void moe_free_state(ut_moe_state *s) {
    free(s->probs); free(s->lse); free(s->topk_w); free(s->x); free(s->gate); free(s->up);
    free(s->h); free(s->out); free(s->topk_e); free(s->slot_of); free(s->slot_token); free(s->off);
    free(s->count);
}
static void test_moe(const char *label, int N, int D, int F, int E, int K) {
    MN = N; MD = D; MF = F; ME = E; MK = K; m_label = label;
    m_out = zeros((size_t)N * D);
    moe_alloc_state(&m_s, MN, MD, MF, ME, MK);
    for (int attempt = 0;; attempt++) {
        double aux, z;
        m_x = randn(MN * MD, 1); m_r = randn(ME * MD, 1);
        m_wg = randn(ME * MF * MD, 0.5); m_wu = randn(ME * MF * MD, 0.5); m_wd = randn(ME * MD * MF, 0.5);
        m_R = randn(MN * MD, 1);
        ut_moe_forward(m_out, &aux, &z, &m_s, m_x, m_r, m_wg, m_wu, m_wd, MN, MD, MF, ME, MK);
        double margin = topk_margin(m_s.probs, MN, ME, MK);
        if (margin > 1e-3) { printf("     moe%s: top-k margin %.3g after %d reseed(s)\n", label, margin, attempt); break; }
        free(m_x); free(m_r); free(m_wg); free(m_wu); free(m_wd); free(m_R);
        if (attempt > 100) { printf("FAIL moe could not find inputs without near-ties\n"); n_fail++; return; }
    }
    int used = 0;
    for (int e = 0; e < ME; e++) used += m_s.count[e] > 0;
    double *gx = zeros(MN * MD), *gr = zeros(ME * MD), *gg = zeros(ME * MF * MD);
    double *gu = zeros(ME * MF * MD), *gd = zeros(ME * MD * MF);
    double *scratch = zeros(ut_moe_scratch_floats(MN, MD, MF, ME, MK));
    ut_moe_backward(gx, gr, gg, gu, gd, m_R, (float)M_AUX, (float)M_Z, &m_s, m_x, m_r, m_wg, m_wu, m_wd,
                    scratch, MN, MD, MF, ME, MK);
    printf("     moe%s: %d of %d experts received tokens\n", label, used, ME);
    char name[96];
    snprintf(name, sizeof name, "moe%s/x", label); check(name, m_x, gx, MN * MD, loss_moe, 1000);
    snprintf(name, sizeof name, "moe%s/router (incl. aux + z-loss)", label); check(name, m_r, gr, ME * MD, loss_moe, 1000);
    snprintf(name, sizeof name, "moe%s/w_gate", label); check(name, m_wg, gg, ME * MF * MD, loss_moe, 1000);
    snprintf(name, sizeof name, "moe%s/w_up", label); check(name, m_wu, gu, ME * MF * MD, loss_moe, 1000);
    snprintf(name, sizeof name, "moe%s/w_down", label); check(name, m_wd, gd, ME * MD * MF, loss_moe, 1000);
    /* the two auxiliary losses alone, so their gradients are checked in
       isolation (the expert outputs then have zero weight) */
    memset(m_R, 0, MN * MD * sizeof(double));
    memset(gx, 0, MN * MD * sizeof(double)); memset(gr, 0, ME * MD * sizeof(double));
    ut_moe_backward(gx, gr, gg, gu, gd, m_R, (float)M_AUX, (float)M_Z, &m_s, m_x, m_r, m_wg, m_wu, m_wd,
                    scratch, MN, MD, MF, ME, MK);
    snprintf(name, sizeof name, "moe%s/router (aux + z-loss only)", label); check(name, m_r, gr, ME * MD, loss_moe, 1000);
    free(m_x); free(m_r); free(m_wg); free(m_wu); free(m_wd); free(m_R);
    free(gx); free(gr); free(gg); free(gu); free(gd); free(scratch); free(m_out);
    moe_free_state(&m_s);
}

/* ---- cross-entropy -------------------------------------------------------- */
enum { CN = 6, CV = 11 };
static double *c_logits, c_probs[CN * CV];
static int c_tgt[CN] = {3, 0, 10, -1, 7, 3};   /* -1: ignored position */
static double loss_ce(void) { return ut_crossentropy_forward(c_probs, c_logits, c_tgt, CN, CV); }
static void test_crossentropy(void) {
    c_logits = randn(CN * CV, 2);
    double *g = zeros(CN * CV);
    loss_ce();
    ut_crossentropy_backward(g, c_probs, c_tgt, CN, CV, 1.0f);
    check("crossentropy/logits", c_logits, g, CN * CV, loss_ce, 1000);
    free(c_logits); free(g);
}

/* ---- the whole model -------------------------------------------------------- */
static ut_model g_m;
static int g_in[64], g_tg[64], g_B, g_T;
static double loss_model(void) {
    ut_model_forward(&g_m, g_in, g_tg, g_B, g_T);
    return g_m.loss + g_m.cfg.aux_loss_coef * g_m.aux_loss + g_m.cfg.z_loss_coef * g_m.z_loss;
}
static double model_margin(void) {
    const ut_config *c = &g_m.cfg;
    if (c->n_experts == 1) return 1;
    double mg = 1;
    size_t N = (size_t)g_B * g_T;
    for (int l = 0; l < c->n_layers; l++) {
        double t = topk_margin(g_m.a.router_probs + l * N * c->n_experts, (int)N, c->n_experts, c->top_k);
        if (t < mg) mg = t;
    }
    return mg;
}
static void test_model(const char *label, ut_config c, int B, int T) {
    g_B = B; g_T = T;
    for (uint64_t seed = 1;; seed++) {
        if (ut_model_init(&g_m, &c, seed)) { printf("FAIL model init: %s\n", ut_error()); n_fail++; return; }
        /* larger weights than the standard init so every path carries signal */
        for (size_t i = 0; i < g_m.n_params; i++) g_m.params[i] *= 10;
        for (int i = 0; i < B * T; i++) { g_in[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); g_tg[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); }
        loss_model();
        double mg = model_margin();
        if (mg > 1e-3 || seed > 50) { printf("     model%s: top-k margin %.3g (seed %llu)\n", label, mg, (unsigned long long)seed); break; }
        ut_model_free(&g_m);
    }
    ut_model_zero_grad(&g_m);
    ut_model_backward(&g_m, 1.0f);
    FD_H = 1e-6;
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        if (g_m.sizes[t] == 0) continue;
        char name[80];
        snprintf(name, sizeof name, "model%s/%s", label, ut_tensor_names[t]);
        check(name, g_m.p[t], g_m.g[t], g_m.sizes[t], loss_model, 40);
    }
    FD_H = 1e-5;
    ut_model_free(&g_m);
}

/* ---- LoRA: the adapter's gradients through the whole model ---------------------
   A model with an adapter on every target it allows; B is made random (at
   its init of zero, dA would be zero and prove nothing). The check covers
   each target's A and B of every layer, and that no base weight received a
   gradient (the base is frozen: none is computed).
   QLoRA (bits 8 or 4): the same check with the base's block matrices
   quantized (ut_model_quantize, UT_QBASE) -- the adapter's gradients then
   flow back through the quantized products (ut_qmatmul_backward): with
   N = B*T rows above UT_QROWS through the dequantized f32 product, at or
   below it through the integer loops. The base has no gradient buffer. */
static ut_lora g_lo;
static void test_lora(const char *label, ut_config c, unsigned targets, int B, int T, int bits, int group) {
    g_B = B; g_T = T;
    if (ut_model_init(&g_m, &c, 7) || ut_lora_init(&g_lo, &c, 3, 6.0f, targets, 11)) {
        printf("FAIL lora%s init: %s\n", label, ut_error()); n_fail++; return;
    }
    for (size_t i = 0; i < g_m.n_params; i++) g_m.params[i] *= 10;
    if (bits && ut_model_quantize(&g_m, bits, group, UT_QBASE)) {
        printf("FAIL lora%s quantize: %s\n", label, ut_error()); n_fail++; ut_lora_free(&g_lo); ut_model_free(&g_m); return;
    }
    for (int l = 0; l < c.n_layers; l++)
        for (int t = 0; t < UT_LORA_NT; t++) {
            if (!((targets >> t) & 1u)) continue;
            double *Bm = ut_lora_b(&g_lo, g_lo.params, l, t);
            for (int i = 0; i < g_lo.out[t] * g_lo.rank; i++) Bm[i] = 0.3 * ut_rng_normal(&rng);
        }
    for (int i = 0; i < B * T; i++) { g_in[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); g_tg[i] = (int)(ut_rng_u64(&rng) % c.vocab_size); }
    g_m.lora = &g_lo;
    loss_model();
    if (!bits) ut_model_zero_grad(&g_m);
    ut__zero(g_lo.grads, g_lo.n_params);
    ut_model_backward(&g_m, 1.0f);
    /* QLoRA: a smaller step. The int4 base of these tiny matrices, times 10,
       has sharper curvature, and the central difference's h^2 term would
       exceed TOL at 1e-6 (seen: 2.3e-6 on one A); 3e-7 keeps it below. */
    FD_H = bits ? 3e-7 : 1e-6;
    for (int l = 0; l < c.n_layers; l++)
        for (int t = 0; t < UT_LORA_NT; t++) {
            if (!((targets >> t) & 1u)) continue;
            char name[80];
            size_t na = (size_t)g_lo.rank * g_lo.in[t], nb = (size_t)g_lo.out[t] * g_lo.rank;
            snprintf(name, sizeof name, "lora%s/L%d.%s.A", label, l, ut_lora_target_names[t]);
            check(name, ut_lora_a(&g_lo, g_lo.params, l, t), ut_lora_a(&g_lo, g_lo.grads, l, t), na, loss_model, 40);
            snprintf(name, sizeof name, "lora%s/L%d.%s.B", label, l, ut_lora_target_names[t]);
            check(name, ut_lora_b(&g_lo, g_lo.params, l, t), ut_lora_b(&g_lo, g_lo.grads, l, t), nb, loss_model, 40);
        }
    FD_H = 1e-5;
    size_t nonzero = 0;
    for (size_t i = 0; g_m.grads && i < g_m.n_params; i++) nonzero += g_m.grads[i] != 0;
    if (nonzero) n_fail++;
    if (g_m.grads)
        printf("%s lora%s: frozen base, %zu of %zu base gradients nonzero\n", nonzero ? "FAIL" : "PASS", label, nonzero,
               g_m.n_params);
    else
        printf("PASS lora%s: frozen quantized base, no gradient buffer (%zu f32 numbers left)\n", label, g_m.n_params);
    g_m.lora = NULL;
    ut_lora_free(&g_lo);
    ut_model_free(&g_m);
}

int main(void) {
    rng = ut_rng_seed(42);
    test_embedding();
    test_rmsnorm();
    test_linear(0);
    test_linear(1);
    test_rope();
    test_attention("(GQA H4 KVH2)", 2, 6, 4, 2, 4, 0);
    test_attention("(MQA H3 KVH1)", 1, 5, 3, 1, 4, 0);
    test_attention("(MHA)", 1, 5, 2, 2, 6, 0);
    test_attention("(window 3)", 2, 7, 4, 2, 4, 3);
    /* longer sequences: several MR-row strips (the causal skipping in the
       products works strip by strip), head_dim over one NR-wide panel */
    test_attention("(T 20)", 1, 20, 2, 1, 4, 0);
    test_attention("(T 19 HD 20 window 6)", 1, 19, 2, 2, 20, 6);
    /* several key tiles of the tiled version (UT__ATT_TILE = 64), T not a
       multiple of the tile: the online softmax across tiles, skipped tiles
       above the diagonal, and with a window, skipped tiles before it (at
       T 150, W 5 the last query tile skips key tile 0; W 70 spans a tile) */
    test_attention("(tiled T 150 GQA H4 KVH2)", 1, 150, 4, 2, 4, 0);
    test_attention("(tiled T 150 MQA H3 KVH1 window 5)", 1, 150, 3, 1, 4, 5);
    test_attention("(tiled T 131 GQA window 70)", 2, 131, 4, 2, 6, 70);
    test_swiglu();
    test_moe("", 9, 6, 5, 4, 2);
    /* more experts than one group of the grouped products (UT__GROUP = 16) */
    test_moe(" (E 20 top-3)", 40, 6, 5, 20, 3);
    test_crossentropy();

    ut_config c = ut_config_default();
    c.vocab_size = 13; c.max_seq_len = 8; c.n_layers = 2; c.d_model = 8; c.n_heads = 4;
    c.n_kv_heads = 2; c.head_dim = 4; c.ffn_hidden = 6; c.n_experts = 4; c.top_k = 2;
    c.sliding_window = 3; c.aux_loss_coef = 0.5f; c.z_loss_coef = 0.25f;
    test_model("(MoE E4 K2, GQA, window)", c, 2, 5);
    c.n_experts = 1; c.top_k = 1; c.tie_embeddings = 1; c.sliding_window = 0;
    test_model("(dense, GQA, tied)", c, 2, 5);
    test_lora("(dense, q k v o gate up down)", c, (1u << UT_LORA_NT) - 1, 2, 5, 0, 0);
    /* QLoRA: groups of 3 (rows of 8 and 6: a short last group); N = 10 rows
       go through the dequantized product (the integer loops of N <= UT_QROWS
       are checked against it in test_props: qmatmul_*) */
    test_lora("(QLoRA int4 g3, dense)", c, (1u << UT_LORA_NT) - 1, 2, 5, 4, 3);
    test_lora("(QLoRA int8 g5, dense)", c, (1u << UT_LORA_NT) - 1, 2, 5, 8, 5);
    c.n_experts = 4; c.top_k = 2; c.tie_embeddings = 0;
    test_lora("(MoE E4 K2, q k v o)", c, 0xFu, 2, 5, 0, 0);
    test_lora("(QLoRA int4 g3, MoE E4 K2)", c, 0xFu, 2, 5, 4, 3);

    printf("%s: %d gradient check(s) failed\n", n_fail ? "FAILED" : "ok", n_fail);
    return n_fail ? 1 : 0;
}
