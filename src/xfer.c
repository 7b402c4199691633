/*
** xfer.c: what every backend shares (see xfer.h): byte buffers, the
** response side of a transfer (status, headers, a kept body or a decoded
** event stream), ending a transfer, a duplex transfer's input queue.
** bedrock.core and bedrock.curl each carry a copy; engine.c is core's alone.
**
** Rules kept here: no Lua, no sockets, no backend code.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "xfer.h"

/* ---- byte buffers ---- */

int bytes_reserve(struct bytes *b, size_t extra, size_t limit)
{
  size_t need, ncap;
  char *np;
  if(b->off && b->off == b->len) {
    b->off = b->len = 0;
  }
  if(extra > limit || b->len - b->off > limit - extra)
    return -1;
  need = b->len + extra;
  if(need <= b->cap)
    return 0;
  if(b->off) {
    /* reclaim the consumed prefix before growing */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    need = b->len + extra;
    if(need <= b->cap)
      return 0;
  }
  ncap = b->cap ? b->cap : 1024;
  while(ncap < need)
    ncap *= 2;
  np = realloc(b->p, ncap);
  if(!np)
    return -1;
  b->p = np;
  b->cap = ncap;
  return 0;
}

int bytes_append(struct bytes *b, const void *p, size_t n, size_t limit)
{
  if(bytes_reserve(b, n, limit))
    return -1;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

void bytes_free(struct bytes *b)
{
  free(b->p);
  b->p = NULL;
  b->off = b->len = b->cap = 0;
}

double xfer_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the changed list ---- */

void xfer_mark_changed(struct xfer *x)
{
  struct xfer_engine *e = x->engine;
  if(!e || x->in_changed)
    return;
  x->in_changed = 1;
  x->changed_next = NULL;
  if(e->changed_tail)
    e->changed_tail->changed_next = x;
  else
    e->changed_head = x;
  e->changed_tail = x;
}

void xfer_finish(struct xfer *x, enum xfer_state st, enum xfer_error err,
                 const char *detail)
{
  struct xfer_engine *e = x->engine;
  if(x->state != XFER_RUNNING)
    return;
  x->state = st;
  x->error = err;
  if(detail && !x->detail[0])
    snprintf(x->detail, sizeof(x->detail), "%s", detail);
  x->ended_ms = xfer_now_ms();
  if(e) {
    int i = xfer_backend_index(x);
    e->be[i]->stop(e->be_state[i], x);
    e->running--;
    e->running_by[i]--;
  }
  xfer_mark_changed(x);
}

/* ---- the response, for backends ---- */

void xfer_response_start(struct xfer *x, long status)
{
  x->status = status;
  x->nhdrs = 0;
  x->header_text.off = x->header_text.len = 0;
  x->headers_complete = 0;
}

/* A body the transfer would keep (not a 2xx event stream, which is decoded
** frame by frame) is refused from its Content-Length when that is over
** max_body, before a byte of it is read. */
static int declared_length_ok(struct xfer *x, const char *name, size_t nlen,
                              const char *value, size_t vlen)
{
  unsigned long long n = 0;
  size_t i;
  if(nlen != 14 || strncasecmp(name, "content-length", 14) || x->status < 200 ||
     (x->stream && x->status <= 299))
    return 1;
  for(i = 0; i < vlen; i++) {
    if(value[i] < '0' || value[i] > '9')
      return 1;                   /* not a length: the backend's framing refuses it */
    if(n > (~0ull - 9) / 10)
      break;                      /* beyond any limit */
    n = n * 10 + (unsigned long long)(value[i] - '0');
  }
  if(i == vlen && n <= x->max_body)
    return 1;
  x->error = XFER_ERR_TOO_LARGE;
  snprintf(x->detail, sizeof(x->detail),
           "the response declares %.*s bytes (Content-Length), over max_response_bytes (%zu)",
           (int)(vlen > 20 ? 20 : vlen), value, x->max_body);
  return 0;
}

int xfer_response_header(struct xfer *x, const char *name, size_t nlen,
                         const char *value, size_t vlen)
{
  struct header_ref *h;
  while(vlen && (*value == ' ' || *value == '\t')) {
    value++;
    vlen--;
  }
  while(vlen && isspace((unsigned char)value[vlen - 1]))
    vlen--;
  if(!declared_length_ok(x, name, nlen, value, vlen))
    return -1;
  if(x->nhdrs == x->hdrs_cap) {
    size_t ncap = x->hdrs_cap ? x->hdrs_cap * 2 : 16;
    struct header_ref *nh = realloc(x->hdrs, ncap * sizeof(*nh));
    if(!nh)
      goto nomem;
    x->hdrs = nh;
    x->hdrs_cap = ncap;
  }
  h = &x->hdrs[x->nhdrs];
  h->name_off = x->header_text.len;
  h->name_len = nlen;
  if(bytes_append(&x->header_text, name, nlen, 1u << 20))
    goto nomem;
  h->value_off = x->header_text.len;
  h->value_len = vlen;
  if(bytes_append(&x->header_text, value, vlen, 1u << 20))
    goto nomem;
  x->nhdrs++;
  return 0;
nomem:
  x->error = XFER_ERR_OTHER;
  snprintf(x->detail, sizeof(x->detail), "out of memory for the response headers (or over 1 MiB of them)");
  return -1;
}

void xfer_response_headers_end(struct xfer *x)
{
  /* a 1xx block is not final */
  if(x->status >= 200) {
    x->headers_complete = 1;
    xfer_mark_changed(x);
  }
}

enum xfer_take xfer_response_body(struct xfer *x, const char *p, size_t n)
{
  size_t off = 0;
  int got = 0;

  x->last_activity_ms = xfer_now_ms();
  if(!x->stream || x->status < 200 || x->status > 299) {
    if(bytes_append(&x->body, p, n, x->max_body)) {
      x->error = XFER_ERR_TOO_LARGE;
      if(x->body.len - x->body.off + n > x->max_body)
        snprintf(x->detail, sizeof(x->detail),
                 "the response body passed max_response_bytes (%zu) while being read",
                 x->max_body);
      else
        snprintf(x->detail, sizeof(x->detail), "out of memory for the response body");
      return XFER_TAKE_ERROR;
    }
    return XFER_TAKE_ALL;
  }
  if(x->duplex) {
    /* a duplex transfer never pauses reception (see XFER_DUPLEX_BUFFER):
    ** its unread output is capped instead */
    if(x->ready.len - x->ready.off >= XFER_DUPLEX_MAX_BACKLOG) {
      x->error = XFER_ERR_TOO_LARGE;
      snprintf(x->detail, sizeof(x->detail),
               "more than %u MiB of output unread", XFER_DUPLEX_MAX_BACKLOG >> 20);
      return XFER_TAKE_ERROR;
    }
  }
  else if(x->ready.len - x->ready.off >= x->high_water) {
    /* the reader is behind: the backend keeps these bytes and offers them
    ** again once the reader caught up */
    x->paused = 1;
    return XFER_TAKE_PAUSE;
  }
  while(off < n) {
    struct evs_message m;
    size_t used = 0;
    int rc = evs_decode(&x->dec, p + off, n - off, &used, &m);
    off += used;
    if(rc == EVS_OK) {
      if(bytes_append(&x->ready, m.frame, m.frame_len, (size_t)-1)) {
        x->error = XFER_ERR_OTHER;
        snprintf(x->detail, sizeof(x->detail), "out of memory");
        return XFER_TAKE_ERROR;
      }
      got = 1;
    }
    else if(rc == EVS_NEED_MORE) {
      break;
    }
    else {
      x->error = XFER_ERR_STREAM;
      x->evs_status = rc;
      snprintf(x->detail, sizeof(x->detail), "%s", evs_strerror(rc));
      return XFER_TAKE_ERROR;
    }
  }
  if(got)
    xfer_mark_changed(x);
  return XFER_TAKE_ALL;
}

void xfer_response_end(struct xfer *x)
{
  if(x->stream && x->status >= 200 && x->status <= 299 &&
     evs_decoder_pending(&x->dec)) {
    char msg[96];
    snprintf(msg, sizeof(msg),
             "the response ended inside an event-stream frame (%zu bytes of it arrived)",
             evs_decoder_pending(&x->dec));
    xfer_fail(x, XFER_ERR_TRUNCATED, msg);
  }
  else {
    xfer_finish(x, XFER_DONE, XFER_OK, NULL);
  }
}

size_t xfer_input_take(struct xfer *x, char *buf, size_t n, int *ended)
{
  size_t have = x->out.len - x->out.off;
  *ended = 0;
  if(!have) {
    *ended = x->out_ended;
    return 0;
  }
  if(n > have)
    n = have;
  memcpy(buf, x->out.p + x->out.off, n);
  x->out.off += n;
  have -= n;
  if(x->out_full && have < x->out_high_water / 2) {
    x->out_full = 0;
    xfer_mark_changed(x);
  }
  return n;
}

