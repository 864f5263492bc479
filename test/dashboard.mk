# The dashboard (issue #16): RUN/dashboard.html and ./train report, opened in
# headless Chromium (SKIP lines where Chromium is not installed; .ci/run
# installs Debian's chromium). Uses $(BIN)/train and $(BIN)/tokenizer.
TESTS += "bash test/test_dashboard.sh"
