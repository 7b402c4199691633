/*
** ljson.c: builds Lua values from json.c's callbacks (see ljson.h).
**
** Each open array or object sits on the Lua stack with, for an object, the
** key of the member being read above it; a value is pushed and then stored
** into its container by array_item/object_member, so the stack holds one
** table and at most one key per level. Only Lua 5.1 calls, but integers.
*/
#include <lauxlib.h>

#include "ljson.h"

struct ljson {
  lua_State *L;
  int scratch_idx;        /* stack slot anchoring a scratch userdata */
  char small[256];
};

/* JSON integers are Lua integers where Lua has them (5.3+) */
static void push_int64(lua_State *L, int64_t v)
{
#if LUA_VERSION_NUM >= 503
  lua_pushinteger(L, (lua_Integer)v);
#else
  lua_pushnumber(L, (lua_Number)v);
#endif
}

static int on_null(void *ud)
{
  lua_pushlightuserdata(((struct ljson *)ud)->L, NULL);
  return 0;
}

static int on_boolean(void *ud, int v)
{
  lua_pushboolean(((struct ljson *)ud)->L, v);
  return 0;
}

static int on_integer(void *ud, int64_t v)
{
  push_int64(((struct ljson *)ud)->L, v);
  return 0;
}

static int on_number(void *ud, double v)
{
  lua_pushnumber(((struct ljson *)ud)->L, (lua_Number)v);
  return 0;
}

static int on_string(void *ud, const char *s, size_t n)
{
  lua_pushlstring(((struct ljson *)ud)->L, s, n);
  return 0;
}

/* Sized for a small object: growing an empty table to 3 keys rehashes it
** three times, which costs more than the unused slots of a 4-slot one. */
static int on_begin_object(void *ud)
{
  lua_State *L = ((struct ljson *)ud)->L;
  luaL_checkstack(L, 3, "JSON nested too deeply");
  lua_createtable(L, 0, 4);
  return 0;
}

static int on_begin_array(void *ud)
{
  lua_State *L = ((struct ljson *)ud)->L;
  luaL_checkstack(L, 3, "JSON nested too deeply");
  lua_createtable(L, 0, 0);
  return 0;
}

static int on_item(void *ud, size_t i)
{
  lua_rawseti(((struct ljson *)ud)->L, -2, (int)i);
  return 0;
}

static int on_member(void *ud)
{
  lua_rawset(((struct ljson *)ud)->L, -3);
  return 0;
}

static int on_end(void *ud, size_t count)
{
  (void)ud;
  (void)count;
  return 0;
}

static char *on_scratch(void *ud, size_t n)
{
  struct ljson *j = ud;
  void *p;
  if(n <= sizeof(j->small))
    return j->small;
  p = lua_newuserdata(j->L, n);
  lua_replace(j->L, j->scratch_idx);    /* the previous one may go */
  return p;
}

static const struct json_handler handler = {
  on_null, on_boolean, on_integer, on_number, on_string, on_string,
  on_begin_array, on_item, on_end, on_begin_object, on_member, on_end, on_scratch
};

int ljson_push(lua_State *L, const char *s, size_t n, struct json_result *r)
{
  struct ljson j;
  int base;
  luaL_checkstack(L, 4, "no room on the Lua stack");
  lua_pushnil(L);                       /* the scratch slot */
  base = lua_gettop(L);
  j.L = L;
  j.scratch_idx = base;
  if(json_parse(s, n, &handler, &j, 0, r) != JSON_OK) {
    lua_settop(L, base - 1);
    return 0;
  }
  lua_replace(L, base);                 /* the value over the scratch slot */
  return 1;
}

int ljson_decode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  struct json_result r;
  if(ljson_push(L, s, n, &r))
    return 1;
  lua_pushnil(L);
  lua_pushstring(L, json_strerror(r.status));
  lua_pushinteger(L, (lua_Integer)r.offset + 1);
  return 3;
}
