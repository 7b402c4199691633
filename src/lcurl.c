/*
** lcurl.c: the bedrock.curl module. It hands bedrock.core the libcurl
** backend (curl_backend.c) as a light userdata, with the contract's
** version beside it so that the binding can refuse a module built from
** other sources before it touches the pointer. bedrock.core loads it the
** first time a transfer needs libcurl (xfer_wants_libcurl); nothing else
** in this object is reachable from Lua.
*/
#define _GNU_SOURCE               /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>

#include <curl/curl.h>

#include "compat.h"
#include "lutil.h"
#include "xfer.h"

extern const struct xfer_backend xfer_curl_backend;

/* An engine that attached the backend calls into this object until the
** engine's __gc. Lua 5.1 and LuaJIT close a C module's handle in a
** finalizer of its own, and finalizers run newest first, so at lua_close
** the module would be unmapped before the engine that uses it: the object
** stays mapped for the life of the process instead. */
static void pin_self(void)
{
  Dl_info info;
  if(dladdr((const void *)&xfer_curl_backend, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

BEDROCK_EXPORT int luaopen_bedrock_curl(lua_State *L);

int luaopen_bedrock_curl(lua_State *L)
{
  luaL_checkversion(L);
  pin_self();
  lua_createtable(L, 0, 3);
  lua_pushlightuserdata(L, (void *)&xfer_curl_backend);
  lua_setfield(L, -2, "backend");
  lua_pushinteger(L, XFER_BACKEND_ABI);
  lua_setfield(L, -2, "abi");
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "version");
  return 1;
}
