/*
** json_canon.h: a json_handler that writes what it is given back out as
** canonical JSON (no whitespace, integers as integers, doubles with 17
** significant digits, strings with only the escapes JSON requires), for
** test/test_json.c and fuzz/fuzz_json.c. Reparsing the output must give
** the same output again.
*/
#ifndef BEDROCK_JSON_CANON_H
#define BEDROCK_JSON_CANON_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct canon {
  char *out;
  size_t len, cap;
  char *scratch;
  size_t scratch_cap;
  int need_comma[1100];   /* per depth: a value came before in this container */
  int depth;
  int max_seen;           /* the deepest nesting met */
  int nomem;
  int stop_after;         /* > 0: the handler stops at that callback */
  int calls;
};

static int canon_put(struct canon *c, const char *s, size_t n)
{
  if(c->stop_after && ++c->calls >= c->stop_after)
    return 1;
  if(c->len + n + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    char *p;
    while(cap < c->len + n + 1)
      cap *= 2;
    p = realloc(c->out, cap);
    if(!p) {
      c->nomem = 1;
      return 1;
    }
    c->out = p;
    c->cap = cap;
  }
  memcpy(c->out + c->len, s, n);
  c->len += n;
  c->out[c->len] = '\0';
  return 0;
}

/* a comma before every value but the first of its container; keys put
** their own, and the value after a key none */
static int canon_sep(struct canon *c)
{
  if(c->depth > 0) {
    if(c->need_comma[c->depth] == 1 && canon_put(c, ",", 1))
      return 1;
    c->need_comma[c->depth] = 1;
  }
  return 0;
}

static int canon_quoted(struct canon *c, const char *s, size_t n)
{
  size_t i;
  if(canon_put(c, "\"", 1))
    return 1;
  for(i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    if(ch == '"' || ch == '\\') {
      esc[0] = '\\';
      esc[1] = (char)ch;
      if(canon_put(c, esc, 2))
        return 1;
    }
    else if(ch < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", ch);
      if(canon_put(c, esc, 6))
        return 1;
    }
    else if(canon_put(c, (const char *)&s[i], 1))
      return 1;
  }
  return canon_put(c, "\"", 1);
}

static int canon_null(void *ud)
{
  struct canon *c = ud;
  return canon_sep(c) || canon_put(c, "null", 4);
}

static int canon_bool(void *ud, int v)
{
  struct canon *c = ud;
  return canon_sep(c) || (v ? canon_put(c, "true", 4) : canon_put(c, "false", 5));
}

static int canon_int(void *ud, int64_t v)
{
  struct canon *c = ud;
  char b[32];
  int n = snprintf(b, sizeof(b), "%" PRId64, v);
  return canon_sep(c) || canon_put(c, b, (size_t)n);
}

static int canon_num(void *ud, double v)
{
  struct canon *c = ud;
  char b[40];
  int n;
  if(isinf(v))          /* JSON has no infinity: the biggest double past it */
    n = snprintf(b, sizeof(b), "%s", v < 0 ? "-1e999" : "1e999");
  else
    n = snprintf(b, sizeof(b), "%.17g", v);
  /* keep it a float on the way back: 1e+20 is fine, 3 would read as an integer */
  if(!isinf(v) && !strpbrk(b, ".eE"))
    n += snprintf(b + n, sizeof(b) - (size_t)n, ".0");
  return canon_sep(c) || canon_put(c, b, (size_t)n);
}

static int canon_str(void *ud, const char *s, size_t n)
{
  struct canon *c = ud;
  return canon_sep(c) || canon_quoted(c, s, n);
}

static int canon_key(void *ud, const char *s, size_t n)
{
  struct canon *c = ud;
  if(c->need_comma[c->depth] == 1 && canon_put(c, ",", 1))
    return 1;
  c->need_comma[c->depth] = 2;      /* the value that follows puts no comma */
  return canon_quoted(c, s, n) || canon_put(c, ":", 1);
}

static int canon_begin(struct canon *c, const char *open)
{
  if(canon_sep(c) || canon_put(c, open, 1))
    return 1;
  c->depth++;
  if(c->depth > c->max_seen)
    c->max_seen = c->depth;
  c->need_comma[c->depth] = 0;
  return 0;
}

static int canon_begin_array(void *ud)
{
  return canon_begin(ud, "[");
}

static int canon_begin_object(void *ud)
{
  return canon_begin(ud, "{");
}

static int canon_item(void *ud, size_t i)
{
  (void)ud;
  (void)i;
  return 0;
}

static int canon_member(void *ud)
{
  struct canon *c = ud;
  c->need_comma[c->depth] = 1;
  return 0;
}

static int canon_end_array(void *ud, size_t n)
{
  struct canon *c = ud;
  (void)n;
  c->depth--;
  return canon_put(c, "]", 1);
}

static int canon_end_object(void *ud, size_t n)
{
  struct canon *c = ud;
  (void)n;
  c->depth--;
  return canon_put(c, "}", 1);
}

static char *canon_scratch(void *ud, size_t n)
{
  struct canon *c = ud;
  if(n > c->scratch_cap) {
    char *p = realloc(c->scratch, n ? n : 1);
    if(!p)
      return NULL;
    c->scratch = p;
    c->scratch_cap = n;
  }
  return c->scratch;
}

static const struct json_handler canon_handler = {
  canon_null, canon_bool, canon_int, canon_num, canon_str, canon_key,
  canon_begin_array, canon_item, canon_end_array,
  canon_begin_object, canon_member, canon_end_object, canon_scratch
};

static void canon_reset(struct canon *c)
{
  c->len = 0;
  if(c->out)
    c->out[0] = '\0';
  c->depth = 0;
  c->max_seen = 0;
  c->need_comma[0] = 0;
  c->calls = 0;
  c->nomem = 0;
}

static inline void canon_free(struct canon *c)
{
  free(c->out);
  free(c->scratch);
  memset(c, 0, sizeof(*c));
}

#endif
