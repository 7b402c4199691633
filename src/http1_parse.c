/*
** http1_parse.c: an HTTP/1.x response parser (see http1_parse.h).
**
** Lenient where servers differ harmlessly (a bare LF ends a line, a status
** line without a reason phrase), strict where a misread would split one
** response into two: the framing headers, chunk sizes, header names.
*/
#include <string.h>

#include "http1_parse.h"

enum {
  S_STATUS = 0,     /* the status line of a block */
  S_HEADER,         /* header lines, up to the blank line */
  S_LENGTH,         /* left bytes of a Content-Length body */
  S_CHUNK_SIZE,
  S_CHUNK_DATA,     /* left bytes of a chunk */
  S_CHUNK_CRLF,     /* the line end after a chunk's data */
  S_TRAILER,        /* trailer lines after the last chunk */
  S_CLOSE,          /* until the connection closes */
  S_DONE,
  S_ERROR
};

void h1_parser_init(struct h1_parser *p, int head_request)
{
  memset(p, 0, sizeof(*p));
  p->head = head_request != 0;
}

static enum h1_item_kind fail(struct h1_parser *p, struct h1_item *it,
                              enum h1_error e)
{
  p->state = S_ERROR;
  p->error = e;
  it->error = e;
  return H1_ERROR;
}

/* The next line of buf: its length without the line end (CR LF or LF), and
** *adv past the line end. 0 when no LF has arrived yet; -1 past the limit. */
static int next_line(const char *buf, size_t len, size_t *line_len, size_t *adv)
{
  const char *lf = memchr(buf, '\n', len > H1_MAX_LINE + 2 ? H1_MAX_LINE + 2 : len);
  size_t n;
  if(!lf)
    return len > H1_MAX_LINE ? -1 : 0;
  n = (size_t)(lf - buf);
  *adv = n + 1;
  if(n && buf[n - 1] == '\r')
    n--;
  if(n > H1_MAX_LINE)
    return -1;
  *line_len = n;
  return 1;
}

static int is_ows(char c)
{
  return c == ' ' || c == '\t';
}

/* token characters of RFC 9110 (header names): a table, as every byte of
** every name passes here */
static const unsigned char tchar[256] = {
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  /*  !"#$%&'()*+,-./ */
  0,1,0,1,1,1,1,1,0,0,1,1,0,1,1,0,
  /* 0-9:;<=>? */
  1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,
  /* @A-O */
  0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  /* P-Z[\]^_ */
  1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,1,
  /* `a-o */
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  /* p-z{|}~ DEL */
  1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,0
};

static int lower_eq(const char *s, size_t n, const char *lit)
{
  size_t i;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if(c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    if(!lit[i] || c != (unsigned char)lit[i])
      return 0;
  }
  return lit[n] == '\0';
}

/* Comma-separated tokens of a value: each is passed to fn trimmed. */
static void tokens(struct h1_parser *p, const char *v, size_t n,
                   void (*fn)(struct h1_parser *, const char *, size_t))
{
  size_t i = 0;
  while(i <= n) {
    size_t s = i, e;
    while(i < n && v[i] != ',')
      i++;
    e = i;
    while(s < e && is_ows(v[s]))
      s++;
    while(e > s && is_ows(v[e - 1]))
      e--;
    if(e > s)
      fn(p, v + s, e - s);
    i++;
  }
}

static void connection_token(struct h1_parser *p, const char *t, size_t n)
{
  if(lower_eq(t, n, "close"))
    p->close = 1;
  else if(lower_eq(t, n, "keep-alive"))
    p->keep_alive = 1;
}

/* chunked must be the last coding; the last token decides */
static void coding_token(struct h1_parser *p, const char *t, size_t n)
{
  p->chunked = lower_eq(t, n, "chunked");
}

/* A framing header of the current block. 0, or an error. */
static enum h1_error framing(struct h1_parser *p, const char *name, size_t nlen,
                             const char *v, size_t vlen)
{
  if(nlen == 14 && lower_eq(name, nlen, "content-length")) {
    uint64_t n = 0;
    size_t i;
    if(!vlen)
      return H1_ERR_CONTENT_LENGTH;
    for(i = 0; i < vlen; i++) {
      unsigned d = (unsigned char)v[i] - '0';
      if(d > 9 || n > (UINT64_MAX - 9) / 10)
        return H1_ERR_CONTENT_LENGTH;
      n = n * 10 + d;
    }
    if(p->has_length && p->length != n)
      return H1_ERR_CONTENT_LENGTH;
    p->has_length = 1;
    p->length = n;
  }
  else if(nlen == 17 && lower_eq(name, nlen, "transfer-encoding")) {
    p->te = 1;
    p->chunked = 0;
    tokens(p, v, vlen, coding_token);
  }
  else if(nlen == 10 && lower_eq(name, nlen, "connection")) {
    tokens(p, v, vlen, connection_token);
  }
  return H1_OK;
}

/* "HTTP/1.x NNN[ reason]" */
static enum h1_item_kind status_line(struct h1_parser *p, const char *s, size_t n,
                                     struct h1_item *it)
{
  long code;
  if(n < 12 || memcmp(s, "HTTP/1.", 7) || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
    return fail(p, it, H1_ERR_STATUS_LINE);
  if(s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
    return fail(p, it, H1_ERR_STATUS_LINE);
  if(n > 12 && s[12] != ' ')
    return fail(p, it, H1_ERR_STATUS_LINE);
  code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  p->status = code;
  p->version = (unsigned char)(s[7] - '0');
  p->close = p->keep_alive = p->chunked = p->te = p->has_length = 0;
  p->length = 0;
  p->nheaders = 0;
  p->state = S_HEADER;
  it->status = code;
  it->version = p->version;
  return H1_STATUS;
}

/* "name: value" (the value trimmed) */
static enum h1_item_kind header_line(struct h1_parser *p, const char *s, size_t n,
                                     struct h1_item *it)
{
  size_t i = 0, vs, ve;
  enum h1_error e;
  if(++p->nheaders > H1_MAX_HEADERS)
    return fail(p, it, H1_ERR_TOO_MANY_HEADERS);
  while(i < n && tchar[(unsigned char)s[i]])
    i++;
  if(i == 0 || i == n || s[i] != ':')
    return fail(p, it, H1_ERR_HEADER_LINE);
  vs = i + 1;
  ve = n;
  while(vs < ve && is_ows(s[vs]))
    vs++;
  while(ve > vs && is_ows(s[ve - 1]))
    ve--;
  if(p->state == S_TRAILER) {
    /* trailers may not change the framing; they are read and dropped */
    return H1_NEED_MORE;
  }
  e = framing(p, s, i, s + vs, ve - vs);
  if(e != H1_OK)
    return fail(p, it, e);
  it->name = s;
  it->name_len = i;
  it->value = s + vs;
  it->value_len = ve - vs;
  return H1_HEADER;
}

static void body_start(struct h1_parser *p)
{
  if(p->head || p->status == 204 || p->status == 304)
    p->state = S_DONE;
  else if(p->te) {
    /* Transfer-Encoding wins over Content-Length; a coding other than
    ** chunked last leaves only the close to end the body */
    p->state = p->chunked ? S_CHUNK_SIZE : S_CLOSE;
    if(p->has_length)
      p->close = 1;             /* a message that framed both ways is not trusted twice */
  }
  else if(p->has_length) {
    p->left = p->length;
    p->state = p->length ? S_LENGTH : S_DONE;
  }
  else
    p->state = S_CLOSE;
}

/* The blank line after a block's headers. */
static enum h1_item_kind headers_end(struct h1_parser *p, struct h1_item *it)
{
  it->status = p->status;
  if(p->status < 200) {
    p->state = S_STATUS;        /* informational: the real answer follows */
    return H1_HEADERS_END;
  }
  body_start(p);
  return H1_HEADERS_END;
}

/* "hex[ext]" where ext is anything after optional white space and ';' */
static int chunk_size(const char *s, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  size_t i = 0;
  for(; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    unsigned d;
    if(c >= '0' && c <= '9')
      d = c - '0';
    else if(c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if(c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      break;
    if(v >> 60)
      return -1;
    v = (v << 4) | d;
  }
  if(i == 0)
    return -1;
  while(i < n && is_ows(s[i]))
    i++;
  if(i < n && s[i] != ';')
    return -1;
  *out = v;
  return 0;
}

enum h1_item_kind h1_parse(struct h1_parser *p, const char *buf, size_t len,
                           size_t *used, struct h1_item *it)
{
  size_t off = 0;
  *used = 0;
  for(;;) {
    const char *s = buf + off;
    size_t n = len - off, line, adv = 0;
    int r;
    enum h1_item_kind k;
    switch(p->state) {
    case S_STATUS:
    case S_HEADER:
    case S_CHUNK_SIZE:
    case S_TRAILER:
      r = next_line(s, n, &line, &adv);
      if(r < 0)
        return fail(p, it, H1_ERR_LINE_TOO_LONG);
      if(r == 0) {
        *used = off;
        return H1_NEED_MORE;
      }
      off += adv;
      *used = off;
      if(p->state == S_STATUS) {
        if(line == 0)
          continue;               /* a stray line end before a status line */
        return status_line(p, s, line, it);
      }
      if(p->state == S_CHUNK_SIZE) {
        uint64_t size;
        if(chunk_size(s, line, &size))
          return fail(p, it, H1_ERR_CHUNK_SIZE);
        p->left = size;
        if(size)
          p->state = S_CHUNK_DATA;
        else {
          p->state = S_TRAILER;
          p->nheaders = 0;
        }
        continue;
      }
      if(line == 0) {
        if(p->state == S_TRAILER) {
          p->state = S_DONE;
          continue;
        }
        return headers_end(p, it);
      }
      if(is_ows(s[0]))
        return fail(p, it, H1_ERR_HEADER_LINE);    /* obsolete line folding */
      k = header_line(p, s, line, it);
      if(k == H1_NEED_MORE)
        continue;                                   /* a trailer, dropped */
      return k;
    case S_LENGTH:
    case S_CHUNK_DATA:
      if(!n) {
        *used = off;
        return H1_NEED_MORE;
      }
      if((uint64_t)n > p->left)
        n = (size_t)p->left;
      p->left -= n;
      if(!p->left)
        p->state = p->state == S_LENGTH ? S_DONE : S_CHUNK_CRLF;
      it->data = s;
      it->len = n;
      *used = off + n;
      return H1_BODY;
    case S_CHUNK_CRLF:
      if(!n || (n == 1 && s[0] == '\r')) {
        *used = off;
        return H1_NEED_MORE;
      }
      if(s[0] == '\n')
        off += 1;
      else if(s[0] == '\r' && s[1] == '\n')
        off += 2;
      else
        return fail(p, it, H1_ERR_CHUNK_END);
      p->state = S_CHUNK_SIZE;
      continue;
    case S_CLOSE:
      *used = len;
      if(!n)
        return H1_NEED_MORE;
      it->data = s;
      it->len = n;
      return H1_BODY;
    case S_DONE:
      *used = off;
      return H1_DONE;
    default:
      it->error = p->error;
      return H1_ERROR;
    }
  }
}

enum h1_item_kind h1_parse_eof(struct h1_parser *p, struct h1_item *it)
{
  if(p->state == S_CLOSE) {
    p->state = S_DONE;
    return H1_DONE;
  }
  if(p->state == S_DONE)
    return H1_DONE;
  if(p->state == S_ERROR) {
    it->error = p->error;
    return H1_ERROR;
  }
  return fail(p, it, H1_ERR_EOF);
}

int h1_reusable(const struct h1_parser *p)
{
  if(p->state != S_DONE || p->close)
    return 0;
  if(p->te && !p->chunked)
    return 0;                   /* delimited by the close */
  if(!p->te && !p->has_length && !(p->head || p->status == 204 || p->status == 304))
    return 0;
  return p->version >= 1 || p->keep_alive;
}

int h1_until_close(const struct h1_parser *p)
{
  return p->state == S_CLOSE;
}

const char *h1_strerror(enum h1_error e)
{
  switch(e) {
  case H1_OK: return "no error";
  case H1_ERR_STATUS_LINE: return "the reply is not HTTP/1.x (a bad status line)";
  case H1_ERR_HEADER_LINE: return "a malformed header line in the reply";
  case H1_ERR_LINE_TOO_LONG: return "a line of the reply is over 100 KiB";
  case H1_ERR_TOO_MANY_HEADERS: return "the reply has over 500 header lines";
  case H1_ERR_CONTENT_LENGTH: return "the reply has a bad Content-Length";
  case H1_ERR_CHUNK_SIZE: return "the reply has a bad chunk size (chunked encoding)";
  case H1_ERR_CHUNK_END: return "a chunk of the reply does not end with CRLF (chunked encoding)";
  case H1_ERR_EOF: return "the connection closed before the response ended";
  }
  return "unknown error";
}
