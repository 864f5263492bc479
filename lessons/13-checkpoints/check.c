/* lessons/13-checkpoints/check.c — checks your fnv1a() and
   checkpoint_inspect() (exercise.c, or solution.c with SOLUTION=1) against
   things that do not depend on them: the published FNV-1a 64 test vectors,
   and a checkpoint written by the header's ut_checkpoint_save with known
   settings (and read back by ut_checkpoint_load). check.sh runs it, then
   drives ./train for the kill -9 / resume / thread-count checks.
     check checks          the PASS/FAIL lines of the inspector
     check tokens FILE     writes a small token file (V = 64) for ./train
     check inspect FILE    prints "step S ok" or "bad" with your inspector */
#define ULTRATHINK_IMPLEMENTATION
#include "../../ultrathink.h"
#include "../lesson.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include LESSON_IMPL   /* exercise.c or solution.c: fnv1a, ckpt_info, checkpoint_inspect */


/* A token file of n ids below 64: a fixed random Markov chain (each id has
   4 likely successors), so a tiny model has something to learn. */
static int write_tokens(const char *path, int n) {
    enum { V = 64 };
    uint32_t *ids = malloc((size_t)n * sizeof *ids);
    uint8_t *bytes = malloc((size_t)n * 4 + UT_TOKENS_HEADER);
    uint64_t rng = ut_rng_seed(13);
    uint32_t next[V][4];
    for (int v = 0; v < V; v++) for (int j = 0; j < 4; j++) next[v][j] = (uint32_t)(ut_rng_u64(&rng) % V);
    ids[0] = 0;
    for (int i = 1; i < n; i++) ids[i] = next[ids[i - 1]][ut_rng_u64(&rng) % 4];
    ut_tokens_pack_header(bytes, V, (uint64_t)n, (uint64_t)n);
    size_t len = UT_TOKENS_HEADER + ut_tokens_pack_ids(bytes + UT_TOKENS_HEADER, ids, (size_t)n, V);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(bytes, 1, len, f) != len;
    if (f) bad |= fclose(f) != 0;
    free(ids); free(bytes);
    return bad ? -1 : 0;
}

static long long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long long n = ftell(f);
    fclose(f);
    return n;
}
/* copies src to dst, then: flips one bit at byte `at` (at >= 0), or cuts the
   last `cut` bytes off */
static void copy_damaged(const char *src, const char *dst, long long at, long long cut) {
    long long n = file_size(src);
    uint8_t *b = malloc((size_t)n);
    FILE *f = fopen(src, "rb");
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    if (at >= 0 && at < n) b[at] ^= 0x10;
    f = fopen(dst, "wb");
    fwrite(b, 1, (size_t)(n - cut), f);
    fclose(f);
    free(b);
}

static int checks(void) {
    /* 1. FNV-1a 64 test vectors (Fowler, Noll, Vo; the published table) */
    const uint64_t init = 0xCBF29CE484222325ull;
    int bad1 = 0;
    bad1 += fnv1a(init, (const uint8_t *)"", 0) != 0xcbf29ce484222325ull;
    bad1 += fnv1a(init, (const uint8_t *)"a", 1) != 0xaf63dc4c8601ec8cull;
    bad1 += fnv1a(init, (const uint8_t *)"foobar", 6) != 0x85944171f73967e8ull;
    report(bad1 == 0, "fnv1a_test_vectors", "\"\", \"a\", \"foobar\": %.0f wrong (allowed %.0f)", bad1, 0);
    uint64_t pieces = fnv1a(fnv1a(init, (const uint8_t *)"foo", 3), (const uint8_t *)"bar", 3);
    report(pieces == 0x85944171f73967e8ull, "fnv1a_in_pieces", "\"foo\" then \"bar\" = \"foobar\": %.0f (want %.0f)",
           pieces == 0x85944171f73967e8ull, 1);

    /* 2. a checkpoint from the header's writer, with settings we know */
    char dir[] = "/tmp/ut_lesson13_XXXXXX";
    if (!mkdtemp(dir)) { printf("FAIL setup cannot make a temp dir\n"); return 1; }
    char path[96], bad[96], cut[96];
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    snprintf(bad, sizeof bad, "%s/flipped.bin", dir);
    snprintf(cut, sizeof cut, "%s/cut.bin", dir);
    ut_config c = ut_config_default();
    c.vocab_size = 70; c.max_seq_len = 16; c.n_layers = 2; c.d_model = 24; c.n_heads = 3; c.n_kv_heads = 1;
    c.head_dim = 8; c.ffn_hidden = 40; c.n_experts = 2; c.top_k = 1;
    ut_train_config t = ut_train_config_default();
    t.seq_len = 16; t.lr = 3e-3f; t.seed = 123456789012345ull; t.total_steps = 100;
    ut_progress pr = {42, 0xDEADBEEFCAFEF00Dull, 42ull * 16 * 16};
    ut_model m;
    if (ut_model_init(&m, &c, t.seed) || ut_checkpoint_save(path, &m, &t, &pr)) {
        printf("FAIL setup %s\n", ut_error()); return 1;
    }
    ckpt_info in;
    int rc = checkpoint_inspect(path, &in);
    int wrong = (in.version != 2) + (in.header_size != 256) + (in.number_bytes != 4) + (in.vocab_size != 70) +
                (in.max_seq_len != 16) + (in.n_layers != 2) + (in.d_model != 24) + (in.lr != 3e-3f) +
                (in.seed != t.seed) + (in.step != 42) + (in.data_rng != pr.data_rng) +
                (in.tokens_seen != pr.tokens_seen);
    report(rc == 0 && wrong == 0, "header_fields", "12 fields of ut_checkpoint_save's header: %.0f wrong (allowed %.0f)",
           rc == 0 ? wrong : 99, 0);
    size_t n = ut_num_params(&c);
    long long want_len = 256 + 12 * (long long)n;
    report(in.n_params == n && (long long)in.file_bytes == want_len && file_size(path) == want_len, "length_is_256_plus_12n",
           "n_params %.0f, file is 256 + 12 n = %.0f bytes", (double)in.n_params, (double)want_len);
    report(in.first_param == (float)m.params[0], "first_parameter_float32_le", "first parameter %.7g (want %.7g)",
           in.first_param, m.params[0]);
    /* the header's loader verifies the same checksum: it and yours must agree */
    ut_model m2;
    ut_train_config t2;
    ut_progress p2;
    int loads = ut_checkpoint_load(path, &m2, &t2, &p2) == 0;
    if (loads) ut_model_free(&m2);
    report(loads && rc == 0 && in.computed == in.checksum && in.checksum != 0, "checksum_matches",
           "FNV-1a of the file (checksum field as 0) equals the stored one: %.0f (want %.0f)", loads && in.computed == in.checksum, 1);

    /* 3. damaged files: one flipped bit in the last second moment, 4 bytes
          missing, a wrong magic. Yours must say -1, as ut_checkpoint_load does. */
    copy_damaged(path, bad, want_len - 3, 0);
    int r1 = checkpoint_inspect(bad, &in);
    int l1 = ut_checkpoint_load(bad, &m2, &t2, &p2);
    report(r1 == -1 && l1 == -1 && in.computed != in.checksum, "detects_one_flipped_bit",
           "returns %.0f (want %.0f)", r1, -1);
    copy_damaged(path, cut, -1, 4);
    int r2 = checkpoint_inspect(cut, &in);
    report(r2 == -1, "detects_truncation", "4 bytes short: returns %.0f (want %.0f)", r2, -1);
    copy_damaged(path, bad, 0, 0);
    int r3 = checkpoint_inspect(bad, &in);
    report(r3 == -1, "detects_bad_magic", "\"ETCK\": returns %.0f (want %.0f)", r3, -1);

    /* 4. the save is atomic: it writes PATH.tmp and renames it, so no .tmp stays */
    char tmp[104];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    report(file_size(tmp) < 0, "no_tmp_file_left", "ckpt.bin.tmp exists after the save: %.0f (want %.0f)", file_size(tmp) >= 0, 0);

    ut_model_free(&m);
    remove(path); remove(bad); remove(cut); remove(dir);
    return failed;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "checks")) return checks();
    if (argc == 3 && !strcmp(argv[1], "tokens")) return write_tokens(argv[2], 20000) ? 1 : 0;
    if (argc == 3 && !strcmp(argv[1], "inspect")) {
        ckpt_info in;
        if (checkpoint_inspect(argv[2], &in) == 0) printf("step %llu ok\n", (unsigned long long)in.step);
        else printf("bad\n");
        return 0;
    }
    fprintf(stderr, "usage: %s checks | tokens FILE | inspect FILE\n", argv[0]);
    return 2;
}
