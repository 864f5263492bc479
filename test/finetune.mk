# Fine-tuning (issue #17): --init-from RUN, --init-from-hf DIR and
# ./train import (a Hugging Face folder, such as our own export, back into a
# run). Uses $(BIN)/train and $(BIN)/tokenizer; python3 (any, no packages)
# edits a safetensors header for two bad-input checks (SKIP without it).
# build/export_texts (test/export.mk) feeds the llama.cpp check of a merged LoRA run.
TESTS += "bash test/test_finetune.sh $(BUILD)/export_texts"
