/*
** engine.c: the engine of transport.h over the backends of xfer.h: the
** transfers' lists, routing a request to a backend, the idle and total
** deadlines, the pump that waits on the backends, and the getters.
**
** Rules kept here: no Lua, no sockets; a transfer is linked into its engine
** so that either may be freed first; a backend is called only through its
** struct xfer_backend.
*/
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xfer.h"

static void unlink_changed(struct xfer *x)
{
  struct xfer_engine *e = x->engine;
  struct xfer *p, *prev = NULL;
  if(!e || !x->in_changed)
    return;
  for(p = e->changed_head; p; prev = p, p = p->changed_next) {
    if(p == x) {
      if(prev)
        prev->changed_next = p->changed_next;
      else
        e->changed_head = p->changed_next;
      if(e->changed_tail == x)
        e->changed_tail = prev;
      break;
    }
  }
  x->in_changed = 0;
  x->changed_next = NULL;
}

/* ---- the engine ---- */

struct xfer_engine *xfer_engine_new(void)
{
  struct xfer_engine *e = calloc(1, sizeof(*e));
  if(!e)
    return NULL;
  e->be[XFER_BE_HTTP1] = &xfer_http1_backend;
  e->be_state[XFER_BE_HTTP1] = xfer_http1_backend.engine_new();
  if(!e->be_state[XFER_BE_HTTP1]) {
    free(e);
    return NULL;
  }
  e->next_id = 1;
  return e;
}

void xfer_engine_free(struct xfer_engine *e)
{
  struct xfer *x, *next;
  int i;
  if(!e)
    return;
  for(x = e->xfers; x; x = next) {
    next = x->next;
    if(x->state == XFER_RUNNING)
      xfer_fail(x, XFER_ERR_ABORTED, "the client was closed");
    x->in_changed = 0;
    x->engine = NULL;
    x->prev = x->next = NULL;
  }
  for(i = 0; i < XFER_NBACKENDS; i++)
    if(e->be[i])
      e->be[i]->engine_free(e->be_state[i]);
  free(e);
}

int xfer_engine_attach_libcurl(struct xfer_engine *e, const void *backend,
                               char *err, size_t errlen)
{
  const struct xfer_backend *b = backend;
  void *st;
  if(e->be[XFER_BE_CURL])
    return 0;
  if(!b || b->abi != XFER_BACKEND_ABI || b->xfer_size != sizeof(struct xfer) ||
     b->options_size != sizeof(struct xfer_options) ||
     b->engine_size != sizeof(struct xfer_engine)) {
    snprintf(err, errlen, "bedrock.curl was built from other sources than bedrock.core "
             "(install both from one release)");
    return -1;
  }
  st = b->engine_new();
  if(!st) {
    snprintf(err, errlen, "libcurl could not start (out of memory, or curl_global_init failed)");
    return -1;
  }
  if((e->max_connections || e->idle_timeout_s) &&
     b->set_limits(st, e->max_connections, e->idle_timeout_s)) {
    b->engine_free(st);
    snprintf(err, errlen, "libcurl refused the pool limits");
    return -1;
  }
  e->be[XFER_BE_CURL] = b;
  e->be_state[XFER_BE_CURL] = st;
  return 0;
}

int xfer_engine_has_libcurl(const struct xfer_engine *e)
{
  return e->be[XFER_BE_CURL] != NULL;
}

int xfer_engine_set_limits(struct xfer_engine *e, long max_connections,
                           long idle_timeout_s)
{
  int i, rc = 0;
  if(max_connections < 0 || idle_timeout_s < 0)
    return -1;
  if(max_connections)
    e->max_connections = max_connections;
  if(idle_timeout_s)
    e->idle_timeout_s = idle_timeout_s;
  for(i = 0; i < XFER_NBACKENDS; i++)
    if(e->be[i] && e->be[i]->set_limits(e->be_state[i], max_connections, idle_timeout_s))
      rc = -1;
  return rc;
}

static int release_now(struct xfer_engine *e)
{
  int i, rc = 0;
  e->release_pending = 0;
  for(i = 0; i < XFER_NBACKENDS; i++)
    if(e->be[i] && e->be[i]->release(e->be_state[i]))
      rc = -1;
  if(rc)
    e->release_pending = 1;       /* still due: try again at the next chance */
  return rc;
}

/* A release waits for the last running transfer: called where no backend
** call is under way (the end of a pump, xfer_free). */
static void release_if_due(struct xfer_engine *e)
{
  if(e->release_pending && e->running == 0)
    release_now(e);
}

int xfer_engine_release(struct xfer_engine *e)
{
  if(e->running > 0) {
    e->release_pending = 1;
    return 0;
  }
  return release_now(e);
}

int xfer_engine_running(const struct xfer_engine *e)
{
  return e ? e->running : 0;
}

struct xfer *xfer_engine_pop_changed(struct xfer_engine *e)
{
  struct xfer *x = e->changed_head;
  if(!x)
    return NULL;
  e->changed_head = x->changed_next;
  if(!e->changed_head)
    e->changed_tail = NULL;
  x->changed_next = NULL;
  x->in_changed = 0;
  return x;
}

/* Silence counts against the idle timeout once connected, unless the
** reader is behind (we stopped reading ourselves), or the server may be
** waiting for more input (a duplex transfer whose input has not ended). */
static int idle_counts(const struct xfer *x)
{
  return x->idle_timeout_ms > 0 && x->connected && !x->paused &&
         (!x->duplex || x->out_ended);
}

static long bound(long timeout_ms, long t)
{
  return t >= 0 && t < timeout_ms ? t : timeout_ms;
}

int xfer_engine_pump(struct xfer_engine *e, long timeout_ms, char *err,
                     size_t errlen)
{
  const struct xfer_backend *h1 = e->be[XFER_BE_HTTP1], *cu = e->be[XFER_BE_CURL];
  void *h1s = e->be_state[XFER_BE_HTTP1], *cus = e->be_state[XFER_BE_CURL];
  int h1_busy = e->running_by[XFER_BE_HTTP1] > 0;
  int cu_busy = cu && e->running_by[XFER_BE_CURL] > 0;
  double now, next_deadline = -1;
  struct xfer *x, *next;

  /* idle and total deadlines bound the wait, so a silent server is
  ** noticed in time */
  now = xfer_now_ms();
  for(x = e->xfers; x; x = x->next) {
    if(x->state != XFER_RUNNING)
      continue;
    if(idle_counts(x)) {
      double d = x->last_activity_ms + (double)x->idle_timeout_ms;
      if(next_deadline < 0 || d < next_deadline)
        next_deadline = d;
    }
    if(x->deadline_ms > 0 &&
       (next_deadline < 0 || x->deadline_ms < next_deadline))
      next_deadline = x->deadline_ms;
  }
  if(next_deadline >= 0) {
    long until = (long)(next_deadline - now) + 1;
    timeout_ms = bound(timeout_ms, until < 0 ? 0 : until);
  }
  if(h1_busy)
    timeout_ms = bound(timeout_ms, h1->timeout_ms(h1s));
  if(cu_busy)
    timeout_ms = bound(timeout_ms, cu->timeout_ms(cus));
  if(timeout_ms < 0)
    timeout_ms = 0;

  if(cu_busy) {
    /* libcurl waits, watching http1's descriptors beside its own */
    struct pollfd *extra = NULL;
    int nextra = 0;
    if(h1_busy)
      extra = h1->pollfds(h1s, &nextra);
    if(cu->wait(cus, extra, nextra, timeout_ms, err, errlen))
      return -1;
    if(h1_busy && h1->perform(h1s, err, errlen))
      return -1;
    if(cu->perform(cus, err, errlen))
      return -1;
  }
  else if(h1_busy) {
    if(h1->wait(h1s, NULL, 0, timeout_ms, err, errlen) || h1->perform(h1s, err, errlen))
      return -1;
  }

  now = xfer_now_ms();
  for(x = e->xfers; x; x = next) {
    next = x->next;
    if(x->state != XFER_RUNNING)
      continue;
    if(x->deadline_ms > 0 && now >= x->deadline_ms) {
      char msg[96];
      snprintf(msg, sizeof(msg), "timed out: the transfer took longer than %.0f ms",
               x->deadline_ms - x->started_ms);
      x->timeout = XFER_TIMEOUT_TOTAL;
      x->connect_phase = !x->connected;
      xfer_fail(x, XFER_ERR_TIMEOUT, msg);
    }
    else if(idle_counts(x) &&
            now - x->last_activity_ms > (double)x->idle_timeout_ms) {
      char msg[96];
      snprintf(msg, sizeof(msg), "no data from the server for %ld ms",
               x->idle_timeout_ms);
      x->timeout = XFER_TIMEOUT_READ;
      xfer_fail(x, XFER_ERR_TIMEOUT, msg);
    }
  }
  release_if_due(e);
  return e->running;
}

/* ---- transfers ---- */

/* 1 when a line holds no CR or LF (strcspn: libc's vectorised scan, not
** a loop a byte at a time). */
static int line_ok(const char *h)
{
  return h[strcspn(h, "\r\n")] == '\0';
}

static int env_set(const char *name)
{
  const char *v = getenv(name);
  return v && *v;
}

int xfer_wants_libcurl(const struct xfer_options *o)
{
  if(o->duplex)
    return 1;
  if(o->no_proxy || !o->url)
    return 0;
  /* the variables libcurl reads, as it reads them: http_proxy in lower
  ** case only (an HTTP_PROXY can come from a CGI request's Proxy header) */
  if(!strncasecmp(o->url, "https://", 8)) {
    if(env_set("https_proxy") || env_set("HTTPS_PROXY"))
      return 1;
  }
  else if(!strncasecmp(o->url, "http://", 7)) {
    if(env_set("http_proxy"))
      return 1;
  }
  else {
    return 0;
  }
  return env_set("all_proxy") || env_set("ALL_PROXY");
}

static void link_xfer(struct xfer_engine *e, struct xfer *x)
{
  x->engine = e;
  x->next = e->xfers;
  x->prev = NULL;
  if(e->xfers)
    e->xfers->prev = x;
  e->xfers = x;
}

static void unlink_xfer(struct xfer *x)
{
  struct xfer_engine *e = x->engine;
  unlink_changed(x);
  if(x->prev)
    x->prev->next = x->next;
  else
    e->xfers = x->next;
  if(x->next)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
  x->engine = NULL;
}

static void free_common(struct xfer *x)
{
  evs_decoder_free(&x->dec);
  bytes_free(&x->header_text);
  bytes_free(&x->body);
  bytes_free(&x->ready);
  bytes_free(&x->out);
  free(x->hdrs);
  free(x);
}

struct xfer *xfer_new(struct xfer_engine *e, const struct xfer_options *o,
                      char *err, size_t errlen)
{
  struct xfer *x;
  int i;

  if(!e) {
    snprintf(err, errlen, "the client is closed");
    return NULL;
  }
  if(!o->url || !o->method) {
    snprintf(err, errlen, "a transfer needs a method and a URL");
    return NULL;
  }
  if(!line_ok(o->url) || !line_ok(o->method)) {
    snprintf(err, errlen, "CR or LF in the method or URL");
    return NULL;
  }
  for(i = 0; (size_t)i < o->nheaders; i++)
    if(!line_ok(o->headers[i])) {
      snprintf(err, errlen, "CR or LF in a header value");
      return NULL;
    }
  if(o->duplex && !o->stream) {
    snprintf(err, errlen, "a duplex transfer reads an event stream");
    return NULL;
  }
  i = xfer_wants_libcurl(o) ? XFER_BE_CURL : XFER_BE_HTTP1;
  if(!e->be[i]) {
    snprintf(err, errlen, "this request needs libcurl (%s), and bedrock.curl is not loaded",
             o->duplex ? "a bidirectional stream is HTTP/2" : "a proxy is set in the environment");
    return NULL;
  }
  x = calloc(1, sizeof(*x));
  if(!x) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  evs_decoder_init(&x->dec);
  x->backend = e->be[i];
  x->stream = o->stream;
  x->duplex = o->duplex;
  x->high_water = o->high_water ? o->high_water : XFER_DEFAULT_HIGH_WATER;
  x->out_high_water = o->send_high_water ? o->send_high_water : XFER_DEFAULT_SEND_HIGH_WATER;
  x->max_body = o->max_body ? o->max_body : XFER_MAX_BODY;
  x->idle_timeout_ms = o->idle_timeout_ms;
  if(x->duplex && o->body_len && bytes_append(&x->out, o->body, o->body_len, (size_t)-1)) {
    free_common(x);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  x->id = e->next_id++;
  x->started_ms = x->last_activity_ms = xfer_now_ms();
  if(o->total_timeout_ms > 0)
    x->deadline_ms = x->started_ms + (double)o->total_timeout_ms;
  link_xfer(e, x);
  if(x->backend->start(e->be_state[i], x, o, err, errlen)) {
    unlink_xfer(x);
    x->backend->free_xfer(e->be_state[i], x);
    free_common(x);
    return NULL;
  }
  e->running++;
  e->running_by[i]++;
  return x;
}

void xfer_abort(struct xfer *x)
{
  xfer_fail(x, XFER_ERR_ABORTED, "the transfer was closed");
}

void xfer_free(struct xfer *x)
{
  struct xfer_engine *e;
  if(!x)
    return;
  xfer_abort(x);
  e = x->engine;
  if(e) {
    void *st = e->be_state[xfer_backend_index(x)];
    unlink_xfer(x);
    x->backend->free_xfer(st, x);
    release_if_due(e);
  }
  else {
    x->backend->free_xfer(NULL, x);
  }
  free_common(x);
}

enum xfer_state xfer_get_state(const struct xfer *x)
{
  return x->state;
}

unsigned long xfer_id(const struct xfer *x)
{
  return x->id;
}

long xfer_status(const struct xfer *x)
{
  return x->status;
}

int xfer_headers_complete(const struct xfer *x)
{
  return x->headers_complete;
}

size_t xfer_header_count(const struct xfer *x)
{
  return x->nhdrs;
}

void xfer_header_at(const struct xfer *x, size_t i, const char **name,
                    size_t *name_len, const char **value, size_t *value_len)
{
  const struct header_ref *h = &x->hdrs[i];
  *name = x->header_text.p + h->name_off;
  *name_len = h->name_len;
  *value = x->header_text.p + h->value_off;
  *value_len = h->value_len;
}

const char *xfer_body(const struct xfer *x, size_t *len)
{
  *len = x->body.len - x->body.off;
  return x->body.p ? x->body.p + x->body.off : "";
}

static unsigned long be32(const unsigned char *p)
{
  return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
         ((unsigned long)p[2] << 8) | (unsigned long)p[3];
}

int xfer_next_message(struct xfer *x, struct evs_message *m)
{
  const unsigned char *f;
  size_t total, hlen;
  if(x->paused && x->engine && x->state == XFER_RUNNING &&
     x->ready.len - x->ready.off < x->high_water / 2) {
    /* The reader caught up. Resuming may hand the kept bytes over right
    ** here and grow the queue; that is safe now because the frame handed
    ** out by the previous call is no longer promised to stay put. */
    x->paused = 0;
    x->last_activity_ms = xfer_now_ms();
    x->backend->resume(x->engine->be_state[xfer_backend_index(x)], x);
  }
  if(x->ready.len - x->ready.off < EVS_MIN_MESSAGE)
    return 0;
  /* frames in the queue were validated by the decoder on the way in */
  f = (const unsigned char *)x->ready.p + x->ready.off;
  total = be32(f);
  hlen = be32(f + 4);
  m->frame = f;
  m->frame_len = total;
  m->headers = f + EVS_PRELUDE_LEN;
  m->headers_len = hlen;
  m->payload = f + EVS_PRELUDE_LEN + hlen;
  m->payload_len = total - hlen - EVS_MIN_MESSAGE;
  m->prelude_crc = (uint32_t)be32(f + 8);
  m->message_crc = (uint32_t)be32(f + total - 4);
  x->ready.off += total;
  return 1;
}

enum xfer_error xfer_error(const struct xfer *x, const char **detail,
                           int *evs_status)
{
  if(detail)
    *detail = x->detail;
  if(evs_status)
    *evs_status = x->evs_status;
  return x->error;
}

static void input_moved(struct xfer *x)
{
  if(x->backend->input)
    x->backend->input(x->engine->be_state[xfer_backend_index(x)], x);
}

int xfer_send(struct xfer *x, const void *data, size_t len, size_t *pending)
{
  if(!x->duplex || x->state != XFER_RUNNING || !x->engine || x->out_ended)
    return -1;
  if(len && bytes_append(&x->out, data, len, (size_t)-1))
    return -2;
  *pending = x->out.len - x->out.off;
  if(*pending >= x->out_high_water)
    x->out_full = 1;
  if(len)
    input_moved(x);
  return 0;
}

int xfer_send_end(struct xfer *x)
{
  if(!x->duplex || x->state != XFER_RUNNING || !x->engine)
    return -1;
  if(!x->out_ended) {
    x->out_ended = 1;
    /* from now the server owes the rest of the answer */
    x->last_activity_ms = xfer_now_ms();
    input_moved(x);
  }
  return 0;
}

size_t xfer_send_pending(const struct xfer *x)
{
  return x->out.len - x->out.off;
}

int xfer_failed_connecting(const struct xfer *x)
{
  return x->connect_phase;
}

int xfer_sends(const struct xfer *x)
{
  return x->sends;
}

enum xfer_timeout xfer_timeout_phase(const struct xfer *x)
{
  return x->error == XFER_ERR_TIMEOUT ? x->timeout : XFER_TIMEOUT_NONE;
}

const char *xfer_timeout_name(enum xfer_timeout t)
{
  switch(t) {
  case XFER_TIMEOUT_CONNECT: return "connect";
  case XFER_TIMEOUT_READ: return "read";
  case XFER_TIMEOUT_TOTAL: return "total";
  default: return "none";
  }
}

const char *xfer_errname(enum xfer_error err)
{
  switch(err) {
  case XFER_OK: return "OK";
  case XFER_ERR_CONNECT: return "ConnectionError";
  case XFER_ERR_TIMEOUT: return "TimeoutError";
  case XFER_ERR_RESET: return "ConnectionError";
  case XFER_ERR_STREAM: return "EventStreamError";
  case XFER_ERR_TRUNCATED: return "EventStreamError";
  case XFER_ERR_TOO_LARGE: return "ResponseTooLarge";
  case XFER_ERR_ABORTED: return "Aborted";
  case XFER_ERR_TLS: return "TLSError";
  case XFER_ERR_REQUEST: return "InvalidParameter";
  default: return "ConnectionError";
  }
}

double xfer_elapsed_ms(const struct xfer *x)
{
  double end = x->state == XFER_RUNNING ? xfer_now_ms() : x->ended_ms;
  return end - x->started_ms;
}
