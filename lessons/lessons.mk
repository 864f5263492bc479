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
	@mkdir -p lessons/sandbox && cp -n ultrathink.h lessons/sandbox/ultrathink.h 2>/dev/null || true
	@echo "lessons/sandbox/ultrathink.h: edit this copy; build against it with -Ilessons/sandbox (see lessons/README.md)"
TESTS += "CC='$(CC)' CFLAGS='$(CFLAGS)' BUILD='$(BUILD)' bash lessons/ci.sh"
