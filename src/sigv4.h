/*
** sigv4.h: AWS Signature Version 4, header mode, sans-I/O.
**
** Pure functions over buffers: no Lua, no libcurl, no clock or environment
** reads. The caller gives the request exactly as it will go on the wire and
** gets back the X-Amz-Date value and the Authorization value to add.
*/
#ifndef BEDROCK_SIGV4_H
#define BEDROCK_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_HEX_LEN 64          /* a SHA-256 in lowercase hex */
#define SIGV4_AMZ_DATE_LEN 16     /* YYYYMMDDTHHMMSSZ */

/* One header as it will be sent. Names are matched case-insensitively. */
struct sigv4_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

struct sigv4_credentials {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token;      /* NULL when there is none */
};

struct sigv4_request {
  const char *method;             /* "POST" */
  const char *path;               /* wire path, already percent-encoded, no query */
  size_t path_len;
  const char *query;              /* raw query string after '?', or NULL */
  size_t query_len;
  /* Every header here is signed, in this order for duplicates, "host" included
  ** (the caller adds it). The signer itself signs x-amz-date, and
  ** x-amz-security-token when credentials carry a session token: do not pass
  ** those two here. */
  const struct sigv4_header *headers;
  size_t nheaders;
  const char *payload_hash;       /* SIGV4_HEX_LEN lowercase hex chars, or
                                  ** SIGV4_STREAMING_EVENTS (event-stream input) */
  const char *region;
  const char *service;            /* signing name: "bedrock" */
  int64_t time;                   /* Unix seconds */
  int normalize;                  /* remove dot segments, collapse '//' */
  int double_encode;              /* encode the path once more (all but S3) */
};

/* What signing produced. Strings are NUL-terminated and owned by the output;
** release them with sigv4_output_free. canonical_request and string_to_sign
** are filled only when SIGV4_KEEP_INTERMEDIATE is passed (tests, debugging). */
struct sigv4_output {
  char amz_date[SIGV4_AMZ_DATE_LEN + 1];
  char signature[SIGV4_HEX_LEN + 1];
  char *authorization;            /* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
  size_t authorization_len;
  char *canonical_request;
  size_t canonical_request_len;
  char *string_to_sign;
  size_t string_to_sign_len;
};

#define SIGV4_KEEP_INTERMEDIATE 1u
/* Refuse a CR or LF in a header value (SIGV4_ERR_ARG). Without it a value
** may hold line breaks, as the AWS suite's get-header-value-multiline signs
** them (folded to spaces); a host that sends the headers it signed needs
** this, since a line break there is a header injection. */
#define SIGV4_REFUSE_LINE_BREAKS 2u

enum sigv4_status {
  SIGV4_OK = 0,
  SIGV4_ERR_NOMEM = -1,
  SIGV4_ERR_ARG = -2,             /* missing field, bad hash, bad header name, NUL in a value, ... */
  SIGV4_ERR_CRYPTO = -3           /* OpenSSL refused */
};

/* A signer holds the signing-key cache (keyed by date, region, service and
** secret), so a request costs two SHA-256 and one HMAC once the key is known.
** A signer is not thread-safe; use one per thread (or per client). */
struct sigv4_signer;

struct sigv4_signer *sigv4_signer_new(void);   /* NULL on out of memory */
void sigv4_signer_free(struct sigv4_signer *s); /* NULL is fine */

/* Sign r with c. On SIGV4_OK, *out holds the results; on error it holds no
** allocations. Either way sigv4_output_free(out) is safe to call. */
int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
               const struct sigv4_credentials *c, unsigned flags,
               struct sigv4_output *out);
void sigv4_output_free(struct sigv4_output *out);

/* hex(sha256(data)) into out (SIGV4_HEX_LEN chars + NUL). Returns SIGV4_OK or
** SIGV4_ERR_CRYPTO. */
int sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN + 1]);

/* The same with the signer's digest: what a request's payload hash should
** use, since it spares OpenSSL's per-call algorithm lookup and context. */
int sigv4_payload_hash(struct sigv4_signer *s, const void *data, size_t len,
                       char out[SIGV4_HEX_LEN + 1]);

/* Event-stream input (InvokeModelWithBidirectionalStream): every message the
** client sends goes inside an envelope whose :chunk-signature chains from the
** previous one, starting at the HTTP request's own signature (the seed).
** The string to sign is
**   AWS4-HMAC-SHA256-PAYLOAD \n <amzdate> \n <date>/<region>/<service>/aws4_request \n
**   <prior signature hex> \n hex(sha256(the encoded :date header)) \n hex(sha256(payload))
** where the :date header is a timestamp of whole seconds (ms = time * 1000). */
#define SIGV4_EVENT_STS_MAX 512
#define SIGV4_STREAMING_EVENTS "STREAMING-AWS4-HMAC-SHA256-EVENTS"

struct sigv4_event {
  const char *prior_signature;    /* SIGV4_HEX_LEN lowercase hex chars */
  const void *payload;            /* the envelope's payload: an encoded message, */
  size_t payload_len;             /* or empty for the end of the input */
  const char *region;
  const char *service;
  const char *secret_access_key;
  int64_t time;                   /* Unix seconds */
};

/* Sign one envelope: the raw and hex signatures (the next prior). When sts
** is not NULL it gets the string to sign (SIGV4_EVENT_STS_MAX bytes, NUL
** ended), for tests. */
int sigv4_sign_event(struct sigv4_signer *s, const struct sigv4_event *ev,
                     unsigned char signature[32],
                     char signature_hex[SIGV4_HEX_LEN + 1], char *sts);

/* The 15 bytes of an event-stream :date header (name length, name, type 8,
** big-endian ms): what the envelope carries and what the signature hashes. */
void sigv4_event_date_header(int64_t time, unsigned char out[15]);

const char *sigv4_strerror(int status);

#endif
