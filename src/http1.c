/*
** http1.c: the HTTP/1.1 backend of bedrock.core (see xfer.h): keep-alive
** connections over non-blocking sockets (TLS through tls.h, name lookups
** through resolve.h), one epoll descriptor per engine, one request per
** connection at a time.
**
** A transfer either has a connection (a kept one that passed its liveness
** check, or a new one being set up for it), or waits in the engine's FIFO
** queue while max_connections are open. A connection carries its request
** in one buffer it keeps, so a keep-alive request allocates nothing here,
** and its response is read into a buffer it keeps too, parsed by
** http1_parse.c, and handed to xfer.c's response functions.
**
** Re-entry: xfer_response_end and xfer_fail end the transfer, and ending
** calls our stop(), which pools or closes the connection. So code that
** calls them returns at once, touching nothing of the connection. Failures
** found while a transfer starts (a refused connect, no descriptor) are
** only recorded and reported by the next perform: start must not end the
** transfer it was given.
*/
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http1_parse.h"
#include "resolve.h"
#include "tls.h"
#include "xfer.h"

#define READ_BUFFER (16u * 1024u)       /* a connection's read buffer to start with */
#define MAX_EVENTS 64
#define MAX_HEAD (1024u * 1024u)        /* request line and headers, as libcurl's buffer */
#define MAX_HOST 255
#define DEFAULT_CONNECT_MS 300000L      /* libcurl's connect timeout */
#define DEFAULT_IDLE_S 118L             /* libcurl's CURLOPT_MAXAGE_CONN */
#define SPARE_XFERS 16

#define RESET_BEFORE_REPLY \
  "the connection closed before any reply (the request may have reached the server)"

struct h1_engine;

/* the trust settings of a TLS context, the context made for them */
struct tls_entry {
  struct tls_entry *next;
  char *ca_file, *ca_path;
  struct tls_ctx *ctx;
};

enum conn_state {
  C_RESOLVING = 0,      /* the name lookup runs (its descriptor is polled) */
  C_CONNECTING,         /* a non-blocking connect to one of the addresses */
  C_HANDSHAKE,          /* TLS */
  C_ACTIVE,             /* carries a request and its response */
  C_IDLE                /* in the pool */
};

struct h1_xfer;

struct conn {
  struct h1_engine *h;
  struct conn *prev, *next;           /* every connection of the engine */
  struct conn *iprev, *inext;         /* the idle list, newest first */
  struct conn *svc_next;              /* the service list (see struct h1_engine) */
  int in_svc;                         /* 1: on svc, 2: on svc_run */
  enum conn_state state;
  int fd;
  uint32_t events;                    /* what epoll watches on fd (or the lookup's descriptor) */
  int watched;                        /* a descriptor is registered */

  /* the pool key */
  char host[MAX_HOST + 1];            /* as in the URL, no brackets */
  int port;
  int https;
  struct tls_entry *tls;
  struct tls_conn *t;

  /* setting up */
  struct resolve *res;
  const struct addrinfo *ai;          /* the address being tried */
  int last_errno;
  double started_ms;
  double deadline_ms;                 /* the connect timeout */
  long connect_timeout_ms;

  /* the transfer it carries, and its response */
  struct h1_xfer *cur;
  struct h1_parser parser;
  int got_bytes;                      /* a byte of the response arrived */
  int reused;                         /* carried a request before this one */
  int complete;                       /* the response was read whole */
  int reusable;                       /* ...and the connection may carry another */
  double idle_since_ms;

  /* the request: head and body, from off */
  char *req;
  size_t req_len, req_off, req_cap;

  /* the read buffer: bytes [roff, rlen) not parsed yet; [pend_off,
  ** pend_off + pend_len) body bytes parsed but refused (the reader is
  ** behind), offered again on resume */
  char *rbuf;
  size_t rcap, rlen, roff;
  size_t pend_off, pend_len;
};

enum h1x_state { T_NEW = 0, T_QUEUED, T_ACTIVE, T_FAILING, T_ENDED };

struct h1_xfer {
  struct h1_engine *h;
  struct xfer *x;
  struct h1_xfer *qprev, *qnext;      /* the queue or the failing list */
  enum h1x_state state;
  struct conn *c;

  /* where it goes */
  char host[MAX_HOST + 1];
  int port;
  int https;
  struct tls_entry *tls;
  int head;                           /* a HEAD request: no body in the response */
  long connect_timeout_ms;

  /* the request while queued (a connection takes the buffer over) */
  char *req;
  size_t req_len, req_cap;

  /* a failure recorded before the transfer could be ended */
  enum xfer_error ferr;
  int fconnect;                       /* failed before a connection was up */
  enum xfer_timeout ftimeout;
  char fmsg[XFER_DETAIL_SIZE];
};

struct h1_engine {
  int epfd;
  struct epoll_event evs[MAX_EVENTS];
  int nev, ev_i, waited;
  struct pollfd pfd;

  struct conn *conns;
  struct conn *idle;
  int nconns, nidle, nsetup;          /* open, idle, being set up */
  long max_connections;               /* 0: no cap */
  long idle_timeout_s;

  struct h1_xfer *qhead, *qtail;      /* waiting for a connection, FIFO */
  struct h1_xfer *fhead, *ftail;      /* failed in start, to be ended by perform */
  struct conn *svc;                   /* connections with work and no event to
                                      ** wake them: bytes TLS decrypted already, a
                                      ** resumed reader's kept bytes */
  struct conn *svc_run;               /* the part of it perform is working through */
  struct h1_xfer *spare;              /* freed transfer states, for the next ones */
  int nspare;
  struct tls_entry *tls;
};

/* ---- lists ---- */

static void t_list_push(struct h1_xfer **head, struct h1_xfer **tail, struct h1_xfer *t)
{
  t->qnext = NULL;
  t->qprev = *tail;
  if(*tail)
    (*tail)->qnext = t;
  else
    *head = t;
  *tail = t;
}

static void t_list_remove(struct h1_xfer **head, struct h1_xfer **tail, struct h1_xfer *t)
{
  if(t->qprev)
    t->qprev->qnext = t->qnext;
  else
    *head = t->qnext;
  if(t->qnext)
    t->qnext->qprev = t->qprev;
  else
    *tail = t->qprev;
  t->qprev = t->qnext = NULL;
}

static void svc_add(struct conn *c)
{
  if(c->in_svc)
    return;
  c->in_svc = 1;
  c->svc_next = c->h->svc;
  c->h->svc = c;
}

static void svc_remove(struct conn *c)
{
  struct conn **p;
  if(!c->in_svc)
    return;
  for(p = c->in_svc == 2 ? &c->h->svc_run : &c->h->svc; *p; p = &(*p)->svc_next)
    if(*p == c) {
      *p = c->svc_next;
      break;
    }
  c->in_svc = 0;
  c->svc_next = NULL;
}

static void idle_remove(struct conn *c)
{
  struct h1_engine *h = c->h;
  if(c->iprev)
    c->iprev->inext = c->inext;
  else
    h->idle = c->inext;
  if(c->inext)
    c->inext->iprev = c->iprev;
  c->iprev = c->inext = NULL;
  h->nidle--;
}

/* ---- epoll ---- */

static int watch_fd(const struct conn *c)
{
  return c->state == C_RESOLVING ? resolve_fd(c->res) : c->fd;
}

static int set_events(struct conn *c, uint32_t ev)
{
  struct epoll_event e;
  if(c->watched && c->events == ev)
    return 0;
  memset(&e, 0, sizeof(e));
  e.events = ev;
  e.data.ptr = c;
  if(epoll_ctl(c->h->epfd, c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, watch_fd(c), &e))
    return -1;
  c->watched = 1;
  c->events = ev;
  return 0;
}

static void unwatch(struct conn *c)
{
  if(c->watched) {
    struct epoll_event e;
    memset(&e, 0, sizeof(e));
    epoll_ctl(c->h->epfd, EPOLL_CTL_DEL, watch_fd(c), &e);
    c->watched = 0;
    c->events = 0;
  }
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
  struct h1_engine *h = c->h;
  int i;
  svc_remove(c);
  unwatch(c);
  if(c->state == C_IDLE)
    idle_remove(c);
  if(c->state < C_ACTIVE)
    h->nsetup--;
  if(c->res)
    resolve_free(c->res);
  if(c->t)
    tls_conn_free(c->t);
  if(c->fd >= 0)
    close(c->fd);
  if(c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if(c->next)
    c->next->prev = c->prev;
  h->nconns--;
  /* an event of this batch may still name it */
  for(i = h->ev_i + 1; i < h->nev; i++)
    if(h->evs[i].data.ptr == c)
      h->evs[i].data.ptr = NULL;
  if(c->cur)
    c->cur->c = NULL;
  free(c->req);
  free(c->rbuf);
  free(c);
}

static struct conn *conn_new(struct h1_engine *h, const struct h1_xfer *t)
{
  struct conn *c = calloc(1, sizeof(*c));
  if(!c)
    return NULL;
  c->rbuf = malloc(READ_BUFFER);
  if(!c->rbuf) {
    free(c);
    return NULL;
  }
  c->rcap = READ_BUFFER;
  c->h = h;
  c->fd = -1;
  memcpy(c->host, t->host, sizeof(c->host));
  c->port = t->port;
  c->https = t->https;
  c->tls = t->tls;
  c->state = C_RESOLVING;
  c->next = h->conns;
  if(h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  h->nsetup++;
  return c;
}

static int same_key(const struct conn *c, const struct h1_xfer *t)
{
  return c->port == t->port && c->https == t->https && c->tls == t->tls &&
         !strcasecmp(c->host, t->host);
}

/* A kept connection can carry a request: the server has not closed it and
** has sent nothing (an idle HTTP/1.1 connection receives no bytes; with
** TLS, a late session ticket is read and is fine). */
static int idle_alive(struct conn *c)
{
  char b;
  ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if(n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if(n == 0 || !c->t)
    return 0;
  {
    char msg[64];
    size_t done = 0;
    enum tls_rc rc = tls_read(c->t, c->rbuf, c->rcap, &done, msg, sizeof(msg));
    return rc == TLS_WANT_READ && tls_pending(c->t) == 0;
  }
}

static long idle_timeout_ms(const struct h1_engine *h)
{
  return (h->idle_timeout_s ? h->idle_timeout_s : DEFAULT_IDLE_S) * 1000L;
}

/* Close the idle connections that aged past the idle timeout. */
static void expire_idle(struct h1_engine *h, double now)
{
  struct conn *c, *next;
  double limit = (double)idle_timeout_ms(h);
  for(c = h->idle; c; c = next) {
    next = c->inext;
    if(now - c->idle_since_ms > limit)
      conn_close(c);
  }
}

/* ---- failing ---- */

static void too_many_files(char *buf, size_t n, int err)
{
  snprintf(buf, n, "too many open files: %s (%s): no socket for a new "
           "connection; lower max_pool_connections or raise the limit (ulimit -n)",
           strerror(err), err == EMFILE ? "EMFILE, this process" : "ENFILE, the system");
}

/* Record why t failed and hand it to the next perform (start must not end
** a transfer; elsewhere this keeps one path). Its connection is closed. */
static void fail_later(struct h1_xfer *t, enum xfer_error err, const char *msg,
                       int connect_phase, enum xfer_timeout timeout)
{
  struct h1_engine *h = t->h;
  struct conn *c = t->c;
  if(t->state == T_FAILING || t->state == T_ENDED)
    return;
  if(c) {
    c->cur = NULL;
    t->c = NULL;
    conn_close(c);
  }
  t->ferr = err;
  t->fconnect = connect_phase;
  t->ftimeout = timeout;
  snprintf(t->fmsg, sizeof(t->fmsg), "%s", msg);
  if(t->state == T_QUEUED)
    t_list_remove(&h->qhead, &h->qtail, t);
  t->state = T_FAILING;
  t_list_push(&h->fhead, &h->ftail, t);
}

static void conn_fail_later(struct conn *c, enum xfer_error err, const char *msg)
{
  if(c->cur)
    fail_later(c->cur, err, msg, c->state < C_ACTIVE, XFER_TIMEOUT_NONE);
  else
    conn_close(c);
}

/* End a transfer of the response phase now (from perform only). */
static void fail_now(struct conn *c, enum xfer_error err, const char *msg)
{
  struct xfer *x = c->cur->x;
  xfer_fail(x, err, msg);
}

/* ---- sending ---- */

/* Write what is left of the request. 0, or -1 when the transfer failed
** (recorded; the connection is gone). */
static int conn_send(struct conn *c)
{
  struct xfer *x = c->cur->x;
  while(c->req_off < c->req_len) {
    size_t n = c->req_len - c->req_off, done = 0;
    if(c->t) {
      char msg[256];
      enum tls_rc rc = tls_write(c->t, c->req + c->req_off, n, &done, msg, sizeof(msg));
      if(rc == TLS_WANT_WRITE) {
        set_events(c, EPOLLIN | EPOLLOUT);
        return 0;
      }
      if(rc == TLS_WANT_READ) {
        set_events(c, EPOLLIN);
        return 0;
      }
      if(rc != TLS_OK) {
        char m[320];
        if(c->reused && !c->got_bytes)
          snprintf(m, sizeof(m), "%s", RESET_BEFORE_REPLY);
        else
          snprintf(m, sizeof(m), "Send failure: %.250s", rc == TLS_CLOSED ? "the connection closed" : msg);
        conn_fail_later(c, XFER_ERR_RESET, m);
        return -1;
      }
    }
    else {
      ssize_t w = send(c->fd, c->req + c->req_off, n, MSG_NOSIGNAL);
      if(w < 0) {
        char m[160];
        if(errno == EAGAIN || errno == EWOULDBLOCK) {
          set_events(c, EPOLLIN | EPOLLOUT);
          return 0;
        }
        if(errno == EINTR)
          continue;
        if(c->reused && !c->got_bytes)
          snprintf(m, sizeof(m), "%s", RESET_BEFORE_REPLY);
        else
          snprintf(m, sizeof(m), "Send failure: %s", strerror(errno));
        conn_fail_later(c, XFER_ERR_RESET, m);
        return -1;
      }
      done = (size_t)w;
    }
    c->req_off += done;
    x->last_activity_ms = xfer_now_ms();
  }
  c->req_off = c->req_len = 0;
  if(!c->pend_len)
    set_events(c, EPOLLIN);
  return 0;
}

/* The connection is up (new or kept) and the request about to go out. */
static void conn_begin(struct conn *c, double now)
{
  struct xfer *x = c->cur->x;
  if(c->state < C_ACTIVE)
    c->h->nsetup--;
  c->state = C_ACTIVE;
  h1_parser_init(&c->parser, c->cur->head);
  c->got_bytes = c->complete = c->reusable = 0;
  c->roff = c->rlen = c->pend_len = 0;
  x->connected = 1;
  x->sends = 1;
  x->last_activity_ms = now;
}

static void conn_go(struct conn *c)
{
  conn_begin(c, xfer_now_ms());
  conn_send(c);
}

/* ---- setting up ---- */

static void tls_step(struct conn *c)
{
  char msg[256];
  enum tls_rc rc = tls_handshake(c->t, msg, sizeof(msg));
  if(rc == TLS_OK) {
    conn_go(c);
  }
  else if(rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
    if(set_events(c, rc == TLS_WANT_READ ? EPOLLIN : EPOLLOUT))
      conn_fail_later(c, XFER_ERR_OTHER, "epoll_ctl failed");
  }
  else if(rc == TLS_VERIFY_FAILED) {
    char m[320];
    snprintf(m, sizeof(m), "TLS certificate verification failed: %.250s", msg);
    conn_fail_later(c, XFER_ERR_TLS, m);
  }
  else {
    char m[320];
    /* tls.c's reason reads "TLS handshake failed: ..." */
    snprintf(m, sizeof(m), "%s", rc == TLS_CLOSED ? "TLS handshake failed: the server closed the connection" : msg);
    conn_fail_later(c, XFER_ERR_CONNECT, m);
  }
}

/* TCP is up: TLS, or the request. */
static void connected(struct conn *c)
{
  if(c->res)
    resolve_free(c->res);       /* its addresses are no longer needed */
  c->res = NULL;
  c->ai = NULL;
  if(c->https) {
    char msg[256];
    c->state = C_HANDSHAKE;
    c->t = tls_conn_new(c->tls->ctx, c->fd, c->host, msg, sizeof(msg));
    if(!c->t) {
      conn_fail_later(c, XFER_ERR_CONNECT, msg);
      return;
    }
    tls_step(c);
  }
  else {
    conn_go(c);
  }
}

static void set_socket_options(int fd)
{
  int one = 1, idle = 60, intvl = 30;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  /* NAT gateways drop idle flows after 350 s: probe well before that */
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_KEEPIDLE
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
#endif
#ifdef TCP_KEEPINTVL
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
#endif
  (void)idle;
  (void)intvl;
}

static void connect_failed(struct conn *c)
{
  char m[320];
  snprintf(m, sizeof(m), "Failed to connect to %.100s port %d after %.0f ms: %.100s", c->host,
           c->port, xfer_now_ms() - c->started_ms,
           c->last_errno ? strerror(c->last_errno) : "no address to connect to");
  conn_fail_later(c, XFER_ERR_CONNECT, m);
}

/* Try the addresses from c->ai on, in turn, until one connects or is
** under way. */
static void connect_next(struct conn *c)
{
  for(; c->ai; c->ai = c->ai->ai_next) {
    const struct addrinfo *a = c->ai;
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if(fd < 0) {
      if(errno == EMFILE || errno == ENFILE) {
        char m[256];
        too_many_files(m, sizeof(m), errno);
        conn_fail_later(c, XFER_ERR_CONNECT, m);
        return;
      }
      c->last_errno = errno;
      continue;
    }
    set_socket_options(fd);
    c->fd = fd;
    c->state = C_CONNECTING;
    if(connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      if(set_events(c, EPOLLIN)) {
        conn_fail_later(c, XFER_ERR_OTHER, "epoll_ctl failed");
        return;
      }
      connected(c);
      return;
    }
    if(errno == EINPROGRESS || errno == EINTR) {
      if(set_events(c, EPOLLOUT))
        conn_fail_later(c, XFER_ERR_OTHER, "epoll_ctl failed");
      return;
    }
    c->last_errno = errno;
    close(fd);
    c->fd = -1;
  }
  connect_failed(c);
}

/* The name lookup is in: connect to its addresses. */
static void resolved(struct conn *c)
{
  const char *why = NULL;
  const struct addrinfo *ai;
  unwatch(c);
  ai = resolve_result(c->res, &why);
  if(!ai) {
    char m[320];
    snprintf(m, sizeof(m), "%s", why ? why : "could not resolve the host");
    conn_fail_later(c, XFER_ERR_CONNECT, m);
    return;
  }
  c->ai = ai;
  connect_next(c);
}

/* A new connection for t: the lookup starts (and often ends at once). */
static void conn_open(struct h1_engine *h, struct conn *c)
{
  char msg[256];
  double now = xfer_now_ms();
  long limit = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : DEFAULT_CONNECT_MS;
  (void)h;
  c->started_ms = now;
  c->deadline_ms = now + (double)limit;
  errno = 0;
  c->res = resolve_start(c->host, c->port, msg, sizeof(msg));
  if(!c->res) {
    if(errno == EMFILE || errno == ENFILE)
      too_many_files(msg, sizeof(msg), errno);
    conn_fail_later(c, XFER_ERR_CONNECT, msg);
    return;
  }
  if(resolve_fd(c->res) < 0 || resolve_done(c->res)) {
    resolved(c);
    return;
  }
  if(set_events(c, EPOLLIN))
    conn_fail_later(c, XFER_ERR_OTHER, "epoll_ctl failed");
}

/* ---- receiving ---- */


/* Parse what the read buffer holds and hand it to the transfer. */
static void conn_parse(struct conn *c)
{
  struct xfer *x = c->cur->x;
  for(;;) {
    struct h1_item it;
    size_t used;
    enum h1_item_kind k = h1_parse(&c->parser, c->rbuf + c->roff, c->rlen - c->roff, &used, &it);
    c->roff += used;
    switch(k) {
    case H1_NEED_MORE:
      return;
    case H1_STATUS:
      xfer_response_start(x, it.status);
      break;
    case H1_HEADER:
      if(xfer_response_header(x, it.name, it.name_len, it.value, it.value_len)) {
        xfer_fail(x, x->error, NULL);
        return;
      }
      break;
    case H1_HEADERS_END:
      xfer_response_headers_end(x);
      break;
    case H1_BODY:
      switch(xfer_response_body(x, it.data, it.len)) {
      case XFER_TAKE_ALL:
        break;
      case XFER_TAKE_PAUSE:
        /* out of the poll set altogether: a reset would otherwise be
        ** reported again and again while we do not read */
        c->pend_off = (size_t)(it.data - c->rbuf);
        c->pend_len = it.len;
        unwatch(c);
        return;
      default:
        xfer_fail(x, x->error, NULL);
        return;
      }
      break;
    case H1_DONE:
      c->complete = 1;
      /* bytes past the response, or a request not sent whole: the
      ** connection's state is not known, it is not reused */
      c->reusable = h1_reusable(&c->parser) && c->roff == c->rlen && c->req_off == c->req_len;
      xfer_response_end(x);
      return;
    default:
      {
        char m[160];
        snprintf(m, sizeof(m), "%s", h1_strerror(it.error));
        fail_now(c, XFER_ERR_OTHER, m);
      }
      return;
    }
  }
}

static void conn_eof(struct conn *c, const char *why)
{
  struct h1_item it;
  char m[320];
  if(h1_parse_eof(&c->parser, &it) == H1_DONE) {
    c->complete = 1;
    c->reusable = 0;
    xfer_response_end(c->cur->x);
    return;
  }
  if(!c->got_bytes && c->reused)
    snprintf(m, sizeof(m), "%s", RESET_BEFORE_REPLY);
  else if(!c->got_bytes)
    snprintf(m, sizeof(m), "%s", why ? why : "Empty reply from server");
  else if(why)
    snprintf(m, sizeof(m), "%s (%s)", h1_strerror(it.error), why);
  else
    snprintf(m, sizeof(m), "%s", h1_strerror(it.error));
  fail_now(c, XFER_ERR_RESET, m);
}

/* One read into the buffer, then parse. */
static void conn_read(struct conn *c)
{
  size_t room, done = 0;
  if(c->roff) {
    /* what is left is a part of a line at most: to the front */
    size_t rest = c->rlen - c->roff;
    if(rest)
      memmove(c->rbuf, c->rbuf + c->roff, rest);
    c->rlen = rest;
    c->roff = 0;
  }
  if(c->rlen == c->rcap) {
    /* a line longer than the buffer: the parser bounds it */
    char *nb = realloc(c->rbuf, c->rcap * 2);
    if(!nb) {
      fail_now(c, XFER_ERR_OTHER, "out of memory for the response");
      return;
    }
    c->rbuf = nb;
    c->rcap *= 2;
  }
  room = c->rcap - c->rlen;
  if(c->t) {
    char msg[256];
    enum tls_rc rc = tls_read(c->t, c->rbuf + c->rlen, room, &done, msg, sizeof(msg));
    if(rc == TLS_WANT_READ) {
      set_events(c, EPOLLIN | (c->req_off < c->req_len ? EPOLLOUT : 0));
      return;
    }
    if(rc == TLS_WANT_WRITE) {
      set_events(c, EPOLLIN | EPOLLOUT);
      return;
    }
    if(rc == TLS_CLOSED) {
      conn_eof(c, NULL);
      return;
    }
    if(rc != TLS_OK) {
      char m[320];
      snprintf(m, sizeof(m), "Recv failure: %.250s", msg);
      if(!c->got_bytes && c->reused)
        snprintf(m, sizeof(m), "%s", RESET_BEFORE_REPLY);
      fail_now(c, XFER_ERR_RESET, m);
      return;
    }
    if(tls_pending(c->t))
      svc_add(c);
  }
  else {
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
    if(n < 0) {
      char m[160];
      if(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      snprintf(m, sizeof(m), "Recv failure: %s", strerror(errno));
      conn_eof(c, m);
      return;
    }
    if(n == 0) {
      conn_eof(c, NULL);
      return;
    }
    done = (size_t)n;
  }
  c->rlen += done;
  c->got_bytes = 1;
  c->cur->x->last_activity_ms = xfer_now_ms();
  conn_parse(c);
}

/* The reader caught up: offer the kept body bytes, then go on. */
static void conn_resume(struct conn *c)
{
  struct xfer *x = c->cur->x;
  if(c->pend_len) {
    enum xfer_take r = xfer_response_body(x, c->rbuf + c->pend_off, c->pend_len);
    if(r == XFER_TAKE_PAUSE)
      return;
    if(r != XFER_TAKE_ALL) {
      xfer_fail(x, x->error, NULL);
      return;
    }
    c->pend_len = 0;
  }
  set_events(c, EPOLLIN | (c->req_off < c->req_len ? EPOLLOUT : 0));
  if(c->t && tls_pending(c->t))
    svc_add(c);                 /* decrypted bytes wake no poll */
  conn_parse(c);
}

/* ---- the request ---- */

static int ci_prefix(const char *s, size_t n, const char *lit)
{
  size_t m = strlen(lit);
  return n == m && !strncasecmp(s, lit, m);
}

/* "Content-Length: n\r\n" into out (32 bytes), without printf: this is
** on every POST. Returns its length. */
static size_t length_line(char *out, size_t n)
{
  char digits[24];
  size_t k = 0, len;
  do {
    digits[k++] = (char)('0' + n % 10);
    n /= 10;
  } while(n);
  memcpy(out, "Content-Length: ", 16);
  len = 16;
  while(k)
    out[len++] = digits[--k];
  out[len++] = '\r';
  out[len++] = '\n';
  return len;
}

/* The request's head and body into buf (grown as needed): the request
** line, the caller's header lines (as libcurl reads them: "Name:" alone
** sends nothing, "Name;" an empty value), Host and Content-Length unless
** given. -1 with a message. */
static int build_request(char **buf, size_t *cap, size_t *len, const struct xfer_options *o,
                         const char *target, size_t target_len, int slash,
                         const char *hosthdr, size_t hosthdr_len, int with_body,
                         char *err, size_t errlen)
{
  size_t i, need, mlen = strlen(o->method), pos;
  int has_host = 0, has_length = 0, length_needed;
  char clen[32];
  size_t clen_len = 0;
  char *p;

  need = mlen + 1 + slash + target_len + 11;      /* " HTTP/1.1\r\n" */
  for(i = 0; i < o->nheaders; i++) {
    const char *h = o->headers[i], *colon = strchr(h, ':');
    size_t n;
    if(colon) {
      const char *v = colon + 1;
      n = (size_t)(colon - h);
      if(ci_prefix(h, n, "host"))
        has_host = 1;
      else if(ci_prefix(h, n, "content-length"))
        has_length = 1;
      while(*v == ' ' || *v == '\t')
        v++;
      if(!*v)
        continue;                 /* "Name:": not sent */
      need += strlen(h) + 2;
    }
    else {
      const char *semi = strchr(h, ';');
      if(!semi)
        continue;
      n = (size_t)(semi - h);
      if(ci_prefix(h, n, "host"))
        has_host = 1;
      else if(ci_prefix(h, n, "content-length"))
        has_length = 1;
      need += n + 3;              /* "Name:\r\n" */
    }
  }
  if(!has_host)
    need += 8 + hosthdr_len;      /* "Host: " ... "\r\n" */
  length_needed = !has_length && (o->body_len || !strcmp(o->method, "POST"));
  if(length_needed) {
    clen_len = length_line(clen, o->body_len);
    need += clen_len;
  }
  need += 2;
  if(need > MAX_HEAD) {
    snprintf(err, errlen, "could not make the request: its line and headers are over 1 MiB "
             "(a header or the URL is likely too large)");
    return -1;
  }
  if(with_body)
    need += o->body_len;
  if(need > *cap) {
    char *nb = realloc(*buf, need);
    if(!nb) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    *buf = nb;
    *cap = need;
  }
  p = *buf;
  memcpy(p, o->method, mlen);
  pos = mlen;
  p[pos++] = ' ';
  if(slash)
    p[pos++] = '/';
  memcpy(p + pos, target, target_len);
  pos += target_len;
  memcpy(p + pos, " HTTP/1.1\r\n", 11);
  pos += 11;
  for(i = 0; i < o->nheaders; i++) {
    const char *h = o->headers[i], *colon = strchr(h, ':');
    if(colon) {
      const char *v = colon + 1;
      size_t n;
      while(*v == ' ' || *v == '\t')
        v++;
      if(!*v)
        continue;
      n = (size_t)(v - h) + strlen(v);
      memcpy(p + pos, h, n);
      pos += n;
    }
    else {
      const char *semi = strchr(h, ';');
      size_t n;
      if(!semi)
        continue;
      n = (size_t)(semi - h);
      memcpy(p + pos, h, n);
      pos += n;
      p[pos++] = ':';
    }
    p[pos++] = '\r';
    p[pos++] = '\n';
  }
  if(!has_host) {
    memcpy(p + pos, "Host: ", 6);
    pos += 6;
    memcpy(p + pos, hosthdr, hosthdr_len);
    pos += hosthdr_len;
    p[pos++] = '\r';
    p[pos++] = '\n';
  }
  if(length_needed) {
    memcpy(p + pos, clen, clen_len);
    pos += clen_len;
  }
  p[pos++] = '\r';
  p[pos++] = '\n';
  if(with_body && o->body_len) {
    memcpy(p + pos, o->body, o->body_len);
    pos += o->body_len;
  }
  *len = pos;
  return 0;
}

/* ---- URLs ---- */

struct url {
  int https;
  const char *host;           /* no brackets */
  size_t host_len;
  int port;
  const char *hosthdr;        /* the authority, a default port dropped (as the signer does) */
  size_t hosthdr_len;
  const char *target;         /* path and query, the fragment dropped */
  size_t target_len;
  int slash;                  /* the target needs a leading '/' */
};

static int host_char(unsigned char c, int v6)
{
  if((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.')
    return 1;
  if(v6)
    return c == ':';
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* Split an http(s) URL. The URL itself is never echoed (it may carry a
** secret in a query). */
static int url_split(const char *s, struct url *u, char *err, size_t errlen)
{
  const char *a, *aend, *h, *hend, *port = NULL, *p;
  size_t i;
  memset(u, 0, sizeof(*u));
  if(!strncasecmp(s, "http://", 7)) {
    a = s + 7;
  }
  else if(!strncasecmp(s, "https://", 8)) {
    a = s + 8;
    u->https = 1;
  }
  else {
    const char *sep = strstr(s, "://");
    if(sep && sep - s <= 16)
      snprintf(err, errlen, "unsupported URL scheme '%.*s' (http and https only)", (int)(sep - s), s);
    else
      snprintf(err, errlen, "the URL must be absolute (http:// or https://)");
    return -1;
  }
  for(p = s; *p; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f) {
      snprintf(err, errlen, "the URL contains white space or a control character");
      return -1;
    }
  aend = a + strcspn(a, "/?#");
  if(memchr(a, '@', (size_t)(aend - a))) {
    snprintf(err, errlen, "a user name or password in the URL is not supported");
    return -1;
  }
  h = a;
  if(*h == '[') {
    const char *close = memchr(h, ']', (size_t)(aend - h));
    if(!close) {
      snprintf(err, errlen, "the URL's IPv6 address has no closing ']'");
      return -1;
    }
    u->host = h + 1;
    u->host_len = (size_t)(close - h - 1);
    hend = close + 1;
    if(hend < aend && *hend != ':') {
      snprintf(err, errlen, "the URL has junk after its IPv6 address");
      return -1;
    }
    for(i = 0; i < u->host_len; i++)
      if(!host_char((unsigned char)u->host[i], 1)) {
        snprintf(err, errlen, "the URL's IPv6 address is malformed");
        return -1;
      }
  }
  else {
    hend = memchr(h, ':', (size_t)(aend - h));
    if(!hend)
      hend = aend;
    u->host = h;
    u->host_len = (size_t)(hend - h);
    for(i = 0; i < u->host_len; i++)
      if(!host_char((unsigned char)u->host[i], 0)) {
        snprintf(err, errlen, "the URL's host name holds a character not allowed there");
        return -1;
      }
  }
  if(!u->host_len) {
    snprintf(err, errlen, "the URL has no host");
    return -1;
  }
  if(u->host_len > MAX_HOST) {
    snprintf(err, errlen, "the URL's host name is over %d characters", MAX_HOST);
    return -1;
  }
  u->port = u->https ? 443 : 80;
  u->hosthdr = a;
  u->hosthdr_len = (size_t)(aend - a);
  if(hend < aend) {
    long v = 0;
    port = hend + 1;
    for(p = port; p < aend; p++) {
      if(*p < '0' || *p > '9' || v > 65535) {
        v = -1;
        break;
      }
      v = v * 10 + (*p - '0');
    }
    if(port < aend && (v < 1 || v > 65535)) {
      snprintf(err, errlen, "the URL's port is not a number from 1 to 65535");
      return -1;
    }
    if(port < aend)
      u->port = (int)v;
    /* the signer drops an explicit default port from its host; so do we */
    if((u->https && aend - port == 3 && !memcmp(port, "443", 3)) ||
       (!u->https && aend - port == 2 && !memcmp(port, "80", 2)) || port == aend)
      u->hosthdr_len = (size_t)(hend - a);
  }
  u->target = aend;
  u->target_len = strcspn(aend, "#");
  u->slash = u->target_len == 0 || *aend == '?';
  return 0;
}

/* ---- TLS contexts, one per trust setting ---- */

static int same_str(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

static struct tls_entry *tls_for(struct h1_engine *h, const struct xfer_options *o,
                                 char *err, size_t errlen)
{
  struct tls_entry *e;
  for(e = h->tls; e; e = e->next)
    if(same_str(e->ca_file, o->ca_file) && same_str(e->ca_path, o->ca_path))
      return e;
  e = calloc(1, sizeof(*e));
  if(!e || (o->ca_file && !(e->ca_file = strdup(o->ca_file))) ||
     (o->ca_path && !(e->ca_path = strdup(o->ca_path)))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  e->ctx = tls_ctx_new(o->ca_file, o->ca_path, err, errlen);
  if(!e->ctx)
    goto fail;
  e->next = h->tls;
  h->tls = e;
  return e;
fail:
  if(e) {
    free(e->ca_file);
    free(e->ca_path);
    free(e);
  }
  return NULL;
}

/* ---- transfers and the pool ---- */

static void take_idle(struct conn *c, struct h1_xfer *t)
{
  idle_remove(c);
  c->cur = t;
  t->c = c;
  c->reused = 1;
}

/* A kept connection for t: the newest that is alive (the dead and the
** aged are closed on the way). */
static struct conn *find_idle(struct h1_engine *h, const struct h1_xfer *t, double now)
{
  struct conn *c, *next;
  double limit = (double)idle_timeout_ms(h);
  for(c = h->idle; c; c = next) {
    next = c->inext;
    if(!same_key(c, t))
      continue;
    if(now - c->idle_since_ms > limit || !idle_alive(c)) {
      conn_close(c);
      continue;
    }
    return c;
  }
  return NULL;
}

/* Room for one more connection: under the cap, or an idle one of another
** key closed for it (the oldest). */
static int make_room(struct h1_engine *h)
{
  struct conn *c, *oldest = NULL;
  if(!h->max_connections || h->nconns < h->max_connections)
    return 1;
  for(c = h->idle; c; c = c->inext)
    oldest = c;
  if(!oldest)
    return 0;
  conn_close(oldest);
  return 1;
}

/* Put t on a connection: a kept one (the request goes out now), a new one,
** or none (0: no room, t stays where it is). The request is in buf (moved
** to the connection); for a new connection with body not yet in it. */
static int place(struct h1_engine *h, struct h1_xfer *t, double now)
{
  struct conn *c = find_idle(h, t, now);
  char *tmp;
  size_t tcap;
  if(c) {
    take_idle(c, t);
  }
  else {
    if(!make_room(h))
      return 0;
    c = conn_new(h, t);
    if(!c) {
      fail_later(t, XFER_ERR_OTHER, "out of memory", 1, XFER_TIMEOUT_NONE);
      return 1;
    }
    c->connect_timeout_ms = t->connect_timeout_ms;
    c->cur = t;
    t->c = c;
  }
  /* the request moves over: the buffers swap, nothing is copied */
  tmp = c->req;
  tcap = c->req_cap;
  c->req = t->req;
  c->req_cap = t->req_cap;
  c->req_len = t->req_len;
  c->req_off = 0;
  t->req = tmp;
  t->req_cap = tcap;
  t->req_len = 0;
  t->state = T_ACTIVE;
  if(c->state == C_IDLE)
    conn_go(c);
  else
    conn_open(h, c);
  return 1;
}

/* Start what waits, in order, while there is room. */
static void drain(struct h1_engine *h)
{
  double now = 0;
  while(h->qhead) {
    struct h1_xfer *t = h->qhead;
    if(!now)
      now = xfer_now_ms();
    t_list_remove(&h->qhead, &h->qtail, t);
    t->state = T_NEW;
    if(!place(h, t, now)) {
      /* no room: back to the front */
      t->state = T_QUEUED;
      t->qprev = NULL;
      t->qnext = h->qhead;
      if(h->qhead)
        h->qhead->qprev = t;
      else
        h->qtail = t;
      h->qhead = t;
      return;
    }
  }
}

/* End what start could not. */
static void fail_recorded(struct h1_engine *h)
{
  while(h->fhead) {
    struct h1_xfer *t = h->fhead;
    struct xfer *x = t->x;
    t_list_remove(&h->fhead, &h->ftail, t);
    t->state = T_ENDED;
    x->connect_phase = t->fconnect;
    if(t->ftimeout)
      x->timeout = t->ftimeout;
    xfer_fail(x, t->ferr, t->fmsg);
  }
}

static void *h1_engine_new(void)
{
  struct h1_engine *h = calloc(1, sizeof(*h));
  if(!h)
    return NULL;
  h->epfd = epoll_create1(EPOLL_CLOEXEC);
  if(h->epfd < 0) {
    free(h);
    return NULL;
  }
  h->pfd.fd = h->epfd;
  h->pfd.events = POLLIN;
  return h;
}

static void h1_engine_free(void *be)
{
  struct h1_engine *h = be;
  struct h1_xfer *t;
  struct tls_entry *e;
  while(h->conns)
    conn_close(h->conns);
  while((t = h->spare)) {
    h->spare = t->qnext;
    free(t->req);
    free(t);
  }
  while((e = h->tls)) {
    h->tls = e->next;
    tls_ctx_free(e->ctx);
    free(e->ca_file);
    free(e->ca_path);
    free(e);
  }
  close(h->epfd);
  free(h);
}

static int h1_set_limits(void *be, long max_connections, long idle_timeout_s)
{
  struct h1_engine *h = be;
  if(max_connections > 0)
    h->max_connections = max_connections;
  if(idle_timeout_s > 0)
    h->idle_timeout_s = idle_timeout_s;
  return 0;
}

static int h1_release(void *be)
{
  struct h1_engine *h = be;
  while(h->idle)
    conn_close(h->idle);
  return 0;
}

static int h1_start(void *be, struct xfer *x, const struct xfer_options *o,
                    char *err, size_t errlen)
{
  struct h1_engine *h = be;
  struct h1_xfer *t;
  struct url u;
  struct conn *c = NULL;
  double now;

  if(h->spare) {
    t = h->spare;
    h->spare = t->qnext;
    h->nspare--;
  }
  else if(!(t = calloc(1, sizeof(*t)))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  t->qnext = t->qprev = NULL;
  t->h = h;
  t->state = T_NEW;
  t->c = NULL;
  t->x = x;
  t->tls = NULL;
  t->ferr = XFER_OK;
  t->fconnect = 0;
  t->ftimeout = XFER_TIMEOUT_NONE;
  t->fmsg[0] = '\0';
  x->impl = t;

  if(url_split(o->url, &u, err, errlen))
    return -1;
  if(o->method[strcspn(o->method, " \t")] || !o->method[0]) {
    snprintf(err, errlen, "the method is empty or holds white space");
    return -1;
  }
  memcpy(t->host, u.host, u.host_len);
  t->host[u.host_len] = '\0';
  t->port = u.port;
  t->https = u.https;
  t->head = !strcmp(o->method, "HEAD");
  t->connect_timeout_ms = o->connect_timeout_ms;
  if(u.https) {
    char msg[256];
    t->tls = tls_for(h, o, msg, sizeof(msg));
    if(!t->tls) {
      char m[320];
      snprintf(m, sizeof(m), "TLS certificate verification failed: %.250s", msg);
      /* the request is still built: a malformed one is refused first */
      if(build_request(&t->req, &t->req_cap, &t->req_len, o, u.target, u.target_len, u.slash,
                       u.hosthdr, u.hosthdr_len, 0, err, errlen))
        return -1;
      fail_later(t, XFER_ERR_TLS, m, 1, XFER_TIMEOUT_NONE);
      return 0;
    }
  }

  now = xfer_now_ms();
  /* a kept connection, unless others wait before this one */
  if(!h->qhead)
    c = find_idle(h, t, now);
  if(c) {
    struct iovec iov[2];
    struct msghdr mh;
    ssize_t w;
    size_t total;
    if(build_request(&c->req, &c->req_cap, &c->req_len, o, u.target, u.target_len, u.slash,
                     u.hosthdr, u.hosthdr_len, c->https, err, errlen))
      return -1;
    take_idle(c, t);
    t->state = T_ACTIVE;
    c->req_off = 0;
    if(c->https || !o->body_len) {
      conn_go(c);
      return 0;
    }
    /* in clear, head and body go out in one sendmsg, the body from the
    ** caller's memory; only what the socket did not take is copied */
    conn_begin(c, now);
    iov[0].iov_base = c->req;
    iov[0].iov_len = c->req_len;
    iov[1].iov_base = (void *)o->body;
    iov[1].iov_len = o->body_len;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    total = c->req_len + o->body_len;
    do
      w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    while(w < 0 && errno == EINTR);
    if(w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      fail_later(t, XFER_ERR_RESET, RESET_BEFORE_REPLY, 0, XFER_TIMEOUT_NONE);
      return 0;
    }
    if(w < 0)
      w = 0;
    if((size_t)w == total) {
      c->req_len = 0;
      return 0;
    }
    /* keep the rest */
    {
      size_t sent = (size_t)w, rest_body;
      const char *from;
      if(sent < c->req_len) {
        rest_body = o->body_len;
        from = o->body;
        c->req_off = sent;
      }
      else {
        size_t b = sent - c->req_len;
        rest_body = o->body_len - b;
        from = (const char *)o->body + b;
        c->req_off = c->req_len = 0;
      }
      if(c->req_len + rest_body > c->req_cap) {
        char *nb = realloc(c->req, c->req_len + rest_body);
        if(!nb) {
          fail_later(t, XFER_ERR_OTHER, "out of memory", 0, XFER_TIMEOUT_NONE);
          return 0;
        }
        c->req = nb;
        c->req_cap = c->req_len + rest_body;
      }
      memcpy(c->req + c->req_len, from, rest_body);
      c->req_len += rest_body;
      set_events(c, EPOLLIN | EPOLLOUT);
    }
    return 0;
  }

  /* a new connection, or the queue: the request waits in t's buffer */
  if(build_request(&t->req, &t->req_cap, &t->req_len, o, u.target, u.target_len, u.slash,
                   u.hosthdr, u.hosthdr_len, 1, err, errlen))
    return -1;
  if(h->qhead || !place(h, t, now)) {
    t->state = T_QUEUED;
    t_list_push(&h->qhead, &h->qtail, t);
  }
  return 0;
}

/* Back to the pool, or closed. */
static void conn_idle(struct conn *c)
{
  struct h1_engine *h = c->h;
  c->cur = NULL;
  if(!c->complete || !c->reusable || c->pend_len || (c->t && tls_pending(c->t)) ||
     (h->max_connections && h->nconns > h->max_connections)) {
    conn_close(c);
    return;
  }
  svc_remove(c);
  c->state = C_IDLE;
  c->idle_since_ms = xfer_now_ms();
  c->roff = c->rlen = 0;
  c->req_off = c->req_len = 0;
  c->iprev = NULL;
  c->inext = h->idle;
  if(h->idle)
    h->idle->iprev = c;
  h->idle = c;
  h->nidle++;
  /* a close or junk from the server wakes the engine, which drops it */
  if(set_events(c, EPOLLIN))
    conn_close(c);
}

static void h1_stop(void *be, struct xfer *x)
{
  struct h1_engine *h = be;
  struct h1_xfer *t = x->impl;
  if(!t)
    return;
  switch(t->state) {
  case T_QUEUED:
    t_list_remove(&h->qhead, &h->qtail, t);
    break;
  case T_FAILING:
    t_list_remove(&h->fhead, &h->ftail, t);
    break;
  case T_ACTIVE:
    if(t->c) {
      struct conn *c = t->c;
      t->c = NULL;
      conn_idle(c);
    }
    break;
  default:
    break;
  }
  t->state = T_ENDED;
}

static void h1_free_xfer(void *be, struct xfer *x)
{
  struct h1_engine *h = be;
  struct h1_xfer *t = x->impl;
  if(!t)
    return;
  x->impl = NULL;
  if(h && t->state != T_ENDED)
    h1_stop(h, x);
  if(h && h->nspare < SPARE_XFERS) {
    t->x = NULL;
    t->qnext = h->spare;
    h->spare = t;
    h->nspare++;
    return;
  }
  free(t->req);
  free(t);
}

static void h1_resume(void *be, struct xfer *x)
{
  struct h1_xfer *t = x->impl;
  (void)be;
  if(t && t->state == T_ACTIVE && t->c && t->c->state == C_ACTIVE)
    svc_add(t->c);
}

static long h1_timeout_ms(void *be)
{
  struct h1_engine *h = be;
  struct conn *c;
  double now, next = -1;
  long ms;
  if(h->fhead || h->svc)
    return 0;
  if(h->qhead && (!h->max_connections || h->nconns < h->max_connections || h->nidle))
    return 0;
  if(!h->nsetup)
    return -1;
  for(c = h->conns; c; c = c->next)
    if(c->state < C_ACTIVE && (next < 0 || c->deadline_ms < next))
      next = c->deadline_ms;
  if(next < 0)
    return -1;
  now = xfer_now_ms();
  ms = (long)(next - now) + 1;
  return ms < 0 ? 0 : ms;
}

static struct pollfd *h1_pollfds(void *be, int *n)
{
  struct h1_engine *h = be;
  *n = 1;
  return &h->pfd;
}

static int h1_wait(void *be, struct pollfd *extra, int nextra, long timeout_ms,
                   char *err, size_t errlen)
{
  struct h1_engine *h = be;
  int n;
  if(timeout_ms > 0x7fffffffL)
    timeout_ms = 0x7fffffffL;
  if(nextra > 0) {
    struct pollfd fds[16];
    int i;
    if(nextra > 15) {
      snprintf(err, errlen, "too many descriptors to wait on");
      return -1;
    }
    fds[0] = h->pfd;
    for(i = 0; i < nextra; i++)
      fds[i + 1] = extra[i];
    n = poll(fds, (nfds_t)nextra + 1, (int)timeout_ms);
    if(n < 0 && errno != EINTR) {
      snprintf(err, errlen, "poll: %s", strerror(errno));
      return -1;
    }
    for(i = 0; i < nextra; i++)
      extra[i].revents = n > 0 ? fds[i + 1].revents : 0;
    timeout_ms = 0;
  }
  n = epoll_wait(h->epfd, h->evs, MAX_EVENTS, (int)timeout_ms);
  if(n < 0) {
    if(errno != EINTR) {
      snprintf(err, errlen, "epoll_wait: %s", strerror(errno));
      return -1;
    }
    n = 0;
  }
  h->nev = n;
  h->waited = 1;
  return 0;
}

static void on_event(struct conn *c, uint32_t ev)
{
  switch(c->state) {
  case C_RESOLVING:
    if(resolve_done(c->res))
      resolved(c);
    break;
  case C_CONNECTING:
    {
      int e = 0;
      socklen_t len = sizeof(e);
      if(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        e = errno;
      if(e == EINPROGRESS || e == EALREADY)
        break;
      if(e) {
        c->last_errno = e;
        unwatch(c);
        close(c->fd);
        c->fd = -1;
        c->ai = c->ai->ai_next;
        connect_next(c);
        break;
      }
      set_events(c, EPOLLIN);
      connected(c);
    }
    break;
  case C_HANDSHAKE:
    tls_step(c);
    break;
  case C_ACTIVE:
    if(!c->cur)
      break;
    if(c->req_off < c->req_len) {
      /* (TLS may want a read for a write) */
      if(conn_send(c))
        break;
      if(!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        break;
    }
    if(!c->pend_len)
      conn_read(c);
    break;
  case C_IDLE:
    if(!idle_alive(c))
      conn_close(c);
    break;
  }
}

static int h1_perform(void *be, char *err, size_t errlen)
{
  struct h1_engine *h = be;
  int i;
  (void)err;
  (void)errlen;
  if(!h->waited) {
    int n = epoll_wait(h->epfd, h->evs, MAX_EVENTS, 0);
    h->nev = n < 0 ? 0 : n;
  }
  h->waited = 0;
  for(i = 0; i < h->nev; i++) {
    struct conn *c = h->evs[i].data.ptr;
    h->ev_i = i;
    if(c)
      on_event(c, h->evs[i].events);
  }
  h->nev = h->ev_i = 0;

  /* work without an event: decrypted bytes, a resumed reader */
  if(h->svc) {
    struct conn *c;
    h->svc_run = h->svc;
    h->svc = NULL;
    for(c = h->svc_run; c; c = c->svc_next)
      c->in_svc = 2;
    while((c = h->svc_run)) {
      h->svc_run = c->svc_next;
      c->in_svc = 0;
      c->svc_next = NULL;
      if(c->state == C_ACTIVE && c->cur && !c->cur->x->paused) {
        if(c->pend_len)
          conn_resume(c);
        else
          conn_read(c);
      }
    }
  }

  if(h->nsetup) {
    double now = xfer_now_ms();
    struct conn *c, *next;
    for(c = h->conns; c; c = next) {
      next = c->next;
      if(c->state < C_ACTIVE && now >= c->deadline_ms && c->cur) {
        char m[320];
        struct h1_xfer *t = c->cur;
        snprintf(m, sizeof(m), "Failed to connect to %.100s port %d after %.0f ms: Connection timed out",
                 c->host, c->port, now - c->started_ms);
        fail_later(t, XFER_ERR_TIMEOUT, m, 1, XFER_TIMEOUT_CONNECT);
      }
    }
  }
  if(h->nidle)
    expire_idle(h, xfer_now_ms());
  for(;;) {
    if(h->qhead)
      drain(h);
    if(!h->fhead)
      break;
    fail_recorded(h);           /* may make room for the queue */
  }
  return 0;
}

const struct xfer_backend xfer_http1_backend = {
  XFER_BACKEND_ABI,
  sizeof(struct xfer),
  sizeof(struct xfer_options),
  sizeof(struct xfer_engine),
  "http1",
  h1_engine_new,
  h1_engine_free,
  h1_set_limits,
  h1_release,
  h1_start,
  h1_stop,
  h1_free_xfer,
  h1_resume,
  NULL,
  h1_timeout_ms,
  h1_pollfds,
  h1_wait,
  h1_perform
};
