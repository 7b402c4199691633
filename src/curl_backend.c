/*
** curl_backend.c: libcurl as a backend of the engine (struct xfer_backend,
** see xfer.h), in the bedrock.curl module. It carries the transfers our
** own HTTP/1.1 client does not: duplex sessions (HTTP/2) and requests the
** environment sends through a proxy.
**
** libcurl moves the bytes; the response they make (status, headers, the
** body or the event stream, the pause at the high-water mark) and the
** input queue of a duplex transfer are xfer.c's. What is libcurl's own
** lives in x->impl (struct curl_xfer). No Lua here.
*/
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "xfer.h"

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

/* Easy handles kept for reuse: curl_easy_reset is a fraction of
** curl_easy_init plus curl_easy_cleanup. A few cover the sequential case. */
#define IDLE_EASY 4

/* Parsed URLs handed to libcurl as CURLOPT_CURLU, so that a client's
** requests to the same few URLs are not parsed again each time. libcurl
** may read a handle until the transfer using it ends, so an entry is never
** changed or freed before the engine. */
#define URL_CACHE 16

struct url_entry {
  char *text;
  CURLU *handle;
};

struct curl_engine;

/* x->impl */
struct curl_xfer {
  struct xfer *x;
  struct curl_engine *ce;         /* NULL once the engine went first */
  struct curl_xfer *prev, *next;  /* the engine's transfers, for nudges and engine_free */
  struct easy_kit kit;            /* the handle, its kept options, the header list */
  int in_multi;                   /* kit.easy is on the multi handle */
  char errbuf[CURL_ERROR_SIZE];
  int send_paused;                /* on_read returned CURL_READFUNC_PAUSE */
  int resend_refused;             /* libcurl wanted to send it again (see on_prereq) */
  int socket_errno;               /* why socket() failed (EMFILE...), 0: it did not */
  double nudged_ms;               /* duplex: last nudge_duplex */
};

struct curl_engine {
  CURLM *multi;
  struct easy_kit idle[IDLE_EASY];
  int nidle;
  struct url_entry urls[URL_CACHE];
  int nurls;
  struct curl_xfer *xfers;        /* every transfer whose impl is ours */
  long max_connections;           /* 0: libcurl's own */
  long idle_timeout_s;            /* CURLOPT_MAXAGE_CONN of new transfers; 0: libcurl's */
};

#define IMPL(x) ((struct curl_xfer *)(x)->impl)

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
static int kit_take(struct curl_engine *ce, const struct xfer_options *o,
                    struct easy_kit *out, int *fits)
{
  int i;
  for(i = ce->nidle - 1; i >= 0 && !kit_fits(&ce->idle[i], o); i--)
    ;
  *fits = i >= 0;
  if(i < 0)
    i = ce->nidle - 1;
  if(i >= 0) {
    *out = ce->idle[i];
    ce->idle[i] = ce->idle[--ce->nidle];
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
static void kit_put(struct curl_engine *ce, struct easy_kit *k)
{
  if(ce->nidle >= IDLE_EASY || k->prof.method == KIT_NONE) {
    kit_free(k);
    return;
  }
  curl_easy_setopt(k->easy, CURLOPT_PRIVATE, NULL);
  curl_easy_setopt(k->easy, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(k->easy, CURLOPT_HEADERDATA, NULL);
  curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(k->easy, CURLOPT_PREREQDATA, NULL);
  curl_easy_setopt(k->easy, CURLOPT_OPENSOCKETDATA, NULL);
  ce->idle[ce->nidle++] = *k;
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
    IMPL(x)->resend_refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  x->connected = 1;
  x->sends++;
  x->last_activity_ms = xfer_now_ms();
  return CURL_PREREQFUNC_OK;
}

/* libcurl hands over each header line with its CRLF, the status lines of
** 1xx responses and the blank lines too. Returning less than n fails the
** transfer (CURLE_WRITE_ERROR) with what xfer.c recorded. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb, len = n, nlen;
  const char *colon;
  x->last_activity_ms = xfer_now_ms();
  while(len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
    len--;
  if(len >= 5 && !memcmp(ptr, "HTTP/", 5)) {
    const char *sp = memchr(ptr, ' ', len);
    long code = 0;
    if(sp) {
      size_t i = (size_t)(sp - ptr) + 1;
      int digits = 0;
      while(i < len && digits < 3 && isdigit((unsigned char)ptr[i])) {
        code = code * 10 + (ptr[i] - '0');
        i++;
        digits++;
      }
      if(digits != 3)
        code = 0;
    }
    xfer_response_start(x, code);
    return n;
  }
  if(len == 0) {
    xfer_response_headers_end(x);
    return n;
  }
  colon = memchr(ptr, ':', len);
  if(!colon)
    return n;
  nlen = (size_t)(colon - ptr);
  if(xfer_response_header(x, ptr, nlen, colon + 1, len - nlen - 1))
    return 0;
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb;
  x->last_activity_ms = xfer_now_ms();
  switch(xfer_response_body(x, ptr, n)) {
  case XFER_TAKE_ALL:
    return n;
  case XFER_TAKE_PAUSE:
    /* libcurl keeps these bytes and hands them over again after resume */
    return CURL_WRITEFUNC_PAUSE;
  default:
    return 0;                     /* on_done fails it with the recorded error */
  }
}

/* Duplex request body: whatever the caller queued. An empty queue pauses
** the upload until input (more queued, or the end) resumes it. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
  struct xfer *x = ud;
  int ended = 0;
  size_t got = xfer_input_take(x, buf, size * nitems, &ended);
  if(got || ended)
    return got;
  IMPL(x)->send_paused = 1;
  return CURL_READFUNC_PAUSE;
}

/* libcurl keeps one pause state for both directions: set it from ours. */
static void apply_pause(struct xfer *x)
{
  struct curl_xfer *cx = IMPL(x);
  curl_easy_pause(cx->kit.easy, (x->paused ? CURLPAUSE_RECV : 0) |
                                (cx->send_paused ? CURLPAUSE_SEND : 0));
}

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
  if(s == CURL_SOCKET_BAD && x)
    IMPL(x)->socket_errno = errno;
  return s;
}

/* libcurl 7.88 can miss the end of an HTTP/2 response that arrives before
** our own END_STREAM went out (its upload side still waits to send; seen
** every time when the server answers the end-of-input envelope first), and
** then nothing on the socket ever wakes the transfer again. A pause toggle
** makes libcurl run the transfer once more, which finds the stream closed.
** Duplex transfers get one after every XFER_DUPLEX_NUDGE_MS of silence. */
#define XFER_DUPLEX_NUDGE_MS 100.0

static double next_nudge_ms(const struct curl_xfer *cx)
{
  const struct xfer *x = cx->x;
  double since = x->last_activity_ms > cx->nudged_ms ? x->last_activity_ms : cx->nudged_ms;
  return since + XFER_DUPLEX_NUDGE_MS;
}

static void nudge_duplex(struct curl_xfer *cx, double now)
{
  struct xfer *x = cx->x;
  cx->nudged_ms = now;
  if(cx->send_paused)
    cx->send_paused = 0;          /* on_read pauses again if still empty */
  else
    curl_easy_pause(cx->kit.easy, CURLPAUSE_SEND | (x->paused ? CURLPAUSE_RECV : 0));
  apply_pause(x);
}

/* ---- the engine ---- */

/* The multi handle's own options: set on a new one, and again on the
** handle that replaces it in a release. */
static int apply_multi_limits(struct curl_engine *ce)
{
  /* one connection per host is not a limit we want: streams run side by
  ** side; with max_connections, the queue takes what is over it */
  if(curl_multi_setopt(ce->multi, CURLMOPT_MAXCONNECTS,
                       ce->max_connections ? ce->max_connections : 1024L) != CURLM_OK)
    return -1;
  if(ce->max_connections &&
     curl_multi_setopt(ce->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                       ce->max_connections) != CURLM_OK)
    return -1;
  return 0;
}

static void *cb_engine_new(void)
{
  struct curl_engine *ce;
  static int global_done = 0;
  if(!global_done) {
    /* curl_global_init is idempotent in libcurl >= 7.84 and thread-safe there */
    if(curl_global_init(CURL_GLOBAL_DEFAULT))
      return NULL;
    global_done = 1;
  }
  ce = calloc(1, sizeof(*ce));
  if(!ce)
    return NULL;
  ce->multi = curl_multi_init();
  if(!ce->multi) {
    free(ce);
    return NULL;
  }
  apply_multi_limits(ce);
  return ce;
}

static void cb_engine_free(void *be)
{
  struct curl_engine *ce = be;
  struct curl_xfer *cx, *next;
  if(!ce)
    return;
  /* the transfers were stopped (off the multi handle); their impl outlives
  ** the engine until free_xfer, without the parsed URL it may point to */
  for(cx = ce->xfers; cx; cx = next) {
    next = cx->next;
    if(cx->in_multi) {
      curl_multi_remove_handle(ce->multi, cx->kit.easy);
      cx->in_multi = 0;
    }
    if(cx->kit.easy)
      curl_easy_setopt(cx->kit.easy, CURLOPT_CURLU, NULL);
    cx->ce = NULL;
    cx->prev = cx->next = NULL;
  }
  while(ce->nidle > 0)
    kit_free(&ce->idle[--ce->nidle]);
  while(ce->nurls > 0) {
    struct url_entry *u = &ce->urls[--ce->nurls];
    curl_url_cleanup(u->handle);
    free(u->text);
  }
  curl_multi_cleanup(ce->multi);
  free(ce);
}

static int cb_set_limits(void *be, long max_connections, long idle_timeout_s)
{
  struct curl_engine *ce = be;
  if(max_connections < 0 || idle_timeout_s < 0)
    return -1;
  if(max_connections)
    ce->max_connections = max_connections;
  if(idle_timeout_s)
    ce->idle_timeout_s = idle_timeout_s;
  return apply_multi_limits(ce);
}

/* A new multi handle in place of the old one: curl_multi_cleanup closes
** every connection the old one kept. xfer.c calls it only when none of our
** transfers runs, so none is on the old handle. */
static int cb_release(void *be)
{
  struct curl_engine *ce = be;
  CURLM *fresh = curl_multi_init();
  if(!fresh)
    return -1;
  curl_multi_cleanup(ce->multi);
  ce->multi = fresh;
  return apply_multi_limits(ce);
}

/* ---- transfers ---- */

static void unlink_xfer(struct curl_xfer *cx)
{
  struct curl_engine *ce = cx->ce;
  if(!ce)
    return;
  if(cx->prev)
    cx->prev->next = cx->next;
  else
    ce->xfers = cx->next;
  if(cx->next)
    cx->next->prev = cx->prev;
  cx->prev = cx->next = NULL;
}

/* Options of the hardening work, set apart from the request path's own.
** A credential endpoint (IMDS, the container's) is fetched directly: an
** empty CURLOPT_PROXY overrides http_proxy / all_proxy from the
** environment, so neither the token sent nor the keys returned pass
** through a proxy (botocore's container fetcher uses none either). */
static int apply_hardening(struct curl_engine *ce, struct xfer *x,
                           const struct xfer_options *o)
{
  CURL *easy = IMPL(x)->kit.easy;
  /* set on every request: a kept handle must not carry the empty proxy
  ** into a request that may use one (NULL restores the environment's) */
  if(curl_easy_setopt(easy, CURLOPT_PROXY, o->no_proxy ? "" : NULL) != CURLE_OK)
    return -1;
  if(ce->idle_timeout_s &&
     curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, ce->idle_timeout_s) != CURLE_OK)
    return -1;
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, x);
  return 0;
}

/* The parsed handle of url, from the engine's cache or parsed into it;
** NULL when the cache is full or libcurl would not parse the URL here
** (CURLOPT_URL then does, and reports what is wrong with it). */
static CURLU *url_handle(struct curl_engine *ce, const char *url)
{
  struct url_entry *u;
  int i;
  for(i = 0; i < ce->nurls; i++)
    if(!strcmp(ce->urls[i].text, url))
      return ce->urls[i].handle;
  if(ce->nurls >= URL_CACHE)
    return NULL;
  u = &ce->urls[ce->nurls];
  u->handle = curl_url();
  u->text = strdup(url);
  /* the flags libcurl uses itself when it parses CURLOPT_URL */
  if(!u->handle || !u->text ||
     curl_url_set(u->handle, CURLUPART_URL, url,
                  CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    curl_url_cleanup(u->handle);
    free(u->text);
    u->handle = NULL;
    u->text = NULL;
    return NULL;
  }
  ce->nurls++;
  return u->handle;
}

/* Set the options a request keeps on its handle (see struct easy_kit),
** on a handle fresh from curl_easy_init or curl_easy_reset, and record them
** as the kit's profile. */
static int configure(struct curl_xfer *cx, const struct xfer_options *o,
                     char *err, size_t errlen)
{
  struct easy_profile *prof = &cx->kit.prof;
  CURL *easy = cx->kit.easy;
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Redirects are not followed (libcurl's default, stated here), so an
  ** https endpoint is never left for an http one the user did not give. */
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  /* Through a proxy, the CONNECT reply is the proxy's, not the server's:
  ** it must not start the response. */
  curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  /* TLS verification is always on: peer chain and host name. */
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if(o->ca_file && curl_easy_setopt(easy, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) {
    snprintf(err, errlen, "libcurl refused the CA file");
    return -1;
  }
  if(o->ca_path && curl_easy_setopt(easy, CURLOPT_CAPATH, o->ca_path) != CURLE_OK) {
    snprintf(err, errlen, "libcurl refused the CA directory");
    return -1;
  }
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  /* HTTP/1.1 on keep-alive connections, as botocore does (libcurl would
  ** offer h2 over TLS by default): one request per connection at a time,
  ** which is what the pool and the fault handling assume. Duplex transfers
  ** switch to HTTP/2 below. */
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if(o->stream)
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE,
                     o->duplex ? XFER_DUPLEX_BUFFER : (long)XFER_STREAM_BUFFER);
  /* NAT gateways drop idle flows after 350 s: probe well before that */
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 60L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 30L);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
  if(o->connect_timeout_ms > 0)
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  if(o->duplex) {
    /* full duplex needs HTTP/2: ALPN over TLS, prior knowledge in clear */
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     strncasecmp(o->url, "https:", 6)
                       ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                       : (long)CURL_HTTP_VERSION_2TLS);
    /* One connection per session, never shared: libcurl 7.88.1 fails a
    ** second stream on a reused HTTP/2 connection ("Error in the HTTP2
    ** framing layer" before anything is sent; seen with prior knowledge
    ** against nghttpd and the curl tool too). A session lasts minutes, so
    ** the handshake it costs is small beside it. */
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
  }
  if(strcmp(o->method, "POST") && strcmp(o->method, "GET"))
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, o->method);
  else if(!strcmp(o->method, "GET") && !o->body_len)
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);

  prof->method = kit_method_of(o);
  prof->stream = o->stream != 0;
  prof->connect_timeout_ms = o->connect_timeout_ms;
  if((o->ca_file && !(prof->ca_file = strdup(o->ca_file))) ||
     (o->ca_path && !(prof->ca_path = strdup(o->ca_path))))
    profile_clear(prof);          /* out of memory: not kept, nothing lost */
  return 0;
}

static int cb_start(void *be, struct xfer *x, const struct xfer_options *o,
                    char *err, size_t errlen)
{
  struct curl_engine *ce = be;
  struct curl_xfer *cx;
  CURL *easy;
  CURLMcode mc;
  int fits;

  cx = calloc(1, sizeof(*cx));
  if(!cx) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  cx->x = x;
  x->impl = cx;
  if(kit_take(ce, o, &cx->kit, &fits)) {
    snprintf(err, errlen, "out of memory");
    return -1;                    /* the caller frees x, and cx through free_xfer */
  }
  easy = cx->kit.easy;
  if(kit_headers(&cx->kit, o, err, errlen))
    return -1;
  if(!fits && configure(cx, o, err, errlen))
    return -1;

  /* Set on every request, after configure() or without it (a handle
  ** whose profile fits skips it): what differs from one request to the
  ** next, and every option that points at x (a ...DATA pointer). An option
  ** added to configure() must also be part of struct easy_profile, or a
  ** handle would carry it into a request that did not ask for it. */
  {
    CURLU *u = url_handle(ce, o->url);
    curl_easy_setopt(easy, CURLOPT_CURLU, u);
    if(!u)
      curl_easy_setopt(easy, CURLOPT_URL, o->url);
  }
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, cx->errbuf);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, cx->kit.nodes);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
  if(apply_hardening(ce, x, o)) {
    snprintf(err, errlen, "libcurl refused a connection option");
    return -1;
  }
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, x);
  if(o->duplex)
    curl_easy_setopt(easy, CURLOPT_READDATA, x);   /* xfer.c queued the body in x->out */
  else if(!strcmp(o->method, "POST") || o->body_len) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, o->body ? (const char *)o->body : "");
  }

  mc = curl_multi_add_handle(ce->multi, easy);
  if(mc != CURLM_OK) {
    snprintf(err, errlen, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return -1;
  }
  cx->in_multi = 1;
  cx->ce = ce;
  cx->next = ce->xfers;
  if(ce->xfers)
    ce->xfers->prev = cx;
  ce->xfers = cx;
  return 0;
}

/* Off the multi handle: a premature removal makes libcurl close the
** connection rather than reuse a half-read one; a transfer libcurl
** reported done leaves its connection in the pool. */
static void cb_stop(void *be, struct xfer *x)
{
  struct curl_xfer *cx = IMPL(x);
  if(!cx || !cx->in_multi)
    return;
  (void)be;
  curl_multi_remove_handle(cx->ce->multi, cx->kit.easy);
  cx->in_multi = 0;
}

static void cb_free_xfer(void *be, struct xfer *x)
{
  struct curl_engine *ce = be;
  struct curl_xfer *cx = IMPL(x);
  if(!cx)
    return;
  if(cx->ce) {
    if(cx->in_multi) {
      curl_multi_remove_handle(cx->ce->multi, cx->kit.easy);
      cx->in_multi = 0;
    }
    unlink_xfer(cx);
  }
  if(ce && cx->kit.easy)
    kit_put(ce, &cx->kit);
  kit_free(&cx->kit);
  free(cx);
  x->impl = NULL;
}

static void cb_resume(void *be, struct xfer *x)
{
  (void)be;
  if(IMPL(x) && IMPL(x)->in_multi)
    apply_pause(x);
}

static void cb_input(void *be, struct xfer *x)
{
  struct curl_xfer *cx = IMPL(x);
  (void)be;
  if(cx && cx->in_multi && cx->send_paused) {
    cx->send_paused = 0;
    apply_pause(x);
  }
}

static long cb_timeout_ms(void *be)
{
  struct curl_engine *ce = be;
  struct curl_xfer *cx;
  long t = -1;
  double now = 0, nudge = -1;
  curl_multi_timeout(ce->multi, &t);
  for(cx = ce->xfers; cx; cx = cx->next) {
    if(cx->in_multi && cx->x->duplex && cx->x->state == XFER_RUNNING) {
      double d = next_nudge_ms(cx);
      if(nudge < 0 || d < nudge)
        nudge = d;
    }
  }
  if(nudge >= 0) {
    long until;
    now = xfer_now_ms();
    until = nudge > now ? (long)(nudge - now) + 1 : 0;
    if(t < 0 || until < t)
      t = until;
  }
  return t;
}

/* curl_multi_poll and poll() spell the events alike on Linux; spelled
** out anyway, so that nothing rests on it. */
static short to_curl_events(short ev)
{
  return (short)(((ev & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                 ((ev & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
                 ((ev & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
}

static short from_curl_events(short ev)
{
  return (short)(((ev & CURL_WAIT_POLLIN) ? POLLIN : 0) |
                 ((ev & CURL_WAIT_POLLPRI) ? POLLPRI : 0) |
                 ((ev & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
}

#define WAIT_EXTRA_STACK 8

static int cb_wait(void *be, struct pollfd *extra, int nextra, long timeout_ms,
                   char *err, size_t errlen)
{
  struct curl_engine *ce = be;
  struct curl_waitfd small[WAIT_EXTRA_STACK], *w = small;
  CURLMcode mc;
  int i;
  if(nextra > WAIT_EXTRA_STACK) {
    w = malloc((size_t)nextra * sizeof(*w));
    if(!w) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
  }
  for(i = 0; i < nextra; i++) {
    w[i].fd = extra[i].fd;
    w[i].events = to_curl_events(extra[i].events);
    w[i].revents = 0;
  }
  if(timeout_ms < 0)
    timeout_ms = 0;
  if(timeout_ms > 0x7fffffffL)
    timeout_ms = 0x7fffffffL;
  mc = curl_multi_poll(ce->multi, nextra ? w : NULL, (unsigned)nextra, (int)timeout_ms, NULL);
  for(i = 0; i < nextra; i++)
    extra[i].revents = mc == CURLM_OK ? from_curl_events(w[i].revents) : 0;
  if(w != small)
    free(w);
  if(mc != CURLM_OK) {
    snprintf(err, errlen, "curl_multi_poll: %s", curl_multi_strerror(mc));
    return -1;
  }
  return 0;
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

/* libcurl reported the transfer done: rc says how. */
static void on_done(struct xfer *x, CURLcode rc)
{
  struct curl_xfer *cx = IMPL(x);
  const char *why = cx->errbuf[0] ? cx->errbuf : curl_easy_strerror(rc);
  char msg[CURL_ERROR_SIZE + 128];

  if(x->state != XFER_RUNNING)
    return;
  if(rc == CURLE_OK) {
    xfer_response_end(x);
    return;
  }
  if(rc == CURLE_ABORTED_BY_CALLBACK && cx->resend_refused) {
    xfer_fail(x, XFER_ERR_RESET,
              "the connection closed before any reply (the request may have reached the server)");
    return;
  }
  if(rc == CURLE_WRITE_ERROR && x->error != XFER_OK) {
    /* our own header or write callback refused: xfer.c recorded why */
    xfer_fail(x, x->error, NULL);
    return;
  }
  if(rc == CURLE_OPERATION_TIMEDOUT) {
    /* libcurl times out the connect only (the other limits are xfer.c's):
    ** no connection yet means nothing was sent, so the caller may retry */
    x->connect_phase = !x->connected;
    x->timeout = x->connected ? XFER_TIMEOUT_READ : XFER_TIMEOUT_CONNECT;
  }
  if(cx->socket_errno == EMFILE || cx->socket_errno == ENFILE) {
    snprintf(msg, sizeof(msg), "too many open files: %s (%s): no socket for a new "
             "connection; lower max_pool_connections or raise the limit (ulimit -n)",
             strerror(cx->socket_errno),
             cx->socket_errno == EMFILE ? "EMFILE, this process" : "ENFILE, the system");
    xfer_fail(x, XFER_ERR_CONNECT, msg);
    return;
  }
  switch(classify(rc)) {
  case XFER_ERR_REQUEST:
    snprintf(msg, sizeof(msg), "libcurl could not make the request: %s%s", why,
             rc == CURLE_OUT_OF_MEMORY ? " (a header or the URL is likely too large)" : "");
    xfer_fail(x, XFER_ERR_REQUEST, msg);
    break;
  case XFER_ERR_TLS:
    snprintf(msg, sizeof(msg), "TLS certificate verification failed: %s", why);
    xfer_fail(x, XFER_ERR_TLS, msg);
    break;
  default:
    xfer_fail(x, classify(rc), why);
    break;
  }
}

static int cb_perform(void *be, char *err, size_t errlen)
{
  struct curl_engine *ce = be;
  struct curl_xfer *cx, *next;
  CURLMsg *m;
  CURLMcode mc;
  int still = 0, left = 0;
  double now;

  mc = curl_multi_perform(ce->multi, &still);
  if(mc != CURLM_OK) {
    snprintf(err, errlen, "curl_multi_perform: %s", curl_multi_strerror(mc));
    return -1;
  }
  while((m = curl_multi_info_read(ce->multi, &left))) {
    if(m->msg == CURLMSG_DONE) {
      char *ud = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &ud);
      if(ud)
        on_done((struct xfer *)(void *)ud, m->data.result);
    }
  }
  now = xfer_now_ms();
  for(cx = ce->xfers; cx; cx = next) {
    next = cx->next;
    if(cx->in_multi && cx->x->duplex && cx->x->state == XFER_RUNNING &&
       now >= next_nudge_ms(cx))
      nudge_duplex(cx, now);
  }
  return 0;
}

const struct xfer_backend xfer_curl_backend = {
  XFER_BACKEND_ABI,
  sizeof(struct xfer),
  sizeof(struct xfer_options),
  sizeof(struct xfer_engine),
  "libcurl",
  cb_engine_new,
  cb_engine_free,
  cb_set_limits,
  cb_release,
  cb_start,
  cb_stop,
  cb_free_xfer,
  cb_resume,
  cb_input,
  cb_timeout_ms,
  NULL,                           /* pollfds: libcurl is the one that waits */
  cb_wait,
  cb_perform
};
