/*
** base64.c: see base64.h.
**
** The vector path is Wojciech Mula's pshufb method ("Base64 decoding with
** SIMD instructions", 2016): each byte's high and low nibbles index two
** tables whose AND is non-zero exactly for bytes outside the alphabet; a
** third table, by high nibble (with '/' apart), gives the offset from the
** character to its 6-bit value; multiply-adds pack four 6-bit values into
** three bytes.
*/
#include <stdint.h>
#include <string.h>

#include "base64.h"

/* 64 values, 255 for a byte outside the alphabet */
static const unsigned char b64_value[256] = {
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255, 62,255,255,255, 63,
   52, 53, 54, 55, 56, 57, 58, 59, 60, 61,255,255,255,255,255,255,
  255,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
   15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,255,255,255,255,255,
  255, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
   41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,
  255,255,255,255,255,255,255,255,255,255,255,255,255,255,255,255
};

/* Whole quads from s to end (no padding among them); returns the bytes
** written, or -1. */
static long quads(unsigned char *restrict o, const unsigned char *restrict s,
                  const unsigned char *end)
{
  unsigned char *start = o;
  uint32_t a, b, c, d;
  for(; s < end; s += 4, o += 3) {
    a = b64_value[s[0]];
    b = b64_value[s[1]];
    c = b64_value[s[2]];
    d = b64_value[s[3]];
    if((a | b | c | d) & 0x80)
      return -1;
    a = a << 18 | b << 12 | c << 6 | d;
    o[0] = (unsigned char)(a >> 16);
    o[1] = (unsigned char)(a >> 8);
    o[2] = (unsigned char)a;
  }
  return (long)(o - start);
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define B64_X86 1
#include <immintrin.h>

/* 16 characters into 12 bytes per step while at least 24 characters are
** left, so the 16-byte store stays inside out (n / 4 * 3 of room). Returns
** the characters consumed (a multiple of 16), or -1 on a bad character. */
__attribute__((target("ssse3")))
static long vector_part(unsigned char **po, const unsigned char *s, size_t n)
{
  const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                       0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
  const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                                       0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m128i lut_roll = _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71,
                                         0, 0, 0, 0, 0, 0, 0, 0);
  const __m128i nib = _mm_set1_epi8(0x0f);
  const __m128i slash = _mm_set1_epi8('/');
  const __m128i pack1 = _mm_set1_epi32(0x01400140);
  const __m128i pack2 = _mm_set1_epi32(0x00011000);
  const __m128i order = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  unsigned char *o = *po;
  size_t i = 0;
  for(; n - i >= 24; i += 16, o += 12) {
    __m128i in = _mm_loadu_si128((const __m128i *)(s + i));
    __m128i hi = _mm_and_si128(_mm_srli_epi32(in, 4), nib);
    __m128i lo = _mm_shuffle_epi8(lut_lo, _mm_and_si128(in, nib));
    __m128i v;
    if(_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_and_si128(lo, _mm_shuffle_epi8(lut_hi, hi)),
                                        _mm_setzero_si128())))
      return -1;
    v = _mm_add_epi8(in, _mm_shuffle_epi8(lut_roll,
                                          _mm_add_epi8(_mm_cmpeq_epi8(in, slash), hi)));
    v = _mm_madd_epi16(_mm_maddubs_epi16(v, pack1), pack2);
    _mm_storeu_si128((__m128i *)o, _mm_shuffle_epi8(v, order));
  }
  *po = o;
  return (long)i;
}

/* 0 unknown, 1 no, 2 yes: set once, racing writers store the same value */
static int ssse3_state;

static int have_ssse3(void)
{
  int v = __atomic_load_n(&ssse3_state, __ATOMIC_RELAXED);
  if(!v) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("ssse3") ? 2 : 1;
    __atomic_store_n(&ssse3_state, v, __ATOMIC_RELAXED);
  }
  return v == 2;
}
#endif

long b64_decode(unsigned char *out, const unsigned char *in, size_t n)
{
  unsigned char *o = out;
  const unsigned char *end;
  long k;
  uint32_t a, b, c;
  int padded;
  if(n % 4)
    return -1;
  padded = n && in[n - 1] == '=';
  end = in + (padded ? n - 4 : n);   /* the padded quad apart */
#ifdef B64_X86
  if((size_t)(end - in) >= 24 && have_ssse3()) {
    k = vector_part(&o, in, (size_t)(end - in));
    if(k < 0)
      return -1;
    in += k;
  }
#endif
  k = quads(o, in, end);
  if(k < 0)
    return -1;
  o += k;
  if(padded) {
    a = b64_value[end[0]];
    b = b64_value[end[1]];
    if((a | b) & 0x80)
      return -1;
    *o++ = (unsigned char)(a << 2 | b >> 4);
    if(end[2] != '=') {             /* "xxx=" */
      c = b64_value[end[2]];
      if(c & 0x80)
        return -1;
      *o++ = (unsigned char)(b << 4 | c >> 2);
    }
  }
  return (long)(o - out);
}
