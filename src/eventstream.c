/*
** eventstream.c: application/vnd.amazon.eventstream framing (see
** eventstream.h).
**
** The decoder hands out frames that lie wholly inside the caller's input
** without copying them; only a frame split across calls is assembled in
** d->buf. Its first 12 bytes wait in d->prelude until the prelude CRC
** matches, so no length read from the wire sizes anything before it has been
** checked, and d->buf then grows with the bytes that actually arrive, never
** past the announced frame length. State, from d->len and d->need:
**   len < 12                the start of a frame, in d->prelude
**   12 <= len < need        part of a frame, in d->buf
**   len == need > 0         a frame handed out of d->buf; the next call
**                           drops it
*/
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "eventstream.h"

#define BUF_MIN 256                 /* first allocation for a split frame */
#define BUF_KEEP (64u * 1024u)      /* larger buffers go once used */
#define NAME_MAX_LEN 255
#define VALUE_MAX_LEN 65535

/* Big-endian loads and stores a byte at a time: the wire offers no
** alignment, and compilers turn these into single loads anyway. */
static uint32_t get16(const unsigned char *p)
{
  return ((uint32_t)p[0] << 8) | (uint32_t)p[1];
}

static uint32_t get32(const unsigned char *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint64_t get64(const unsigned char *p)
{
  return ((uint64_t)get32(p) << 32) | (uint64_t)get32(p + 4);
}

static unsigned char *put_be(unsigned char *p, uint64_t v, unsigned n)
{
  unsigned i;
  for(i = n; i > 0; i--) {
    p[i - 1] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
  return p + n;
}

/* Two's complement of the low `bits` bits of u, without the
** implementation-defined conversion of an out-of-range unsigned value. */
static int64_t to_signed(uint64_t u, unsigned bits)
{
  uint64_t mask = bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
  u &= mask;
  if(u & ((uint64_t)1 << (bits - 1)))
    return -(int64_t)(~u & mask) - 1;
  return (int64_t)u;
}

/* The bytes a header of each type carries after its type byte, not
** counting the contents of bytes/string (2 here: their length field). */
static const unsigned char value_len[EVS_UUID + 1] = {
  0, 0, 1, 2, 4, 8, 2, 2, 8, 16
};

/* Length of the header starting at h, which has n > 0 bytes left in its
** section, or 0 when the header is malformed. */
static size_t header_span(const unsigned char *h, size_t n)
{
  size_t nl = h[0];
  size_t pos = nl + 2;              /* past the length, name and type */
  size_t vl;
  unsigned t;
  if(!nl || pos > n)
    return 0;
  t = h[pos - 1];
  if(t > EVS_UUID)
    return 0;
  vl = value_len[t];
  if(n - pos < vl)
    return 0;
  if(t == EVS_BYTES || t == EVS_STRING) {
    vl += get16(h + pos);
    if(n - pos < vl)
      return 0;
  }
  return pos + vl;
}

static int headers_ok(const unsigned char *h, size_t n)
{
  while(n) {
    size_t s = header_span(h, n);
    if(!s)
      return 0;
    h += s;
    n -= s;
  }
  return 1;
}

/* Fill out from a header header_span() accepted. */
static void header_read(const unsigned char *h, struct evs_header *out)
{
  size_t nl = h[0];
  const unsigned char *v = h + nl + 2;
  out->name = (const char *)(h + 1);
  out->name_len = nl;
  out->type = (enum evs_type)h[nl + 1];
  out->i = 0;
  out->data = NULL;
  out->data_len = 0;
  switch(out->type) {
  case EVS_TRUE:
    out->i = 1;
    break;
  case EVS_FALSE:
    break;
  case EVS_BYTE:
    out->i = to_signed(v[0], 8);
    break;
  case EVS_SHORT:
    out->i = to_signed(get16(v), 16);
    break;
  case EVS_INT:
    out->i = to_signed(get32(v), 32);
    break;
  case EVS_LONG:
  case EVS_TIMESTAMP:
    out->i = to_signed(get64(v), 64);
    break;
  case EVS_BYTES:
  case EVS_STRING:
    out->data_len = get16(v);
    out->data = v + 2;
    break;
  case EVS_UUID:
    out->data = v;
    out->data_len = 16;
    break;
  }
}

/* The prelude CRC is checked before either length is looked at: a flipped
** length bit must read as corruption, not as a short or huge frame. */
static int check_prelude(const unsigned char *p, size_t *total)
{
  uint32_t tlen, hlen;
  if(libdeflate_crc32(0, p, 8) != get32(p + 8))
    return EVS_ERR_PRELUDE_CRC;
  tlen = get32(p);
  hlen = get32(p + 4);
  if(tlen < EVS_MIN_MESSAGE)
    return EVS_ERR_BAD_LENGTH;
  if(tlen > EVS_MAX_MESSAGE || hlen > EVS_MAX_HEADERS)
    return EVS_ERR_TOO_LARGE;
  if(hlen > tlen - EVS_MIN_MESSAGE)
    return EVS_ERR_BAD_LENGTH;
  *total = tlen;
  return EVS_OK;
}

/* A whole frame whose prelude passed check_prelude(). The message CRC is
** taken from byte 0 rather than continued from the prelude CRC: hashing 8
** bytes twice costs less than making one CRC wait for the other, and the
** two run side by side in the CPU. libdeflate's CRC, not zlib's: zlib
** 1.2.13 pays a setup per call that dominates at a few hundred bytes
** (bench/bench_decode.c prints both). */
static int check_frame(const unsigned char *p, size_t total,
                       struct evs_message *m)
{
  size_t hlen = get32(p + 4);
  uint32_t pcrc = get32(p + 8);
  uint32_t mcrc = get32(p + total - 4);
  if(libdeflate_crc32(0, p, total - 4) != mcrc)
    return EVS_ERR_MESSAGE_CRC;
  if(!headers_ok(p + 12, hlen))
    return EVS_ERR_BAD_HEADERS;
  m->frame = p;
  m->frame_len = total;
  m->headers = p + 12;
  m->headers_len = hlen;
  m->payload = p + 12 + hlen;
  m->payload_len = total - 16 - hlen;
  m->prelude_crc = pcrc;
  m->message_crc = mcrc;
  return EVS_OK;
}

/* Room for want bytes of the current frame (want <= d->need). Doubling
** keeps copies linear; the cap at d->need keeps a frame that announces
** 16 MiB and then stalls from costing more than what arrived, doubled. */
static int reserve(struct evs_decoder *d, size_t want)
{
  size_t cap;
  unsigned char *nb;
  if(want <= d->cap)
    return 0;
  cap = d->cap > BUF_MIN ? d->cap : BUF_MIN;
  while(cap < want)
    cap *= 2;
  if(cap > d->need)
    cap = d->need;
  nb = realloc(d->buf, cap);
  if(!nb)
    return -1;
  d->buf = nb;
  d->cap = cap;
  return 0;
}

static int fail(struct evs_decoder *d, int rc, struct evs_message *m)
{
  d->error = rc;
  memset(m, 0, sizeof(*m));
  return rc;
}

void evs_decoder_init(struct evs_decoder *d)
{
  memset(d, 0, sizeof(*d));
}

void evs_decoder_free(struct evs_decoder *d)
{
  if(!d)
    return;
  free(d->buf);
  d->buf = NULL;
  d->len = d->cap = d->need = 0;
}

size_t evs_decoder_pending(const struct evs_decoder *d)
{
  if(!d || (d->need && d->len == d->need))
    return 0;
  return d->len;
}

int evs_decode(struct evs_decoder *d, const void *in, size_t len,
               size_t *consumed, struct evs_message *msg)
{
  const unsigned char *p = in;
  size_t used = 0;
  size_t total, take;
  int rc;

  if(consumed)
    *consumed = 0;
  if(!d || !consumed || !msg || (!in && len))
    return EVS_ERR_ARG;
  if(d->error)
    return fail(d, d->error, msg);
  if(d->need && d->len == d->need) {
    d->len = d->need = 0;
    if(d->cap > BUF_KEEP) {
      free(d->buf);
      d->buf = NULL;
      d->cap = 0;
    }
  }

  if(!d->len && len >= EVS_PRELUDE_LEN) {
    rc = check_prelude(p, &total);
    if(rc)
      return fail(d, rc, msg);
    if(len >= total) {
      rc = check_frame(p, total, msg);
      if(rc)
        return fail(d, rc, msg);
      *consumed = total;
      return EVS_OK;
    }
    d->need = total;
    if(reserve(d, len))
      return fail(d, EVS_ERR_NOMEM, msg);
    memcpy(d->buf, p, len);
    d->len = len;
    *consumed = len;
    memset(msg, 0, sizeof(*msg));
    return EVS_NEED_MORE;
  }

  if(d->len < EVS_PRELUDE_LEN) {
    take = EVS_PRELUDE_LEN - d->len;
    if(take > len)
      take = len;
    if(take)
      memcpy(d->prelude + d->len, p, take);
    d->len += take;
    used = take;
    if(d->len < EVS_PRELUDE_LEN) {
      *consumed = used;
      memset(msg, 0, sizeof(*msg));
      return EVS_NEED_MORE;
    }
    rc = check_prelude(d->prelude, &total);
    if(rc)
      return fail(d, rc, msg);
    d->need = total;
    take = total - EVS_PRELUDE_LEN;
    if(take > len - used)
      take = len - used;
    if(reserve(d, EVS_PRELUDE_LEN + take))
      return fail(d, EVS_ERR_NOMEM, msg);
    memcpy(d->buf, d->prelude, EVS_PRELUDE_LEN);
  }

  take = d->need - d->len;
  if(take > len - used)
    take = len - used;
  if(take) {
    if(reserve(d, d->len + take))
      return fail(d, EVS_ERR_NOMEM, msg);
    memcpy(d->buf + d->len, p + used, take);
    d->len += take;
    used += take;
  }
  if(d->len < d->need) {
    *consumed = used;
    memset(msg, 0, sizeof(*msg));
    return EVS_NEED_MORE;
  }
  rc = check_frame(d->buf, d->need, msg);
  if(rc)
    return fail(d, rc, msg);
  *consumed = used;
  return EVS_OK;
}

int evs_header_next(const unsigned char *headers, size_t headers_len,
                    size_t *off, struct evs_header *h)
{
  size_t s;
  if(!off || !h || (!headers && headers_len))
    return EVS_ERR_BAD_HEADERS;
  if(*off == headers_len)
    return 0;
  if(*off > headers_len)
    return EVS_ERR_BAD_HEADERS;
  s = header_span(headers + *off, headers_len - *off);
  if(!s)
    return EVS_ERR_BAD_HEADERS;
  header_read(headers + *off, h);
  *off += s;
  return 1;
}

int evs_header_find(const struct evs_message *m, const char *name,
                    struct evs_header *out)
{
  size_t off = 0, nl;
  struct evs_header h;
  if(!m || !name)
    return 0;
  nl = strlen(name);
  while(evs_header_next(m->headers, m->headers_len, &off, &h) == 1) {
    if(h.name_len == nl && !memcmp(h.name, name, nl)) {
      if(out)
        *out = h;
      return 1;
    }
  }
  return 0;
}

size_t evs_header_find_many(const struct evs_message *m,
                            const char *const *names, size_t n,
                            struct evs_header *out)
{
  size_t off = 0, i, found = 0, lens[8];
  struct evs_header h;
  if(!out)
    return 0;
  memset(out, 0, n * sizeof(*out));
  if(!m || !names)
    return 0;
  for(i = 0; i < n && i < 8; i++)
    lens[i] = strlen(names[i]);
  while(evs_header_next(m->headers, m->headers_len, &off, &h) == 1) {
    for(i = 0; i < n; i++) {
      if(h.name_len == (i < 8 ? lens[i] : strlen(names[i])) &&
         !memcmp(h.name, names[i], h.name_len)) {
        if(!out[i].name) {          /* the first of a name, as evs_header_find */
          out[i] = h;
          found++;
        }
        break;
      }
    }
  }
  return found;
}

/* Encoded length of one header, or 0 when it cannot be encoded: a value
** that does not fit its type would otherwise be silently truncated. */
static size_t header_size(const struct evs_header *h)
{
  size_t vl;
  if(!h->name || h->name_len < 1 || h->name_len > NAME_MAX_LEN)
    return 0;
  switch(h->type) {
  case EVS_TRUE:
  case EVS_FALSE:
    vl = 0;
    break;
  case EVS_BYTE:
    if(h->i < -128 || h->i > 127)
      return 0;
    vl = 1;
    break;
  case EVS_SHORT:
    if(h->i < -32768 || h->i > 32767)
      return 0;
    vl = 2;
    break;
  case EVS_INT:
    if(h->i < -2147483647 - 1 || h->i > 2147483647)
      return 0;
    vl = 4;
    break;
  case EVS_LONG:
  case EVS_TIMESTAMP:
    vl = 8;
    break;
  case EVS_BYTES:
  case EVS_STRING:
    if(h->data_len > VALUE_MAX_LEN || (!h->data && h->data_len))
      return 0;
    vl = 2 + h->data_len;
    break;
  case EVS_UUID:
    if(!h->data)
      return 0;
    vl = 16;
    break;
  default:
    return 0;
  }
  return 2 + h->name_len + vl;
}

static size_t headers_size(const struct evs_header *headers, size_t n)
{
  size_t i, sum = 0;
  for(i = 0; i < n; i++) {
    size_t s = header_size(&headers[i]);
    if(!s)
      return (size_t)-1;
    sum += s;
    if(sum > EVS_MAX_HEADERS)     /* checked per header: sum cannot wrap */
      return (size_t)-1;
  }
  return sum;
}

size_t evs_encoded_size(const struct evs_header *headers, size_t nheaders,
                        size_t payload_len)
{
  size_t hsum;
  if(!headers && nheaders)
    return 0;
  if(payload_len > EVS_MAX_MESSAGE)
    return 0;
  hsum = headers_size(headers, nheaders);
  if(hsum == (size_t)-1 || EVS_MIN_MESSAGE + hsum + payload_len >
     EVS_MAX_MESSAGE)
    return 0;
  return EVS_MIN_MESSAGE + hsum + payload_len;
}

size_t evs_encode(const struct evs_header *headers, size_t nheaders,
                  const void *payload, size_t payload_len, unsigned char *out)
{
  size_t size = evs_encoded_size(headers, nheaders, payload_len);
  size_t i;
  unsigned char *w;
  uint32_t pcrc;
  if(!size || !out || (!payload && payload_len))
    return 0;
  w = put_be(out, size, 4);
  w = put_be(w, size - EVS_MIN_MESSAGE - payload_len, 4);
  pcrc = libdeflate_crc32(0, out, 8);
  w = put_be(w, pcrc, 4);
  for(i = 0; i < nheaders; i++) {
    const struct evs_header *h = &headers[i];
    *w++ = (unsigned char)h->name_len;
    memcpy(w, h->name, h->name_len);
    w += h->name_len;
    *w++ = (unsigned char)h->type;
    switch(h->type) {
    case EVS_BYTE:
      w = put_be(w, (uint64_t)h->i, 1);
      break;
    case EVS_SHORT:
      w = put_be(w, (uint64_t)h->i, 2);
      break;
    case EVS_INT:
      w = put_be(w, (uint64_t)h->i, 4);
      break;
    case EVS_LONG:
    case EVS_TIMESTAMP:
      w = put_be(w, (uint64_t)h->i, 8);
      break;
    case EVS_BYTES:
    case EVS_STRING:
      w = put_be(w, h->data_len, 2);
      if(h->data_len)
        memcpy(w, h->data, h->data_len);
      w += h->data_len;
      break;
    case EVS_UUID:
      memcpy(w, h->data, 16);
      w += 16;
      break;
    default:                        /* true, false: the type says it all */
      break;
    }
  }
  if(payload_len)
    memcpy(w, payload, payload_len);
  w += payload_len;
  put_be(w, libdeflate_crc32(pcrc, out + 8, size - 12), 4);
  return size;
}

const char *evs_errcode(int status)
{
  switch(status) {
  case EVS_OK: return "EVS_OK";
  case EVS_NEED_MORE: return "EVS_NEED_MORE";
  case EVS_ERR_PRELUDE_CRC: return "EVS_PRELUDE_CRC";
  case EVS_ERR_MESSAGE_CRC: return "EVS_MESSAGE_CRC";
  case EVS_ERR_TOO_LARGE: return "EVS_TOO_LARGE";
  case EVS_ERR_BAD_LENGTH: return "EVS_BAD_LENGTH";
  case EVS_ERR_BAD_HEADERS: return "EVS_BAD_HEADERS";
  case EVS_ERR_NOMEM: return "EVS_NOMEM";
  case EVS_ERR_ARG: return "EVS_ARG";
  default: return "EVS_UNKNOWN";
  }
}

const char *evs_strerror(int status)
{
  switch(status) {
  case EVS_OK: return "No error";
  case EVS_NEED_MORE: return "More input needed";
  case EVS_ERR_PRELUDE_CRC: return "Prelude checksum mismatch";
  case EVS_ERR_MESSAGE_CRC: return "Message checksum mismatch";
  case EVS_ERR_TOO_LARGE: return "Message too large";
  case EVS_ERR_BAD_LENGTH: return "Invalid message length";
  case EVS_ERR_BAD_HEADERS: return "Malformed message headers";
  case EVS_ERR_NOMEM: return "Out of memory";
  case EVS_ERR_ARG: return "Invalid argument";
  default: return "Unknown event stream error";
  }
}
