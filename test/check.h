/* check.h — the reporting the C test programs share (test_props, test_flash,
   test_mutants): one line per check, "PASS name detail" or "FAIL name
   detail", which test/run.sh counts; n_fail counts the failures, and the
   program exits non-zero when there were any. The detail says what was
   measured (an error against its bound, the message a bad input got), so a
   PASS line is evidence too, not just a word. */
#ifndef UT_TEST_CHECK_H
#define UT_TEST_CHECK_H
#include <stdarg.h>
#include <stdio.h>

static int n_fail = 0;

static void report(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *name, const char *fmt, ...) {
    char buf[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("%s %s %s\n", ok ? "PASS" : "FAIL", name, buf);
    if (!ok) n_fail++;
}
#endif
