/* tls.c: OpenSSL client connections over the caller's non-blocking socket
** (see tls.h).
**
** The socket is wrapped in a BIO of our own rather than SSL_set_fd's, for
** one reason: it writes with send(..., MSG_NOSIGNAL), so a peer that has
** gone gives EPIPE, never SIGPIPE, whatever the host program does with the
** signal. It also keeps the socket's errno for the message, before OpenSSL
** can overwrite it.
**
** OpenSSL keeps a queue of errors per thread. It is cleared before each call
** into libssl and drained after, so one connection's failure never shows in
** another's message.
**
** Sessions: the ctx keeps the newest resumable session per host and port
** (SSL_SESS_CACHE_CLIENT with no internal store, filled from the new-session
** callback, which also sees TLS 1.3 tickets, sent after the handshake) and
** offers it on the next connection there. */
#include "tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SESSIONS 16     /* hosts a ctx remembers a session for */

struct session {
  char *host;           /* NULL: free slot */
  int port;
  unsigned long seq;    /* the oldest is replaced first */
  SSL_SESSION *s;
};

struct tls_ctx {
  SSL_CTX *ssl;
  BIO_METHOD *bio;      /* the MSG_NOSIGNAL socket BIO */
  int refs;             /* the caller's, and one per live connection */
  unsigned long seq;
  struct session sessions[SESSIONS];
};

struct tls_conn {
  struct tls_ctx *ctx;
  SSL *ssl;
  int fd;
  int port;             /* the peer's, for the session key */
  int sys_errno;        /* the socket's last error (0: none, or EOF) */
  int eof;              /* recv returned 0 */
  int fatal;            /* an error ended the connection: no close_notify */
  int verify_err;       /* the first failure the chain check saw */
  int verify_depth;
  char verify_subject[256];
  char host[];          /* the name (or address) verified */
};

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static int bio_type;

/* ---- the socket BIO ---- */

static int sock_write(BIO *b, const char *buf, size_t n, size_t *written)
{
  struct tls_conn *t = BIO_get_data(b);
  ssize_t w;
  BIO_clear_retry_flags(b);
  do
    w = send(t->fd, buf, n, MSG_NOSIGNAL);
  while(w < 0 && errno == EINTR);
  if(w >= 0) {
    *written = (size_t)w;
    return 1;
  }
  if(errno == EAGAIN || errno == EWOULDBLOCK)
    BIO_set_retry_write(b);
  else
    t->sys_errno = errno;
  return 0;
}

static int sock_read(BIO *b, char *buf, size_t n, size_t *got)
{
  struct tls_conn *t = BIO_get_data(b);
  ssize_t r;
  BIO_clear_retry_flags(b);
  do
    r = recv(t->fd, buf, n, 0);
  while(r < 0 && errno == EINTR);
  if(r > 0) {
    *got = (size_t)r;
    return 1;
  }
  if(r == 0)
    t->eof = 1;
  else if(errno == EAGAIN || errno == EWOULDBLOCK)
    BIO_set_retry_read(b);
  else
    t->sys_errno = errno;
  return 0;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  struct tls_conn *t = BIO_get_data(b);
  (void)num;
  switch(cmd) {
  case BIO_CTRL_FLUSH:
    return 1;   /* nothing is buffered here */
  case BIO_CTRL_EOF:
    /* how libssl tells an EOF from an error once read returned 0 */
    return t && t->eof;
  case BIO_C_GET_FD:
    if(!t)
      return -1;
    if(ptr)
      *(int *)ptr = t->fd;
    return t->fd;
  default:
    return 0;
  }
}

static void bio_type_init(void)
{
  bio_type = BIO_get_new_index();
}

static BIO_METHOD *sock_method(void)
{
  BIO_METHOD *m;
  pthread_once(&bio_once, bio_type_init);
  if(bio_type < 0)
    return NULL;
  m = BIO_meth_new(bio_type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "bedrock socket");
  if(m && (!BIO_meth_set_write_ex(m, sock_write) || !BIO_meth_set_read_ex(m, sock_read) ||
           !BIO_meth_set_ctrl(m, sock_ctrl))) {
    BIO_meth_free(m);
    m = NULL;
  }
  return m;
}

/* ---- messages ---- */

/* The first queued error as text ("wrong version number", "tlsv1 alert
** unknown ca: SSL alert number 48"), then the queue emptied. */
static void queued_reason(char *buf, size_t len)
{
  const char *data = NULL;
  int flags = 0;
  unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  if(!e)
    snprintf(buf, len, "unknown error");
  else if(!why) {
    ERR_error_string_n(e, buf, len);
  }
  else if(data && (flags & ERR_TXT_STRING) && *data)
    snprintf(buf, len, "%s: %s", why, data);
  else
    snprintf(buf, len, "%s", why);
  ERR_clear_error();
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  if(!err || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- sessions ---- */

static struct session *session_find(struct tls_ctx *c, const char *host, int port)
{
  int i;
  for(i = 0; i < SESSIONS; i++) {
    struct session *s = &c->sessions[i];
    if(s->host && s->port == port && !strcasecmp(s->host, host))
      return s;
  }
  return NULL;
}

static void session_clear(struct session *s)
{
  free(s->host);
  s->host = NULL;
  if(s->s)
    SSL_SESSION_free(s->s);
  s->s = NULL;
}

/* libssl hands us a reference to a new session (for TLS 1.3, a ticket
** that arrived after the handshake): keep it as host:port's newest. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
  struct tls_conn *t = SSL_get_app_data(ssl);
  struct tls_ctx *c;
  struct session *s;
  if(!t)
    return 0;
  c = t->ctx;
  s = session_find(c, t->host, t->port);
  if(!s) {
    int i;
    char *h = strdup(t->host);
    if(!h)
      return 0;   /* not kept: libssl frees it */
    for(i = 0; i < SESSIONS; i++) {
      struct session *e = &c->sessions[i];
      if(!e->host) {
        s = e;
        break;
      }
      if(!s || e->seq < s->seq)
        s = e;
    }
    session_clear(s);
    s->host = h;
    s->port = t->port;
  }
  else if(s->s)
    SSL_SESSION_free(s->s);
  s->s = sess;
  s->seq = ++c->seq;
  return 1;
}

/* ---- contexts ---- */

/* The first failure of the chain check, kept for the message: libssl's
** verify result alone has neither the depth nor the certificate. */
static int on_verify(int ok, X509_STORE_CTX *sctx)
{
  SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
  struct tls_conn *t = ssl ? SSL_get_app_data(ssl) : NULL;
  if(!ok && t && !t->verify_err) {
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
    t->verify_err = X509_STORE_CTX_get_error(sctx);
    t->verify_depth = X509_STORE_CTX_get_error_depth(sctx);
    t->verify_subject[0] = '\0';
    if(cert) {
      BIO *mem = BIO_new(BIO_s_mem());
      if(mem) {
        int n;
        X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        n = BIO_read(mem, t->verify_subject, (int)sizeof(t->verify_subject) - 1);
        t->verify_subject[n > 0 ? n : 0] = '\0';
        BIO_free(mem);
      }
    }
  }
  return ok;
}

static void ctx_unref(struct tls_ctx *c)
{
  int i;
  if(--c->refs > 0)
    return;
  for(i = 0; i < SESSIONS; i++)
    session_clear(&c->sessions[i]);
  SSL_CTX_free(c->ssl);
  BIO_meth_free(c->bio);
  free(c);
}

/* 1 when dir holds at least one c_rehash link ("1a2b3c4d.0"). */
static int hashed_dir(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  if(!d)
    return 0;
  while(!found && (e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    size_t i = strspn(n, "0123456789abcdef");
    found = i == 8 && n[8] == '.' && n[9] && strspn(n + 9, "0123456789") == strlen(n + 9);
  }
  closedir(d);
  return found;
}

/* OpenSSL's default trust store, with one saving. SSL_CTX_set_default_
** verify_paths parses the whole bundle file (Debian's: 140 CAs, 1.4 MiB of
** heap and 25 ms per context) besides adding the hashed directory, which
** holds the same CAs and is read lazily, only the CAs a chain needs. So the
** bundle is loaded only when SSL_CERT_FILE names it or the directory has
** no hash links. The environment is honoured as OpenSSL honours it, and
** failures are ignored as it ignores them (an empty store then fails every
** verification with a clear reason). */
static void load_defaults(SSL_CTX *ssl)
{
  const char *file = getenv(X509_get_default_cert_file_env());
  const char *dirs = getenv(X509_get_default_cert_dir_env());
  char first[4096];
  if(!dirs || !*dirs)
    dirs = X509_get_default_cert_dir();
  snprintf(first, sizeof(first), "%.*s", (int)strcspn(dirs, ":"), dirs);
  if(file && *file)
    SSL_CTX_load_verify_file(ssl, file);
  else if(!hashed_dir(first))
    SSL_CTX_load_verify_file(ssl, X509_get_default_cert_file());
  SSL_CTX_load_verify_dir(ssl, dirs);
  ERR_clear_error();
}

/* The trust store: ca_file alone, or the defaults; plus ca_path. */
static int load_trust(SSL_CTX *ssl, const char *ca_file, const char *ca_path, char *err, size_t errlen)
{
  char why[256];
  if(ca_file) {
    FILE *f = fopen(ca_file, "r");
    if(!f) {
      set_err(err, errlen, "cannot read the CA file %s: %s", ca_file, strerror(errno));
      return -1;
    }
    fclose(f);
    if(SSL_CTX_load_verify_file(ssl, ca_file) != 1) {
      queued_reason(why, sizeof(why));
      set_err(err, errlen, "cannot load the CA file %s: %s", ca_file, why);
      return -1;
    }
  }
  else
    load_defaults(ssl);
  if(ca_path) {
    struct stat st;
    if(stat(ca_path, &st)) {
      set_err(err, errlen, "cannot read the CA directory %s: %s", ca_path, strerror(errno));
      return -1;
    }
    if(!S_ISDIR(st.st_mode)) {
      set_err(err, errlen, "cannot read the CA directory %s: not a directory", ca_path);
      return -1;
    }
    if(SSL_CTX_load_verify_dir(ssl, ca_path) != 1) {
      queued_reason(why, sizeof(why));
      set_err(err, errlen, "cannot use the CA directory %s: %s", ca_path, why);
      return -1;
    }
  }
  return 0;
}

struct tls_ctx *tls_ctx_new(const char *ca_file, const char *ca_path, char *err, size_t errlen)
{
  static const unsigned char alpn[] = "\x08http/1.1";
  struct tls_ctx *c = calloc(1, sizeof(*c));
  char why[256];
  if(!c) {
    set_err(err, errlen, "out of memory for a TLS context");
    return NULL;
  }
  c->refs = 1;
  ERR_clear_error();
  c->ssl = SSL_CTX_new(TLS_client_method());
  c->bio = sock_method();
  if(!c->ssl || !c->bio) {
    queued_reason(why, sizeof(why));
    set_err(err, errlen, "cannot create a TLS context: %s", why);
    goto fail;
  }
  if(load_trust(c->ssl, ca_file, ca_path, err, errlen))
    goto fail;
  SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, on_verify);
  /* partial writes: tls_write reports what one record took, as a
  ** socket write would; the caller may move its buffer between retries */
  SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c->ssl, on_new_session);
  if(SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION) != 1 ||
     SSL_CTX_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1) != 0) {
    queued_reason(why, sizeof(why));
    set_err(err, errlen, "cannot set up the TLS context: %s", why);
    goto fail;
  }
  ERR_clear_error();
  return c;
fail:
  ERR_clear_error();
  ctx_unref(c);
  return NULL;
}

void tls_ctx_free(struct tls_ctx *c)
{
  if(c)
    ctx_unref(c);
}

/* ---- connections ---- */

static int peer_port(int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if(getpeername(fd, (struct sockaddr *)&ss, &len))
    return 0;
  if(ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if(ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

/* 1 when host is an IP literal; the address text (an IPv6 zone dropped:
** certificates do not carry one) in ip. */
static int ip_literal(const char *host, char *ip, size_t iplen)
{
  unsigned char bin[sizeof(struct in6_addr)];
  size_t n = strcspn(host, "%");
  if(n >= iplen)
    return 0;
  memcpy(ip, host, n);
  ip[n] = '\0';
  return inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1;
}

struct tls_conn *tls_conn_new(struct tls_ctx *c, int fd, const char *host, char *err, size_t errlen)
{
  size_t hlen = strlen(host);
  struct tls_conn *t;
  char ip[64], why[256];
  BIO *bio;
  struct session *s;
  /* "[::1]" as a URL spells it is the address ::1; "example.com." names
  ** the same host as "example.com", which certificates and SNI spell
  ** without the dot */
  if(hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
    host++;
    hlen -= 2;
  }
  else if(hlen > 1 && host[hlen - 1] == '.')
    hlen--;
  if(!hlen) {
    set_err(err, errlen, "TLS needs a host name to verify");
    return NULL;
  }
  t = calloc(1, sizeof(*t) + hlen + 1);
  if(!t) {
    set_err(err, errlen, "out of memory for a TLS connection");
    return NULL;
  }
  memcpy(t->host, host, hlen);
  t->host[hlen] = '\0';
  t->fd = fd;
  t->ctx = c;
  c->refs++;
  ERR_clear_error();
  t->ssl = SSL_new(c->ssl);
  if(!t->ssl)
    goto fail_ssl;
  bio = BIO_new(c->bio);
  if(!bio)
    goto fail_ssl;
  BIO_set_data(bio, t);
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio);
  SSL_set_app_data(t->ssl, t);
  SSL_set_connect_state(t->ssl);
  if(ip_literal(t->host, ip, sizeof(ip))) {
    /* checked against the certificate's IP addresses; RFC 6066 allows no
    ** address in SNI */
    if(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip) != 1)
      goto fail_ssl;
  }
  else {
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if(SSL_set1_host(t->ssl, t->host) != 1 || SSL_set_tlsext_host_name(t->ssl, t->host) != 1)
      goto fail_ssl;
  }
  t->port = peer_port(fd);
  s = session_find(c, t->host, t->port);
  if(s && s->s && SSL_SESSION_is_resumable(s->s))
    SSL_set_session(t->ssl, s->s);
  ERR_clear_error();
  return t;
fail_ssl:
  queued_reason(why, sizeof(why));
  set_err(err, errlen, "cannot start a TLS connection: %s", why);
  tls_conn_free(t);
  return NULL;
}

/* The reason a handshake was refused by the chain or name check. */
static void verify_message(struct tls_conn *t, char *err, size_t errlen)
{
  long v = t->verify_err ? t->verify_err : SSL_get_verify_result(t->ssl);
  const char *why = X509_verify_cert_error_string(v);
  if(!err || !errlen)
    return;
  if(v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
    snprintf(err, errlen, "%s: the certificate%s%s%s is not for %s", why,
             t->verify_subject[0] ? " (" : "", t->verify_subject,
             t->verify_subject[0] ? ")" : "", t->host);
  else if(t->verify_err && t->verify_subject[0])
    snprintf(err, errlen, "%s (depth %d: %s)", why, t->verify_depth, t->verify_subject);
  else
    snprintf(err, errlen, "%s", why);
}

enum tls_rc tls_handshake(struct tls_conn *t, char *err, size_t errlen)
{
  int rc, e;
  char why[256];
  ERR_clear_error();
  rc = SSL_do_handshake(t->ssl);
  if(rc == 1) {
    /* HTTP/1.1 framing decides truncation: an EOF without close_notify
    ** is an EOF (TLS_CLOSED), not an error. Only past the handshake: an
    ** EOF in it is a failure. */
    SSL_set_options(t->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ERR_clear_error();
    return TLS_OK;
  }
  e = SSL_get_error(t->ssl, rc);
  if(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ ? TLS_WANT_READ : TLS_WANT_WRITE;
  }
  t->fatal = 1;
  if(t->verify_err || SSL_get_verify_result(t->ssl) != X509_V_OK) {
    ERR_clear_error();
    verify_message(t, err, errlen);
    return TLS_VERIFY_FAILED;
  }
  if(t->sys_errno) {
    ERR_clear_error();
    set_err(err, errlen, "TLS handshake failed: %s", strerror(t->sys_errno));
    errno = t->sys_errno;
    return TLS_ERROR;
  }
  if(t->eof || e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    set_err(err, errlen, "TLS handshake failed: the server closed the connection");
    errno = 0;
    return TLS_ERROR;
  }
  queued_reason(why, sizeof(why));
  set_err(err, errlen, "TLS handshake failed: %s", why);
  errno = 0;
  return TLS_ERROR;
}

/* After a read or write that did not succeed: what to tell the caller. */
static enum tls_rc io_failed(struct tls_conn *t, int rc, char *err, size_t errlen)
{
  int e = SSL_get_error(t->ssl, rc);
  char why[256];
  switch(e) {
  case SSL_ERROR_WANT_READ:
    ERR_clear_error();
    return TLS_WANT_READ;
  case SSL_ERROR_WANT_WRITE:
    ERR_clear_error();
    return TLS_WANT_WRITE;
  case SSL_ERROR_ZERO_RETURN:
    ERR_clear_error();
    return TLS_CLOSED;
  default:
    break;
  }
  t->fatal = 1;
  if(t->sys_errno) {
    ERR_clear_error();
    set_err(err, errlen, "%s", strerror(t->sys_errno));
    errno = t->sys_errno;
    return TLS_ERROR;
  }
  if(e == SSL_ERROR_SYSCALL && t->eof) {
    ERR_clear_error();
    return TLS_CLOSED;
  }
  queued_reason(why, sizeof(why));
  set_err(err, errlen, "TLS error: %s", why);
  errno = 0;
  return TLS_ERROR;
}

enum tls_rc tls_read(struct tls_conn *t, void *buf, size_t n, size_t *done, char *err, size_t errlen)
{
  int rc;
  *done = 0;
  if(!n)
    return TLS_OK;
  ERR_clear_error();
  rc = SSL_read_ex(t->ssl, buf, n, done);
  if(rc == 1)
    return TLS_OK;
  return io_failed(t, rc, err, errlen);
}

enum tls_rc tls_write(struct tls_conn *t, const void *buf, size_t n, size_t *done, char *err, size_t errlen)
{
  int rc;
  *done = 0;
  if(!n)
    return TLS_OK;
  ERR_clear_error();
  rc = SSL_write_ex(t->ssl, buf, n, done);
  if(rc == 1)
    return TLS_OK;
  return io_failed(t, rc, err, errlen);
}

size_t tls_pending(const struct tls_conn *t)
{
  int n = SSL_pending(t->ssl);
  return n > 0 ? (size_t)n : 0;
}

int tls_resumed(const struct tls_conn *t)
{
  return SSL_session_reused(t->ssl) == 1;
}

void tls_conn_free(struct tls_conn *t)
{
  if(!t)
    return;
  if(t->ssl) {
    /* one try at close_notify: on a non-blocking socket it sends what
    ** fits and returns. After a fatal error libssl forbids it. It also
    ** keeps the session resumable: libssl drops a session whose
    ** connection ended without one. */
    if(!t->fatal && SSL_is_init_finished(t->ssl)) {
      ERR_clear_error();
      SSL_shutdown(t->ssl);
    }
    ERR_clear_error();
    SSL_free(t->ssl);
  }
  ctx_unref(t->ctx);
  free(t);
}
