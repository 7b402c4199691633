/*
** lbedrock.c: the Lua binding of the C core, and only that.
**
** bedrock.core exposes:
**   engine()                  -> Engine (a libcurl multi: one keep-alive pool)
**   Engine:request(opts)      -> Transfer | nil, err
**   Engine:pump(ms, ids)      -> running, nchanged   (ids[1..n] = changed transfer ids)
**   Transfer:...              state, status, headers, body, next_event, error, sends, close
**   sigv4_sign(t)             -> headers to add (bedrock.sigv4.sign), signature
**   event_signer(t)           -> EventSigner (signed envelopes of event-stream input)
**   decoder(), encode(h, p)   -> bedrock.eventstream
**   now(), time(), sleep(s), b64decode(s), b64encode(s), sha256_hex(s)
**
** Userdata are born closed (NULL pointers) and opened after their metatable
** is set, so a raise half way never leaves __gc a bad pointer; close, __gc
** and __close share one idempotent destroy.
*/
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <openssl/evp.h>

#include "base64.h"
#include "eventstream.h"
#include "ljson.h"
#include "sigint.h"
#include "sigv4.h"
#include "spawn.h"
#include "transport.h"

#if defined(__GNUC__)
#define BEDROCK_EXPORT __attribute__((visibility("default")))
#else
#define BEDROCK_EXPORT
#endif

#define ENGINE_MT "bedrock.Engine"
#define XFER_MT "bedrock.Transfer"
#define DECODER_MT "bedrock.Decoder"
#define SIGNER_MT "bedrock.Signer"
#define EVSIGNER_MT "bedrock.EventSigner"
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

struct ldecoder {
  struct evs_decoder d;
  int open;
};

struct lsigner {
  struct sigv4_signer *s;
};

/* The chain of one event-stream input: its own signer (key cache), a copy
** of the secret (wiped on close), and the last signature. */
struct levsigner {
  struct sigv4_signer *s;
  char *secret;
  size_t secret_len;
  char region[65];
  char service[65];
  char prior[SIGV4_HEX_LEN + 1];
};

/* ---------------------------------------------------------------- helpers */

static const char *opt_string(lua_State *L, int t, const char *k,
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
static const char *opt_cstring(lua_State *L, int t, const char *k,
                               const char *def)
{
  size_t len;
  const char *s = opt_string(L, t, k, def, &len);
  if(s && strlen(s) != len)
    luaL_error(L, "field '%s' contains a NUL byte", k);
  return s;
}

static lua_Integer opt_integer(lua_State *L, int t, const char *k,
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

static int opt_bool(lua_State *L, int t, const char *k, int def)
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
static const unsigned char *b64decode_buf(lua_State *L, const char *s, size_t n,
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
static int push_b64decode(lua_State *L, const char *s, size_t n)
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
    return luaL_error(L, "cannot create a libcurl multi handle");
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
    return luaL_error(L, "libcurl refused the connection limits");
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

/* The headers a response stream reads, found in one walk: string values
** of :message-type (a string), :event-type and :exception-type (a string
** or bytes); NULL when absent or of another type. */
struct stream_headers {
  const char *message_type, *event_type, *exception_type;
  size_t message_type_len, event_type_len, exception_type_len;
};

static void scan_stream_headers(const struct evs_message *m,
                                struct stream_headers *sh)
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

static void push_opt_lstring(lua_State *L, const char *s, size_t n)
{
  if(s)
    lua_pushlstring(L, s, n);
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

/* ------------------------------------------------------------------ SigV4 */

static struct sigv4_signer *get_signer(lua_State *L)
{
  struct lsigner *ls = lua_touserdata(L, lua_upvalueindex(1));
  return ls->s;
}

static int lsigner_gc(lua_State *L)
{
  struct lsigner *ls = luaL_checkudata(L, 1, SIGNER_MT);
  sigv4_signer_free(ls->s);
  ls->s = NULL;
  return 0;
}

/* Split "scheme://host[:port]/path?query" into the parts SigV4 needs; the
** Host header carries the port only when it is not the scheme's default. */
static void split_url(lua_State *L, const char *url, const char **host,
                      size_t *host_len, const char **path, size_t *path_len,
                      const char **query, size_t *query_len)
{
  const char *p = strstr(url, "://"), *h, *hend, *colon;
  int https;
  if(!p)
    luaL_error(L, "url must be absolute (scheme://host/path)");
  https = (p - url == 5 && !strncasecmp(url, "https", 5));
  h = p + 3;
  hend = h + strcspn(h, "/?#");
  if(h[0] == '[') {
    /* an IPv6 literal: the port colon, if any, follows the ']' */
    const char *close = memchr(h, ']', (size_t)(hend - h));
    colon = (close && close + 1 < hend && close[1] == ':') ? close + 1 : NULL;
  }
  else {
    colon = memchr(h, ':', (size_t)(hend - h));
  }
  *host = h;
  *host_len = (size_t)(hend - h);
  if(colon) {
    const char *port = colon + 1;
    size_t plen = (size_t)(hend - port);
    if((https && plen == 3 && !memcmp(port, "443", 3)) ||
       (!https && plen == 2 && !memcmp(port, "80", 2)))
      *host_len = (size_t)(colon - h);
  }
  if(*hend == '/') {
    *path = hend;
    *path_len = strcspn(hend, "?#");
  }
  else {
    *path = "/";
    *path_len = 1;
  }
  p = hend + strcspn(hend, "?#");
  if(*p == '?') {
    *query = p + 1;
    *query_len = strcspn(p + 1, "#");
  }
  else {
    *query = NULL;
    *query_len = 0;
  }
}

/* Raise the signer's refusal, naming the header at fault (never its value:
** it may be a secret) when a name or value is the reason. Runs only on
** failure, so the signing path scans nothing twice. */
static int sign_error(lua_State *L, const struct sigv4_request *r, int rc)
{
  size_t i, k;
  if(rc == SIGV4_ERR_ARG) {
    for(i = 1; i < r->nheaders; i++)     /* [0] is host, from the URL */
      for(k = 0; k < r->headers[i].name_len; k++) {
        unsigned char ch = (unsigned char)r->headers[i].name[k];
        if(ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
          return luaL_error(L, "sigv4: a header name is not an HTTP token "
                            "(it contains a CR, LF, space or separator)");
      }
    for(i = 1; i < r->nheaders; i++) {
      const struct sigv4_header *h = &r->headers[i];
      for(k = 0; k < h->value_len; k++)
        if(h->value[k] == '\r' || h->value[k] == '\n' || h->value[k] == '\0')
          return luaL_error(L, "sigv4: the value of header '%s' contains a CR, LF or NUL",
                            h->name);
    }
  }
  return luaL_error(L, "sigv4: %s", sigv4_strerror(rc));
}

/* sigv4_sign{ method, url, headers = {name = value}, body, region, service,
**             credentials = {access_key_id, secret_access_key, session_token},
**             time, normalize, double_encode, debug }
** -> { Authorization = ..., ["X-Amz-Date"] = ..., ["X-Amz-Security-Token"] = ... }
**    [, { canonical_request = ..., string_to_sign = ... } when debug] */
static int lsigv4_sign(lua_State *L)
{
  struct sigv4_request r;
  struct sigv4_credentials c;
  struct sigv4_output out;
  struct sigv4_header *hs;
  char hash[SIGV4_HEX_LEN + 1];
  const char *url, *body, *host;
  size_t body_len, host_len, n = 0, cap = 1;
  int rc, debug;

  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&r, 0, sizeof(r));
  memset(&c, 0, sizeof(c));
  r.method = opt_cstring(L, 1, "method", "POST");
  url = opt_cstring(L, 1, "url", NULL);
  if(!url)
    return luaL_error(L, "field 'url' is required");
  body = opt_string(L, 1, "body", "", &body_len);
  r.region = opt_cstring(L, 1, "region", NULL);
  r.service = opt_cstring(L, 1, "service", "bedrock");
  if(!r.region)
    return luaL_error(L, "field 'region' is required");
  r.time = (int64_t)opt_integer(L, 1, "time", (lua_Integer)time(NULL));
  r.normalize = opt_bool(L, 1, "normalize", 1);
  r.double_encode = opt_bool(L, 1, "double_encode", 1);
  debug = opt_bool(L, 1, "debug", 0);
  if(lua_getfield(L, 1, "credentials") != LUA_TTABLE)
    return luaL_error(L, "field 'credentials' must be a table");
  c.access_key_id = opt_cstring(L, -1, "access_key_id", NULL);
  c.secret_access_key = opt_cstring(L, -1, "secret_access_key", NULL);
  c.session_token = opt_cstring(L, -1, "session_token", NULL);
  if(!c.access_key_id || !c.secret_access_key)
    return luaL_error(L, "credentials need access_key_id and secret_access_key");
  lua_pop(L, 1);  /* strings stay anchored in the caller's table */

  split_url(L, url, &host, &host_len, &r.path, &r.path_len, &r.query,
            &r.query_len);

  /* headers: host first, then the caller's, skipping a caller's Host */
  if(lua_getfield(L, 1, "headers") == LUA_TTABLE) {
    lua_pushnil(L);
    while(lua_next(L, -2)) {
      cap++;
      lua_pop(L, 1);
    }
  }
  else if(!lua_isnil(L, -1)) {
    return luaL_error(L, "field 'headers' must be a table");
  }
  hs = lua_newuserdatauv(L, cap * sizeof(*hs), 0);
  hs[n].name = "host";
  hs[n].name_len = 4;
  hs[n].value = host;
  hs[n].value_len = host_len;
  n++;
  if(lua_istable(L, -2)) {
    lua_pushnil(L);
    while(lua_next(L, -3)) {
      size_t nl, vl;
      const char *name, *value;
      if(lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "headers must map strings to strings");
      name = lua_tolstring(L, -2, &nl);
      value = lua_tolstring(L, -1, &vl);
      lua_pop(L, 1);
      if(nl == 4 && !strncasecmp(name, "host", 4))
        continue;
      hs[n].name = name;
      hs[n].name_len = nl;
      hs[n].value = value;
      hs[n].value_len = vl;
      n++;
    }
  }
  r.headers = hs;
  r.nheaders = n;
  if(sigv4_payload_hash(get_signer(L), body, body_len, hash) != SIGV4_OK)
    return luaL_error(L, "sha256 failed");
  r.payload_hash = hash;
  if(lua_getfield(L, 1, "payload_hash") != LUA_TNIL) {
    /* event-stream input signs the literal STREAMING-... instead */
    r.payload_hash = luaL_checkstring(L, -1);
  }
  /* the signed headers are sent as they are: a line break would inject one */
  rc = sigv4_sign(get_signer(L), &r, &c,
                  SIGV4_REFUSE_LINE_BREAKS | (debug ? SIGV4_KEEP_INTERMEDIATE : 0),
                  &out);
  if(rc != SIGV4_OK) {
    sigv4_output_free(&out);
    return sign_error(L, &r, rc);
  }
  lua_createtable(L, 0, 3);
  lua_pushlstring(L, out.authorization, out.authorization_len);
  lua_setfield(L, -2, "Authorization");
  lua_pushlstring(L, out.amz_date, SIGV4_AMZ_DATE_LEN);
  lua_setfield(L, -2, "X-Amz-Date");
  if(c.session_token && c.session_token[0]) {
    lua_pushstring(L, c.session_token);
    lua_setfield(L, -2, "X-Amz-Security-Token");
  }
  if(!debug) {
    /* the signature seeds an event-stream input's chain */
    lua_pushstring(L, out.signature);
    sigv4_output_free(&out);
    return 2;
  }
  lua_createtable(L, 0, 3);
  lua_pushlstring(L, out.canonical_request, out.canonical_request_len);
  lua_setfield(L, -2, "canonical_request");
  lua_pushlstring(L, out.string_to_sign, out.string_to_sign_len);
  lua_setfield(L, -2, "string_to_sign");
  lua_pushstring(L, out.signature);
  lua_setfield(L, -2, "signature");
  sigv4_output_free(&out);
  return 2;
}

/* ------------------------------------------------------------ EventSigner */

static int levsigner_close(lua_State *L)
{
  struct levsigner *es = luaL_checkudata(L, 1, EVSIGNER_MT);
  if(es->secret) {
    OPENSSL_cleanse(es->secret, es->secret_len);
    free(es->secret);
    es->secret = NULL;
  }
  sigv4_signer_free(es->s);
  es->s = NULL;
  return 0;
}

static void copy_scope(lua_State *L, const char *field, const char *v,
                       char out[65])
{
  size_t n = strlen(v);
  if(!n || n > 64)
    luaL_error(L, "field '%s' must be 1 to 64 bytes", field);
  memcpy(out, v, n + 1);
}

/* event_signer{ seed = hex signature of the HTTP request, region, service,
**               secret_access_key } -> EventSigner */
static int levsigner_new(lua_State *L)
{
  struct levsigner *es;
  const char *seed, *region, *service, *secret;
  size_t slen;
  luaL_checktype(L, 1, LUA_TTABLE);
  seed = opt_cstring(L, 1, "seed", NULL);
  region = opt_cstring(L, 1, "region", NULL);
  service = opt_cstring(L, 1, "service", "bedrock");
  secret = opt_string(L, 1, "secret_access_key", NULL, &slen);
  if(!seed || strlen(seed) != SIGV4_HEX_LEN)
    return luaL_error(L, "field 'seed' must be a hex signature");
  if(!region)
    return luaL_error(L, "field 'region' is required");
  if(!secret || strlen(secret) != slen)
    return luaL_error(L, "field 'secret_access_key' is required (no NUL)");
  es = lua_newuserdatauv(L, sizeof(*es), 0);
  memset(es, 0, sizeof(*es));
  luaL_setmetatable(L, EVSIGNER_MT);
  copy_scope(L, "region", region, es->region);
  copy_scope(L, "service", service, es->service);
  memcpy(es->prior, seed, SIGV4_HEX_LEN + 1);
  es->s = sigv4_signer_new();
  es->secret = malloc(slen + 1);
  if(!es->s || !es->secret)
    return luaL_error(L, "out of memory");
  memcpy(es->secret, secret, slen + 1);
  es->secret_len = slen;
  return 1;
}

static struct levsigner *check_evsigner(lua_State *L, int i)
{
  struct levsigner *es = luaL_checkudata(L, i, EVSIGNER_MT);
  luaL_argcheck(L, es->s != NULL, i, "the event signer is closed");
  return es;
}

/* Sign payload (an encoded message, or empty) into the chain and push the
** envelope: headers :chunk-signature (32 bytes) and :date. */
static int push_envelope(lua_State *L, struct levsigner *es, lua_Integer t,
                         const unsigned char *payload, size_t len)
{
  struct sigv4_event ev;
  struct evs_header h[2];
  unsigned char sig[32];
  char hex[SIGV4_HEX_LEN + 1];
  unsigned char *out;
  size_t size;
  int rc;
  memset(&ev, 0, sizeof(ev));
  ev.prior_signature = es->prior;
  ev.payload = payload;
  ev.payload_len = len;
  ev.region = es->region;
  ev.service = es->service;
  ev.secret_access_key = es->secret;
  ev.time = (int64_t)t;
  rc = sigv4_sign_event(es->s, &ev, sig, hex, NULL);
  if(rc != SIGV4_OK)
    return luaL_error(L, "sigv4: %s", sigv4_strerror(rc));
  memset(h, 0, sizeof(h));
  h[0].name = ":chunk-signature";
  h[0].name_len = 16;
  h[0].type = EVS_BYTES;
  h[0].data = sig;
  h[0].data_len = sizeof(sig);
  h[1].name = ":date";
  h[1].name_len = 5;
  h[1].type = EVS_TIMESTAMP;
  h[1].i = (int64_t)t * 1000;
  size = evs_encoded_size(h, 2, len);
  if(!size)
    return luaL_error(L, "an event over the event-stream size limit");
  out = lua_newuserdatauv(L, size, 0);
  if(evs_encode(h, 2, payload, len, out) != size)
    return luaL_error(L, "event-stream encoding failed");
  lua_pushlstring(L, (const char *)out, size);
  memcpy(es->prior, hex, sizeof(hex));
  return 1;
}

/* EventSigner:chunk(bytes [, time]) -> envelope: bytes go out as the
** service's chunk event, {"bytes": base64} inside an event message. */
static int levsigner_chunk(lua_State *L)
{
  struct levsigner *es = check_evsigner(L, 1);
  size_t n, b64cap, plen, size;
  const char *bytes = luaL_checklstring(L, 2, &n);
  lua_Integer t = luaL_optinteger(L, 3, (lua_Integer)time(NULL));
  struct evs_header h[3];
  unsigned char *payload, *inner;
  int b64;
  luaL_argcheck(L, n <= EVS_MAX_MESSAGE / 4 * 3 - 64, 2, "the event is too large");
  b64cap = (n + 2) / 3 * 4 + 1;
  payload = lua_newuserdatauv(L, 10 + b64cap + 2, 0);
  memcpy(payload, "{\"bytes\":\"", 10);
  b64 = n ? EVP_EncodeBlock(payload + 10, (const unsigned char *)bytes, (int)n) : 0;
  memcpy(payload + 10 + b64, "\"}", 2);
  plen = 10 + (size_t)b64 + 2;
  memset(h, 0, sizeof(h));
  h[0].name = ":event-type";
  h[0].name_len = 11;
  h[0].type = EVS_STRING;
  h[0].data = (const unsigned char *)"chunk";
  h[0].data_len = 5;
  h[1].name = ":content-type";
  h[1].name_len = 13;
  h[1].type = EVS_STRING;
  h[1].data = (const unsigned char *)"application/json";
  h[1].data_len = 16;
  h[2].name = ":message-type";
  h[2].name_len = 13;
  h[2].type = EVS_STRING;
  h[2].data = (const unsigned char *)"event";
  h[2].data_len = 5;
  size = evs_encoded_size(h, 3, plen);
  if(!size)
    return luaL_error(L, "the event is too large");
  inner = lua_newuserdatauv(L, size, 0);
  if(evs_encode(h, 3, payload, plen, inner) != size)
    return luaL_error(L, "event-stream encoding failed");
  return push_envelope(L, es, t, inner, size);
}

/* EventSigner:finish([time]) -> the empty envelope that ends the input */
static int levsigner_finish(lua_State *L)
{
  struct levsigner *es = check_evsigner(L, 1);
  lua_Integer t = luaL_optinteger(L, 2, (lua_Integer)time(NULL));
  return push_envelope(L, es, t, (const unsigned char *)"", 0);
}

/* EventSigner:signature() -> the chain's last signature (hex) */
static int levsigner_signature(lua_State *L)
{
  lua_pushstring(L, check_evsigner(L, 1)->prior);
  return 1;
}

/* ------------------------------------------------------------ eventstream */

static void push_message(lua_State *L, const struct evs_message *m)
{
  struct evs_header h;
  size_t off = 0;
  lua_createtable(L, 0, 2);
  lua_createtable(L, 0, 4);     /* Bedrock's messages carry three headers */
  while(evs_header_next(m->headers, m->headers_len, &off, &h) == 1) {
    lua_pushlstring(L, h.name, h.name_len);
    switch(h.type) {
    case EVS_TRUE:
    case EVS_FALSE:
      lua_pushboolean(L, h.type == EVS_TRUE);
      break;
    case EVS_BYTE:
    case EVS_SHORT:
    case EVS_INT:
    case EVS_LONG:
    case EVS_TIMESTAMP:
      lua_pushinteger(L, (lua_Integer)h.i);
      break;
    case EVS_UUID:
      lua_pushlstring(L, (const char *)h.data, 16);
      break;
    default:
      lua_pushlstring(L, (const char *)h.data, h.data_len);
      break;
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, (const char *)m->payload, m->payload_len);
  lua_setfield(L, -2, "payload");
}

static int ldecoder_new(lua_State *L)
{
  struct ldecoder *ld = lua_newuserdatauv(L, sizeof(*ld), 0);
  ld->open = 0;
  luaL_setmetatable(L, DECODER_MT);
  evs_decoder_init(&ld->d);
  ld->open = 1;
  return 1;
}

static int ldecoder_gc(lua_State *L)
{
  struct ldecoder *ld = luaL_checkudata(L, 1, DECODER_MT);
  if(ld->open) {
    evs_decoder_free(&ld->d);
    ld->open = 0;
  }
  return 0;
}

/* feed(bytes) -> { message, ... }; raises "EVS_CODE: message" */
static int ldecoder_feed(lua_State *L)
{
  struct ldecoder *ld = luaL_checkudata(L, 1, DECODER_MT);
  size_t len, off = 0;
  const char *p = luaL_checklstring(L, 2, &len);
  lua_Integer n = 0;
  luaL_argcheck(L, ld->open, 1, "the decoder is closed");
  lua_newtable(L);
  for(;;) {
    struct evs_message m;
    size_t used = 0;
    int rc = evs_decode(&ld->d, p + off, len - off, &used, &m);
    off += used;
    if(rc == EVS_OK) {
      push_message(L, &m);
      lua_rawseti(L, -2, ++n);
    }
    else if(rc == EVS_NEED_MORE) {
      break;
    }
    else {
      return luaL_error(L, "%s: %s", evs_errcode(rc), evs_strerror(rc));
    }
    if(off == len)
      break;
  }
  return 1;
}

/* events(bytes [, out]) -> n, out: the fast path beside feed. Each whole
** message adds three values to out (a table reused across calls, or a new
** one), as a transfer's next_event gives them: kind (":message-type",
** "event" when absent), type (":event-type" for an event,
** ":exception-type" for an exception, ":error-code" for an error; false
** when absent) and payload (":error-message" for an error). No table per
** message, no header table: the cost is the strings asked for. out[3n+1]
** is set to nil, so out ends after the last message. Raises as feed. */
static int ldecoder_events(lua_State *L)
{
  struct ldecoder *ld = luaL_checkudata(L, 1, DECODER_MT);
  size_t len, off = 0;
  const char *p = luaL_checklstring(L, 2, &len);
  int k = 0, n = 0;
  luaL_argcheck(L, ld->open, 1, "the decoder is closed");
  if(lua_istable(L, 3))
    lua_settop(L, 3);
  else {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  while(off < len) {
    struct evs_message m;
    struct stream_headers sh;
    size_t used = 0;
    int rc = evs_decode(&ld->d, p + off, len - off, &used, &m);
    off += used;
    if(rc == EVS_NEED_MORE)
      break;
    if(rc != EVS_OK)
      return luaL_error(L, "%s: %s", evs_errcode(rc), evs_strerror(rc));
    scan_stream_headers(&m, &sh);
    if(!sh.message_type || (sh.message_type_len == 5 && !memcmp(sh.message_type, "event", 5))) {
      lua_pushliteral(L, "event");
      lua_rawseti(L, 3, ++k);
      if(sh.event_type)
        lua_pushlstring(L, sh.event_type, sh.event_type_len);
      else
        lua_pushboolean(L, 0);
      lua_rawseti(L, 3, ++k);
      lua_pushlstring(L, (const char *)m.payload, m.payload_len);
    }
    else if(sh.message_type_len == 9 && !memcmp(sh.message_type, "exception", 9)) {
      lua_pushliteral(L, "exception");
      lua_rawseti(L, 3, ++k);
      if(sh.exception_type)
        lua_pushlstring(L, sh.exception_type, sh.exception_type_len);
      else
        lua_pushboolean(L, 0);
      lua_rawseti(L, 3, ++k);
      lua_pushlstring(L, (const char *)m.payload, m.payload_len);
    }
    else {
      struct evs_header h;
      lua_pushlstring(L, sh.message_type, sh.message_type_len);
      lua_rawseti(L, 3, ++k);
      if(evs_header_find(&m, ":error-code", &h) && (h.type == EVS_STRING || h.type == EVS_BYTES))
        lua_pushlstring(L, (const char *)h.data, h.data_len);
      else
        lua_pushboolean(L, 0);
      lua_rawseti(L, 3, ++k);
      if(evs_header_find(&m, ":error-message", &h) && (h.type == EVS_STRING || h.type == EVS_BYTES))
        lua_pushlstring(L, (const char *)h.data, h.data_len);
      else
        lua_pushliteral(L, "");
    }
    lua_rawseti(L, 3, ++k);
    n++;
  }
  lua_pushnil(L);
  lua_rawseti(L, 3, k + 1);
  lua_pushinteger(L, n);
  lua_pushvalue(L, 3);
  return 2;
}

static int ldecoder_pending(lua_State *L)
{
  struct ldecoder *ld = luaL_checkudata(L, 1, DECODER_MT);
  lua_pushinteger(L, ld->open ? (lua_Integer)evs_decoder_pending(&ld->d) : 0);
  return 1;
}

static enum evs_type type_by_name(lua_State *L, const char *s)
{
  static const char *const names[] = { "true", "false", "byte", "short",
    "int", "long", "bytes", "string", "timestamp", "uuid", NULL };
  int i;
  for(i = 0; names[i]; i++)
    if(!strcmp(s, names[i]))
      return (enum evs_type)i;
  luaL_error(L, "unknown header type '%s'", s);
  return EVS_STRING;
}

/* encode(headers, payload) -> frame. Header values: string -> string,
** integer -> long, boolean -> bool, { type = "...", value = v } -> that type. */
static int lencode(lua_State *L)
{
  size_t plen, n = 0, cap = 0, size;
  const char *payload;
  struct evs_header *hs;
  luaL_Buffer b;
  unsigned char *out;
  luaL_checktype(L, 1, LUA_TTABLE);
  payload = luaL_optlstring(L, 2, "", &plen);
  lua_settop(L, 2);  /* 1 headers, 2 payload, 3 scratch, 4 key, 5 value */
  lua_pushnil(L);
  while(lua_next(L, 1)) {
    cap++;
    lua_pop(L, 1);
  }
  hs = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof(*hs), 0);
  lua_pushnil(L);
  while(lua_next(L, 1)) {
    struct evs_header *h = &hs[n];
    int vi = lua_gettop(L);
    memset(h, 0, sizeof(*h));
    if(lua_type(L, -2) != LUA_TSTRING)
      return luaL_error(L, "header names must be strings");
    h->name = lua_tolstring(L, -2, &h->name_len);
    if(lua_istable(L, vi)) {
      lua_getfield(L, vi, "type");
      h->type = type_by_name(L, luaL_checkstring(L, -1));
      lua_getfield(L, vi, "value");
      vi = lua_gettop(L);
    }
    else if(lua_type(L, vi) == LUA_TSTRING) {
      h->type = EVS_STRING;
    }
    else if(lua_isinteger(L, vi)) {
      h->type = EVS_LONG;
    }
    else if(lua_isboolean(L, vi)) {
      h->type = lua_toboolean(L, vi) ? EVS_TRUE : EVS_FALSE;
    }
    else {
      return luaL_error(L, "header '%s': unsupported value type %s", h->name,
                        luaL_typename(L, vi));
    }
    switch(h->type) {
    case EVS_TRUE:
    case EVS_FALSE:
      if(lua_isboolean(L, vi))
        h->type = lua_toboolean(L, vi) ? EVS_TRUE : EVS_FALSE;
      break;
    case EVS_BYTES:
    case EVS_STRING:
      h->data = (const unsigned char *)luaL_checklstring(L, vi, &h->data_len);
      break;
    case EVS_UUID:
      h->data = (const unsigned char *)luaL_checklstring(L, vi, &h->data_len);
      if(h->data_len != 16)
        return luaL_error(L, "header '%s': a uuid is 16 bytes", h->name);
      break;
    default:
      h->i = (int64_t)luaL_checkinteger(L, vi);
      if((h->type == EVS_BYTE && (h->i < INT8_MIN || h->i > INT8_MAX)) ||
         (h->type == EVS_SHORT && (h->i < INT16_MIN || h->i > INT16_MAX)) ||
         (h->type == EVS_INT && (h->i < INT32_MIN || h->i > INT32_MAX)))
        return luaL_error(L, "header '%s': value out of range", h->name);
      break;
    }
    /* keep the key for lua_next; the values stay anchored in the table */
    lua_settop(L, 4);
    n++;
  }
  size = evs_encoded_size(hs, n, plen);
  if(!size)
    return luaL_error(L, "the message cannot be encoded (a field is too long)");
  out = (unsigned char *)luaL_buffinitsize(L, &b, size);
  if(evs_encode(hs, n, payload, plen, out) != size)
    return luaL_error(L, "the message cannot be encoded");
  luaL_pushresultsize(&b, size);
  return 1;
}

/* ------------------------------------------------------------------ misc */

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

static int lb64decode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if(!push_b64decode(L, s, n)) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid base64");
    return 2;
  }
  return 1;
}

/* Base64 encode with OpenSSL (blob members of JSON request bodies). */
static int lb64encode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  unsigned char *out;
  int len;
  luaL_argcheck(L, n <= (size_t)INT_MAX / 4 * 3 - 3, 1, "string too long to encode");
  out = (unsigned char *)luaL_buffinitsize(L, &b, (n + 2) / 3 * 4 + 1);
  len = n ? EVP_EncodeBlock(out, (const unsigned char *)s, (int)n) : 0;
  luaL_pushresultsize(&b, (size_t)len);
  return 1;
}

static int lsha256_hex(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[SIGV4_HEX_LEN + 1];
  if(sigv4_sha256_hex(s, n, hex) != SIGV4_OK)
    return luaL_error(L, "sha256 failed");
  lua_pushstring(L, hex);
  return 1;
}

/* ---------------------------------------------------------------- module */

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

static const luaL_Reg decoder_methods[] = {
  { "feed", ldecoder_feed },
  { "events", ldecoder_events },
  { "pending", ldecoder_pending },
  { "close", ldecoder_gc },
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

static const luaL_Reg evsigner_methods[] = {
  { "chunk", levsigner_chunk },
  { "finish", levsigner_finish },
  { "signature", levsigner_signature },
  { "close", levsigner_close },
  { NULL, NULL }
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
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

BEDROCK_EXPORT int luaopen_bedrock_core(lua_State *L);

int luaopen_bedrock_core(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    { "engine", lengine_new },
    { "decoder", ldecoder_new },
    { "encode", lencode },
    { "event_signer", levsigner_new },
    { "spawn_shell", lspawn_shell },
    { "now", lnow },
    { "time", ltime },
    { "sleep", lsleep },
    { "sigint_catch", lsigint_catch },
    { "sigint_restore", lsigint_restore },
    { "sigint_caught", lsigint_caught },
    { "b64decode", lb64decode },
    { "b64encode", lb64encode },
    { "sha256_hex", lsha256_hex },
    { "json_decode", ljson_decode },
    { NULL, NULL }
  };
  struct lsigner *ls;

  new_class(L, ENGINE_MT, engine_methods, lengine_close);
  new_class(L, XFER_MT, xfer_methods, lxfer_close);
  new_class(L, DECODER_MT, decoder_methods, ldecoder_gc);
  new_class(L, EVSIGNER_MT, evsigner_methods, levsigner_close);
  new_class(L, PROCESS_MT, process_methods, lprocess_close);
  luaL_newmetatable(L, SIGNER_MT);
  lua_pushcfunction(L, lsigner_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newlib(L, funcs);
  /* one signing-key cache per Lua state, owned by a userdata upvalue */
  ls = lua_newuserdatauv(L, sizeof(*ls), 0);
  ls->s = NULL;
  luaL_setmetatable(L, SIGNER_MT);
  ls->s = sigv4_signer_new();
  if(!ls->s)
    return luaL_error(L, "out of memory");
  lua_pushcclosure(L, lsigv4_sign, 1);
  lua_setfield(L, -2, "sigv4_sign");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
