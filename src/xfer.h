/*
** xfer.h: inside the transport. The bindings see transport.h only.
**
** A transfer's response side is the same whatever carries it: a status,
** headers, a body kept up to max_body, or an event stream decoded into a
** queue of validated frames with a high-water mark. xfer.c owns that;
** engine.c the engine's lists, the deadlines (idle, total) and the pump. A
** backend only moves bytes between sockets and these functions:
**
**   http1.c         our own HTTP/1.1 client (sockets, OpenSSL), linked into
**                   bedrock.core: every transfer but the two below
**   curl_backend.c  libcurl, in the bedrock.curl module, loaded the first
**                   time a transfer needs it: duplex sessions (HTTP/2) and
**                   requests the environment sends through a proxy
**
** bedrock.curl is a separate shared object, so libcurl and its thirty
** libraries are mapped only by processes that use them. It carries its own
** copy of xfer.c (built from the same source, hidden symbols; engine.c is
** core's alone); the struct layouts are checked through XFER_BACKEND_ABI
** and the sizes when the backend is attached.
*/
#ifndef BEDROCK_XFER_H
#define BEDROCK_XFER_H

#include <stddef.h>
#include "eventstream.h"
#include "transport.h"

/* Bump whenever struct xfer, struct xfer_options or struct xfer_backend
** changes: a bedrock.curl built from other sources is refused. */
#define XFER_BACKEND_ABI 1

#define XFER_DETAIL_SIZE 320

/* A growable byte buffer with a read offset, so a queue can be consumed
** from the front without a memmove per message. */
struct bytes {
  char *p;
  size_t off;     /* consumed prefix */
  size_t len;     /* bytes written, off included */
  size_t cap;
};

/* 0, or -1 when the unread bytes would pass limit or memory ran out. */
int bytes_reserve(struct bytes *b, size_t extra, size_t limit);
int bytes_append(struct bytes *b, const void *p, size_t n, size_t limit);
void bytes_free(struct bytes *b);

struct header_ref {
  size_t name_off, name_len, value_off, value_len;
};

struct xfer_backend;

struct xfer {
  /* xfer.c: the engine's lists (engine is NULL once detached) */
  struct xfer_engine *engine;
  struct xfer *prev, *next;
  struct xfer *changed_next;
  int in_changed;
  unsigned long id;

  /* the backend carrying it, and that backend's own per-transfer state
  ** (owned by the backend: its free_xfer releases it) */
  const struct xfer_backend *backend;
  void *impl;

  enum xfer_state state;
  enum xfer_error error;          /* may be recorded by a take function before
                                  ** the backend fails the transfer */
  int evs_status;
  char detail[XFER_DETAIL_SIZE];

  /* the response (xfer_response_* fill these) */
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
  int paused;                     /* the ready queue is full: the backend stops
                                  ** reading until resume */
  size_t max_body;

  /* duplex input: the request body is this queue, fed while the response
  ** is read (xfer_input_take hands it to the backend) */
  int duplex;
  struct bytes out;
  int out_ended;                  /* no more input: the body ends once out drains */
  int out_full;                   /* a sender waits for room: mark changed below half */
  size_t out_high_water;

  /* what the backend reports about the connection */
  int connect_phase;              /* failed before a connection was up */
  int connected;                  /* a connection is up (new or reused) */
  int sends;                      /* times the request went out: 0 or 1 */
  enum xfer_timeout timeout;      /* which limit ended it, for XFER_ERR_TIMEOUT */

  long idle_timeout_ms;
  double deadline_ms;             /* total_timeout_ms from the start; 0: none */
  double started_ms;
  double last_activity_ms;        /* backends refresh it on every byte moved */
  double ended_ms;
};

/* ---- for backends: the response as it arrives (xfer.c) ---- */

/* A status line: a new response starts (after a 100 Continue, say), the
** headers of any previous one are forgotten. */
void xfer_response_start(struct xfer *x, long status);

/* One header of the current response; the value is trimmed here. Returns
** 0, or -1 with x->error and x->detail recorded (a Content-Length over
** max_body: XFER_ERR_TOO_LARGE; out of memory): the backend then ends the
** transfer with xfer_fail(x, x->error, NULL). */
int xfer_response_header(struct xfer *x, const char *name, size_t name_len,
                         const char *value, size_t value_len);

/* The blank line after the headers. A 1xx block is not final; a final one
** marks the transfer changed (its headers are readable). */
void xfer_response_headers_end(struct xfer *x);

enum xfer_take {
  XFER_TAKE_ALL = 0,      /* every byte consumed */
  XFER_TAKE_PAUSE = 1,    /* none consumed: the reader is behind (x->paused is
                          ** set); offer the same bytes again after resume */
  XFER_TAKE_ERROR = 2     /* x->error and x->detail recorded: end with
                          ** xfer_fail(x, x->error, NULL) */
};

/* Body bytes of the final response: kept (up to max_body), or for a 2xx
** event stream decoded into the ready queue (marks the transfer changed
** when a frame became ready). */
enum xfer_take xfer_response_body(struct xfer *x, const char *p, size_t n);

/* The response arrived whole: XFER_DONE, or XFER_ERR_TRUNCATED when an
** event stream ends inside a frame. */
void xfer_response_end(struct xfer *x);

/* End a running transfer (no-op once ended): record why (detail is kept
** only if none was recorded before), call the backend's stop, mark it
** changed. */
void xfer_finish(struct xfer *x, enum xfer_state st, enum xfer_error err,
                 const char *detail);
#define xfer_fail(x, err, detail) xfer_finish((x), XFER_FAILED, (err), (detail))

void xfer_mark_changed(struct xfer *x);

/* Duplex input: copy up to n queued bytes into buf. Returns the count; 0
** with *ended set when the input ended and drained, 0 with *ended clear
** when nothing is queued yet (wait for the backend's input hook). */
size_t xfer_input_take(struct xfer *x, char *buf, size_t n, int *ended);

/* ---- backends ---- */

/* The pump waits on one backend at a time: the one with wait(). When both
** have transfers running, libcurl waits (curl_multi_poll can watch extra
** descriptors) with http1's descriptors added: http1 exposes them through
** pollfds (one epoll descriptor, say) and its perform then reads what is
** ready without blocking. */
struct pollfd;

struct xfer_backend {
  int abi;                        /* XFER_BACKEND_ABI */
  size_t xfer_size;               /* sizeof(struct xfer) as the backend was built */
  size_t options_size;            /* sizeof(struct xfer_options) likewise */
  size_t engine_size;             /* sizeof(struct xfer_engine) likewise */
  const char *name;               /* "http1", "libcurl" */

  void *(*engine_new)(void);      /* NULL on out of memory */
  /* Free the backend's engine. Its transfers were finished (stop called)
  ** before; their impl is freed later through free_xfer with be NULL. */
  void (*engine_free)(void *be);
  /* Pool limits (see xfer_engine_set_limits): 0 leaves one as it is. */
  int (*set_limits)(void *be, long max_connections, long idle_timeout_s);
  /* Close every idle connection; called only when none of the backend's
  ** transfers runs. */
  int (*release)(void *be);

  /* Start x (x->impl is the backend's to set). The common fields of x are
  ** filled in already (stream, duplex, high_water, max_body, timeouts,
  ** out holds the first input of a duplex transfer). 0, or -1 with a
  ** message in err; x is then freed by the caller through free_xfer. */
  int (*start)(void *be, struct xfer *x, const struct xfer_options *o,
               char *err, size_t errlen);
  /* x ended (xfer_finish): stop moving it. A connection left mid-response
  ** is closed; one whose response was read whole goes back to the pool. */
  void (*stop)(void *be, struct xfer *x);
  /* Release x->impl; be is NULL when the engine went first. */
  void (*free_xfer)(void *be, struct xfer *x);
  /* The reader brought the ready queue down (x->paused was cleared):
  ** offer the kept bytes again, read from the socket again. */
  void (*resume)(void *be, struct xfer *x);
  /* Duplex: input was queued or ended (xfer_input_take has more). NULL
  ** for a backend without duplex. */
  void (*input)(void *be, struct xfer *x);

  /* Milliseconds until the backend needs perform on its own (a timer of
  ** libcurl's, a connect in flight); -1: no such need. */
  long (*timeout_ms)(void *be);
  /* Descriptors to add to another backend's wait; NULL when the backend
  ** cannot be waited on that way. *n is set to their count. */
  struct pollfd *(*pollfds)(void *be, int *n);
  /* Wait up to timeout_ms for the backend's sockets or the extra
  ** descriptors (their revents are filled in). -1 with a message when the
  ** wait itself failed. NULL when the backend cannot wait with extras. */
  int (*wait)(void *be, struct pollfd *extra, int nextra, long timeout_ms,
              char *err, size_t errlen);
  /* Move every transfer forward without blocking, after a wait (its own,
  ** or another's with pollfds). -1 with a message when it failed. */
  int (*perform)(void *be, char *err, size_t errlen);
};

/* The engine: up to two backends, and every transfer of either. Defined
** here because bedrock.curl's copy of xfer.c works on it too. */
enum { XFER_BE_HTTP1 = 0, XFER_BE_CURL = 1, XFER_NBACKENDS = 2 };

struct xfer_engine {
  const struct xfer_backend *be[XFER_NBACKENDS];  /* be[XFER_BE_CURL]: NULL until attached */
  void *be_state[XFER_NBACKENDS];
  int running_by[XFER_NBACKENDS];
  struct xfer *xfers;             /* every live transfer of this engine */
  struct xfer *changed_head, *changed_tail;
  int running;
  unsigned long next_id;
  long max_connections;           /* xfer_engine_set_limits; 0: the backend's own */
  long idle_timeout_s;
  int release_pending;            /* close the pools once nothing runs */
};

/* Which of e->be carries x. */
static inline int xfer_backend_index(const struct xfer *x)
{
  return x->engine && x->backend == x->engine->be[XFER_BE_CURL] ? XFER_BE_CURL : XFER_BE_HTTP1;
}

/* The backend linked into bedrock.core. */
extern const struct xfer_backend xfer_http1_backend;

#endif
