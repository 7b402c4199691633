/* lutil.c: helpers both bindings share (see lutil.h). */
#include <limits.h>
#include <string.h>

#include "base64.h"
#include "lutil.h"

const char *opt_string(lua_State *L, int t, const char *k,
                       const char *def, size_t *len)
{
  const char *s = def;
  if(len)
    *len = def ? strlen(def) : 0;
  if(lua_getfield(L, t, k) != LUA_TNIL) {
    if(lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "field '%s' must be a string", k);
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1);  /* still anchored in t */
  return s;
}

/* opt_string for values C reads up to a NUL: one inside would silently cut
** the value short, so it raises (naming the field, never showing it). */
const char *opt_cstring(lua_State *L, int t, const char *k,
                        const char *def)
{
  size_t len;
  const char *s = opt_string(L, t, k, def, &len);
  if(s && strlen(s) != len)
    luaL_error(L, "field '%s' contains a NUL byte", k);
  return s;
}

lua_Integer opt_integer(lua_State *L, int t, const char *k,
                        lua_Integer def)
{
  lua_Integer v = def;
  if(lua_getfield(L, t, k) != LUA_TNIL) {
    int isnum;
    v = lua_tointegerx(L, -1, &isnum);
    if(!isnum)
      luaL_error(L, "field '%s' must be an integer", k);
  }
  lua_pop(L, 1);
  return v;
}

int opt_bool(lua_State *L, int t, const char *k, int def)
{
  int v = def;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Base64 decode into small (small_cap bytes) or, when it does
** not fit, a userdata pushed on the stack (the caller pops it). Returns the
** bytes and their count, or NULL on bad input (nothing left pushed). */
const unsigned char *b64decode_buf(lua_State *L, const char *s, size_t n,
                                   unsigned char *small, size_t small_cap,
                                   size_t *out_len, int *boxed)
{
  unsigned char *out;
  long len;
  *boxed = 0;
  if(n % 4)
    return NULL;
  if(n / 4 * 3 + 1 > small_cap) {
    out = lua_newuserdata(L, n / 4 * 3 + 1);
    *boxed = 1;
  }
  else
    out = small;
  len = b64_decode(out, (const unsigned char *)s, n);
  if(len < 0) {
    if(*boxed)
      lua_pop(L, 1);
    *boxed = 0;
    return NULL;
  }
  *out_len = (size_t)len;
  return out;
}

/* Base64 decode; pushes a Lua string and returns 1, or nothing and 0 on
** bad input. Event payloads are small: decode those on the stack and
** intern once, sparing a Lua buffer box per event. */
int push_b64decode(lua_State *L, const char *s, size_t n)
{
  unsigned char small[3072];
  size_t len;
  int boxed;
  const unsigned char *out = b64decode_buf(L, s, n, small, sizeof(small), &len, &boxed);
  if(!out)
    return 0;
  lua_pushlstring(L, (const char *)out, len);
  if(boxed)
    lua_remove(L, -2);
  return 1;
}

void scan_stream_headers(const struct evs_message *m, struct stream_headers *sh)
{
  static const char *const names[] = { ":message-type", ":event-type", ":exception-type" };
  struct evs_header h[3];
  evs_header_find_many(m, names, 3, h);
  memset(sh, 0, sizeof(*sh));
  if(h[0].name && h[0].type == EVS_STRING) {
    sh->message_type = (const char *)h[0].data;
    sh->message_type_len = h[0].data_len;
  }
  if(h[1].name && (h[1].type == EVS_STRING || h[1].type == EVS_BYTES)) {
    sh->event_type = (const char *)h[1].data;
    sh->event_type_len = h[1].data_len;
  }
  if(h[2].name && (h[2].type == EVS_STRING || h[2].type == EVS_BYTES)) {
    sh->exception_type = (const char *)h[2].data;
    sh->exception_type_len = h[2].data_len;
  }
}

void push_opt_lstring(lua_State *L, const char *s, size_t n)
{
  if(s)
    lua_pushlstring(L, s, n);
  else
    lua_pushnil(L);
}

void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
               lua_CFunction destroy)
{
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, destroy);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, destroy);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}
