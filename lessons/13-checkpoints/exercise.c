/* lessons/13-checkpoints/exercise.c — YOUR checkpoint inspector. Fill in the
   TODOs, then run `make lesson N=13`. The format is the table at the top of
   section 8 of ultrathink.h (CHECKPOINT); every number is little-endian, so
   read them with ut_get_u32 / ut_get_u64 (section 1), never with a cast.

   1. fnv1a(): the checksum the header computes in ut__fnv. FNV-1a 64: for
      each byte b,  h = (h XOR b) * 0x100000001B3  (mod 2^64). A whole file is
      hashed from h = UT_FNV_INIT (0xCBF29CE484222325); feeding the bytes in
      pieces, each call starting from the last one's result, gives the same h.

   2. checkpoint_inspect(): read the 256-byte header of the file at path and
      fill *info: the fields below, the file's length, and the FNV-1a of the
      whole file with the 8 checksum bytes (offset 168) counted as zero
      (computed; version 1 files: of the bytes from 256 on only), which must
      equal the stored checksum. Return 0 if the file is a good checkpoint: magic
      "UTCK", version 2 (or 1), header size 256, 4 bytes per number, length exactly
      256 + 12 n_params, computed == checksum. Else return -1 (fill what you
      could read; never read past what the file holds).                   */

typedef struct {
    uint32_t version, header_size, number_bytes;  /* offsets 4, 8, 12 */
    int vocab_size, max_seq_len, n_layers, d_model; /* ut_config's first four i32, offsets 16, 20, 24, 28 */
    float lr;                    /* ut_train_config.lr, f32 (its 6th field) */
    uint64_t seed;               /* ut_train_config.seed, u64 */
    uint64_t step, data_rng, tokens_seen; /* progress, offsets 136, 144, 152 */
    uint64_t n_params;           /* offset 160 */
    uint64_t checksum;           /* as stored, offset 168 */
    uint64_t computed;           /* FNV-1a of the file (checksum field as 0), computed here */
    uint64_t file_bytes;         /* the file's length */
    float first_param;           /* the first parameter: float32 at offset 256 */
} ckpt_info;

uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    /* TODO: one XOR and one multiply per byte. */
    (void)p; (void)n;
    return h;
}

int checkpoint_inspect(const char *path, ckpt_info *info) {
    /* TODO: fopen(path, "rb"); fread the 256-byte header; check the magic;
       ut_get_u32 / ut_get_u64 each field at its offset (the f32 ones: the
       u32 bits memcpy'd into a float); hash the rest of the file in blocks
       with fnv1a, counting its bytes; compare.                              */
    (void)path;
    memset(info, 0, sizeof *info);
    return 0;
}
