/*
** fuzz_base64.c: libFuzzer target for src/base64.c (its SSSE3 path and its
** table path) against a plain reference decoder written from RFC 4648 here:
** for any input both accept or both refuse, and give the same bytes; and
** nothing is written past n / 4 * 3 bytes of output (ASan: the output is
** an exact-size heap block).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int value(unsigned c)
{
  if(c >= 'A' && c <= 'Z')
    return (int)(c - 'A');
  if(c >= 'a' && c <= 'z')
    return (int)(c - 'a') + 26;
  if(c >= '0' && c <= '9')
    return (int)(c - '0') + 52;
  if(c == '+')
    return 62;
  if(c == '/')
    return 63;
  return -1;
}

/* bit by bit: n a multiple of 4; '=' only as the last one or two */
static long reference(unsigned char *out, const uint8_t *in, size_t n)
{
  size_t i, pad = 0, o = 0;
  uint32_t acc = 0;
  int bits = 0;
  if(n % 4)
    return -1;
  if(n && in[n - 1] == '=')
    pad = in[n - 2] == '=' ? 2 : 1;
  for(i = 0; i < n - pad; i++) {
    int v = value(in[i]);
    if(v < 0)
      return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if(bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return (long)o;
}

static void same(const uint8_t *in, size_t n, const char *what)
{
  size_t cap = n / 4 * 3;
  unsigned char *a = malloc(cap ? cap : 1), *b = malloc(cap ? cap : 1);
  long ra = b64_decode(a, in, n), rb = reference(b, in, n);
  if((ra < 0) != (rb < 0) || (ra >= 0 && (ra != rb || memcmp(a, b, (size_t)ra)))) {
    fprintf(stderr, "fuzz_base64 (%s): %ld vs the reference's %ld on %zu bytes\n", what, ra, rb, n);
    abort();
  }
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = size & ~(size_t)3, i;
  uint8_t *in = malloc(n ? n : 1);
  /* mostly valid text: each byte mapped into the alphabet unless its top
  ** two bits are set, so both paths see long valid runs and odd bytes */
  for(i = 0; i < n; i++)
    in[i] = (data[i] & 0xc0) == 0xc0 ? (uint8_t)(data[i] & 0x7f) : (uint8_t)alphabet[data[i] & 63];
  if(n && (data[0] & 1))
    in[n - 1] = '=';
  if(n > 1 && (data[0] & 2))
    in[n - 2] = '=';
  same(in, n, "mapped");
  same(data, n, "raw");
  same(data, size, "any length");
  free(in);
  return 0;
}
