/*
** bench_decode.c: event-stream decoder throughput on Bedrock-shaped
** messages (three string headers, 100-byte payloads), fed in one buffer and
** in the 16 KiB pieces libcurl hands over. The CRC over the same bytes is
** printed for reference, the decoder's (libdeflate) and zlib's, over the
** whole buffer and per frame: it is the bound.
**
** Build: gcc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Isrc \
**          bench/bench_decode.c src/eventstream.c -lz -ldeflate
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdeflate.h>
#include <zlib.h>

#include "eventstream.h"

#define TARGET (50u * 1000u * 1000u)
#define PAYLOAD 100
#define PIECE 16384
#define REPS 7

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_str(struct evs_header *h, const char *name, const char *v)
{
  memset(h, 0, sizeof(*h));
  h->name = name;
  h->name_len = strlen(name);
  h->type = EVS_STRING;
  h->data = (const unsigned char *)v;
  h->data_len = strlen(v);
}

/* Decode buf in pieces of `piece` bytes; returns the message count, or 0 on
** any error. The payload bytes are summed so nothing is optimised away. */
static size_t run(const unsigned char *buf, size_t len, size_t piece,
                  unsigned long *sink)
{
  struct evs_decoder d;
  size_t pos = 0, msgs = 0;
  evs_decoder_init(&d);
  while(pos < len) {
    size_t n = len - pos < piece ? len - pos : piece;
    size_t off = 0;
    while(off < n) {
      struct evs_message m;
      size_t used;
      int rc = evs_decode(&d, buf + pos + off, n - off, &used, &m);
      off += used;
      if(rc == EVS_OK) {
        msgs++;
        *sink += m.payload[0] + m.payload_len;
      }
      else if(rc == EVS_NEED_MORE)
        break;
      else {
        fprintf(stderr, "decode error: %s\n", evs_errcode(rc));
        evs_decoder_free(&d);
        return 0;
      }
    }
    pos += n;
  }
  evs_decoder_free(&d);
  return msgs;
}

int main(void)
{
  struct evs_header hs[3];
  unsigned char payload[PAYLOAD];
  unsigned char *buf;
  size_t one, count, len, i, msgs = 0;
  unsigned long sink = 0;
  double best_one = 1e9, best_pieces = 1e9, best_crc = 1e9, best_crc_msg = 1e9;
  double best_ld = 1e9, best_ld_msg = 1e9;
  int r;

  set_str(&hs[0], ":event-type", "chunk");
  set_str(&hs[1], ":content-type", "application/json");
  set_str(&hs[2], ":message-type", "event");
  for(i = 0; i < PAYLOAD; i++)
    payload[i] = (unsigned char)("{\"bytes\":\"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9\"}"[i % 50]);
  one = evs_encoded_size(hs, 3, PAYLOAD);
  count = TARGET / one;
  len = count * one;
  buf = malloc(len);
  if(!buf)
    return 1;
  for(i = 0; i < count; i++) {
    payload[PAYLOAD - 1] = (unsigned char)i;
    if(evs_encode(hs, 3, payload, PAYLOAD, buf + i * one) != one)
      return 1;
  }

  for(r = 0; r < REPS; r++) {
    double t0 = now(), t;
    unsigned long c;
    msgs = run(buf, len, len, &sink);
    t = now() - t0;
    if(msgs != count)
      return 1;
    if(t < best_one)
      best_one = t;
    t0 = now();
    if(run(buf, len, PIECE, &sink) != count)
      return 1;
    t = now() - t0;
    if(t < best_pieces)
      best_pieces = t;
    t0 = now();
    c = crc32(0, buf, (uInt)len);
    t = now() - t0;
    sink += c;
    if(t < best_crc)
      best_crc = t;
    /* the CRC work the decoder cannot avoid: 8 bytes, then the rest of
    ** each frame but its last 4 */
    t0 = now();
    for(i = 0; i < count; i++) {
      const unsigned char *p = buf + i * one;
      c = crc32(0, p, 8);
      sink += crc32(c, p + 8, (uInt)(one - 12));
    }
    t = now() - t0;
    if(t < best_crc_msg)
      best_crc_msg = t;
    t0 = now();
    sink += libdeflate_crc32(0, buf, len);
    t = now() - t0;
    if(t < best_ld)
      best_ld = t;
    /* what the decoder does: the prelude's 8 bytes, and the message from
    ** byte 0 (two independent CRCs the CPU overlaps) */
    t0 = now();
    for(i = 0; i < count; i++) {
      const unsigned char *p = buf + i * one;
      sink += libdeflate_crc32(0, p, 8);
      sink += libdeflate_crc32(0, p, one - 4);
    }
    t = now() - t0;
    if(t < best_ld_msg)
      best_ld_msg = t;
  }

  printf("eventstream decode, %.0f MB of %d-byte-payload messages "
         "(%u-byte frames), one buffer: %.0f MB/s (%.1f M msgs/s)\n",
         (double)len / 1e6, PAYLOAD, (unsigned)one, (double)len / 1e6 / best_one,
         (double)count / 1e6 / best_one);
  printf("eventstream decode, same, 16 KiB pieces: %.0f MB/s (%.1f M msgs/s)\n",
         (double)len / 1e6 / best_pieces, (double)count / 1e6 / best_pieces);
  printf("zlib crc32, one call over the whole buffer: %.0f MB/s\n",
         (double)len / 1e6 / best_crc);
  printf("zlib crc32, two calls per frame (8 bytes, then the rest): %.0f MB/s\n",
         (double)len / 1e6 / best_crc_msg);
  printf("libdeflate crc32, one call over the whole buffer: %.0f MB/s\n",
         (double)len / 1e6 / best_ld);
  printf("libdeflate crc32, the decoder's two calls per frame alone: %.0f MB/s\n",
         (double)len / 1e6 / best_ld_msg);
  fprintf(stderr, "(sink %lu)\n", sink);
  free(buf);
  return 0;
}
