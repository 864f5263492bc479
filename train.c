/* train.c — the ultrathink command line: train a model, sample from it,
   evaluate it.

     ./train [OPTIONS]          train a model on a token file (./train --help)
     ./train sample [OPTIONS]   generate text from a checkpoint (./train sample --help)
     ./train eval [OPTIONS]     loss, bits per byte, perplexity on a token file
     ./train export [OPTIONS]   the model as GGUF (llama.cpp) or a Hugging Face folder
                                (./train export --help; the formats: export.h)
     ./train import --hf DIR --out RUN   a Hugging Face folder as a run folder
                                (to sample, evaluate or fine-tune: --init-from RUN)
     ./train merge --adapter RUN --out RUN2   a LoRA run's adapter merged into its base
     ./train dashboard RUN...   write RUN/dashboard.html again (dashboard.h)
     ./train report RUN... --out compare.html   a page comparing runs (dashboard.h)

   Everything about the model lives in ultrathink.h; this file is the driver a
   user runs. It reads top to bottom in the order a run happens:

     1. options     one table per command; strict parsing (form, then range)
     2. output      the live progress line, metrics.jsonl, clear error lines,
                    the run record (run.json: what the run was made from)
     3. sampling    the KV cache generating text, one position per token
     4. train       train_setup checks every input; then train_loop repeats
                      train_step (zero grads; grad_accum x (batch, forward,
                      backward); AdamW step), log_step (metrics, evaluate,
                      progress line), sample, save. --dry-run times train_step.
     5. sample, eval  the subcommands that read a checkpoint
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
   Ctrl-C (SIGINT) or SIGTERM finishes the current step, saves and exits.  */
#define _XOPEN_SOURCE 700     /* POSIX with the X/Open extras: realpath */
#define ULTRATHINK_IMPLEMENTATION
#include "ultrathink.h"   /* first: it asks for POSIX (fsync, fileno, isatty) */
#ifdef UT_GPU            /* make train_gpu: the compute calls go to the GPU (train_gpu.h) */
#include <stdio.h>
#include <stdlib.h>
#include "train_gpu.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "dashboard.h"    /* RUN/dashboard.html, ./train dashboard, ./train report */
#include "export.h"       /* GGUF and Hugging Face out (./train export) and in (--init-from-hf, ./train import) */
#include "comm.h"         /* the ranks of a data-parallel run: one (./train) or many (./train_mpi) */

/* This process's place among the ranks of a data-parallel run (section 4,
   "several processes"): rank 0 of 1 in ./train; in ./train_mpi, set by
   comm_init in main. */
static ut_comm g_comm = {.rank = 0, .world = 1, .local_world = 1, .backend = "single"};

/* ===========================================================================
   1. OPTIONS
   Each command has a table: name, type, where the value goes, its allowed
   range, help text. Parsing is strict: strtol/strtod must consume the whole
   argument, and the value must lie in [lo, hi]. "stored" options are saved in
   the checkpoint: on --resume, giving one with a different value is an error
   (a resumed run is the same run; see the README).
   ======================================================================== */

/* Set while a run writes its folder: records the failure there (the "end"
   row and the dashboard, section 4) before the process exits. */
static void (*on_die)(const char *msg);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* With several ranks (./train_mpi) the error names its rank, and the whole
   job ends (comm_abort): the other ranks may be waiting in a collective for
   this one, and would wait for ever. Most errors (a bad flag or file) happen
   on every rank at once: the ranks after 0 wait a moment first, so that
   rank 0's line usually comes alone (its abort ends them before they print). */
static void die(const char *fmt, ...) {
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (g_comm.world > 1) {
        if (g_comm.rank > 0) { struct timespec ts = {0, 300000000}; nanosleep(&ts, NULL); }
        fprintf(stderr, "train: error: [rank %d of %d] %s\n", g_comm.rank, g_comm.world, msg);
    } else {
        fprintf(stderr, "train: error: %s\n", msg);
    }
    if (on_die) { void (*f)(const char *) = on_die; on_die = NULL; f(msg); }   /* once: f may fail too */
    fflush(stderr);
    comm_abort(&g_comm, 1);   /* one rank: exit(1); several: MPI_Abort ends every rank */
}

enum { OPT_INT, OPT_U64, OPT_FLOAT, OPT_STR, OPT_FLAG };
typedef struct {
    const char *name;     /* without the leading "--" */
    int type;
    void *dst;
    double lo, hi;        /* inclusive range (numbers only) */
    int stored;           /* 1: part of the checkpoint's config or training settings;
                             2: a monitoring setting, kept in the run record (run.json) */
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
/* the command line as typed, for the run record and the dashboard's config row */
static int g_argc;
static char **g_argv;

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
    if (g_comm.rank > 0) return;   /* only rank 0 writes the run folder */
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

/* ---- the run record: OUT/run.json ----------------------------------------
   A run folder says what made it, so that it can be continued and checked
   later without remembering anything:
     train, val, tokenizer  each input by absolute path, size in bytes and the
                            FNV-1a 64 checksum of its bytes (null: not given)
     init_from              a fine-tuning run only: the model it started from
                            (the checkpoint file, or the model.safetensors of
                            a Hugging Face folder), the same way
     build                  the compiler, OpenMP or not, the float width
     runs                   one line per start: when, from which step, in
                            which folder, with which command line
   `./train --resume RUN` alone continues on the recorded files. A file whose
   checksum differs from the record is an error for the training data and the
   tokenizer (--force goes on, and records the new file); `train sample` and
   `train eval` take the run's tokenizer and validation file from it. The
   file is written at each start, atomically (run.json.tmp, then rename). We
   are its only writer, so the reader only has to understand that one shape
   (anything else is reported as damaged). */

typedef struct {
    char path[4096];               /* absolute */
    unsigned long long bytes, hash;
    int set;                       /* 0: no such input */
} file_id;

typedef struct {
    file_id train, val, tok;
    file_id init;                  /* a fine-tuning run: its starting model (set = 0: none) */
    char *runs;                    /* the "runs" lines so far (NULL: none) */
    char options[2048];            /* the "options" line: the monitoring settings (stored = 2) */
    int found;                     /* 0: the folder has no run.json */
} run_record;

/* Path, size and checksum of a file (read once, 64 KiB at a time). */
static void file_identify(const char *path, file_id *id) {
    memset(id, 0, sizeof *id);
    if (!path) return;
    if (!realpath(path, id->path)) die("cannot find %s: %s", path, strerror(errno));
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read %s: %s", path, strerror(errno));
    static uint8_t buf[1 << 16];
    uint64_t h = UT_FNV_INIT;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) { h = ut__fnv(h, buf, n); id->bytes += n; }
    int bad = ferror(f);
    fclose(f);
    if (bad) die("cannot read %s", path);
    id->hash = h;
    id->set = 1;
}

/* JSON strings: quote, backslash and control characters escaped. */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}
/* Reads the JSON string at *p (as json_string wrote it) into out. */
static int json_read_string(const char **p, char *out, size_t n) {
    const char *q = *p;
    size_t k = 0;
    if (*q++ != '"') return -1;
    for (; *q && *q != '"'; q++) {
        char c = *q;
        if (c == '\\') {
            q++;
            if (*q == 'u') { unsigned v; if (sscanf(q + 1, "%4x", &v) != 1 || v > 0x7f) return -1; c = (char)v; q += 4; }
            else if (*q == '"' || *q == '\\' || *q == '/') c = *q;
            else return -1;
        }
        if (k + 1 >= n) return -1;
        out[k++] = c;
    }
    if (*q != '"') return -1;
    out[k] = 0;
    *p = q + 1;
    return 0;
}

static void record_write_file(FILE *f, const char *key, const file_id *id) {
    fprintf(f, "  \"%s\": ", key);
    if (!id->set) { fprintf(f, "null,\n"); return; }
    fprintf(f, "{\"path\": ");
    json_string(f, id->path);
    fprintf(f, ", \"bytes\": %llu, \"fnv1a64\": \"%016llx\"},\n", id->bytes, id->hash);
}
/* key: null, or {"path": "...", "bytes": N, "fnv1a64": "HEX"}. */
static int record_read_file(const char *text, const char *key, file_id *id) {
    char pat[64];
    memset(id, 0, sizeof *id);
    snprintf(pat, sizeof pat, "\n  \"%s\": ", key);
    const char *p = strstr(text, pat);
    if (!p) return -1;
    p += strlen(pat);
    if (!strncmp(p, "null", 4)) return 0;
    if (strncmp(p, "{\"path\": ", 9)) return -1;
    p += 9;
    if (json_read_string(&p, id->path, sizeof id->path)) return -1;
    if (sscanf(p, ", \"bytes\": %llu, \"fnv1a64\": \"%16llx\"}", &id->bytes, &id->hash) != 2) return -1;
    id->set = 1;
    return 0;
}

/* The record in DIR, if any. A damaged one is an error (it is small and
   ours: damage means something went wrong that the user should see). */
static void record_read(const char *dir, run_record *rec) {
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", dir);
    free(rec->runs);
    memset(rec, 0, sizeof *rec);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return;
        die("cannot read %s: %s", path, strerror(errno));
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int toolong = n == sizeof text - 1;
    fclose(f);
    text[n] = 0;
    const char *runs = strstr(text, "\n  \"runs\": [\n"), *end = runs ? strstr(runs, "\n  ]\n}") : NULL;
    if (toolong || strncmp(text, "{\n  \"format\": \"ultrathink run 1\",", 33) || record_read_file(text, "train", &rec->train) ||
        record_read_file(text, "val", &rec->val) || record_read_file(text, "tokenizer", &rec->tok) || !end)
        die("%s is damaged (move it away to go on without the run's record)", path);
    if (strstr(text, "\n  \"init_from\": ") && record_read_file(text, "init_from", &rec->init))
        die("%s is damaged (move it away to go on without the run's record)", path);
    const char *o = strstr(text, "\n  \"options\": {"), *oe = o ? strchr(o + 1, '\n') : NULL;
    if (o && oe && oe - o < (long)sizeof rec->options) { memcpy(rec->options, o + 1, (size_t)(oe - o - 1)); }
    runs += strlen("\n  \"runs\": [\n");
    size_t len = end > runs ? (size_t)(end - runs) : 0;   /* the lines between the brackets */
    if (!(rec->runs = (char *)malloc(len + 1))) die("out of memory");
    memcpy(rec->runs, runs, len);
    rec->runs[len] = 0;
    rec->found = 1;
}

/* Writes DIR/run.json: the inputs in use, the monitoring options, the build,
   the earlier runs' lines and a new one for this start (from_step). */
static void record_write(const char *dir, const run_record *rec, const option *opts, uint64_t from_step) {
    char path[4200], tmp[4300], when[32], cwd[4096];
    snprintf(path, sizeof path, "%s/run.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "?");
    FILE *f = fopen(tmp, "wb");
    if (!f) die("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "{\n  \"format\": \"ultrathink run 1\",\n");
    record_write_file(f, "train", &rec->train);
    record_write_file(f, "val", &rec->val);
    record_write_file(f, "tokenizer", &rec->tok);
    if (rec->init.set) record_write_file(f, "init_from", &rec->init);
    fprintf(f, "  \"options\": {");
    int first = 1;
    for (const option *o = opts; o->name; o++) {
        if (o->stored != 2) continue;
        char v[64];
        if (o->type == OPT_FLAG) snprintf(v, sizeof v, "%d", *(const int *)o->dst);
        else format_value(o, o->dst, v, sizeof v);
        fprintf(f, "%s\"%s\": %s", first ? "" : ", ", o->name, v);
        first = 0;
    }
    fprintf(f, "},\n");
#if defined(__clang__)
    const char *compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *compiler = "gcc " __VERSION__;
#else
    const char *compiler = "unknown";
#endif
#ifdef _OPENMP
    const char *omp = "true";
#else
    const char *omp = "false";
#endif
    fprintf(f, "  \"build\": {\"compiler\": ");
    json_string(f, compiler);
    fprintf(f, ", \"openmp\": %s, \"float_bits\": %d},\n", omp, (int)(8 * sizeof(ut_float)));
    fprintf(f, "  \"runs\": [\n");
    if (rec->runs && rec->runs[0]) fprintf(f, "%s,\n", rec->runs);
    fprintf(f, "    {\"started\": \"%s\", \"from_step\": %llu, \"cwd\": ", when, (unsigned long long)from_step);
    json_string(f, cwd);
    fprintf(f, ", \"command\": [");
    for (int i = 0; i < g_argc; i++) { if (i) fprintf(f, ", "); json_string(f, g_argv[i]); }
    fprintf(f, "]}\n  ]\n}\n");
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) { fclose(f); remove(tmp); die("writing %s failed: %s", tmp, strerror(errno)); }
    if (fclose(f) != 0 || rename(tmp, path) != 0) { remove(tmp); die("cannot write %s: %s", path, strerror(errno)); }
}

/* The folder holding a checkpoint FILE (its run folder), or DIR itself. */
static void run_dir_of(const char *resume, char *buf, size_t n) {
    snprintf(buf, n, "%s", resume);
    if (is_dir(buf)) return;
    char *sl = strrchr(buf, '/');
    if (sl) *sl = 0; else snprintf(buf, n, ".");
}

/* A file given now against the record: the same bytes, or (what) an error
   unless --force. "differs" names both so the user can tell which is which. */
static int file_differs(const file_id *now, const file_id *rec) {
    return now->set && rec->set && (now->hash != rec->hash || now->bytes != rec->bytes);
}
static void check_against_record(const char *flag, const file_id *now, const file_id *rec, int force, int fatal,
                                 const char *forced) {
    if (!file_differs(now, rec)) return;
    if (fatal && !force)
        die("--%s %s is not the file this run recorded (%s, %llu bytes, checksum %016llx; this one: %llu bytes, "
            "%016llx): give the recorded file, or --force to go on with this one", flag, now->path, rec->path,
            rec->bytes, rec->hash, now->bytes, now->hash);
    fprintf(stderr, "train: note: --%s %s differs from the recorded %s%s\n", flag, now->path, rec->path,
            fatal ? forced : "");
}
/* --resume: the monitoring options (stored = 2) not given now take the
   values the run recorded, so a resumed run evaluates, samples and saves as
   before. A value the record holds that this build refuses is damage. The
   recorded --zero applies on several ranks only: one process has nothing to
   share its AdamW state with (typed, --zero 1 runs the ZeRO path anyway). */
static void apply_recorded_options(option *opts, const run_record *rec) {
    for (option *o = opts; o->name; o++) {
        if (o->stored != 2 || o->arg || !rec->options[0]) continue;
        if (!strcmp(o->name, "zero") && g_comm.world == 1) continue;
        char pat[64], val[64];
        snprintf(pat, sizeof pat, "\"%s\": ", o->name);
        const char *p = strstr(rec->options, pat);
        if (!p || sscanf(p + strlen(pat), "%63[0-9.e+-]", val) != 1) continue;   /* an option newer than the record */
        if (o->type == OPT_FLAG) *(int *)o->dst = atoi(val) != 0;
        else parse_value(o, val);
    }
}

/* A path not given: the recorded one, if it still exists. */
static const char *recorded_path(const char *given, const file_id *rec, const char *flag) {
    if (given || !rec->set) return given;
    if (!file_exists(rec->path))
        die("the run was recorded with --%s %s, which no longer exists: give --%s FILE", flag, rec->path, flag);
    return rec->path;
}

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
/* Several ranks on one machine share its cores: each takes cores / ranks
   threads (at least 1), unless OMP_NUM_THREADS or --threads says otherwise.
   0 = no change (one rank per machine: all cores, as ./train). */
static int threads_per_rank(void) {
#ifdef _OPENMP
    if (g_comm.local_world > 1 && !getenv("OMP_NUM_THREADS")) {
        int n = omp_get_num_procs() / g_comm.local_world;
        return n > 0 ? n : 1;
    }
#endif
    return 0;
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

/* Bytes of the text being generated: to stdout, and to the dashboard's copy
   while a sample during training is being kept (dash_capture, dashboard.h). */
static void emit_bytes(const void *p, size_t n) {
    fwrite(p, 1, n, stdout);
    dash_capture_add(p, n);
}
static void print_token(const ut_tokenizer *tk, int vocab, int id) {
    if (tk && tk->blob) emit_bytes(tk->token_bytes[id], tk->token_len[id]);
    else if (vocab <= 257 && id < 256) { unsigned char c = (unsigned char)id; emit_bytes(&c, 1); }
    else { char buf[16]; int n = snprintf(buf, sizeof buf, "<%d>", id); emit_bytes(buf, (size_t)n); }
}

/* Prints n new tokens after the prompt; returns 0 or -1 (ut_error()). */
/* `train sample --probs FILE`: every generated token's distribution
   softmax(logits) (V floats, little-endian f32, before temperature), for
   comparing with another runtime (test/export_clients.mjs). */
static FILE *probs_out;
static void write_probs(const ut_float *logits, int V) {
    double mx = logits[0], sum = 0;
    for (int i = 1; i < V; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < V; i++) sum += exp(logits[i] - mx);
    for (int i = 0; i < V; i++) {
        float p = (float)(exp(logits[i] - mx) / sum);
        if (fwrite(&p, 4, 1, probs_out) != 1) die("cannot write --probs: %s", strerror(errno));
    }
}

static int generate(const ut_model *m, ut_kv_cache *kv, const ut_tokenizer *tk, const int *prompt, int np,
                    int n, float temperature, int top_k, float top_p, uint64_t *rng) {
    int S = m->cfg.max_seq_len, keep = S / 2 > 0 ? S / 2 : 1, len = 0;
    int *hist = (int *)malloc(((size_t)np + n) * sizeof(int));
    if (!hist) die("out of memory");
    ut_float *logits = NULL;
    kv->pos = 0;
    for (int i = 0; i < np + n; i++) {
        if (i >= np) {   /* sample the next token from the last logits */
            if (probs_out) write_probs(logits, m->cfg.vocab_size);
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
    int threads, eval_every, eval_batches, eval_tokens, sample_every, sample_tokens, save_every, log_every, dry_run,
        stop_at, keep_best, force;
    int recompute;   /* an execution choice like threads: not in the checkpoint, never a resume conflict */
    int zero;        /* --zero 1: shard the AdamW state over the ranks (ZeRO-1); an execution choice too */
    const char *train_path, *val_path, *tok_path, *out_dir, *resume;
    const char *init_from, *init_from_hf;   /* fine-tuning: the model a new run starts from */
    int lora_rank;                          /* LoRA (0: off): the adapter's rank r, alpha, targets */
    float lora_alpha;
    const char *lora_targets;
    const char *base_dtype;                 /* QLoRA: f32 (NULL), int8 or int4 frozen base; --group per scale */
    int qgroup;
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
    s.eval_every = 100; s.eval_batches = 10; s.eval_tokens = 1000000; s.sample_every = 0; s.sample_tokens = 200;
    s.save_every = 100; s.log_every = 0;
    s.out_dir = "out";
    s.lora_alpha = 16; s.lora_targets = "q,k,v,o";
    s.qgroup = 32;
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
        {"steps", OPT_INT, &s->tc.total_steps, 1, BIG, 1, "optimizer steps (with --resume: more than the run's extends it)", NULL},
        {"lr", OPT_FLOAT, &s->tc.lr, 1e-12, 10, 1, "peak learning rate", NULL},
        {"min-lr", OPT_FLOAT, &s->tc.min_lr, 0, 10, 1, "final learning rate (cosine decay to it; default lr/10)", NULL},
        {"warmup", OPT_INT, &s->tc.warmup_steps, 0, BIG, 1, "linear warmup steps (at most 10% of --steps unless given)", NULL},
        {"weight-decay", OPT_FLOAT, &s->tc.weight_decay, 0, 10, 1, "AdamW decoupled weight decay", NULL},
        {"clip", OPT_FLOAT, &s->tc.grad_clip, 0, 1e9, 1, "clip the global gradient norm (0 = off)", NULL},
        {"seed", OPT_U64, &s->tc.seed, 0, 1.8e19, 1, "random seed (weights and data order)", NULL},
        {"threads", OPT_INT, &s->threads, 0, 4096, 0, "OpenMP threads (0 = OMP_NUM_THREADS, else all cores, fewer while that is faster)", NULL},
        {"recompute", OPT_FLAG, &s->recompute, 0, 1, 2, "keep only each layer's input, recompute the layer in the backward pass (less memory, ~1/3 more time, same numbers)", NULL},
        {"zero", OPT_INT, &s->zero, 0, 1, 2, "1: each rank keeps the AdamW state of 1/ranks of the weights (ZeRO-1, ./train_mpi and ./train_gpu; same numbers)", NULL},
        {"#", 0, NULL, 0, 0, 0, "data (token files from `tokenizer encode`; with --resume, default: the recorded ones):", NULL},
        {"train", OPT_STR, &s->train_path, 0, 0, 0, "training tokens", NULL},
        {"val", OPT_STR, &s->val_path, 0, 0, 0, "validation tokens (none: no evaluation)", NULL},
        {"tokenizer", OPT_STR, &s->tok_path, 0, 0, 0, "tokenizer, to print samples as text", NULL},
        {"#", 0, NULL, 0, 0, 0, "monitoring and checkpoints:", NULL},
        {"eval-every", OPT_INT, &s->eval_every, 0, BIG, 2, "evaluate every N steps (0 = only at the end)", NULL},
        {"eval-batches", OPT_INT, &s->eval_batches, 1, BIG, 2, "batches per periodic evaluation", NULL},
        {"eval-tokens", OPT_INT, &s->eval_tokens, 0, BIG, 2, "tokens the final evaluation reads, spread over --val (0 = all)", NULL},
        {"keep-best", OPT_FLAG, &s->keep_best, 0, 1, 2, "keep OUT/best.ckpt: the model at the lowest periodic validation loss", NULL},
        {"sample-every", OPT_INT, &s->sample_every, 0, BIG, 2, "print a sample every N steps and at the end, also into metrics.jsonl (0 = never)", NULL},
        {"sample-tokens", OPT_INT, &s->sample_tokens, 1, BIG, 2, "tokens per sample", NULL},
        {"log-every", OPT_INT, &s->log_every, 0, BIG, 2, "progress line every N steps when not a terminal (0 = auto)", NULL},
        {"out", OPT_STR, &s->out_dir, 0, 0, 0, "output folder: ckpt.bin, metrics.jsonl (default with --resume DIR: DIR)", NULL},
        {"save-every", OPT_INT, &s->save_every, 0, BIG, 2, "save a checkpoint every N steps (0 = only at the end)", NULL},
        {"resume", OPT_STR, &s->resume, 0, 0, 0, "continue the run in DIR (DIR/ckpt.bin) or from a checkpoint FILE", NULL},
        {"init-from", OPT_STR, &s->init_from, 0, 0, 0, "fine-tune: a new run starting from the weights of run DIR (DIR/ckpt.bin) or a checkpoint FILE", NULL},
        {"init-from-hf", OPT_STR, &s->init_from_hf, 0, 0, 0, "fine-tune: a new run starting from a Hugging Face folder (config.json, model.safetensors, tokenizer.json)", NULL},
        {"lora-rank", OPT_INT, &s->lora_rank, 0, 65536, 0, "with --init-from: train a LoRA adapter of this rank r on the frozen base (0 = full fine-tuning); OUT/adapter.bin", NULL},
        {"lora-alpha", OPT_FLOAT, &s->lora_alpha, 1e-6, 1e6, 0, "LoRA scale: the update is (alpha / r) B A", NULL},
        {"lora-targets", OPT_STR, &s->lora_targets, 0, 0, 0, "adapted matrices of every layer: q,k,v,o,gate,up,down (gate,up,down: dense models only)", NULL},
        {"base-dtype", OPT_STR, &s->base_dtype, 0, 0, 0, "with --lora-rank: hold the frozen base's block matrices as int8 or int4 (QLoRA; f32: as they are)", NULL},
        {"group", OPT_INT, &s->qgroup, 1, 1 << 20, 0, "numbers per quantization scale of --base-dtype, along a row", NULL},
        {"stop-at", OPT_INT, &s->stop_at, 0, BIG, 0, "save and stop after step N, to continue later with --resume (0 = off)", NULL},
        {"force", OPT_FLAG, &s->force, 0, 1, 0, "--resume with a training file or tokenizer other than the recorded one", NULL},
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
        if (!o->stored || !o->arg || !strcmp(o->name, "steps")) continue;   /* --steps: see extend_run */
        const void *mine = o->dst, *theirs = (const char *)ck + ((const char *)o->dst - (const char *)s);
        size_t sz = o->type == OPT_U64 ? 8 : 4;
        if (memcmp(mine, theirs, sz) != 0) {
            char v[64];
            format_value(o, theirs, v, sizeof v);
            if (g_comm.world > 1 && !strcmp(o->name, "grad-accum"))   /* it counts one rank's micro-batches */
                die("--grad-accum %s on %d ranks (%d micro-batches per step) conflicts with the checkpoint %s, which "
                    "has %s per step: leave the flag out (each rank then runs %s / %d)", o->arg, g_comm.world,
                    *(const int *)mine, path, v, v, g_comm.world);
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
    ut_lora lora;                  /* --lora-rank: the adapter (m.lora points here); base: its frozen base */
    ut_base_ref base;
    ut_kv_cache kv;                /* for the samples printed during training */
    int have_val, B, T;
    long long tok_per_step;        /* B * T * grad_accum */
    double fpt;                    /* training FLOPs per token */
    int *in, *tgt;                 /* (B, T) one micro-batch */
    /* several ranks (section 4, "several processes"): this rank's micro-batches, and with
       --zero 1 its shard [lo, lo + shard) of the flat buffers (padded to world * shard) */
    int local_accum;               /* micro-batches this rank runs per step: grad_accum / world */
    double *step_stats;            /* (grad_accum * 3 + L * E) losses and expert counts, summed over ranks */
    size_t shard, lo, padded;      /* ZeRO-1: shard numbers per rank (a multiple of UT_NORM_CHUNK) */
    ut_float *zm, *zv, *zg;        /* ZeRO-1: this rank's AdamW moments and summed gradient (shard each) */
    double *znorm;                 /* ZeRO-1: (padded / UT_NORM_CHUNK) sums of squares, every rank's */
    ut_float *gsum;                /* (n_params) the sum of this step's micro-batch gradients (local_accum > 1) */
    double *load;                  /* (L, E) tokens routed to each expert since the last report */
    char ckpt_in[4096], ckpt_out[4096], mpath[4096], best_path[4096];
    run_record rec;                /* the run folder's record (rec.found: it has one) */
    const option *opts;            /* the option table, as parsed */
    int extended_from;             /* --resume --steps N: the run's old last step (0: not extended) */
    /* monitoring, set by start_monitoring and train_loop */
    int log_every, eval_batches, final_batches, all_batches;
    double val_loss, aux_sum, z_sum, t_start, last_draw;
    int val_step, val_final;       /* the step val_loss was measured at; by the final evaluation? */
    long long val_tokens;          /* how many tokens that evaluation read */
    int moe_n, start;
    /* the overfitting tracker and --keep-best (see track_eval) */
    double train_sum, prev_val, prev_train, best_val;
    int train_n, n_tracked, rising, best_step, new_best;
} run;

/* ---- setup: every input is checked before anything is written ---------- */

/* CONTINUING A FINISHED RUN: --resume RUN --steps N with N more than the
   run's steps. The cosine schedule is not stretched (that would change the
   learning rate of steps already taken, and a resumed run must be the run it
   was): it still ends where it ended, at min_lr, and the new steps go on at
   min_lr, a constant tail. decay_steps (stored in the checkpoint) remembers
   where the cosine ends, so extending twice keeps the first end. Fewer steps
   than the run has is an error: a run can be extended, not shortened. */
static void extend_run(run *r, const option *steps, ut_train_config *ck) {
    if (!steps->arg) return;
    int want = *(const int *)steps->dst;
    if (want == ck->total_steps) return;
    if (want < ck->total_steps)
        die("--steps %d is fewer than the run's %d steps: a run can be extended, not shortened", want, ck->total_steps);
    if (!ck->decay_steps) ck->decay_steps = ck->total_steps;
    r->extended_from = ck->total_steps;
    ck->total_steps = want;
}

/* LORA RUNS keep the adapter in OUT/adapter.bin (ultrathink.h, section 8b:
   the adapter, its AdamW moments, the settings and the base's path, size
   and checksum) and no ckpt.bin: the base stays where it is, read-only. */

/* --dtype / --base-dtype: f32, int8 or int4, as bits (32, 8, 4). */
static int dtype_bits(const char *flag, const char *dtype) {
    int bits = !strcmp(dtype, "int8") ? 8 : !strcmp(dtype, "int4") ? 4 : !strcmp(dtype, "f32") ? 32 : -1;
    if (bits < 0) die("--%s: '%s' is not one of f32, int8, int4", flag, dtype);
    return bits;
}
/* A LoRA run's frozen base: quantized (QLoRA: the adapter says how,
   lo->base_bits) or f32, either way with no gradients or AdamW state. */
static void freeze_base(ut_model *m, const ut_lora *lo) {
    if (!lo->base_bits) { ut_model_freeze(m); return; }
    if (ut_model_quantize(m, lo->base_bits, lo->base_group, UT_QBASE)) die("%s", ut_error());
}
/* The bytes of a quantized model's matrices, as stored and as f32. */
static void quantized_bytes(const ut_model *m, double *q_bytes, double *f_bytes) {
    *q_bytes = *f_bytes = 0;
    for (int t = 0; t < UT_NUM_TENSORS; t++)
        if (m->qw[t].q) { *q_bytes += (double)ut_qmatrix_bytes(&m->qw[t]); *f_bytes += 4.0 * m->sizes[t]; }
}
/* This process's resident memory now, in MiB (Linux: /proc/self/status; -1 elsewhere). */
static double rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtod(line + 6, NULL);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

/* "q,k,v,o" -> a bit per target (UT_LORA_Q ...) */
static unsigned parse_lora_targets(const char *list) {
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int hit = -1;
        for (int t = 0; t < UT_LORA_NT; t++)
            if (strlen(ut_lora_target_names[t]) == n && !strncmp(p, ut_lora_target_names[t], n)) hit = t;
        if (hit < 0) die("--lora-targets: '%.*s' is not one of q, k, v, o, gate, up, down", (int)n, p);
        bits |= 1u << hit;
        p += n + (p[n] == ',');
    }
    if (!bits) die("--lora-targets is empty: name some of q, k, v, o, gate, up, down");
    return bits;
}

/* The adapter file a --resume DIR|FILE names, if it names one: DIR/adapter.bin
   (a folder without ckpt.bin), or a file starting with UTLA. */
static int adapter_path(const char *resume, char *buf, size_t n) {
    if (is_dir(resume)) {
        snprintf(buf, n, "%s/ckpt.bin", resume);
        if (file_exists(buf)) return 0;
        snprintf(buf, n, "%s/adapter.bin", resume);
        return file_exists(buf);
    }
    char magic[4] = "";
    struct stat st;
    if (stat(resume, &st) != 0 || !S_ISREG(st.st_mode)) return 0;   /* not a file to open (a pipe would block) */
    FILE *f = fopen(resume, "rb");
    int is = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "UTLA", 4);
    if (f) fclose(f);
    if (is) snprintf(buf, n, "%s", resume);
    return is;
}

/* Loads the base an adapter names (or base_given), checks that it is the
   very file the adapter was trained on (size and checksum; --force goes on
   with another), then the adapter itself. */
static void load_adapter(const char *adapter, const char *base_given, int force, ut_model *m, ut_lora *lo,
                         ut_train_config *tc, ut_progress *pr, ut_base_ref *base, int frozen) {
    if (ut_lora_base(adapter, base)) die("%s", ut_error());
    char bpath[4096];
    if (base_given) checkpoint_path(base_given, bpath, sizeof bpath);
    else snprintf(bpath, sizeof bpath, "%s", base->path);
    if (!file_exists(bpath)) die("the base model of the adapter %s, %s, is missing (give --base RUN|FILE)", adapter, bpath);
    file_id id;
    file_identify(bpath, &id);
    if ((id.hash != base->hash || id.bytes != base->bytes) && !force)
        die("%s is not the base the adapter %s was trained on (%s, %llu bytes, fnv1a64 %016llx; this one: %llu bytes, "
            "%016llx) (--force: use it anyway)", bpath, adapter, base->path, (unsigned long long)base->bytes,
            (unsigned long long)base->hash, id.bytes, id.hash);
    ut_train_config btc;
    ut_progress bpr;
    /* frozen: the base's AdamW moments are not kept (4 bytes per weight, not 12) */
    int bad = frozen ? ut_checkpoint_load_frozen(bpath, m, &btc, &bpr) : ut_checkpoint_load(bpath, m, &btc, &bpr);
    if (bad) die("%s", ut_error());
    if (ut_lora_load(adapter, lo, &m->cfg, tc, pr, base)) die("%s", ut_error());
    m->lora = lo;
}

/* --resume: the checkpoint's model and training settings replace the
   defaults (a flag that disagrees with them is an error). */
static void resume_settings(run *r, option *opts) {
    settings *s = &r->s;
    settings ck = *s;
    if (adapter_path(s->resume, r->ckpt_in, sizeof r->ckpt_in)) {   /* a LoRA run */
        if (find_opt(opts, "lora-rank")->arg || find_opt(opts, "lora-alpha")->arg || find_opt(opts, "lora-targets")->arg)
            die("--lora-rank, --lora-alpha and --lora-targets are the adapter's (%s): leave them out with --resume", r->ckpt_in);
        if (find_opt(opts, "base-dtype")->arg || find_opt(opts, "group")->arg)
            die("--base-dtype and --group are the adapter's (%s): leave them out with --resume", r->ckpt_in);
        load_adapter(r->ckpt_in, NULL, 0, &r->m, &r->lora, &ck.tc, &r->pr, &r->base, 1);
        freeze_base(&r->m, &r->lora);   /* a QLoRA run: its base quantized again, the same integers */
    } else {
        if (s->lora_rank) die("--lora-rank: %s is not a LoRA run; start one with --init-from RUN --lora-rank R", s->resume);
        if (s->base_dtype || find_opt(opts, "group")->arg)
            die("--base-dtype: %s is not a LoRA run; start one with --init-from RUN --lora-rank R --base-dtype int8", s->resume);
        checkpoint_path(s->resume, r->ckpt_in, sizeof r->ckpt_in);
        if (!file_exists(r->ckpt_in)) die("--resume: no checkpoint at %s", r->ckpt_in);
        if (ut_checkpoint_load(r->ckpt_in, &r->m, &ck.tc, &r->pr)) die("%s", ut_error());
    }
    ck.mc = r->m.cfg;
    check_resume_conflicts(opts, s, &ck, r->ckpt_in);
    extend_run(r, find_opt(opts, "steps"), &ck.tc);
    s->mc = ck.mc;
    s->tc = ck.tc;
    static char dir[4096];
    run_dir_of(s->resume, dir, sizeof dir);
    if (!find_opt(opts, "out")->arg) s->out_dir = dir;   /* write back where the run lives */
    /* the inputs not given: the ones the run recorded */
    record_read(dir, &r->rec);
    apply_recorded_options(opts, &r->rec);
    s->train_path = recorded_path(s->train_path, &r->rec.train, "train");
    s->val_path = recorded_path(s->val_path, &r->rec.val, "val");
    s->tok_path = recorded_path(s->tok_path, &r->rec.tok, "tokenizer");
    if (s->stop_at && s->stop_at <= (int)r->pr.step)
        die("--stop-at %d is at or before the checkpoint's step %llu: nothing would be trained", s->stop_at,
            (unsigned long long)r->pr.step);
}

/* FINE-TUNING: --init-from RUN|FILE or --init-from-hf DIR. A new run (its
   own folder, AdamW moments at zero, step 0, the schedule and seed of this
   command line) whose weights start as the base model's. The base gives the
   model's shape, so a shape flag (--layers, --dim, ...) is an error; --seq
   may be shorter than the base's context (default: the base's). The
   tokenizer must be the base's: --init-from takes the base run's recorded
   one when --tokenizer is not given, and refuses another (unless --force);
   --init-from-hf checks a given --tokenizer against tokenizer.json. run.json
   records the base (init_from: path, size, checksum). */
static void init_from_settings(run *r, option *opts) {
    settings *s = &r->s;
    if (s->resume) die("--resume continues a run; --init-from%s starts a new one: give one of them", s->init_from ? "" : "-hf");
    if (s->init_from && s->init_from_hf) die("--init-from and --init-from-hf both name a base model: give one");
    const char *what = s->init_from ? "--init-from" : "--init-from-hf", *base = s->init_from ? s->init_from : s->init_from_hf;
    static char path[4400];
    ut_train_config btc;
    if (s->init_from) {
        checkpoint_path(base, path, sizeof path);
        if (!file_exists(path)) die("--init-from: no checkpoint at %s", path);
        ut_progress bpr;
        /* a LoRA run's base is frozen: its moments are not kept (4 bytes per weight, not 12) */
        int bad = s->lora_rank ? ut_checkpoint_load_frozen(path, &r->m, &btc, &bpr)
                               : ut_checkpoint_load(path, &r->m, &btc, &bpr);
        if (bad) die("%s", ut_error());
        char dir[4096];
        run_record brec;
        memset(&brec, 0, sizeof brec);
        run_dir_of(base, dir, sizeof dir);
        record_read(dir, &brec);
        static char base_tok[4096];
        if (!s->tok_path && brec.tok.set && file_exists(brec.tok.path)) {
            memcpy(base_tok, brec.tok.path, sizeof base_tok);
            s->tok_path = base_tok;
        }
        else if (s->tok_path && brec.tok.set) {
            file_id now;
            file_identify(s->tok_path, &now);
            if (file_differs(&now, &brec.tok) && !s->force)
                die("--tokenizer %s is not the base run's tokenizer (%s): the new text must be encoded with the "
                    "base model's tokenizer (--force: go on anyway)", now.path, brec.tok.path);
        }
        free(brec.runs);
    } else {
        if (!is_dir(base)) die("--init-from-hf: %s is not a folder", base);
        ut_tokenizer hf_tk;
        if (ex_hf_import(base, &r->m, &hf_tk)) die("%s", ex_err);
        if (s->tok_path) {   /* the tokenizer given must be the one in tokenizer.json */
            ut_tokenizer tk;
            if (ut_tokenizer_load(&tk, s->tok_path)) die("%s", ut_error());
            size_t na, nb;
            uint8_t *a = ut_tokenizer_serialize(&tk, &na), *b = ut_tokenizer_serialize(&hf_tk, &nb);
            if (!a || !b) die("out of memory");
            if ((na != nb || memcmp(a, b, na)) && !s->force)
                die("--tokenizer %s is not the tokenizer of %s/tokenizer.json (--force: go on anyway)", s->tok_path, base);
            free(a); free(b);
            ut_tokenizer_free(&tk);
        }
        ut_tokenizer_free(&hf_tk);
        snprintf(path, sizeof path, "%s/model.safetensors", base);
        btc = s->tc;
        btc.seq_len = r->m.cfg.max_seq_len;
    }
    file_identify(path, &r->rec.init);
    /* the shape is the base's; the loss weights of an MoE (--aux-coef, --z-coef) may change */
    for (const option *o = opts; o->name; o++) {
        const char *dst = (const char *)o->dst;
        if (!o->arg || dst < (const char *)&s->mc || dst >= (const char *)(&s->mc + 1)) continue;
        if (!strcmp(o->name, "aux-coef")) r->m.cfg.aux_loss_coef = s->mc.aux_loss_coef;
        else if (!strcmp(o->name, "z-coef")) r->m.cfg.z_loss_coef = s->mc.z_loss_coef;
        else die("--%s: the model's shape comes from %s %s; leave the flag out", o->name, what, base);
    }
    s->mc = r->m.cfg;
    if (s->lora_rank) {   /* LoRA: the base stays frozen; a fresh adapter (B = 0) learns */
        if (s->init_from_hf)
            die("--lora-rank needs --init-from RUN|FILE (the adapter refers to a checkpoint): make one with "
                "train import --hf %s --out RUN", base);
        if (ut_lora_init(&r->lora, &s->mc, s->lora_rank, s->lora_alpha, parse_lora_targets(s->lora_targets),
                         s->tc.seed ^ 0x10AA10AAull))
            die("%s", ut_error());
        r->m.lora = &r->lora;
        int bits = s->base_dtype ? dtype_bits("base-dtype", s->base_dtype) : 32;
        if (bits != 32) { r->lora.base_bits = bits; r->lora.base_group = s->qgroup; }   /* QLoRA */
        freeze_base(&r->m, &r->lora);   /* the base trains no more: no gradients, no AdamW state */
        memcpy(r->base.path, r->rec.init.path, sizeof r->base.path);
        r->base.bytes = r->rec.init.bytes;
        r->base.hash = r->rec.init.hash;
    }
    if (!find_opt(opts, "seq")->arg) s->tc.seq_len = btc.seq_len;
    if (s->tc.seq_len > s->mc.max_seq_len)
        die("--seq %d is longer than the base model's context of %d tokens", s->tc.seq_len, s->mc.max_seq_len);
    /* a new run: nothing of the base's optimizer state */
    if (r->m.adam_m) ut__zero(r->m.adam_m, r->m.n_params);   /* (a LoRA base has none: frozen) */
    if (r->m.adam_v) ut__zero(r->m.adam_v, r->m.n_params);
}

/* Parses the command line into r->s. Returns 1 if it printed --help. */
static int parse_train_args(run *r, int argc, char **argv) {
    settings *s = &r->s;
    *s = default_settings();
    option *opts = train_options(s);
    r->opts = opts;
    if (parse_options(opts, argc, argv, "train")) {
        print_help("usage: train [OPTIONS]     (--help of: train sample, train eval, train report, train dashboard)\n"
                   "Trains a model on a token file; writes OUT/ckpt.bin, OUT/metrics.jsonl, OUT/run.json and\n"
                   "OUT/dashboard.html (open it in a browser; train report --help: compare runs).\n"
                   "Continue a run with --resume OUT alone: the files and options come from OUT/run.json.\n"
                   "The defaults shown are the `make run` defaults (ut_config_default and ut_train_config_default\n"
                   "in ultrathink.h): the whole architecture, sized to train Tiny Shakespeare in under 5 minutes\n"
                   "on a 2-core laptop.", opts);
        return 1;
    }
    set_threads(s->threads ? s->threads : threads_per_rank());
    /* several ranks: --grad-accum counts the micro-batches of one rank; the
       run, and its checkpoint, count every rank's: world x as many */
    s->tc.grad_accum *= g_comm.world;
    if (strlen(s->out_dir) > 3000) die("--out is too long");
    /* --experts 1 without --top-k: a dense model routes every token to its one expert */
    if (!find_opt(opts, "top-k")->arg && s->mc.top_k > s->mc.n_experts) s->mc.top_k = s->mc.n_experts;
    if (!find_opt(opts, "min-lr")->arg) s->tc.min_lr = s->tc.lr / 10;   /* the usual: decay to lr/10 */
    if (!find_opt(opts, "warmup")->arg && s->tc.warmup_steps > s->tc.total_steps / 10)
        s->tc.warmup_steps = s->tc.total_steps / 10;                     /* short runs: 10% warmup */
    if ((s->base_dtype || find_opt(opts, "group")->arg) && !s->lora_rank && !s->resume)
        die("--base-dtype and --group quantize the frozen base of a LoRA run (QLoRA): give --lora-rank R too");
    if (s->base_dtype) dtype_bits("base-dtype", s->base_dtype);
    if (s->init_from || s->init_from_hf) init_from_settings(r, opts);
    else if (s->lora_rank && !s->resume) die("--lora-rank needs --init-from RUN|FILE: the frozen base model to adapt");
    if (s->resume) resume_settings(r, opts);
    if (!s->train_path) die("no training data: give --train FILE (a token file from `tokenizer encode`; `make run` makes one)");
    if (s->stop_at > s->tc.total_steps)
        die("--stop-at %d is after the run's last step %d: it would never stop there", s->stop_at, s->tc.total_steps);
    if (s->tc.grad_accum % g_comm.world)
        die("the run takes %d micro-batches per step, which %d ranks cannot share evenly: use a number of ranks "
            "that divides %d", s->tc.grad_accum, g_comm.world, s->tc.grad_accum);
    r->local_accum = s->tc.grad_accum / g_comm.world;
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
    /* what we train on, against what the run recorded (a new run: nothing) */
    file_id tr, va, tk;
    file_identify(s->train_path, &tr);
    file_identify(s->val_path, &va);
    file_identify(s->tok_path, &tk);
    const char *forced = " (--force: going on; run.json now records the new file)";
    check_against_record("train", &tr, &r->rec.train, s->force, 1, forced);
    check_against_record("val", &va, &r->rec.val, s->force, 0, "");
    check_against_record("tokenizer", &tk, &r->rec.tok, s->force, 1, forced);
    r->rec.train = tr; r->rec.val = va; r->rec.tok = tk;
    r->have_val = s->val_path != NULL;
    if (r->have_val && ut_tokens_load(&r->val, s->val_path)) die("%s", ut_error());
    if (r->have_val && r->val.vocab_size != r->train.vocab_size)
        die("%s has vocabulary %u but %s has %u (made with different tokenizers?)", s->val_path, r->val.vocab_size,
            s->train_path, r->train.vocab_size);
    if (r->have_val && r->val.n_bytes == 0) die("%s: its header says it encodes 0 bytes of text", s->val_path);
    if (s->resume && (int)r->train.vocab_size != r->m.cfg.vocab_size)
        die("%s has vocabulary %u but the checkpoint %s was trained with %d (a different tokenizer?)",
            s->train_path, r->train.vocab_size, r->ckpt_in, r->m.cfg.vocab_size);
    if ((s->init_from || s->init_from_hf) && (int)r->train.vocab_size != r->m.cfg.vocab_size)
        die("%s has vocabulary %u but the base model %s has %d: encode the new text with the base model's tokenizer",
            s->train_path, r->train.vocab_size, s->init_from ? s->init_from : s->init_from_hf, r->m.cfg.vocab_size);
    if (r->train.n_tokens < (uint64_t)T + 1)
        die("%s holds %llu tokens, fewer than one sequence (--seq %d needs %d); use more text or a smaller --seq",
            s->train_path, (unsigned long long)r->train.n_tokens, T, T + 1);
    if (r->have_val && r->val.n_tokens < (uint64_t)T + 1)
        die("%s holds %llu tokens, fewer than one sequence (--seq %d needs %d)", s->val_path,
            (unsigned long long)r->val.n_tokens, T, T + 1);
}

/* The library names config fields (n_kv_heads); the user typed flags
   (--kv-heads). Rewrites each whole-word field name in msg as its flag. */
static const char *flag_names(const char *msg) {
    static const char *map[][2] = {
        {"n_kv_heads", "--kv-heads"}, {"n_heads", "--heads"}, {"d_model", "--dim"}, {"n_layers", "--layers"},
        {"ffn_hidden", "--ffn"}, {"n_experts", "--experts"}, {"top_k", "--top-k"}, {"sliding_window", "--window"},
        {"max_seq_len", "--seq"}, {"rope_theta", "--rope-theta"}, {"aux_loss_coef", "--aux-coef"},
        {"z_loss_coef", "--z-coef"}, {"tie_embeddings", "--tie"}, {"head_dim", "head_dim (= --dim / --heads)"},
        {"vocab_size", "the vocabulary size (from the token file)"}};
    static char out[1024];
    size_t n = 0;
    for (const char *p = msg; *p && n + 64 < sizeof out;) {
        int hit = -1;
        int word_start = p == msg || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'));
        for (int i = 0; word_start && hit < 0 && i < (int)(sizeof map / sizeof map[0]); i++) {
            size_t k = strlen(map[i][0]);
            char next = p[k];
            if (!strncmp(p, map[i][0], k) && !(next == '_' || (next >= 'a' && next <= 'z'))) hit = i;
        }
        if (hit < 0) { out[n++] = *p++; continue; }
        n += (size_t)snprintf(out + n, sizeof out - n, "%s", map[hit][1]);
        p += strlen(map[hit][0]);
    }
    out[n] = 0;
    return out;
}

/* A new run: the vocabulary comes from the token file, the context from
   --seq; then the config is checked and the weights drawn from the seed. */
static void init_model(run *r) {
    ut_config *mc = &r->s.mc;
    const ut_train_config *tc = &r->s.tc;
    if (r->s.init_from || r->s.init_from_hf) {   /* fine-tuning: the weights are the base's (init_from_settings) */
        if (tc->min_lr > tc->lr) die("--min-lr %g is larger than --lr %g", tc->min_lr, tc->lr);
        if (tc->warmup_steps > tc->total_steps) die("--warmup %d is longer than --steps %d", tc->warmup_steps, tc->total_steps);
        r->pr.data_rng = ut_rng_seed(tc->seed ^ 0xDA7A0DA7A0ull);
        return;
    }
    mc->vocab_size = (int)r->train.vocab_size;
    mc->max_seq_len = r->T;
    if (mc->d_model % mc->n_heads) die("--dim %d is not divisible by --heads %d (head_dim = dim / heads)", mc->d_model, mc->n_heads);
    mc->head_dim = mc->d_model / mc->n_heads;
    if (ut_config_validate(mc)) die("%s", flag_names(ut_error()));
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

static const ut_base_ref *g_lora_base;   /* the base a LoRA run's adapter names (save_checkpoint) */

/* Never replace another run's checkpoint: a new run needs a fresh --out, and
   --resume A --out B may only write to B if B's checkpoint is A itself. A
   folder another run is writing is an error first (see the lock above). */
static void check_output_paths(run *r) {
    const settings *s = &r->s;
    int lora = r->m.lora != NULL;   /* a LoRA run saves its adapter, not a checkpoint */
    snprintf(r->ckpt_out, sizeof r->ckpt_out, "%s/%s", s->out_dir, lora ? "adapter.bin" : "ckpt.bin");
    snprintf(r->mpath, sizeof r->mpath, "%s/metrics.jsonl", s->out_dir);
    snprintf(r->best_path, sizeof r->best_path, "%s/%s", s->out_dir, lora ? "best.adapter" : "best.ckpt");
    g_lora_base = &r->base;
    if (s->dry_run) return;
    if (g_comm.rank == 0)                /* the lock is rank 0's: it alone writes the folder */
        lock_run_folder(s->out_dir, 0);  /* an existing folder: is it in use? (open_output takes it otherwise) */
    char other[4200];                    /* a run folder holds a checkpoint or an adapter, never both */
    snprintf(other, sizeof other, "%s/%s", s->out_dir, lora ? "ckpt.bin" : "adapter.bin");
    if (!s->resume && file_exists(other))
        die("%s already exists: choose another --out (a run folder holds one run)", other);
    if (!file_exists(r->ckpt_out)) return;
    if (!s->resume)
        die("%s already exists: continue it with --resume %s, or choose another --out", r->ckpt_out, s->out_dir);
    struct stat a, b;
    if (stat(r->ckpt_in, &a) || stat(r->ckpt_out, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        die("%s already exists and is not the checkpoint being resumed (%s): choose another --out", r->ckpt_out, r->ckpt_in);
}

/* ---- several processes: data parallelism (comm.h) ----------------------
   `mpirun -np W ./train_mpi --batch B ...` runs W ranks of this program.
   Each holds the whole model; all of them run every line of the program,
   in step, so they make the same decisions (evaluate, sample, save, stop);
   what differs:
     - the data: a step of G = grad_accum micro-batches (G = W x --grad-accum,
       the count the checkpoint stores) gives micro-batch k to rank k / (G/W).
       Every rank draws all G from the one data-loader stream (drawing is
       cheap) and keeps its own, so the stream, and the checkpoint's copy of
       it, is the same whatever W: the batches are those of
       `./train --grad-accum G`, in the same order.
     - the gradient: each rank's backward scales by 1/G, as --grad-accum
       does, and the ranks then sum (comm_allreduce_sum_f32). The scaling
       comes first and the sum second, the order --grad-accum uses; with
       G = 2 on 2 ranks the sum is the one addition --grad-accum makes, so the
       two runs are bit-identical (test/test_mpi.sh checks losses and a
       checksum of the weights at every step).
     - the output: only rank 0 prints (the others' stdout is /dev/null),
       writes the run folder (lock, run.json, metrics.jsonl, dashboard,
       checkpoints). Errors go to stderr from any rank, naming it (die).
     - the expert load (MoE) is counted over every rank's tokens: the counts
       are summed with the losses, in one all-reduce of doubles.
   ZeRO-1 (--zero 1). Without it every rank keeps both AdamW moments of every
   weight (8 bytes per weight) and runs the same update W times. With it the
   flat buffer of P weights is cut into W shards of `shard` numbers (padded
   with zeros to W x shard; shard a multiple of UT_NORM_CHUNK); rank r keeps
   the moments of shard r only and updates only those weights:
       reduce-scatter the gradients   rank r: the summed gradient of shard r
       the global norm                chunk sums of squares, all-gathered,
                                      added in order (ut_grad_norm's numbers)
       AdamW on shard r               ut_adamw_update(lo, hi) with the shard's moments
       all-gather the weights         every rank: all W updated shards
   The numbers are those of the plain update (same formula, same clip
   factor, same gradient sums), so --zero 1 changes memory, not results. A
   checkpoint stays one file in the usual format: saving gathers the shards
   (save_checkpoint), loading cuts them again (zero_setup): a run saved by W
   ranks resumes on any other number that divides its micro-batches, and in
   the plain ./train. */

/* ZeRO-1: pad the flat buffers to world x shard numbers and keep only this
   rank's shard of the moments. The library allocated exactly n_params; the
   two buffers grow (the tail is zero and stays zero: zero gradients give zero
   updates, and nothing reads those numbers), and the tensor table is aimed
   at their new place. */
static void zero_setup(run *r) {
    ut_model *m = &r->m;
    size_t P = m->n_params, W = (size_t)g_comm.world, CH = UT_NORM_CHUNK;
    r->shard = (P + W * CH - 1) / (W * CH) * CH;
    r->padded = r->shard * W;
    r->lo = r->shard * (size_t)g_comm.rank;
    size_t off[UT_NUM_TENSORS];
    for (int k = 0; k < UT_NUM_TENSORS; k++) off[k] = (size_t)(m->p[k] - m->params);
    ut_float *p = (ut_float *)realloc(m->params, r->padded * sizeof(ut_float));
    if (p) m->params = p;
    ut_float *g = p ? (ut_float *)realloc(m->grads, r->padded * sizeof(ut_float)) : NULL;
    if (g) m->grads = g;
    r->zm = (ut_float *)calloc(r->shard, sizeof(ut_float));
    r->zv = (ut_float *)calloc(r->shard, sizeof(ut_float));
#ifndef UT_GPU   /* the reduce-scatter's landing place (the GPU build reduces in place, on the GPU) */
    r->zg = (ut_float *)calloc(r->shard, sizeof(ut_float));
    if (!r->zg) die("out of memory for --zero 1");
#endif
    r->znorm = (double *)calloc(r->padded / CH, sizeof(double));
    if (!p || !g || !r->zm || !r->zv || !r->znorm) die("out of memory for --zero 1");
    memset(m->params + P, 0, (r->padded - P) * sizeof(ut_float));
    memset(m->grads + P, 0, (r->padded - P) * sizeof(ut_float));
    for (int k = 0; k < UT_NUM_TENSORS; k++) { m->p[k] = m->params + off[k]; m->g[k] = m->grads + off[k]; }
    /* this rank's moments: zeros for a new run, the checkpoint's on --resume */
    size_t hi = r->lo + r->shard < P ? r->lo + r->shard : P;
    if (r->lo < hi) {
        memcpy(r->zm, m->adam_m + r->lo, (hi - r->lo) * sizeof(ut_float));
        memcpy(r->zv, m->adam_v + r->lo, (hi - r->lo) * sizeof(ut_float));
    }
    free(m->adam_m); free(m->adam_v);
    m->adam_m = m->adam_v = NULL;   /* from here on only the shard exists (save_checkpoint gathers it) */
#ifdef UT_GPU   /* the GPU keeps the padded weights and gradient, and the shard's moments (zm, zv: its host copy) */
    if (ut_zero_gpu(m, r->lo, r->shard, r->padded, r->zm, r->zv)) die("%s", ut_gpu_error());
#endif
    printf("zero-1: AdamW state %.2f MB per rank (the moments of a shard of %zu of the %zu weights, padded to %zu); "
           "%.2f MB per rank without --zero 1\n", 2.0 * r->shard * sizeof(ut_float) / 1e6, r->shard, P, r->padded,
           2.0 * P * sizeof(ut_float) / 1e6);
}

/* A checkpoint from any number of ranks is the one file ./train writes.
   With --zero 1 the moments are gathered first (every rank takes part: it
   is a collective), then rank 0 writes. */
static void save_checkpoint(run *r, const char *path) {
    ut_model *m = &r->m;
    if (m->lora) {   /* a LoRA run saves its adapter; every rank holds the same one (see train_step) */
        if (g_comm.rank == 0 && ut_lora_save(path, m->lora, &m->cfg, &r->s.tc, &r->pr, g_lora_base)) die("%s", ut_error());
        return;
    }
    if (!r->s.zero) {
        if (g_comm.rank == 0 && ut_checkpoint_save(path, m, &r->s.tc, &r->pr)) die("%s", ut_error());
        return;
    }
#ifdef UT_GPU
    if (ut_model_download_gpu(m)) die("%s", ut_gpu_error());   /* the weights, and the shard's moments into zm, zv */
#endif
    ut_float *full_m = (ut_float *)malloc(r->padded * sizeof(ut_float));
    ut_float *full_v = (ut_float *)malloc(r->padded * sizeof(ut_float));
    if (!full_m || !full_v) die("out of memory gathering the AdamW state to save it");
#ifdef UT_GPU
    /* on the GPU, through the gradient buffer (free between steps): a host
       buffer would go through a GPU scratch as large as the whole moment */
    for (int k = 0; k < 2; k++) {
        float *g = ut_zero_moment_gpu(m, k);   /* moment k of this shard, copied to its place in the buffer */
        if (!g) die("%s", ut_gpu_error());
        comm_allgather_f32(&g_comm, g, r->shard);
        if (ut_zero_fetch_gpu(m, k ? full_v : full_m)) die("%s", ut_gpu_error());
    }
#else
    memcpy(full_m + r->lo, r->zm, r->shard * sizeof(ut_float));
    memcpy(full_v + r->lo, r->zv, r->shard * sizeof(ut_float));
    comm_allgather_f32(&g_comm, full_m, r->shard);
    comm_allgather_f32(&g_comm, full_v, r->shard);
#endif
    m->adam_m = full_m; m->adam_v = full_v;
    int bad = g_comm.rank == 0 && ut_checkpoint_save(path, m, &r->s.tc, &r->pr);
    m->adam_m = m->adam_v = NULL;
    free(full_m); free(full_v);
    if (bad) die("%s", ut_error());
}

/* The weights and moments after an update must be finite. With --zero 1
   this rank looks at its shard (the weights of the others' shards are theirs
   to check); -1 with ut_error() set, as ut_model_check_state. */
static int check_state(const run *r) {
    if (!r->s.zero) return ut_model_check_state(&r->m);
#ifdef UT_GPU   /* the shard is on the GPU: look there; only a bad one is downloaded, to name it below */
    int bad = ut_model_check_state_gpu(&r->m);
    if (bad < 0 || (bad && ut_model_download_gpu(&r->m))) die("%s", ut_gpu_error());
    if (!bad) return 0;
#endif
    size_t P = r->m.n_params, hi = r->lo + r->shard < P ? r->lo + r->shard : P;
    for (size_t i = r->lo; i < hi; i++) {
        ut_float p = r->m.params[i], mm = r->zm[i - r->lo], vv = r->zv[i - r->lo];
        if (!isfinite(p) || !isfinite(mm) || !isfinite(vv) || vv < 0) {
            snprintf(ut__errbuf, sizeof ut__errbuf, "weight, AdamW moments [%zu] = %g, %g, %g", i, (double)p,
                     (double)mm, (double)vv);
            return -1;
        }
    }
    return 0;
}

/* UT_CHECKSUMS=1 (tests, lesson 16): after every step each rank prints a
   checksum of its weights to stderr, "checksum step S rank R: HEX"; every
   rank must print the same one (and ./train the same as ./train_mpi). A
   LoRA run's weights are its adapter's (the base does not change). */
static void print_checksum(const run *r, int s1) {
    static int on = -1;
    if (on < 0) on = getenv("UT_CHECKSUMS") && atoi(getenv("UT_CHECKSUMS")) > 0;
    if (!on) return;
#ifdef UT_GPU   /* the weights are on the GPU: bring them to r->m.params first */
    if (!r->m.lora && ut_model_download_gpu(&r->m)) die("%s", ut_gpu_error());
#endif
    uint64_t h = 1469598103934665603ull;   /* FNV-1a 64 over the weights' bytes */
    const ut_lora *lo = r->m.lora;
    const unsigned char *b = (const unsigned char *)(lo ? lo->params : r->m.params);
    size_t n = lo ? lo->n_params : r->m.n_params;
    for (size_t i = 0; i < n * sizeof(ut_float); i++) { h ^= b[i]; h *= 1099511628211ull; }
    fprintf(stderr, "checksum step %d rank %d: %016llx\n", s1, g_comm.rank, (unsigned long long)h);
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
    if (g_comm.world > 1)
        printf("%d ranks (%s), %d on this machine: each runs %d micro-batch%s of %d per step\n", g_comm.world,
               g_comm.backend, g_comm.local_world, t->grad_accum / g_comm.world,
               t->grad_accum / g_comm.world > 1 ? "es" : "", t->grad_accum);
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
    r->step_stats = (double *)calloc((size_t)r->s.tc.grad_accum * 3 + (size_t)mc->n_layers * mc->n_experts,
                                     sizeof(double));
    if (!r->in || !r->tgt || !r->load || !r->step_stats) die("out of memory");
    r->m.recompute = r->s.recompute;   /* activation checkpointing (ut_model.recompute) */
    r->fpt = ut_flops_per_token(mc, r->T);
    r->tok_per_step = (long long)r->B * r->T * r->s.tc.grad_accum;
    print_config_line(r->s.resume ? "resume" : r->rec.init.set ? "fine-tune" : "train", mc, &r->s.tc, num_threads());
    if (r->rec.init.set && !r->s.resume)
        printf("fine-tune: from %s (%llu bytes, fnv1a64 %016llx)\n", r->rec.init.path, r->rec.init.bytes, r->rec.init.hash);
    if (r->m.lora) {   /* what LoRA trains, and what its optimizer holds, against full fine-tuning */
        const ut_lora *lo = r->m.lora;
        char tg[64] = "";
        for (int t = 0; t < UT_LORA_NT; t++)
            if ((lo->targets >> t) & 1u) snprintf(tg + strlen(tg), sizeof tg - strlen(tg), "%s%s", tg[0] ? "," : "", ut_lora_target_names[t]);
        size_t all = ut_num_params(mc);
        printf("lora: rank %d, alpha %g, targets %s: %zu trainable numbers (%.2f%% of %zu), AdamW state %.2f MB "
               "(full fine-tuning: %.2f MB); the base is frozen (%s)\n", lo->rank, lo->alpha, tg, lo->n_params,
               100.0 * lo->n_params / all, all, 8.0 * lo->n_params / 1e6, 8.0 * all / 1e6, r->base.path);
        if (lo->base_bits) {
            double qb, fb;
            quantized_bytes(&r->m, &qb, &fb);
            printf("qlora: base matrices int%d (group %d): %.2f MB as stored, f32 %.2f MB (%.1fx smaller); "
                   "embedding, LM head and norms f32 (%.2f MB)\n", lo->base_bits, lo->base_group, qb / 1e6, fb / 1e6,
                   fb / qb, 4.0 * r->m.n_params / 1e6);
        }
    }
    if (r->m.lora && r->s.zero)   /* the adapter's AdamW state is small: nothing to shard */
        die("--zero 1 shards the AdamW state of the whole model; a LoRA run's is %.2f MB (its adapter's): leave --zero out",
            8.0 * r->m.lora->n_params / 1e6);
#ifdef UT_GPU
    if (r->m.lora) die("LoRA runs on the CPU (./train) for now: train_gpu has no LoRA kernels yet");
#endif
    if (r->s.zero) zero_setup(r);
    comm_barrier(&g_comm);   /* every rank has read the folder before rank 0 starts writing it */
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
    ut_lora_free(&r->lora);
    free(r->in); free(r->tgt); free(r->load); free(r->step_stats);
    free(r->zm); free(r->zv); free(r->zg); free(r->znorm); free(r->gsum);
    free(r->rec.runs);
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

/* ZeRO-1's update (see zero_setup): every rank holds the summed-over-micro-
   batches gradient of its own data in m->grads (padded); returns the global
   gradient norm. The GPU build makes the same four moves on the GPU's copies
   (train_gpu.h), where NCCL reduces and gathers them in place. */
static double zero_update(run *r, int step, float lr) {
    ut_model *m = &r->m;
    const ut_train_config *tc = &r->s.tc;
    size_t CH = UT_NORM_CHUNK, nc = r->shard / CH;
    double *mine = r->znorm + (size_t)g_comm.rank * nc;   /* this rank's chunk sums of squares */
    /* 1. reduce-scatter: rank r gets shard r of the gradient summed over the
          ranks; 2. the chunk sums of squares of that shard */
#ifdef UT_GPU
    float *g = ut_zero_grads_gpu(m);
    if (!g) die("%s", ut_gpu_error());
    comm_reduce_scatter_sum_f32(&g_comm, g, g + r->lo, r->shard);   /* in place: shard r lands where it lies */
    if (ut_zero_norm_chunks_gpu(m, mine)) die("%s", ut_gpu_error());
#else
    comm_reduce_scatter_sum_f32(&g_comm, m->grads, r->zg, r->shard);
    memcpy(m->grads + r->lo, r->zg, r->shard * sizeof(ut_float));   /* where AdamW reads it */
    ut_sum_squares_chunks(m->grads + r->lo, r->shard, mine);
#endif
    /* every rank gets every chunk's sum and adds them in chunk order: the
       norm of the plain update, the same number on every rank */
    comm_allgather_bytes(&g_comm, r->znorm, nc * sizeof(double));
    double total = 0;
    for (size_t c = 0; c < nc * (size_t)g_comm.world; c++) total += r->znorm[c];
    double norm = sqrt(total);
    ut_float clip = 1;
    if (tc->grad_clip > 0 && norm > tc->grad_clip) clip = (ut_float)(tc->grad_clip / norm);
    /* 3. AdamW on shard r; 4. all-gather: every rank gets every updated shard */
#ifdef UT_GPU
    float *p = ut_zero_params_gpu(m);
    if (!p || ut_zero_adamw_gpu(m, tc, lr, step + 1, clip)) die("%s", ut_gpu_error());
    comm_allgather_f32(&g_comm, p, r->shard);
    if (ut_zero_gathered_gpu(m)) die("%s", ut_gpu_error());   /* the bf16 copy of the others' shards */
#else
    size_t P = m->n_params, hi = r->lo + r->shard < P ? r->lo + r->shard : P;   /* the padding is not a weight */
    if (r->lo < hi) ut_adamw_update(m, tc, lr, step + 1, clip, r->lo, hi, r->zm, r->zv);
    comm_allgather_f32(&g_comm, m->params, r->shard);
#endif
    return norm;
}

/* One optimizer step (`step` counts from 0):
     grad_accum times: draw a micro-batch, zero the gradients (backward
       always adds into them), forward, backward scaled by 1/grad_accum, and
       add the micro-batch's gradient to the step's sum (r->gsum), so the
       sum is the mean gradient over all micro-batches;
     one AdamW step at the scheduled learning rate.
   Why a separate sum rather than letting backward add micro-batch after
   micro-batch into one buffer (which saves its memory)? Inside one backward
   a weight may receive several contributions (a token seen twice, a matmul
   summed block by block), so "backward into a buffer holding g1" is not
   exactly g1 + g2: the rounding differs. Each micro-batch's gradient on its
   own, then one addition per micro-batch, is what several ranks compute
   (each its own gradient, then the sum): so 2 ranks and --grad-accum 2 give
   bit-identical runs.
   With several ranks (see "several processes" above) each rank runs its
   share of the micro-batches, the gradients and the losses are summed over
   the ranks, and the update is the same everywhere (or, --zero 1, each rank
   updates its shard and the weights are gathered). The expert counts are
   added to r->load. The loss is kept in double, as ut_model_forward returns it. */
static step_result train_step(run *r, int step) {
    ut_model *m = &r->m;
    const ut_train_config *tc = &r->s.tc;
    int accum = tc->grad_accum, LE = m->cfg.n_layers * m->cfg.n_experts, moe = m->cfg.n_experts > 1;
    int first = g_comm.rank * r->local_accum, last = first + r->local_accum;   /* this rank's micro-batches */
    step_result st = {0, 0, 0, ut_lr_at(tc, step), 0};
    double *mb = r->step_stats, *count = r->step_stats + (size_t)accum * 3;   /* (accum, 3) and (L, E) */
    /* what this step trains: the whole model, or a LoRA run's adapter alone
       (its base is frozen and has no gradient) */
    ut_float *G = m->lora ? m->lora->grads : m->grads;
    size_t P = m->lora ? m->lora->n_params : m->n_params;
    /* Several micro-batches on this rank: each one's gradient is taken alone
       and added to a sum, in micro-batch order, so that the result is the same
       bit for bit however the micro-batches are shared among ranks. The GPU
       build keeps its gradient on the GPU, where the backward adds into it:
       zeroed once, it sums the micro-batches itself. */
#ifdef UT_GPU
    const int separate = 0;
#else
    const int separate = r->local_accum > 1;
#endif
    memset(r->step_stats, 0, ((size_t)accum * 3 + (size_t)LE) * sizeof(double));
    if (separate && !r->gsum && !(r->gsum = (ut_float *)malloc(P * sizeof(ut_float))))
        die("out of memory for the gradient sum of --grad-accum");
    for (int a = 0; a < accum; a++) {
        ut_batch_random(&r->train, &r->pr.data_rng, r->B, r->T, r->in, r->tgt);   /* every rank draws every batch */
        if (a < first || a >= last) continue;                                      /* another rank's */
        if (a == first || separate) {
            if (m->lora) ut__zero(G, P);
            else ut_model_zero_grad(m);
        }
        double loss = ut_model_forward(m, r->in, r->tgt, r->B, r->T);
        if (loss < 0) die("%s", ut_error());
        if (!isfinite(loss)) {
            char what[64];
            snprintf(what, sizeof what, "the loss is %g", loss);
            stop_not_finite(r, what, step + 1);
        }
        mb[a * 3] = loss; mb[a * 3 + 1] = m->aux_loss; mb[a * 3 + 2] = m->z_loss;
        for (int i = 0; moe && i < LE; i++) count[i] += m->expert_count[i];
#ifdef UT_GPU   /* several GPUs: the step's last backward starts each layer's all-reduce as it goes (train_gpu.h) */
        ut__gpu_overlap(&g_comm, m, a == last - 1 && !r->s.zero && !m->lora);
#endif
        ut_model_backward(m, 1.0f / accum);
        if (!separate) continue;                            /* the gradient is already the sum */
        if (a == first) memcpy(r->gsum, G, P * sizeof(ut_float));
        else {
            ut_float *gs = r->gsum;
            #pragma omp parallel for
            for (size_t i = 0; i < P; i++) gs[i] += G[i];
        }
    }
    if (separate) memcpy(G, r->gsum, P * sizeof(ut_float));
    /* every rank's losses and counts (each entry has one rank's number and
       zeros elsewhere, so the sums are exact), then added in micro-batch order */
    comm_allreduce_sum_f64(&g_comm, r->step_stats, (size_t)accum * 3 + (size_t)LE);
    for (int a = 0; a < accum; a++) { st.loss += mb[a * 3]; st.aux += mb[a * 3 + 1]; st.z += mb[a * 3 + 2]; }
    for (int i = 0; moe && i < LE; i++) r->load[i] += count[i];
    st.loss /= accum; st.aux /= accum; st.z /= accum;
    if (m->lora) {   /* the adapter's gradient, summed over the ranks; every rank makes the same update */
        comm_allreduce_sum_f32(&g_comm, G, P);
        st.grad_norm = ut_lora_adamw_step(m->lora, tc, st.lr, step + 1);
    } else if (!r->s.zero) {
        /* every rank: the whole step's gradient (on several GPUs begun during
           the backward, layer by layer; this then waits for it: train_gpu.h) */
        comm_allreduce_sum_f32(&g_comm, m->grads, m->n_params);
        st.grad_norm = ut_adamw_step(m, tc, st.lr, step + 1);
    } else st.grad_norm = zero_update(r, step, st.lr);
    /* A finite gradient can still give non-finite weights or moments (a huge
       lr or weight decay, or g^2 overflowing): look at what the update made. */
    char what[600];
    if (!isfinite(st.grad_norm)) snprintf(what, sizeof what, "the gradient norm is %g", st.grad_norm);
    else if (m->lora ? ut__lora_check(m->lora) : check_state(r))
        snprintf(what, sizeof what, "the update made %s", ut_error());
    else return st;
    stop_not_finite(r, what, step + 1);   /* the weights are now bad */
}

/* ---- --dry-run: sizes, FLOPs, memory and the time of a real step --------- */

/* What a LoRA run holds is not what ut_memory_estimate counts for training
   the whole model: the base is frozen (no gradient, no AdamW state) and,
   with --base-dtype, its block matrices are integers, plus a scratch that
   holds one of them in f32 at a time. The adapter adds its weights, its
   gradient and two moments; its products keep x A^T of every layer and
   target, and a scratch (ut__lora_reserve). Counted from what this run
   has allocated, so it prints instead of the estimate's line. */
static void print_lora_memory(const run *r, const ut_memory *full) {
    const ut_model *m = &r->m;
    const ut_lora *lo = m->lora;
    double S = sizeof(ut_float), q = 0, f = 0, N = (double)r->B * r->T, oc = m->cfg.d_model;
    quantized_bytes(m, &q, &f);
    for (int t = 0; t < UT_LORA_NT; t++) if (lo->out[t] > oc) oc = lo->out[t];
    double base_f = m->n_params * S, scratch = m->qscratch_n * S, adapter = lo->n_params * S;
    double acts = full->activations + ((double)lo->n_layers * UT_LORA_NT * N * lo->rank + N * (oc + 2.0 * lo->rank)) * S;
    double total = base_f + q + scratch + 4 * adapter + acts;
    /* MB with 3 decimals below 10 MB (a small model's parts still differ) */
    char t[6][32];
    const double v[6] = {total, base_f + q + scratch, q, base_f, scratch, acts};
    for (int i = 0; i < 6; i++) snprintf(t[i], sizeof t[i], v[i] < 10e6 ? "%.3f" : "%.1f", v[i] / 1e6);
    char base[256];
    if (q > 0)
        snprintf(base, sizeof base, "frozen base %s (int%d matrices %s + f32 %s + one matrix's f32 scratch %s)", t[1],
                 lo->base_bits, t[2], t[3], t[4]);
    else snprintf(base, sizeof base, "frozen base %s", t[1]);
    printf("memory:          %s MB = %s + adapter %.3f + its grads %.3f + AdamW %.3f + activations %s%s\n", t[0], base,
           adapter / 1e6, adapter / 1e6, 2 * adapter / 1e6, t[5], r->s.recompute ? " (--recompute)" : "");
    printf("                 (full fine-tuning of the same model: %.1f MB)\n", full->total / 1e6);
}

static void dry_run(run *r) {
    const ut_config *mc = &r->s.mc;
    const ut_train_config *tc = &r->s.tc;
    ut_memory mem = ut_memory_estimate(mc, r->B, r->T, r->s.recompute);
    printf("parameters:      %zu total, %zu active per token%s\n", ut_num_params(mc), ut_num_active_params(mc),
           mc->n_experts > 1 ? " (MoE: K of E experts)" : "");
    printf("FLOPs per token: %.3g (training: forward + backward)\n", r->fpt);
    if (r->s.zero) {   /* ZeRO-1: this rank holds the padded weights and gradient, and its shard's moments */
        mem.params = mem.grads = r->padded * sizeof(ut_float);
        mem.optimizer = 2 * r->shard * sizeof(ut_float);
        mem.total = mem.params + mem.grads + mem.optimizer + mem.activations;
    }
    if (r->m.lora) print_lora_memory(r, &mem);
    else
        printf("memory:          %.1f MB%s = params %.1f + grads %.1f + AdamW %.1f%s + activations %.1f%s\n",
               mem.total / 1e6, g_comm.world > 1 ? " per rank" : "", mem.params / 1e6, mem.grads / 1e6,
               mem.optimizer / 1e6, r->s.zero ? " (ZeRO-1: this rank's shard)" : "", mem.activations / 1e6,
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


/* Ctrl-C (SIGINT) or SIGTERM (what `kill`, Slurm at a time limit and
   container shutdowns send) sets this to the signal's number; the loop
   finishes its step (or the final evaluation stops early), saves and exits
   with 128 + the number, as a shell reports a process ended by that signal
   (130 for Ctrl-C, 143 for SIGTERM). A second signal of either kind waits for
   the save like the first: nothing is lost. */
static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; }
static void catch_stop_signals(void) {
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
}
static const char *stop_signal_name(void) { return interrupted == SIGTERM ? "SIGTERM" : "Ctrl-C"; }
static int stop_status(void) { return interrupted ? 128 + interrupted : 0; }

/* The validation file is cut into consecutive windows of T+1 tokens, B to a
   batch: `all` batches tile it. An evaluation reads `batches` of them spread
   evenly over the file (its start can be easier than its end). The final
   evaluation reads as many as --eval-tokens asks (0: all of them). */
static int eval_all_batches(const ut_tokens *val, int B, int T) {
    uint64_t windows = (val->n_tokens - 1) / (uint64_t)T, all = windows / (uint64_t)B;
    return all < 1 ? 1 : all > (uint64_t)1 << 30 ? 1 << 30 : (int)all;
}
static int eval_batches_for(int all, int B, int T, long long tokens) {
    long long b = tokens > 0 ? (tokens + (long long)B * T - 1) / ((long long)B * T) : all;
    return b < all ? (int)b : all;
}

/* Mean cross-entropy over `batches` of the `all` batches (see above).
   ut_batch_sequential is deterministic and never touches the training rng.
   final = 1: a progress line on the terminal, and Ctrl-C stops it early.
   Returns the mean over the *done batches it read (NaN if none).
   Several ranks share the batches: in each round of W batches rank r reads
   batch (round start + r) into its slot of `losses` (zero elsewhere); the
   sum over the ranks then holds every batch's loss exactly (x + 0 = x), and
   every rank adds them in batch order: the very number one process gets,
   in 1/W of the time. Whether to stop (Ctrl-C) is decided by all the ranks
   together, once a round, so that they all stop after the same batch. */
static double evaluate(ut_model *m, const ut_tokens *val, int B, int T, int batches, int all, int *in, int *tgt,
                       int final, int *done) {
    double sum = 0, t0 = now_s(), drawn = 0;
    int i = 0, W = g_comm.world;
    double *losses = (double *)calloc(batches > 0 ? (size_t)batches : 1, sizeof(double));
    if (!losses) die("out of memory for %d evaluation losses", batches);
    if (final && !tty) {   /* a log file: say what is coming (a terminal gets a live line) */
        printf("final evaluation: %d batches of %d tokens%s\n", batches, B * T, W > 1 ? ", shared by the ranks" : "");
        fflush(stdout);
    }
    while (i < batches) {
        int stop = final && interrupted;
        if (W > 1) stop = comm_any(&g_comm, stop);
        if (stop) break;
        int b = i + g_comm.rank;   /* this rank's batch of the round */
        if (b < batches) {
            ut_batch_sequential(val, (uint64_t)b * all / batches, B, T, in, tgt);
            losses[b] = ut_model_forward(m, in, tgt, B, T);
            if (losses[b] < 0) die("%s", ut_error());
        }
        i = batches - i < W ? batches : i + W;   /* batches 0 .. i-1 are read (by some rank) */
        if (final && tty && now_s() - drawn > 0.2) {
            char eta[32];
            fmt_duration(eta, sizeof eta, (now_s() - t0) / i * (batches - i));
            printf("\r\033[Kfinal evaluation: %d/%d batches of %d tokens  ETA %s  (Ctrl-C stops it)", i, batches,
                   B * T, eta);
            fflush(stdout);
            progress_shown = 1;
            drawn = now_s();
        }
    }
    clear_progress();
    if (W > 1 && i) comm_allreduce_sum_f64(&g_comm, losses, (size_t)i);
    for (int k = 0; k < i; k++) sum += losses[k];
    free(losses);
    *done = i;
    return i ? sum / i : NAN;
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

/* OVERFITTING AND THE BEST MODEL. Small data is learned by heart: the
   training loss keeps falling while the validation loss turns up. Each
   periodic evaluation (the same batches every time, so they compare) is
   tracked against the mean training loss since the one before:
     - validation up and training down at 3 evaluations in a row: a warning
       (once per such rise), in the output and in metrics.jsonl;
     - --keep-best: a new lowest validation loss saves OUT/best.ckpt (an
       ordinary checkpoint: sample, eval and --resume take it).
   On --resume the tracker is replayed from metrics.jsonl (track_metrics), so
   it goes on as if the run had never stopped. */
static void track_train(run *r, double loss) { r->train_sum += loss; r->train_n++; }
/* Returns 1 if this evaluation is the third rise in a row (warn now). */
static int track_eval(run *r, int step, double val) {
    double train = r->train_n ? r->train_sum / r->train_n : NAN;
    int rose = r->n_tracked > 0 && val > r->prev_val && train < r->prev_train;
    r->rising = rose ? r->rising + 1 : 0;
    r->prev_val = val; r->prev_train = train; r->n_tracked++;
    r->train_sum = 0; r->train_n = 0;
    if (val < r->best_val) { r->best_val = val; r->best_step = step; r->new_best = 1; }
    return r->rising == 3;
}

/* Evaluates and writes the val row. final: the end-of-run evaluation over
   up to --eval-tokens (stoppable with Ctrl-C); else a periodic one over
   --eval-batches batches, which also feeds the tracker above. */
static void log_eval(run *r, int step, int final) {
    int batches = final ? r->final_batches : r->eval_batches, done;
    double loss = evaluate(&r->m, &r->val, r->B, r->T, batches, r->all_batches, r->in, r->tgt, final, &done);
    if (!done) return;   /* Ctrl-C came before the first batch */
    r->val_loss = loss; r->val_step = step; r->val_final = final;
    r->val_tokens = (long long)done * r->B * r->T;
    char extra[128] = "";
    if (final)
        snprintf(extra, sizeof extra, ",\"final\":true,\"tokens\":%lld%s", (long long)done * r->B * r->T,
                 done < batches ? ",\"interrupted\":true" : "");
    metrics_write("{\"step\":%d,\"val_loss\":%.9g,\"val_bpb\":%.6g,\"elapsed_s\":%.2f%s}", step, loss,
                  bits_per_byte(&r->val, loss), now_s() - t_process, extra);
    if (final || step == 0) return;
    r->new_best = 0;
    if (track_eval(r, step, loss)) {
        clear_progress();
        double ep = (double)r->pr.tokens_seen / (double)r->train.n_tokens;
        printf("warning: the validation loss has risen at 3 evaluations in a row (now %.4f at step %d) while the "
               "training loss fell, at epoch %.1f: the model is memorising its training text. Use more text, a "
               "smaller model, or the model from before the rise%s\n", loss, step, ep,
               r->s.keep_best ? " (best.ckpt, kept by --keep-best)" : " (--keep-best keeps it)");
        metrics_write("{\"step\":%d,\"warning\":\"overfitting: validation loss rose at 3 evaluations in a row while "
                      "training loss fell\",\"epoch\":%.3f}", step, ep);
    }
    if (r->new_best && r->s.keep_best) save_checkpoint(r, r->best_path);
}

/* On --resume: replay the rows of metrics.jsonl (already cut back to the
   checkpoint's step) through the tracker. */
static void track_metrics(run *r) {
    FILE *f = fopen(r->mpath, "rb");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *st = strstr(line, "\"step\":"), *tl = strstr(line, "\"train_loss\":"), *vl = strstr(line, "\"val_loss\":");
        if (!st) continue;
        int step = atoi(st + 7);
        if (tl) track_train(r, strtod(tl + 13, NULL));
        else if (vl && step > 0 && !strstr(line, "\"final\"") && !strstr(line, "\"full\"")) {
            track_eval(r, step, strtod(vl + 11, NULL));
            r->val_loss = strtod(vl + 11, NULL); r->val_step = step;
        }
    }
    free(line);
    fclose(f);
}

/* THE PROGRESS LINE. Columns, from the most useful to the least:
     step 400/800   loss 1.2345   ETA 1m05s   val 1.3456 (1.95 bpb) @300
     1234 tok/s   epoch 1.53   lr 1.2e-03   |g| 0.91   12.3 GFLOP/s
   On a terminal it is redrawn in place (at most 10 times a second) and must
   fit its width, or every redraw wraps onto a new line: the least useful
   columns are dropped until it fits. Not a terminal (a log file): every
   column, a plain line every log_every steps and at each evaluation. The
   val column says at which step it was measured (@step): it is not redone
   every step. After an evaluation the expert load is printed under it. */
enum { COL_STEP, COL_LOSS, COL_VAL, COL_EPOCH, COL_LR, COL_GNORM, COL_TPS, COL_GFLOPS, COL_ETA, NCOL };
static const int col_rank[NCOL] = {0, 1, 3, 5, 6, 7, 4, 8, 2};   /* 0 = kept longest */

static int terminal_width(void) {
    struct winsize ws;
    if (ioctl(fileno(stdout), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    return c && atoi(c) > 0 ? atoi(c) : 80;
}

static void print_progress(run *r, const step_result *st, int s1, int last, int evaluated, double tps) {
    const ut_config *mc = &r->s.mc;
    int total = r->s.tc.total_steps;
    double el = now_s() - r->t_start, eta = el / (s1 - r->start) * (total - s1);
    char col[NCOL][80], etas[32], line[1024];
    for (int c = 0; c < NCOL; c++) col[c][0] = 0;
    fmt_duration(etas, sizeof etas, last ? el : eta);
    snprintf(col[COL_STEP], 80, "step %*d/%d", (int)(log10(total) + 1), s1, total);
    snprintf(col[COL_LOSS], 80, "loss %.4f", st->loss);
    if (!isnan(r->val_loss))
        snprintf(col[COL_VAL], 80, "val %.4f (%.3f bpb) @%d%s", r->val_loss, bits_per_byte(&r->val, r->val_loss),
                 r->val_step, r->val_final ? " final" : "");
    snprintf(col[COL_EPOCH], 80, "epoch %.2f", (double)r->pr.tokens_seen / (double)r->train.n_tokens);
    snprintf(col[COL_LR], 80, "lr %.2e", st->lr);
    snprintf(col[COL_GNORM], 80, "|g| %.2f", st->grad_norm);
    snprintf(col[COL_TPS], 80, "%.0f tok/s", tps);
    snprintf(col[COL_GFLOPS], 80, "%.2f GFLOP/s", r->fpt * tps / 1e9);
    snprintf(col[COL_ETA], 80, "%s %s", last ? "took" : "ETA", etas);
    int keep[NCOL];
    for (int c = 0; c < NCOL; c++) keep[c] = col[c][0] != 0;
    int width = tty ? terminal_width() - 1 : 1 << 20;   /* -1: a full last column would wrap on some terminals */
    for (int drop = NCOL - 1; ; drop--) {                 /* drop the least useful until it fits */
        size_t n = 0;
        line[0] = 0;
        for (int c = 0; c < NCOL; c++)
            if (keep[c]) n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? "  " : "", col[c]);
        if ((int)n <= width || drop < 2) break;
        for (int c = 0; c < NCOL; c++) if (col_rank[c] == drop) keep[c] = 0;
    }
    if (tty && (now_s() - r->last_draw > 0.1 || last || evaluated)) {
        printf("\r%.*s\033[K", width, line);
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
   metrics.jsonl; every --eval-every steps and at the end an evaluation (at
   the end a periodic one, then the final one over --eval-tokens) and the
   expert load since the last report; then the progress line. */
static void log_step(run *r, const step_result *st, int s1, int last, double dt) {
    const settings *s = &r->s;
    int moe = s->mc.n_experts > 1;
    double tps = r->tok_per_step / dt;
    r->aux_sum += st->aux; r->z_sum += st->z; r->moe_n++;
    track_train(r, st->loss);
    if (moe) metrics_write("{\"step\":%d,\"train_loss\":%.9g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f,"
                           "\"ms\":%.2f,\"threads\":%d,\"aux_loss\":%.6g,\"z_loss\":%.6g}", s1, st->loss, st->lr,
                           st->grad_norm, tps, 1e3 * dt, num_threads(), st->aux, st->z);
    else metrics_write("{\"step\":%d,\"train_loss\":%.9g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f,"
                       "\"ms\":%.2f,\"threads\":%d}", s1, st->loss, st->lr, st->grad_norm, tps, 1e3 * dt, num_threads());
    int periodic = s->eval_every && s1 % s->eval_every == 0;
    int evaluated = r->have_val && (periodic || last);
    int report = evaluated || last || (!r->have_val && periodic);
    if (evaluated) log_eval(r, s1, 0);
    if (evaluated && last) log_eval(r, s1, 1);
    if (moe && report) metrics_expert_load((uint64_t)s1, &s->mc, r->load, r->aux_sum / r->moe_n, r->z_sum / r->moe_n);
    print_progress(r, st, s1, last, evaluated, tps);
    if (report) {   /* the next report covers the steps from here */
        memset(r->load, 0, sizeof(double) * s->mc.n_layers * s->mc.n_experts);
        r->aux_sum = r->z_sum = 0; r->moe_n = 0;
    }
}

/* ---- the dashboard (dashboard.h) ----------------------------------------
   RUN/dashboard.html is drawn from metrics.jsonl alone (so `./train
   dashboard RUN` can draw it again later), so the run writes there what the
   page shows besides the numbers: at its start (and at each resume) a
   "config" row — the model, the settings, sizes, the memory estimate, the
   data files, the command line; the --sample-every samples; and at its end
   an "end" row: finished, stopped or failed. The page is rewritten at every
   evaluation and sample, at least every 30 s, and at the end. A page that
   cannot be written is a warning: the run goes on without it. */
static const run *dash_current;     /* the run on_die records a failure for */
static double dash_last_write;
static int dash_warned;             /* warn once, not at every evaluation */

static void dashboard_write(const run *r, const char *state, const char *note) {
    if (g_comm.rank > 0) return;   /* rank 0's, like the whole folder */
    char err[8800];
    dash_last_write = now_s();
    if (dash_write_run(r->s.out_dir, state, note, err, sizeof err) && !dash_warned) {
        clear_progress();
        fprintf(stderr, "train: warning: %s (training goes on)\n", err);
        dash_warned = 1;
    }
}
static void dashboard_print_url(const run *r) {
    char path[4200], url[8800];
    snprintf(path, sizeof path, "%s/dashboard.html", r->s.out_dir);
    dash_file_url(url, sizeof url, path);
    if (file_exists(path)) printf("dashboard: %s\n", url);
}
/* x as JSON: a number, or null when it is not finite (an empty file's ratio) */
static const char *json_num(char *buf, size_t n, double x) {
    if (isfinite(x)) snprintf(buf, n, "%.6g", x); else snprintf(buf, n, "null");
    return buf;
}
static void metrics_config_row(const run *r) {
    const settings *s = &r->s;
    const ut_config *c = &s->mc;
    const ut_train_config *t = &s->tc;
    ut_memory mem = ut_memory_estimate(c, r->B, r->T, s->recompute);
    static char cmd[16384], cmdj[100000], pj[3][25000];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "./train");
    for (int i = 1; i < g_argc && n < sizeof cmd; i++) {   /* after ./train; quote what a shell would split */
        const char *a = g_argv[i];
        int plain = a[0] && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == strlen(a);
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, plain ? " %s" : " '%s'", a);
    }
    dash_json_string(cmdj, sizeof cmdj, cmd, strlen(cmd));
    const char *paths[3] = {s->train_path, s->val_path, s->tok_path};
    for (int i = 0; i < 3; i++) {
        if (paths[i]) dash_json_string(pj[i], sizeof pj[i], paths[i], strlen(paths[i]));
        else snprintf(pj[i], sizeof pj[i], "null");
    }
    char tpb[32], vpb[32], started[32];
    json_num(tpb, sizeof tpb, (double)r->train.n_tokens / (double)r->train.n_bytes);
    json_num(vpb, sizeof vpb, r->have_val ? (double)r->val.n_tokens / (double)r->val.n_bytes : NAN);
    time_t now = time(NULL);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    metrics_write("{\"step\":%llu,\"config\":{\"layers\":%d,\"dim\":%d,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,"
                  "\"ffn\":%d,\"experts\":%d,\"top_k\":%d,\"seq\":%d,\"vocab\":%d,\"rope_theta\":%g,\"tie\":%s,"
                  "\"window\":%d,\"aux_coef\":%g,\"z_coef\":%g,\"batch\":%d,\"grad_accum\":%d,\"tokens_per_step\":%lld,"
                  "\"steps\":%d,\"lr\":%g,\"min_lr\":%g,\"warmup\":%d,\"weight_decay\":%g,\"clip\":%g,\"seed\":%llu,"
                  "\"threads\":%d,\"ranks\":%d,\"zero\":%d,\"eval_every\":%d,\"params\":%zu,\"active_params\":%zu,\"flops_per_token\":%.6g,"
                  "\"memory\":{\"total\":%zu,\"params\":%zu,\"grads\":%zu,\"optimizer\":%zu,\"activations\":%zu},"
                  "\"train\":%s,\"val\":%s,\"tokenizer\":%s,\"train_tokens_per_byte\":%s,\"val_tokens_per_byte\":%s},"
                  "\"command\":%s,\"started\":\"%s\"}",
                  (unsigned long long)r->pr.step, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim,
                  c->ffn_hidden, c->n_experts, c->top_k, t->seq_len, c->vocab_size, c->rope_theta,
                  c->tie_embeddings ? "true" : "false", c->sliding_window, c->aux_loss_coef, c->z_loss_coef,
                  t->batch_size, t->grad_accum, r->tok_per_step, t->total_steps, t->lr, t->min_lr, t->warmup_steps,
                  t->weight_decay, t->grad_clip, (unsigned long long)t->seed, num_threads(), g_comm.world, s->zero, s->eval_every,
                  ut_num_params(c), ut_num_active_params(c), r->fpt, mem.total, mem.params, mem.grads,
                  mem.optimizer, mem.activations, pj[0], pj[1], pj[2], tpb, vpb, cmdj, started);
}
/* die() during the run: an "end" row (written as best it can be: the
   failure may be metrics.jsonl itself) and the page, saying why. */
static void dashboard_on_die(const char *msg) {
    static char mj[50000];
    dash_json_string(mj, sizeof mj, msg, strlen(msg));
    if (metrics && fprintf(metrics, "{\"step\":%llu,\"end\":\"failed\",\"elapsed_s\":%.2f,\"note\":%s}\n",
                           (unsigned long long)dash_current->pr.step, now_s() - t_process, mj) > 0) fflush(metrics);
    dash_warned = 1;   /* the error line is the one line the user gets */
    dashboard_write(dash_current, "failed", msg);
}
/* The first page, before the first step; prints where it is. */
static void dashboard_start(run *r) {
    metrics_config_row(r);
    dash_current = r;
    if (g_comm.rank == 0) on_die = dashboard_on_die;
    dashboard_write(r, "live", NULL);
    dashboard_print_url(r);
}
/* During the run: at every evaluation (or expert-load report) and sample, and at least every 30 s. */
static void dashboard_tick(const run *r, int s1) {
    const settings *s = &r->s;
    if ((s->eval_every && s1 % s->eval_every == 0) || (s->sample_every && s1 % s->sample_every == 0) ||
        now_s() - dash_last_write > 30)
        dashboard_write(r, "live", NULL);
}
/* The end: finished or stopped ("failed" is dashboard_on_die). */
static void dashboard_end(const run *r, const char *state, const char *note) {
    static char nj[20000];
    dash_json_string(nj, sizeof nj, note, strlen(note));
    on_die = NULL;
    metrics_write("{\"step\":%llu,\"end\":\"%s\",\"elapsed_s\":%.2f,\"note\":%s}", (unsigned long long)r->pr.step,
                  state, now_s() - t_process, nj);
    dashboard_write(r, state, note);
}

/* ---- the loop ----------------------------------------------------------- */

/* THREADS ON A BUSY MACHINE. OpenMP splits each product over all cores and
   waits at its end for the slowest thread. When another program keeps one
   core busy, our thread there runs at half speed and the others wait for it
   (spinning, by OpenMP's default): on 2 cores a step then took 1.7x as long
   as on one thread. A step's numbers do not depend on the thread count
   (every sum is split the same way whatever the count; test_cli checks it),
   so the count may change at any step. Unless --threads or OMP_NUM_THREADS
   fixes it, the loop times every step and now and then runs one step with
   another count (all threads, half of them, ..., one), keeping whichever is
   faster by 10%. The first probe is the fourth step (the first two also
   allocate), so a busy machine is noticed at once; probes that lose come
   less and less often (every 16, 32, ... 256 steps): on a quiet machine
   they cost about 1% of a short run's time, less for a long one. */
typedef struct {
    int on, n, cur, probe;   /* candidates: counts[0..n) = all, all/2, ..., 1 */
    int counts[16], every, next;
    double sec[16];          /* recent seconds per step of each candidate (0: not timed yet) */
} thread_tuner;

static void tuner_init(thread_tuner *t, int fixed) {
    memset(t, 0, sizeof *t);
    int all = num_threads();
    t->on = !fixed && !getenv("OMP_NUM_THREADS") && all > 1;
    for (int c = all; c >= 1 && t->n < 16; c = c > 1 ? c / 2 : 0) t->counts[t->n++] = c;
    t->every = 16; t->next = 3; t->probe = -1;   /* step 2 times all threads, step 3 the first probe */
}
/* The thread count for this step (step counted from the run's start). */
static void tuner_before(thread_tuner *t, int step) {
    if (!t->on) return;
    t->probe = -1;
    if (step >= t->next) {   /* a probe: the next candidate after the current one */
        t->probe = (t->cur + 1 + step / t->every % (t->n - 1)) % t->n;
        t->next = step + t->every;
    }
    set_threads(t->counts[t->probe >= 0 ? t->probe : t->cur]);
}
static void tuner_after(thread_tuner *t, int step, double sec) {
    if (!t->on || step < 2) return;   /* the first steps also allocate */
    int i = t->probe >= 0 ? t->probe : t->cur;
    t->sec[i] = t->sec[i] > 0 && t->probe < 0 ? 0.8 * t->sec[i] + 0.2 * sec : sec;
    if (t->probe < 0 || t->sec[t->cur] <= 0) return;
    if (t->sec[t->probe] < 0.9 * t->sec[t->cur]) { t->cur = t->probe; t->every = 16; }   /* faster: switch */
    else if (t->every < 256) t->every *= 2;                                            /* lost: probe less */
    t->next = step + t->every;
}

/* THE EXPERT LOAD ACROSS A RESUME. The expert counts, aux and z losses are
   summed from one report to the next; a checkpoint saved between two reports
   (Ctrl-C, --stop-at, --save-every) does not hold those sums, so they go next
   to it, in OUT/moe.state, written just before the checkpoint and naming its
   step and data-loader state. A resume whose checkpoint matches takes them
   back, and its next report is the one an uninterrupted run would write.
   (A crash between the two writes leaves a state that matches nothing: the
   sums then restart, and the next report says so.) */
static void moe_state_path(const run *r, char *buf, size_t n) { snprintf(buf, n, "%s/moe.state", r->s.out_dir); }
static void moe_state_save(const run *r) {
    if (r->s.mc.n_experts < 2 || g_comm.rank > 0) return;
    char path[4200], tmp[4300];
    moe_state_path(r, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) die("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "ultrathink moe state 1\nstep %llu rng %llu n %d aux %.17g z %.17g\n", (unsigned long long)r->pr.step,
            (unsigned long long)r->pr.data_rng, r->moe_n, r->aux_sum, r->z_sum);
    for (int i = 0; i < r->s.mc.n_layers * r->s.mc.n_experts; i++) fprintf(f, "%.17g\n", r->load[i]);
    int bad = fflush(f) != 0 || ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        die("writing %s failed: %s", path, strerror(errno));
    }
}
static void moe_state_load(run *r) {
    if (r->s.mc.n_experts < 2) return;
    char path[4200];
    moe_state_path(r, path, sizeof path);
    FILE *f = fopen(path, "rb");
    unsigned long long step = 0, rng = 0;
    int n = 0, ok = f && fscanf(f, "ultrathink moe state 1 step %llu rng %llu n %d aux %lg z %lg", &step, &rng, &n,
                                &r->aux_sum, &r->z_sum) == 5 && step == r->pr.step && rng == r->pr.data_rng;
    for (int i = 0; ok && i < r->s.mc.n_layers * r->s.mc.n_experts; i++) ok = fscanf(f, "%lg", &r->load[i]) == 1;
    if (f) fclose(f);
    if (ok) { r->moe_n = n; return; }
    r->aux_sum = r->z_sum = 0; r->moe_n = 0;
    memset(r->load, 0, sizeof(double) * r->s.mc.n_layers * r->s.mc.n_experts);
    if (r->pr.step % (r->s.eval_every ? r->s.eval_every : 1) != 0)
        fprintf(stderr, "train: note: %s does not match the checkpoint: the expert load restarts from step %llu\n", path,
                (unsigned long long)r->pr.step);
}

/* The output folder: created and locked for this run, its metrics.jsonl
   opened (on --resume cut back to the checkpoint's step). Returns 1 if the checkpoint has no steps left. */
static int open_output(run *r) {
    const settings *s = &r->s;
    if (g_comm.rank == 0) {   /* the folder is rank 0's */
        if (make_dirs(s->out_dir)) die("cannot create output folder %s: %s", s->out_dir, strerror(errno));
        if (lock_fd < 0) lock_run_folder(s->out_dir, 1);
        lock_write_pid(s->out_dir);
        record_write(s->out_dir, &r->rec, r->opts, r->pr.step);
        metrics_check_regular(r->mpath);
        if (s->resume) metrics_truncate_to(r->mpath, r->pr.step);
        metrics_path = r->mpath;
        if (!(metrics = fopen(r->mpath, s->resume ? "ab" : "wb"))) die("cannot write %s: %s", r->mpath, strerror(errno));
    }
    comm_barrier(&g_comm);   /* the others read metrics.jsonl (start_monitoring) once it is cut back */
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
    r->val_loss = NAN;
    r->best_val = INFINITY;
    if (s->resume) { track_metrics(r); moe_state_load(r); }
    if (!r->have_val) return;
    r->all_batches = eval_all_batches(&r->val, r->B, r->T);
    r->final_batches = eval_batches_for(r->all_batches, r->B, r->T, s->eval_tokens);
    r->eval_batches = s->eval_batches < r->all_batches ? s->eval_batches : r->all_batches;
    if (r->pr.step == 0) {   /* step 0: the loss of the untrained model, near ln V */
        log_eval(r, 0, 0);
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
    dash_capture_start();   /* what generate prints also goes into metrics.jsonl, for the dashboard */
    if (generate(&r->m, &r->kv, &r->tk, &first, 1, r->s.sample_tokens, 0.8f, 0, 0.95f, rng)) die("%s", ut_error());
    dash_capture.on = 0;
    printf("\n---\n");
    static char sj[6 * sizeof dash_capture.buf + 8];
    dash_json_string(sj, sizeof sj, dash_capture.buf, dash_capture.len);
    metrics_write("{\"step\":%d,\"sample\":%s}", step, sj);
}

static void print_summary(const run *r) {
    clear_progress();
    if (r->have_val && r->val_final)
        printf("final: val_loss %.4f nats/token, val_bpb %.4f bits/byte, perplexity %.2f (%lld tokens of %s%s)\n",
               r->val_loss, bits_per_byte(&r->val, r->val_loss), exp(r->val_loss), r->val_tokens, r->s.val_path,
               interrupted ? (interrupted == SIGTERM ? "; stopped by SIGTERM" : "; stopped by Ctrl-C") : r->final_batches < r->all_batches ? "; --eval-tokens 0 reads all" : "");
    if (r->s.keep_best && r->best_step)
        printf("best: val_loss %.4f at step %d, kept in %s\n", r->best_val, r->best_step, r->best_path);
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
    catch_stop_signals();
    start_monitoring(r);
    dashboard_start(r);
    uint64_t sample_rng = ut_rng_seed(s->tc.seed + 7);
    r->t_start = now_s();
    r->start = (int)r->pr.step;
    thread_tuner tuner;
    tuner_init(&tuner, s->threads != 0);
    for (int step = r->start; step < total; step++) {
        tuner_before(&tuner, step - r->start);
        double t0 = now_s();
        step_result st = train_step(r, step);
        tuner_after(&tuner, step - r->start, now_s() - t0);
        r->pr.step = (uint64_t)step + 1;
        r->pr.tokens_seen += (uint64_t)r->tok_per_step;
        int s1 = step + 1, last = s1 == total;
        print_checksum(r, s1);
        /* Ctrl-C may reach some ranks and not others: they stop together, or
           the others would wait for ever in the next step's collectives */
        if (g_comm.world > 1 && comm_any(&g_comm, interrupted != 0) && !interrupted) interrupted = SIGINT;
        log_step(r, &st, s1, last, now_s() - t0);
        if (s->sample_every && (s1 % s->sample_every == 0 || last)) print_sample(r, s1, &sample_rng);
        int stop = !last && (interrupted || s1 == s->stop_at);
        if ((s->save_every && s1 % s->save_every == 0) || last || stop) {
            moe_state_save(r);
            save_checkpoint(r, r->ckpt_out);
        }
        fflush(stdout);
        if (stop) {
            clear_progress();
            char note[4400];
            char why[32];
            snprintf(why, sizeof why, "interrupted (%s)", stop_signal_name());
            snprintf(note, sizeof note, "%s after step %d: continue with ./train --resume %s",
                     interrupted ? why : "stopped (--stop-at)", s1, s->out_dir);
            dashboard_end(r, "stopped", note);
            printf("%s: saved step %d to %s; continue with: ./train --resume %s\n",
                   interrupted ? "\ninterrupted" : "stopped (--stop-at)", s1, r->ckpt_out, s->out_dir);
            dashboard_print_url(r);
            return stop_status();
        }
        if (!last) dashboard_tick(r, s1);
    }
    dashboard_end(r, "finished", "");
    print_summary(r);
    dashboard_print_url(r);
    return stop_status();   /* Ctrl-C at the last step stops the final evaluation; all is saved */
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
   5. SAMPLE AND EVAL: ./train sample|eval --resume DIR|FILE [OPTIONS]
   Both read a checkpoint (a run folder's ckpt.bin, or any checkpoint file
   such as best.ckpt) and the run record next to it, which names the
   tokenizer and the validation file when they are not given.
   ======================================================================== */

/* A QLoRA adapter (trained against a quantized base) merged into the f32
   base it names: the model is then W + s B A with the exact W, not the
   rounded W the adapter learned beside. The two differ by the rounding of W
   (section 11b), about the cost of --dtype on the base: said once. */
static void qlora_note(const char *cmd, const char *adapter, const ut_lora *lo) {
    if (lo->base_bits)
        fprintf(stderr, "train: note: %s: %s was trained against the int%d (group %d) base (QLoRA); it is merged into "
                "the f32 base\n", cmd, adapter, lo->base_bits, lo->base_group);
}

/* The checkpoint --resume names, frozen (sample, eval and export read the
   weights only: no AdamW moments are kept), and its folder's run record. */
static void open_checkpoint(const char *cmd, const char *resume, ut_model *m, ut_train_config *tc, ut_progress *pr,
                            run_record *rec) {
    char path[4096], dir[4096];
    if (!resume) die("%s needs --resume DIR|FILE (a run folder or a checkpoint)", cmd);
    if (adapter_path(resume, path, sizeof path)) {   /* a LoRA run: its base with the adapter merged in */
        ut_lora lo;
        ut_base_ref base;
        load_adapter(path, NULL, 0, m, &lo, tc, pr, &base, 1);
        qlora_note(cmd, path, &lo);
        ut_lora_merge(m, &lo);
        m->lora = NULL;
        ut_lora_free(&lo);
    } else {
        checkpoint_path(resume, path, sizeof path);
        if (ut_checkpoint_load_frozen(path, m, tc, pr)) die("%s", ut_error());   /* no moments: not trained */
    }
    run_dir_of(resume, dir, sizeof dir);
    memset(rec, 0, sizeof *rec);
    record_read(dir, rec);
}
/* --tokenizer, else the recorded one. One given whose bytes differ from the
   recorded tokenizer would print another vocabulary's text (garbage that
   looks fine to the program): an error unless --force. */
static const char *pick_tokenizer(const char *given, const run_record *rec, int force) {
    if (!given) return recorded_path(NULL, &rec->tok, "tokenizer");
    file_id now;
    file_identify(given, &now);
    check_against_record("tokenizer", &now, &rec->tok, force, 1, " (--force: going on)");
    return given;
}

/* --dtype int8|int4 of sample and eval: every weight matrix (the embedding,
   q k v o, the MLPs or experts, the LM head; not the norms or the router)
   held as integers with one scale per --group numbers of a row, the f32
   copies freed (ut_model_quantize with UT_QALL, ultrathink.h section 11b).
   Every product is then computed from the integers: generating a token
   reads them directly (ut_qmatmul_forward_naive, one byte or half a byte per
   weight), a batch dequantizes one matrix at a time and multiplies in f32
   (the very numbers of the f32 product on the rounded weights). f32: the
   name is checked, nothing changes. Sets the bytes the matrices take stored
   that way and as f32. */
static void quantize_weights(ut_model *m, const char *dtype, int group, double *q_bytes, double *f_bytes) {
    int bits = dtype_bits("dtype", dtype);
    *q_bytes = *f_bytes = 0;
    if (bits == 32) return;
    if (ut_model_quantize(m, bits, group, UT_QALL)) die("%s", ut_error());
    quantized_bytes(m, q_bytes, f_bytes);
}

static int sample_main(int argc, char **argv) {
    const char *resume = NULL, *tok_path = NULL, *prompt = "", *probs_path = NULL, *dtype = NULL;
    int tokens = 256, top_k = 0, threads = 0, count = 1, force = 0, group = 32;
    float temperature = 0.8f, top_p = 0.95f;
    uint64_t seed = 1337;
    option opts[] = {
        {"resume", OPT_STR, &resume, 0, 0, 0, "checkpoint: a run folder (DIR/ckpt.bin) or a file (required)", NULL},
        {"tokenizer", OPT_STR, &tok_path, 0, 0, 0, "tokenizer (default: the run's, from its run.json)", NULL},
        {"force", OPT_FLAG, &force, 0, 1, 0, "use --tokenizer even if it is not the one the run recorded", NULL},
        {"prompt", OPT_STR, &prompt, 0, 0, 0, "text to continue (empty: start from a newline)", NULL},
        {"tokens", OPT_INT, &tokens, 1, BIG, 0, "tokens to generate", NULL},
        {"temperature", OPT_FLOAT, &temperature, 0, 100, 0, "softmax temperature (0 = greedy)", NULL},
        {"top-k", OPT_INT, &top_k, 0, BIG, 0, "sample among the k most likely (0 = all)", NULL},
        {"top-p", OPT_FLOAT, &top_p, 1e-6, 1, 0, "nucleus: the smallest set with this much probability", NULL},
        {"seed", OPT_U64, &seed, 0, 1.8e19, 0, "random seed", NULL},
        {"samples", OPT_INT, &count, 1, 1000, 0, "how many samples", NULL},
        {"threads", OPT_INT, &threads, 0, 4096, 0, "OpenMP threads (0 = all)", NULL},
        {"probs", OPT_STR, &probs_path, 0, 0, 0, "also write each generated token's probabilities (V f32) to this file", NULL},
        {"dtype", OPT_STR, &dtype, 0, 0, 0, "weights held as int8 or int4 (weight-only, one scale per --group; the products read the integers); prints the size, memory and tokens/s", NULL},
        {"group", OPT_INT, &group, 1, 1 << 20, 0, "numbers per quantization scale, along a row", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train sample")) {
        print_help("usage: train sample --resume DIR|FILE [OPTIONS]\n"
                   "Generates text from a checkpoint with the KV cache (one position per new token).\n"
                   "When the context (--seq of the run) is full, the last half is re-fed and generation goes on.", opts);
        return 0;
    }
    set_threads(threads);
    ut_model m;
    ut_train_config tc;
    ut_progress pr;
    run_record rec;
    open_checkpoint("sample", resume, &m, &tc, &pr, &rec);   /* frozen: no gradient or AdamW buffers */
    tok_path = pick_tokenizer(tok_path, &rec, force);
    free(rec.runs);
    ut_tokenizer tk;
    load_tokenizer(&tk, tok_path, m.cfg.vocab_size);
    if (!tok_path && m.cfg.vocab_size > 257)
        fprintf(stderr, "train: note: no --tokenizer: printing token ids\n");
    int *ids, np = encode_prompt(&tk, m.cfg.vocab_size, prompt, &ids);
    double q_bytes = 0, f_bytes = 0;
    if (dtype) quantize_weights(&m, dtype, group, &q_bytes, &f_bytes);
    ut_kv_cache kv;
    if (ut_kv_init(&kv, &m)) die("%s", ut_error());
    if (probs_path && !(probs_out = fopen(probs_path, "wb"))) die("cannot write %s: %s", probs_path, strerror(errno));
    uint64_t rng = ut_rng_seed(seed);
    double t0 = now_s();
    for (int i = 0; i < count; i++) {
        if (count > 1) printf("--- sample %d ---\n", i + 1);
        fputs(prompt, stdout);
        if (generate(&m, &kv, &tk, ids, np, tokens, temperature, top_k, top_p, &rng)) die("%s", ut_error());
        printf("\n");
    }
    if (dtype && q_bytes > 0)
        fprintf(stderr, "sample: %s weights (group %d): matrices %.2f MB as stored, f32 %.2f MB (%.1fx smaller); "
                "resident %.1f MiB; %d tokens in %.2f s = %.0f tokens/s (computed from the integers)\n", dtype, group,
                q_bytes / 1e6, f_bytes / 1e6, f_bytes / q_bytes, rss_mb(), count * (tokens + np), now_s() - t0,
                count * (tokens + np) / (now_s() - t0));
    else if (dtype)
        fprintf(stderr, "sample: f32 weights: resident %.1f MiB; %d tokens in %.2f s = %.0f tokens/s\n", rss_mb(),
                count * (tokens + np), now_s() - t0, count * (tokens + np) / (now_s() - t0));
    free(ids);
    if (probs_out && fclose(probs_out) != 0) die("cannot write %s: %s", probs_path, strerror(errno));
    ut_kv_free(&kv);
    ut_tokenizer_free(&tk);
    ut_model_free(&m);
    return 0;
}

/* eval: loss, bits per byte and perplexity of a checkpoint on a token file.
   The windows are those of the run's final evaluation (evaluate above), up
   to --eval-tokens of them spread over the file; Ctrl-C stops early and
   reports what was read. */
static int eval_main(int argc, char **argv) {
    const char *resume = NULL, *val_path = NULL;
    int eval_tokens = 1000000, batch = 0, threads = 0, json = 0, group = 32;
    const char *dtype = NULL;
    option opts[] = {
        {"resume", OPT_STR, &resume, 0, 0, 0, "checkpoint: a run folder (DIR/ckpt.bin) or a file such as DIR/best.ckpt (required)", NULL},
        {"val", OPT_STR, &val_path, 0, 0, 0, "token file to evaluate on (default: the run's --val, from its run.json)", NULL},
        {"eval-tokens", OPT_INT, &eval_tokens, 0, BIG, 0, "tokens to read, spread over the file (0 = all)", NULL},
        {"batch", OPT_INT, &batch, 0, 1 << 20, 0, "sequences per forward pass (0 = the run's --batch)", NULL},
        {"threads", OPT_INT, &threads, 0, 4096, 0, "OpenMP threads (0 = all)", NULL},
        {"json", OPT_FLAG, &json, 0, 1, 0, "print the result as one JSON object", NULL},
        {"dtype", OPT_STR, &dtype, 0, 0, 0, "also evaluate with the weights held as int8 or int4 (weight-only, one scale per --group): the loss cost and the size", NULL},
        {"group", OPT_INT, &group, 1, 1 << 20, 0, "numbers per quantization scale, along a row", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train eval")) {
        print_help("usage: train eval --resume DIR|FILE [--val FILE] [OPTIONS]\n"
                   "Loss (nats/token), bits per byte and perplexity of a checkpoint on a token file, over windows\n"
                   "of the model's context length. Ctrl-C stops early and reports what was read.", opts);
        return 0;
    }
    set_threads(threads);
    ut_model m;
    ut_train_config tc;
    ut_progress pr;
    run_record rec;
    open_checkpoint("eval", resume, &m, &tc, &pr, &rec);   /* frozen: no gradient or AdamW buffers */
    val_path = recorded_path(val_path, &rec.val, "val");
    free(rec.runs);
    if (!val_path) die("no --val FILE given, and the run recorded none");
    ut_tokens val;
    if (ut_tokens_load(&val, val_path)) die("%s", ut_error());
    int T = tc.seq_len, B = batch ? batch : tc.batch_size;
    if ((int)val.vocab_size != m.cfg.vocab_size)
        die("%s has vocabulary %u but the model's is %d (made with another tokenizer?)", val_path, val.vocab_size,
            m.cfg.vocab_size);
    if (val.n_tokens < (uint64_t)T + 1)
        die("%s holds %llu tokens, fewer than one window of the model's context (%d + 1)", val_path,
            (unsigned long long)val.n_tokens, T);
    if (val.n_bytes == 0) die("%s: its header says it encodes 0 bytes of text", val_path);
    if ((uint64_t)B * T > (val.n_tokens - 1)) B = (int)((val.n_tokens - 1) / (uint64_t)T);   /* a small file: fewer rows */
    int all = eval_all_batches(&val, B, T), batches = eval_batches_for(all, B, T, eval_tokens), done;
    int *in = (int *)malloc((size_t)B * T * sizeof(int)), *tgt = (int *)malloc((size_t)B * T * sizeof(int));
    if (!in || !tgt) die("out of memory");
    tty = isatty(fileno(stdout));
    catch_stop_signals();
    double t0 = now_s();
    double loss = evaluate(&m, &val, B, T, batches, all, in, tgt, 1, &done), f32_loss = loss, q_bytes = 0, f_bytes = 0;
    if (!done) die("stopped by %s before the first batch", stop_signal_name());
    if (dtype && strcmp(dtype, "f32")) {   /* the same windows again, on the quantized weights */
        quantize_weights(&m, dtype, group, &q_bytes, &f_bytes);
        loss = evaluate(&m, &val, B, T, done, all, in, tgt, 1, &done);
        printf("eval: %s weights (group %d): val_loss %.6f vs f32 %.6f (%+.6f nats/token); matrices %.2f MB as stored, "
               "f32 %.2f MB (%.1fx smaller); resident %.1f MiB\n", dtype, group, loss, f32_loss, loss - f32_loss,
               q_bytes / 1e6, f_bytes / 1e6, f_bytes / q_bytes, rss_mb());
    } else if (dtype) quantize_weights(&m, dtype, group, &q_bytes, &f_bytes);   /* f32: checks the name only */
    long long tokens = (long long)done * B * T;
    double bpb = bits_per_byte(&val, loss), secs = now_s() - t0;
    if (json) {
        printf("{\"val_loss\":%.9g,\"val_bpb\":%.6g,\"perplexity\":%.6g,\"tokens\":%lld,\"step\":%llu,\"seconds\":%.2f%s,"
               "\"val\":", loss, bpb, exp(loss), tokens, (unsigned long long)pr.step, secs,
               interrupted ? ",\"interrupted\":true" : "");
        json_string(stdout, val_path);
        printf("}\n");
    } else
        printf("eval: val_loss %.4f nats/token, val_bpb %.4f bits/byte, perplexity %.2f over %lld tokens (%d of %d "
               "batches of %dx%d) of %s; checkpoint step %llu; %.1f s%s\n", loss, bpb, exp(loss), tokens, done, all, B, T,
               val_path, (unsigned long long)pr.step, secs, interrupted == SIGTERM ? "; stopped by SIGTERM" : interrupted ? "; stopped by Ctrl-C" : "");
    free(in); free(tgt);
    ut_tokens_free(&val);
    ut_model_free(&m);
    return stop_status();
}

/* export: the model for other programs -- a GGUF file for llama.cpp, or a
   Hugging Face folder (export.h says what each holds and why). The
   tokenizer goes with it (the run's, or --tokenizer). Every input is checked
   first; the output appears whole (temp + rename) or not at all. */

typedef struct { const ut_model *m; const ut_tokenizer *tk; int type; const char *name; const ex_card *card; } export_job;
static int write_gguf(FILE *f, const void *p) {
    const export_job *j = (const export_job *)p;
    return ex_gguf_write(f, j->m, j->tk, j->type, j->name);
}
static int write_safetensors(FILE *f, const void *p) { const export_job *j = (const export_job *)p; return ex_safetensors_write(f, j->m, j->type); }
static int write_config(FILE *f, const void *p) { const export_job *j = (const export_job *)p; return ex_config_json(f, j->m, j->tk, j->type); }
static int write_gen_config(FILE *f, const void *p) { return ex_generation_config_json(f, ((const export_job *)p)->tk); }
static int write_tok_json(FILE *f, const void *p) { return ex_tokenizer_json(f, ((const export_job *)p)->tk); }
static int write_tok_config(FILE *f, const void *p) { return ex_tokenizer_config_json(f, ((const export_job *)p)->m); }
static int write_readme(FILE *f, const void *p) { const export_job *j = (const export_job *)p; return ex_readme(f, j->m, j->tk, j->card); }

/* The last evaluation a run's metrics.jsonl holds (val_loss NaN: none). */
static void last_eval(const char *dir, ex_card *k) {
    char path[4200], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    k->val_loss = k->val_bpb = NAN;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        const char *v = strstr(line, "\"val_loss\":"), *b = strstr(line, "\"val_bpb\":"), *st = strstr(line, "\"step\":");
        if (!v || !b || !st) continue;
        k->val_loss = strtod(v + 11, NULL);
        k->val_bpb = strtod(b + 10, NULL);
        k->val_step = strtol(st + 7, NULL, 10);
    }
    fclose(f);
}

/* Rounds every weight the way --dtype stores it: in a GGUF file the norms
   and the router stay f32 and Q8_0 rows that are not whole blocks go f16; a
   Hugging Face f16 folder holds every tensor as f16 (all = 1). Evaluating m
   then measures what the other runtime computes with. */
static void round_trip_weights(ut_model *m, int type, int all) {
    const ut_config *c = &m->cfg;
    int inner[UT_NUM_TENSORS] = {0};   /* each matrix's row length */
    inner[UT_TOK_EMB] = inner[UT_WQ] = inner[UT_WK] = inner[UT_WV] = c->d_model;
    inner[UT_W_GATE] = inner[UT_W_UP] = inner[UT_LM_HEAD] = c->d_model;
    inner[UT_WO] = c->n_heads * c->head_dim;
    inner[UT_W_DOWN] = c->ffn_hidden;
    for (int t = 0; t < UT_NUM_TENSORS; t++) {
        if (!m->sizes[t] || (!inner[t] && !all)) continue;   /* an absent tied head; norms and router in GGUF */
        ex_round_trip(m->p[t], m->sizes[t], type == EX_Q8_0 && inner[t] % EX_QK ? EX_F16 : type);
    }
}

static int export_main(int argc, char **argv) {
    const char *resume = NULL, *tok_path = NULL, *format = NULL, *out = NULL, *dtype = "f32", *val_path = NULL;
    int force = 0, threads = 0, eval_tokens = 65536;
    option opts[] = {
        {"resume", OPT_STR, &resume, 0, 0, 0, "checkpoint: a run folder (DIR/ckpt.bin) or a file (required)", NULL},
        {"format", OPT_STR, &format, 0, 0, 0, "gguf (one file, for llama.cpp) or hf (a Hugging Face folder) (required)", NULL},
        {"out", OPT_STR, &out, 0, 0, 0, "the file (gguf) or folder (hf) to write (required)", NULL},
        {"dtype", OPT_STR, &dtype, 0, 0, 0, "number type of the matrices: f32, f16 or q8_0 (gguf only)", NULL},
        {"tokenizer", OPT_STR, &tok_path, 0, 0, 0, "tokenizer (default: the run's, from its run.json)", NULL},
        {"force", OPT_FLAG, &force, 0, 1, 0, "replace --out if it exists; use a --tokenizer the run did not record", NULL},
        {"val", OPT_STR, &val_path, 0, 0, 0, "token file for the quantisation cost of f16/q8_0 (default: the run's)", NULL},
        {"eval-tokens", OPT_INT, &eval_tokens, 0, BIG, 0, "tokens of --val to measure it on (0 = skip)", NULL},
        {"threads", OPT_INT, &threads, 0, 4096, 0, "OpenMP threads (0 = all)", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train export")) {
        print_help("usage: train export --resume DIR|FILE --format gguf|hf --out PATH [OPTIONS]\n"
                   "Writes the model and its tokenizer for llama.cpp (GGUF: llama-cli -m PATH) or Hugging Face\n"
                   "(a folder for from_pretrained: model.safetensors, config.json, tokenizer.json, README.md).", opts);
        return 0;
    }
    set_threads(threads);
    if (!resume) die("export needs --resume DIR|FILE (a run folder or a checkpoint)");
    if (!format || (strcmp(format, "gguf") && strcmp(format, "hf")))
        die("export needs --format gguf or --format hf%s%s", format ? ", not " : "", format ? format : "");
    if (!out || !*out) die("export needs --out PATH (the %s to write)", strcmp(format, "gguf") ? "folder" : "file");
    int gguf = !strcmp(format, "gguf");
    int type = !strcmp(dtype, "f32") ? EX_F32 : !strcmp(dtype, "f16") ? EX_F16 : !strcmp(dtype, "q8_0") ? EX_Q8_0 : -1;
    if (type < 0) die("--dtype: '%s' is not one of f32, f16, q8_0", dtype);
    if (!gguf && type == EX_Q8_0) die("--dtype q8_0 is for --format gguf; a Hugging Face folder takes f32 or f16");
    struct stat st;
    if (lstat(out, &st) == 0 && !force) die("%s already exists: --force replaces it", out);
    if (force && lstat(out, &st) == 0 && (gguf ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode)))
        die("%s exists and is a %s; a %s export writes a %s", out, S_ISDIR(st.st_mode) ? "folder" : "file", format,
            gguf ? "file" : "folder");
    ut_model m;
    ut_train_config tc;
    ut_progress pr;
    run_record rec;
    open_checkpoint("export", resume, &m, &tc, &pr, &rec);
    tok_path = pick_tokenizer(tok_path, &rec, force);
    if (!tok_path) die("export needs the tokenizer (--tokenizer TOK): the run recorded none");
    if (!val_path && rec.val.set && file_exists(rec.val.path)) val_path = rec.val.path;
    ut_tokenizer tk;
    load_tokenizer(&tk, tok_path, m.cfg.vocab_size);
    if (tk.pretok != UT_PRETOK_GPT2)
        fprintf(stderr, "train: warning: %s is a version 1 tokenizer (ultrathink's first pre-tokenization): llama.cpp "
                "and Hugging Face cut text as GPT-2 does, so they will encode some texts differently (the model "
                "itself is exported exactly); retrain the tokenizer to match\n", tok_path);
    if (gguf && m.cfg.sliding_window > 0)
        fprintf(stderr, "train: warning: the model attends to a sliding window of %d positions; llama.cpp's llama "
                "architecture has no window and attends to the whole context, so outputs differ past %d tokens\n",
                m.cfg.sliding_window, m.cfg.sliding_window);
    char dir[4096], name[4096];
    run_dir_of(resume, dir, sizeof dir);
    const char *base = strrchr(dir, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : dir);
    if (!strcmp(name, ".") || !*name) snprintf(name, sizeof name, "ultrathink");
    ex_card card = {name, &tc, &pr, NAN, NAN, 0};
    last_eval(dir, &card);
    export_job job = {&m, &tk, type, name, &card};

    if (gguf) {
        if (ex_write_file(out, write_gguf, &job)) die("%s", ex_err);
    } else {
        static const char *const files[] = {"model.safetensors", "config.json", "generation_config.json",
                                            "tokenizer.json", "tokenizer_config.json", "README.md"};
        static const ex_writer writers[] = {write_safetensors, write_config, write_gen_config, write_tok_json,
                                            write_tok_config, write_readme};
        char tmp[4200], old[4200], p[4400];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
        snprintf(old, sizeof old, "%s.old.%ld", out, (long)getpid());
        if (mkdir(tmp, 0777) != 0) die("cannot create %s: %s", tmp, strerror(errno));
        for (int i = 0; i < 6; i++) {
            snprintf(p, sizeof p, "%s/%s", tmp, files[i]);
            if (ex_write_file(p, writers[i], &job)) { ex_remove_dir(tmp, files, 6); die("%s", ex_err); }
        }
        int had = lstat(out, &st) == 0;   /* --force: move the old folder aside, then drop it */
        if (had && rename(out, old) != 0) { ex_remove_dir(tmp, files, 6); die("cannot replace %s: %s", out, strerror(errno)); }
        if (rename(tmp, out) != 0) {
            int e = errno;
            if (had) rename(old, out);
            ex_remove_dir(tmp, files, 6);
            die("cannot rename %s to %s: %s", tmp, out, strerror(e));
        }
        if (had) {
            ex_remove_dir(old, files, 6);
            if (is_dir(old)) fprintf(stderr, "train: note: the replaced folder held other files; it is kept as %s\n", old);
        }
    }
    struct stat done;
    printf("export: %s (%s, %s, %d layers, %s, vocab %d) -> %s (%.1f MB)\n", resume, format, dtype, m.cfg.n_layers,
           m.cfg.n_experts > 1 ? "MoE" : "dense", m.cfg.vocab_size, out,
           gguf && stat(out, &done) == 0 ? (double)done.st_size / 1e6 : (double)ut_num_params(&m.cfg) * (type == EX_F16 ? 2 : 4) / 1e6);

    /* the quantisation cost: validation loss with the weights as stored */
    if (type != EX_F32 && val_path && eval_tokens > 0) {
        ut_tokens val;
        if (ut_tokens_load(&val, val_path) == 0 && (int)val.vocab_size == m.cfg.vocab_size &&
            val.n_tokens > (uint64_t)tc.seq_len + 1) {
            int T = tc.seq_len, B = tc.batch_size, done_b = 0;
            if ((uint64_t)B * T > val.n_tokens - 1) B = (int)((val.n_tokens - 1) / (uint64_t)T);
            int all = eval_all_batches(&val, B, T), batches = eval_batches_for(all, B, T, eval_tokens);
            int *in = (int *)malloc((size_t)B * T * sizeof(int)), *tgt = (int *)malloc((size_t)B * T * sizeof(int));
            if (!in || !tgt) die("out of memory");
            double before = evaluate(&m, &val, B, T, batches, all, in, tgt, 0, &done_b);
            round_trip_weights(&m, type, !gguf);
            double after = evaluate(&m, &val, B, T, batches, all, in, tgt, 0, &done_b);
            printf("export: quantisation cost on %s (%d tokens): val_loss f32 %.6f -> %s %.6f (%+.6f nats/token, "
                   "%+.5f bits/byte)\n", val_path, batches * B * T, before, dtype, after, after - before,
                   bits_per_byte(&val, after) - bits_per_byte(&val, before));
            free(in); free(tgt);
        } else fprintf(stderr, "train: note: %s does not fit this model: no quantisation cost measured\n", val_path);
        ut_tokens_free(&val);
    }
    free(rec.runs);
    ut_tokenizer_free(&tk);
    ut_model_free(&m);
    return 0;
}

/* import: a Hugging Face folder (export.h, section 7) as a run folder --
   OUT/ckpt.bin (step 0 of a one-step run; the weights are what matters),
   OUT/tokenizer.tok (tokenizer.json as ours) and OUT/run.json (the folder
   it came from as init_from) -- so that sample, eval, export and
   --init-from read it like any run. */
static int write_bytes(FILE *f, const void *p) {
    const ut_tokenizer *tk = (const ut_tokenizer *)p;
    size_t n;
    uint8_t *b = ut_tokenizer_serialize(tk, &n);
    if (!b) return ex_fail("%s", ut_error());
    int r = fwrite(b, 1, n, f) == n ? 0 : ex_fail("write failed: %s", strerror(errno));
    free(b);
    return r;
}
static int import_main(int argc, char **argv) {
    const char *hf = NULL, *out = NULL;
    int force = 0;
    option opts[] = {
        {"hf", OPT_STR, &hf, 0, 0, 0, "the Hugging Face folder: config.json, model.safetensors, tokenizer.json (required)", NULL},
        {"out", OPT_STR, &out, 0, 0, 0, "the run folder to write: ckpt.bin, tokenizer.tok, run.json (required)", NULL},
        {"force", OPT_FLAG, &force, 0, 1, 0, "replace OUT/ckpt.bin if it exists", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train import")) {
        print_help("usage: train import --hf DIR --out RUN\n"
                   "Reads a Llama/Mistral/Mixtral Hugging Face folder (f32, f16 or bf16 safetensors; a byte-level BPE\n"
                   "tokenizer laid out as ultrathink's, such as `train export --format hf` writes) into a run folder.", opts);
        return 0;
    }
    if (!hf || !out || !*out) die("import needs --hf DIR and --out RUN");
    if (!is_dir(hf)) die("import: %s is not a folder", hf);
    ut_model m;
    ut_tokenizer tk;
    if (ex_hf_import(hf, &m, &tk)) die("%s", ex_err);
    char ckpt[4200], tok[4200], st_path[4200];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", out);
    snprintf(tok, sizeof tok, "%s/tokenizer.tok", out);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", hf);
    if (file_exists(ckpt) && !force) die("%s already exists: --force replaces it", ckpt);
    if (make_dirs(out)) die("cannot create %s: %s", out, strerror(errno));
    ut_train_config tc = ut_train_config_default();
    tc.seq_len = m.cfg.max_seq_len;
    tc.total_steps = 1; tc.warmup_steps = 0; tc.decay_steps = 0;
    ut_progress pr = {0, 0, 0};
    run_record rec;
    memset(&rec, 0, sizeof rec);
    if (ex_write_file(tok, write_bytes, &tk)) die("%s", ex_err);
    if (ut_checkpoint_save(ckpt, &m, &tc, &pr)) die("%s", ut_error());
    file_identify(tok, &rec.tok);
    file_identify(st_path, &rec.init);
    const option none[] = {{NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    record_write(out, &rec, none, 0);
    printf("import: %s (%s, %d layers, vocab %d, %zu params) -> %s\n", hf, m.cfg.n_experts > 1 ? "MoE" : "dense",
           m.cfg.n_layers, m.cfg.vocab_size, ut_num_params(&m.cfg), out);
    ut_tokenizer_free(&tk);
    ut_model_free(&m);
    return 0;
}

/* merge: a LoRA run's adapter folded into its base, W + (alpha / r) B A for
   every adapted matrix (ut_lora_merge), written as an ordinary run folder:
   OUT/ckpt.bin (the adapter's step and settings, AdamW moments zero) and
   OUT/run.json (the base's tokenizer, init_from: the base). It samples,
   evaluates, exports and fine-tunes like any run. */
static int merge_main(int argc, char **argv) {
    const char *base = NULL, *adapter = NULL, *out = NULL;
    int force = 0;
    option opts[] = {
        {"base", OPT_STR, &base, 0, 0, 0, "the base model: a run folder or a checkpoint (default: the one the adapter names)", NULL},
        {"adapter", OPT_STR, &adapter, 0, 0, 0, "the LoRA run folder (OUT/adapter.bin) or adapter file (required)", NULL},
        {"out", OPT_STR, &out, 0, 0, 0, "the run folder to write: ckpt.bin, run.json (required)", NULL},
        {"force", OPT_FLAG, &force, 0, 1, 0, "replace OUT/ckpt.bin; merge into a --base other than the adapter's", NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    if (parse_options(opts, argc, argv, "train merge")) {
        print_help("usage: train merge [--base RUN|FILE] --adapter RUN|FILE --out RUN\n"
                   "Writes the base model with the LoRA adapter merged in (W + (alpha/r) B A) as an ordinary checkpoint.", opts);
        return 0;
    }
    char apath[4200], ckpt[4200];
    if (!adapter || !out || !*out) die("merge needs --adapter RUN|FILE and --out RUN");
    if (!adapter_path(adapter, apath, sizeof apath)) die("merge: %s is not a LoRA run or adapter file", adapter);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", out);
    if (file_exists(ckpt) && !force) die("%s already exists: --force replaces it", ckpt);
    ut_model m;
    ut_lora lo;
    ut_base_ref bref;
    ut_train_config tc;
    ut_progress pr;
    load_adapter(apath, base, force, &m, &lo, &tc, &pr, &bref, 0);   /* the moments: saved, zeroed */
    qlora_note("merge", apath, &lo);
    ut_lora_merge(&m, &lo);
    m.lora = NULL;
    ut__zero(m.adam_m, m.n_params);
    ut__zero(m.adam_v, m.n_params);
    /* the record: the base's tokenizer, and where the weights came from */
    char bpath[4096], bdir[4096];
    if (base) checkpoint_path(base, bpath, sizeof bpath); else snprintf(bpath, sizeof bpath, "%s", bref.path);
    run_record brec, rec;
    memset(&brec, 0, sizeof brec);
    memset(&rec, 0, sizeof rec);
    run_dir_of(bpath, bdir, sizeof bdir);
    record_read(bdir, &brec);
    if (brec.tok.set) rec.tok = brec.tok;
    free(brec.runs);
    file_identify(bpath, &rec.init);
    if (make_dirs(out)) die("cannot create %s: %s", out, strerror(errno));
    if (ut_checkpoint_save(ckpt, &m, &tc, &pr)) die("%s", ut_error());
    const option none[] = {{NULL, 0, NULL, 0, 0, 0, NULL, NULL}};
    record_write(out, &rec, none, pr.step);
    printf("merge: %s (rank %d, alpha %g, %zu numbers) into %s -> %s\n", apath, lo.rank, lo.alpha, lo.n_params, bpath, ckpt);
    ut_lora_free(&lo);
    ut_model_free(&m);
    return 0;
}

/* ===========================================================================
   6. MAIN
   ======================================================================== */

/* ./train_mpi: every rank runs main. comm_init joins the ranks (before
   anything else: MPI may take its own arguments out of argv); the ranks
   after 0 print nothing (stdout to /dev/null; errors still reach stderr). */
int main(int argc, char **argv) {
    t_process = now_s();
    if (comm_init(&g_comm, &argc, &argv)) { fprintf(stderr, "train: error: cannot start MPI\n"); return 1; }
    if (g_comm.rank > 0 && !freopen("/dev/null", "w", stdout)) die("cannot send rank %d's output to /dev/null", g_comm.rank);
    g_argc = argc; g_argv = argv;
    /* The commands. Under a launcher, training and eval use every rank (they
       share the work); the others are one process's job (alone = 1), done
       by rank 0 alone (the others would write the same files at the same
       time) as a world of one: the others are not there for a collective
       (export's evaluation would wait for them for ever). */
    static const struct { const char *name; int (*run)(int, char **); int alone; } cmds[] = {
        {"sample", sample_main, 1}, {"eval", eval_main, 0},
        {"dashboard", dashboard_main, 1}, {"report", report_main, 1},   /* dashboard.h */
        {"export", export_main, 1}, {"import", import_main, 1}, {"merge", merge_main, 1}};
    size_t k = 0, nc = sizeof cmds / sizeof cmds[0];
    while (k < nc && !(argc > 1 && !strcmp(argv[1], cmds[k].name))) k++;
    int rc;
    if (k == nc) rc = train_main(argc - 1, argv + 1);   /* no command: training */
    else {
        if (cmds[k].alone) g_comm.world = 1;
        rc = cmds[k].alone && g_comm.rank > 0 ? 0 : cmds[k].run(argc - 2, argv + 2);
    }
    comm_finalize(&g_comm);
    return rc;
}
