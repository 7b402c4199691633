/*
** lbedrock.c: the Lua binding of the engine, and only that: bedrock.core
** (the HTTP engine, child processes, clocks), built on bedrock.codec, whose
** functions it carries too. libcurl is bedrock.curl's, loaded here the
** first time a request needs it.
**
**   engine()                  -> Engine (keep-alive pools: our HTTP/1.1 client's, libcurl's)
**   Engine:request(opts)      -> Transfer | nil, err
**   Engine:pump(ms, ids)      -> running, nchanged   (ids[1..n] = changed transfer ids)
**   Transfer:...              state, status, headers, body, next_event, error, sends, close
**   spawn_shell(cmd [, opts]) -> process (credential_process; with stdin, an MCP server)
**   now(), time(), sleep(s), sigint_catch(), sigint_restore(), sigint_caught()
**   and every function of bedrock.codec (sigv4_sign, decoder, encode, ...)
**
** Userdata are born closed (NULL pointers) and opened after their metatable
** is set, so a raise half way never leaves __gc a bad pointer; close, __gc
** and __close share one idempotent destroy.
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventstream.h"
#include "ljson.h"
#include "lutil.h"
#include "sigint.h"
#include "spawn.h"
#include "transport.h"

#define ENGINE_MT "bedrock.Engine"
#define XFER_MT "bedrock.Transfer"
#define PROCESS_MT "bedrock.process"

struct lengine {
  struct xfer_engine *e;
};

struct lxfer {
  struct xfer *x;
  int unwrap_chunks;    /* next_event unwraps {"bytes": base64} chunk payloads:
                        ** UNWRAP_BYTES to the inner bytes, UNWRAP_JSON to
                        ** their JSON value */
};

enum { UNWRAP_NONE = 0, UNWRAP_BYTES = 1, UNWRAP_JSON = 2 };

/* A chunk's base64 decoded and its JSON parsed in one step, with no Lua
** string between: pushes the value and "json", or (the inner bytes are not
** JSON) the inner bytes and true; nothing and 0 when the base64 is bad. */
static int push_b64json(lua_State *L, const char *s, size_t n)
{
  unsigned char small[3072];
  size_t len;
  int boxed;
  struct json_result r;
  const unsigned char *out = b64decode_buf(L, s, n, small, sizeof(small), &len, &boxed);
  if(!out)
    return 0;
  if(ljson_push(L, (const char *)out, len, &r))
    lua_pushliteral(L, "json");
  else {
    lua_pushlstring(L, (const char *)out, len);
    lua_pushboolean(L, 1);
  }
  if(boxed)
    lua_remove(L, -3);
  return 2;
}

/* ----------------------------------------------------------------- Engine */

static struct lengine *check_engine(lua_State *L, int i)
{
  struct lengine *le = luaL_checkudata(L, i, ENGINE_MT);
  luaL_argcheck(L, le->e != NULL, i, "the engine is closed");
  return le;
}

static int lengine_new(lua_State *L)
{
  struct lengine *le = lua_newuserdatauv(L, sizeof(*le), 0);
  le->e = NULL;
  luaL_setmetatable(L, ENGINE_MT);
  le->e = xfer_engine_new();
  if(!le->e)
    return luaL_error(L, "out of memory for an engine");
  return 1;
}

static int lengine_close(lua_State *L)
{
  struct lengine *le = luaL_checkudata(L, 1, ENGINE_MT);
  if(le->e) {
    xfer_engine_free(le->e);
    le->e = NULL;
  }
  return 0;
}

/* bedrock.curl, loaded the first time a request of this engine needs
** libcurl (a duplex session, a proxy from the environment): 1, or 0 with
** the reason pushed (require's own message when the module is missing). */
static int attach_libcurl(lua_State *L, struct xfer_engine *e)
{
  char err[256];
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "bedrock.curl");
  if(lua_pcall(L, 1, 1, 0) != 0) {
    const char *msg = lua_tostring(L, -1);
    lua_pushfstring(L, "this request needs libcurl (bedrock.curl): %s",
                    msg ? msg : "require failed");
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
  }
  if(!lua_istable(L, -1) || lua_getfield(L, -1, "backend") != LUA_TLIGHTUSERDATA) {
    lua_settop(L, top);
    lua_pushliteral(L, "this request needs libcurl: bedrock.curl gave no backend");
    return 0;
  }
  if(xfer_engine_attach_libcurl(e, lua_touserdata(L, -1), err, sizeof(err))) {
    lua_settop(L, top);
    lua_pushstring(L, err);
    return 0;
  }
  lua_settop(L, top);
  return 1;
}

/* request{ method, url, headers = {"Name: value", ...}, body, stream,
**          connect_timeout_ms, idle_timeout_ms, total_timeout_ms,
**          high_water, unwrap_chunks, ca_file, ca_path,
**          duplex, send_high_water, no_proxy, max_body_bytes }
** -> Transfer | nil, err (a CR, LF or NUL in the method, URL, a header or
**    a CA path: nothing is sent) */
static int lengine_request(lua_State *L)
{
  struct lengine *le = check_engine(L, 1);
  struct xfer_options o;
  struct lxfer *lx;
  const char **hv = NULL;
  const char *nul = NULL;         /* the first field holding a NUL byte */
  char err[256];
  size_t len;
  lua_Integer n = 0, i;

  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&o, 0, sizeof(o));
  o.method = opt_string(L, 2, "method", "POST", &len);
  nul = strlen(o.method) != len ? "method" : NULL;
  o.url = opt_string(L, 2, "url", NULL, &len);
  if(!o.url)
    return luaL_error(L, "field 'url' is required");
  if(strlen(o.url) != len)
    nul = "url";
  o.ca_file = opt_string(L, 2, "ca_file", NULL, &len);
  if(o.ca_file && strlen(o.ca_file) != len)
    nul = "ca_file";
  o.ca_path = opt_string(L, 2, "ca_path", NULL, &len);
  if(o.ca_path && strlen(o.ca_path) != len)
    nul = "ca_path";
  o.body = opt_string(L, 2, "body", NULL, &o.body_len);
  o.stream = opt_bool(L, 2, "stream", 0);
  o.connect_timeout_ms = (long)opt_integer(L, 2, "connect_timeout_ms", 0);
  o.idle_timeout_ms = (long)opt_integer(L, 2, "idle_timeout_ms", 0);
  o.total_timeout_ms = (long)opt_integer(L, 2, "total_timeout_ms", 0);
  o.high_water = (size_t)opt_integer(L, 2, "high_water", 0);
  o.duplex = opt_bool(L, 2, "duplex", 0);
  o.send_high_water = (size_t)opt_integer(L, 2, "send_high_water", 0);
  o.no_proxy = opt_bool(L, 2, "no_proxy", 0);
  o.max_body = (size_t)opt_integer(L, 2, "max_body_bytes", 0);

  /* The userdata exists before any C allocation, so an error below leaves
  ** nothing behind. It keeps its engine alive through the user value. */
  lx = lua_newuserdatauv(L, sizeof(*lx), 1);
  lx->x = NULL;
  lua_getfield(L, 2, "unwrap_chunks");
  if(lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "json"))
    lx->unwrap_chunks = UNWRAP_JSON;
  else
    lx->unwrap_chunks = lua_toboolean(L, -1) ? UNWRAP_BYTES : UNWRAP_NONE;
  lua_pop(L, 1);
  luaL_setmetatable(L, XFER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);

  if(lua_getfield(L, 2, "headers") == LUA_TTABLE) {
    n = luaL_len(L, -1);
    hv = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(*hv), 0);
    for(i = 1; i <= n; i++) {
      if(lua_geti(L, -2, i) != LUA_TSTRING)
        return luaL_error(L, "headers[%d] must be a string", (int)i);
      hv[i - 1] = lua_tolstring(L, -1, &len);
      if(strlen(hv[i - 1]) != len && !nul)
        nul = "a header";
      lua_pop(L, 1);  /* anchored in the headers table */
    }
  }
  o.headers = hv;
  o.nheaders = (size_t)n;
  if(nul) {
    /* C would read the string only up to the NUL: refuse, send nothing */
    lua_pushnil(L);
    lua_pushfstring(L, "NUL byte in %s", nul);
    return 2;
  }
  if(xfer_wants_libcurl(&o) && !xfer_engine_has_libcurl(le->e) &&
     !attach_libcurl(L, le->e)) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lx->x = xfer_new(le->e, &o, err, sizeof(err));
  if(!lx->x) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_settop(L, 3);  /* the transfer */
  return 1;
}

static int lengine_pump(lua_State *L)
{
  struct lengine *le = check_engine(L, 1);
  lua_Integer ms = luaL_optinteger(L, 2, 0);
  lua_Integer n = 0;
  struct xfer *x;
  char err[256];
  int running;
  int has_ids = lua_istable(L, 3);
  running = xfer_engine_pump(le->e, (long)ms, err, sizeof(err));
  if(running < 0)
    return luaL_error(L, "%s", err);
  while((x = xfer_engine_pop_changed(le->e))) {
    if(has_ids) {
      lua_pushinteger(L, (lua_Integer)xfer_id(x));
      lua_rawseti(L, 3, ++n);
    }
  }
  if(has_ids) {
    lua_pushnil(L);
    lua_rawseti(L, 3, n + 1);
  }
  lua_pushinteger(L, running);
  lua_pushinteger(L, n);
  return 2;
}

static int lengine_running(lua_State *L)
{
  struct lengine *le = luaL_checkudata(L, 1, ENGINE_MT);
  lua_pushinteger(L, le->e ? xfer_engine_running(le->e) : 0);
  return 1;
}

/* limits(max_connections, idle_timeout_s): the pool's size (transfers
** past it queue) and idle-connection timeout; 0 or nil leaves one as it is */
static int lengine_limits(lua_State *L)
{
  struct lengine *le = check_engine(L, 1);
  lua_Integer n = luaL_optinteger(L, 2, 0), idle = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, n >= 0 && n <= 1000000, 2, "must be a count from 0 to 1000000");
  luaL_argcheck(L, idle >= 0 && idle <= 86400 * 365, 3, "must be seconds, from 0");
  if(xfer_engine_set_limits(le->e, (long)n, (long)idle))
    return luaL_error(L, "the engine refused the connection limits");
  return 0;
}

/* release(): close the pool's idle connections (now, or once the running
** transfers end) */
static int lengine_release(lua_State *L)
{
  struct lengine *le = check_engine(L, 1);
  if(xfer_engine_release(le->e))
    return luaL_error(L, "cannot release the connections: out of memory");
  return 0;
}

/* --------------------------------------------------------------- Transfer */

static struct lxfer *check_xfer(lua_State *L, int i)
{
  struct lxfer *lx = luaL_checkudata(L, i, XFER_MT);
  luaL_argcheck(L, lx->x != NULL, i, "the transfer is closed");
  return lx;
}

static int lxfer_close(lua_State *L)
{
  struct lxfer *lx = luaL_checkudata(L, 1, XFER_MT);
  if(lx->x) {
    xfer_free(lx->x);
    lx->x = NULL;
  }
  return 0;
}

static int lxfer_closed(lua_State *L)
{
  struct lxfer *lx = luaL_checkudata(L, 1, XFER_MT);
  lua_pushboolean(L, lx->x == NULL);
  return 1;
}

/* send(bytes) -> bytes still queued | nil, err (a duplex transfer's input) */
static int lxfer_send(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  size_t n, pending = 0;
  const char *p = luaL_checklstring(L, 2, &n);
  int rc = xfer_send(lx->x, p, n, &pending);
  if(rc) {
    lua_pushnil(L);
    lua_pushstring(L, rc == -2 ? "out of memory" : "the transfer takes no more input");
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)pending);
  return 1;
}

static int lxfer_send_end(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  if(xfer_send_end(lx->x)) {
    lua_pushnil(L);
    lua_pushliteral(L, "the transfer takes no more input");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int lxfer_send_pending(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)xfer_send_pending(check_xfer(L, 1)->x));
  return 1;
}

static int lxfer_id(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)xfer_id(check_xfer(L, 1)->x));
  return 1;
}

static int lxfer_state(lua_State *L)
{
  static const char *const names[] = { "running", "done", "failed" };
  lua_pushstring(L, names[xfer_get_state(check_xfer(L, 1)->x)]);
  return 1;
}

static int lxfer_status(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  lua_pushinteger(L, xfer_status(lx->x));
  lua_pushboolean(L, xfer_headers_complete(lx->x));
  return 2;
}

/* Response headers as { lowercase-name = value }; repeats are joined with
** ", " as HTTP allows. */
static int lxfer_headers(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  size_t i, n = xfer_header_count(lx->x);
  lua_createtable(L, 0, (int)n);
  for(i = 0; i < n; i++) {
    const char *name, *value;
    char lower[64];
    size_t nl, vl, k;
    xfer_header_at(lx->x, i, &name, &nl, &value, &vl);
    if(nl <= sizeof(lower)) {
      for(k = 0; k < nl; k++)
        lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
      lua_pushlstring(L, lower, nl);
    }
    else {
      luaL_Buffer b;
      char *p = luaL_buffinitsize(L, &b, nl);
      for(k = 0; k < nl; k++)
        p[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
      luaL_pushresultsize(&b, nl);
    }
    lua_pushvalue(L, -1);
    if(lua_rawget(L, -3) == LUA_TSTRING) {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, value, vl);
      lua_concat(L, 3);
    }
    else {
      lua_pop(L, 1);
      lua_pushlstring(L, value, vl);
    }
    lua_rawset(L, -3);
  }
  return 1;
}

static int lxfer_body(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  size_t len;
  const char *p = xfer_body(lx->x, &len);
  lua_pushlstring(L, p, len);
  return 1;
}

/* code, detail, evs_code (nil when the transfer did not fail) */
static int lxfer_error(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  const char *detail;
  int evs;
  enum xfer_error err = xfer_error(lx->x, &detail, &evs);
  if(xfer_get_state(lx->x) != XFER_FAILED)
    return 0;
  lua_pushstring(L, xfer_errname(err));
  lua_pushstring(L, detail);
  if(err == XFER_ERR_STREAM)
    lua_pushstring(L, evs_errcode(evs));
  else if(err == XFER_ERR_TRUNCATED)
    lua_pushliteral(L, "EVS_TRUNCATED");
  else if(err == XFER_ERR_TIMEOUT)
    lua_pushstring(L, xfer_timeout_name(xfer_timeout_phase(lx->x)));
  else
    lua_pushnil(L);
  return 3;
}

static int lxfer_sends(lua_State *L)
{
  lua_pushinteger(L, xfer_sends(check_xfer(L, 1)->x));
  return 1;
}

static int lxfer_elapsed(lua_State *L)
{
  lua_pushnumber(L, xfer_elapsed_ms(check_xfer(L, 1)->x));
  return 1;
}

static void push_header_string(lua_State *L, const struct evs_message *m,
                               const char *name)
{
  struct evs_header h;
  if(evs_header_find(m, name, &h) &&
     (h.type == EVS_STRING || h.type == EVS_BYTES))
    lua_pushlstring(L, (const char *)h.data, h.data_len);
  else
    lua_pushnil(L);
}

/* Find the string value of "bytes" in a chunk payload {"bytes":"...", ...}
** without a JSON parse: base64 has no characters JSON must escape. Returns 0
** when the payload is not that simple shape, and the caller falls back to a
** real JSON decoder. */
static int find_bytes_field(const unsigned char *p, size_t n,
                            const char **v, size_t *vlen)
{
  static const char key[] = "\"bytes\"";
  size_t i = 0, k = sizeof(key) - 1, start;
  /* the service's own shape first: {"bytes":"...", ...} */
  if(n > 10 && !memcmp(p, "{\"bytes\":\"", 10)) {
    const unsigned char *q = memchr(p + 10, '"', n - 10);
    if(q && !memchr(p + 10, '\\', (size_t)(q - p) - 10)) {
      *v = (const char *)p + 10;
      *vlen = (size_t)(q - p) - 10;
      return 1;
    }
  }
  while(i + k <= n) {
    const unsigned char *hit = memchr(p + i, '"', n - i);
    if(!hit)
      return 0;
    i = (size_t)(hit - p);
    if(i + k <= n && !memcmp(p + i, key, k)) {
      i += k;
      while(i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
      if(i >= n || p[i] != ':')
        return 0;
      i++;
      while(i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
      if(i >= n || p[i] != '"')
        return 0;
      start = ++i;
      while(i < n && p[i] != '"' && p[i] != '\\')
        i++;
      if(i >= n || p[i] != '"')
        return 0;
      *v = (const char *)p + start;
      *vlen = i - start;
      return 1;
    }
    i++;
  }
  return 0;
}

/* next_event() -> kind, type, payload, extra
**   "event", event_type, payload (the inner bytes for an unwrapped chunk),
**            unwrapped: false, true (payload is the inner bytes) or "json"
**            (unwrap_chunks = "json" and payload is their decoded value)
**   "exception", exception_type, payload
**   "error", error_code, error_message
**   nothing when no message is queued. */
static int lxfer_next_event(lua_State *L)
{
  struct lxfer *lx = check_xfer(L, 1);
  struct evs_message m;
  struct stream_headers sh;
  if(!xfer_next_message(lx->x, &m))
    return 0;
  scan_stream_headers(&m, &sh);
  if(!sh.message_type || (sh.message_type_len == 5 && !memcmp(sh.message_type, "event", 5))) {
    const char *v;
    size_t vlen;
    lua_pushliteral(L, "event");
    push_opt_lstring(L, sh.event_type, sh.event_type_len);
    if(lx->unwrap_chunks &&
       find_bytes_field(m.payload, m.payload_len, &v, &vlen)) {
      if(lx->unwrap_chunks == UNWRAP_JSON) {
        if(push_b64json(L, v, vlen))
          return 4;
      }
      else if(push_b64decode(L, v, vlen)) {
        lua_pushboolean(L, 1);
        return 4;
      }
    }
    lua_pushlstring(L, (const char *)m.payload, m.payload_len);
    lua_pushboolean(L, 0);
    return 4;
  }
  if(sh.message_type_len == 9 && !memcmp(sh.message_type, "exception", 9)) {
    lua_pushliteral(L, "exception");
    push_opt_lstring(L, sh.exception_type, sh.exception_type_len);
    lua_pushlstring(L, (const char *)m.payload, m.payload_len);
    return 3;
  }
  lua_pushlstring(L, sh.message_type, sh.message_type_len);
  push_header_string(L, &m, ":error-code");
  push_header_string(L, &m, ":error-message");
  return 3;
}

/* ----------------------------------------------------------------- clocks */

static int lnow(lua_State *L)
{
  lua_pushnumber(L, xfer_now_ms() / 1000.0);
  return 1;
}

static int ltime(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)time(NULL));
  return 1;
}

/* sigint_catch() -> true | nil, err: SIGINT only sets a flag from now on
** (the bedrock command's Ctrl-C; see sigint.h) */
static int lsigint_catch(lua_State *L)
{
  if(sigint_catch()) {
    luaL_pushfail(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* sigint_restore() -> true | nil, err: the disposition before sigint_catch */
static int lsigint_restore(lua_State *L)
{
  if(sigint_restore()) {
    luaL_pushfail(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* sigint_caught([clear]) -> whether SIGINT arrived (since the last clear) */
static int lsigint_caught(lua_State *L)
{
  lua_pushboolean(L, sigint_caught(lua_toboolean(L, 1)));
  return 1;
}

static int lsleep(lua_State *L)
{
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  if(s <= 0)
    return 0;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while(nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
  return 0;
}

/* ------------------------------------------------------ child processes */

/* core.spawn_shell(command [, { stdin = true }]) -> process | nil, err:
** /bin/sh -c command, stdout and stderr read by :poll (credential_process);
** stdin from /dev/null, or written with :write (an MCP server). */
static int lspawn_shell(lua_State *L)
{
  size_t n;
  const char *cmd = luaL_checklstring(L, 1, &n);
  struct spawn_proc *p;
  char err[128];
  int flags = 0;
  luaL_argcheck(L, strlen(cmd) == n, 1, "the command contains a NUL byte");
  if(!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    if(opt_bool(L, 2, "stdin", 0))
      flags |= SPAWN_STDIN;
  }
  p = lua_newuserdatauv(L, sizeof(*p), 0);
  memset(p, 0, sizeof(*p));
  p->out_fd = p->err_fd = p->in_fd = -1;
  luaL_setmetatable(L, PROCESS_MT);
  if(spawn_shell(cmd, flags, p, err, sizeof(err))) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

/* process:poll([timeout_ms]) -> "running" | "exited", "exit" | "signal", code */
static int lprocess_poll(lua_State *L)
{
  struct spawn_proc *p = luaL_checkudata(L, 1, PROCESS_MT);
  int timeout = (int)luaL_optinteger(L, 2, 0);
  enum spawn_state st = spawn_poll(p, timeout < 0 ? 0 : timeout);
  if(st == SPAWN_ERROR)
    return luaL_error(L, "poll: %s", strerror(errno));
  if(st == SPAWN_RUNNING) {
    lua_pushliteral(L, "running");
    return 1;
  }
  lua_pushliteral(L, "exited");
  lua_pushstring(L, p->signaled ? "signal" : "exit");
  lua_pushinteger(L, p->code);
  return 3;
}

/* process:output() -> stdout, stderr, stdout_was_cut */
static int lprocess_output(lua_State *L)
{
  struct spawn_proc *p = luaL_checkudata(L, 1, PROCESS_MT);
  lua_pushlstring(L, p->out.p ? p->out.p : "", p->out.len);
  lua_pushlstring(L, p->err.p ? p->err.p : "", p->err.len);
  lua_pushboolean(L, p->too_much);
  return 3;
}

/* process:write(data) -> bytes taken (0: the socket is full, try later) |
** nil, err (the child closed its stdin or has gone) */
static int lprocess_write(lua_State *L)
{
  struct spawn_proc *p = luaL_checkudata(L, 1, PROCESS_MT);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  long n = spawn_write(p, s, len);
  if(n < 0) {
    luaL_pushfail(L);
    lua_pushstring(L, p->in_fd < 0 ? "stdin is closed" : strerror(errno));
    return 2;
  }
  lua_pushinteger(L, n);
  return 1;
}

static int lprocess_close_stdin(lua_State *L)
{
  spawn_close_stdin(luaL_checkudata(L, 1, PROCESS_MT));
  return 0;
}

/* process:read_line() -> the next complete stdout line without its newline,
** or nil (none yet: poll for more). Taken lines leave the buffer. */
static int lprocess_read_line(lua_State *L)
{
  struct spawn_proc *p = luaL_checkudata(L, 1, PROCESS_MT);
  size_t n = spawn_line_len(p);
  if(!n) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, p->out.p, n - 1 - (n >= 2 && p->out.p[n - 2] == '\r'));
  spawn_consume(p, n);
  return 1;
}

static int lprocess_kill(lua_State *L)
{
  spawn_kill(luaL_checkudata(L, 1, PROCESS_MT));
  return 0;
}

/* process:close(), __gc, __close: kill if running, reap, free */
static int lprocess_close(lua_State *L)
{
  spawn_free(luaL_checkudata(L, 1, PROCESS_MT));
  return 0;
}

static const luaL_Reg engine_methods[] = {
  { "request", lengine_request },
  { "pump", lengine_pump },
  { "running", lengine_running },
  { "limits", lengine_limits },
  { "release", lengine_release },
  { "close", lengine_close },
  { NULL, NULL }
};

static const luaL_Reg xfer_methods[] = {
  { "id", lxfer_id },
  { "state", lxfer_state },
  { "status", lxfer_status },
  { "headers", lxfer_headers },
  { "body", lxfer_body },
  { "next_event", lxfer_next_event },
  { "error", lxfer_error },
  { "elapsed_ms", lxfer_elapsed },
  { "sends", lxfer_sends },
  { "send", lxfer_send },
  { "send_end", lxfer_send_end },
  { "send_pending", lxfer_send_pending },
  { "closed", lxfer_closed },
  { "close", lxfer_close },
  { NULL, NULL }
};

static const luaL_Reg process_methods[] = {
  { "poll", lprocess_poll },
  { "output", lprocess_output },
  { "write", lprocess_write },
  { "close_stdin", lprocess_close_stdin },
  { "read_line", lprocess_read_line },
  { "kill", lprocess_kill },
  { "close", lprocess_close },
  { NULL, NULL }
};

BEDROCK_EXPORT int luaopen_bedrock_core(lua_State *L);

int luaopen_bedrock_core(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    { "engine", lengine_new },
    { "spawn_shell", lspawn_shell },
    { "now", lnow },
    { "time", ltime },
    { "sleep", lsleep },
    { "sigint_catch", lsigint_catch },
    { "sigint_restore", lsigint_restore },
    { "sigint_caught", lsigint_caught },
    { NULL, NULL }
  };

  luaL_checkversion(L);
  new_class(L, ENGINE_MT, engine_methods, lengine_close);
  new_class(L, XFER_MT, xfer_methods, lxfer_close);
  new_class(L, PROCESS_MT, process_methods, lprocess_close);

  /* the codec's functions first, then the engine's over them */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "bedrock.codec");
  lua_call(L, 1, 1);
  lua_createtable(L, 0, 24);
  lua_pushnil(L);
  while(lua_next(L, -3)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
  luaL_setfuncs(L, funcs, 0);
  return 1;
}
