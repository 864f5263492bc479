/* train.c — the ultrathink command line: train a model, sample from it.

     ./train [OPTIONS]          train a model on a token file (./train --help)
     ./train sample [OPTIONS]   generate text from a checkpoint (./train sample --help)

   Everything about the model lives in ultrathink.h; this file is the driver a
   user runs. It reads top to bottom in the order a run happens:

     1. options     one table per command; strict parsing (form, then range)
     2. output      the live progress line, metrics.jsonl, clear error lines
     3. sampling    the KV cache generating text, one position per token
     4. train       train_setup checks every input; then train_loop repeats
                      train_step (zero grads; grad_accum x (batch, forward,
                      backward); AdamW step), log_step (metrics, evaluate,
                      progress line), sample, save. --dry-run times train_step.
     5. sample      the `sample` subcommand
     6. main

   NOTHING LOST. Every input is checked before anything is written (a bad flag,
   file or checkpoint gives one "train: error: ..." line and exit status 1, and
   leaves the output folder as it was). Checkpoints are written atomically by
   ut_checkpoint_save (PATH.tmp, fsync, rename), so `kill -9` at any moment loses
   at most the steps since the last save. A checkpoint holds the model config,
   the training settings, the weights, both AdamW moments, the step and the data
   loader's random state: `--resume` continues with exactly the batches and
   updates an uninterrupted run would have made (the gradients are zeroed at
   every step, so nothing else is needed) — the losses match bit for bit. A
   NaN/inf loss or gradient stops the run without saving the bad state.
   Ctrl-C (SIGINT) finishes the current step, saves and exits.            */
#define ULTRATHINK_IMPLEMENTATION
#include "ultrathink.h"   /* first: it asks for POSIX (fsync, fileno, isatty) */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ===========================================================================
   1. OPTIONS
   Each command has a table: name, type, where the value goes, its allowed
   range, help text. Parsing is strict: strtol/strtod must consume the whole
   argument, and the value must lie in [lo, hi]. "stored" options are saved in
   the checkpoint: on --resume, giving one with a different value is an error
   (a resumed run is the same run; see the README).
   ======================================================================== */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "train: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

enum { OPT_INT, OPT_U64, OPT_FLOAT, OPT_STR, OPT_FLAG };
typedef struct {
    const char *name;     /* without the leading "--" */
    int type;
    void *dst;
    double lo, hi;        /* inclusive range (numbers only) */
    int stored;           /* 1: part of the checkpoint's config or training settings */
    const char *help;
    const char *arg;      /* the text given on the command line (NULL: not given) */
} option;

/* Strict number parsing: the whole string must be a number and lie in range. */
static void parse_value(option *o, const char *s) {
    char *end = NULL;
    errno = 0;
    if (o->type == OPT_INT || o->type == OPT_U64) {
        if (o->type == OPT_U64 && strchr(s, '-')) die("--%s: '%s' must be a non-negative integer", o->name, s);
        unsigned long long u = 0;
        long long v = 0;
        if (o->type == OPT_U64) u = strtoull(s, &end, 10); else v = strtoll(s, &end, 10);
        if (errno == ERANGE) die("--%s: %s is out of range", o->name, s);
        if (end == s || *end || errno) die("--%s: '%s' is not an integer", o->name, s);
        double d = o->type == OPT_U64 ? (double)u : (double)v;
        if (d < o->lo || d > o->hi) die("--%s: %s is out of range [%.15g, %.15g]", o->name, s, o->lo, o->hi);
        if (o->type == OPT_INT) *(int *)o->dst = (int)v; else *(uint64_t *)o->dst = u;
    } else if (o->type == OPT_FLOAT) {
        double v = strtod(s, &end);
        if (errno == ERANGE && end != s && !*end) die("--%s: %s is out of range", o->name, s);
        if (end == s || *end || errno || !isfinite(v)) die("--%s: '%s' is not a number", o->name, s);
        if (v < o->lo || v > o->hi) die("--%s: %s is out of range [%g, %g]", o->name, s, o->lo, o->hi);
        *(float *)o->dst = (float)v;
    } else if (o->type == OPT_STR) {
        *(const char **)o->dst = s;
    }
}

/* Accepts "--name value", "--name=value" and "--flag". Returns 1 if --help. */
static int parse_options(option *opts, int argc, char **argv, const char *cmd) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if (strncmp(a, "--", 2) != 0) die("unexpected argument '%s' (options start with --; see %s --help)", a, cmd);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        option *o = NULL;
        for (option *p = opts; p->name; p++)
            if (p->name[0] != '#' && strlen(p->name) == len && !strncmp(p->name, name, len)) o = p;
        if (!o) die("unknown option --%.*s (see %s --help)", (int)len, name, cmd);
        if (o->arg) die("--%s is given twice", o->name);
        if (o->type == OPT_FLAG) {
            if (eq) die("--%s takes no value", o->name);
            *(int *)o->dst = 1;
            o->arg = "";
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) die("--%s needs a value (see %s --help)", o->name, cmd);
        o->arg = val;
        parse_value(o, val);
    }
    return 0;
}

static void format_value(const option *o, const void *p, char *buf, size_t n) {
    switch (o->type) {
    case OPT_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case OPT_U64: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case OPT_FLOAT: snprintf(buf, n, "%g", *(const float *)p); break;
    case OPT_STR: snprintf(buf, n, "%s", *(const char *const *)p ? *(const char *const *)p : "(none)"); break;
    default: snprintf(buf, n, "%s", *(const int *)p ? "on" : "off");
    }
}

static void print_help(const char *usage, const option *opts) {
    printf("%s\n", usage);
    for (const option *o = opts; o->name; o++) {
        if (o->name[0] == '#') { printf("\n%s\n", o->help); continue; }   /* a heading */
        char def[256], left[64];
        format_value(o, o->dst, def, sizeof def);
        const char *meta = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? (strcmp(o->name, "prompt") ? " PATH" : " TEXT") : o->type == OPT_FLOAT ? " X" : " N";
        snprintf(left, sizeof left, "--%s%s", o->name, meta);
        printf("  %-18s %s", left, o->help);
        if (o->type != OPT_FLAG) printf(" [%s]", def);
        printf("\n");
    }
}

/* ===========================================================================
   2. OUTPUT
   ======================================================================== */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
/* when this process started: eval rows of metrics.jsonl carry the wall time
   since then ("elapsed_s"), so time-to-quality can be read off the file */
static double t_process;

/* On a terminal the progress line is redrawn in place with \r; anything else
   printed first clears it (so lines never mix). Not a terminal (a log file,
   CI): plain lines every --log-every steps. */
static int tty;
static int progress_shown;
static void clear_progress(void) {
    if (progress_shown) { printf("\r\033[K"); progress_shown = 0; }
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (s < 0 || !isfinite(s)) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* metrics.jsonl: one JSON object per line, flushed at once so that a killed
   run keeps everything up to its last line. */
static FILE *metrics;
static const char *metrics_path;
static void metrics_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void metrics_write(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int bad = vfprintf(metrics, fmt, ap) < 0;
    va_end(ap);
    if (bad || fputc('\n', metrics) == EOF || fflush(metrics) != 0)
        die("writing %s failed: %s", metrics_path, strerror(errno));
}

/* On --resume, the rows a killed run wrote after its last checkpoint describe
   steps that will be run again: keep only rows with step <= the checkpoint's
   (and only complete lines), so the file reads like one uninterrupted run. */
/* metrics.jsonl must be a regular file (or not exist yet): a device such as
   /dev/full reads as endless zeros (getline would grow without end) and a pipe
   blocks; either gets one error line before anything is written. */
static void metrics_check_regular(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return;
        die("cannot read %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) die("%s is not a regular file: move it away to write the run's metrics", path);
}

static void metrics_truncate_to(const char *path, uint64_t step) {
    metrics_check_regular(path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return;      /* no metrics yet: nothing to keep */
        die("cannot read %s: %s", path, strerror(errno));
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "wb");
    if (!o) die("cannot write %s: %s", tmp, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') break;   /* a line cut short by the kill */
        const char *s = strstr(line, "\"step\":");
        if (!s || strtoull(s + 7, NULL, 10) > step) continue;
        if (fwrite(line, 1, (size_t)n, o) != (size_t)n) die("writing %s failed: %s", tmp, strerror(errno));
    }
    free(line);
    if (ferror(f)) die("reading %s failed: %s", path, strerror(errno));
    fclose(f);
    if (fflush(o) != 0 || fsync(fileno(o)) != 0 || fclose(o) != 0) die("writing %s failed: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }
static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

static void set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}
static int num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ===========================================================================
   3. SAMPLING
   ut_kv_step feeds one token and returns the logits for the next, so each new
   token costs one position, not a whole forward pass. The cache holds
   max_seq_len positions (the model's context, --seq). When it is full we
   slide: restart the cache and re-feed ("prefill") the last half of the text,
   then carry on. RoPE encodes positions relative to the cache start, which is
   exactly what the model saw in training (windows always start at position 0).
   ======================================================================== */

static void print_token(const ut_tokenizer *tk, int vocab, int id) {
    if (tk && tk->blob) fwrite(tk->token_bytes[id], 1, tk->token_len[id], stdout);
    else if (vocab <= 257 && id < 256) putchar(id);
    else printf("<%d>", id);
}

/* Prints n new tokens after the prompt; returns 0 or -1 (ut_error()). */
static int generate(const ut_model *m, ut_kv_cache *kv, const ut_tokenizer *tk, const int *prompt, int np,
                    int n, float temperature, int top_k, float top_p, uint64_t *rng) {
    int S = m->cfg.max_seq_len, keep = S / 2 > 0 ? S / 2 : 1, len = 0;
    int *hist = (int *)malloc(((size_t)np + n) * sizeof(int));
    if (!hist) die("out of memory");
    ut_float *logits = NULL;
    kv->pos = 0;
    for (int i = 0; i < np + n; i++) {
        if (i >= np) {   /* sample the next token from the last logits */
            hist[len] = ut_sample(logits, m->cfg.vocab_size, temperature, top_k, top_p, rng);
            print_token(tk, m->cfg.vocab_size, hist[len]);
            fflush(stdout);
            if (i == np + n - 1) break;   /* printed the last one; no need to feed it */
        } else hist[len] = prompt[i];
        len++;
        if (kv->pos == S) {               /* cache full: slide */
            kv->pos = 0;
            for (int j = len - keep; j < len - 1; j++)
                if (!ut_kv_step(kv, m, hist[j])) { free(hist); return -1; }
        }
        if (!(logits = ut_kv_step(kv, m, hist[len - 1]))) { free(hist); return -1; }
    }
    free(hist);
    return 0;
}

/* The token generation starts from when there is no prompt: a newline, as a
   text starts after one. With a tokenizer, the id whose bytes are "\n";
   without, byte 10 if the vocabulary has it; else (a vocabulary of 10 or
   fewer, or a tokenizer without a newline) token 0, which always exists. */
static int start_token(const ut_tokenizer *tk, int vocab) {
    if (tk && tk->blob) {
        for (int id = 0; id < vocab; id++)
            if (tk->token_len[id] == 1 && tk->token_bytes[id][0] == '\n') return id;
        return 0;
    }
    return vocab > '\n' ? '\n' : 0;
}

/* Turns a prompt into ids: with a tokenizer its merges, else raw bytes (a
   byte-level model). An empty prompt starts from start_token. */
static int encode_prompt(const ut_tokenizer *tk, int vocab, const char *text, int **out) {
    size_t n = strlen(text);
    *out = (int *)malloc((n + 1) * sizeof(int));
    if (!*out) die("out of memory");
    if (n == 0) { (*out)[0] = start_token(tk, vocab); return 1; }
    if (tk && tk->blob) return ut_tokenizer_encode(tk, text, *out, (int)n);
    if (vocab < 256) die("the model's vocabulary (%d) is not byte-level: give --tokenizer to encode the prompt", vocab);
    for (size_t i = 0; i < n; i++) (*out)[i] = (unsigned char)text[i];
    return (int)n;
}

static void load_tokenizer(ut_tokenizer *tk, const char *path, int vocab) {
    memset(tk, 0, sizeof *tk);
    if (!path) return;
    if (ut_tokenizer_load(tk, path)) die("%s", ut_error());
    if ((int)tk->vocab_size != vocab)
        die("tokenizer %s has a vocabulary of %u but the model's is %d (a different tokenizer?)",
            path, tk->vocab_size, vocab);
}

/* --resume DIR means DIR/ckpt.bin; anything else is the checkpoint file. */
static void checkpoint_path(const char *resume, char *buf, size_t n) {
    if (is_dir(resume)) snprintf(buf, n, "%s/ckpt.bin", resume);
    else snprintf(buf, n, "%s", resume);
}

/* ===========================================================================
   4. TRAIN
   A run in five parts, each a function below:
     train_setup   options, then every input checked (nothing written yet)
     train_step    one optimizer step: the heart of training
     dry_run       time a few steps and print sizes, then exit (--dry-run)
     log_step      metrics.jsonl rows, evaluations, the progress line
     train_loop    steps until done, sampling and saving as asked
   ======================================================================== */

typedef struct {
    ut_config mc;
    ut_train_config tc;
    int threads, eval_every, eval_batches, sample_every, sample_tokens, save_every, log_every, dry_run, stop_at;
    int recompute;   /* an execution choice like threads: not stored, never a resume conflict */
    const char *train_path, *val_path, *tok_path, *out_dir, *resume;
} settings;

/* The model and the optimiser start from the library's defaults,
   ut_config_default() and ut_train_config_default(): they ARE the `make run`
   model and settings (the whole architecture: GQA with 4 query heads sharing 2
   KV heads, RoPE, SwiGLU, 4 experts with top-2 routing; sized so that `make
   run` trains it on Tiny Shakespeare in under 5 minutes on a 2-core laptop).
   Only the settings that exist in this program alone are set here. */
static settings default_settings(void) {
    settings s;
    memset(&s, 0, sizeof s);
    s.mc = ut_config_default();
    s.tc = ut_train_config_default();
    s.eval_every = 100; s.eval_batches = 10; s.sample_every = 0; s.sample_tokens = 200;
    s.save_every = 100; s.log_every = 0;
    s.out_dir = "out";
    return s;
}

#define BIG 1e9
static option *train_options(settings *s) {
    static option o[64];
    option t[] = {
        {"#", 0, NULL, 0, 0, 0, "model (stored in the checkpoint; head_dim = dim / heads; vocab comes from the token file):", NULL},
        {"layers", OPT_INT, &s->mc.n_layers, 1, 1024, 1, "transformer blocks L", NULL},
        {"dim", OPT_INT, &s->mc.d_model, 2, 65536, 1, "model width D", NULL},
        {"heads", OPT_INT, &s->mc.n_heads, 1, 4096, 1, "query heads H", NULL},
        {"kv-heads", OPT_INT, &s->mc.n_kv_heads, 1, 4096, 1, "key/value heads KVH (GQA; = heads: multi-head)", NULL},
        {"ffn", OPT_INT, &s->mc.ffn_hidden, 1, 1 << 20, 1, "SwiGLU hidden size F (of each expert)", NULL},
        {"experts", OPT_INT, &s->mc.n_experts, 1, 1024, 1, "experts E (1 = dense MLP)", NULL},
        {"top-k", OPT_INT, &s->mc.top_k, 1, 64, 1, "experts per token K", NULL},
        {"seq", OPT_INT, &s->tc.seq_len, 1, 1 << 20, 1, "context length T (also the model's max_seq_len)", NULL},
        {"rope-theta", OPT_FLOAT, &s->mc.rope_theta, 1.0001, 1e9, 1, "RoPE base", NULL},
        {"tie", OPT_FLAG, &s->mc.tie_embeddings, 0, 1, 1, "tie the LM head to the token embedding", NULL},
        {"window", OPT_INT, &s->mc.sliding_window, 0, 1 << 20, 1, "sliding attention window (0 = full causal)", NULL},
        {"aux-coef", OPT_FLOAT, &s->mc.aux_loss_coef, 0, 1000, 1, "MoE load-balancing loss weight", NULL},
        {"z-coef", OPT_FLOAT, &s->mc.z_loss_coef, 0, 1000, 1, "MoE router z-loss weight", NULL},
        {"#", 0, NULL, 0, 0, 0, "optimisation (stored in the checkpoint):", NULL},
        {"batch", OPT_INT, &s->tc.batch_size, 1, 1 << 20, 1, "sequences per micro-batch B", NULL},
        {"grad-accum", OPT_INT, &s->tc.grad_accum, 1, 1 << 20, 1, "micro-batches per optimizer step", NULL},
        {"steps", OPT_INT, &s->tc.total_steps, 1, BIG, 1, "optimizer steps", NULL},
        {"lr", OPT_FLOAT, &s->tc.lr, 1e-12, 10, 1, "peak learning rate", NULL},
        {"min-lr", OPT_FLOAT, &s->tc.min_lr, 0, 10, 1, "final learning rate (cosine decay to it; default lr/10)", NULL},
        {"warmup", OPT_INT, &s->tc.warmup_steps, 0, BIG, 1, "linear warmup steps (at most 10% of --steps unless given)", NULL},
        {"weight-decay", OPT_FLOAT, &s->tc.weight_decay, 0, 10, 1, "AdamW decoupled weight decay", NULL},
        {"clip", OPT_FLOAT, &s->tc.grad_clip, 0, 1e9, 1, "clip the global gradient norm (0 = off)", NULL},
        {"seed", OPT_U64, &s->tc.seed, 0, 1.8e19, 1, "random seed (weights and data order)", NULL},
        {"threads", OPT_INT, &s->threads, 0, 4096, 0, "OpenMP threads (0 = OMP_NUM_THREADS or all cores)", NULL},
        {"recompute", OPT_FLAG, &s->recompute, 0, 1, 0, "keep only each layer's input, recompute the layer in the backward pass (less memory, ~1/3 more time, same numbers)", NULL},
        {"#", 0, NULL, 0, 0, 0, "data (token files from `tokenizer encode`):", NULL},
        {"train", OPT_STR, &s->train_path, 0, 0, 0, "training tokens", NULL},
        {"val", OPT_STR, &s->val_path, 0, 0, 0, "validation tokens (none: no evaluation)", NULL},
        {"tokenizer", OPT_STR, &s->tok_path, 0, 0, 0, "tokenizer, to print samples as text", NULL},
        {"#", 0, NULL, 0, 0, 0, "monitoring and checkpoints:", NULL},
        {"eval-every", OPT_INT, &s->eval_every, 0, BIG, 0, "evaluate every N steps (0 = only at the end)", NULL},
        {"eval-batches", OPT_INT, &s->eval_batches, 1, BIG, 0, "batches per periodic evaluation (the final one reads all of --val)", NULL},
        {"sample-every", OPT_INT, &s->sample_every, 0, BIG, 0, "print a sample every N steps and at the end (0 = never)", NULL},
        {"sample-tokens", OPT_INT, &s->sample_tokens, 1, BIG, 0, "tokens per sample", NULL},
        {"log-every", OPT_INT, &s->log_every, 0, BIG, 0, "progress line every N steps when not a terminal (0 = auto)", NULL},
        {"out", OPT_STR, &s->out_dir, 0, 0, 0, "output folder: ckpt.bin, metrics.jsonl (default with --resume DIR: DIR)", NULL},
        {"save-every", OPT_INT, &s->save_every, 0, BIG, 0, "save a checkpoint every N steps (0 = only at the end)", NULL},
        {"resume", OPT_STR, &s->resume, 0, 0, 0, "continue the run in DIR (DIR/ckpt.bin) or from a checkpoint FILE", NULL},
        {"stop-at", OPT_INT, &s->stop_at, 0, BIG, 0, "save and stop after step N, to continue later with --resume (0 = off)", NULL},
        {"dry-run", OPT_FLAG, &s->dry_run, 0, 1, 0, "print sizes, FLOPs, memory and the time per step, then exit", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    memcpy(o, t, sizeof t);
    return o;
}
static const option *find_opt(const option *o, const char *name) {
    for (; o->name; o++) if (!strcmp(o->name, name)) return o;
    return NULL;
}
/* --resume: every stored option given on the command line must agree with
   the checkpoint. The option table points into `s`; the same offset inside
   `ck` (a copy holding the checkpoint's values) is the stored value. */
static void check_resume_conflicts(const option *opts, const settings *s, const settings *ck, const char *path) {
    for (const option *o = opts; o->name; o++) {
        if (!o->stored || !o->arg) continue;
        const void *mine = o->dst, *theirs = (const char *)ck + ((const char *)o->dst - (const char *)s);
        size_t sz = o->type == OPT_U64 ? 8 : 4;
        if (memcmp(mine, theirs, sz) != 0) {
            char v[64];
            format_value(o, theirs, v, sizeof v);
            die("--%s %s conflicts with the checkpoint %s, which has %s (a resumed run keeps its settings; "
                "leave the flag out, or start a new run with another --out)", o->name, o->arg, path, v);
        }
    }
}
/* Everything one run holds. train_setup fills it, train_free frees it
   whichever way the run ends (every pointer starts NULL). */
typedef struct {
    settings s;
    ut_model m;
    ut_progress pr;                /* step, tokens seen, the data loader's rng */
    ut_tokens train, val;
    ut_tokenizer tk;
    ut_kv_cache kv;                /* for the samples printed during training */
    int have_val, B, T;
    long long tok_per_step;        /* B * T * grad_accum */
    double fpt;                    /* training FLOPs per token */
    int *in, *tgt;                 /* (B, T) one micro-batch */
    double *load;                  /* (L, E) tokens routed to each expert since the last report */
    char ckpt_in[4096], ckpt_out[4096], mpath[4096];
    /* monitoring, set by start_monitoring and train_loop */
    int log_every, eval_batches, full_batches;
    double val_loss, aux_sum, z_sum, t_start, last_draw;
    int moe_n, start;
} run;

/* ---- setup: every input is checked before anything is written ---------- */

/* --resume: the checkpoint's model and training settings replace the
   defaults (a flag that disagrees with them is an error). */
static void resume_settings(run *r, const option *opts) {
    settings *s = &r->s;
    checkpoint_path(s->resume, r->ckpt_in, sizeof r->ckpt_in);
    if (!file_exists(r->ckpt_in)) die("--resume: no checkpoint at %s", r->ckpt_in);
    settings ck = *s;
    if (ut_checkpoint_load(r->ckpt_in, &r->m, &ck.tc, &r->pr)) die("%s", ut_error());
    ck.mc = r->m.cfg;
    check_resume_conflicts(opts, s, &ck, r->ckpt_in);
    s->mc = ck.mc;
    s->tc = ck.tc;
    if (!find_opt(opts, "out")->arg) {   /* write back where the run lives */
        static char dir[4096];
        snprintf(dir, sizeof dir, "%s", s->resume);
        if (!is_dir(dir)) { char *sl = strrchr(dir, '/'); if (sl) *sl = 0; else strcpy(dir, "."); }
        s->out_dir = dir;
    }
}

/* Parses the command line into r->s. Returns 1 if it printed --help. */
static int parse_train_args(run *r, int argc, char **argv) {
    settings *s = &r->s;
    *s = default_settings();
    option *opts = train_options(s);
    if (parse_options(opts, argc, argv, "train")) {
        print_help("usage: train [OPTIONS]          (train sample --help: generate text)\n"
                   "Trains a model on a token file; writes OUT/ckpt.bin and OUT/metrics.jsonl.\n"
                   "The defaults shown are the `make run` defaults (ut_config_default and ut_train_config_default\n"
                   "in ultrathink.h): the whole architecture, sized to train Tiny Shakespeare in under 5 minutes\n"
                   "on a 2-core laptop.", opts);
        return 1;
    }
    set_threads(s->threads);
    if (strlen(s->out_dir) > 3000) die("--out is too long");
    /* --experts 1 without --top-k: a dense model routes every token to its one expert */
    if (!find_opt(opts, "top-k")->arg && s->mc.top_k > s->mc.n_experts) s->mc.top_k = s->mc.n_experts;
    if (!find_opt(opts, "min-lr")->arg) s->tc.min_lr = s->tc.lr / 10;   /* the usual: decay to lr/10 */
    if (!find_opt(opts, "warmup")->arg && s->tc.warmup_steps > s->tc.total_steps / 10)
        s->tc.warmup_steps = s->tc.total_steps / 10;                     /* short runs: 10% warmup */
    if (!s->train_path) die("no training data: give --train FILE (a token file from `tokenizer encode`; `make run` makes one)");
    if (s->resume) resume_settings(r, opts);
    r->B = s->tc.batch_size;
    r->T = s->tc.seq_len;
    return 0;
}

/* The token files: they must agree with each other (and with the checkpoint)
   and hold at least one sequence of T+1 tokens. */
static void load_data(run *r) {
    const settings *s = &r->s;
    int T = r->T;
    if (ut_tokens_load(&r->train, s->train_path)) die("%s", ut_error());
    r->have_val = s->val_path != NULL;
    if (r->have_val && ut_tokens_load(&r->val, s->val_path)) die("%s", ut_error());
    if (r->have_val && r->val.vocab_size != r->train.vocab_size)
        die("%s has vocabulary %u but %s has %u (made with different tokenizers?)", s->val_path, r->val.vocab_size,
            s->train_path, r->train.vocab_size);
    if (r->have_val && r->val.n_bytes == 0) die("%s: its header says it encodes 0 bytes of text", s->val_path);
    if (s->resume && (int)r->train.vocab_size != r->m.cfg.vocab_size)
        die("%s has vocabulary %u but the checkpoint %s was trained with %d (a different tokenizer?)",
            s->train_path, r->train.vocab_size, r->ckpt_in, r->m.cfg.vocab_size);
    if (r->train.n_tokens < (uint64_t)T + 1)
        die("%s holds %llu tokens, fewer than one sequence (--seq %d needs %d); use more text or a smaller --seq",
            s->train_path, (unsigned long long)r->train.n_tokens, T, T + 1);
    if (r->have_val && r->val.n_tokens < (uint64_t)T + 1)
        die("%s holds %llu tokens, fewer than one sequence (--seq %d needs %d)", s->val_path,
            (unsigned long long)r->val.n_tokens, T, T + 1);
}

/* A new run: the vocabulary comes from the token file, the context from
   --seq; then the config is checked and the weights drawn from the seed. */
static void init_model(run *r) {
    ut_config *mc = &r->s.mc;
    const ut_train_config *tc = &r->s.tc;
    mc->vocab_size = (int)r->train.vocab_size;
    mc->max_seq_len = r->T;
    if (mc->d_model % mc->n_heads) die("--dim %d is not divisible by --heads %d (head_dim = dim / heads)", mc->d_model, mc->n_heads);
    mc->head_dim = mc->d_model / mc->n_heads;
    if (ut_config_validate(mc)) die("%s", ut_error());
    if (tc->min_lr > tc->lr) die("--min-lr %g is larger than --lr %g", tc->min_lr, tc->lr);
    if (tc->warmup_steps > tc->total_steps) die("--warmup %d is longer than --steps %d", tc->warmup_steps, tc->total_steps);
    if (ut_model_init(&r->m, mc, tc->seed)) die("%s", ut_error());
    r->pr.data_rng = ut_rng_seed(tc->seed ^ 0xDA7A0DA7A0ull);   /* its own stream, apart from the weights' */
}

/* THE RUN FOLDER'S LOCK. Two runs writing one folder would replace each
   other's checkpoint (and share ckpt.bin.tmp), so a run holds a POSIX record
   lock (fcntl F_SETLK) on OUT/lock for its whole life and writes its pid
   there. The kernel drops the lock when the process ends, however it ends:
   after kill -9 the file stays, with a dead pid in it, and blocks nothing.
   The file is never removed (a run removing it while another opens it would
   let the two lock different files of one name). Only a run that will train
   writes it: `train sample` and --dry-run only read, and take no lock. */
static int lock_fd = -1;

/* Takes OUT/lock, held until the process ends. create = 0: a folder without
   a lock file has no holder, return -1; create = 1: make the file. Another
   run holding it is an error that names its pid. Returns 0 when held. */
static int lock_run_folder(const char *dir, int create) {
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | (create ? O_CREAT : 0), 0666);
    if (fd < 0) {
        if (!create && (errno == ENOENT || errno == ENOTDIR)) return -1;   /* no folder or no lock file yet */
        die("cannot open the run folder's lock %s: %s", path, strerror(errno));
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK; fl.l_whence = SEEK_SET;   /* l_start = l_len = 0: the whole file */
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        if (errno != EACCES && errno != EAGAIN) die("cannot lock %s: %s", path, strerror(errno));
        long pid = 0;                               /* the holder: from the kernel, else from the file */
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK; fl.l_whence = SEEK_SET;
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) pid = (long)fl.l_pid;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (pid <= 0 && n > 0) { buf[n] = 0; pid = strtol(buf, NULL, 10); }
        die("%s is in use by another run (pid %ld holds %s): wait for it to end, or choose another --out",
            dir, pid, path);
    }
    lock_fd = fd;
    return 0;
}
/* The holder writes its pid into the lock file, for the error above and for
   a person looking at the folder. */
static void lock_write_pid(const char *dir) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, buf, (size_t)n, 0) != n)
        die("writing %s/lock failed: %s", dir, strerror(errno));
}

/* Never replace another run's checkpoint: a new run needs a fresh --out, and
   --resume A --out B may only write to B if B's checkpoint is A itself. A
   folder another run is writing is an error first (see the lock above). */
static void check_output_paths(run *r) {
    const settings *s = &r->s;
    snprintf(r->ckpt_out, sizeof r->ckpt_out, "%s/ckpt.bin", s->out_dir);
    snprintf(r->mpath, sizeof r->mpath, "%s/metrics.jsonl", s->out_dir);
    if (s->dry_run) return;
    lock_run_folder(s->out_dir, 0);      /* an existing folder: is it in use? (open_output takes it otherwise) */
    if (!file_exists(r->ckpt_out)) return;
    if (!s->resume)
        die("%s already exists: continue it with --resume %s, or choose another --out", r->ckpt_out, s->out_dir);
    struct stat a, b;
    if (stat(r->ckpt_in, &a) || stat(r->ckpt_out, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        die("%s already exists and is not the checkpoint being resumed (%s): choose another --out", r->ckpt_out, r->ckpt_in);
}

static void print_config_line(const char *what, const ut_config *c, const ut_train_config *t, int threads) {
    double p = ut_num_params(c) / 1e6, a = ut_num_active_params(c) / 1e6;
    char extra[64] = "";
    if (c->sliding_window) snprintf(extra, sizeof extra, " window=%d", c->sliding_window);
    printf("%s: L=%d D=%d H=%d KVH=%d HD=%d F=%d E=%d K=%d T=%d V=%d%s%s | %.2fM params (%.2fM active/token) | "
           "batch %dx%d accum %d | %d steps, lr %g->%g, warmup %d, wd %g, clip %g, seed %llu | %d threads\n",
           what, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_hidden, c->n_experts,
           c->top_k, t->seq_len, c->vocab_size, c->tie_embeddings ? " tied" : "",
           extra, p, a, t->batch_size, t->seq_len, t->grad_accum, t->total_steps,
           t->lr, t->min_lr, t->warmup_steps, t->weight_decay, t->grad_clip, (unsigned long long)t->seed, threads);
}
/* Everything before the first step. Returns 1 if it printed --help. */
static int train_setup(run *r, int argc, char **argv) {
    if (parse_train_args(r, argc, argv)) return 1;
    load_data(r);
    if (!r->s.resume) init_model(r);
    load_tokenizer(&r->tk, r->s.tok_path, r->s.mc.vocab_size);
    check_output_paths(r);
    const ut_config *mc = &r->s.mc;
    r->in = (int *)malloc((size_t)r->B * r->T * sizeof(int));
    r->tgt = (int *)malloc((size_t)r->B * r->T * sizeof(int));
    r->load = (double *)calloc((size_t)mc->n_layers * mc->n_experts, sizeof(double));
    if (!r->in || !r->tgt || !r->load) die("out of memory");
    r->m.recompute = r->s.recompute;   /* activation checkpointing (ut_model.recompute) */
    r->fpt = ut_flops_per_token(mc, r->T);
    r->tok_per_step = (long long)r->B * r->T * r->s.tc.grad_accum;
    print_config_line(r->s.resume ? "resume" : "train", mc, &r->s.tc, num_threads());
    return 0;
}

static void train_free(run *r) {
    if (metrics) fclose(metrics);
    metrics = NULL;
    ut_kv_free(&r->kv);
    ut_tokenizer_free(&r->tk);
    ut_tokens_free(&r->train);
    ut_tokens_free(&r->val);
    ut_model_free(&r->m);
    free(r->in); free(r->tgt); free(r->load);
}

/* ---- one step ----------------------------------------------------------- */

typedef struct {
    double loss, aux, z;   /* mean over the micro-batches (aux, z: MoE only) */
    float lr;              /* the scheduled learning rate */
    double grad_norm;      /* before clipping */
} step_result;

/* A NaN/inf stops the run before anything bad is saved: the last checkpoint
   written stays the good one to resume from (ut_checkpoint_save refuses
   non-finite numbers too, so nothing bad can have been saved before). */
static void stop_not_finite(const run *r, const char *what, int step) __attribute__((noreturn));
static void stop_not_finite(const run *r, const char *what, int step) {
    clear_progress();
    die("%s at step %d: stopping; the last good checkpoint is kept (%s)", what, step,
        file_exists(r->ckpt_out) ? r->ckpt_out : "none saved yet");
}

/* One optimizer step (`step` counts from 0):
     zero the gradients (backward always adds into them);
     grad_accum times: draw a micro-batch, forward, backward scaled by
       1/grad_accum, so the gradients sum to the mean over all micro-batches;
     one AdamW step at the scheduled learning rate.
   The expert counts are added to r->load. The loss is kept in double, as
   ut_model_forward returns it. */
static step_result train_step(run *r, int step) {
    ut_model *m = &r->m;
    const ut_train_config *tc = &r->s.tc;
    int accum = tc->grad_accum, LE = m->cfg.n_layers * m->cfg.n_experts;
    step_result st = {0, 0, 0, ut_lr_at(tc, step), 0};
    ut_model_zero_grad(m);
    for (int a = 0; a < accum; a++) {
        ut_batch_random(&r->train, &r->pr.data_rng, r->B, r->T, r->in, r->tgt);
        double loss = ut_model_forward(m, r->in, r->tgt, r->B, r->T);
        if (loss < 0) die("%s", ut_error());
        if (!isfinite(loss)) {
            char what[64];
            snprintf(what, sizeof what, "the loss is %g", loss);
            stop_not_finite(r, what, step + 1);
        }
        st.loss += loss; st.aux += m->aux_loss; st.z += m->z_loss;
        for (int i = 0; m->cfg.n_experts > 1 && i < LE; i++) r->load[i] += m->expert_count[i];
        ut_model_backward(m, 1.0f / accum);
    }
    st.loss /= accum; st.aux /= accum; st.z /= accum;
    st.grad_norm = ut_adamw_step(m, tc, st.lr, step + 1);
    /* A finite gradient can still give non-finite weights or moments (a huge
       lr or weight decay, or g^2 overflowing): look at what the update made. */
    char what[600];
    if (!isfinite(st.grad_norm)) snprintf(what, sizeof what, "the gradient norm is %g", st.grad_norm);
    else if (ut_model_check_state(m)) snprintf(what, sizeof what, "the update made %s", ut_error());
    else return st;
    stop_not_finite(r, what, step + 1);   /* the weights are now bad */
}

/* ---- --dry-run: sizes, FLOPs, memory and the time of a real step --------- */

static void dry_run(run *r) {
    const ut_config *mc = &r->s.mc;
    const ut_train_config *tc = &r->s.tc;
    ut_memory mem = ut_memory_estimate(mc, r->B, r->T, r->s.recompute);
    printf("parameters:      %zu total, %zu active per token%s\n", ut_num_params(mc), ut_num_active_params(mc),
           mc->n_experts > 1 ? " (MoE: K of E experts)" : "");
    printf("FLOPs per token: %.3g (training: forward + backward)\n", r->fpt);
    printf("memory:          %.1f MB = params %.1f + grads %.1f + AdamW %.1f + activations %.1f%s\n",
           mem.total / 1e6, mem.params / 1e6, mem.grads / 1e6, mem.optimizer / 1e6, mem.activations / 1e6,
           r->s.recompute ? " (--recompute)" : "");
    double t_step = 0;
    for (int i = 0; i < 3; i++) {   /* the first step also allocates: time steps 2 and 3 */
        double t0 = now_s();
        train_step(r, i);
        if (i > 0) t_step += (now_s() - t0) / 2;
    }
    int left = tc->total_steps - (int)r->pr.step;
    char eta[32];
    fmt_duration(eta, sizeof eta, t_step * left);
    printf("time per step:   %.1f ms (%.0f tokens/s, %.2f GFLOP/s); %d steps -> about %s\n", 1e3 * t_step,
           r->tok_per_step / t_step, r->fpt * r->tok_per_step / t_step / 1e9, left, eta);
}

/* ---- logging: metrics.jsonl, evaluations, the progress line ------------- */

/* Mean cross-entropy over `batches` of the `all` batches of consecutive
   windows that tile the validation tokens, spread evenly over the file (its
   start can be easier than its end). ut_batch_sequential is deterministic and
   never touches the training rng. */
static double evaluate(ut_model *m, const ut_tokens *val, int B, int T, int batches, int all, int *in, int *tgt) {
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        ut_batch_sequential(val, (uint64_t)i * all / batches, B, T, in, tgt);
        double loss = ut_model_forward(m, in, tgt, B, T);
        if (loss < 0) die("%s", ut_error());
        sum += loss;
    }
    return sum / batches;
}

/* Validation loss in nats/token -> bits per byte of text, comparable across
   tokenizers: nats/token * tokens/byte / ln 2. */
static double bits_per_byte(const ut_tokens *val, double loss) {
    return loss * ((double)val->n_tokens / (double)val->n_bytes) / log(2.0);
}
/* Expert load: the fraction of (token, choice) slots each expert received,
   per layer, summed over the steps since the last report. 1/E each is balanced. */
static void print_expert_load(const ut_config *c, const double *load, const char *indent) {
    for (int l = 0; l < c->n_layers; l++) {
        double tot = 0;
        for (int e = 0; e < c->n_experts; e++) tot += load[l * c->n_experts + e];
        printf("%slayer %d:", indent, l);
        for (int e = 0; e < c->n_experts; e++) printf(" %.3f", tot > 0 ? load[l * c->n_experts + e] / tot : 0);
        printf("\n");
    }
}
static void metrics_expert_load(uint64_t step, const ut_config *c, const double *load, double aux, double z) {
    char buf[65536];
    size_t n = 0;
    n += snprintf(buf + n, sizeof buf - n, "{\"step\":%llu,\"aux_loss\":%.6g,\"z_loss\":%.6g,\"expert_load\":[",
                  (unsigned long long)step, aux, z);
    for (int l = 0; l < c->n_layers && n < sizeof buf - 64; l++) {
        double tot = 0;
        for (int e = 0; e < c->n_experts; e++) tot += load[l * c->n_experts + e];
        n += snprintf(buf + n, sizeof buf - n, "%s[", l ? "," : "");
        for (int e = 0; e < c->n_experts && n < sizeof buf - 64; e++)
            n += snprintf(buf + n, sizeof buf - n, "%s%.4f", e ? "," : "", tot > 0 ? load[l * c->n_experts + e] / tot : 0);
        n += snprintf(buf + n, sizeof buf - n, "]");
    }
    metrics_write("%s]}", buf);
}
/* Evaluates on `batches` validation batches and writes the val row. */
static void log_eval(run *r, int step, int batches, int full) {
    r->val_loss = evaluate(&r->m, &r->val, r->B, r->T, batches, r->full_batches, r->in, r->tgt);
    metrics_write("{\"step\":%d,\"val_loss\":%.9g,\"val_bpb\":%.6g,\"elapsed_s\":%.2f%s}", step, r->val_loss,
                  bits_per_byte(&r->val, r->val_loss), now_s() - t_process, full ? ",\"full\":true" : "");
}

/* The progress line: redrawn in place on a terminal (at most 10 times a
   second), a plain line every log_every steps and at each evaluation
   otherwise. After an evaluation, the expert load is printed under it. */
static void print_progress(run *r, const step_result *st, int s1, int last, int evaluated, double tps) {
    const ut_config *mc = &r->s.mc;
    int total = r->s.tc.total_steps;
    double el = now_s() - r->t_start, eta = el / (s1 - r->start) * (total - s1);
    char line[512], etas[32], vs[64] = "";
    fmt_duration(etas, sizeof etas, last ? el : eta);
    if (!isnan(r->val_loss))
        snprintf(vs, sizeof vs, "  val %.4f (%.3f bpb)", r->val_loss, bits_per_byte(&r->val, r->val_loss));
    snprintf(line, sizeof line, "step %*d/%d  loss %.4f%s  lr %.2e  |g| %.2f  %.0f tok/s  %.2f GFLOP/s  %s %s",
             (int)(log10(total) + 1), s1, total, st->loss, vs, st->lr, st->grad_norm, tps, r->fpt * tps / 1e9,
             last ? "took" : "ETA", etas);
    if (tty && (now_s() - r->last_draw > 0.1 || last || evaluated)) {
        printf("\r%s\033[K", line);
        progress_shown = 1;
        r->last_draw = now_s();
    }
    if (evaluated) {
        if (tty) { printf("\n"); progress_shown = 0; }
        else printf("%s\n", line);
        if (mc->n_experts > 1) {
            printf("  expert load (fraction of routed tokens; %.3f each = balanced), aux %.3f:\n",
                   1.0 / mc->n_experts, r->aux_sum / r->moe_n);
            print_expert_load(mc, r->load, "    ");
        }
    } else if (!tty && (s1 % r->log_every == 0 || last)) printf("%s\n", line);
}

/* Everything reported after step s1 (counted from 1): the train row of
   metrics.jsonl; every --eval-every steps and at the end an evaluation (the
   last one reads the whole validation file) and the expert load since the last
   report; then the progress line. */
static void log_step(run *r, const step_result *st, int s1, int last, double dt) {
    const settings *s = &r->s;
    int moe = s->mc.n_experts > 1;
    double tps = r->tok_per_step / dt;
    r->aux_sum += st->aux; r->z_sum += st->z; r->moe_n++;
    if (moe) metrics_write("{\"step\":%d,\"train_loss\":%.9g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f,"
                           "\"ms\":%.2f,\"aux_loss\":%.6g,\"z_loss\":%.6g}", s1, st->loss, st->lr, st->grad_norm,
                           tps, 1e3 * dt, st->aux, st->z);
    else metrics_write("{\"step\":%d,\"train_loss\":%.9g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f,"
                       "\"ms\":%.2f}", s1, st->loss, st->lr, st->grad_norm, tps, 1e3 * dt);
    int periodic = s->eval_every && s1 % s->eval_every == 0;
    int evaluated = r->have_val && (periodic || last);
    int report = evaluated || last || (!r->have_val && periodic);
    if (evaluated) log_eval(r, s1, last ? r->full_batches : r->eval_batches, last);
    if (moe && report) metrics_expert_load((uint64_t)s1, &s->mc, r->load, r->aux_sum / r->moe_n, r->z_sum / r->moe_n);
    print_progress(r, st, s1, last, evaluated, tps);
    if (report) {   /* the next report covers the steps from here */
        memset(r->load, 0, sizeof(double) * s->mc.n_layers * s->mc.n_experts);
        r->aux_sum = r->z_sum = 0; r->moe_n = 0;
    }
}

/* ---- the loop ----------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }
static void save_or_die(const char *path, const ut_model *m, const ut_train_config *tc, const ut_progress *pr) {
    if (ut_checkpoint_save(path, m, tc, pr)) die("%s", ut_error());
}
/* The output folder: created and locked for this run, its metrics.jsonl
   opened (on --resume cut back to the checkpoint's step). Returns 1 if the checkpoint has no steps left. */
static int open_output(run *r) {
    const settings *s = &r->s;
    if (make_dirs(s->out_dir)) die("cannot create output folder %s: %s", s->out_dir, strerror(errno));
    if (lock_fd < 0) lock_run_folder(s->out_dir, 1);
    lock_write_pid(s->out_dir);
    metrics_check_regular(r->mpath);
    if (s->resume) metrics_truncate_to(r->mpath, r->pr.step);
    metrics_path = r->mpath;
    if (!(metrics = fopen(r->mpath, s->resume ? "ab" : "wb"))) die("cannot write %s: %s", r->mpath, strerror(errno));
    if (s->resume && r->pr.step >= (uint64_t)s->tc.total_steps) {
        printf("the checkpoint %s has finished all %d steps: nothing to do\n", r->ckpt_in, s->tc.total_steps);
        return 1;
    }
    return 0;
}

/* Before the first step: how often to print, how many validation batches
   an evaluation reads, and for a new run the loss of the untrained model. */
static void start_monitoring(run *r) {
    const settings *s = &r->s;
    int total = s->tc.total_steps;
    tty = isatty(fileno(stdout));
    r->log_every = s->log_every ? s->log_every : (total >= 50 ? total / 50 : 1);
    int windows = r->have_val ? (int)((r->val.n_tokens - 1) / (uint64_t)r->T) : 0;
    r->full_batches = windows / r->B > 0 ? windows / r->B : 1;
    r->eval_batches = s->eval_batches < r->full_batches ? s->eval_batches : r->full_batches;
    r->val_loss = NAN;
    if (r->have_val && r->pr.step == 0) {   /* step 0: the loss of the untrained model, near ln V */
        log_eval(r, 0, r->eval_batches, 0);
        printf("step 0: val_loss %.4f (ln V = %.4f), val_bpb %.4f\n", r->val_loss, log((double)s->mc.vocab_size),
               bits_per_byte(&r->val, r->val_loss));
    }
}

/* --sample-every: a sample from the model as it is now, from a newline
   (start_token: token 0 if the vocabulary has no newline). */
static void print_sample(run *r, int step, uint64_t *rng) {
    clear_progress();
    printf("--- sample at step %d ---\n", step);
    int first = start_token(&r->tk, r->s.mc.vocab_size);
    if (generate(&r->m, &r->kv, &r->tk, &first, 1, r->s.sample_tokens, 0.8f, 0, 0.95f, rng)) die("%s", ut_error());
    printf("\n---\n");
}

static void print_summary(const run *r) {
    clear_progress();
    if (r->have_val)
        printf("final: val_loss %.4f nats/token, val_bpb %.4f bits/byte (%d x %d tokens of %s)\n", r->val_loss,
               bits_per_byte(&r->val, r->val_loss), r->full_batches, r->B * r->T, r->s.val_path);
    printf("saved %s (step %llu, %llu tokens seen) in %.1f s\n", r->ckpt_out, (unsigned long long)r->pr.step,
           (unsigned long long)r->pr.tokens_seen, now_s() - r->t_start);
}

/* Trains from the current step to --steps. Returns the exit status: 0, or
   130 after Ctrl-C (which saves first). */
static int train_loop(run *r) {
    const settings *s = &r->s;
    int total = s->tc.total_steps;
    if (open_output(r)) return 0;
    if (ut_kv_init(&r->kv, &r->m)) die("%s", ut_error());
    signal(SIGINT, on_sigint);
    start_monitoring(r);
    uint64_t sample_rng = ut_rng_seed(s->tc.seed + 7);
    r->t_start = now_s();
    r->start = (int)r->pr.step;
    for (int step = r->start; step < total; step++) {
        double t0 = now_s();
        step_result st = train_step(r, step);
        r->pr.step = (uint64_t)step + 1;
        r->pr.tokens_seen += (uint64_t)r->tok_per_step;
        int s1 = step + 1, last = s1 == total;
        log_step(r, &st, s1, last, now_s() - t0);
        if (s->sample_every && (s1 % s->sample_every == 0 || last)) print_sample(r, s1, &sample_rng);
        int stop = !last && (interrupted || s1 == s->stop_at);
        if ((s->save_every && s1 % s->save_every == 0) || last || stop) save_or_die(r->ckpt_out, &r->m, &s->tc, &r->pr);
        fflush(stdout);
        if (stop) {
            clear_progress();
            printf("%s: saved step %d to %s; continue with: ./train --resume %s\n",
                   interrupted ? "\ninterrupted" : "stopped (--stop-at)", s1, r->ckpt_out, s->out_dir);
            return interrupted ? 130 : 0;
        }
    }
    print_summary(r);
    return 0;
}

static int train_main(int argc, char **argv) {
    static run r;   /* static: zeroed, and its settings outlive the option table pointing into them */
    if (train_setup(&r, argc, argv)) return 0;
    int rc = 0;
    if (r.s.dry_run) dry_run(&r);
    else rc = train_loop(&r);
    train_free(&r);
    return rc;
}

/* ===========================================================================
   5. SAMPLE: ./train sample --resume DIR|FILE [--tokenizer TOK] [--prompt TEXT]
   ======================================================================== */

static int sample_main(int argc, char **argv) {
    const char *resume = NULL, *tok_path = NULL, *prompt = "";
    int tokens = 256, top_k = 0, threads = 0, count = 1;
    float temperature = 0.8f, top_p = 0.95f;
    uint64_t seed = 1337;
    option opts[] = {
        {"resume", OPT_STR, &resume, 0, 0, 0, "checkpoint: a run folder (DIR/ckpt.bin) or a file (required)", NULL},
        {"tokenizer", OPT_STR, &tok_path, 0, 0, 0, "tokenizer (needed unless the model is byte-level)", NULL},
        {"prompt", OPT_STR, &prompt, 0, 0, 0, "text to continue (empty: start from a newline)", NULL},
        {"tokens", OPT_INT, &tokens, 1, BIG, 0, "tokens to generate", NULL},
        {"temperature", OPT_FLOAT, &temperature, 0, 100, 0, "softmax temperature (0 = greedy)", NULL},
        {"top-k", OPT_INT, &top_k, 0, BIG, 0, "sample among the k most likely (0 = all)", NULL},
        {"top-p", OPT_FLOAT, &top_p, 1e-6, 1, 0, "nucleus: the smallest set with this much probability", NULL},
        {"seed", OPT_U64, &seed, 0, 1.8e19, 0, "random seed", NULL},
        {"samples", OPT_INT, &count, 1, 1000, 0, "how many samples", NULL},
        {"threads", OPT_INT, &threads, 0, 4096, 0, "OpenMP threads (0 = all)", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train sample")) {
        print_help("usage: train sample --resume DIR|FILE [OPTIONS]\n"
                   "Generates text from a checkpoint with the KV cache (one position per new token).\n"
                   "When the context (--seq of the run) is full, the last half is re-fed and generation goes on.", opts);
        return 0;
    }
    set_threads(threads);
    if (!resume) die("sample needs --resume DIR|FILE (a run folder or a checkpoint)");
    char path[4096];
    checkpoint_path(resume, path, sizeof path);
    ut_model m;
    ut_train_config tc;
    ut_progress pr;
    if (ut_checkpoint_load(path, &m, &tc, &pr)) die("%s", ut_error());
    ut_tokenizer tk;
    load_tokenizer(&tk, tok_path, m.cfg.vocab_size);
    if (!tok_path && m.cfg.vocab_size > 257)
        fprintf(stderr, "train: note: no --tokenizer: printing token ids\n");
    int *ids, np = encode_prompt(&tk, m.cfg.vocab_size, prompt, &ids);
    ut_kv_cache kv;
    if (ut_kv_init(&kv, &m)) die("%s", ut_error());
    uint64_t rng = ut_rng_seed(seed);
    for (int i = 0; i < count; i++) {
        if (count > 1) printf("--- sample %d ---\n", i + 1);
        fputs(prompt, stdout);
        if (generate(&m, &kv, &tk, ids, np, tokens, temperature, top_k, top_p, &rng)) die("%s", ut_error());
        printf("\n");
    }
    free(ids);
    ut_kv_free(&kv);
    ut_tokenizer_free(&tk);
    ut_model_free(&m);
    return 0;
}

/* ===========================================================================
   6. MAIN
   ======================================================================== */

int main(int argc, char **argv) {
    t_process = now_s();
    if (argc > 1 && !strcmp(argv[1], "sample")) return sample_main(argc - 2, argv + 2);
    return train_main(argc - 1, argv + 1);
}
