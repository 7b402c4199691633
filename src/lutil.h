/*
** lutil.h: what both bindings (bedrock.codec and bedrock.core) share: option
** readers for argument tables, base64 decoding onto the stack, and the
** class maker. Compiled into each object; hidden, so the two copies never
** meet.
*/
#ifndef BEDROCK_LUTIL_H
#define BEDROCK_LUTIL_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#include "compat.h"
#include "eventstream.h"

#if defined(__GNUC__)
#define BEDROCK_EXPORT __attribute__((visibility("default")))
#else
#define BEDROCK_EXPORT
#endif

const char *opt_string(lua_State *L, int t, const char *k, const char *def,
                       size_t *len);
const char *opt_cstring(lua_State *L, int t, const char *k, const char *def);
lua_Integer opt_integer(lua_State *L, int t, const char *k, lua_Integer def);
int opt_bool(lua_State *L, int t, const char *k, int def);

/* base64 text -> bytes in small (small_cap) or in a userdata pushed on the
** stack (*boxed; the caller pops it); NULL on bad input, nothing pushed */
const unsigned char *b64decode_buf(lua_State *L, const char *s, size_t n,
                                   unsigned char *small, size_t small_cap,
                                   size_t *out_len, int *boxed);

/* base64 text -> a Lua string on the stack (1), or nothing pushed (0) */
int push_b64decode(lua_State *L, const char *s, size_t n);

/* The headers a response stream reads, found in one walk: string values
** of :message-type (a string), :event-type and :exception-type (a string
** or bytes); NULL when absent or of another type. */
struct stream_headers {
  const char *message_type, *event_type, *exception_type;
  size_t message_type_len, event_type_len, exception_type_len;
};
void scan_stream_headers(const struct evs_message *m, struct stream_headers *sh);

/* s[0..n) as a Lua string, or nil when s is NULL */
void push_opt_lstring(lua_State *L, const char *s, size_t n);

/* a metatable name with methods as __index, destroy as __gc and __close */
void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
               lua_CFunction destroy);

#endif
