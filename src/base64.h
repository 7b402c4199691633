/*
** base64.h: base64 decoding (RFC 4648 alphabet, '=' padding), strict.
**
** For the stream's chunk events ({"bytes": base64} around every model
** event) and blobs: 16 characters at a time with SSSE3 where the CPU has it,
** a table otherwise; the same result either way.
*/
#ifndef BEDROCK_BASE64_H
#define BEDROCK_BASE64_H

#include <stddef.h>

/* Decode n bytes of base64: n a multiple of 4, only alphabet characters,
** '=' only as the last one or two. out has room for n / 4 * 3 bytes.
** Returns the bytes written, or -1 for anything else (no whitespace, no
** missing padding). */
long b64_decode(unsigned char *out, const unsigned char *in, size_t n);

#endif
