/* export_texts.c — a helper of test/test_export.sh (not a test by itself):
   for each text file it prints how ultrathink cuts and encodes it, for
   test/export_clients.mjs to compare with GPT-2's regex, llama.cpp and
   Hugging Face tokenizers:

       build/export_texts TOK FILE...
   prints, per file, two lines:
       chunks L1 L2 ...     byte lengths of the chunks of GPT-2's rule (ut_chunker)
       ids I1 I2 ...        the ids of ut_tokenizer_encode_bytes with TOK
   Exit status 1 (and a message) if a file or the tokenizer cannot be read. */
#define ULTRATHINK_IMPLEMENTATION
#include "../ultrathink.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: export_texts TOK FILE...\n"); return 1; }
    ut_tokenizer tk;
    if (ut_tokenizer_load(&tk, argv[1])) { fprintf(stderr, "export_texts: %s\n", ut_error()); return 1; }
    for (int a = 2; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f) { fprintf(stderr, "export_texts: cannot read %s\n", argv[a]); return 1; }
        static uint8_t text[1 << 16];
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        ut_chunker c;
        ut_chunker_init_rule(&c, text, n, 0, (int)tk.pretok);
        size_t start, len;
        printf("chunks");
        while (ut_chunker_next(&c, &start, &len) != UT_CHUNK_END) printf(" %zu", len);
        static int ids[1 << 16];
        int k = ut_tokenizer_encode_bytes(&tk, text, n, 0, ids, (int)(sizeof ids / sizeof ids[0]));
        if (k < 0) { fprintf(stderr, "export_texts: %s\n", ut_error()); return 1; }
        printf("\nids");
        for (int i = 0; i < k; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    ut_tokenizer_free(&tk);
    return 0;
}
