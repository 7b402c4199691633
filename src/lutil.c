/* lutil.c: helpers both bindings share (see lutil.h). */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

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

/* Base64 decode with OpenSSL; returns a Lua string or nothing on bad input.
** Event payloads are small: decode those on the stack and intern once,
** sparing a Lua buffer box per event. */
int push_b64decode(lua_State *L, const char *s, size_t n)
{
  unsigned char small[3072];
  luaL_Buffer b;
  unsigned char *out;
  int len, pad = 0, boxed = n / 4 * 3 + 1 > sizeof(small);
  if(n % 4 || n > INT_MAX)
    return 0;
  if(n >= 1 && s[n - 1] == '=')
    pad++;
  if(n >= 2 && s[n - 2] == '=')
    pad++;
  out = boxed ? (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 1) : small;
  len = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
  if(len < pad) {
    if(boxed) {
      luaL_pushresultsize(&b, 0);
      lua_pop(L, 1);
    }
    return 0;
  }
  if(boxed)
    luaL_pushresultsize(&b, (size_t)(len - pad));
  else
    lua_pushlstring(L, (const char *)small, (size_t)(len - pad));
  return 1;
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
