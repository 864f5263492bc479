/* lessons/13-checkpoints/solution.c — one solution: the checksum of
   ut__fnv and a reader of the header table of ultrathink.h, section 8. */

typedef struct {
    uint32_t version, header_size, number_bytes;
    int vocab_size, max_seq_len, n_layers, d_model;
    float lr;
    uint64_t seed;
    uint64_t step, data_rng, tokens_seen;
    uint64_t n_params;
    uint64_t checksum;
    uint64_t computed;
    uint64_t file_bytes;
    float first_param;
} ckpt_info;

uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001B3ull; }
    return h;
}

static float f32_at(const uint8_t *b) {   /* the bits of a little-endian float32 */
    uint32_t u = ut_get_u32(b);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int checkpoint_inspect(const char *path, ckpt_info *info) {
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t h[256];
    size_t got = fread(h, 1, sizeof h, f);
    info->file_bytes = got;
    if (got != sizeof h || memcmp(h, "UTCK", 4) != 0) { fclose(f); return -1; }
    info->version = ut_get_u32(h + 4);
    info->header_size = ut_get_u32(h + 8);
    info->number_bytes = ut_get_u32(h + 12);
    info->vocab_size = (int)ut_get_u32(h + 16);
    info->max_seq_len = (int)ut_get_u32(h + 20);
    info->n_layers = (int)ut_get_u32(h + 24);
    info->d_model = (int)ut_get_u32(h + 28);
    /* ut_train_config from 80: batch_size, seq_len, grad_accum, total_steps,
       warmup_steps (5 x i32), then lr (f32) at 80 + 20 = 100; seven f32 end at
       128, where the u64 seed is */
    info->lr = f32_at(h + 100);
    info->seed = ut_get_u64(h + 128);
    info->step = ut_get_u64(h + 136);
    info->data_rng = ut_get_u64(h + 144);
    info->tokens_seen = ut_get_u64(h + 152);
    info->n_params = ut_get_u64(h + 160);
    info->checksum = ut_get_u64(h + 168);
    uint64_t hash = 0xCBF29CE484222325ull;
    if (info->version == 2) {   /* version 2: the header counts too, its checksum field as 0 */
        memset(h + 168, 0, 8);
        hash = fnv1a(hash, h, sizeof h);
    }
    uint8_t buf[1 << 14];
    size_t k;
    int first = 1;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (first && k >= 4) info->first_param = f32_at(buf);
        first = 0;
        hash = fnv1a(hash, buf, k);
        info->file_bytes += k;
    }
    fclose(f);
    info->computed = hash;
    int ok = (info->version == 1 || info->version == 2) && info->header_size == 256 && info->number_bytes == 4 &&
             info->file_bytes == 256 + 12 * info->n_params && info->computed == info->checksum;
    return ok ? 0 : -1;
}
