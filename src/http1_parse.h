/*
** http1_parse.h: an HTTP/1.x response parser, sans-I/O.
**
** The caller owns the bytes: it hands the parser what it has read, and the
** parser reports one item at a time (a status line, a header, the end of a
** header block, a run of body bytes, the end of the response) with pointers
** into those bytes, and how many it used. A line that has not fully arrived
** is not used: the caller keeps it at the front of its buffer and calls
** again with more. Nothing is allocated or copied here.
**
** Framing as RFC 9112 has it: 1xx responses are reported and skipped,
** HEAD, 204 and 304 have no body, a Transfer-Encoding ending in chunked is
** chunked (extensions and trailers read and dropped), else Content-Length,
** else the body runs until the connection closes.
*/
#ifndef BEDROCK_HTTP1_PARSE_H
#define BEDROCK_HTTP1_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define H1_MAX_LINE (100u * 1024u)    /* a status, header, chunk-size or trailer line */
#define H1_MAX_HEADERS 500u           /* header lines of one block (trailers included) */

enum h1_item_kind {
  H1_NEED_MORE = 0,     /* everything usable was used: call again with more */
  H1_STATUS,            /* it.status, it.version (minor: 0 or 1) */
  H1_HEADER,            /* it.name/name_len, it.value/value_len (trimmed) */
  H1_HEADERS_END,       /* blank line; it.status: a 1xx block is not final */
  H1_BODY,              /* it.data/len: body bytes of the final response */
  H1_DONE,              /* the response is complete */
  H1_ERROR              /* it.error; every later call returns it again */
};

enum h1_error {
  H1_OK = 0,
  H1_ERR_STATUS_LINE,       /* not an HTTP/1.x status line */
  H1_ERR_HEADER_LINE,       /* no colon, an empty name, white space in the name, a folded line */
  H1_ERR_LINE_TOO_LONG,     /* a line past H1_MAX_LINE */
  H1_ERR_TOO_MANY_HEADERS,  /* a block past H1_MAX_HEADERS lines */
  H1_ERR_CONTENT_LENGTH,    /* not a number, too large, or two that differ */
  H1_ERR_CHUNK_SIZE,        /* a bad chunk-size line */
  H1_ERR_CHUNK_END,         /* chunk data not followed by CRLF */
  H1_ERR_EOF                /* the connection closed before the response ended */
};

struct h1_item {
  long status;
  int version;
  const char *name, *value;
  size_t name_len, value_len;
  const char *data;
  size_t len;
  enum h1_error error;
};

/* Fields are private. */
struct h1_parser {
  unsigned char state;
  unsigned char head;             /* the request was HEAD: no body */
  unsigned char version;          /* minor version of the current block */
  unsigned char close;            /* Connection: close */
  unsigned char keep_alive;       /* Connection: keep-alive (HTTP/1.0) */
  unsigned char chunked;          /* Transfer-Encoding ends in chunked */
  unsigned char te;               /* a Transfer-Encoding was given */
  unsigned char has_length;
  long status;
  unsigned nheaders;
  uint64_t length;                /* Content-Length */
  uint64_t left;                  /* body or chunk bytes still to come */
  enum h1_error error;
};

/* Ready for one response; head_request: the request was HEAD. */
void h1_parser_init(struct h1_parser *p, int head_request);

/* Parse from buf (len bytes): *used is set to the bytes consumed (the
** item's pointers are into them), the return value says what was found. */
enum h1_item_kind h1_parse(struct h1_parser *p, const char *buf, size_t len,
                           size_t *used, struct h1_item *it);

/* The connection reached its end: H1_DONE when the body runs until close,
** else H1_ERROR (H1_ERR_EOF). */
enum h1_item_kind h1_parse_eof(struct h1_parser *p, struct h1_item *it);

/* After H1_DONE: the connection may carry another request (HTTP/1.1
** without Connection: close, or HTTP/1.0 with keep-alive, and a body not
** delimited by the close). */
int h1_reusable(const struct h1_parser *p);

/* After H1_HEADERS_END of the final block: the body runs until close (no
** length, not chunked). */
int h1_until_close(const struct h1_parser *p);

const char *h1_strerror(enum h1_error e);

#endif
