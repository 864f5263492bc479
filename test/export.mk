# Export (issue #15): ./train export to GGUF and to a Hugging Face folder,
# checked by the real clients: llama.cpp (the npm package node-llama-cpp),
# Hugging Face tokenizers (@huggingface/tokenizers), an independent
# safetensors reader in PyTorch (test/torch_ref.py --hf). The npm packages
# live in test/node_modules (test/package.json pins them; `cd test && npm ci
# --ignore-scripts --omit=optional`, which .ci/run does: 84 MB, llama.cpp's
# prebuilt CPU binary for Linux x64 and no GPU builds); without them or
# without node the client checks print SKIP. build/export_texts is the test's helper.
TESTS += "bash test/test_export.sh $(BUILD)/export_texts"
TEST_BINS += $(BUILD)/export_texts

$(BUILD)/export_texts: test/export_texts.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/export_texts.c $(LDLIBS)
