/*
** check.h: the C tests' one assertion. Each test program counts what passed
** and failed and prints "name: N passed, N failed" at the end (the line CI
** tallies); a failure prints its message and the run goes on.
*/
#ifndef BEDROCK_TEST_CHECK_H
#define BEDROCK_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed;
static int failed;

static void check(int ok, const char *fmt, ...)
{
  va_list ap;
  if(ok) {
    passed++;
    return;
  }
  failed++;
  printf("FAIL: ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

#endif
