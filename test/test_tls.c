/*
** test_tls.c: TLS client connections (src/tls.c) against an OpenSSL server
** in this process, over 127.0.0.1 sockets both ends of which are
** non-blocking; one loop drives the two sides in turn. The certificates are
** made here at run time (a CA, a second CA nobody trusts, leaves for
** localhost, 127.0.0.1 and ::1, a self-signed one) into a temporary
** directory removed at the end.
**
** Covered: a verified handshake with ca_file (SNI and ALPN seen by the
** server), a wrong host name, an untrusted chain, a self-signed leaf, IP
** literals against IP SANs (and no SNI for them), ca_path alone, the
** default store through SSL_CERT_DIR and SSL_CERT_FILE, CA files that
** cannot be read or hold no certificate, a round trip of 1 MiB each
** way with partial writes and SSL_pending, close_notify and a bare EOF as
** TLS_CLOSED, a write to a peer that has gone (EPIPE, no SIGPIPE: this
** program does not ignore it), failures in the handshake (EOF, not TLS, a
** server below TLS 1.2), session resumption (TLS 1.3 and 1.2), and an empty
** OpenSSL error queue after every call.
**
** Usage: test_tls
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

#include "check.h"

static char dir[] = "/tmp/test_tls.XXXXXX";
static char ca_pem[256], other_ca_pem[256], empty_pem[256], hashdir[256];
static int listener = -1;

/* ---- certificates ---- */

struct cert {
  EVP_PKEY *key;
  X509 *x;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if(!ext || !X509_add_ext(x, ext, -1)) {
    fprintf(stderr, "extension %s failed\n", value);
    exit(2);
  }
  X509_EXTENSION_free(ext);
}

/* A P-256 certificate for cn, signed by issuer (NULL: by itself). */
static struct cert make_cert(const char *cn, const struct cert *issuer, int ca, const char *san)
{
  static long serial = 1;
  struct cert c;
  X509_NAME *name;
  c.key = EVP_EC_gen("P-256");
  c.x = X509_new();
  if(!c.key || !c.x) {
    fprintf(stderr, "no key or certificate\n");
    exit(2);
  }
  X509_set_version(c.x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(c.x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.x), 86400);
  X509_set_pubkey(c.x, c.key);
  name = X509_get_subject_name(c.x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(c.x, issuer ? X509_get_subject_name(issuer->x) : name);
  if(ca) {
    add_ext(c.x, issuer ? issuer->x : c.x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.x, issuer ? issuer->x : c.x, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  else {
    add_ext(c.x, issuer ? issuer->x : c.x, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c.x, issuer ? issuer->x : c.x, NID_ext_key_usage, "serverAuth");
  }
  add_ext(c.x, issuer ? issuer->x : c.x, NID_subject_key_identifier, "hash");
  if(san)
    add_ext(c.x, issuer ? issuer->x : c.x, NID_subject_alt_name, san);
  if(!X509_sign(c.x, issuer ? issuer->key : c.key, EVP_sha256())) {
    fprintf(stderr, "signing failed\n");
    exit(2);
  }
  return c;
}

static void cert_free(struct cert *c)
{
  EVP_PKEY_free(c->key);
  X509_free(c->x);
}

static void write_pem(const char *path, X509 *x)
{
  FILE *f = fopen(path, "w");
  if(!f || (x && !PEM_write_X509(f, x))) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
  fclose(f);
}

/* ---- the server ---- */

static char seen_sni[256];
static int seen_sni_set;
static char seen_alpn[32];

static int on_servername(SSL *ssl, int *al, void *arg)
{
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  (void)al;
  (void)arg;
  seen_sni_set = name != NULL;
  snprintf(seen_sni, sizeof(seen_sni), "%s", name ? name : "");
  return SSL_TLSEXT_ERR_OK;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
  static const unsigned char ours[] = "\x08http/1.1";
  (void)ssl;
  (void)arg;
  if(SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in, inlen) !=
     OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  snprintf(seen_alpn, sizeof(seen_alpn), "%.*s", (int)*outlen, (const char *)*out);
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx(const struct cert *leaf, int max_version)
{
  SSL_CTX *s = SSL_CTX_new(TLS_server_method());
  if(!s || SSL_CTX_use_certificate(s, leaf->x) != 1 || SSL_CTX_use_PrivateKey(s, leaf->key) != 1) {
    fprintf(stderr, "server context failed\n");
    exit(2);
  }
  SSL_CTX_set_tlsext_servername_callback(s, on_servername);
  SSL_CTX_set_alpn_select_cb(s, on_alpn, NULL);
  if(max_version) {
    if(max_version < TLS1_2_VERSION) {
      SSL_CTX_set_security_level(s, 0);
      SSL_CTX_set_min_proto_version(s, max_version);
    }
    SSL_CTX_set_max_proto_version(s, max_version);
  }
  return s;
}

static void nonblock(int fd)
{
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected pair over 127.0.0.1: *c the client's end, *s the server's. */
static void tcp_pair(int *c, int *s)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int one = 1;
  if(listener < 0) {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if(listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) || listen(listener, 8)) {
      fprintf(stderr, "listen: %s\n", strerror(errno));
      exit(2);
    }
  }
  getsockname(listener, (struct sockaddr *)&a, &len);
  *c = socket(AF_INET, SOCK_STREAM, 0);
  if(*c < 0 || connect(*c, (struct sockaddr *)&a, sizeof(a)) || (*s = accept(listener, NULL, NULL)) < 0) {
    fprintf(stderr, "connect: %s\n", strerror(errno));
    exit(2);
  }
  setsockopt(*c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  nonblock(*c);
  nonblock(*s);
}

struct pair {
  int cfd, sfd;
  SSL *srv;
  struct tls_conn *cli;
  enum tls_rc rc;        /* the client's last handshake result */
  char err[512];
};

static void wait_both(struct pair *p)
{
  struct pollfd f[2];
  f[0].fd = p->cfd;
  f[1].fd = p->sfd;
  f[0].events = f[1].events = POLLIN;
  poll(f, 2, 10);
}

/* Connect to a server using sctx, the client verifying host. */
static int pair_open(struct pair *p, struct tls_ctx *ctx, SSL_CTX *sctx, const char *host)
{
  memset(p, 0, sizeof(*p));
  tcp_pair(&p->cfd, &p->sfd);
  p->srv = SSL_new(sctx);
  SSL_set_fd(p->srv, p->sfd);
  SSL_set_accept_state(p->srv);
  seen_sni_set = 0;
  seen_sni[0] = seen_alpn[0] = '\0';
  p->cli = tls_conn_new(ctx, p->cfd, host, p->err, sizeof(p->err));
  check(p->cli != NULL, "tls_conn_new %s: %s", host, p->err);
  check(ERR_peek_error() == 0, "the error queue after tls_conn_new is not empty");
  return p->cli != NULL;
}

/* Drive both handshakes; the client's result in p->rc. */
static enum tls_rc pair_handshake(struct pair *p)
{
  int cdone = 0, sdone = 0, i;
  for(i = 0; i < 2000 && !(cdone && sdone); i++) {
    if(!cdone) {
      p->rc = tls_handshake(p->cli, p->err, sizeof(p->err));
      check(ERR_peek_error() == 0, "the error queue after tls_handshake is not empty");
      if(p->rc != TLS_WANT_READ && p->rc != TLS_WANT_WRITE)
        cdone = 1;
      if(cdone && p->rc != TLS_OK)
        break;
    }
    if(!sdone) {
      int r = SSL_accept(p->srv);
      if(r == 1)
        sdone = 1;
      else {
        int e = SSL_get_error(p->srv, r);
        if(e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
          sdone = 1;
      }
      ERR_clear_error();
    }
    if(!(cdone && sdone))
      wait_both(p);
  }
  return p->rc;
}

static void pair_close(struct pair *p)
{
  tls_conn_free(p->cli);
  check(ERR_peek_error() == 0, "the error queue after tls_conn_free is not empty");
  SSL_free(p->srv);
  ERR_clear_error();
  if(p->cfd >= 0)
    close(p->cfd);
  if(p->sfd >= 0)
    close(p->sfd);
}

/* Server writes all of buf (pumping), client nothing. */
static void server_write(struct pair *p, const void *buf, size_t n)
{
  size_t off = 0;
  int i;
  for(i = 0; off < n && i < 100000; i++) {
    size_t w;
    if(SSL_write_ex(p->srv, (const char *)buf + off, n - off, &w) == 1)
      off += w;
    else {
      ERR_clear_error();
      break;
    }
  }
  check(off == n, "server wrote %zu of %zu", off, n);
}

/* ---- tests ---- */

static struct cert ca, other_ca, leaf, self_signed;
static SSL_CTX *sctx, *sctx_self, *sctx_tls12, *sctx_tls11;

static struct tls_ctx *ctx_ok(const char *file, const char *path)
{
  char err[512] = "";
  struct tls_ctx *c = tls_ctx_new(file, path, err, sizeof(err));
  check(c != NULL, "tls_ctx_new(%s, %s): %s", file ? file : "NULL", path ? path : "NULL", err);
  check(ERR_peek_error() == 0, "the error queue after tls_ctx_new is not empty");
  return c;
}

static void test_handshake(struct tls_ctx *c)
{
  struct pair p;
  if(!pair_open(&p, c, sctx, "localhost"))
    return;
  check(pair_handshake(&p) == TLS_OK, "handshake with localhost: %d %s", p.rc, p.err);
  check(seen_sni_set && !strcmp(seen_sni, "localhost"), "SNI: %s", seen_sni);
  check(!strcmp(seen_alpn, "http/1.1"), "ALPN: %s", seen_alpn);
  check(SSL_version(p.srv) == TLS1_3_VERSION, "version %s", SSL_get_version(p.srv));
  pair_close(&p);

  /* the name with its trailing dot is the same name */
  if(!pair_open(&p, c, sctx, "localhost."))
    return;
  check(pair_handshake(&p) == TLS_OK, "handshake with localhost.: %d %s", p.rc, p.err);
  check(!strcmp(seen_sni, "localhost"), "SNI for localhost.: %s", seen_sni);
  pair_close(&p);
}

static void expect_verify_failure(struct tls_ctx *c, SSL_CTX *s, const char *host, const char *want1,
                                  const char *want2)
{
  struct pair p;
  if(!pair_open(&p, c, s, host))
    return;
  check(pair_handshake(&p) == TLS_VERIFY_FAILED, "%s: rc %d (%s), want TLS_VERIFY_FAILED", host, p.rc,
        p.err);
  check(strstr(p.err, want1) && (!want2 || strstr(p.err, want2)), "%s: message %s", host, p.err);
  pair_close(&p);
}

static void test_verify(struct tls_ctx *c, struct tls_ctx *other)
{
  expect_verify_failure(c, sctx, "wrong.test",
                        "hostname mismatch: the certificate (CN=localhost) is not for wrong.test", NULL);
  /* a wildcard-free certificate for localhost does not cover a sub-name */
  expect_verify_failure(c, sctx, "a.localhost", "hostname mismatch", "a.localhost");
  expect_verify_failure(other, sctx, "localhost", "unable to get local issuer certificate",
                        "(depth 0: CN=localhost)");
  expect_verify_failure(c, sctx_self, "localhost", "self-signed certificate", "CN=localhost");
}

static void test_ip(struct tls_ctx *c)
{
  struct pair p;
  if(!pair_open(&p, c, sctx, "127.0.0.1"))
    return;
  check(pair_handshake(&p) == TLS_OK, "handshake with 127.0.0.1: %d %s", p.rc, p.err);
  check(!seen_sni_set, "SNI sent for an IP literal: %s", seen_sni);
  pair_close(&p);
  if(!pair_open(&p, c, sctx, "::1"))
    return;
  check(pair_handshake(&p) == TLS_OK, "handshake with ::1: %d %s", p.rc, p.err);
  check(!seen_sni_set, "SNI sent for ::1: %s", seen_sni);
  pair_close(&p);
  if(!pair_open(&p, c, sctx, "[::1]"))
    return;
  check(pair_handshake(&p) == TLS_OK, "handshake with [::1]: %d %s", p.rc, p.err);
  check(!seen_sni_set, "SNI sent for [::1]: %s", seen_sni);
  pair_close(&p);
  expect_verify_failure(c, sctx, "127.0.0.2", "IP address mismatch", "is not for 127.0.0.2");
  expect_verify_failure(c, sctx, "::2", "IP address mismatch", "is not for ::2");
}

static void test_ca_files(void)
{
  char err[512];
  struct tls_ctx *c;
  const char *missing = "/nonexistent/dir/ca.pem";

  err[0] = '\0';
  c = tls_ctx_new(missing, NULL, err, sizeof(err));
  check(c == NULL, "a missing CA file was accepted");
  check(strstr(err, missing) && strstr(err, "No such file"), "missing CA file: %s", err);
  tls_ctx_free(c);

  err[0] = '\0';
  c = tls_ctx_new(empty_pem, NULL, err, sizeof(err));
  check(c == NULL, "a CA file with no certificate was accepted");
  check(strstr(err, empty_pem) != NULL, "empty CA file: %s", err);
  tls_ctx_free(c);
  check(ERR_peek_error() == 0, "the error queue after a refused CA file is not empty");

  err[0] = '\0';
  c = tls_ctx_new(NULL, "/nonexistent/certs", err, sizeof(err));
  check(c == NULL, "a missing CA directory was accepted");
  check(strstr(err, "/nonexistent/certs") != NULL, "missing CA directory: %s", err);
  tls_ctx_free(c);

  err[0] = '\0';
  c = tls_ctx_new(NULL, ca_pem, err, sizeof(err));
  check(c == NULL, "a file as the CA directory was accepted");
  check(strstr(err, ca_pem) && strstr(err, "not a directory"), "file as CA directory: %s", err);
  tls_ctx_free(c);

  /* a directory hashed as c_rehash does it: the default store plus ours */
  c = ctx_ok(NULL, hashdir);
  if(c) {
    struct pair p;
    if(pair_open(&p, c, sctx, "localhost")) {
      check(pair_handshake(&p) == TLS_OK, "handshake with ca_path: %d %s", p.rc, p.err);
      pair_close(&p);
    }
    tls_ctx_free(c);
  }

  /* the default store as OpenSSL's environment variables name it: a
  ** hashed directory alone (the bundle file is then not loaded), a file */
  {
    char *saved_file = getenv("SSL_CERT_FILE"), *saved_dir = getenv("SSL_CERT_DIR");
    struct pair p;
    saved_file = saved_file ? strdup(saved_file) : NULL;
    saved_dir = saved_dir ? strdup(saved_dir) : NULL;
    unsetenv("SSL_CERT_FILE");
    setenv("SSL_CERT_DIR", hashdir, 1);
    c = ctx_ok(NULL, NULL);
    if(c && pair_open(&p, c, sctx, "localhost")) {
      check(pair_handshake(&p) == TLS_OK, "handshake with SSL_CERT_DIR: %d %s", p.rc, p.err);
      pair_close(&p);
    }
    tls_ctx_free(c);
    setenv("SSL_CERT_FILE", ca_pem, 1);
    setenv("SSL_CERT_DIR", dir, 1);
    c = ctx_ok(NULL, NULL);
    if(c && pair_open(&p, c, sctx, "localhost")) {
      check(pair_handshake(&p) == TLS_OK, "handshake with SSL_CERT_FILE: %d %s", p.rc, p.err);
      pair_close(&p);
    }
    tls_ctx_free(c);
    if(saved_file)
      setenv("SSL_CERT_FILE", saved_file, 1);
    else
      unsetenv("SSL_CERT_FILE");
    if(saved_dir)
      setenv("SSL_CERT_DIR", saved_dir, 1);
    else
      unsetenv("SSL_CERT_DIR");
    free(saved_file);
    free(saved_dir);
  }

  /* the default store does not trust our CA */
  c = ctx_ok(NULL, NULL);
  if(c) {
    expect_verify_failure(c, sctx, "localhost", "unable to get local issuer certificate", NULL);
    tls_ctx_free(c);
  }
}

static void test_round_trip(struct tls_ctx *c)
{
  enum { N = 1 << 20 };
  struct pair p;
  unsigned char *out = malloc(N), *in = malloc(N);
  size_t sent = 0, got = 0, i, done;
  int rounds;
  enum tls_rc rc;
  if(!out || !in)
    exit(2);
  for(i = 0; i < N; i++)
    out[i] = (unsigned char)(i * 7 + i / 251);
  if(!pair_open(&p, c, sctx, "localhost") || pair_handshake(&p) != TLS_OK) {
    check(0, "round trip: no handshake: %s", p.err);
    goto out;
  }
  /* client to server: the socket fills, so writes go partial and want to
  ** write; the server drains between them */
  for(rounds = 0; (sent < N || got < N) && rounds < 100000; rounds++) {
    if(sent < N) {
      rc = tls_write(p.cli, out + sent, N - sent, &done, p.err, sizeof(p.err));
      check(ERR_peek_error() == 0, "the error queue after tls_write is not empty");
      if(rc == TLS_OK) {
        check(done > 0 && done <= N - sent, "tls_write took %zu", done);
        sent += done;
      }
      else if(rc != TLS_WANT_WRITE && rc != TLS_WANT_READ) {
        check(0, "tls_write: %d %s", rc, p.err);
        break;
      }
    }
    for(;;) {
      size_t r;
      if(SSL_read_ex(p.srv, in + got, N - got, &r) != 1)
        break;
      got += r;
    }
    ERR_clear_error();
  }
  check(sent == N && got == N && !memcmp(in, out, N), "client to server: sent %zu, got %zu", sent, got);

  /* server to client, read in small pieces: the rest of a record waits in
  ** SSL_pending */
  server_write(&p, out, N);
  memset(in, 0, N);
  got = 0;
  {
    int saw_pending = 0;
    for(rounds = 0; got < N && rounds < 1000000; rounds++) {
      size_t want = N - got < 1000 ? N - got : 1000;
      rc = tls_read(p.cli, in + got, want, &done, p.err, sizeof(p.err));
      if(rc == TLS_OK) {
        got += done;
        if(tls_pending(p.cli) > 0)
          saw_pending = 1;
      }
      else if(rc == TLS_WANT_READ)
        wait_both(&p);
      else {
        check(0, "tls_read: %d %s", rc, p.err);
        break;
      }
    }
    check(saw_pending, "tls_pending never above 0");
  }
  check(got == N && !memcmp(in, out, N), "server to client: got %zu", got);
  check(tls_pending(p.cli) == 0, "pending %zu at the end", tls_pending(p.cli));

  /* nothing there: want read; no bytes is no call */
  rc = tls_read(p.cli, in, 100, &done, p.err, sizeof(p.err));
  check(rc == TLS_WANT_READ && done == 0, "read with nothing there: %d", rc);
  rc = tls_write(p.cli, out, 0, &done, p.err, sizeof(p.err));
  check(rc == TLS_OK && done == 0, "write of 0 bytes: %d", rc);
  pair_close(&p);
out:
  free(out);
  free(in);
}

/* read until something other than want-read */
static enum tls_rc read_end(struct pair *p, size_t *total)
{
  char buf[256];
  enum tls_rc rc;
  int i;
  *total = 0;
  for(i = 0; i < 500; i++) {
    size_t done;
    rc = tls_read(p->cli, buf, sizeof(buf), &done, p->err, sizeof(p->err));
    if(rc == TLS_OK)
      *total += done;
    else if(rc == TLS_WANT_READ)
      wait_both(p);
    else
      return rc;
  }
  return TLS_WANT_READ;
}

static void test_close(struct tls_ctx *c)
{
  struct pair p;
  size_t total;
  enum tls_rc rc;

  /* close_notify after some data: the data, then TLS_CLOSED */
  if(!pair_open(&p, c, sctx, "localhost") || pair_handshake(&p) != TLS_OK)
    return;
  server_write(&p, "hello", 5);
  SSL_shutdown(p.srv);
  rc = read_end(&p, &total);
  check(rc == TLS_CLOSED && total == 5, "close_notify: rc %d (%s), %zu bytes", rc, p.err, total);
  pair_close(&p);

  /* a bare EOF (no close_notify) is TLS_CLOSED too */
  if(!pair_open(&p, c, sctx, "localhost") || pair_handshake(&p) != TLS_OK)
    return;
  server_write(&p, "hello", 5);
  shutdown(p.sfd, SHUT_WR);
  rc = read_end(&p, &total);
  check(rc == TLS_CLOSED && total == 5, "EOF: rc %d (%s), %zu bytes", rc, p.err, total);
  pair_close(&p);

  /* the peer has gone: writes fail with EPIPE or ECONNRESET, and no
  ** SIGPIPE kills this process (it keeps the default disposition) */
  if(!pair_open(&p, c, sctx, "localhost") || pair_handshake(&p) != TLS_OK)
    return;
  SSL_free(p.srv);
  p.srv = NULL;
  close(p.sfd);
  p.sfd = -1;
  {
    static char chunk[16384];
    int i;
    size_t done;
    rc = TLS_OK;
    for(i = 0; i < 1000 && (rc == TLS_OK || rc == TLS_WANT_WRITE); i++) {
      rc = tls_write(p.cli, chunk, sizeof(chunk), &done, p.err, sizeof(p.err));
      if(rc == TLS_WANT_WRITE) {
        struct pollfd f = { p.cfd, POLLOUT, 0 };
        poll(&f, 1, 10);
      }
    }
    check(rc == TLS_ERROR && (errno == EPIPE || errno == ECONNRESET),
          "write to a closed peer: rc %d errno %d (%s)", rc, errno, p.err);
    check(strstr(p.err, "Broken pipe") || strstr(p.err, "reset"), "message: %s", p.err);
  }
  pair_close(&p);

  /* the server closes before we are done (after a read, tls_conn_free's
  ** close_notify goes to a closed socket: EPIPE again, silently) */
  if(!pair_open(&p, c, sctx, "localhost") || pair_handshake(&p) != TLS_OK)
    return;
  SSL_free(p.srv);
  p.srv = NULL;
  close(p.sfd);
  p.sfd = -1;
  rc = read_end(&p, &total);
  check(rc == TLS_CLOSED || (rc == TLS_ERROR && errno == ECONNRESET), "read after the peer closed: %d %s",
        rc, p.err);
  pair_close(&p);
}

static void test_handshake_failures(struct tls_ctx *c)
{
  struct pair p;
  enum tls_rc rc;
  int i;

  /* the server hangs up in the middle */
  if(pair_open(&p, c, sctx, "localhost")) {
    rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    check(rc == TLS_WANT_READ, "first handshake step: %d", rc);
    close(p.sfd);
    p.sfd = -1;
    for(i = 0; i < 100 && (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE); i++) {
      struct pollfd f = { p.cfd, POLLIN, 0 };
      poll(&f, 1, 10);
      rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    }
    check(rc == TLS_ERROR && !strncmp(p.err, "TLS handshake failed: ", 22), "EOF in the handshake: %d %s", rc,
          p.err);
    check(ERR_peek_error() == 0, "the error queue after a failed handshake is not empty");
    pair_close(&p);
  }

  /* the server reads the hello, then closes cleanly (a FIN, not a reset) */
  if(pair_open(&p, c, sctx, "localhost")) {
    char hello[4096];
    rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    check(read(p.sfd, hello, sizeof(hello)) > 0, "no hello");
    close(p.sfd);
    p.sfd = -1;
    for(i = 0; i < 100 && (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE); i++) {
      struct pollfd f = { p.cfd, POLLIN, 0 };
      poll(&f, 1, 10);
      rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    }
    check(rc == TLS_ERROR && !strcmp(p.err, "TLS handshake failed: the server closed the connection"),
          "clean EOF in the handshake: %d %s", rc, p.err);
    check(ERR_peek_error() == 0, "the error queue after a failed handshake is not empty");
    pair_close(&p);
  }

  /* not TLS: an HTTP server's reply */
  if(pair_open(&p, c, sctx, "localhost")) {
    static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    check(write(p.sfd, reply, sizeof(reply) - 1) == (ssize_t)sizeof(reply) - 1, "server write");
    for(i = 0; i < 100 && (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE); i++) {
      struct pollfd f = { p.cfd, POLLIN, 0 };
      poll(&f, 1, 10);
      rc = tls_handshake(p.cli, p.err, sizeof(p.err));
    }
    check(rc == TLS_ERROR && !strncmp(p.err, "TLS handshake failed: ", 22) && strlen(p.err) > 24,
          "not TLS: %d %s", rc, p.err);
    check(ERR_peek_error() == 0, "the error queue after a failed handshake is not empty");
    pair_close(&p);
  }

  /* a server that stops at TLS 1.1 */
  if(pair_open(&p, c, sctx_tls11, "localhost")) {
    rc = pair_handshake(&p);
    check(rc == TLS_ERROR && strstr(p.err, "TLS handshake failed: "), "TLS 1.1 server: %d %s", rc, p.err);
    pair_close(&p);
  }

  /* a failure leaves nothing behind for the next connection */
  if(pair_open(&p, c, sctx, "localhost")) {
    p.err[0] = '\0';
    check(pair_handshake(&p) == TLS_OK && p.err[0] == '\0', "after failures: %d %s", p.rc, p.err);
    pair_close(&p);
  }
}

/* Two connections in a row to one host: the second resumes. The first
** reads once after its handshake (a TLS 1.3 ticket comes after it) and
** ends with close_notify. */
static void resume_case(SSL_CTX *s, const char *what)
{
  struct tls_ctx *c = ctx_ok(ca_pem, NULL);
  struct pair p;
  size_t total;
  if(!c)
    return;
  if(pair_open(&p, c, s, "localhost")) {
    check(pair_handshake(&p) == TLS_OK, "%s first: %s", what, p.err);
    check(!tls_resumed(p.cli), "%s: the first connection resumed", what);
    server_write(&p, "x", 1);
    SSL_shutdown(p.srv);
    read_end(&p, &total);
    pair_close(&p);
  }
  if(pair_open(&p, c, s, "localhost")) {
    check(pair_handshake(&p) == TLS_OK, "%s second: %s", what, p.err);
    check(tls_resumed(p.cli), "%s: the second connection did not resume", what);
    pair_close(&p);
  }
  /* another name (to the same server) does not get that session */
  if(pair_open(&p, c, s, "127.0.0.1")) {
    check(pair_handshake(&p) == TLS_OK, "%s by address: %s", what, p.err);
    check(!tls_resumed(p.cli), "%s: resumed for another name", what);
    pair_close(&p);
  }
  tls_ctx_free(c);
}

static void test_resume(void)
{
  resume_case(sctx, "TLS 1.3");
  resume_case(sctx_tls12, "TLS 1.2");
}

/* The ctx may be freed before its connections. */
static void test_ctx_first(void)
{
  struct tls_ctx *c = ctx_ok(ca_pem, NULL);
  struct pair p;
  if(!c)
    return;
  if(pair_open(&p, c, sctx, "localhost")) {
    tls_ctx_free(c);
    check(pair_handshake(&p) == TLS_OK, "handshake after tls_ctx_free: %s", p.err);
    pair_close(&p);
  }
  else
    tls_ctx_free(c);
  tls_ctx_free(NULL);
  tls_conn_free(NULL);
}

static void setup(void)
{
  char path[400], hash[64];
  unsigned long h;
  if(!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(2);
  }
  ca = make_cert("Test CA", NULL, 1, NULL);
  other_ca = make_cert("Other CA", NULL, 1, NULL);
  leaf = make_cert("localhost", &ca, 0, "DNS:localhost,IP:127.0.0.1,IP:::1");
  self_signed = make_cert("localhost", NULL, 0, "DNS:localhost");
  snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
  snprintf(other_ca_pem, sizeof(other_ca_pem), "%s/other.pem", dir);
  snprintf(empty_pem, sizeof(empty_pem), "%s/empty.pem", dir);
  snprintf(hashdir, sizeof(hashdir), "%s/certs", dir);
  write_pem(ca_pem, ca.x);
  write_pem(other_ca_pem, other_ca.x);
  write_pem(empty_pem, NULL);
  mkdir(hashdir, 0700);
  h = X509_NAME_hash_ex(X509_get_subject_name(ca.x), NULL, NULL, NULL);
  snprintf(hash, sizeof(hash), "%08lx.0", h);
  snprintf(path, sizeof(path), "%s/%s", hashdir, hash);
  write_pem(path, ca.x);
  sctx = server_ctx(&leaf, 0);
  sctx_self = server_ctx(&self_signed, 0);
  sctx_tls12 = server_ctx(&leaf, TLS1_2_VERSION);
  sctx_tls11 = server_ctx(&leaf, TLS1_1_VERSION);
}

static void teardown(void)
{
  char cmd[300];
  SSL_CTX_free(sctx);
  SSL_CTX_free(sctx_self);
  SSL_CTX_free(sctx_tls12);
  SSL_CTX_free(sctx_tls11);
  cert_free(&ca);
  cert_free(&other_ca);
  cert_free(&leaf);
  cert_free(&self_signed);
  if(listener >= 0)
    close(listener);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
  struct tls_ctx *c, *other;
  setup();
  c = ctx_ok(ca_pem, NULL);
  other = ctx_ok(other_ca_pem, NULL);
  if(c && other) {
    test_handshake(c);
    test_verify(c, other);
    test_ip(c);
    test_round_trip(c);
    test_close(c);
    test_handshake_failures(c);
  }
  tls_ctx_free(c);
  tls_ctx_free(other);
  test_ca_files();
  test_resume();
  test_ctx_first();
  teardown();
  printf("tls: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
