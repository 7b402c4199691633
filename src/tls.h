/* TLS client connections with OpenSSL (libssl 3) over a connected
** non-blocking socket the caller owns and polls. The peer's certificate and
** host name are always verified; TLS 1.2 at least; ALPN "http/1.1".
** Nothing of libssl is set up before the first tls_ctx_new. A write to a
** peer that has gone never raises SIGPIPE (the socket is written with
** MSG_NOSIGNAL). A ctx and its connections belong to one thread at a time.
** The ctx keeps the newest session per host and port for resumption. */
#ifndef BEDROCK_TLS_H
#define BEDROCK_TLS_H

#include <stddef.h>

struct tls_ctx;    /* an SSL_CTX for one trust setting */
struct tls_conn;   /* one TLS connection over a connected non-blocking socket */

enum tls_rc { TLS_OK = 0, TLS_WANT_READ, TLS_WANT_WRITE, TLS_CLOSED, TLS_ERROR, TLS_VERIFY_FAILED };

/* ca_file replaces the default trust store (a PEM bundle); ca_path adds a
** hashed directory; without ca_file, OpenSSL's default store: the hashed
** directory (SSL_CERT_DIR, else Debian's /etc/ssl/certs), read lazily, and
** the bundle file only when SSL_CERT_FILE names one or the directory has
** no hash links. NULL with a message in err (a CA file or directory that
** cannot be read is named). */
struct tls_ctx *tls_ctx_new(const char *ca_file, const char *ca_path, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *c);

/* host: the name to verify and send as SNI. An IP literal is verified
** against the certificate's IP addresses and is not sent as SNI. fd stays
** the caller's (tls_conn_free does not close it). The connection holds a
** reference to c: tls_ctx_free may come first. */
struct tls_conn *tls_conn_new(struct tls_ctx *c, int fd, const char *host, char *err, size_t errlen);

/* Drive the handshake: TLS_OK when done, TLS_WANT_READ/WRITE to be called
** again when the socket is ready, TLS_VERIFY_FAILED with err = the
** verification reason alone ("hostname mismatch: the certificate
** (CN=localhost) is not for example.com", "unable to get local issuer
** certificate (depth 0: CN=...)"; the caller puts "TLS certificate
** verification failed: " before it), TLS_ERROR with err = a readable
** reason otherwise ("TLS handshake failed: ..."). */
enum tls_rc tls_handshake(struct tls_conn *t, char *err, size_t errlen);

/* Read/write up to n bytes. TLS_OK with *done > 0; TLS_WANT_READ or
** TLS_WANT_WRITE (a read can want a write and the other way round: wait for
** what is asked, then call the same function again with the same
** arguments); TLS_CLOSED on the peer's close_notify or an EOF without one
** (HTTP/1.1 framing decides truncation); TLS_ERROR with a message, errno
** set to the socket's error (ECONNRESET, EPIPE, ...) or 0 for a TLS one.
** Writes are partial: *done is what one or more records took. */
enum tls_rc tls_read(struct tls_conn *t, void *buf, size_t n, size_t *done, char *err, size_t errlen);
enum tls_rc tls_write(struct tls_conn *t, const void *buf, size_t n, size_t *done, char *err, size_t errlen);

/* Bytes already decrypted and buffered (SSL_pending): read them before
** waiting on the socket. */
size_t tls_pending(const struct tls_conn *t);

/* 1 when the handshake resumed a session from an earlier connection to
** the same host and port. */
int tls_resumed(const struct tls_conn *t);

/* Free (a best-effort close_notify, never blocking). */
void tls_conn_free(struct tls_conn *t);

#endif
