/*
** test_http1_parse.c: the HTTP/1.x response parser (src/http1_parse.c):
** what it reports for each framing, the same whatever way the bytes are
** split, 1xx skipped, keep-alive decided, and the refusals with their
** reasons.
**
** Usage: test_http1_parse
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parse.h"

#include "check.h"

/* A transcript of what the parser reported, one token per item:
** S<status>/<version> H<name>=<value> E<status> B(body, merged) D X<error>.
** The input arrives in a first piece of `first` bytes (0: as the others),
** then pieces of `piece` bytes (0: the rest at once); what the
** parser did not use stays in front of the next piece, as a caller's buffer
** keeps it. EOF is signalled after the last piece when eof is set. */
struct run {
  char out[8192];
  size_t olen;
  int reusable;
  int until_close;
  enum h1_error error;
  size_t trailing;    /* bytes left unused after D */
};

static void put(struct run *r, const char *s, size_t n)
{
  if(r->olen + n >= sizeof(r->out))
    n = sizeof(r->out) - 1 - r->olen;
  memcpy(r->out + r->olen, s, n);
  r->olen += n;
  r->out[r->olen] = '\0';
}

static void putf(struct run *r, const char *fmt, long a, long b)
{
  char tmp[64];
  int n = snprintf(tmp, sizeof(tmp), fmt, a, b);
  put(r, tmp, (size_t)n);
}

static int in_body;

static int item(struct run *r, struct h1_parser *p, enum h1_item_kind k,
                const struct h1_item *it)
{
  if(k != H1_BODY && in_body) {
    put(r, ")", 1);
    in_body = 0;
  }
  switch(k) {
  case H1_STATUS:
    putf(r, "S%ld/%ld ", it->status, it->version);
    break;
  case H1_HEADER:
    put(r, "H", 1);
    put(r, it->name, it->name_len);
    put(r, "=", 1);
    put(r, it->value, it->value_len);
    put(r, " ", 1);
    break;
  case H1_HEADERS_END:
    putf(r, "E%ld ", it->status, 0);
    r->until_close = h1_until_close(p);
    break;
  case H1_BODY:
    if(!in_body) {
      put(r, "B(", 2);
      in_body = 1;
    }
    put(r, it->data, it->len);
    break;
  case H1_DONE:
    put(r, "D", 1);
    r->reusable = h1_reusable(p);
    return 1;
  case H1_ERROR:
    putf(r, "X%ld", (long)it->error, 0);
    r->error = it->error;
    return 1;
  default:
    break;
  }
  return 0;
}

static void run_cut(struct run *r, const char *text, size_t n, size_t first,
                    size_t piece, int head, int eof)
{
  struct h1_parser p;
  char *buf = malloc(n + 1);
  size_t have = 0, fed = 0;
  int ended = 0;
  memset(r, 0, sizeof(*r));
  in_body = 0;
  h1_parser_init(&p, head);
  while(!ended) {
    size_t add = fed == 0 && first ? first : piece ? piece : n;
    if(add > n - fed)
      add = n - fed;
    memcpy(buf + have, text + fed, add);
    have += add;
    fed += add;
    for(;;) {
      struct h1_item it;
      size_t used;
      enum h1_item_kind k = h1_parse(&p, buf, have, &used, &it);
      if(k == H1_NEED_MORE) {
        memmove(buf, buf + used, have - used);
        have -= used;
        break;
      }
      if(item(r, &p, k, &it)) {
        ended = 1;
        r->trailing = have - used;
        break;
      }
      memmove(buf, buf + used, have - used);
      have -= used;
    }
    if(!ended && fed == n) {
      if(eof) {
        struct h1_item it;
        item(r, &p, h1_parse_eof(&p, &it), &it);
        r->trailing = have;
      }
      else if(in_body)
        put(r, ")", 1);
      break;
    }
  }
  free(buf);
}

static void run_input(struct run *r, const char *text, size_t n, size_t piece,
                      int head, int eof)
{
  run_cut(r, text, n, 0, piece, head, eof);
}

/* text parses to want, split every way: whole, in pieces of 1..16 bytes,
** and in two pieces cut at every offset */
static void expect_full(const char *name, const char *text, int head, int eof,
                        const char *want, int reusable)
{
  size_t n = strlen(text), piece, cut;
  struct run r;
  run_input(&r, text, n, 0, head, eof);
  check(!strcmp(r.out, want), "%s: got %s, want %s", name, r.out, want);
  check(r.reusable == reusable, "%s: reusable %d, want %d", name, r.reusable, reusable);
  for(piece = 1; piece <= 16; piece++) {
    run_input(&r, text, n, piece, head, eof);
    check(!strcmp(r.out, want), "%s in pieces of %zu: got %s, want %s", name, piece, r.out, want);
  }
  for(cut = 1; cut < n; cut++) {
    run_cut(&r, text, n, cut, 0, head, eof);
    check(!strcmp(r.out, want), "%s cut at %zu: got %s, want %s", name, cut, r.out, want);
  }
}

static void expect(const char *name, const char *text, const char *want, int reusable)
{
  expect_full(name, text, 0, 0, want, reusable);
}

static void framings(void)
{
  expect("content-length",
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
         "S200/1 HContent-Type=text/plain HContent-Length=5 E200 B(hello)D", 1);
  expect("zero length",
         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
         "S200/1 HContent-Length=0 E200 D", 1);
  expect("bare LF line ends, no reason phrase",
         "HTTP/1.1 404\nContent-Length: 2\n\nno",
         "S404/1 HContent-Length=2 E404 B(no)D", 1);
  expect("values trimmed, empty value",
         "HTTP/1.1 200 OK\r\nX-A:   spaced \t \r\nX-Empty:\r\nContent-Length: 1\r\n\r\nz",
         "S200/1 HX-A=spaced HX-Empty= HContent-Length=1 E200 B(z)D", 1);
  expect("chunked with extensions and trailers",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;name=value\r\nhello\r\n"
         "7 ; x\r\n, world\r\n"
         "0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n",
         "S200/1 HTransfer-Encoding=chunked E200 B(hello, world)D", 1);
  expect("chunked, upper-case hex, bare LF",
         "HTTP/1.1 200 OK\nTransfer-Encoding: gzip, Chunked\n\nA\n0123456789\n0\n\n",
         "S200/1 HTransfer-Encoding=gzip, Chunked E200 B(0123456789)D", 1);
  expect("100 Continue skipped",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-P: 1\r\n\r\n"
         "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
         "S100/1 E100 S102/1 HX-P=1 E102 S201/1 HContent-Length=2 E201 B(ok)D", 1);
  expect("204 has no body",
         "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
         "S204/1 HContent-Length=10 E204 D", 1);
  expect("304 has no body",
         "HTTP/1.1 304 Not Modified\r\n\r\n", "S304/1 E304 D", 1);
  expect_full("HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 1, 0,
              "S200/1 HContent-Length=99 E200 D", 1);
  expect_full("until close", "HTTP/1.1 200 OK\r\n\r\nevery byte to the end", 0, 1,
              "S200/1 E200 B(every byte to the end)D", 0);
  expect_full("until close, nothing", "HTTP/1.1 500 Oops\r\n\r\n", 0, 1, "S500/1 E500 D", 0);
  expect_full("a coding other than chunked last: until close",
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\nabcdef",
              0, 1, "S200/1 HTransfer-Encoding=chunked, gzip HContent-Length=3 E200 B(abcdef)D", 0);
  expect("stray line ends before the status line",
         "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
         "S200/1 HContent-Length=1 E200 B(!)D", 1);
  expect("a repeated, equal Content-Length",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
         "S200/1 HContent-Length=2 Hcontent-length=2 E200 B(ab)D", 1);
}

static void keep_alive(void)
{
  expect("Connection: close",
         "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
         "S200/1 HConnection=close HContent-Length=1 E200 B(x)D", 0);
  expect("Connection: Keep-Alive, Close",
         "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 1\r\n\r\nx",
         "S200/1 HConnection=Keep-Alive, Close HContent-Length=1 E200 B(x)D", 0);
  expect("HTTP/1.0 without keep-alive",
         "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
         "S200/0 HContent-Length=1 E200 B(x)D", 0);
  expect("HTTP/1.0 with keep-alive",
         "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
         "S200/0 HConnection=keep-alive HContent-Length=1 E200 B(x)D", 1);
  expect("Transfer-Encoding and Content-Length: chunked, not reused",
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
         "S200/1 HContent-Length=100 HTransfer-Encoding=chunked E200 B(x)D", 0);
  expect("Connection: close on a 100 does not carry over",
         "HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
         "S100/1 HConnection=close E100 S200/1 HContent-Length=0 E200 D", 1);
}

/* the bytes after a response stay unused (the caller sees them: a second
** response, or junk) */
static void trailing(void)
{
  struct run r;
  const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n";
  run_input(&r, t, strlen(t), 0, 0, 0);
  check(!strcmp(r.out, "S200/1 HContent-Length=2 E200 B(ab)D"), "trailing: got %s", r.out);
  check(r.trailing == strlen("HTTP/1.1 200 OK\r\n"), "trailing: %zu left", r.trailing);
  t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nJUNK";
  run_input(&r, t, strlen(t), 0, 0, 0);
  check(r.trailing == 4, "trailing after chunked: %zu left", r.trailing);
}

static void refused(const char *name, const char *text, int eof, enum h1_error e)
{
  struct run r;
  size_t piece;
  for(piece = 0; piece <= 7; piece++) {
    run_input(&r, text, strlen(text), piece, 0, eof);
    check(r.error == e, "%s (pieces of %zu): error %d (%s), want %d (%s); %s", name, piece,
          r.error, h1_strerror(r.error), e, h1_strerror(e), r.out);
  }
}

static void refusals(void)
{
  char *big;
  size_t i;
  refused("not HTTP", "<html>hello</html>\r\n", 0, H1_ERR_STATUS_LINE);
  refused("HTTP/2", "HTTP/2 200\r\n\r\n", 0, H1_ERR_STATUS_LINE);
  refused("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", 0, H1_ERR_STATUS_LINE);
  refused("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 0, H1_ERR_STATUS_LINE);
  refused("status 099", "HTTP/1.1 099 OK\r\n\r\n", 0, H1_ERR_STATUS_LINE);
  refused("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 0, H1_ERR_STATUS_LINE);
  refused("no colon", "HTTP/1.1 200 OK\r\nJust text\r\n\r\n", 0, H1_ERR_HEADER_LINE);
  refused("space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 0,
          H1_ERR_HEADER_LINE);
  refused("empty name", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", 0, H1_ERR_HEADER_LINE);
  refused("folded line", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", 0, H1_ERR_HEADER_LINE);
  refused("negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0,
          H1_ERR_CONTENT_LENGTH);
  refused("length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", 0,
          H1_ERR_CONTENT_LENGTH);
  refused("empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", 0, H1_ERR_CONTENT_LENGTH);
  refused("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0,
          H1_ERR_CONTENT_LENGTH);
  refused("a list of lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na", 0,
          H1_ERR_CONTENT_LENGTH);
  refused("length past 2^64", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", 0,
          H1_ERR_CONTENT_LENGTH);
  refused("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
          H1_ERR_CHUNK_SIZE);
  refused("empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 0,
          H1_ERR_CHUNK_SIZE);
  refused("chunk size past 2^64",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 0,
          H1_ERR_CHUNK_SIZE);
  refused("chunk size with junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", 0,
          H1_ERR_CHUNK_SIZE);
  refused("chunk without its CRLF",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 0, H1_ERR_CHUNK_END);
  refused("EOF before any byte", "", 1, H1_ERR_EOF);
  refused("EOF in the headers", "HTTP/1.1 200 OK\r\nContent-Le", 1, H1_ERR_EOF);
  refused("EOF in a length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1, H1_ERR_EOF);
  refused("EOF in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 1,
          H1_ERR_EOF);
  refused("EOF before the last chunk",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", 1, H1_ERR_EOF);
  refused("EOF in the trailers",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", 1, H1_ERR_EOF);

  /* a line over the limit, with no line end yet and with one */
  big = malloc(H1_MAX_LINE + 64);
  strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
  i = strlen(big);
  memset(big + i, 'a', H1_MAX_LINE);
  big[i + H1_MAX_LINE] = '\0';
  refused("a header line past the limit, unfinished", big, 0, H1_ERR_LINE_TOO_LONG);
  strcat(big, "\r\n\r\n");
  refused("a header line past the limit", big, 0, H1_ERR_LINE_TOO_LONG);
  free(big);
  {
    /* the limit itself passes */
    size_t n = strlen("HTTP/1.1 200 OK\r\n") + H1_MAX_LINE + 2 + strlen("Content-Length: 0\r\n\r\n");
    char *ok = malloc(n + 1);
    struct run r;
    strcpy(ok, "HTTP/1.1 200 OK\r\nX-Big:");
    i = strlen(ok);
    memset(ok + i, 'b', H1_MAX_LINE - strlen("X-Big:"));
    strcpy(ok + i + H1_MAX_LINE - strlen("X-Big:"), "\r\nContent-Length: 0\r\n\r\n");
    run_input(&r, ok, strlen(ok), 0, 0, 0);
    check(r.error == H1_OK && r.reusable, "a line of exactly the limit: %d", r.error);
    free(ok);
  }
  {
    /* header count */
    char *many = malloc(32 + (H1_MAX_HEADERS + 1) * 8);
    size_t pos;
    unsigned k;
    struct run r;
    strcpy(many, "HTTP/1.1 200 OK\r\n");
    pos = strlen(many);
    for(k = 0; k < H1_MAX_HEADERS; k++) {
      memcpy(many + pos, "X-H: 1\r\n", 8);
      pos += 8;
    }
    strcpy(many + pos, "\r\n");
    run_input(&r, many, strlen(many), 0, 0, 1);
    check(r.error == H1_OK, "%u headers pass: %d", H1_MAX_HEADERS, r.error);
    strcpy(many + pos, "X-H: 1\r\n\r\n");
    refused("one header too many", many, 0, H1_ERR_TOO_MANY_HEADERS);
    free(many);
  }
  /* an error sticks */
  {
    struct h1_parser p;
    struct h1_item it;
    size_t used;
    h1_parser_init(&p, 0);
    check(h1_parse(&p, "junk\n", 5, &used, &it) == H1_ERROR, "junk refused");
    check(h1_parse(&p, "HTTP/1.1 200 OK\r\n", 17, &used, &it) == H1_ERROR &&
          it.error == H1_ERR_STATUS_LINE, "the error sticks");
    check(h1_parse_eof(&p, &it) == H1_ERROR && it.error == H1_ERR_STATUS_LINE,
          "the error sticks at EOF");
    check(!h1_reusable(&p), "not reusable after an error");
  }
  for(i = H1_OK; i <= H1_ERR_EOF; i++)
    check(strcmp(h1_strerror((enum h1_error)i), "unknown error") != 0, "a message for %zu", i);
}

/* every byte in a header name: RFC 9110's token characters pass, the
** rest are refused */
static void name_bytes(void)
{
  int c;
  for(c = 0; c < 256; c++) {
    char text[64];
    struct run r;
    int token = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
    static const char pre[] = "HTTP/1.1 200 OK\r\nX", post[] = "Y: v\r\nContent-Length: 0\r\n\r\n";
    memcpy(text, pre, sizeof(pre) - 1);
    text[sizeof(pre) - 1] = (char)c;
    memcpy(text + sizeof(pre), post, sizeof(post) - 1);
    run_input(&r, text, sizeof(pre) + sizeof(post) - 1, 0, 0, 0);
    if(c == ':')
      continue;                 /* "X:Y: v" is the header X, value "Y: v" */
    if(token)
      check(r.error == H1_OK && r.reusable, "name byte %d refused: %s", c, r.out);
    else
      check(r.error == H1_ERR_HEADER_LINE, "name byte %d: error %d, %s", c, r.error, r.out);
  }
}

/* a body too large for size_t on 32 bits, or just large: handed out in
** pieces, counted exactly */
static void large_length(void)
{
  struct h1_parser p;
  struct h1_item it;
  size_t used;
  const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 4294967306\r\n\r\n";
  static char chunk[65536];
  unsigned long long total = 0;
  enum h1_item_kind k;
  h1_parser_init(&p, 0);
  while((k = h1_parse(&p, h, strlen(h), &used, &it)) != H1_HEADERS_END)
    h += used;
  for(;;) {
    k = h1_parse(&p, chunk, sizeof(chunk), &used, &it);
    if(k != H1_BODY)
      break;
    total += it.len;
    check(used == it.len, "body used %zu of %zu", used, it.len);
  }
  check(k == H1_DONE && total == 4294967306ull, "4 GiB + 10 body: %d, %llu", k, total);
}

int main(void)
{
  framings();
  keep_alive();
  trailing();
  refusals();
  name_bytes();
  large_length();
  printf("http1_parse: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
