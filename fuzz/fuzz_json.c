/*
** fuzz_json.c: libFuzzer target for the strict JSON parser (src/json.c).
**
** Input: one control byte, then the text. Checks, for any text:
**   - the parse ends (no crash, no overrun: ASan), with an error offset
**     inside the text;
**   - an accepted text writes back (test/json_canon.h) to canonical JSON that
**     parses again to the very same canonical text: nothing is lost or
**     changed, integers stay integers, doubles round-trip exactly;
**   - the depth limit from the control byte (1 to 64) refuses exactly the
**     texts nested deeper than it, and nothing else changes under it;
**   - a handler that stops at the Nth callback (N from the control byte)
**     makes the parse fail with JSON_ERR_HANDLER, or it ends first: OK;
**   - whitespace around an accepted text changes nothing.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct canon A, B;

static void must(int ok, const char *what)
{
  if(!ok) {
    fprintf(stderr, "fuzz_json: %s\n", what);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text;
  size_t n;
  unsigned limit;
  struct json_result r, r2;
  if(size < 1)
    return 0;
  limit = (unsigned)(data[0] & 63) + 1;
  text = (const char *)data + 1;
  n = size - 1;

  canon_reset(&A);
  json_parse(text, n, &canon_handler, &A, 0, &r);
  must(r.status != JSON_ERR_HANDLER || A.nomem, "the canonical writer never stops a parse");
  must(r.offset <= n, "error offset inside the text");
  if(r.status == JSON_OK && !A.nomem) {
    char *first = malloc(A.len + 3);
    size_t flen = A.len;
    memcpy(first, A.out, A.len + 1);
    /* canonical text parses to itself */
    canon_reset(&B);
    json_parse(first, flen, &canon_handler, &B, 0, &r2);
    must(r2.status == JSON_OK, "canonical output parses");
    must(B.len == flen && !memcmp(B.out, first, flen), "canonical output is a fixed point");
    /* whitespace around it changes nothing */
    memmove(first + 1, first, flen);
    first[0] = '\n';
    first[flen + 1] = '\t';
    canon_reset(&B);
    json_parse(first, flen + 2, &canon_handler, &B, 0, &r2);
    must(r2.status == JSON_OK && B.len == flen && !memcmp(B.out, A.out, flen),
         "surrounding whitespace changes nothing");
    free(first);

    /* the depth limit */
    canon_reset(&B);
    json_parse(text, n, &canon_handler, &B, limit, &r2);
    if((unsigned)A.max_seen <= limit)
      must(r2.status == JSON_OK && B.len == A.len && !memcmp(B.out, A.out, A.len),
           "a text within the depth limit parses the same");
    else
      must(r2.status == JSON_ERR_DEPTH, "a text past the depth limit is refused for depth");

    /* a handler that stops */
    canon_reset(&B);
    B.stop_after = (int)(data[0] >> 2) + 1;
    json_parse(text, n, &canon_handler, &B, 0, &r2);
    must(r2.status == JSON_OK || r2.status == JSON_ERR_HANDLER, "a stopping handler stops the parse");
    B.stop_after = 0;
  }
  else if(r.status != JSON_OK) {
    /* a refused text is refused under any depth limit (depth may come first) */
    canon_reset(&B);
    json_parse(text, n, &canon_handler, &B, limit, &r2);
    must(r2.status != JSON_OK, "a refused text stays refused under a depth limit");
  }
  return 0;
}
