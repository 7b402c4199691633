/*
** test_base64.c: src/base64.c against OpenSSL's decoder on random data of
** every length to 300 (both the vector and the table path), and on inputs
** with one byte changed to every value (refused exactly when the byte is
** outside the alphabet, or '=' where padding cannot be).
**
** Usage: test_base64
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"

#include "check.h"

static int in_alphabet(unsigned c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

int main(void)
{
  unsigned char raw[400], enc[600], out[600], ref[600];
  size_t len, i;
  unsigned v;
  srand(20261206);
  for(len = 0; len <= 300; len++) {
    int elen, olen, rlen, pad;
    for(i = 0; i < len; i++)
      raw[i] = (unsigned char)rand();
    elen = EVP_EncodeBlock(enc, raw, (int)len);
    pad = elen > 0 ? (enc[elen - 1] == '=') + (elen > 1 && enc[elen - 2] == '=') : 0;
    memset(out, 0xa5, sizeof(out));
    olen = (int)b64_decode(out, enc, (size_t)elen);
    rlen = elen ? EVP_DecodeBlock(ref, enc, elen) - pad : 0;
    check(olen == (int)len && olen == rlen && !memcmp(out, raw, len) && !memcmp(out, ref, len),
          "length %zu: decodes to the bytes (got %d)", len, olen);
    check(out[len] == 0xa5 || (size_t)elen / 4 * 3 > len,
          "length %zu: nothing written past the decoded bytes' room", len);
    /* one byte changed to each value, at a spot of each 16-byte lane */
    if(elen >= 8 && len % 7 == 0) {
      size_t spot;
      for(spot = 0; spot < (size_t)elen; spot += 5) {
        unsigned char keep = enc[spot];
        int bad_seen = 0, good_seen = 0;
        for(v = 0; v < 256; v++) {
          long r;
          int want_ok;
          enc[spot] = (unsigned char)v;
          r = b64_decode(out, enc, (size_t)elen);
          if(v == '=')
            want_ok = -2;           /* depends on where: checked below */
          else
            /* an alphabet character anywhere but after a '=' ("xx=A") */
            want_ok = in_alphabet(v) &&
                      !(spot == (size_t)elen - 1 && enc[elen - 2] == '=');
          if(want_ok == -2) {
            /* '=' is padding only in the last two places, and only with
            ** padding after it */
            int ok_pad = (spot == (size_t)elen - 1) ||
                         (spot == (size_t)elen - 2 && enc[elen - 1] == '=');
            want_ok = ok_pad;
          }
          if(want_ok && r >= 0)
            good_seen++;
          else if(!want_ok && r < 0)
            bad_seen++;
          else
            check(0, "length %zu, byte %zu = 0x%02x: got %ld, want %s", len, spot, v, r,
                  want_ok ? "ok" : "refused");
        }
        enc[spot] = keep;
        check(bad_seen > 100 && good_seen >= 1, "length %zu, byte %zu: refusals %d, acceptances %d",
              len, spot, bad_seen, good_seen);
      }
    }
  }
  check(b64_decode(out, (const unsigned char *)"abc", 3) == -1, "a length not a multiple of 4");
  check(b64_decode(out, (const unsigned char *)"ab c", 4) == -1, "whitespace");
  check(b64_decode(out, (const unsigned char *)"a===", 4) == -1, "three padding characters");
  check(b64_decode(out, (const unsigned char *)"", 0) == 0, "empty");
  printf("base64: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
