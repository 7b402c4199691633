/*
** ljson.h: JSON text to Lua values (the Lua side of json.c), for the
** bindings: core.json_decode, and the stream's chunk events decoded in C.
*/
#ifndef BEDROCK_LJSON_H
#define BEDROCK_LJSON_H

#include <stddef.h>

#include <lua.h>

#include "json.h"

/* Push the value of the JSON text s (n bytes) and return 1, or push
** nothing and return 0 with the failure in r. Objects and arrays become
** tables, null the light userdata NULL (lua-cjson's cjson.null), integers
** within int64 Lua integers (5.3+), other numbers floats. */
int ljson_push(lua_State *L, const char *s, size_t n, struct json_result *r);

/* core.json_decode(s) -> value | nil, message, byte (1-based, of the error) */
int ljson_decode(lua_State *L);

#endif
