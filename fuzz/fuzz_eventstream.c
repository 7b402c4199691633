/*
** fuzz_eventstream.c: libFuzzer target for the event-stream decoder and
** encoder (src/eventstream.c).
**
** Input: byte 0 picks how the rest is split into feeds; the rest is the
** byte stream. Each input is checked for:
**   - split invariance: the stream decoded in one feed and in the split
**     feeds gives the same frames, then the same final status (the same
**     error, or the same bytes left pending), and errors stay sticky;
**   - decode -> encode: every frame the decoder accepts re-encodes from its
**     decoded headers and payload to exactly the same bytes;
**   - encode -> decode: the same bytes read as a message description
**     (headers of every type, in-range or not, and a payload) are refused
**     by the encoder exactly when a field cannot be encoded, and otherwise
**     decode back, in any split, to the same headers and payload.
** Any mismatch aborts, which libFuzzer reports as a crash.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"

#define MAX_FRAMES 4096
#define MAX_HDRS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if(!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  abort(); } } while(0)

/* Feed sizes from a small xorshift generator seeded by the input, so a
** crash reproduces from the input alone. */
struct splitter {
  uint32_t state;
  unsigned mode;
  size_t max;
};

static void split_init(struct splitter *s, uint8_t seed)
{
  s->state = 0x9e3779b9u ^ (uint32_t)seed * 0x01000193u;
  s->mode = seed & 3;                       /* 0 whole, 1 bytewise, 2-3 random */
  s->max = (size_t)1 << (seed >> 4 & 7);    /* 1 .. 128 bytes a feed */
}

static size_t split_next(struct splitter *s, size_t left)
{
  size_t n;
  if(s->mode == 0)
    return left;
  if(s->mode == 1)
    return left ? 1 : 0;
  s->state ^= s->state << 13;
  s->state ^= s->state >> 17;
  s->state ^= s->state << 5;
  n = s->mode == 2 ? s->state % (s->max + 1)          /* empty feeds too */
                   : 1 + s->state % (12 + s->max);    /* around the prelude */
  return n < left ? n : left;
}

struct frame_ref {
  size_t off;       /* offset of the frame in the stream */
  size_t len;
};

struct result {
  struct frame_ref f[MAX_FRAMES];
  size_t n;
  int status;       /* last status: EVS_NEED_MORE or an error */
  size_t pending;
};

/* Decode `len` bytes fed in pieces from s, recording where each frame lies
** in `in` (so the two runs can be compared by position, not by pointers
** that borrow from the decoder). */
static void decode_all(const uint8_t *in, size_t len, struct splitter *s,
                       struct result *r)
{
  struct evs_decoder d;
  size_t pos = 0, frame_start = 0;
  int rc = EVS_NEED_MORE;
  evs_decoder_init(&d);
  r->n = 0;
  while(pos < len) {
    size_t feed = split_next(s, len - pos), off = 0;
    do {
      struct evs_message m;
      size_t used = 0;
      rc = evs_decode(&d, in + pos + off, feed - off, &used, &m);
      CHECK(used <= feed - off);
      off += used;
      if(rc == EVS_OK) {
        size_t end = pos + off;
        CHECK(m.frame_len >= EVS_MIN_MESSAGE && m.frame_len <= EVS_MAX_MESSAGE);
        CHECK(end - frame_start == m.frame_len);
        CHECK(!memcmp(m.frame, in + frame_start, m.frame_len));
        CHECK(m.headers == m.frame + EVS_PRELUDE_LEN);
        CHECK(m.payload == m.headers + m.headers_len);
        CHECK(m.headers_len + m.payload_len + EVS_MIN_MESSAGE == m.frame_len);
        CHECK(evs_decoder_pending(&d) == 0);
        if(r->n < MAX_FRAMES) {
          r->f[r->n].off = frame_start;
          r->f[r->n].len = m.frame_len;
        }
        r->n++;
        frame_start = end;
      }
      else if(rc == EVS_NEED_MORE) {
        CHECK(off == feed);                   /* consumed everything given */
        CHECK(evs_decoder_pending(&d) == pos + off - frame_start);
      }
      else {
        /* sticky: the same error again, nothing consumed */
        struct evs_message m2;
        size_t u2 = 7;
        CHECK(used == 0);
        CHECK(evs_decode(&d, in, len, &u2, &m2) == rc && u2 == 0);
        goto out;
      }
    } while(rc == EVS_OK && off < feed);
    pos += feed;
  }
out:
  r->status = rc == EVS_OK ? EVS_NEED_MORE : rc;
  r->pending = r->status == EVS_NEED_MORE ? evs_decoder_pending(&d) : 0;
  evs_decoder_free(&d);
  evs_decoder_free(&d);           /* idempotent */
}

/* Every accepted frame re-encodes, from what the decoder read out of it,
** to the same bytes. */
static void check_reencode(const uint8_t *frame, size_t len)
{
  struct evs_decoder d;
  struct evs_message m;
  struct evs_header h[MAX_HDRS];
  size_t used, n = 0, off = 0, size;
  unsigned char *out;
  int rc;
  evs_decoder_init(&d);
  CHECK(evs_decode(&d, frame, len, &used, &m) == EVS_OK && used == len);
  while((rc = evs_header_next(m.headers, m.headers_len, &off, &h[n])) == 1) {
    CHECK(h[n].name_len >= 1 && h[n].name_len <= 255);
    CHECK(h[n].type <= EVS_UUID);
    if(++n == MAX_HDRS)
      break;
  }
  if(n == MAX_HDRS && off < m.headers_len) {
    evs_decoder_free(&d);
    return;                       /* more headers than we keep: skip */
  }
  CHECK(rc == 0 && off == m.headers_len);
  size = evs_encoded_size(h, n, m.payload_len);
  CHECK(size == len);
  out = malloc(size);
  CHECK(out);
  CHECK(evs_encode(h, n, m.payload, m.payload_len, out) == size);
  CHECK(!memcmp(out, frame, size));
  free(out);
  evs_decoder_free(&d);
}

/* ---- encode -> decode ------------------------------------------------- */

struct reader {
  const uint8_t *p;
  size_t n;
};

static unsigned rd_byte(struct reader *r)
{
  if(!r->n)
    return 0;
  r->n--;
  return *r->p++;
}

static const uint8_t *rd_bytes(struct reader *r, size_t *len)
{
  const uint8_t *p = r->p;
  if(*len > r->n)
    *len = r->n;
  r->p += *len;
  r->n -= *len;
  return p;
}

static int64_t rd_int(struct reader *r, unsigned nbytes)
{
  uint64_t u = 0;
  unsigned i;
  for(i = 0; i < nbytes; i++)
    u = u << 8 | rd_byte(r);
  /* sign-extend from nbytes, then sometimes push it out of range */
  if(nbytes < 8 && (u >> (nbytes * 8 - 1) & 1))
    u |= ~(uint64_t)0 << (nbytes * 8);
  return (int64_t)u;
}

static int value_fits(const struct evs_header *h)
{
  switch(h->type) {
  case EVS_BYTE: return h->i >= -128 && h->i <= 127;
  case EVS_SHORT: return h->i >= -32768 && h->i <= 32767;
  case EVS_INT: return h->i >= INT32_MIN && h->i <= INT32_MAX;
  default: return 1;
  }
}

static void check_roundtrip(const uint8_t *data, size_t size, uint8_t seed)
{
  static uint8_t big[70000];      /* long values: past the 65535 limit too */
  struct reader r = { data, size };
  struct evs_header h[MAX_HDRS];
  size_t n, i, hsum = 0, plen, esize;
  const uint8_t *payload;
  unsigned char *frame;
  int ok = 1;

  n = rd_byte(&r) % 12;
  for(i = 0; i < n; i++) {
    unsigned b = rd_byte(&r);
    size_t nl = b & 0x3f;
    memset(&h[i], 0, sizeof(h[i]));
    if(b & 0x40)
      nl = 256 - (b & 1);         /* the 255-byte limit, and just past it */
    h[i].name = (const char *)rd_bytes(&r, &nl);
    h[i].name_len = nl;
    h[i].type = (enum evs_type)(rd_byte(&r) % 10);
    switch(h[i].type) {
    case EVS_BYTE:
    case EVS_SHORT:
    case EVS_INT:
    case EVS_LONG:
    case EVS_TIMESTAMP:
      /* a width picked apart from the type: out-of-range values too */
      h[i].i = rd_int(&r, 1u << (rd_byte(&r) & 3));
      break;
    case EVS_BYTES:
    case EVS_STRING: {
      unsigned lb = rd_byte(&r);
      size_t vl = lb;
      if(lb >= 0xfe) {
        h[i].data = big;
        h[i].data_len = lb == 0xfe ? 65535 : 65536;
      }
      else {
        h[i].data = rd_bytes(&r, &vl);
        h[i].data_len = vl;
      }
      break;
    }
    case EVS_UUID: {
      size_t vl = 16;
      h[i].data = rd_bytes(&r, &vl);
      if(vl < 16)
        h[i].data = big;
      h[i].data_len = 16;
      break;
    }
    default:
      break;
    }
    /* the independent verdict on this header */
    if(h[i].name_len < 1 || h[i].name_len > 255 || !value_fits(&h[i]) ||
       h[i].data_len > 65535)
      ok = 0;
    else
      hsum += 2 + h[i].name_len +
              (h[i].type == EVS_TRUE || h[i].type == EVS_FALSE ? 0 :
               h[i].type == EVS_BYTE ? 1 : h[i].type == EVS_SHORT ? 2 :
               h[i].type == EVS_INT ? 4 :
               h[i].type == EVS_LONG || h[i].type == EVS_TIMESTAMP ? 8 :
               h[i].type == EVS_UUID ? 16 : 2 + h[i].data_len);
  }
  if(hsum > EVS_MAX_HEADERS)
    ok = 0;
  plen = r.n;
  payload = rd_bytes(&r, &plen);

  esize = evs_encoded_size(h, n, plen);
  if(!ok) {
    CHECK(esize == 0);
    return;
  }
  CHECK(esize == EVS_MIN_MESSAGE + hsum + plen);
  frame = malloc(esize);
  CHECK(frame);
  CHECK(evs_encode(h, n, payload, plen, frame) == esize);

  /* decode it back, split */
  {
    struct evs_decoder d;
    struct splitter s;
    struct evs_message m;
    size_t pos = 0, off = 0;
    int rc = EVS_NEED_MORE, got = 0;
    split_init(&s, seed);
    evs_decoder_init(&d);
    while(pos < esize && !got) {
      size_t feed = split_next(&s, esize - pos), used = 0;
      rc = evs_decode(&d, frame + pos, feed, &used, &m);
      CHECK(rc == EVS_OK || rc == EVS_NEED_MORE);
      pos += used;
      got = rc == EVS_OK;
    }
    CHECK(got && pos == esize);
    CHECK(m.frame_len == esize && m.payload_len == plen);
    CHECK(!plen || !memcmp(m.payload, payload, plen));
    for(i = 0; i < n; i++) {
      struct evs_header g;
      CHECK(evs_header_next(m.headers, m.headers_len, &off, &g) == 1);
      CHECK(g.name_len == h[i].name_len && !memcmp(g.name, h[i].name, g.name_len));
      CHECK(g.type == h[i].type);
      switch(g.type) {
      case EVS_TRUE: CHECK(g.i == 1); break;
      case EVS_FALSE: CHECK(g.i == 0); break;
      case EVS_BYTES:
      case EVS_STRING:
      case EVS_UUID:
        CHECK(g.data_len == h[i].data_len);
        CHECK(!g.data_len || !memcmp(g.data, h[i].data, g.data_len));
        break;
      default:
        CHECK(g.i == h[i].i);
      }
    }
    CHECK(evs_header_next(m.headers, m.headers_len, &off, &h[0]) == 0);
    evs_decoder_free(&d);
  }
  free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct result whole, split;
  struct splitter s;
  size_t i;
  if(size < 1)
    return 0;

  split_init(&s, 0);
  decode_all(data + 1, size - 1, &s, &whole);
  split_init(&s, data[0]);
  decode_all(data + 1, size - 1, &s, &split);
  CHECK(whole.n == split.n);
  CHECK(whole.status == split.status);
  CHECK(whole.pending == split.pending);
  for(i = 0; i < whole.n && i < MAX_FRAMES; i++) {
    CHECK(whole.f[i].off == split.f[i].off && whole.f[i].len == split.f[i].len);
    check_reencode(data + 1 + whole.f[i].off, whole.f[i].len);
  }

  check_roundtrip(data + 1, size - 1, data[0]);
  return 0;
}
