/*
** transport.c: the libcurl multi engine (see transport.h).
**
** Rules kept here: no Lua; libcurl callbacks touch only this file's buffers
** and the decoder; every transfer is linked into its engine so that either
** may be freed first.
*/
#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "transport.h"

/* A growable byte buffer with a read offset, so a queue can be consumed
** from the front without a memmove per message. */
struct bytes {
  char *p;
  size_t off;     /* consumed prefix */
  size_t len;     /* bytes written, off included */
  size_t cap;
};

static int bytes_reserve(struct bytes *b, size_t extra, size_t limit)
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

static int bytes_append(struct bytes *b, const void *p, size_t n, size_t limit)
{
  if(bytes_reserve(b, n, limit))
    return -1;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static void bytes_free(struct bytes *b)
{
  free(b->p);
  b->p = NULL;
  b->off = b->len = b->cap = 0;
}

struct header_ref {
  size_t name_off, name_len, value_off, value_len;
};

/* What an easy handle keeps from one request to the next. A client's
** requests differ in URL, headers and body; the rest of the options (about
** twenty setopts, and a curl_easy_reset to clear them) are the same every
** time, so an idle handle keeps them when its profile matches the next
** request's. The header list's nodes and text are kept too: the list is
** one array of nodes over one buffer, rebuilt in place, with no allocation
** per header once the buffers have grown to fit. */
enum kit_method { KIT_NONE = 0, KIT_POST, KIT_GET };

struct easy_profile {
  enum kit_method method;         /* KIT_NONE: options not kept (reset first) */
  int stream;
  long connect_timeout_ms;
  char *ca_file, *ca_path;        /* copies; NULL: libcurl's default */
};

struct easy_kit {
  CURL *easy;
  struct easy_profile prof;
  struct curl_slist *nodes;       /* the request's header list, linked in place */
  size_t nodes_cap;
  char *text;                     /* the header lines, NUL-terminated, back to back */
  size_t text_cap;
};

struct xfer {
  struct xfer_engine *engine;     /* NULL once detached */
  struct xfer *prev, *next;       /* engine's list of transfers */
  struct xfer *changed_next;      /* engine's changed list */
  int in_changed;
  unsigned long id;

  CURL *easy;                     /* kit.easy while the transfer has it */
  struct easy_kit kit;            /* the handle, its kept options, the header list */
  char errbuf[CURL_ERROR_SIZE];

  enum xfer_state state;
  enum xfer_error error;
  int evs_status;
  char detail[CURL_ERROR_SIZE + 64];

  int stream;
  long status;
  int headers_complete;
  struct bytes header_text;       /* names and values of the final response */
  struct header_ref *hdrs;
  size_t nhdrs, hdrs_cap;

  struct bytes body;              /* non-stream body, or a stream's error body */
  struct evs_decoder dec;
  struct bytes ready;             /* validated frames, back to back */
  size_t high_water;
  int paused;                     /* we returned CURL_WRITEFUNC_PAUSE */
  size_t max_body;                /* see xfer_options.max_body */

  /* duplex transfers: the request body is the send queue, fed while the
  ** response is read (HTTP/2) */
  int duplex;
  struct bytes out;               /* bytes libcurl has not taken yet */
  int out_ended;                  /* no more input: the body ends once out drains */
  int send_paused;                /* we returned CURL_READFUNC_PAUSE */
  int out_full;                   /* a sender waits for room: mark changed below half */
  size_t out_high_water;
  int connect_phase;              /* failed before the connection was up */
  int connected;                  /* a connection is up (new or reused) */
  int sends;                      /* times the request went out: 0 or 1 */
  int resend_refused;             /* libcurl wanted to send it again (see on_prereq) */
  int socket_errno;               /* why socket() failed (EMFILE...), 0: it did not */
  enum xfer_timeout timeout;      /* which limit ended it, for XFER_ERR_TIMEOUT */

  long idle_timeout_ms;
  double deadline_ms;             /* total_timeout_ms from the start; 0: none */
  double started_ms;
  double last_activity_ms;
  double nudged_ms;               /* duplex: last nudge_duplex */
  double ended_ms;
};

/* Easy handles kept for reuse: curl_easy_reset is a fraction of
** curl_easy_init plus curl_easy_cleanup, which a keep-alive invoke would
** otherwise pay each time. A few cover the sequential case. */
#define IDLE_EASY 4

/* Parsed URLs handed to libcurl as CURLOPT_CURLU, so that a client's
** requests to the same few URLs are not parsed again each time. libcurl
** copies the handle when a transfer starts, but may read it until the
** transfer ends, so an entry is never changed or freed before the engine. */
#define URL_CACHE 16

struct url_entry {
  char *text;
  CURLU *handle;
};

struct xfer_engine {
  CURLM *multi;
  struct easy_kit idle[IDLE_EASY];
  int nidle;
  struct url_entry urls[URL_CACHE];
  int nurls;
  struct xfer *xfers;             /* every live transfer of this engine */
  struct xfer *changed_head, *changed_tail;
  int running;
  unsigned long next_id;
  long max_connections;           /* xfer_engine_set_limits; 0: libcurl's own */
  long idle_timeout_s;            /* CURLOPT_MAXAGE_CONN of new transfers; 0: libcurl's */
  int release_pending;            /* close the pool once nothing runs */
};

double xfer_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- easy kits (see struct easy_kit) ---- */

static void profile_clear(struct easy_profile *p)
{
  free(p->ca_file);
  free(p->ca_path);
  memset(p, 0, sizeof(*p));
}

static void kit_free(struct easy_kit *k)
{
  if(k->easy)
    curl_easy_cleanup(k->easy);
  profile_clear(&k->prof);
  free(k->nodes);
  free(k->text);
  memset(k, 0, sizeof(*k));
}

static int same_string(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Requests whose options a handle keeps: POST (the body is set per
** request), and GET without a body. Others start from a reset handle. */
static enum kit_method kit_method_of(const struct xfer_options *o)
{
  if(o->duplex)
    return KIT_NONE;
  if(!strcmp(o->method, "POST"))
    return KIT_POST;
  if(!strcmp(o->method, "GET") && !o->body_len)
    return KIT_GET;
  return KIT_NONE;
}

static int kit_fits(const struct easy_kit *k, const struct xfer_options *o)
{
  const struct easy_profile *p = &k->prof;
  return p->method != KIT_NONE && p->method == kit_method_of(o) &&
         p->stream == (o->stream != 0) &&
         p->connect_timeout_ms == o->connect_timeout_ms &&
         same_string(p->ca_file, o->ca_file) && same_string(p->ca_path, o->ca_path);
}

/* A kit for a request with o: an idle one whose options fit (*fits = 1),
** else another idle one reset, else a new handle. -1 on out of memory. */
static int kit_take(struct xfer_engine *e, const struct xfer_options *o,
                    struct easy_kit *out, int *fits)
{
  int i;
  for(i = e->nidle - 1; i >= 0 && !kit_fits(&e->idle[i], o); i--)
    ;
  *fits = i >= 0;
  if(i < 0)
    i = e->nidle - 1;
  if(i >= 0) {
    *out = e->idle[i];
    e->idle[i] = e->idle[--e->nidle];
    if(!*fits) {
      curl_easy_reset(out->easy);
      profile_clear(&out->prof);
    }
    return 0;
  }
  memset(out, 0, sizeof(*out));
  out->easy = curl_easy_init();
  return out->easy ? 0 : -1;
}

/* Back to the engine's idle kits once the transfer has left the multi
** handle; the options that point into the transfer are cleared, the rest
** stay for the next request. */
static void kit_put(struct xfer_engine *e, struct easy_kit *k)
{
  if(e->nidle >= IDLE_EASY || k->prof.method == KIT_NONE) {
    kit_free(k);
    return;
  }
  curl_easy_setopt(k->easy, CURLOPT_PRIVATE, NULL);
  curl_easy_setopt(k->easy, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(k->easy, CURLOPT_HEADERDATA, NULL);
  curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(k->easy, CURLOPT_PREREQDATA, NULL);
  e->idle[e->nidle++] = *k;
  memset(k, 0, sizeof(*k));
}

/* Length of a header line, or (size_t)-1 when it holds a CR or LF
** (strcspn: libc's vectorised scan, not a loop a byte at a time). */
static size_t line_length(const char *h)
{
  size_t n = strcspn(h, "\r\n");
  return h[n] ? (size_t)-1 : n;
}

/* The request's header list, built in the kit's buffers: the caller's
** lines, then an empty "Expect:" and "Accept:" unless given (libcurl would
** add these on its own; Bedrock needs neither). */
static int kit_headers(struct easy_kit *k, const struct xfer_options *o,
                       char *err, size_t errlen)
{
  static const char *const off[] = { "Expect:", "Accept:" };
  enum { NOFF = sizeof(off) / sizeof(off[0]) };
  int present[NOFF] = { 0 };
  size_t i, j, text = 0, count = o->nheaders, pos = 0;
  for(i = 0; i < o->nheaders; i++) {
    const char *h = o->headers[i];
    size_t n = line_length(h);
    if(n == (size_t)-1) {
      snprintf(err, errlen, "CR or LF in a header value");
      return -1;
    }
    text += n + 1;
    for(j = 0; j < NOFF; j++) {
      size_t m = strlen(off[j]) - 1;
      if(n > m && h[m] == ':' && !strncasecmp(h, off[j], m))
        present[j] = 1;
    }
  }
  for(j = 0; j < NOFF; j++)
    if(!present[j]) {
      text += strlen(off[j]) + 1;
      count++;
    }
  if(count > k->nodes_cap) {
    struct curl_slist *nn = realloc(k->nodes, count * sizeof(*nn));
    if(!nn)
      goto nomem;
    k->nodes = nn;
    k->nodes_cap = count;
  }
  if(text > k->text_cap) {
    char *nt = realloc(k->text, text);
    if(!nt)
      goto nomem;
    k->text = nt;
    k->text_cap = text;
  }
  for(i = 0; i < count; i++) {
    const char *h;
    size_t n;
    if(i < o->nheaders)
      h = o->headers[i];
    else {
      for(j = 0; present[j]; j++)
        ;
      present[j] = 1;
      h = off[j];
    }
    n = strlen(h) + 1;
    memcpy(k->text + pos, h, n);
    k->nodes[i].data = k->text + pos;
    k->nodes[i].next = i + 1 < count ? &k->nodes[i + 1] : NULL;
    pos += n;
  }
  return 0;
nomem:
  snprintf(err, errlen, "out of memory");
  return -1;
}

static void mark_changed(struct xfer *x)
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

/* End a transfer that is still attached: take it off the multi handle (a
** premature removal makes libcurl close the connection rather than reuse a
** half-read one) and record why. */
static void finish(struct xfer *x, enum xfer_state st, enum xfer_error err,
                   const char *detail)
{
  if(x->state != XFER_RUNNING)
    return;
  x->state = st;
  x->error = err;
  if(detail && !x->detail[0])
    snprintf(x->detail, sizeof(x->detail), "%s", detail);
  x->ended_ms = xfer_now_ms();
  if(x->engine && x->easy) {
    curl_multi_remove_handle(x->engine->multi, x->easy);
    x->engine->running--;
  }
  mark_changed(x);
}

/* ---- libcurl callbacks: C buffers only ---- */

/* Called once a connection is up (new, or reused from the pool) and before
** the request goes out: from here on, silence counts against the idle
** timeout; before it, only the connect timeout applies.
**
** When a reused keep-alive connection dies before any reply byte, libcurl
** sends the request again on another connection, up to five times, on its
** own. The request may have reached the server each time, and the retry
** policy (Lua) must see and count every attempt: so a second send is
** refused here, and the transfer fails as a connection reset. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
  struct xfer *x = ud;
  (void)conn_primary_ip;
  (void)conn_local_ip;
  (void)conn_primary_port;
  (void)conn_local_port;
  if(x->sends > 0) {
    x->resend_refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  x->connected = 1;
  x->sends++;
  x->last_activity_ms = xfer_now_ms();
  return CURL_PREREQFUNC_OK;
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
      return 1;                   /* not a length: libcurl itself refuses it */
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

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb, nlen, vstart, vend;
  const char *colon;
  x->last_activity_ms = xfer_now_ms();
  if(n >= 5 && !memcmp(ptr, "HTTP/", 5)) {
    /* a status line starts a new response (after a 100 Continue, say):
    ** forget the headers of the previous one */
    const char *sp = memchr(ptr, ' ', n);
    x->status = 0;
    if(sp) {
      size_t i = (size_t)(sp - ptr) + 1;
      long code = 0;
      int digits = 0;
      while(i < n && digits < 3 && isdigit((unsigned char)ptr[i])) {
        code = code * 10 + (ptr[i] - '0');
        i++;
        digits++;
      }
      if(digits == 3)
        x->status = code;
    }
    x->nhdrs = 0;
    x->header_text.off = x->header_text.len = 0;
    x->headers_complete = 0;
    return n;
  }
  if(n <= 2 && (n == 0 || ptr[0] == '\r' || ptr[0] == '\n')) {
    /* blank line: end of a header block; a 1xx block is not final */
    if(x->status >= 200) {
      x->headers_complete = 1;
      mark_changed(x);
    }
    return n;
  }
  colon = memchr(ptr, ':', n);
  if(!colon)
    return n;
  nlen = (size_t)(colon - ptr);
  vstart = nlen + 1;
  vend = n;
  while(vstart < vend && (ptr[vstart] == ' ' || ptr[vstart] == '\t'))
    vstart++;
  while(vend > vstart && isspace((unsigned char)ptr[vend - 1]))
    vend--;
  if(!declared_length_ok(x, ptr, nlen, ptr + vstart, vend - vstart))
    return 0;
  if(x->nhdrs == x->hdrs_cap) {
    size_t ncap = x->hdrs_cap ? x->hdrs_cap * 2 : 16;
    struct header_ref *nh = realloc(x->hdrs, ncap * sizeof(*nh));
    if(!nh)
      return 0;
    x->hdrs = nh;
    x->hdrs_cap = ncap;
  }
  {
    struct header_ref *h = &x->hdrs[x->nhdrs];
    h->name_off = x->header_text.len;
    h->name_len = nlen;
    if(bytes_append(&x->header_text, ptr, nlen, 1u << 20))
      return 0;
    h->value_off = x->header_text.len;
    h->value_len = vend - vstart;
    if(bytes_append(&x->header_text, ptr + vstart, vend - vstart, 1u << 20))
      return 0;
    x->nhdrs++;
  }
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb, off = 0;
  int got = 0;

  x->last_activity_ms = xfer_now_ms();
  if(!x->stream || x->status < 200 || x->status > 299) {
    if(bytes_append(&x->body, ptr, n, x->max_body)) {
      x->error = XFER_ERR_TOO_LARGE;
      if(x->body.len - x->body.off + n > x->max_body)
        snprintf(x->detail, sizeof(x->detail),
                 "the response body passed max_response_bytes (%zu) while being read",
                 x->max_body);
      else
        snprintf(x->detail, sizeof(x->detail), "out of memory for the response body");
      return 0;
    }
    return n;
  }
  if(x->duplex) {
    if(x->ready.len - x->ready.off >= XFER_DUPLEX_MAX_BACKLOG) {
      x->error = XFER_ERR_TOO_LARGE;
      snprintf(x->detail, sizeof(x->detail),
               "more than %u MiB of output unread", XFER_DUPLEX_MAX_BACKLOG >> 20);
      return 0;
    }
  }
  else if(x->ready.len - x->ready.off >= x->high_water) {
    /* the reader is behind: libcurl keeps these bytes and hands them over
    ** again once we resume */
    x->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  while(off < n) {
    struct evs_message m;
    size_t used = 0;
    int rc = evs_decode(&x->dec, ptr + off, n - off, &used, &m);
    off += used;
    if(rc == EVS_OK) {
      if(bytes_append(&x->ready, m.frame, m.frame_len, (size_t)-1)) {
        x->error = XFER_ERR_OTHER;
        snprintf(x->detail, sizeof(x->detail), "out of memory");
        return 0;
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
      return 0;
    }
  }
  if(got)
    mark_changed(x);
  return n;
}

/* Duplex request body: whatever the caller queued. An empty queue pauses
** the upload until xfer_send (or the end) resumes it. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nitems, have = x->out.len - x->out.off;
  if(!have) {
    if(x->out_ended)
      return 0;
    x->send_paused = 1;
    return CURL_READFUNC_PAUSE;
  }
  if(n > have)
    n = have;
  memcpy(buf, x->out.p + x->out.off, n);
  x->out.off += n;
  have -= n;
  if(x->out_full && have < x->out_high_water / 2) {
    x->out_full = 0;
    mark_changed(x);
  }
  return n;
}

/* libcurl keeps one pause state for both directions: set it from ours. */
static void apply_pause(struct xfer *x)
{
  curl_easy_pause(x->easy, (x->paused ? CURLPAUSE_RECV : 0) |
                           (x->send_paused ? CURLPAUSE_SEND : 0));
}

/* Silence counts against the idle timeout once connected, unless we paused
** the reader ourselves, or the server may be waiting for more input (a
** duplex transfer whose input has not ended). */
static int idle_counts(const struct xfer *x)
{
  return x->idle_timeout_ms > 0 && x->connected && !x->paused &&
         (!x->duplex || x->out_ended);
}

/* libcurl 7.88 can miss the end of an HTTP/2 response that arrives before
** our own END_STREAM went out (its upload side still waits to send; seen
** every time when the server answers the end-of-input envelope first), and
** then nothing on the socket ever wakes the transfer again. A pause toggle
** makes libcurl run the transfer once more, which finds the stream closed.
** Duplex transfers get one after every XFER_DUPLEX_NUDGE_MS of silence. */
#define XFER_DUPLEX_NUDGE_MS 100.0

static double next_nudge_ms(const struct xfer *x)
{
  double since = x->last_activity_ms > x->nudged_ms ? x->last_activity_ms : x->nudged_ms;
  return since + XFER_DUPLEX_NUDGE_MS;
}

static void nudge_duplex(struct xfer *x, double now)
{
  x->nudged_ms = now;
  if(x->send_paused)
    x->send_paused = 0;           /* on_read pauses again if still empty */
  else
    curl_easy_pause(x->easy, CURLPAUSE_SEND | (x->paused ? CURLPAUSE_RECV : 0));
  apply_pause(x);
}

/* ---- engine ---- */

/* The multi handle's own options: set on a new one, and again on the
** handle that replaces it in a release. */
static int apply_multi_limits(struct xfer_engine *e)
{
  /* one connection per host is not a limit we want: streams run side by
  ** side; with max_connections, the queue takes what is over it */
  if(curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS,
                       e->max_connections ? e->max_connections : 1024L) != CURLM_OK)
    return -1;
  if(e->max_connections &&
     curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                       e->max_connections) != CURLM_OK)
    return -1;
  return 0;
}

int xfer_engine_set_limits(struct xfer_engine *e, long max_connections,
                           long idle_timeout_s)
{
  if(max_connections < 0 || idle_timeout_s < 0)
    return -1;
  if(max_connections)
    e->max_connections = max_connections;
  if(idle_timeout_s)
    e->idle_timeout_s = idle_timeout_s;
  return apply_multi_limits(e);
}

/* A new multi handle in place of the old one: curl_multi_cleanup closes
** every connection the old one kept. Only when no transfer is on it. */
static int swap_multi(struct xfer_engine *e)
{
  CURLM *fresh = curl_multi_init();
  if(!fresh)
    return -1;
  curl_multi_cleanup(e->multi);
  e->multi = fresh;
  e->release_pending = 0;
  return apply_multi_limits(e);
}

/* A release waits for the last running transfer: called where no libcurl
** call is under way (the end of a pump, xfer_free). */
static void release_if_due(struct xfer_engine *e)
{
  if(e->release_pending && e->running == 0)
    swap_multi(e);                /* on failure it stays due */
}

int xfer_engine_release(struct xfer_engine *e)
{
  if(e->running > 0) {
    e->release_pending = 1;
    return 0;
  }
  return swap_multi(e);
}

struct xfer_engine *xfer_engine_new(void)
{
  struct xfer_engine *e;
  static int global_done = 0;
  if(!global_done) {
    /* curl_global_init is idempotent in libcurl >= 7.84 and thread-safe there */
    if(curl_global_init(CURL_GLOBAL_DEFAULT))
      return NULL;
    global_done = 1;
  }
  e = calloc(1, sizeof(*e));
  if(!e)
    return NULL;
  e->multi = curl_multi_init();
  if(!e->multi) {
    free(e);
    return NULL;
  }
  apply_multi_limits(e);
  e->next_id = 1;
  return e;
}

void xfer_engine_free(struct xfer_engine *e)
{
  struct xfer *x, *next;
  if(!e)
    return;
  for(x = e->xfers; x; x = next) {
    next = x->next;
    if(x->state == XFER_RUNNING)
      finish(x, XFER_FAILED, XFER_ERR_ABORTED, "the client was closed");
    x->in_changed = 0;
    x->engine = NULL;
    x->prev = x->next = NULL;
    /* the parsed URL it may point to goes with the engine */
    if(x->easy)
      curl_easy_setopt(x->easy, CURLOPT_CURLU, NULL);
  }
  while(e->nidle > 0)
    kit_free(&e->idle[--e->nidle]);
  while(e->nurls > 0) {
    struct url_entry *u = &e->urls[--e->nurls];
    curl_url_cleanup(u->handle);
    free(u->text);
  }
  curl_multi_cleanup(e->multi);
  free(e);
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

static enum xfer_error classify(CURLcode rc)
{
  switch(rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SSL_CONNECT_ERROR:     /* a handshake cut short may be transient */
  case CURLE_SSL_CIPHER:
    return XFER_ERR_CONNECT;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return XFER_ERR_TLS;
  case CURLE_OPERATION_TIMEDOUT:
    return XFER_ERR_TIMEOUT;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_FUNCTION_ARGUMENT:
  case CURLE_OUT_OF_MEMORY:         /* 7.88: also a request past its 1 MiB header buffer */
  case CURLE_FILESIZE_EXCEEDED:
    return XFER_ERR_REQUEST;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return XFER_ERR_RESET;
  default:
    return XFER_ERR_OTHER;
  }
}

static void on_done(struct xfer *x, CURLcode rc)
{
  if(rc == CURLE_OK) {
    if(x->stream && x->status >= 200 && x->status <= 299 &&
       evs_decoder_pending(&x->dec)) {
      char msg[96];
      snprintf(msg, sizeof(msg),
               "the response ended inside an event-stream frame (%zu bytes of it arrived)",
               evs_decoder_pending(&x->dec));
      finish(x, XFER_FAILED, XFER_ERR_TRUNCATED, msg);
    }
    else {
      finish(x, XFER_DONE, XFER_OK, NULL);
    }
    return;
  }
  if(rc == CURLE_ABORTED_BY_CALLBACK && x->resend_refused) {
    finish(x, XFER_FAILED, XFER_ERR_RESET,
           "the connection closed before any reply (the request may have reached the server)");
    return;
  }
  if(rc == CURLE_WRITE_ERROR && x->error != XFER_OK) {
    /* our own write callback refused: keep the reason it recorded */
    enum xfer_error err = x->error;
    x->error = XFER_OK;
    finish(x, XFER_FAILED, err,
           err == XFER_ERR_TOO_LARGE ? "the response body is too large" : NULL);
    return;
  }
  if(rc == CURLE_OPERATION_TIMEDOUT) {
    /* libcurl times out the connect only (the other limits are ours): no
    ** connection yet means nothing was sent, so the caller may retry */
    x->connect_phase = !x->connected;
    x->timeout = x->connected ? XFER_TIMEOUT_READ : XFER_TIMEOUT_CONNECT;
  }
  if(x->socket_errno == EMFILE || x->socket_errno == ENFILE) {
    char msg[160];
    snprintf(msg, sizeof(msg), "too many open files: %s (%s): no socket for a new "
             "connection; lower max_pool_connections or raise the limit (ulimit -n)",
             strerror(x->socket_errno), x->socket_errno == EMFILE ? "EMFILE, this process" : "ENFILE, the system");
    finish(x, XFER_FAILED, XFER_ERR_CONNECT, msg);
    return;
  }
  if(classify(rc) == XFER_ERR_REQUEST) {
    char msg[CURL_ERROR_SIZE + 96];
    snprintf(msg, sizeof(msg), "libcurl could not make the request: %s%s",
             x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc),
             rc == CURLE_OUT_OF_MEMORY ? " (a header or the URL is likely too large)" : "");
    finish(x, XFER_FAILED, XFER_ERR_REQUEST, msg);
    return;
  }
  if(classify(rc) == XFER_ERR_TLS) {
    char msg[CURL_ERROR_SIZE + 64];
    snprintf(msg, sizeof(msg), "TLS certificate verification failed: %s",
             x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    finish(x, XFER_FAILED, XFER_ERR_TLS, msg);
    return;
  }
  finish(x, XFER_FAILED, classify(rc),
         x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

int xfer_engine_pump(struct xfer_engine *e, long timeout_ms, char *err,
                     size_t errlen)
{
  CURLMcode mc;
  CURLMsg *msg;
  int still = 0, left = 0;
  long curl_timeout = -1;
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
    if(x->duplex && (next_deadline < 0 || next_nudge_ms(x) < next_deadline))
      next_deadline = next_nudge_ms(x);
  }
  if(next_deadline >= 0) {
    long until = (long)(next_deadline - now) + 1;
    if(until < 0)
      until = 0;
    if(until < timeout_ms)
      timeout_ms = until;
  }
  curl_multi_timeout(e->multi, &curl_timeout);
  if(curl_timeout >= 0 && curl_timeout < timeout_ms)
    timeout_ms = curl_timeout;
  if(timeout_ms < 0)
    timeout_ms = 0;

  if(e->running > 0 && timeout_ms > 0) {
    mc = curl_multi_poll(e->multi, NULL, 0, (int)timeout_ms, NULL);
    if(mc != CURLM_OK) {
      snprintf(err, errlen, "curl_multi_poll: %s", curl_multi_strerror(mc));
      return -1;
    }
  }
  mc = curl_multi_perform(e->multi, &still);
  if(mc != CURLM_OK) {
    snprintf(err, errlen, "curl_multi_perform: %s", curl_multi_strerror(mc));
    return -1;
  }
  while((msg = curl_multi_info_read(e->multi, &left))) {
    if(msg->msg == CURLMSG_DONE) {
      void *ud = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ud);
      if(ud)
        on_done(ud, msg->data.result);
    }
  }
  now = xfer_now_ms();
  for(x = e->xfers; x; x = next) {
    next = x->next;
    if(x->state != XFER_RUNNING)
      continue;
    if(x->duplex && now >= next_nudge_ms(x))
      nudge_duplex(x, now);
    if(x->deadline_ms > 0 && now >= x->deadline_ms) {
      char msg2[96];
      snprintf(msg2, sizeof(msg2), "timed out: the transfer took longer than %.0f ms",
               x->deadline_ms - x->started_ms);
      x->timeout = XFER_TIMEOUT_TOTAL;
      x->connect_phase = !x->connected;
      finish(x, XFER_FAILED, XFER_ERR_TIMEOUT, msg2);
    }
    else if(idle_counts(x) &&
            now - x->last_activity_ms > (double)x->idle_timeout_ms) {
      char msg2[96];
      snprintf(msg2, sizeof(msg2), "no data from the server for %ld ms",
               x->idle_timeout_ms);
      x->timeout = XFER_TIMEOUT_READ;
      finish(x, XFER_FAILED, XFER_ERR_TIMEOUT, msg2);
    }
  }
  release_if_due(e);
  return e->running;
}

/* ---- transfers ---- */

/* libcurl's own socket(), plus two things it does not do: remember why it
** failed (at the descriptor limit libcurl says only "Couldn't connect to
** server"), and close-on-exec, so a credential_process child never
** inherits a connection. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
  struct xfer *x = ud;
  curl_socket_t s;
  (void)purpose;
#ifdef SOCK_CLOEXEC
  s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
#else
  s = socket(a->family, a->socktype, a->protocol);
#endif
  if(s == CURL_SOCKET_BAD)
    x->socket_errno = errno;
  return s;
}

/* Options of the hardening work, set apart from the request path's own.
** A credential endpoint (IMDS, the container's) is fetched directly: an
** empty CURLOPT_PROXY overrides http_proxy / all_proxy from the
** environment, so neither the token sent nor the keys returned pass
** through a proxy (botocore's container fetcher uses none either). */
static int apply_hardening(struct xfer_engine *e, struct xfer *x,
                           const struct xfer_options *o)
{
  /* set on every request: a kept handle must not carry the empty proxy
  ** into a request that may use one (NULL restores the environment's) */
  if(curl_easy_setopt(x->easy, CURLOPT_PROXY, o->no_proxy ? "" : NULL) != CURLE_OK)
    return -1;
  x->max_body = o->max_body ? o->max_body : XFER_MAX_BODY;
  if(e->idle_timeout_s &&
     curl_easy_setopt(x->easy, CURLOPT_MAXAGE_CONN, e->idle_timeout_s) != CURLE_OK)
    return -1;
  curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x);
  return 0;
}

static int header_ok(const char *h)
{
  return line_length(h) != (size_t)-1;
}

/* The parsed handle of url, from the engine's cache or parsed into it;
** NULL when the cache is full or libcurl would not parse the URL here
** (CURLOPT_URL then does, and reports what is wrong with it). */
static CURLU *url_handle(struct xfer_engine *e, const char *url)
{
  struct url_entry *u;
  int i;
  for(i = 0; i < e->nurls; i++)
    if(!strcmp(e->urls[i].text, url))
      return e->urls[i].handle;
  if(e->nurls >= URL_CACHE)
    return NULL;
  u = &e->urls[e->nurls];
  u->handle = curl_url();
  u->text = strdup(url);
  /* the flags libcurl uses itself when it parses CURLOPT_URL */
  if(!u->handle || !u->text ||
     curl_url_set(u->handle, CURLUPART_URL, url,
                  CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    curl_url_cleanup(u->handle);
    free(u->text);
    return NULL;
  }
  e->nurls++;
  return u->handle;
}

/* Set the options a request keeps on its handle (see struct easy_kit),
** on a handle fresh from curl_easy_init or curl_easy_reset, and record them
** as the kit's profile. */
static int configure(struct xfer *x, const struct xfer_options *o, char *err,
                     size_t errlen)
{
  struct easy_profile *prof = &x->kit.prof;
  curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Redirects are not followed (libcurl's default, stated here), so an
  ** https endpoint is never left for an http one the user did not give. */
  curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
  /* TLS verification is always on: peer chain and host name. */
  curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if(o->ca_file && curl_easy_setopt(x->easy, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) {
    snprintf(err, errlen, "libcurl refused the CA file");
    return -1;
  }
  if(o->ca_path && curl_easy_setopt(x->easy, CURLOPT_CAPATH, o->ca_path) != CURLE_OK) {
    snprintf(err, errlen, "libcurl refused the CA directory");
    return -1;
  }
  curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
  /* HTTP/1.1 on keep-alive connections, as botocore does (libcurl would
  ** offer h2 over TLS by default): one request per connection at a time,
  ** which is what the pool and the fault handling assume. Duplex transfers
  ** switch to HTTP/2 below. */
  curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if(o->stream)
    curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE,
                     o->duplex ? XFER_DUPLEX_BUFFER : (long)XFER_STREAM_BUFFER);
  /* NAT gateways drop idle flows after 350 s: probe well before that */
  curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPIDLE, 60L);
  curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPINTVL, 30L);
  curl_easy_setopt(x->easy, CURLOPT_PREREQFUNCTION, on_prereq);
  if(o->connect_timeout_ms > 0)
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  if(x->duplex) {
    /* full duplex needs HTTP/2: ALPN over TLS, prior knowledge in clear */
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
                     strncasecmp(o->url, "https:", 6)
                       ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                       : (long)CURL_HTTP_VERSION_2TLS);
    /* One connection per session, never shared: libcurl 7.88.1 fails a
    ** second stream on a reused HTTP/2 connection ("Error in the HTTP2
    ** framing layer" before anything is sent; seen with prior knowledge
    ** against nghttpd and the curl tool too). A session lasts minutes, so
    ** the handshake it costs is small beside it. */
    curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
  }
  if(strcmp(o->method, "POST") && strcmp(o->method, "GET"))
    curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, o->method);
  else if(!strcmp(o->method, "GET") && !o->body_len)
    curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);

  prof->method = kit_method_of(o);
  prof->stream = o->stream != 0;
  prof->connect_timeout_ms = o->connect_timeout_ms;
  if((o->ca_file && !(prof->ca_file = strdup(o->ca_file))) ||
     (o->ca_path && !(prof->ca_path = strdup(o->ca_path))))
    profile_clear(prof);          /* out of memory: not kept, nothing lost */
  return 0;
}

struct xfer *xfer_new(struct xfer_engine *e, const struct xfer_options *o,
                      char *err, size_t errlen)
{
  struct xfer *x = NULL;
  int fits;
  CURLMcode mc;

  if(!e) {
    snprintf(err, errlen, "the client is closed");
    return NULL;
  }
  if(!o->url || !o->method) {
    snprintf(err, errlen, "a transfer needs a method and a URL");
    return NULL;
  }
  if(!header_ok(o->url) || !header_ok(o->method)) {
    snprintf(err, errlen, "CR or LF in the method or URL");
    return NULL;
  }
  x = calloc(1, sizeof(*x));
  if(!x)
    goto nomem;
  evs_decoder_init(&x->dec);
  x->stream = o->stream;
  x->duplex = o->duplex;
  x->out_high_water = o->send_high_water ? o->send_high_water : XFER_DEFAULT_SEND_HIGH_WATER;
  if(x->duplex && !x->stream) {
    snprintf(err, errlen, "a duplex transfer reads an event stream");
    goto fail;
  }
  x->high_water = o->high_water ? o->high_water : XFER_DEFAULT_HIGH_WATER;
  x->idle_timeout_ms = o->idle_timeout_ms;
  if(kit_take(e, o, &x->kit, &fits))
    goto nomem;
  x->easy = x->kit.easy;
  if(kit_headers(&x->kit, o, err, errlen))
    goto fail;
  if(!fits && configure(x, o, err, errlen))
    goto fail;

  /* Set on every request, after configure() or without it (a handle
  ** whose profile fits skips it): what differs from one request to the
  ** next, and every option that points at x (a ...DATA pointer). An option
  ** added to configure() must also be part of struct easy_profile, or a
  ** handle would carry it into a request that did not ask for it. */
  {
    CURLU *u = url_handle(e, o->url);
    curl_easy_setopt(x->easy, CURLOPT_CURLU, u);
    if(!u)
      curl_easy_setopt(x->easy, CURLOPT_URL, o->url);
  }
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->kit.nodes);
  curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
  if(apply_hardening(e, x, o)) {
    snprintf(err, errlen, "libcurl refused a connection option");
    goto fail;
  }
  curl_easy_setopt(x->easy, CURLOPT_PREREQDATA, x);
  if(x->duplex) {
    curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
    if(o->body_len && bytes_append(&x->out, o->body, o->body_len, (size_t)-1))
      goto nomem;
  }
  else if(!strcmp(o->method, "POST") || o->body_len) {
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)o->body_len);
    curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS,
                     o->body ? (const char *)o->body : "");
  }

  x->engine = e;
  x->id = e->next_id++;
  x->started_ms = x->last_activity_ms = xfer_now_ms();
  if(o->total_timeout_ms > 0)
    x->deadline_ms = x->started_ms + (double)o->total_timeout_ms;
  mc = curl_multi_add_handle(e->multi, x->easy);
  if(mc != CURLM_OK) {
    x->engine = NULL;
    snprintf(err, errlen, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    goto fail;
  }
  e->running++;
  x->next = e->xfers;
  if(e->xfers)
    e->xfers->prev = x;
  e->xfers = x;
  return x;

nomem:
  snprintf(err, errlen, "out of memory");
fail:
  if(x) {
    kit_free(&x->kit);
    evs_decoder_free(&x->dec);
    bytes_free(&x->out);
    free(x);
  }
  return NULL;
}

void xfer_abort(struct xfer *x)
{
  finish(x, XFER_FAILED, XFER_ERR_ABORTED, "the transfer was closed");
}

void xfer_free(struct xfer *x)
{
  if(!x)
    return;
  xfer_abort(x);
  if(x->engine) {
    unlink_changed(x);
    if(x->prev)
      x->prev->next = x->next;
    else
      x->engine->xfers = x->next;
    if(x->next)
      x->next->prev = x->prev;
    /* finished above, so no longer in the multi handle */
    kit_put(x->engine, &x->kit);
    x->easy = NULL;
    release_if_due(x->engine);
    x->engine = NULL;
  }
  kit_free(&x->kit);
  evs_decoder_free(&x->dec);
  bytes_free(&x->header_text);
  bytes_free(&x->body);
  bytes_free(&x->ready);
  bytes_free(&x->out);
  free(x->hdrs);
  free(x);
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
    /* The reader caught up. Resuming may run the write callback right here
    ** and grow the queue; that is safe now because the frame handed out by
    ** the previous call is no longer promised to stay put. */
    x->paused = 0;
    x->last_activity_ms = xfer_now_ms();
    apply_pause(x);
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

int xfer_send(struct xfer *x, const void *data, size_t len, size_t *pending)
{
  if(!x->duplex || x->state != XFER_RUNNING || !x->engine || x->out_ended)
    return -1;
  if(len && bytes_append(&x->out, data, len, (size_t)-1))
    return -2;
  *pending = x->out.len - x->out.off;
  if(*pending >= x->out_high_water)
    x->out_full = 1;
  if(x->send_paused && len) {
    x->send_paused = 0;
    apply_pause(x);
  }
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
    if(x->send_paused) {
      x->send_paused = 0;
      apply_pause(x);
    }
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
