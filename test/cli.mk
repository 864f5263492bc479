# Tests of the ./train command line (issue #4): end to end on a tiny generated
# corpus, kill -9 and resume, and one check per kind of bad input. They use
# $(BIN)/train and $(BIN)/tokenizer (exported BIN: build-asan in make test-asan).
TESTS += "bash test/test_cli.sh"
TESTS += "bash test/test_kill.sh" "bash test/test_cli_errors.sh"
# A run you can trust and continue (issue #10): run record, resume alone,
# extension, eval, keep-best, overfitting, progress width, thread tuner.
TESTS += "bash test/test_run.sh"
