# Lessons (lessons/README.md): `make lesson N=6` checks the student's
# lessons/06-*/exercise.c, `make lesson N=6 SOLUTION=1` the solution;
# `make lessons-ci` (part of make test) proves each check passes with the
# solution and fails with the untouched stub. LONG=1 runs the long experiments.
.PHONY: lesson lessons-ci lesson-sandbox
lesson: all
	@CC="$(CC)" CFLAGS="$(CFLAGS)" BUILD="$(BUILD)" LONG="$(LONG)" bash lessons/run.sh $(N) $(if $(SOLUTION),solution,exercise)
lessons-ci: all
	@CC="$(CC)" CFLAGS="$(CFLAGS)" BUILD="$(BUILD)" bash lessons/ci.sh
# Experiments that change the model (an ablation such as "no RoPE") edit a
# copy of the header, never the real one: lessons/sandbox/ultrathink.h.
lesson-sandbox:
	@mkdir -p lessons/sandbox
	@for f in ultrathink.h train.c; do [ -e lessons/sandbox/$$f ] || cp $$f lessons/sandbox/$$f; done
	@echo "lessons/sandbox/: a copy of ultrathink.h and train.c to change. Build the changed trainer with"
	@echo "  $(CC) $(CFLAGS) -o lessons/sandbox/train lessons/sandbox/train.c $(LDLIBS)"
	@echo "(a quoted #include finds the header in the program's own folder first, so it uses the copy)"
# In make test the checks are built with -O1, not -O3: each one compiles the
# whole header (5 s at -O3, under 2 s at -O1) to run for a fraction of a
# second, so the optimiser was most of lessons-ci's time. `make lesson` keeps
# CFLAGS as it is.
TESTS += "CC='$(CC)' CFLAGS='$(patsubst -O3,-O1,$(CFLAGS))' BUILD='$(BUILD)' bash lessons/ci.sh"
