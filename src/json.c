/*
** json.c: a strict JSON parser calling a handler per value (see json.h).
**
** Recursive descent, depth-bounded, one pass over each string unless it
** holds an escape (then a second pass unescapes into the handler's
** scratch, which is never longer than the escaped text). Nothing is
** allocated here, so a handler may leave by longjmp (a Lua error) without
** a leak.
*/
#include <float.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
  const unsigned char *p, *end, *start;
  const struct json_handler *h;
  void *ud;
  unsigned depth, max_depth;
  int status;
  const unsigned char *err_at;
};

/* Byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control,
** 4 the start of a multi-byte UTF-8 sequence (or an invalid byte). */
static const unsigned char str_class[256] = {
  3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,
  0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,2,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4, 4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,
  4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4, 4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,
  4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4, 4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,
  4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4, 4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4
};

static int fail(struct parser *P, int status, const unsigned char *at)
{
  if(!P->status) {
    P->status = status;
    P->err_at = at;
  }
  return -1;
}

/* The end of the text inside a token reads as EOF, anything else as the
** given error at that byte. */
static int fail_at(struct parser *P, int status)
{
  return fail(P, P->p >= P->end ? JSON_ERR_EOF : status, P->p);
}

static int handler_said_stop(struct parser *P, int rc, const unsigned char *at)
{
  return rc ? fail(P, JSON_ERR_HANDLER, at) : 0;
}

static void skip_ws(struct parser *P)
{
  const unsigned char *p = P->p, *end = P->end;
  while(p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  P->p = p;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
  unsigned c = p[0];
  size_t need, i;
  unsigned lo = 0x80, hi = 0xbf;      /* the second byte's range */
  if(c >= 0xc2 && c <= 0xdf)
    need = 1;
  else if(c >= 0xe0 && c <= 0xef) {
    need = 2;
    if(c == 0xe0)
      lo = 0xa0;                      /* no overlong forms */
    else if(c == 0xed)
      hi = 0x9f;                      /* no UTF-16 surrogates */
  }
  else if(c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if(c == 0xf0)
      lo = 0x90;
    else if(c == 0xf4)
      hi = 0x8f;                      /* nothing past U+10FFFF */
  }
  else
    return 0;
  if((size_t)(end - p) <= need)
    return 0;
  if(p[1] < lo || p[1] > hi)
    return 0;
  for(i = 2; i <= need; i++)
    if(p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return need + 1;
}

static int hex4(const unsigned char *p, unsigned *out)
{
  unsigned v = 0;
  int i;
  for(i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if(c >= '0' && c <= '9')
      d = c - '0';
    else if(c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if(c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return 0;
    v = v << 4 | d;
  }
  *out = v;
  return 1;
}

/* The \u escape at p (p[0] == 'u'), with its pair when it is a high
** surrogate: the code point in *cp and the bytes used after the backslash
** in *used; 0 with P's status set when malformed. */
static int read_u_escape(struct parser *P, const unsigned char *p,
                         unsigned *cp, size_t *used)
{
  unsigned u, lo;
  const unsigned char *end = P->end;
  if(end - p < 5) {
    /* cut short: a non-hex digit before the end is the error, else the end */
    const unsigned char *q;
    for(q = p + 1; q < end; q++)
      if(!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
        return fail(P, JSON_ERR_ESCAPE, p - 1), 0;
    return fail(P, JSON_ERR_EOF, end), 0;
  }
  if(!hex4(p + 1, &u))
    return fail(P, JSON_ERR_ESCAPE, p - 1), 0;
  if(u >= 0xdc00 && u <= 0xdfff)
    return fail(P, JSON_ERR_SURROGATE, p - 1), 0;
  if(u >= 0xd800 && u <= 0xdbff) {
    if(end - p < 11) {
      int bad = (end - p >= 6 && p[5] != '\\') || (end - p >= 7 && p[6] != 'u');
      return fail(P, bad ? JSON_ERR_SURROGATE : JSON_ERR_EOF, p - 1), 0;
    }
    if(p[5] != '\\' || p[6] != 'u')
      return fail(P, JSON_ERR_SURROGATE, p - 1), 0;
    if(!hex4(p + 7, &lo))
      return fail(P, JSON_ERR_ESCAPE, p + 5), 0;
    if(lo < 0xdc00 || lo > 0xdfff)
      return fail(P, JSON_ERR_SURROGATE, p - 1), 0;
    *cp = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
    *used = 11;
    return 1;
  }
  *cp = u;
  *used = 5;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if(cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if(cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if(cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A string at P->p (the opening quote); hands it to the string or key
** callback. */
static int parse_string(struct parser *P, int is_key)
{
  const unsigned char *s = P->p + 1, *p = s, *end = P->end;
  int escaped = 0, rc;
  for(;;) {
    unsigned cls;
    while(p < end && !str_class[*p])
      p++;
    if(p >= end)
      return fail(P, JSON_ERR_EOF, end);
    cls = str_class[*p];
    if(cls == 1)
      break;
    if(cls == 2) {
      unsigned cp;
      size_t used;
      if(p + 1 >= end)
        return fail(P, JSON_ERR_EOF, end);
      switch(p[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        p += 2;
        break;
      case 'u':
        if(!read_u_escape(P, p + 1, &cp, &used))
          return -1;
        p += 1 + used;
        break;
      default:
        return fail(P, JSON_ERR_ESCAPE, p);
      }
      escaped = 1;
    }
    else if(cls == 3)
      return fail(P, JSON_ERR_CONTROL, p);
    else {
      size_t k = utf8_len(p, end);
      if(!k)
        return fail(P, JSON_ERR_UTF8, p);
      p += k;
    }
  }
  P->p = p + 1;
  if(!escaped) {
    rc = is_key ? P->h->key(P->ud, (const char *)s, (size_t)(p - s))
                : P->h->string(P->ud, (const char *)s, (size_t)(p - s));
    return handler_said_stop(P, rc, s - 1);
  }
  {
    /* valid by the pass above: unescape without checking again; an escape
    ** never grows (\uXXXX is 6 bytes for at most 3, a pair 12 for 4) */
    char *out = P->h->scratch(P->ud, (size_t)(p - s)), *o;
    const unsigned char *q = s;
    if(!out)
      return fail(P, JSON_ERR_HANDLER, s - 1);
    o = out;
    while(q < p) {
      if(*q != '\\') {
        *o++ = (char)*q++;
        continue;
      }
      switch(q[1]) {
      case 'b': *o++ = '\b'; q += 2; break;
      case 'f': *o++ = '\f'; q += 2; break;
      case 'n': *o++ = '\n'; q += 2; break;
      case 'r': *o++ = '\r'; q += 2; break;
      case 't': *o++ = '\t'; q += 2; break;
      case 'u': {
        unsigned cp;
        size_t used;
        read_u_escape(P, q + 1, &cp, &used);
        o += put_utf8(o, cp);
        q += 1 + used;
        break;
      }
      default: *o++ = (char)q[1]; q += 2; break;   /* " \ / */
      }
    }
    rc = is_key ? P->h->key(P->ud, out, (size_t)(o - out))
                : P->h->string(P->ud, out, (size_t)(o - out));
    return handler_said_stop(P, rc, s - 1);
  }
}

static const double pow10_exact[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* strtod on a copy of the number, with the locale's decimal point. */
static int slow_double(struct parser *P, const unsigned char *s, size_t n,
                       double *out)
{
  char small[64], *buf = small, *dot;
  char point = localeconv()->decimal_point[0];
  if(n >= sizeof(small)) {
    buf = P->h->scratch(P->ud, n + 1);
    if(!buf)
      return fail(P, JSON_ERR_HANDLER, s);
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  if(point && point != '.' && (dot = memchr(buf, '.', n)))
    *dot = point;
  *out = strtod(buf, NULL);
  return 0;
}

static int parse_number(struct parser *P)
{
  const unsigned char *s = P->p, *p = s, *end = P->end;
  uint64_t mant = 0;
  int neg = 0, is_int = 1, digits = 0, frac_digits = 0, exact = 1;
  long exp10 = 0;
  int rc;

  if(*p == '-') {
    neg = 1;
    p++;
  }
  if(p >= end)
    return fail(P, JSON_ERR_EOF, p);
  if(*p == '0') {
    p++;
    if(p < end && *p >= '0' && *p <= '9')
      return fail(P, JSON_ERR_NUMBER, p);
  }
  else if(*p >= '1' && *p <= '9') {
    while(p < end && *p >= '0' && *p <= '9') {
      if(digits < 19)
        mant = mant * 10 + (uint64_t)(*p - '0');
      else
        exact = 0;
      digits++;
      p++;
    }
  }
  else
    return fail(P, JSON_ERR_NUMBER, p);
  if(p < end && *p == '.') {
    p++;
    if(p >= end || *p < '0' || *p > '9')
      return fail(P, p >= end ? JSON_ERR_EOF : JSON_ERR_NUMBER, p);
    while(p < end && *p >= '0' && *p <= '9') {
      if(mant || *p != '0') {
        if(digits < 19) {
          mant = mant * 10 + (uint64_t)(*p - '0');
          frac_digits++;
        }
        else
          exact = 0;
        digits++;
      }
      else
        frac_digits++;            /* a leading zero of the fraction */
      p++;
    }
    is_int = 0;
  }
  if(p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0;
    p++;
    if(p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    if(p >= end || *p < '0' || *p > '9')
      return fail(P, p >= end ? JSON_ERR_EOF : JSON_ERR_NUMBER, p);
    while(p < end && *p >= '0' && *p <= '9') {
      if(exp10 < 100000)
        exp10 = exp10 * 10 + (*p - '0');
      p++;
    }
    if(eneg)
      exp10 = -exp10;
    is_int = 0;
  }
  P->p = p;

  if(is_int && exact && !(neg && mant == 0)) {
    /* at most 19 digits: fits uint64; int64 takes up to 2^63 - 1 (-2^63) */
    if(!neg && mant <= (uint64_t)INT64_MAX)
      return handler_said_stop(P, P->h->integer(P->ud, (int64_t)mant), s);
    if(neg && mant <= (uint64_t)INT64_MAX + 1)
      return handler_said_stop(P, P->h->integer(P->ud,
        mant == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mant), s);
  }
  {
    double d;
    long e = exp10 - frac_digits;
    /* Clinger's fast path: both operands exact, one rounding */
    if(exact && mant <= ((uint64_t)1 << 53) && e >= -22 && e <= 22) {
      d = (double)mant;
      d = e < 0 ? d / pow10_exact[-e] : d * pow10_exact[e];
      if(neg)
        d = -d;
    }
    else if(slow_double(P, s, (size_t)(p - s), &d))
      return -1;
    rc = P->h->number(P->ud, d);
    return handler_said_stop(P, rc, s);
  }
}

static int literal(struct parser *P, const char *word, size_t n)
{
  size_t have = (size_t)(P->end - P->p);
  if(have < n) {
    if(!memcmp(P->p, word, have))
      return fail(P, JSON_ERR_EOF, P->end);
    return fail(P, JSON_ERR_SYNTAX, P->p);
  }
  if(memcmp(P->p, word, n))
    return fail(P, JSON_ERR_SYNTAX, P->p);
  P->p += n;
  return 0;
}

static int parse_value(struct parser *P);

static int parse_array(struct parser *P)
{
  const unsigned char *at = P->p;
  size_t i = 0;
  if(++P->depth > P->max_depth)
    return fail(P, JSON_ERR_DEPTH, at);
  if(handler_said_stop(P, P->h->begin_array(P->ud), at))
    return -1;
  P->p++;
  skip_ws(P);
  if(P->p < P->end && *P->p == ']') {
    P->p++;
  }
  else {
    for(;;) {
      if(parse_value(P))
        return -1;
      if(handler_said_stop(P, P->h->array_item(P->ud, ++i), P->p))
        return -1;
      skip_ws(P);
      if(P->p < P->end && *P->p == ',') {
        P->p++;
        skip_ws(P);
        continue;
      }
      if(P->p < P->end && *P->p == ']') {
        P->p++;
        break;
      }
      return fail_at(P, JSON_ERR_SYNTAX);
    }
  }
  P->depth--;
  return handler_said_stop(P, P->h->end_array(P->ud, i), at);
}

static int parse_object(struct parser *P)
{
  const unsigned char *at = P->p;
  size_t i = 0;
  if(++P->depth > P->max_depth)
    return fail(P, JSON_ERR_DEPTH, at);
  if(handler_said_stop(P, P->h->begin_object(P->ud), at))
    return -1;
  P->p++;
  skip_ws(P);
  if(P->p < P->end && *P->p == '}') {
    P->p++;
  }
  else {
    for(;;) {
      if(P->p >= P->end || *P->p != '"')
        return fail_at(P, JSON_ERR_SYNTAX);
      if(parse_string(P, 1))
        return -1;
      skip_ws(P);
      if(P->p >= P->end || *P->p != ':')
        return fail_at(P, JSON_ERR_SYNTAX);
      P->p++;
      skip_ws(P);
      if(parse_value(P))
        return -1;
      i++;
      if(handler_said_stop(P, P->h->object_member(P->ud), P->p))
        return -1;
      skip_ws(P);
      if(P->p < P->end && *P->p == ',') {
        P->p++;
        skip_ws(P);
        continue;
      }
      if(P->p < P->end && *P->p == '}') {
        P->p++;
        break;
      }
      return fail_at(P, JSON_ERR_SYNTAX);
    }
  }
  P->depth--;
  return handler_said_stop(P, P->h->end_object(P->ud, i), at);
}

/* A value at P->p (whitespace before it already skipped). */
static int parse_value(struct parser *P)
{
  const unsigned char *at = P->p;
  if(P->p >= P->end)
    return fail(P, JSON_ERR_EOF, P->p);
  switch(*P->p) {
  case '"':
    return parse_string(P, 0);
  case '{':
    return parse_object(P);
  case '[':
    return parse_array(P);
  case 't':
    if(literal(P, "true", 4))
      return -1;
    return handler_said_stop(P, P->h->boolean(P->ud, 1), at);
  case 'f':
    if(literal(P, "false", 5))
      return -1;
    return handler_said_stop(P, P->h->boolean(P->ud, 0), at);
  case 'n':
    if(literal(P, "null", 4))
      return -1;
    return handler_said_stop(P, P->h->null_value(P->ud), at);
  default:
    if(*P->p == '-' || (*P->p >= '0' && *P->p <= '9'))
      return parse_number(P);
    return fail(P, JSON_ERR_SYNTAX, P->p);
  }
}

int json_parse(const char *text, size_t n, const struct json_handler *h,
               void *ud, unsigned max_depth, struct json_result *r)
{
  struct parser P;
  P.start = P.p = (const unsigned char *)text;
  P.end = P.p + n;
  P.h = h;
  P.ud = ud;
  P.depth = 0;
  P.max_depth = max_depth ? max_depth : JSON_DEFAULT_MAX_DEPTH;
  P.status = JSON_OK;
  P.err_at = NULL;
  skip_ws(&P);
  if(P.p >= P.end)
    fail(&P, JSON_ERR_EMPTY, P.p);
  else if(!parse_value(&P)) {
    skip_ws(&P);
    if(P.p < P.end)
      fail(&P, JSON_ERR_TRAILING, P.p);
  }
  r->status = (enum json_status)P.status;
  r->offset = P.status ? (size_t)(P.err_at - P.start) : n;
  return P.status;
}

const char *json_strerror(int status)
{
  switch(status) {
  case JSON_OK: return "no error";
  case JSON_ERR_EMPTY: return "no JSON value (empty text)";
  case JSON_ERR_SYNTAX: return "unexpected character";
  case JSON_ERR_EOF: return "unexpected end of the text";
  case JSON_ERR_TRAILING: return "text after the JSON value";
  case JSON_ERR_DEPTH: return "arrays and objects nested too deeply";
  case JSON_ERR_NUMBER: return "malformed number";
  case JSON_ERR_ESCAPE: return "invalid escape in a string";
  case JSON_ERR_SURROGATE: return "unpaired UTF-16 surrogate in a \\u escape";
  case JSON_ERR_CONTROL: return "control character in a string";
  case JSON_ERR_UTF8: return "invalid UTF-8 in a string";
  case JSON_ERR_HANDLER: return "stopped by the handler";
  default: return "unknown JSON error";
  }
}
