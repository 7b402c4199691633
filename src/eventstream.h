/*
** eventstream.h: application/vnd.amazon.eventstream framing, sans-I/O.
**
** An incremental decoder (bytes in any split, whole validated messages out)
** and an encoder. No Lua, no libcurl. CRC32 is
** libdeflate's (zlib's CRC-32, folded with carry-less multiplication).
**
** Wire format, big-endian: total_len u32, headers_len u32, prelude_crc u32,
** headers, payload, message_crc u32 (CRC32 of everything before it).
*/
#ifndef BEDROCK_EVENTSTREAM_H
#define BEDROCK_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define EVS_PRELUDE_LEN 12
#define EVS_MIN_MESSAGE 16                       /* prelude + message CRC */
#define EVS_MAX_MESSAGE (16u * 1024u * 1024u)    /* whole frame */
#define EVS_MAX_HEADERS (128u * 1024u)           /* headers section */

enum evs_type {
  EVS_TRUE = 0, EVS_FALSE = 1, EVS_BYTE = 2, EVS_SHORT = 3, EVS_INT = 4,
  EVS_LONG = 5, EVS_BYTES = 6, EVS_STRING = 7, EVS_TIMESTAMP = 8, EVS_UUID = 9
};

enum evs_status {
  EVS_OK = 0,                 /* a message is complete */
  EVS_NEED_MORE = 1,          /* all input consumed, no message completed */
  EVS_ERR_PRELUDE_CRC = -1,
  EVS_ERR_MESSAGE_CRC = -2,
  EVS_ERR_TOO_LARGE = -3,     /* total_len > EVS_MAX_MESSAGE or headers_len > EVS_MAX_HEADERS */
  EVS_ERR_BAD_LENGTH = -4,    /* total_len < 16 or headers_len > total_len - 16 */
  EVS_ERR_BAD_HEADERS = -5,   /* a header runs past its section, unknown type, empty name */
  EVS_ERR_NOMEM = -6,
  EVS_ERR_ARG = -7            /* encoder: a value too long for its type, etc. */
};

/* A header value. For booleans and integer types (byte, short, int, long,
** timestamp) i holds the value (booleans: 1/0). For bytes and string, data and
** data_len; for uuid, data points at 16 bytes. Pointers borrow from the
** message (decoder) or from the caller (encoder). */
struct evs_header {
  const char *name;
  size_t name_len;
  enum evs_type type;
  int64_t i;
  const unsigned char *data;
  size_t data_len;
};

/* A whole, CRC-checked message. Pointers borrow from the decoder or from the
** input passed to evs_decode, and stay valid until the next evs_decode or
** evs_decoder_free on that decoder. */
struct evs_message {
  const unsigned char *frame;     /* the whole frame, prelude to message CRC */
  size_t frame_len;
  const unsigned char *headers;   /* the headers section (already validated) */
  size_t headers_len;
  const unsigned char *payload;
  size_t payload_len;
  uint32_t prelude_crc;
  uint32_t message_crc;
};

/* Decoder state. Embed it; initialise with evs_decoder_init. Fields are
** private. After an error the decoder is sticky: every later call returns
** the same error. */
struct evs_decoder {
  unsigned char *buf;             /* partial frame being assembled */
  size_t len;                     /* bytes in buf */
  size_t cap;
  size_t need;                    /* frame length once the prelude is checked, else 0 */
  int error;                      /* sticky status, 0 while healthy */
  unsigned char prelude[EVS_PRELUDE_LEN]; /* a split prelude, held here so
                                  ** nothing is allocated before its CRC */
};

void evs_decoder_init(struct evs_decoder *d);
void evs_decoder_free(struct evs_decoder *d);   /* idempotent */

/* Feed len bytes. Consumes input until one message completes (EVS_OK, *msg
** filled, *consumed tells how many bytes of in were used) or the input runs
** out (EVS_NEED_MORE, *consumed == len). A message wholly inside in is
** returned without copying. The prelude CRC is checked as soon as 12 bytes
** are known, the message CRC and header structure before EVS_OK. On error
** nothing is returned and the error is sticky. */
int evs_decode(struct evs_decoder *d, const void *in, size_t len,
               size_t *consumed, struct evs_message *msg);

/* Bytes of an unfinished frame held by the decoder (0 at a frame boundary). */
size_t evs_decoder_pending(const struct evs_decoder *d);

/* Walk the headers section of a message: start with *off = 0. Returns 1 and
** fills h, 0 at the end, or EVS_ERR_BAD_HEADERS. */
int evs_header_next(const unsigned char *headers, size_t headers_len,
                    size_t *off, struct evs_header *h);

/* Find a header by exact name. Returns 1 when found, 0 when not. */
int evs_header_find(const struct evs_message *m, const char *name,
                    struct evs_header *out);

/* Find several headers in one walk: out[i] gets the header named names[i]
** (the first one of that name), or a zeroed header (name NULL) when there is
** none. Returns how many of the names were found. */
size_t evs_header_find_many(const struct evs_message *m,
                            const char *const *names, size_t n,
                            struct evs_header *out);

/* Bytes an encoded message will take, or 0 if the input cannot be encoded
** (name over 255 bytes, bytes/string value over 65535, frame over
** EVS_MAX_MESSAGE, headers over EVS_MAX_HEADERS). */
size_t evs_encoded_size(const struct evs_header *headers, size_t nheaders,
                        size_t payload_len);

/* Encode into out, which has room for evs_encoded_size(...) bytes. Returns
** the bytes written, or 0 on error. */
size_t evs_encode(const struct evs_header *headers, size_t nheaders,
                  const void *payload, size_t payload_len, unsigned char *out);

/* A stable code ("EVS_PRELUDE_CRC", ...) and a readable message
** ("Prelude checksum mismatch", ...) for a status. */
const char *evs_errcode(int status);
const char *evs_strerror(int status);

#endif
