/*
** transport.h: one engine for every request.
**
** An engine owns keep-alive connection pools: our own HTTP/1.1 client's
** (http1.c), and libcurl's once a request needs it (see xfer_wants_libcurl;
** xfer.h has the inside). A transfer is one HTTP request on an engine.
** Nothing here calls Lua: the backends only fill C buffers and the
** event-stream decoder, and the caller (the Lua binding) drives the engine
** with xfer_engine_pump and reads results between pumps.
**
** Streaming transfers decode application/vnd.amazon.eventstream as bytes
** arrive. Validated frames queue in the transfer until the caller takes them
** with xfer_next_message; past a high-water mark the transfer is paused, so a
** slow reader holds a bounded amount of memory.
*/
#ifndef BEDROCK_TRANSPORT_H
#define BEDROCK_TRANSPORT_H

#include <stddef.h>
#include "eventstream.h"

struct xfer_engine;
struct xfer;

enum xfer_state {
  XFER_RUNNING = 0,
  XFER_DONE = 1,      /* the whole response arrived */
  XFER_FAILED = 2     /* see xfer_error */
};

/* Why a transfer failed; stable names via xfer_errname. */
enum xfer_error {
  XFER_OK = 0,
  XFER_ERR_CONNECT,       /* could not resolve, connect, or the TLS handshake failed */
  XFER_ERR_TIMEOUT,       /* connect timeout, idle-read timeout or total timeout */
  XFER_ERR_RESET,         /* the connection dropped while the response was under way */
  XFER_ERR_STREAM,        /* the event stream is malformed (see xfer_error_detail) */
  XFER_ERR_TRUNCATED,     /* the response ended inside an event-stream frame */
  XFER_ERR_TOO_LARGE,     /* a body over max_body (XFER_MAX_BODY by default) */
  XFER_ERR_ABORTED,       /* closed by the caller */
  XFER_ERR_OTHER,         /* anything else libcurl reported */
  XFER_ERR_TLS,           /* the server's certificate was not trusted (or the CA
                          ** file/directory could not be used): not transient */
  XFER_ERR_REQUEST        /* libcurl could not make the request as given (a
                          ** malformed URL, headers past its buffer, out of
                          ** memory): sending it again cannot help */
};

#define XFER_MAX_BODY (256u * 1024u * 1024u)
#define XFER_DEFAULT_HIGH_WATER (8u * 1024u)
#define XFER_STREAM_BUFFER 8192
#define XFER_DEFAULT_SEND_HIGH_WATER (64u * 1024u)
/* libcurl 7.88 (Debian 12) can hand HTTP/2 response bytes over twice when a
** stream's data does not fit the transfer's receive buffer and is parked
** ("pausedata", curl issue 10525), and the same when we pause reception.
** Measured here with Debian's 7.88.1, 200 KB up and 400 KB down in 3 KB
** events: 5 of 60 sessions corrupt with an 8 KiB buffer, none in 60 with
** 64 KiB. So a duplex (HTTP/2) transfer gets a buffer of twice what libcurl
** reads from the connection at once (32 KiB), and never pauses reception:
** its unread output is capped instead, and past the cap the transfer
** fails (ResponseTooLarge). */
#define XFER_DUPLEX_BUFFER (64L * 1024L)
#define XFER_DUPLEX_MAX_BACKLOG (64u * 1024u * 1024u)

struct xfer_options {
  const char *method;             /* "POST", "GET" */
  const char *url;
  const char *const *headers;     /* "Name: value" lines, no CR/LF/NUL */
  size_t nheaders;
  const void *body;               /* copied; may be NULL with body_len 0 */
  size_t body_len;
  int stream;                     /* decode a 2xx body as an event stream */
  long connect_timeout_ms;        /* 0: libcurl's default */
  long idle_timeout_ms;           /* longest silence once connected, waiting for or
                                  ** reading the response (not while paused); 0: none */
  long total_timeout_ms;          /* whole transfer, from xfer_new; 0: none */
  size_t high_water;              /* stream: queued frame bytes before pausing; 0: default */
  /* TLS: the peer and its host name are always verified. These replace
  ** (ca_file) or add to (ca_path) libcurl's default trust store; NULL:
  ** libcurl's default. */
  const char *ca_file;            /* PEM bundle (CURLOPT_CAINFO) */
  const char *ca_path;            /* hashed directory, c_rehash / openssl rehash (CURLOPT_CAPATH) */
  /* Full duplex (event-stream input): the request body is what xfer_send
  ** queues, sent while the response streams in, over HTTP/2 (ALPN for
  ** https, prior knowledge for http). body, if any, is queued first.
  ** Needs stream. Other transfers use HTTP/1.1. */
  int duplex;
  size_t send_high_water;         /* queued input bytes that make xfer_send report
                                  ** the queue full; 0: default */
  /* Hardening (xfer_apply_limits): */
  int no_proxy;                   /* never a proxy, whatever the environment says
                                  ** (credential endpoints: IMDS, the container's) */
  size_t max_body;                /* largest body kept (a reply, a stream's error
                                  ** document): a Content-Length over it fails the
                                  ** transfer before the body is read, and so does
                                  ** passing it while reading; 0: XFER_MAX_BODY */
};

/* Which backend carries a request: our own HTTP/1.1 client, or libcurl
** (bedrock.curl) for a duplex session (HTTP/2) and for a request the
** environment sends through a proxy (http_proxy, https_proxy, all_proxy:
** libcurl then applies them and no_proxy as curl users know). 1: libcurl. */
int xfer_wants_libcurl(const struct xfer_options *o);

/* Attach bedrock.curl's backend (a struct xfer_backend, passed as an opaque
** pointer across the module boundary) to an engine: 0, or -1 with a
** message (built from other sources, out of memory). Idempotent. */
int xfer_engine_attach_libcurl(struct xfer_engine *e, const void *backend,
                               char *err, size_t errlen);
int xfer_engine_has_libcurl(const struct xfer_engine *e);

/* Engines. NULL on out of memory. Freeing an engine aborts and detaches its
** transfers; they may still be freed afterwards. */
struct xfer_engine *xfer_engine_new(void);
void xfer_engine_free(struct xfer_engine *e);

/* The connection pool's limits (botocore's max_pool_connections, and an
** idle timeout as the other AWS SDKs have). max_connections caps the
** connections open at once, idle or busy: a transfer past it waits in
** libcurl's queue for one to free up, it does not fail; it also caps the
** idle connections kept. idle_timeout_s: a connection idle longer is not
** reused but closed (libcurl checks when a transfer looks for one). 0
** leaves a setting as it is. Returns 0, or -1 when libcurl refused. */
int xfer_engine_set_limits(struct xfer_engine *e, long max_connections,
                           long idle_timeout_s);

/* Close every idle connection of the pool: at once when no transfer runs,
** else as soon as the last running one ends (in a pump). Nothing else
** changes; the engine stays usable. Returns 0, or -1 on out of memory. */
int xfer_engine_release(struct xfer_engine *e);

/* Wait up to timeout_ms for network activity (less when a timer of libcurl
** or an idle deadline is nearer), then move every transfer forward. Returns
** the number of transfers still running, or -1 with a message in err when
** libcurl's multi interface itself failed. */
int xfer_engine_pump(struct xfer_engine *e, long timeout_ms,
                     char *err, size_t errlen);

/* Transfers whose state moved since they were last popped: a message became
** ready, the response headers completed, or the transfer ended. Each is
** returned once per change; NULL when there are none. */
struct xfer *xfer_engine_pop_changed(struct xfer_engine *e);

/* Number of transfers on the engine that are still running. */
int xfer_engine_running(const struct xfer_engine *e);

/* Start a transfer. NULL with a message in err (bad option, CR/LF in a
** header, out of memory, engine gone). */
struct xfer *xfer_new(struct xfer_engine *e, const struct xfer_options *o,
                      char *err, size_t errlen);

/* Abort if running, release everything. Idempotent through the caller's
** pointer: pass each transfer once. */
void xfer_free(struct xfer *x);

/* Stop a running transfer now (XFER_ERR_ABORTED); the connection is not
** reused. Safe on an ended transfer. */
void xfer_abort(struct xfer *x);

enum xfer_state xfer_get_state(const struct xfer *x);
unsigned long xfer_id(const struct xfer *x);

/* HTTP status of the final response, 0 until its status line arrived. */
long xfer_status(const struct xfer *x);
/* 1 once the final response's headers are complete. */
int xfer_headers_complete(const struct xfer *x);

/* Response headers of the final response, in arrival order. Names are as
** sent; values are trimmed. Pointers stay valid while the transfer lives. */
size_t xfer_header_count(const struct xfer *x);
void xfer_header_at(const struct xfer *x, size_t i, const char **name,
                    size_t *name_len, const char **value, size_t *value_len);

/* The body received so far: the whole body of a non-stream transfer, or the
** body of a stream transfer whose status is not 2xx (an error document). */
const char *xfer_body(const struct xfer *x, size_t *len);

/* Stream transfers: take the next decoded message. Returns 1 and fills m,
** 0 when none is queued. m borrows from the transfer's queue: it is valid
** until the next xfer_next_message on x or the next pump of its engine, so
** copy what you keep. A paused transfer is resumed here once the reader has
** brought the queue below half the high-water mark. */
int xfer_next_message(struct xfer *x, struct evs_message *m);

/* Duplex transfers: queue len bytes of request body. Returns 0 and the
** bytes still queued in *pending; -1 when the transfer is not duplex, has
** ended or its input was ended; -2 out of memory. Once *pending reaches the
** send high-water mark the transfer is reported changed (pop_changed) when
** libcurl has taken the queue below half of it: a sender waits for that. */
int xfer_send(struct xfer *x, const void *data, size_t len, size_t *pending);

/* End the request body once the queue drains (idempotent). From here on the
** idle timeout applies (before, the server may be waiting for input). -1
** when not duplex or ended. */
int xfer_send_end(struct xfer *x);

/* Input bytes queued and not yet taken by libcurl. */
size_t xfer_send_pending(const struct xfer *x);

/* Failure details, for XFER_FAILED. detail is a readable message
** (libcurl's error text, or the decoder's); evs_status is the decoder's
** status for XFER_ERR_STREAM. */
enum xfer_error xfer_error(const struct xfer *x, const char **detail,
                           int *evs_status);
const char *xfer_errname(enum xfer_error err);

/* 1 when the failure came before a connection was established (nothing
** was sent, so a retry cannot repeat work), for XFER_ERR_TIMEOUT. */
int xfer_failed_connecting(const struct xfer *x);

/* How many times the request went out on a connection: 0 when no
** connection came up, else 1. (libcurl would resend a request on its own
** when a reused connection dies before replying; the transfer refuses that
** and fails as XFER_ERR_RESET, so that the caller's retry policy decides.) */
int xfer_sends(const struct xfer *x);

/* Which limit ended a transfer with XFER_ERR_TIMEOUT. */
enum xfer_timeout {
  XFER_TIMEOUT_NONE = 0,
  XFER_TIMEOUT_CONNECT,   /* no connection within connect_timeout_ms */
  XFER_TIMEOUT_READ,      /* connected, then silent for idle_timeout_ms */
  XFER_TIMEOUT_TOTAL      /* total_timeout_ms passed */
};
enum xfer_timeout xfer_timeout_phase(const struct xfer *x);
const char *xfer_timeout_name(enum xfer_timeout t);

/* Seconds timing of the transfer: total time from start, ms. */
double xfer_elapsed_ms(const struct xfer *x);

/* Monotonic clock in milliseconds, for callers' own timers. */
double xfer_now_ms(void);

#endif
