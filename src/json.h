/*
** json.h: a strict JSON (RFC 8259) parser, sans-I/O, no allocation.
**
** The parser walks the text once and calls a handler for each value, so a
** caller builds its own values directly (the Lua binding builds tables).
** Strict: one value with optional whitespace around it; no comments, no
** trailing commas, no leading zeros, no NaN/Infinity; strings must be
** valid UTF-8 (no overlong forms, no encoded surrogates, nothing past
** U+10FFFF) with no raw control characters; \u escapes must pair their
** surrogates. Numbers without a fraction or exponent that fit int64 come as
** integers ("-0" stays a float, for its sign); the rest as doubles, correctly
** rounded (strtod), whatever the C locale.
*/
#ifndef BEDROCK_JSON_H
#define BEDROCK_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DEFAULT_MAX_DEPTH 1000   /* as lua-cjson's decoder */

enum json_status {
  JSON_OK = 0,
  JSON_ERR_EMPTY,          /* no value: empty or only whitespace */
  JSON_ERR_SYNTAX,         /* a character that cannot come here */
  JSON_ERR_EOF,            /* the text ends inside a value */
  JSON_ERR_TRAILING,       /* something after the value */
  JSON_ERR_DEPTH,          /* arrays and objects nested past max_depth */
  JSON_ERR_NUMBER,         /* a malformed number (leading zero, "1.", "-", ...) */
  JSON_ERR_ESCAPE,         /* an unknown escape or a bad \u */
  JSON_ERR_SURROGATE,      /* a \u surrogate without its pair */
  JSON_ERR_CONTROL,        /* a raw control character (< 0x20) in a string */
  JSON_ERR_UTF8,           /* invalid UTF-8 in a string */
  JSON_ERR_HANDLER         /* the handler asked to stop */
};

/* Called for each value in document order. Each returns 0 to go on, or
** non-zero to stop (the parse fails with JSON_ERR_HANDLER). Strings and
** keys are given as bytes (UTF-8, possibly holding NUL from \u0000), valid
** only during the call. After each value inside an array comes
** array_item(ud, i) with its 1-based index; after each value inside an
** object, object_member(ud): the key (key callback) came before the value. */
struct json_handler {
  int (*null_value)(void *ud);
  int (*boolean)(void *ud, int v);
  int (*integer)(void *ud, int64_t v);
  int (*number)(void *ud, double v);
  int (*string)(void *ud, const char *s, size_t n);
  int (*key)(void *ud, const char *s, size_t n);
  int (*begin_array)(void *ud);
  int (*array_item)(void *ud, size_t index);
  int (*end_array)(void *ud, size_t count);
  int (*begin_object)(void *ud);
  int (*object_member)(void *ud);
  int (*end_object)(void *ud, size_t count);
  /* Room to unescape a string of at most n bytes: returns a buffer of n
  ** bytes, or NULL (JSON_ERR_HANDLER). Called only for strings holding an
  ** escape; the buffer may be reused for the next one. */
  char *(*scratch)(void *ud, size_t n);
};

struct json_result {
  enum json_status status;
  size_t offset;           /* of the error: bytes from the start of the text */
};

/* Parse n bytes of text. max_depth bounds the nesting of arrays and
** objects (0: JSON_DEFAULT_MAX_DEPTH). Returns the status, also in r. */
int json_parse(const char *text, size_t n, const struct json_handler *h,
               void *ud, unsigned max_depth, struct json_result *r);

/* "unexpected character", "invalid UTF-8 in a string", ... */
const char *json_strerror(int status);

#endif
