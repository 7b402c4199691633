/*
** fuzz_http1_parse.c: libFuzzer target for src/http1_parse.c, the parser
** of what a server (any server an endpoint_url names) sends back.
**
** Input: one flags byte (bit 0: the request was HEAD; bits 1-7: the size of
** the pieces the response arrives in, 1 to 128), then the response bytes.
** The response is parsed twice: whole, and in pieces kept the way http1.c
** keeps them (an unused tail stays at the front of the buffer). Both must
** report the same items, the same body bytes and the same end, every
** pointer must lie inside the bytes given (ASan: each call gets an
** exact-size heap copy), and every call must use what it reports.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
  unsigned char *log;         /* every item but body runs, serialised */
  size_t log_len, log_cap;
  unsigned char *body;
  size_t body_len, body_cap;
  int end;                    /* H1_DONE, H1_ERROR or H1_NEED_MORE (input ran out) */
  int error;
};

static void put(unsigned char **p, size_t *len, size_t *cap, const void *d, size_t n)
{
  if(*len + n > *cap) {
    size_t ncap = *cap ? *cap : 256;
    while(ncap < *len + n)
      ncap *= 2;
    *p = realloc(*p, ncap);
    if(!*p)
      abort();
    *cap = ncap;
  }
  if(n)
    memcpy(*p + *len, d, n);
  *len += n;
}

static void inside(const char *ptr, size_t n, const char *buf, size_t len)
{
  if(n && (ptr < buf || ptr + n > buf + len))
    abort();
}

/* Parse what buf holds; returns the bytes used, and 1 in *ended once the
** response ended (done or error). */
static size_t feed(struct h1_parser *p, const char *buf, size_t len, struct run *r, int *ended)
{
  size_t off = 0;
  *ended = 0;
  for(;;) {
    struct h1_item it;
    size_t used = 0;
    enum h1_item_kind k;
    memset(&it, 0, sizeof(it));
    k = h1_parse(p, buf + off, len - off, &used, &it);
    if(used > len - off)
      abort();
    off += used;
    switch(k) {
    case H1_NEED_MORE:
      return off;
    case H1_STATUS:
      put(&r->log, &r->log_len, &r->log_cap, "S", 1);
      put(&r->log, &r->log_len, &r->log_cap, &it.status, sizeof(it.status));
      put(&r->log, &r->log_len, &r->log_cap, &it.version, sizeof(it.version));
      break;
    case H1_HEADER:
      inside(it.name, it.name_len, buf, len);
      inside(it.value, it.value_len, buf, len);
      put(&r->log, &r->log_len, &r->log_cap, "H", 1);
      put(&r->log, &r->log_len, &r->log_cap, &it.name_len, sizeof(it.name_len));
      put(&r->log, &r->log_len, &r->log_cap, it.name, it.name_len);
      put(&r->log, &r->log_len, &r->log_cap, &it.value_len, sizeof(it.value_len));
      put(&r->log, &r->log_len, &r->log_cap, it.value, it.value_len);
      break;
    case H1_HEADERS_END:
      put(&r->log, &r->log_len, &r->log_cap, "E", 1);
      put(&r->log, &r->log_len, &r->log_cap, &it.status, sizeof(it.status));
      break;
    case H1_BODY:
      inside(it.data, it.len, buf, len);
      if(!it.len)
        abort();                  /* a body item always carries bytes */
      put(&r->body, &r->body_len, &r->body_cap, it.data, it.len);
      break;
    case H1_DONE:
      r->end = H1_DONE;
      *ended = 1;
      return off;
    case H1_ERROR:
      r->end = H1_ERROR;
      r->error = (int)it.error;
      *ended = 1;
      return off;
    default:
      abort();
    }
  }
}

static void finish_eof(struct h1_parser *p, struct run *r)
{
  struct h1_item it;
  enum h1_item_kind k;
  memset(&it, 0, sizeof(it));
  k = h1_parse_eof(p, &it);
  if(k != H1_DONE && k != H1_ERROR)
    abort();
  r->end = (int)k;
  r->error = k == H1_ERROR ? (int)it.error : 0;
}

/* the whole response in one exact-size buffer */
static void parse_whole(const uint8_t *d, size_t n, int head, struct run *r)
{
  struct h1_parser p;
  char *buf = malloc(n ? n : 1);
  int ended;
  if(!buf)
    abort();
  memcpy(buf, d, n);
  h1_parser_init(&p, head);
  feed(&p, buf, n, r, &ended);
  if(!ended)
    finish_eof(&p, r);
  free(buf);
}

/* the response in pieces; each call sees the unused tail and one more piece */
static void parse_pieces(const uint8_t *d, size_t n, int head, size_t piece, struct run *r)
{
  struct h1_parser p;
  char *pending = NULL;
  size_t have = 0, pos = 0;
  int ended = 0;
  h1_parser_init(&p, head);
  while(pos < n && !ended) {
    size_t take = n - pos < piece ? n - pos : piece, used;
    char *buf = malloc(have + take);
    if(!buf)
      abort();
    if(have)
      memcpy(buf, pending, have);
    memcpy(buf + have, d + pos, take);
    pos += take;
    free(pending);
    used = feed(&p, buf, have + take, r, &ended);
    have = have + take - used;
    pending = malloc(have ? have : 1);
    if(!pending)
      abort();
    memcpy(pending, buf + used, have);
    free(buf);
  }
  if(!ended)
    finish_eof(&p, r);
  free(pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct run a, b;
  int head;
  size_t piece;
  if(size < 1)
    return 0;
  head = data[0] & 1;
  piece = (size_t)(data[0] >> 1) + 1;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  parse_whole(data + 1, size - 1, head, &a);
  parse_pieces(data + 1, size - 1, head, piece, &b);
  if(a.end != b.end || a.error != b.error || a.log_len != b.log_len ||
     (a.log_len && memcmp(a.log, b.log, a.log_len)) || a.body_len != b.body_len ||
     (a.body_len && memcmp(a.body, b.body, a.body_len))) {
    fprintf(stderr, "whole and in pieces of %zu differ: end %d/%d error %d/%d log %zu/%zu body %zu/%zu\n",
            piece, a.end, b.end, a.error, b.error, a.log_len, b.log_len, a.body_len, b.body_len);
    abort();
  }
  free(a.log);
  free(a.body);
  free(b.log);
  free(b.body);
  return 0;
}
