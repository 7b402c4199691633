/*
** compat.h: the Lua 5.3/5.4 C API the bindings are written in, on Lua 5.1,
** LuaJIT 2.1 and 5.3 as well (5.4 needs nothing). Every version test lives
** here, none in the bindings. Include after lua.h and lauxlib.h.
**
** Shims carry a compat_ name and a macro of the 5.4 name, so they win over
** the few LuaJIT declares itself (luaL_setfuncs, lua_tointegerx, ...): a
** 5.1 build then calls nothing but the 5.1 API, and one object loads into
** PUC Lua 5.1 and LuaJIT alike, as lib/lua/5.1 modules do.
*/
#ifndef BEDROCK_COMPAT_H
#define BEDROCK_COMPAT_H

#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502

/* ---------------------------------------------- Lua 5.1 and LuaJIT 2.1 */

static inline int compat_absindex(lua_State *L, int i)
{
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
#undef lua_absindex
#define lua_absindex compat_absindex

static inline int compat_getfield(lua_State *L, int i, const char *k)
{
  lua_getfield(L, i, k);
  return lua_type(L, -1);
}
#undef lua_getfield
#define lua_getfield compat_getfield

static inline int compat_rawget(lua_State *L, int i)
{
  lua_rawget(L, i);
  return lua_type(L, -1);
}
#undef lua_rawget
#define lua_rawget compat_rawget

static inline int compat_geti(lua_State *L, int i, lua_Integer n)
{
  i = compat_absindex(L, i);
  lua_pushinteger(L, n);
  lua_gettable(L, i);
  return lua_type(L, -1);
}
#undef lua_geti
#define lua_geti compat_geti

static inline size_t compat_rawlen(lua_State *L, int i)
{
  return lua_objlen(L, i);
}
#undef lua_rawlen
#define lua_rawlen compat_rawlen

/* # with __len: 5.1 strings and tables have no __len to honour */
static inline lua_Integer compat_len(lua_State *L, int i)
{
  return (lua_Integer)lua_objlen(L, i);
}
#undef luaL_len
#define luaL_len compat_len

/* n as an integer when it has no fraction and fits (the cast is then
** defined); 2^63 is the first double past the range */
static inline int compat_numint(lua_Number n, lua_Integer *out)
{
  if(!(n >= -9223372036854775808.0 && n < 9223372036854775808.0) ||
     n != (lua_Number)(lua_Integer)n)
    return 0;
  *out = (lua_Integer)n;
  return 1;
}

static inline lua_Integer compat_tointegerx(lua_State *L, int i, int *isnum)
{
  lua_Integer v = 0;
  int ok = lua_isnumber(L, i) && compat_numint(lua_tonumber(L, i), &v);
  if(isnum)
    *isnum = ok;
  return v;
}
#undef lua_tointegerx
#define lua_tointegerx compat_tointegerx

/* 5.1 has one number type: a number with no fraction counts as an integer */
static inline int compat_isinteger(lua_State *L, int i)
{
  lua_Integer v;
  return lua_type(L, i) == LUA_TNUMBER && compat_numint(lua_tonumber(L, i), &v);
}
#undef lua_isinteger
#define lua_isinteger compat_isinteger

static inline void compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for(; l->name; l++) {
    int i;
    for(i = 0; i < nup; i++)
      lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#undef luaL_setfuncs
#define luaL_setfuncs compat_setfuncs

#undef luaL_newlibtable
#define luaL_newlibtable(L, l) \
  lua_createtable((L), 0, (int)(sizeof(l) / sizeof((l)[0]) - 1))
#undef luaL_newlib
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))

static inline void compat_setmetatable(lua_State *L, const char *tname)
{
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#undef luaL_setmetatable
#define luaL_setmetatable compat_setmetatable

static inline void *compat_testudata(lua_State *L, int i, const char *tname)
{
  void *p = lua_touserdata(L, i);
  if(!p || !lua_getmetatable(L, i))
    return NULL;
  luaL_getmetatable(L, tname);
  if(!lua_rawequal(L, -1, -2))
    p = NULL;
  lua_pop(L, 2);
  return p;
}
#undef luaL_testudata
#define luaL_testudata compat_testudata

/* The bindings use a sized buffer only as: luaL_buffinitsize, write, then
** luaL_pushresultsize with nothing pushed between. On 5.1 the buffer is a
** userdata on the stack top, replaced by the string. */
static inline char *compat_buffinitsize(lua_State *L, luaL_Buffer *b, size_t n)
{
  luaL_buffinit(L, b);
  return (char *)lua_newuserdata(L, n ? n : 1);
}
#undef luaL_buffinitsize
#define luaL_buffinitsize compat_buffinitsize

static inline void compat_pushresultsize(luaL_Buffer *b, size_t n)
{
  lua_State *L = b->L;
  lua_pushlstring(L, (const char *)lua_touserdata(L, -1), n);
  lua_remove(L, -2);
}
#undef luaL_pushresultsize
#define luaL_pushresultsize compat_pushresultsize

/* User values: a userdata made with nuv > 0 gets its own environment table
** (5.1's one slot per userdata) holding values 1..nuv. */
static inline void *compat_newuserdatauv(lua_State *L, size_t size, int nuv)
{
  void *p = lua_newuserdata(L, size);
  if(nuv > 0) {
    lua_createtable(L, nuv, 0);
    lua_setfenv(L, -2);
  }
  return p;
}

static inline int compat_setiuservalue(lua_State *L, int i, int n)
{
  i = compat_absindex(L, i);
  lua_getfenv(L, i);
  if(!lua_istable(L, -1) || lua_rawequal(L, -1, LUA_GLOBALSINDEX)) {
    lua_pop(L, 2);  /* made without user values: drop the value */
    return 0;
  }
  lua_insert(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
}

static inline int compat_getiuservalue(lua_State *L, int i, int n)
{
  lua_getfenv(L, i);
  if(!lua_istable(L, -1) || lua_rawequal(L, -1, LUA_GLOBALSINDEX)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

/* 5.1 has no luaL_checkversion: compare the running Lua's _VERSION with the
** headers', so a module never runs inside a Lua it was not built for. */
static inline void compat_checkversion(lua_State *L)
{
  const char *v;
  lua_getfield(L, LUA_GLOBALSINDEX, "_VERSION");
  v = lua_tostring(L, -1);
  if(!v || strcmp(v, LUA_VERSION) != 0)
    luaL_error(L, "this module was built for %s, not for %s", LUA_VERSION,
               v ? v : "this Lua");
  lua_pop(L, 1);
}
#undef luaL_checkversion
#define luaL_checkversion compat_checkversion

#elif LUA_VERSION_NUM == 502 || LUA_VERSION_NUM == 503

/* ---------------------------------------------------- Lua 5.2 and 5.3 */

static inline void *compat_newuserdatauv(lua_State *L, size_t size, int nuv)
{
  (void)nuv;  /* one user value, always there */
  return lua_newuserdata(L, size);
}

static inline int compat_setiuservalue(lua_State *L, int i, int n)
{
  if(n != 1) {
    lua_pop(L, 1);
    return 0;
  }
  lua_setuservalue(L, i);
  return 1;
}

static inline int compat_getiuservalue(lua_State *L, int i, int n)
{
  if(n != 1) {
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_getuservalue(L, i);
  return lua_type(L, -1);
}

#endif

#if LUA_VERSION_NUM < 504

#define lua_newuserdatauv compat_newuserdatauv
#define lua_setiuservalue compat_setiuservalue
#define lua_getiuservalue compat_getiuservalue
#define luaL_pushfail(L) lua_pushnil(L)

#endif

#endif
