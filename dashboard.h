/* dashboard.h — watch training in a browser: RUN/dashboard.html, and a page
   that compares runs. Part of the ultrathink command line (train.c includes
   it); everything here is `static`.

   WHAT IT MAKES. One self-contained HTML file per page: no server, no
   network, no chart library. It opens from file:// in any browser and
   carries three things:
     1. a Content-Security-Policy that forbids every fetch, so the page can
        not load anything even by mistake (the browser test checks it);
     2. the run's metrics.jsonl rows, as they are, in a JSON <script> block;
     3. a small renderer (section 5, JavaScript as C strings) that draws the
        charts as SVG from those rows: axes with ticks and units, log scales,
        hover values, legends, the expert-load heatmap.
   Why our own renderer and not a chart library: a library worth using is
   50-250 KB of minified code we would vendor and keep up to date, and a
   student could not read it; our renderer is ~500 readable lines, draws
   exactly the charts a run needs, and is the same code in every page.
   Why the drawing is in JavaScript and not SVG written by C: hover values,
   the log-scale and smoothing controls need code in the page anyway, and
   C then only has to copy validated rows (section 1) into the file.

   WHO WRITES IT. `train` rewrites RUN/dashboard.html at every evaluation,
   every 30 s and at the end (atomically: a temp file, then rename, so a
   browser never reads half a page). While the run is live the page reloads
   itself every 10 s (a <meta refresh>); the last write says finished,
   stopped or failed, and has no refresh. `./train dashboard RUN...`
   writes the page again from metrics.jsonl alone (an old run, or one killed
   with kill -9, which could not write its last state), and
   `./train report RUN1 RUN2 ... --out compare.html` compares runs.

   THE ROWS IT READS (metrics.jsonl, one JSON object per line, each with a
   "step"; the README lists every field): train rows ("train_loss", "lr",
   "grad_norm", "tokens_per_s", "ms", MoE: "aux_loss", "z_loss"), evaluation
   rows ("val_loss", "val_bpb", "elapsed_s"), expert-load rows
   ("expert_load": L lists of E fractions), and three kinds written for
   the dashboard: "config" (the model, the settings, sizes, the command line;
   at the start of every run or resume), "sample" (--sample-every) and
   "end" ("finished", "stopped" or "failed", the last row of a run that
   ended by itself). A line that is not such an object (a half-written last
   line after kill -9, a corrupt byte) is left out, and the page says which.

   Contents:
     1. reading metrics.jsonl: a small JSON validator, one line at a time
     2. writing a page: the head, the rows, the renderer; atomically
     3. a run's state: live, finished, stopped or failed
     4. the commands: ./train dashboard RUN..., ./train report RUN... --out F
     5. the page's style and renderer (CSS and JavaScript)                  */
#ifndef ULTRATHINK_DASHBOARD_H
#define ULTRATHINK_DASHBOARD_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DASH_REFRESH_S 10          /* a live page reloads itself this often */
#define DASH_MAX_TRAIN_POINTS 20000 /* more train rows than this: every k-th is drawn (said on the page) */
#define DASH_MAX_SAMPLES 5         /* the latest samples a page carries */

static const char *const *dash__css(void);
static const char *const *dash__js(void);

/* ===========================================================================
   1. READING metrics.jsonl
   JSON (RFC 8259) is small enough to check by hand: a value is an object,
   an array, a string, a number, true, false or null. We only need to know
   that a line IS one object with a numeric "step" — the page's renderer
   reads the fields — so each function returns the position after the value
   it read, or NULL if the text is not valid there. Lines are (pointer,
   length): a corrupt file can hold NUL bytes.
   ======================================================================== */

static const char *dash__value(const char *p, const char *e, int depth);

static const char *dash__ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}
/* "...": no raw control bytes; escapes \" \\ \/ \b \f \n \r \t \uXXXX */
static const char *dash__string(const char *p, const char *e) {
    if (p >= e || *p != '"') return NULL;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') continue;
        if (++p >= e) return NULL;
        if (*p == 'u') {
            for (int i = 0; i < 4; i++) {
                p++;
                if (p >= e || !strchr("0123456789abcdefABCDEF", *p) || !*p) return NULL;
            }
        } else if (!*p || !strchr("\"\\/bfnrt", *p)) return NULL;
    }
    return NULL;
}
static const char *dash__digits(const char *p, const char *e) {
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9') p++;
    return p > s ? p : NULL;
}
/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?  (no NaN, no Infinity) */
static const char *dash__number(const char *p, const char *e) {
    if (p < e && *p == '-') p++;
    if (p < e && *p == '0') p++;
    else if (!(p = dash__digits(p, e))) return NULL;
    if (p < e && *p == '.' && !(p = dash__digits(p + 1, e))) return NULL;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!(p = dash__digits(p, e))) return NULL;
    }
    return p;
}
/* { "key": value, ... } and [ value, ... ]; depth bounds the recursion */
static const char *dash__container(const char *p, const char *e, int depth) {
    char close = *p == '{' ? '}' : ']';
    p = dash__ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
        if (close == '}') {
            if (!(p = dash__string(p, e))) return NULL;
            p = dash__ws(p, e);
            if (p >= e || *p != ':') return NULL;
            p = dash__ws(p + 1, e);
        }
        if (!(p = dash__value(p, e, depth + 1))) return NULL;
        p = dash__ws(p, e);
        if (p < e && *p == ',') { p = dash__ws(p + 1, e); continue; }
        return p < e && *p == close ? p + 1 : NULL;
    }
}
static const char *dash__value(const char *p, const char *e, int depth) {
    if (p >= e || depth > 32) return NULL;
    if (*p == '{' || *p == '[') return dash__container(p, e, depth);
    if (*p == '"') return dash__string(p, e);
    if (*p == '-' || (*p >= '0' && *p <= '9')) return dash__number(p, e);
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(e - p) >= n && !memcmp(p, words[i], n)) return p + n;
    }
    return NULL;
}

/* Is line[0..n) one row: a JSON object with "step": a number >= 0 among its
   own keys (not a nested one)? Returns NULL if so, else why not. */
static const char *dash__check_row(const char *line, size_t n) {
    const char *e = line + n, *p = dash__ws(line, e);
    if (p == e) return "empty line";
    if (*p != '{' || !dash__container(p, e, 0) || dash__ws(dash__container(p, e, 0), e) != e)
        return "not one JSON object";
    int has_step = 0;
    p = dash__ws(p + 1, e);
    while (p < e && *p == '"') {   /* walk the top-level keys (the object is valid: nothing fails) */
        const char *key_end = dash__string(p, e);
        int is_step = key_end - p == 6 && !memcmp(p, "\"step\"", 6);
        p = dash__ws(key_end, e);                /* at the ':' */
        const char *v = dash__ws(p + 1, e);
        p = dash__value(v, e, 1);
        if (is_step && *v != '-' && dash__number(v, e) == p) has_step = 1;
        p = dash__ws(p, e);
        if (p < e && *p == ',') p = dash__ws(p + 1, e);
    }
    return has_step ? NULL : "no \"step\" number";
}

/* What a first pass over metrics.jsonl learns: how many rows are valid, the
   first few that are not (line number and why), how many train and sample
   rows there are (to thin them out), and the state the last row states. */
typedef struct {
    long rows, skipped, train_rows, sample_rows;
    long bad_line[4];
    const char *bad_why[4];
    char end_state[16];    /* the last row is {"end":"..."}: its state, else "" */
} dash__stats;

/* Calls row(line, n, ctx) for every valid row of the file; fills st.
   Returns 0, or -1 with errno set (the file cannot be read). */
static int dash__read_rows(const char *path, dash__stats *st, void (*row)(const char *, size_t, void *), void *ctx) {
    struct stat sb;
    if (stat(path, &sb) != 0) return -1;
    if (!S_ISREG(sb.st_mode)) { errno = EINVAL; return -1; }   /* a pipe or device never ends */
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    memset(st, 0, sizeof *st);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        int cut = line[n - 1] != '\n';
        const char *why = dash__check_row(line, (size_t)n);
        if (why && cut) why = "cut short: no end of line, the run was stopped while writing it?";
        if (why) {
            if (st->skipped < 4) { st->bad_line[st->skipped] = lineno; st->bad_why[st->skipped] = why; }
            st->skipped++;
            continue;
        }
        st->rows++;
        if (strstr(line, "\"train_loss\":")) st->train_rows++;
        if (strstr(line, "\"sample\":\"")) st->sample_rows++;
        /* rows we write ourselves start {"step":N,"end":"STATE" */
        const char *end = strstr(line, "\"end\":\"");
        st->end_state[0] = 0;
        if (end) {
            size_t k = strcspn(end + 7, "\"");
            if (k < sizeof st->end_state) { memcpy(st->end_state, end + 7, k); st->end_state[k] = 0; }
        }
        if (row) row(line, (size_t)n, ctx);
    }
    int err = ferror(f) ? errno : 0;
    free(line);
    fclose(f);
    if (err) { errno = err; return -1; }
    return 0;
}

/* ===========================================================================
   2. WRITING A PAGE
   <head>: the CSP (nothing may be fetched), a refresh while live, the style.
   <body>: the data as JSON in <script type="application/json"> (never run,
   parsed by the renderer), then the renderer. Inside the data block the text
   "</script>" would end it early, so every '<' is written as \u003c (JSON
   only has '<' inside strings, where the escape means the same thing).
   ======================================================================== */

/* s[0..n) as a JSON string, quotes included, into out (cap bytes; cut short
   at a whole character if it does not fit). Control bytes and <, >, & are
   escaped; bytes that are not UTF-8 become U+FFFD, so the result is valid
   JSON whatever the input (a byte-level model's sample can end mid-char). */
static size_t dash_json_string(char *out, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    if (cap < 3) { if (cap) out[0] = 0; return 0; }
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char buf[8];
        size_t len = 0, used = 1;
        if (c == '"' || c == '\\') { buf[0] = '\\'; buf[1] = (char)c; len = 2; }
        else if (c == '\n') { memcpy(buf, "\\n", 2); len = 2; }
        else if (c == '\t') { memcpy(buf, "\\t", 2); len = 2; }
        else if (c < 0x20 || c == '<' || c == '>' || c == '&') len = (size_t)snprintf(buf, sizeof buf, "\\u%04x", c);
        else if (c < 0x80) { buf[0] = (char)c; len = 1; }
        else {   /* a UTF-8 sequence: lead byte 110xxxxx, 1110xxxx or 11110xxx, then 10xxxxxx */
            size_t want = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            size_t k = 1;
            while (want && k < want && i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
            if (want && k == want) { memcpy(buf, s + i, k); len = used = k; }
            else { memcpy(buf, "\xEF\xBF\xBD", 3); len = 3; }   /* U+FFFD for the bad byte */
        }
        if (o + len + 2 > cap) break;
        memcpy(out + o, buf, len);
        o += len;
        i += used;
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

/* The second pass: copy each row into the page, '<' escaped. Train rows
   past DASH_MAX_TRAIN_POINTS are thinned to every k-th (and the last);
   only the last DASH_MAX_SAMPLES samples are kept. */
typedef struct {
    FILE *out;
    const dash__stats *st;
    long train_seen, samples_seen, stride;
    int first;
} dash__emit;

static void dash__emit_row(const char *line, size_t n, void *ctx) {
    dash__emit *em = (dash__emit *)ctx;
    if (strstr(line, "\"train_loss\":")) {
        long i = em->train_seen++;
        if (i % em->stride && i != em->st->train_rows - 1) return;
    }
    if (strstr(line, "\"sample\":\"") && em->samples_seen++ < em->st->sample_rows - DASH_MAX_SAMPLES) return;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    fputs(em->first ? "\n" : ",\n", em->out);
    em->first = 0;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '<') fputs("\\u003c", em->out);
        else fputc(line[i], em->out);
    }
}

/* One run as the page sees it. */
typedef struct {
    const char *dir;        /* the run folder, as given */
    char state[16];         /* live, finished, stopped, failed */
    char note[1024];        /* why it is in that state, if known ("" if not) */
    dash__stats st;         /* from the first pass */
} dash_run;

static void dash__puts_lines(FILE *f, const char *const *lines) {
    for (; *lines; lines++) { fputs(*lines, f); fputc('\n', f); }
}

/* Writes the page for runs[0..n) (kind "run": one run's dashboard,
   "compare": several) to path, atomically: path.tmp.PID, fsync, rename.
   Returns 0, or -1 with a message in err. */
static int dash__write_page(const char *path, const char *kind, dash_run *runs, int n, char *err, size_t errn) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { snprintf(err, errn, "cannot write %s: %s", tmp, strerror(errno)); return -1; }
    int live = !strcmp(kind, "run") && !strcmp(runs[0].state, "live");
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          /* nothing may be fetched: no network, no other file; only this page's own style and script */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n", f);
    if (live) fprintf(f, "<meta http-equiv=\"refresh\" content=\"%d\">\n", DASH_REFRESH_S);
    fputs("<title>ultrathink</title>\n<style>\n", f);
    dash__puts_lines(f, dash__css());
    fprintf(f, "</style>\n</head>\n<body>\n<main id=\"app\"><noscript>This page draws its charts with "
               "JavaScript.</noscript></main>\n<script id=\"ut-data\" type=\"application/json\">\n"
               "{\"page\":\"%s\",\"generated_ms\":%.0f,\"refresh_s\":%d,\"runs\":[", kind,
            (double)time(NULL) * 1e3, live ? DASH_REFRESH_S : 0);
    for (int r = 0; r < n; r++) {
        dash_run *ru = &runs[r];
        char s[8300];
        dash_json_string(s, sizeof s, ru->dir, strlen(ru->dir));
        fprintf(f, "%s\n{\"name\":%s,", r ? "," : "", s);
        dash_json_string(s, sizeof s, ru->state, strlen(ru->state));
        fprintf(f, "\"state\":%s,", s);
        dash_json_string(s, sizeof s, ru->note, strlen(ru->note));
        fprintf(f, "\"note\":%s,\"skipped\":%ld,\"skipped_lines\":[", s, ru->st.skipped);
        for (long i = 0; i < ru->st.skipped && i < 4; i++) {
            dash_json_string(s, sizeof s, ru->st.bad_why[i], strlen(ru->st.bad_why[i]));
            fprintf(f, "%s{\"line\":%ld,\"why\":%s}", i ? "," : "", ru->st.bad_line[i], s);
        }
        long stride = ru->st.train_rows > DASH_MAX_TRAIN_POINTS ? (ru->st.train_rows + DASH_MAX_TRAIN_POINTS - 1) / DASH_MAX_TRAIN_POINTS : 1;
        fprintf(f, "],\"train_rows\":%ld,\"train_stride\":%ld,\"rows\":[", ru->st.train_rows, stride);
        char mpath[4300];
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", ru->dir);
        dash__emit em = {f, &ru->st, 0, 0, stride, 1};
        dash__stats again;
        if (dash__read_rows(mpath, &again, dash__emit_row, &em) != 0 && errno != ENOENT) {
            snprintf(err, errn, "cannot read %s: %s", mpath, strerror(errno));
            fclose(f); remove(tmp);
            return -1;
        }
        fputs("\n]}", f);
    }
    fputs("\n]}\n</script>\n<script>\n", f);
    dash__puts_lines(f, dash__js());
    fputs("</script>\n</body>\n</html>\n", f);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        snprintf(err, errn, "writing %s failed: %s", tmp, strerror(errno));
        fclose(f); remove(tmp);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errn, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ===========================================================================
   3. A RUN'S STATE
   `train` says what it is doing (live while it trains; finished, stopped or
   failed at the end, when it also writes an "end" row). Read later from the
   folder alone: the last row being an "end" row gives the state; otherwise a
   process still holding RUN/lock (train.c: the run folder's lock) is
   training it: live; otherwise the run ended without a word — kill -9, a
   crash, a power cut — and it is "stopped", with a note saying so.
   ======================================================================== */

/* Is another process holding DIR/lock? (F_GETLK asks without taking it.)
   Never call this from the process that holds the lock: closing any file
   descriptor of the lock file would drop that process's lock. */
static int dash__lock_held(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/lock", dir);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return 0;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    int held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* Fills ru for the folder dir: a first pass over its metrics.jsonl, and the
   state (given, or read as above). Returns 0, or -1 with a message in err:
   no such folder, no metrics.jsonl, a metrics.jsonl that cannot be read. */
static int dash__load_run(dash_run *ru, const char *dir, const char *state, const char *note, char *err, size_t errn) {
    memset(ru, 0, sizeof *ru);
    ru->dir = dir;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errn, "%s is not a run folder (%s)", dir, stat(dir, &sb) ? strerror(errno) : "not a folder");
        return -1;
    }
    char mpath[4300];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", dir);
    if (dash__read_rows(mpath, &ru->st, NULL, NULL) != 0) {
        snprintf(err, errn, "cannot read %s: %s", mpath, errno == EINVAL ? "not a regular file" : strerror(errno));
        return -1;
    }
    if (state) {
        snprintf(ru->state, sizeof ru->state, "%s", state);
        snprintf(ru->note, sizeof ru->note, "%s", note ? note : "");
    } else if (ru->st.end_state[0]) {
        snprintf(ru->state, sizeof ru->state, "%s", ru->st.end_state);
    } else if (dash__lock_held(dir)) {
        snprintf(ru->state, sizeof ru->state, "live");
    } else {
        snprintf(ru->state, sizeof ru->state, "stopped");
        snprintf(ru->note, sizeof ru->note, "the run ended without recording how (killed, or crashed?): "
                 "continue it with ./train --resume %s", dir);
    }
    return 0;
}

/* RUN/dashboard.html for the run in dir. state NULL: read it from the folder
   (section 3). Returns 0, or -1 with a message in err. */
static int dash_write_run(const char *dir, const char *state, const char *note, char *err, size_t errn) {
    dash_run ru;
    if (dash__load_run(&ru, dir, state, note, err, errn)) return -1;
    char path[4300];
    snprintf(path, sizeof path, "%s/dashboard.html", dir);
    return dash__write_page(path, "run", &ru, 1, err, errn);
}

/* "file:///absolute/path" for printing (a terminal can open it with a click):
   a relative path is joined to the current folder. */
static void dash_file_url(char *out, size_t n, const char *path) {
    char cwd[4096];
    if (path[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(out, n, "file://%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
    else snprintf(out, n, "file://%s", path);
}

/* ---- samples: what generate() prints, kept for the "sample" row ---------- */
static struct { char buf[4096]; size_t len; int on; } dash_capture;
static void dash_capture_start(void) { dash_capture.len = 0; dash_capture.on = 1; }
static void dash_capture_add(const void *p, size_t n) {
    if (!dash_capture.on) return;
    if (n > sizeof dash_capture.buf - dash_capture.len) n = sizeof dash_capture.buf - dash_capture.len;
    memcpy(dash_capture.buf + dash_capture.len, p, n);
    dash_capture.len += n;
}

/* ===========================================================================
   4. THE COMMANDS
     ./train dashboard RUN...             RUN/dashboard.html again, from RUN/metrics.jsonl
     ./train report RUN1 RUN2 ... [--out compare.html]
   A folder that is not a run, or a metrics.jsonl with no valid row, is one
   "train: error:" line and exit status 1; lines that are not valid rows are
   left out with a warning (and a note on the page).
   ======================================================================== */

static int dash__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int dash__error(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "train: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}
static void dash__warn_skipped(const dash_run *ru) {
    if (!ru->st.skipped) return;
    fprintf(stderr, "train: warning: %s/metrics.jsonl: %ld line%s left out (line %ld: %s)\n", ru->dir,
            ru->st.skipped, ru->st.skipped > 1 ? "s" : "", ru->st.bad_line[0], ru->st.bad_why[0]);
}

static int dashboard_main(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        printf("usage: train dashboard RUN...\n"
               "Writes RUN/dashboard.html again from RUN/metrics.jsonl (training writes it by itself;\n"
               "this is for older runs, or one that was killed). Open it in a browser.\n");
        return argc < 1;
    }
    for (int i = 0; i < argc; i++) {
        char err[8800], url[8800], path[4300];
        dash_run ru;
        if (dash__load_run(&ru, argv[i], NULL, NULL, err, sizeof err)) return dash__error("%s", err);
        dash__warn_skipped(&ru);
        snprintf(path, sizeof path, "%s/dashboard.html", argv[i]);
        if (dash__write_page(path, "run", &ru, 1, err, sizeof err)) return dash__error("%s", err);
        dash_file_url(url, sizeof url, path);
        printf("dashboard: %s (%s, %ld rows)\n", url, ru.state, ru.st.rows);
    }
    return 0;
}

static int report_main(int argc, char **argv) {
    const char *out = "compare.html";
    const char **dirs = (const char **)calloc((size_t)argc + 1, sizeof *dirs);
    int n = 0;
    if (!dirs) return dash__error("out of memory");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: train report RUN1 [RUN2 ...] [--out FILE]\n"
                   "Writes one page (default compare.html) comparing the runs: validation loss against\n"
                   "steps, tokens and wall time, the settings that differ and the final figures.\n");
            free(dirs);
            return 0;
        }
        if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
        else if (!strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) { free(dirs); return dash__error("--out needs a value (see train report --help)"); }
            out = argv[++i];
        } else if (!strncmp(argv[i], "--", 2)) {
            free(dirs);
            return dash__error("unknown option %s (see train report --help)", argv[i]);
        } else dirs[n++] = argv[i];
    }
    if (n == 0) { free(dirs); return dash__error("report needs at least one run folder (see train report --help)"); }
    dash_run *runs = (dash_run *)calloc((size_t)n, sizeof *runs);
    if (!runs) { free(dirs); return dash__error("out of memory"); }
    char err[8800];
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (dash__load_run(&runs[i], dirs[i], NULL, NULL, err, sizeof err)) rc = dash__error("%s", err);
        else if (runs[i].st.rows == 0)
            rc = dash__error("%s/metrics.jsonl has no valid row (%s)", dirs[i],
                             runs[i].st.skipped ? runs[i].st.bad_why[0] : "it is empty");
        else dash__warn_skipped(&runs[i]);
    }
    if (!rc && dash__write_page(out, "compare", runs, n, err, sizeof err)) rc = dash__error("%s", err);
    if (!rc) {
        char url[8800];
        dash_file_url(url, sizeof url, out);
        printf("report: %s (%d run%s)\n", url, n, n > 1 ? "s" : "");
    }
    free(runs);
    free(dirs);
    return rc;
}

/* ===========================================================================
   5. THE PAGE'S STYLE AND RENDERER
   Written into every page as they are. The JavaScript uses single quotes
   only (no double quotes, no backslashes), so each line is a plain C string.
   Colours: the Okabe-Ito palette, told apart with every common form of
   colour blindness; the heatmap is blue (under the fair share) - grey
   (balanced) - orange (over it).
   ======================================================================== */

static const char *const *dash__css(void) {
    static const char *const css[] = {
        ":root { --fg: #1d2433; --muted: #5b6474; --line: #d9dde5; --bg: #f5f6f8; --card: #fff; }",
        "* { box-sizing: border-box; }",
        "body { margin: 0; font: 14px/1.45 system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }",
        "main { max-width: 1280px; margin: 0 auto; padding: 16px 20px 40px; }",
        "h1 { font-size: 20px; margin: 4px 0 2px; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }",
        "h2 { font-size: 16px; margin: 22px 0 8px; }",
        "code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }",
        "pre { white-space: pre-wrap; word-break: break-word; margin: 0; }",
        ".badge { font-size: 12px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; padding: 2px 9px; border-radius: 10px; color: #fff; }",
        ".badge.live { background: #007a55; }",
        ".badge.live::before { content: ''; display: inline-block; width: 7px; height: 7px; margin-right: 6px; border-radius: 50%; background: #fff; animation: pulse 1.6s infinite; vertical-align: 1px; }",
        "@keyframes pulse { 50% { opacity: .25; } }",
        ".badge.finished { background: #0072B2; }",
        ".badge.stopped { background: #8a6d00; }",
        ".badge.failed { background: #b3261e; }",
        ".sub { color: var(--muted); margin: 2px 0 10px; }",
        ".progress { height: 10px; background: var(--line); border-radius: 5px; overflow: hidden; margin: 8px 0 4px; }",
        ".progress > div { height: 100%; background: #0072B2; }",
        ".cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 12px 0; }",
        ".card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }",
        ".card .k { color: var(--muted); font-size: 12px; }",
        ".card .v { font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; }",
        ".card .u { color: var(--muted); font-size: 12px; }",
        ".notes { margin: 10px 0; padding: 0; list-style: none; }",
        ".notes li { background: #fff4d6; border: 1px solid #e8cf7a; border-radius: 6px; padding: 6px 10px; margin: 6px 0; }",
        ".notes li.bad { background: #fde8e6; border-color: #e3a39d; }",
        ".grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; }",
        "figure.chart { position: relative; margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 4px; }",
        "figcaption { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; flex-wrap: wrap; }",
        ".ctitle { font-weight: 600; }",
        ".controls { color: var(--muted); font-size: 12px; display: flex; gap: 12px; align-items: center; }",
        ".controls input[type=range] { width: 90px; vertical-align: middle; }",
        ".legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin: 2px 0; }",
        ".legend .sw { display: inline-block; width: 18px; height: 0; border-top: 3px solid; margin-right: 5px; vertical-align: middle; }",
        ".legend .sw.dash { border-top-style: dashed; }",
        ".legend .sw.dot { width: 9px; height: 9px; border: 0; border-radius: 50%; }",
        "svg { display: block; width: 100%; height: auto; overflow: visible; }",
        "svg text { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }",
        "svg .axis-label { font-size: 12px; fill: var(--fg); }",
        "svg .grid-line { stroke: #eceef2; }",
        "svg .frame { fill: none; stroke: #b9bfca; }",
        "svg .guide { stroke: #888; stroke-dasharray: 3 3; }",
        ".tip { position: absolute; pointer-events: none; background: rgba(29, 36, 51, .92); color: #fff; padding: 6px 8px; border-radius: 6px; font-size: 12px; white-space: nowrap; z-index: 5; }",
        ".tip b { font-weight: 600; }",
        ".tip .sw { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px; }",
        "table { border-collapse: collapse; background: var(--card); font-variant-numeric: tabular-nums; }",
        "th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }",
        "th { background: #eef0f4; font-weight: 600; }",
        "td.num { text-align: right; }",
        "td { max-width: 420px; overflow-wrap: anywhere; }",
        ".tables { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }",
        ".samples pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; margin: 6px 0; }",
        ".scale { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); }",
        ".scale .bar { width: 160px; height: 10px; border-radius: 3px; border: 1px solid var(--line); }",
        "footer { color: var(--muted); font-size: 12px; margin-top: 24px; }",
        NULL};
    return css;
}

static const char *const *dash__js(void) {
    static const char *const js[] = {
        "'use strict';",
        "/* The renderer: reads the rows in #ut-data and draws the page. Everything is",
        "   SVG built here; nothing is fetched. Sections: helpers, numbers and ticks,",
        "   the line chart, the heatmap, the run page, the compare page. */",
        "const DATA = JSON.parse(document.getElementById('ut-data').textContent);",
        "const SVGNS = 'http://www.w3.org/2000/svg';",
        "const SVG_TAGS = ['svg', 'g', 'line', 'polyline', 'circle', 'rect', 'text', 'title'];",
        "/* Okabe-Ito colours: distinguishable with every common colour-vision deficiency */",
        "const OI = {blue: '#0072B2', orange: '#E69F00', green: '#009E73', verm: '#D55E00', sky: '#56B4E9', purple: '#CC79A7', black: '#222222', grey: '#8a8f98'};",
        "const RUN_COLOURS = [OI.blue, OI.verm, OI.green, OI.purple, OI.orange, OI.sky, OI.black];",
        "",
        "/* ---- helpers --------------------------------------------------------------- */",
        "/* h(tag, attributes, parent, text): make an element (SVG or HTML), attach it */",
        "function h(tag, attrs, parent, text) {",
        "  const e = SVG_TAGS.includes(tag) ? document.createElementNS(SVGNS, tag) : document.createElement(tag);",
        "  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);",
        "  if (text !== undefined) e.textContent = text;",
        "  if (parent) parent.appendChild(e);",
        "  return e;",
        "}",
        "/* the rows of one run, by kind (metrics.jsonl: README, dashboard.h) */",
        "function split(rows) {",
        "  const r = {train: [], val: [], fin: [], moe: [], configs: [], samples: [], end: null};",
        "  for (const x of rows) {",
        "    if ('train_loss' in x) r.train.push(x);",
        "    else if ('val_loss' in x) (x.final || x.full ? r.fin : r.val).push(x);   /* periodic, or the final evaluation */",
        "    else if ('expert_load' in x) r.moe.push(x);",
        "    else if ('config' in x) r.configs.push(x);",
        "    else if ('sample' in x) r.samples.push(x);",
        "    else if ('end' in x) r.end = x;",
        "  }",
        "  r.config = r.configs.length ? r.configs[r.configs.length - 1] : null;",
        "  const c = r.config ? r.config.config : {};",
        "  r.total = c.steps || null;",
        "  /* tokens per step: recorded, else tokens/s x seconds per step */",
        "  r.tps = c.tokens_per_step || (r.train.length ? Math.round(r.train[0].tokens_per_s * r.train[0].ms / 1000) : null);",
        "  /* nats/token -> bits/byte: val_bpb / val_loss, else the training text's tokens per byte */",
        "  const v = r.val.find(x => x.val_loss > 0);",
        "  r.bpb = v ? v.val_bpb / v.val_loss : (c.train_tokens_per_byte ? c.train_tokens_per_byte / Math.LN2 : null);",
        "  r.last = Math.max(0, ...rows.map(x => x.step));",
        "  /* wall time: elapsed_s restarts at 0 when a run is resumed; keep it growing */",
        "  let off = 0, prev = 0;",
        "  for (const x of r.val) {",
        "    if (x.elapsed_s < prev) off += prev;",
        "    prev = x.elapsed_s;",
        "    x.wall_s = x.elapsed_s + off;",
        "  }",
        "  return r;",
        "}",
        "/* exponential moving average, debiased (as TensorBoard): w = 0 is the raw curve */",
        "function smooth(ys, w) {",
        "  const out = [];",
        "  let m = 0, n = 0;",
        "  for (const y of ys) { m = w * m + (1 - w) * y; n = w * n + (1 - w); out.push(m / n); }",
        "  return out;",
        "}",
        "function median(a) {",
        "  if (!a.length) return NaN;",
        "  const s = a.slice().sort((p, q) => p - q);",
        "  return s[s.length >> 1];",
        "}",
        "",
        "/* ---- numbers and ticks ----------------------------------------------------- */",
        "function fmt(v) {",
        "  if (v === null || v === undefined || !Number.isFinite(v)) return '-';",
        "  const a = Math.abs(v);",
        "  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);",
        "  return String(+v.toPrecision(4));",
        "}",
        "/* 23400 -> 23.4k; 2040000 -> 2.04M */",
        "function si(v) {",
        "  if (!Number.isFinite(v)) return '-';",
        "  for (const [d, u] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) if (Math.abs(v) >= d) return +(v / d).toPrecision(3) + u;",
        "  return String(+v.toPrecision(3));",
        "}",
        "function dur(s) {",
        "  if (!Number.isFinite(s) || s < 0) return '-';",
        "  s = Math.round(s);",
        "  if (s >= 86400) return Math.floor(s / 86400) + 'd' + String(Math.floor(s / 3600) % 24).padStart(2, '0') + 'h';",
        "  if (s >= 3600) return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';",
        "  return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';",
        "}",
        "/* a wall time: seconds while short, then minutes and hours */",
        "function secs(v) { return Math.abs(v) < 120 ? fmt(v) + ' s' : dur(v); }",
        "/* about n round values (1, 2, 2.5 or 5 x 10^k apart) covering [lo, hi] */",
        "function niceTicks(lo, hi, n) {",
        "  const raw = (hi - lo) / n || 1, mag = Math.pow(10, Math.floor(Math.log10(raw)));",
        "  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw * 0.999);",
        "  const t = [];",
        "  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push(+v.toPrecision(12));",
        "  return t;",
        "}",
        "/* log scale: 1, 2, 5 x 10^k inside [lo, hi] (only the powers of ten if that is many) */",
        "function logTicks(lo, hi) {",
        "  let t = [];",
        "  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)",
        "    for (const m of [1, 2, 5]) { const v = +(m * Math.pow(10, e)).toPrecision(12); if (v >= lo && v <= hi) t.push(v); }",
        "  if (t.length > 8) t = t.filter(v => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);",
        "  if (t.length < 2) t = niceTicks(lo, hi, 4).filter(v => v > 0);",
        "  return t;",
        "}",
        "function tickText(v) {",
        "  const a = Math.abs(v);",
        "  if (a >= 1e4) return si(v);",
        "  if (a > 0 && a < 1e-2) return (+v.toPrecision(6)).toExponential();   /* 1.5e-3 */",
        "  return String(+v.toPrecision(6));",
        "}",
        "",
        "/* ---- the line chart ---------------------------------------------------------",
        "   lineChart(parent, opt) draws one chart and redraws it when a control",
        "   changes. opt: id, title, xlabel, ylabel, series() -> [{name, x, y, colour,",
        "   width, dash, dots, opacity}] (a function, so controls can change it), logy",
        "   (start on a log scale; a checkbox switches), hlines [{y, label, colour}],",
        "   y2 {label, k}: a right-hand axis showing y * k (bits/byte for losses),",
        "   controls(el, redraw): more controls. Each series is one <polyline> with",
        "   one point per finite value (the browser test counts them). */",
        "function lineChart(parent, opt) {",
        "  const fig = h('figure', {class: 'chart', id: opt.id}, parent);",
        "  const cap = h('figcaption', {}, fig);",
        "  h('span', {class: 'ctitle'}, cap, opt.title);",
        "  const ctl = h('span', {class: 'controls'}, cap);",
        "  const legend = h('div', {class: 'legend'}, fig);",
        "  const plot = h('div', {}, fig);",
        "  const tip = h('div', {class: 'tip', hidden: ''}, fig);",
        "  let logy = !!opt.logy;",
        "  const redraw = () => { plot.textContent = ''; legend.textContent = ''; drawChart(plot, legend, tip, opt, logy); };",
        "  if (opt.controls) opt.controls(ctl, redraw);",
        "  if (opt.canLog !== false) {",
        "    const lab = h('label', {}, ctl);",
        "    const cb = h('input', {type: 'checkbox'}, lab);",
        "    cb.checked = logy;",
        "    lab.append(' log scale');",
        "    cb.addEventListener('change', () => { logy = cb.checked; redraw(); });",
        "  }",
        "  redraw();",
        "  return fig;",
        "}",
        "",
        "function drawChart(plot, legend, tip, opt, logy) {",
        "  const W = 600, H = 270, M = {l: 58, r: opt.y2 ? 58 : 16, t: 10, b: 42};",
        "  const pw = W - M.l - M.r, ph = H - M.t - M.b;",
        "  const series = opt.series().filter(s => s.x.length);",
        "  const ok = v => Number.isFinite(v) && (!logy || v > 0);",
        "  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;",
        "  for (const s of series) for (let i = 0; i < s.x.length; i++)",
        "    if (Number.isFinite(s.x[i]) && ok(s.y[i])) { x0 = Math.min(x0, s.x[i]); x1 = Math.max(x1, s.x[i]); y0 = Math.min(y0, s.y[i]); y1 = Math.max(y1, s.y[i]); }",
        "  for (const l of opt.hlines || []) if (ok(l.y) && y0 <= y1) { y0 = Math.min(y0, l.y); y1 = Math.max(y1, l.y); }",
        "  for (const s of series) {",
        "    const it = h('span', {}, legend);",
        "    h('span', {class: 'sw' + (s.dash && s.dash !== 'none' ? ' dash' : '') + (s.dotsOnly ? ' dot' : ''), style: (s.dotsOnly ? 'background:' : 'border-color:') + s.colour}, it);",
        "    it.append(s.name);",
        "  }",
        "  for (const l of opt.hlines || []) {",
        "    const it = h('span', {}, legend);",
        "    h('span', {class: 'sw dash', style: 'border-color:' + l.colour}, it);",
        "    it.append(l.label);",
        "  }",
        "  const svg = h('svg', {viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opt.title}, plot);",
        "  if (!(x0 <= x1)) { h('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'}, svg, logy ? 'no positive values for a log scale' : 'no data yet'); return; }",
        "  if (x0 === x1) { x0 -= 1; x1 += 1; }",
        "  const ly = v => logy ? Math.log10(v) : v;",
        "  let Y0 = ly(y0), Y1 = ly(y1);",
        "  const pad = (Y1 - Y0) * 0.06 || (logy ? 0.3 : Math.abs(Y0) * 0.1 || 1);",
        "  Y0 -= pad; Y1 += pad;",
        "  if (!logy && y0 >= 0 && Y0 < 0) Y0 = 0;",
        "  const X = v => M.l + (v - x0) / (x1 - x0) * pw;",
        "  const Y = v => M.t + ph - (ly(v) - Y0) / (Y1 - Y0) * ph;",
        "  /* grid and ticks */",
        "  const yt = logy ? logTicks(Math.pow(10, Y0), Math.pow(10, Y1)) : niceTicks(Y0, Y1, 5);",
        "  for (const v of yt) {",
        "    const y = Y(v);",
        "    h('line', {x1: M.l, x2: M.l + pw, y1: y, y2: y, class: 'grid-line'}, svg);",
        "    h('text', {x: M.l - 6, y: y + 4, 'text-anchor': 'end'}, svg, tickText(v));",
        "  }",
        "  for (const v of niceTicks(x0, x1, 6)) {",
        "    const x = X(v);",
        "    h('line', {x1: x, x2: x, y1: M.t, y2: M.t + ph, class: 'grid-line'}, svg);",
        "    h('text', {x: x, y: M.t + ph + 15, 'text-anchor': 'middle'}, svg, opt.xfmt ? opt.xfmt(v) : tickText(v));",
        "  }",
        "  if (opt.y2) {   /* the same line read in another unit: ticks at round values of y * k */",
        "    const k = opt.y2.k, lo = Math.pow(10, Y0), hi = Math.pow(10, Y1);",
        "    const t2 = logy ? logTicks(lo * k, hi * k) : niceTicks(Y0 * k, Y1 * k, 5);",
        "    for (const v of t2) {",
        "      const y = Y(v / k);",
        "      if (y < M.t - 0.5 || y > M.t + ph + 0.5) continue;",
        "      h('line', {x1: M.l + pw, x2: M.l + pw + 4, y1: y, y2: y, stroke: '#b9bfca'}, svg);",
        "      h('text', {x: M.l + pw + 7, y: y + 4}, svg, tickText(v));",
        "    }",
        "    h('text', {class: 'axis-label', transform: 'translate(' + (W - 8) + ',' + (M.t + ph / 2) + ') rotate(90)', 'text-anchor': 'middle'}, svg, opt.y2.label);",
        "  }",
        "  h('rect', {x: M.l, y: M.t, width: pw, height: ph, class: 'frame'}, svg);",
        "  h('text', {class: 'axis-label', x: M.l + pw / 2, y: H - 6, 'text-anchor': 'middle'}, svg, opt.xlabel);",
        "  h('text', {class: 'axis-label', transform: 'translate(13,' + (M.t + ph / 2) + ') rotate(-90)', 'text-anchor': 'middle'}, svg, opt.ylabel);",
        "  /* reference lines (the clip level) */",
        "  for (const l of opt.hlines || []) {",
        "    if (!ok(l.y)) continue;",
        "    h('line', {x1: M.l, x2: M.l + pw, y1: Y(l.y), y2: Y(l.y), stroke: l.colour, 'stroke-width': 1.5, 'stroke-dasharray': '6 4'}, svg);",
        "    h('text', {x: M.l + pw - 4, y: Y(l.y) - 5, 'text-anchor': 'end', style: 'fill:' + l.colour}, svg, l.short || l.label);",
        "  }",
        "  /* the series */",
        "  const clip = 'clip-' + opt.id;",
        "  const defs = document.createElementNS(SVGNS, 'defs');",
        "  svg.appendChild(defs);",
        "  const cp = document.createElementNS(SVGNS, 'clipPath');",
        "  cp.setAttribute('id', clip);",
        "  defs.appendChild(cp);",
        "  h('rect', {x: M.l, y: M.t - 2, width: pw, height: ph + 4}, cp);",
        "  for (const s of series) {",
        "    const pts = [];",
        "    for (let i = 0; i < s.x.length; i++) if (Number.isFinite(s.x[i]) && ok(s.y[i])) pts.push(X(s.x[i]).toFixed(1) + ',' + Y(s.y[i]).toFixed(1));",
        "    h('polyline', {points: pts.join(' '), 'data-series': s.name, fill: 'none', stroke: s.dotsOnly ? 'none' : s.colour,",
        "      'stroke-width': s.width || 1.5, 'stroke-dasharray': s.dash || 'none', opacity: s.opacity || 1,",
        "      'stroke-linejoin': 'round', 'clip-path': 'url(#' + clip + ')'}, svg);",
        "    if (s.dots || s.dotsOnly) for (let i = 0; i < s.x.length; i++)",
        "      if (Number.isFinite(s.x[i]) && ok(s.y[i])) h('circle', {cx: X(s.x[i]), cy: Y(s.y[i]), r: 2.6, fill: s.colour}, svg);",
        "  }",
        "  /* hover: a guide line at the mouse, and each series' nearest point */",
        "  const guide = h('line', {y1: M.t, y2: M.t + ph, class: 'guide', visibility: 'hidden'}, svg);",
        "  const marks = series.map(s => h('circle', {r: 4, fill: 'none', stroke: s.colour, 'stroke-width': 2, visibility: 'hidden'}, svg));",
        "  const hit = h('rect', {x: M.l, y: M.t, width: pw, height: ph, fill: 'transparent'}, svg);",
        "  const hide = () => { tip.hidden = true; guide.setAttribute('visibility', 'hidden'); marks.forEach(m => m.setAttribute('visibility', 'hidden')); };",
        "  hit.addEventListener('mouseleave', hide);",
        "  hit.addEventListener('mousemove', ev => {",
        "    const box = svg.getBoundingClientRect();",
        "    const xv = x0 + ((ev.clientX - box.left) / box.width * W - M.l) / pw * (x1 - x0);",
        "    tip.textContent = '';",
        "    h('b', {}, tip, opt.xlabel + ' ' + (opt.xfmt ? opt.xfmt(xv) : fmt(Math.round(xv))));",
        "    let shown = 0;",
        "    series.forEach((s, j) => {",
        "      let best = -1;",
        "      for (let i = 0; i < s.x.length; i++) if (ok(s.y[i]) && (best < 0 || Math.abs(s.x[i] - xv) < Math.abs(s.x[best] - xv))) best = i;",
        "      if (best < 0) return;",
        "      marks[j].setAttribute('cx', X(s.x[best])); marks[j].setAttribute('cy', Y(s.y[best]));",
        "      marks[j].setAttribute('visibility', 'visible');",
        "      const row = h('div', {}, tip);",
        "      h('span', {class: 'sw', style: 'background:' + s.colour}, row);",
        "      const at = Math.abs(s.x[best] - xv) > (x1 - x0) / 100 ? ' (at ' + (opt.xfmt ? opt.xfmt(s.x[best]) : fmt(s.x[best])) + ')' : '';",
        "      row.append(s.name + ': ' + fmt(s.y[best]) + (opt.y2 ? ' = ' + fmt(s.y[best] * opt.y2.k) + ' ' + opt.y2.unit : '') + at);",
        "      shown++;",
        "    });",
        "    if (!shown) { hide(); return; }",
        "    guide.setAttribute('x1', X(xv)); guide.setAttribute('x2', X(xv)); guide.setAttribute('visibility', 'visible');",
        "    const fb = tip.parentNode.getBoundingClientRect();",
        "    tip.hidden = false;",
        "    const left = ev.clientX - fb.left + 14;",
        "    tip.style.left = (left + tip.offsetWidth > fb.width ? ev.clientX - fb.left - tip.offsetWidth - 14 : left) + 'px';",
        "    tip.style.top = (ev.clientY - fb.top + 12) + 'px';",
        "  });",
        "}",
        "",
        "/* ---- the heatmap ------------------------------------------------------------",
        "   A cell's colour says how its share compares with the fair share 1/E:",
        "   grey = balanced, orange = more (overloaded), blue = less; the scale is",
        "   log2(share x E) from -2 (a quarter) to +2 (four times). */",
        "function loadColour(share, E) {",
        "  const t = Math.max(-1, Math.min(1, Math.log2(Math.max(share * E, 1e-6)) / 2));",
        "  const mid = [236, 236, 236], hi = [213, 94, 0], lo = [0, 114, 178];",
        "  const to = t > 0 ? hi : lo, a = Math.abs(t);",
        "  return 'rgb(' + mid.map((m, i) => Math.round(m + (to[i] - m) * a)).join(',') + ')';",
        "}",
        "function scaleBar(parent, E) {",
        "  const d = h('div', {class: 'scale'}, parent);",
        "  d.append('under');",
        "  const stops = [-2, -1, 0, 1, 2].map(v => loadColour(Math.pow(2, v) / E, E));",
        "  h('span', {class: 'bar', style: 'background:linear-gradient(90deg,' + stops.join(',') + ')'}, d);",
        "  d.append('over the fair share 1/' + E + ' (grey: balanced; ends: 4x less, 4x more)');",
        "}",
        "/* the latest load: L rows (layers) x E columns (experts), one <rect> each */",
        "function heatLatest(parent, row, E) {",
        "  const L = row.expert_load.length, cw = Math.max(34, Math.min(70, 520 / E)), ch = 26, ml = 62, mt = 20;",
        "  const fig = h('figure', {class: 'chart', id: 'heat-latest'}, parent);",
        "  h('figcaption', {}, fig).append(h('span', {class: 'ctitle'}, null, 'Expert load at step ' + row.step + ' (share of routed tokens)'));",
        "  const svg = h('svg', {viewBox: '0 0 ' + (ml + E * cw + 10) + ' ' + (mt + L * ch + 8), role: 'img', 'aria-label': 'expert load heatmap, latest', style: 'max-width:' + (ml + E * cw + 10) * 1.4 + 'px'}, fig);",
        "  for (let e = 0; e < E; e++) h('text', {x: ml + e * cw + cw / 2, y: 13, 'text-anchor': 'middle'}, svg, 'e' + e);",
        "  row.expert_load.forEach((layer, l) => {",
        "    h('text', {x: ml - 8, y: mt + l * ch + ch / 2 + 4, 'text-anchor': 'end'}, svg, 'layer ' + l);",
        "    layer.forEach((share, e) => {",
        "      const r = h('rect', {x: ml + e * cw, y: mt + l * ch, width: cw - 2, height: ch - 2, fill: loadColour(share, E), class: 'hm-cell'}, svg);",
        "      h('title', {}, r, 'layer ' + l + ', expert ' + e + ': ' + share.toFixed(3) + ' (' + (share * E).toFixed(2) + 'x fair)');",
        "      if (cw >= 34) h('text', {x: ml + e * cw + cw / 2 - 1, y: mt + l * ch + ch / 2 + 3, 'text-anchor': 'middle', style: 'fill:#111;font-size:10px', 'pointer-events': 'none'}, svg, share.toFixed(2));",
        "    });",
        "  });",
        "  scaleBar(fig, E);",
        "}",
        "/* over time: for each layer a band of E rows (experts) x one column per expert-load row */",
        "function heatTime(parent, moe, E) {",
        "  const L = moe[moe.length - 1].expert_load.length, R = moe.length;",
        "  const ml = 62, mt = 6, W = 600, cw = (W - ml - 10) / R, rh = Math.max(4, Math.min(12, 120 / E)), gap = 10;",
        "  const bandH = E * rh + gap, H = mt + L * bandH + 24;",
        "  const fig = h('figure', {class: 'chart', id: 'heat-time'}, parent);",
        "  h('figcaption', {}, fig).append(h('span', {class: 'ctitle'}, null, 'Expert load over time (each band: one layer, one row per expert)'));",
        "  const svg = h('svg', {viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'expert load heatmap over time'}, fig);",
        "  for (let l = 0; l < L; l++) {",
        "    const y0 = mt + l * bandH;",
        "    h('text', {x: ml - 8, y: y0 + E * rh / 2 + 4, 'text-anchor': 'end'}, svg, 'layer ' + l);",
        "    moe.forEach((row, c) => {",
        "      const layer = row.expert_load[l] || [];",
        "      for (let e = 0; e < E; e++) {",
        "        const r = h('rect', {x: ml + c * cw, y: y0 + e * rh, width: Math.max(cw - (cw > 4 ? 1 : 0), 0.5), height: rh - 1, fill: loadColour(layer[e] || 0, E), class: 'hm-time-cell'}, svg);",
        "        h('title', {}, r, 'step ' + row.step + ', layer ' + l + ', expert ' + e + ': ' + (layer[e] || 0).toFixed(3));",
        "      }",
        "    });",
        "  }",
        "  const yAxis = mt + L * bandH + 4;",
        "  for (const c of [0, Math.floor((R - 1) / 2), R - 1]) h('text', {x: ml + c * cw + cw / 2, y: yAxis + 10, 'text-anchor': 'middle'}, svg, 'step ' + moe[c].step);",
        "  scaleBar(fig, E);",
        "}",
        "",
        "/* ---- shared pieces ------------------------------------------------------------- */",
        "function card(parent, k, v, u) {",
        "  const c = h('div', {class: 'card'}, parent);",
        "  h('div', {class: 'k'}, c, k);",
        "  h('div', {class: 'v'}, c, v);",
        "  if (u) h('div', {class: 'u'}, c, u);",
        "}",
        "function mb(b) { return (b / 1e6).toFixed(1) + ' MB'; }",
        "/* one setting as text: sizes in MB, objects as JSON, a missing one as - */",
        "function showSetting(k, v) {",
        "  if (v === undefined) return '-';",
        "  if (k === 'memory' && v && v.total) return mb(v.total);",
        "  if (v === null) return '(none)';",
        "  return typeof v === 'object' ? JSON.stringify(v) : String(v);",
        "}",
        "/* the config row as a table: the keys we know, by group, then any others */",
        "const CONFIG_GROUPS = [",
        "  ['model', [['layers', 'layers L'], ['dim', 'width D'], ['heads', 'query heads H'], ['kv_heads', 'key/value heads KVH'], ['head_dim', 'head dim HD'], ['ffn', 'SwiGLU hidden F'], ['experts', 'experts E'], ['top_k', 'experts per token K'], ['seq', 'context T'], ['vocab', 'vocabulary V'], ['rope_theta', 'RoPE base'], ['tie', 'tied embeddings'], ['window', 'attention window'], ['aux_coef', 'aux loss weight'], ['z_coef', 'z loss weight']]],",
        "  ['training', [['batch', 'batch B'], ['grad_accum', 'grad accumulation'], ['tokens_per_step', 'tokens per step'], ['steps', 'steps'], ['lr', 'peak lr'], ['min_lr', 'final lr'], ['warmup', 'warmup steps'], ['weight_decay', 'weight decay'], ['clip', 'grad clip'], ['seed', 'seed'], ['threads', 'threads (per rank)'], ['ranks', 'ranks (processes)'], ['zero', 'ZeRO stage'], ['eval_every', 'eval every']]],",
        "  ['data', [['train', 'training tokens'], ['val', 'validation tokens'], ['tokenizer', 'tokenizer']]]];",
        "function configTable(parent, cfgRow) {",
        "  const wrap = h('div', {class: 'tables'}, parent);",
        "  const c = cfgRow.config, seen = new Set(['params', 'active_params', 'memory', 'flops_per_token', 'train_tokens_per_byte', 'val_tokens_per_byte']);",
        "  for (const [group, keys] of CONFIG_GROUPS) {",
        "    const t = h('table', {}, wrap);",
        "    h('th', {colspan: 2}, h('tr', {}, t), group);",
        "    for (const [k, label] of keys) {",
        "      seen.add(k);",
        "      if (!(k in c)) continue;",
        "      const tr = h('tr', {}, t);",
        "      h('td', {}, tr, label);",
        "      h('td', {class: typeof c[k] === 'number' ? 'num' : ''}, tr, c[k] === null ? '(none)' : String(c[k]));",
        "    }",
        "  }",
        "  const rest = Object.keys(c).filter(k => !seen.has(k));",
        "  if (rest.length) {",
        "    const t = h('table', {}, wrap);",
        "    h('th', {colspan: 2}, h('tr', {}, t), 'other');",
        "    for (const k of rest) { const tr = h('tr', {}, t); h('td', {}, tr, k); h('td', {}, tr, JSON.stringify(c[k])); }",
        "  }",
        "}",
        "function notesList(parent, run, extra, prefix) {",
        "  const ul = h('ul', {class: 'notes'}, parent);",
        "  if (run.note) h('li', {class: run.state === 'failed' ? 'bad' : ''}, ul, (prefix || '') + run.note);",
        "  if (run.skipped) h('li', {class: 'bad'}, ul, run.name + '/metrics.jsonl: ' + run.skipped + ' line' + (run.skipped > 1 ? 's' : '') +",
        "    ' could not be read and ' + (run.skipped > 1 ? 'are' : 'is') + ' left out: ' +",
        "    run.skipped_lines.map(b => 'line ' + b.line + ' (' + b.why + ')').join(', ') + (run.skipped > run.skipped_lines.length ? ', ...' : ''));",
        "  for (const t of extra) h('li', {}, ul, t);",
        "  if (!ul.children.length) ul.remove();",
        "}",
        "",
        "/* ---- the run page --------------------------------------------------------------- */",
        "function runPage(app, run) {",
        "  const R = split(run.rows), c = R.config ? R.config.config : {};",
        "  document.title = run.name + ' - ' + run.state + ' - ultrathink';",
        "  const h1 = h('h1', {}, app, run.name);",
        "  h('span', {class: 'badge ' + run.state, id: 'state'}, h1, run.state);",
        "  const total = R.total || R.last, age = (Date.now() - DATA.generated_ms) / 1000;",
        "  const msRecent = median(R.train.slice(-50).map(x => x.ms));",
        "  const lastVal = R.fin.length ? R.fin[R.fin.length - 1] : R.val[R.val.length - 1];",
        "  const elapsed = R.end && 'elapsed_s' in R.end ? R.end.elapsed_s : lastVal ? lastVal.elapsed_s : NaN;",
        "  let sub = 'step ' + R.last + (R.total ? ' of ' + R.total : '');",
        "  if (run.state === 'live') sub += ' · ETA ' + dur((total - R.last) * msRecent / 1000) + ' · this page reloads every ' + DATA.refresh_s + ' s';",
        "  else if (Number.isFinite(elapsed)) sub += ' · ran ' + secs(elapsed) + (R.configs.length > 1 ? ' (since the last resume)' : '');",
        "  sub += ' · written ' + new Date(DATA.generated_ms).toLocaleString();",
        "  h('div', {class: 'sub', id: 'status'}, app, sub);",
        "  const bar = h('div', {class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': R.last}, app);",
        "  h('div', {style: 'width:' + (total ? 100 * R.last / total : 0).toFixed(1) + '%'}, bar);",
        "  const notes = [];",
        "  /* train rewrites a live page at least every 30 s (after a step ends): much older, and it is probably dead */",
        "  if (run.state === 'live' && age > Math.max(300, 3 * (msRecent || 0) / 1000))",
        "    notes.push('No update for ' + dur(age) + ': the run may have been killed (kill -9 leaves no final state). ./train dashboard ' + run.name + ' writes this page again from the folder.');",
        "  if (!run.rows.length) notes.push('No rows in metrics.jsonl yet.');",
        "  else if (!R.config) notes.push('This run recorded no config row (an older build): the settings and sizes are not shown.');",
        "  if (run.train_stride > 1) notes.push('This run has ' + run.train_rows + ' training steps: the charts show every ' + run.train_stride + 'th.');",
        "  notesList(app, run, notes);",
        "",
        "  const cards = h('div', {class: 'cards'}, app);",
        "  const lt = R.train[R.train.length - 1];",
        "  if (lt) card(cards, 'training loss', fmt(smooth(R.train.map(x => x.train_loss), 0.9).pop()), 'nats/token, smoothed');",
        "  if (lastVal) card(cards, 'validation loss', fmt(lastVal.val_loss), fmt(lastVal.val_bpb) + ' bits/byte at step ' + lastVal.step);",
        "  if (R.val.length) { const b = R.val.reduce((a, x) => x.val_loss < a.val_loss ? x : a); card(cards, 'best validation', fmt(b.val_loss), 'step ' + b.step); }",
        "  if (lt) card(cards, 'tokens/s', si(median(R.train.slice(-50).map(x => x.tokens_per_s))), 'median of the last 50 steps');",
        "  if (R.tps) card(cards, 'tokens seen', si(R.tps * R.last), si(R.tps) + ' per step');",
        "  if (c.params) card(cards, 'parameters', si(c.params), si(c.active_params) + ' active per token');",
        "  if (c.memory) card(cards, 'memory (estimate)', mb(c.memory.total), 'weights, grads, AdamW, activations');",
        "",
        "  const steps = R.train.map(x => x.step);",
        "  const grid = h('div', {class: 'grid'}, app);",
        "  let w = R.train.length < 200 ? 0.6 : R.train.length < 2000 ? 0.9 : 0.95;   /* smoothing: more for longer runs */",
        "  lineChart(grid, {id: 'chart-loss', title: 'Loss', xlabel: 'step', ylabel: 'nats/token',",
        "    y2: R.bpb ? {label: 'bits/byte', unit: 'bits/byte', k: R.bpb} : null,",
        "    series: () => [",
        "      {name: 'train (raw)', x: steps, y: R.train.map(x => x.train_loss), colour: OI.sky, width: 1, opacity: 0.7},",
        "      {name: 'train (smoothed)', x: steps, y: smooth(R.train.map(x => x.train_loss), w), colour: OI.blue, width: 2.2},",
        "      {name: 'validation', x: R.val.map(x => x.step), y: R.val.map(x => x.val_loss), colour: OI.verm, width: 2, dots: true},",
        "      ...(R.fin.length ? [{name: 'final evaluation', x: R.fin.map(x => x.step), y: R.fin.map(x => x.val_loss), colour: OI.black, dotsOnly: true}] : [])],",
        "    controls: (el, redraw) => {",
        "      const lab = h('label', {}, el, 'smoothing ');",
        "      const r = h('input', {type: 'range', min: 0, max: 0.99, step: 0.01, value: w, 'aria-label': 'smoothing'}, lab);",
        "      const out = h('span', {}, lab, ' ' + w);",
        "      r.addEventListener('input', () => { w = +r.value; out.textContent = ' ' + w; redraw(); });",
        "    }});",
        "  lineChart(grid, {id: 'chart-lr', title: 'Learning rate', xlabel: 'step', ylabel: 'learning rate',",
        "    series: () => [{name: 'lr (warmup, then cosine)', x: steps, y: R.train.map(x => x.lr), colour: OI.green, width: 2}]});",
        "  lineChart(grid, {id: 'chart-grad', title: 'Gradient norm (before clipping)', xlabel: 'step', ylabel: '|g|', logy: true,",
        "    hlines: c.clip ? [{y: c.clip, short: 'clip ' + c.clip, label: 'clip level ' + c.clip + ' (larger norms are scaled down to it)', colour: OI.verm}] : [],",
        "    series: () => [{name: '|g|', x: steps, y: R.train.map(x => x.grad_norm), colour: OI.purple, width: 1.2}]});",
        "  lineChart(grid, {id: 'chart-speed', title: 'Throughput', xlabel: 'step', ylabel: 'tokens/s',",
        "    series: () => [{name: 'tokens/s', x: steps, y: R.train.map(x => x.tokens_per_s), colour: OI.orange, width: 1.2},",
        "      {name: 'median of 21', x: steps, y: R.train.map((x, i) => median(R.train.slice(Math.max(0, i - 10), i + 11).map(y => y.tokens_per_s))), colour: OI.black, width: 2}]});",
        "",
        "  const E = R.moe.length ? R.moe[R.moe.length - 1].expert_load[0].length : c.experts || 1;",
        "  if (R.moe.length || R.train.some(x => 'aux_loss' in x)) {",
        "    h('h2', {}, app, 'Mixture of Experts: ' + E + ' experts' + (c.top_k ? ', top-' + c.top_k : ''));",
        "    const g2 = h('div', {class: 'grid'}, app);",
        "    lineChart(g2, {id: 'chart-moe', title: 'Router losses (as computed, before their weights)', xlabel: 'step', ylabel: 'loss', logy: true,",
        "      series: () => [{name: 'aux (load balancing; 1 = balanced)', x: steps, y: R.train.map(x => x.aux_loss), colour: OI.blue, width: 1.5},",
        "        {name: 'z (router logit size)', x: steps, y: R.train.map(x => x.z_loss), colour: OI.orange, width: 1.5}]});",
        "    if (R.moe.length) {",
        "      heatLatest(g2, R.moe[R.moe.length - 1], E);",
        "      heatTime(g2, R.moe, E);",
        "    }",
        "  }",
        "  if (R.config) {",
        "    h('h2', {}, app, 'Model and training');",
        "    const p = h('p', {}, app);",
        "    if (c.params) p.append('Parameters: ' + c.params.toLocaleString('en') + ' total, ' + c.active_params.toLocaleString('en') + ' active per token. ');",
        "    if (c.memory) p.append('Memory estimate: ' + mb(c.memory.total) + ' = weights ' + mb(c.memory.params) + ' + gradients ' + mb(c.memory.grads) +",
        "      ' + AdamW ' + mb(c.memory.optimizer) + ' + activations ' + mb(c.memory.activations) + '.');",
        "    h('pre', {id: 'command'}, h('div', {class: 'samples'}, app), R.config.command || '');",
        "    configTable(app, R.config);",
        "  }",
        "  if (R.samples.length) {",
        "    h('h2', {}, app, 'Latest samples');",
        "    const d = h('div', {class: 'samples', id: 'samples'}, app);",
        "    for (const s of R.samples.slice(-3).reverse()) { h('div', {class: 'k'}, d, 'step ' + s.step); h('pre', {}, d, s.sample); }",
        "  }",
        "}",
        "",
        "/* ---- the compare page ------------------------------------------------------------- */",
        "function comparePage(app, runs) {",
        "  const S = runs.map(r => split(r.rows));",
        "  document.title = 'Comparing ' + runs.length + ' runs - ultrathink';",
        "  h('h1', {}, app, 'Comparing ' + runs.length + ' run' + (runs.length > 1 ? 's' : ''));",
        "  h('div', {class: 'sub'}, app, 'written ' + new Date(DATA.generated_ms).toLocaleString() + ' by ./train report');",
        "  /* short names: the last part of each path, if those differ (the full path is in the tooltip) */",
        "  const base = runs.map(r => r.name.replace(/[/]+$/, '').split('/').pop());",
        "  const names = new Set(base).size === runs.length ? base : runs.map(r => r.name);",
        "  for (const r of runs) notesList(app, r, [], r.name + ': ');",
        "  const col = i => RUN_COLOURS[i % RUN_COLOURS.length];",
        "  const dashes = ['none', '7 3', '2 3', '10 3 2 3'];",
        "  const vs = (fx) => () => runs.map((r, i) => ({name: names[i], x: S[i].val.map(fx(S[i])), y: S[i].val.map(x => x.val_loss), colour: col(i), width: 2, dots: true, dash: dashes[Math.floor(i / RUN_COLOURS.length) % 4]}));",
        "  const grid = h('div', {class: 'grid'}, app);",
        "  lineChart(grid, {id: 'cmp-step', title: 'Validation loss against steps', xlabel: 'step', ylabel: 'nats/token', series: vs(R => x => x.step)});",
        "  lineChart(grid, {id: 'cmp-tokens', title: 'Validation loss against tokens seen', xlabel: 'tokens', ylabel: 'nats/token', xfmt: si, series: vs(R => x => R.tps ? x.step * R.tps : NaN)});",
        "  lineChart(grid, {id: 'cmp-time', title: 'Validation loss against wall time', xlabel: 'wall time', ylabel: 'nats/token', xfmt: secs, series: vs(R => x => x.wall_s)});",
        "  lineChart(grid, {id: 'cmp-train', title: 'Training loss (smoothed) against steps', xlabel: 'step', ylabel: 'nats/token',",
        "    series: () => runs.map((r, i) => ({name: names[i], x: S[i].train.map(x => x.step), y: smooth(S[i].train.map(x => x.train_loss), 0.9), colour: col(i), width: 1.8}))});",
        "",
        "  h('h2', {}, app, 'Final figures');",
        "  const t = h('table', {id: 'finals'}, app);",
        "  const heads = ['run', 'state', 'steps', 'final val loss', 'bits/byte', 'best val loss', 'wall time', 'tokens/s (median)', 'parameters (active)'];",
        "  const hr = h('tr', {}, t);",
        "  for (const x of heads) h('th', {}, hr, x);",
        "  runs.forEach((r, i) => {",
        "    const R = S[i], lv = R.fin.length ? R.fin[R.fin.length - 1] : R.val[R.val.length - 1], c = R.config ? R.config.config : {};",
        "    const best = R.val.length ? Math.min(...R.val.map(x => x.val_loss)) : NaN;",
        "    const tr = h('tr', {}, t);",
        "    const td0 = h('td', {title: r.name}, tr);",
        "    h('span', {class: 'sw', style: 'display:inline-block;width:10px;height:10px;margin-right:6px;background:' + col(i)}, td0);",
        "    td0.append(names[i]);",
        "    h('td', {}, tr, r.state);",
        "    for (const v of [R.last + (R.total ? ' / ' + R.total : ''), lv ? fmt(lv.val_loss) : '-', lv ? fmt(lv.val_bpb) : '-', fmt(best),",
        "      lv ? secs(lv.wall_s) : '-', si(median(R.train.map(x => x.tokens_per_s))), c.params ? si(c.params) + ' (' + si(c.active_params) + ')' : '-'])",
        "      h('td', {class: 'num'}, tr, v);",
        "  });",
        "",
        "  h('h2', {}, app, 'Settings that differ');",
        "  const cfgs = S.map(R => R.config ? R.config.config : {});",
        "  const keys = [...new Set(cfgs.flatMap(c => Object.keys(c)))];",
        "  const diff = keys.filter(k => new Set(cfgs.map(c => JSON.stringify(c[k]))).size > 1);",
        "  if (runs.length < 2) h('p', {}, app, 'One run: nothing to compare.');",
        "  else if (!diff.length) h('p', {}, app, 'None: the runs have the same recorded settings.');",
        "  else {",
        "    const d = h('table', {id: 'diff'}, app);",
        "    const r0 = h('tr', {}, d);",
        "    h('th', {}, r0, 'setting');",
        "    runs.forEach((r, i) => h('th', {style: 'border-top:3px solid ' + col(i), title: r.name}, r0, names[i]));",
        "    for (const k of diff) {",
        "      const tr = h('tr', {}, d);",
        "      h('td', {}, tr, k);",
        "      for (const c of cfgs) h('td', {class: typeof c[k] === 'number' ? 'num' : ''}, tr, showSetting(k, c[k]));",
        "    }",
        "  }",
        "}",
        "",
        "/* ---- start: draw, and say in the page that it drew (the browser test reads it) --- */",
        "const app = document.getElementById('app');",
        "app.textContent = '';",
        "if (DATA.page === 'compare') comparePage(app, DATA.runs);",
        "else runPage(app, DATA.runs[0]);",
        "h('footer', {}, app, 'ultrathink · drawn from metrics.jsonl by the page itself, with no network and no chart library (dashboard.h).');",
        "app.setAttribute('data-rendered', 'yes');",
        NULL};
    return js;
}

#endif /* ULTRATHINK_DASHBOARD_H */
