/*
** lcodec.c: the Lua binding of the sans-I/O pieces, and only that:
** bedrock.codec, with no libcurl and no I/O, for hosts that bring their own
** (an nginx worker loads it alone through bedrock.sigv4 and
** bedrock.eventstream). bedrock.core builds on it.
**
**   sigv4_sign(t)             -> headers to add (bedrock.sigv4.sign), signature
**   event_signer(t)           -> EventSigner (signed envelopes of event-stream input)
**   decoder(), encode(h, p)   -> bedrock.eventstream (Decoder: feed, events, pending)
**   json_decode(s)            -> value | nil, message, byte (strict RFC 8259; integers stay integers)
**   b64decode(s), b64encode(s), sha256_hex(s), hmac_sha256(key, s),
**   sha1_hex(s), crc32(s)
**
** Userdata are born closed (NULL pointers) and opened after their metatable
** is set, so a raise half way never leaves __gc a bad pointer; close, __gc
** and __close share one idempotent destroy.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <libdeflate.h>

#include "eventstream.h"
#include "ljson.h"
#include "lutil.h"
#include "sigv4.h"

#define DECODER_MT "bedrock.Decoder"
#define SIGNER_MT "bedrock.Signer"
#define EVSIGNER_MT "bedrock.EventSigner"

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

/* ----------------------------------------------------------- digests */

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

/* SHA-1 as hex: only for names the AWS CLI derives by SHA-1 (the SSO token
** cache's file name), never for anything signed. */
static int lsha1_hex(lua_State *L)
{
  static const char digits[] = "0123456789abcdef";
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  char hex[2 * EVP_MAX_MD_SIZE];
  if(!EVP_Digest(s, n, md, &mdlen, EVP_sha1(), NULL))
    return luaL_error(L, "sha1 failed");
  for(i = 0; i < mdlen; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (size_t)mdlen);
  return 1;
}

/* hmac_sha256(key, bytes) -> the 32-byte MAC */
static int lhmac_sha256(lua_State *L)
{
  size_t kn, n;
  const char *key = luaL_checklstring(L, 1, &kn);
  const char *s = luaL_checklstring(L, 2, &n);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  luaL_argcheck(L, kn <= INT_MAX, 1, "key too long");
  if(!HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)s, n, mac, &maclen))
    return luaL_error(L, "hmac failed");
  lua_pushlstring(L, (const char *)mac, maclen);
  OPENSSL_cleanse(mac, sizeof(mac));
  return 1;
}

/* crc32(bytes [, crc]) -> the CRC-32 event-stream frames carry (libdeflate's: the same CRC as zlib's, faster) */
static int lcrc32(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t crc = (uint32_t)luaL_optinteger(L, 2, 0);
  lua_pushinteger(L, (lua_Integer)libdeflate_crc32(crc, s, n));
  return 1;
}

static const luaL_Reg decoder_methods[] = {
  { "feed", ldecoder_feed },
  { "events", ldecoder_events },
  { "pending", ldecoder_pending },
  { "close", ldecoder_gc },
  { NULL, NULL }
};

static const luaL_Reg evsigner_methods[] = {
  { "chunk", levsigner_chunk },
  { "finish", levsigner_finish },
  { "signature", levsigner_signature },
  { "close", levsigner_close },
  { NULL, NULL }
};

BEDROCK_EXPORT int luaopen_bedrock_codec(lua_State *L);

int luaopen_bedrock_codec(lua_State *L)
{
  static const luaL_Reg funcs[] = {
    { "decoder", ldecoder_new },
    { "encode", lencode },
    { "event_signer", levsigner_new },
    { "b64decode", lb64decode },
    { "b64encode", lb64encode },
    { "sha256_hex", lsha256_hex },
    { "sha1_hex", lsha1_hex },
    { "hmac_sha256", lhmac_sha256 },
    { "crc32", lcrc32 },
    { "json_decode", ljson_decode },
    { NULL, NULL }
  };
  struct lsigner *ls;

  luaL_checkversion(L);
  new_class(L, DECODER_MT, decoder_methods, ldecoder_gc);
  new_class(L, EVSIGNER_MT, evsigner_methods, levsigner_close);
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
