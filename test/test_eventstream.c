/*
** test_eventstream.c: runs the event-stream vectors (eventstream/) through
** the decoder and the encoder, plus the decoder's limits and the encoder's
** edge cases.
**
** Usage: test_eventstream TESTDATA_DIR
*/
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "eventstream.h"

#include "check.h"

struct blob {
  unsigned char *p;
  size_t len;
};

static int read_whole(const char *path, struct blob *b)
{
  FILE *f = fopen(path, "rb");
  size_t cap = 4096;
  b->p = NULL;
  b->len = 0;
  if(!f)
    return -1;
  b->p = malloc(cap);
  for(;;) {
    size_t n;
    if(b->len == cap) {
      cap *= 2;
      b->p = realloc(b->p, cap);
    }
    n = fread(b->p + b->len, 1, cap - b->len, f);
    if(!n)
      break;
    b->len += n;
  }
  fclose(f);
  return 0;
}

/* ---- a tiny JSON reader, enough for decoded/positive/ ---- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
  int kind;
  long long num;                  /* J_NUM, and J_BOOL as 0/1 */
  char *str;                      /* J_STR */
  struct jv *kids;                /* J_ARR, J_OBJ */
  char **keys;                    /* J_OBJ */
  size_t n;
};

static const char *skip_ws(const char *s)
{
  while(*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
    s++;
  return s;
}

/* Strings in these files hold no escapes but \" and \\; others fail. */
static const char *parse_str(const char *s, char **out)
{
  size_t n = 0;
  char *o;
  if(*s != '"')
    return NULL;
  s++;
  o = malloc(strlen(s) + 1);
  while(*s && *s != '"') {
    if(*s == '\\') {
      s++;
      if(*s != '"' && *s != '\\') {
        free(o);
        return NULL;
      }
    }
    o[n++] = *s++;
  }
  if(*s != '"') {
    free(o);
    return NULL;
  }
  o[n] = 0;
  *out = o;
  return s + 1;
}

static const char *parse_value(const char *s, struct jv *v)
{
  memset(v, 0, sizeof(*v));
  s = skip_ws(s);
  if(*s == '{' || *s == '[') {
    char close = *s == '{' ? '}' : ']';
    v->kind = *s == '{' ? J_OBJ : J_ARR;
    s = skip_ws(s + 1);
    if(*s == close)
      return s + 1;
    for(;;) {
      v->kids = realloc(v->kids, (v->n + 1) * sizeof(*v->kids));
      if(v->kind == J_OBJ) {
        v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
        s = parse_str(skip_ws(s), &v->keys[v->n]);
        if(!s)
          return NULL;
        s = skip_ws(s);
        if(*s++ != ':') {
          free(v->keys[v->n]);
          return NULL;
        }
      }
      s = parse_value(s, &v->kids[v->n]);
      v->n++;
      if(!s)
        return NULL;
      s = skip_ws(s);
      if(*s == ',') {
        s++;
        continue;
      }
      if(*s == close)
        return s + 1;
      return NULL;
    }
  }
  if(*s == '"') {
    v->kind = J_STR;
    return parse_str(s, &v->str);
  }
  if(!strncmp(s, "true", 4) || !strncmp(s, "false", 5)) {
    v->kind = J_BOOL;
    v->num = *s == 't';
    return s + (*s == 't' ? 4 : 5);
  }
  if(!strncmp(s, "null", 4)) {
    v->kind = J_NULL;
    return s + 4;
  }
  if(*s == '-' || (*s >= '0' && *s <= '9')) {
    char *end;
    v->kind = J_NUM;
    v->num = strtoll(s, &end, 10);
    if(*end == '.' || *end == 'e' || *end == 'E')
      return NULL;
    return end;
  }
  return NULL;
}

static void jv_free(struct jv *v)
{
  size_t i;
  for(i = 0; i < v->n; i++) {
    jv_free(&v->kids[i]);
    if(v->keys)
      free(v->keys[i]);
  }
  free(v->kids);
  free(v->keys);
  free(v->str);
}

static const struct jv *jget(const struct jv *o, const char *key)
{
  size_t i;
  if(!o || o->kind != J_OBJ)
    return NULL;
  for(i = 0; i < o->n; i++)
    if(!strcmp(o->keys[i], key))
      return &o->kids[i];
  return NULL;
}

static long long jnum(const struct jv *o, const char *key)
{
  const struct jv *v = jget(o, key);
  return v && v->kind == J_NUM ? v->num : -1;
}

/* Base64 to bytes; out has room for strlen(s) bytes. Returns the length or
** -1. EVP_DecodeBlock counts the padding as zero bytes: take them off. */
static long b64(const char *s, unsigned char *out)
{
  size_t n = strlen(s);
  int r;
  if(!n)
    return 0;
  r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
  if(r < 0)
    return -1;
  if(n >= 1 && s[n - 1] == '=')
    r--;
  if(n >= 2 && s[n - 2] == '=')
    r--;
  return r;
}

/* ---- vectors ---- */

static const char *positive[] = {
  "empty_message", "payload_no_headers", "int32_header",
  "payload_one_str_header", "all_headers"
};
#define NPOS (sizeof(positive) / sizeof(positive[0]))

static const char *negative[] = {
  "corrupted_length", "corrupted_header_len", "corrupted_headers",
  "corrupted_payload"
};
#define NNEG (sizeof(negative) / sizeof(negative[0]))

struct vec {
  const char *name;
  struct blob raw;
  struct jv json;
  int ok;
};

/* Compare one decoded message with its JSON description; returns the
** number of mismatches (each one printed). */
static int match(const struct evs_message *m, const struct jv *j,
                 const char *label)
{
  int bad = 0;
  const struct jv *hs = jget(j, "headers");
  const struct jv *pl = jget(j, "payload");
  unsigned char buf[1024];
  size_t off = 0, i;
  long n;
  struct evs_header h;

#define MISMATCH(what) do { \
    printf("FAIL: %s: %s differs\n", label, what); bad++; } while(0)

  if((long long)m->frame_len != jnum(j, "total_length"))
    MISMATCH("total_length");
  if((long long)m->headers_len != jnum(j, "headers_length"))
    MISMATCH("headers_length");
  if(m->prelude_crc != ((unsigned long long)jnum(j, "prelude_crc") &
                        0xFFFFFFFFu))
    MISMATCH("prelude_crc");
  if(m->message_crc != ((unsigned long long)jnum(j, "message_crc") &
                        0xFFFFFFFFu))
    MISMATCH("message_crc");
  if(!pl || pl->kind != J_STR || (n = b64(pl->str, buf)) < 0 ||
     (size_t)n != m->payload_len || (n && memcmp(buf, m->payload, (size_t)n)))
    MISMATCH("payload");
  if(!hs || hs->kind != J_ARR) {
    MISMATCH("headers (JSON)");
    return bad;
  }
  for(i = 0; i < hs->n; i++) {
    const struct jv *e = &hs->kids[i];
    const struct jv *name = jget(e, "name");
    const struct jv *val = jget(e, "value");
    long long type = jnum(e, "type");
    char what[128];
    snprintf(what, sizeof(what), "header %u", (unsigned)i);
    if(evs_header_next(m->headers, m->headers_len, &off, &h) != 1) {
      MISMATCH(what);
      return bad;
    }
    if(!name || !val || name->kind != J_STR ||
       h.name_len != strlen(name->str) ||
       memcmp(h.name, name->str, h.name_len) || (long long)h.type != type) {
      MISMATCH(what);
      continue;
    }
    switch(h.type) {
    case EVS_TRUE:
    case EVS_FALSE:
      if(val->kind != J_BOOL || val->num != h.i ||
         h.i != (h.type == EVS_TRUE))
        MISMATCH(what);
      break;
    case EVS_BYTES:
    case EVS_STRING:
    case EVS_UUID:
      if(val->kind != J_STR || (n = b64(val->str, buf)) < 0 ||
         (size_t)n != h.data_len || memcmp(buf, h.data, h.data_len))
        MISMATCH(what);
      break;
    default:
      if(val->kind != J_NUM || val->num != h.i)
        MISMATCH(what);
    }
  }
  if(evs_header_next(m->headers, m->headers_len, &off, &h) != 0)
    MISMATCH("header count");
#undef MISMATCH
  return bad;
}

/* Feed data in pieces of `chunk` bytes (0: all at once), checking each
** message against exp[] as it comes out (its pointers last only until the
** next call). Returns the final non-OK status, or the first error. */
static int feed(const unsigned char *data, size_t len, size_t chunk,
                struct vec *exp, size_t nexp, size_t *nmsg,
                const char *label)
{
  struct evs_decoder d;
  size_t pos = 0;
  int rc = EVS_NEED_MORE;
  char lab[160];
  *nmsg = 0;
  evs_decoder_init(&d);
  while(pos < len) {
    size_t piece = chunk && len - pos > chunk ? chunk : len - pos;
    size_t off = 0;
    do {
      struct evs_message m;
      size_t used = 99;
      rc = evs_decode(&d, data + pos + off, piece - off, &used, &m);
      if(rc == EVS_OK) {
        snprintf(lab, sizeof(lab), "%s message %u", label,
                 (unsigned)*nmsg);
        if(*nmsg < nexp)
          check(!match(&m, &exp[*nmsg].json, lab), "%s", lab);
        else
          check(0, "%s: unexpected extra message", lab);
        (*nmsg)++;
      }
      else if(rc == EVS_NEED_MORE)
        check(used == piece - off, "%s: NEED_MORE consumed all", label);
      else {
        evs_decoder_free(&d);
        return rc;
      }
      off += used;
    } while(rc == EVS_OK && off < piece);
    pos += piece;
  }
  check(evs_decoder_pending(&d) == 0, "%s: %u bytes left pending", label,
        (unsigned)evs_decoder_pending(&d));
  evs_decoder_free(&d);
  return rc;
}

/* Build the headers for evs_encode from a JSON description; storage for
** the decoded base64 values goes into store. */
static size_t json_headers(const struct jv *j, struct evs_header *hs,
                           unsigned char *store)
{
  const struct jv *arr = jget(j, "headers");
  size_t i;
  for(i = 0; arr && i < arr->n; i++) {
    const struct jv *e = &arr->kids[i];
    const struct jv *val = jget(e, "value");
    struct evs_header *h = &hs[i];
    memset(h, 0, sizeof(*h));
    h->name = jget(e, "name")->str;
    h->name_len = strlen(h->name);
    h->type = (enum evs_type)jnum(e, "type");
    if(val->kind == J_STR) {
      long n = b64(val->str, store);
      h->data = store;
      h->data_len = n > 0 ? (size_t)n : 0;
      store += h->data_len;
    }
    else
      h->i = val->num;
  }
  return i;
}

static void test_vectors(const char *root)
{
  struct vec v[NPOS];
  struct blob all;
  size_t i, k, nmsg;
  char path[1024];
  static const size_t chunks[] = { 1, 2, 3, 7, 64, 0 };
  unsigned char store[4096];
  struct evs_header hs[32];

  all.p = NULL;
  all.len = 0;
  for(i = 0; i < NPOS; i++) {
    struct blob js;
    v[i].name = positive[i];
    v[i].ok = 0;
    memset(&v[i].json, 0, sizeof(v[i].json));
    snprintf(path, sizeof(path), "%s/eventstream/encoded/positive/%s", root,
             positive[i]);
    if(read_whole(path, &v[i].raw)) {
      check(0, "%s: cannot read", path);
      continue;
    }
    snprintf(path, sizeof(path), "%s/eventstream/decoded/positive/%s", root,
             positive[i]);
    if(read_whole(path, &js)) {
      check(0, "%s: cannot read", path);
      continue;
    }
    js.p = realloc(js.p, js.len + 1);
    js.p[js.len] = 0;
    if(!parse_value((const char *)js.p, &v[i].json)) {
      check(0, "%s: bad JSON", path);
      free(js.p);
      continue;
    }
    free(js.p);
    v[i].ok = 1;
    all.p = realloc(all.p, all.len + v[i].raw.len);
    memcpy(all.p + all.len, v[i].raw.p, v[i].raw.len);
    all.len += v[i].raw.len;
  }

  for(i = 0; i < NPOS; i++) {
    char lab[128];
    size_t size, n;
    unsigned char *out;
    if(!v[i].ok)
      continue;
    snprintf(lab, sizeof(lab), "%s whole", v[i].name);
    check(feed(v[i].raw.p, v[i].raw.len, 0, &v[i], 1, &nmsg, lab) ==
          EVS_OK && nmsg == 1, "%s: %u messages", lab, (unsigned)nmsg);
    snprintf(lab, sizeof(lab), "%s byte by byte", v[i].name);
    check(feed(v[i].raw.p, v[i].raw.len, 1, &v[i], 1, &nmsg, lab) ==
          EVS_OK && nmsg == 1, "%s: %u messages", lab, (unsigned)nmsg);

    n = json_headers(&v[i].json, hs, store);
    {
      const struct jv *pl = jget(&v[i].json, "payload");
      unsigned char payload[256];
      long plen = b64(pl->str, payload);
      size = evs_encoded_size(hs, n, (size_t)plen);
      check(size == v[i].raw.len, "%s encode: size %u, want %u", v[i].name,
            (unsigned)size, (unsigned)v[i].raw.len);
      out = malloc(size + 1);
      check(evs_encode(hs, n, payload, (size_t)plen, out) == size &&
            size == v[i].raw.len && !memcmp(out, v[i].raw.p, size),
            "%s encode: bytes differ", v[i].name);
      free(out);
    }
  }

  for(k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
    char lab[128];
    int rc;
    snprintf(lab, sizeof(lab), "all five, chunks of %u",
             (unsigned)chunks[k]);
    rc = feed(all.p, all.len, chunks[k], v, NPOS, &nmsg, lab);
    check((rc == EVS_OK || rc == EVS_NEED_MORE) && nmsg == NPOS,
          "%s: rc %d, %u messages", lab, rc, (unsigned)nmsg);
  }

  for(i = 0; i < NPOS; i++) {
    free(v[i].raw.p);
    jv_free(&v[i].json);
  }
  free(all.p);
}

static void test_negative(const char *root)
{
  struct blob good;
  size_t i;
  char path[1024];

  snprintf(path, sizeof(path), "%s/eventstream/encoded/positive/"
           "payload_no_headers", root);
  if(read_whole(path, &good)) {
    check(0, "%s: cannot read", path);
    return;
  }
  for(i = 0; i < NNEG; i++) {
    struct blob raw, why;
    int want, pass;
    size_t len;
    if(snprintf(path, sizeof(path), "%s/eventstream/encoded/negative/%s",
                root, negative[i]) < 0 || read_whole(path, &raw)) {
      check(0, "%s: cannot read", path);
      continue;
    }
    snprintf(path, sizeof(path), "%s/eventstream/decoded/negative/%s", root,
             negative[i]);
    if(read_whole(path, &why)) {
      check(0, "%s: cannot read", path);
      free(raw.p);
      continue;
    }
    len = why.len;
    while(len && (why.p[len - 1] == '\n' || why.p[len - 1] == '\r'))
      len--;
    want = (len == 25 && !memcmp(why.p, "Prelude checksum mismatch", 25)) ?
      EVS_ERR_PRELUDE_CRC : EVS_ERR_MESSAGE_CRC;
    check(strlen(evs_strerror(want)) == len &&
          !memcmp(evs_strerror(want), why.p, len),
          "%s: evs_strerror says \"%s\"", negative[i], evs_strerror(want));

    for(pass = 0; pass < 2; pass++) {
      struct evs_decoder d;
      struct evs_message m;
      size_t pos = 0, used;
      int rc = EVS_NEED_MORE, msgs = 0;
      evs_decoder_init(&d);
      while(pos < raw.len) {
        size_t piece = pass ? 1 : raw.len - pos;
        rc = evs_decode(&d, raw.p + pos, piece, &used, &m);
        if(rc == EVS_OK)
          msgs++;
        else if(rc != EVS_NEED_MORE)
          break;
        pos += used;
      }
      check(rc == want && !msgs, "%s %s: rc %s, %d messages", negative[i],
            pass ? "byte by byte" : "whole", evs_errcode(rc), msgs);
      rc = evs_decode(&d, good.p, good.len, &used, &m);
      check(rc == want && m.frame == NULL, "%s %s: not sticky (%s)",
            negative[i], pass ? "byte by byte" : "whole", evs_errcode(rc));
      evs_decoder_free(&d);
    }
    free(raw.p);
    free(why.p);
  }
  free(good.p);
}

/* ---- our own cases ---- */

static void put32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* A frame with correct CRCs whatever the lengths say: total_len and
** headers_len as given, then hdr and payload as they are. */
static size_t make_frame(unsigned char *out, uint32_t total, uint32_t hlen,
                         const void *hdr, size_t hdr_n, const void *pl,
                         size_t pl_n)
{
  size_t n = 12;
  put32(out, total);
  put32(out + 4, hlen);
  put32(out + 8, (uint32_t)crc32(0, out, 8));
  memcpy(out + n, hdr, hdr_n);
  n += hdr_n;
  if(pl_n)
    memcpy(out + n, pl, pl_n);
  n += pl_n;
  put32(out + n, (uint32_t)crc32(0, out, (uInt)n));
  return n + 4;
}

/* Decode buf whole and byte by byte; both must end in want. */
static void expect_status(const unsigned char *buf, size_t len, int want,
                          const char *label)
{
  int pass;
  for(pass = 0; pass < 2; pass++) {
    struct evs_decoder d;
    struct evs_message m;
    size_t pos = 0, used;
    int rc = EVS_NEED_MORE;
    evs_decoder_init(&d);
    while(pos < len) {
      rc = evs_decode(&d, buf + pos, pass ? 1 : len - pos, &used, &m);
      if(rc != EVS_NEED_MORE)
        break;
      pos += used;
    }
    check(rc == want, "%s %s: got %s, want %s", label,
          pass ? "byte by byte" : "whole", evs_errcode(rc),
          evs_errcode(want));
    evs_decoder_free(&d);
  }
}

static void test_limits(void)
{
  unsigned char f[256];
  struct evs_decoder d;
  struct evs_message m;
  size_t used, n;
  int rc;

  /* a frame announcing more than 16 MiB is refused at byte 12 */
  make_frame(f, EVS_MAX_MESSAGE + 1, 0, "", 0, NULL, 0);
  evs_decoder_init(&d);
  rc = evs_decode(&d, f, 11, &used, &m);
  check(rc == EVS_NEED_MORE && used == 11 && evs_decoder_pending(&d) == 11,
        "prelude split: 11 bytes");
  check(d.buf == NULL, "nothing allocated before the prelude CRC");
  rc = evs_decode(&d, f + 11, 1, &used, &m);
  check(rc == EVS_ERR_TOO_LARGE, "> 16 MiB after 12 bytes: %s",
        evs_errcode(rc));
  check(d.buf == NULL, "nothing allocated for a refused prelude");
  rc = evs_decode(&d, f, 12, &used, &m);
  check(rc == EVS_ERR_TOO_LARGE, "TOO_LARGE sticky");
  evs_decoder_free(&d);
  evs_decoder_free(&d);         /* idempotent */
  expect_status(f, 12, EVS_ERR_TOO_LARGE, "> 16 MiB");

  /* exactly 16 MiB with 128 KiB of headers is acceptable: the prelude
  ** passes and only what arrived is buffered */
  make_frame(f, EVS_MAX_MESSAGE, EVS_MAX_HEADERS, "", 0, NULL, 0);
  evs_decoder_init(&d);
  rc = evs_decode(&d, f, 12, &used, &m);
  check(rc == EVS_NEED_MORE && evs_decoder_pending(&d) == 12 &&
        d.cap <= 256, "16 MiB prelude: %s, cap %u", evs_errcode(rc),
        (unsigned)d.cap);
  evs_decoder_free(&d);

  make_frame(f, 1024 * 1024, EVS_MAX_HEADERS + 1, "", 0, NULL, 0);
  expect_status(f, 12, EVS_ERR_TOO_LARGE, "headers > 128 KiB");

  n = make_frame(f, 15, 0, "", 0, NULL, 0);
  expect_status(f, n, EVS_ERR_BAD_LENGTH, "total 15");
  make_frame(f, 0, 0, "", 0, NULL, 0);
  expect_status(f, 12, EVS_ERR_BAD_LENGTH, "total 0");
  n = make_frame(f, 20, 5, "abcd", 4, NULL, 0);
  expect_status(f, n, EVS_ERR_BAD_LENGTH, "headers_len > total - 16");
  n = make_frame(f, 20, 0xFFFFFFFFu, "abcd", 4, NULL, 0);
  expect_status(f, n, EVS_ERR_TOO_LARGE, "headers_len 0xFFFFFFFF");
}

static void test_bad_headers(void)
{
  static const struct {
    const char *what;
    const char *h;
    size_t n;
  } cases[] = {
    { "type 10", "\001a\012", 3 },
    { "type 255", "\001a\377", 3 },
    { "string past the section", "\001a\007\000\005xy", 7 },
    { "bytes length cut", "\001a\006\000", 4 },
    { "zero-length name", "\000\000", 2 },
    { "name past the section", "\005ab", 3 },
    { "no type byte", "\001a", 2 },
    { "int32 cut", "\001a\004\000\000", 5 },
    { "uuid cut", "\001a\011\000\000\000\000\000\000\000\000\000", 12 },
    { "good then bad", "\001a\000\001b\012", 6 },
  };
  unsigned char f[256];
  size_t i;
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t n = make_frame(f, (uint32_t)(16 + cases[i].n + 2),
                          (uint32_t)cases[i].n, cases[i].h, cases[i].n,
                          "{}", 2);
    expect_status(f, n, EVS_ERR_BAD_HEADERS, cases[i].what);
  }
  /* the walker reports the same */
  {
    size_t off = 0;
    struct evs_header h;
    check(evs_header_next((const unsigned char *)"\001a\000\001b\012", 6,
                          &off, &h) == 1 && off == 3 &&
          h.type == EVS_TRUE && h.i == 1,
          "header_next: first of good then bad");
    check(evs_header_next((const unsigned char *)"\001a\000\001b\012", 6,
                          &off, &h) == EVS_ERR_BAD_HEADERS,
          "header_next: bad second header");
  }
}

static const unsigned char uuid16[16] = {
  0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0x80
};

static void set_hdr(struct evs_header *h, const char *name, enum evs_type t,
                    int64_t i, const void *data, size_t len)
{
  h->name = name;
  h->name_len = strlen(name);
  h->type = t;
  h->i = i;
  h->data = data;
  h->data_len = len;
}

static void test_bedrock_like(void)
{
  struct evs_header hs[3], h;
  unsigned char buf[1024];
  struct evs_decoder d;
  struct evs_message m;
  size_t n, used;
  int rc;
  static const char payload[] = "{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"}";

  set_hdr(&hs[0], ":event-type", EVS_STRING, 0, "chunk", 5);
  set_hdr(&hs[1], ":content-type", EVS_STRING, 0, "application/json", 16);
  set_hdr(&hs[2], ":message-type", EVS_STRING, 0, "event", 5);
  n = evs_encode(hs, 3, payload, strlen(payload), buf);
  check(n == evs_encoded_size(hs, 3, strlen(payload)) && n > 0,
        "bedrock-like encode");
  memcpy(buf + n, buf, n);      /* two frames back to back */

  evs_decoder_init(&d);
  rc = evs_decode(&d, buf, 2 * n, &used, &m);
  check(rc == EVS_OK && used == n, "zero-copy: decode");
  check(m.frame == buf && m.payload > buf && m.payload < buf + n &&
        m.payload_len == strlen(payload) &&
        !memcmp(m.payload, payload, m.payload_len),
        "zero-copy: frame and payload point into the input");
  check(evs_header_find(&m, ":event-type", &h) == 1 &&
        h.type == EVS_STRING && h.data_len == 5 &&
        !memcmp(h.data, "chunk", 5) && h.data > buf && h.data < buf + n,
        "header_find :event-type");
  check(evs_header_find(&m, ":message-type", &h) == 1 &&
        h.data_len == 5 && !memcmp(h.data, "event", 5),
        "header_find :message-type");
  check(evs_header_find(&m, ":event", &h) == 0, "header_find: no prefix");
  check(evs_header_find(&m, ":exception-type", &h) == 0,
        "header_find: absent");
  rc = evs_decode(&d, buf + n, n, &used, &m);
  check(rc == EVS_OK && used == n && m.frame == buf + n,
        "zero-copy: second frame");
  check(evs_decoder_pending(&d) == 0 && d.buf == NULL,
        "zero-copy: nothing buffered");

  /* split: prelude and a bit, then the rest plus the start of the next */
  rc = evs_decode(&d, buf, 20, &used, &m);
  check(rc == EVS_NEED_MORE && used == 20 && evs_decoder_pending(&d) == 20,
        "split: first part");
  rc = evs_decode(&d, buf + 20, n, &used, &m);
  check(rc == EVS_OK && used == n - 20 && m.frame != buf &&
        m.frame_len == n && d.cap <= n, "split: assembled, cap %u",
        (unsigned)d.cap);
  check(evs_decoder_pending(&d) == 0, "split: pending 0 after the message");
  rc = evs_decode(&d, buf + n, n, &used, &m);
  check(rc == EVS_OK && used == n && m.frame == buf + n,
        "split: back to zero-copy");
  rc = evs_decode(&d, buf, 0, &used, &m);
  check(rc == EVS_NEED_MORE && used == 0, "empty input");
  evs_decoder_free(&d);
}

static void test_roundtrip(void)
{
  static char str[65535];
  static char name255[256], name256[257];
  static unsigned char out[200000];
  struct evs_header hs[24], h;
  struct evs_decoder d;
  struct evs_message m;
  size_t n = 0, i, size, used, off = 0;
  int rc;

  memset(str, 'x', sizeof(str));
  memset(name255, 'n', 255);
  memset(name256, 'n', 256);
  set_hdr(&hs[n++], "t", EVS_TRUE, 1, NULL, 0);
  set_hdr(&hs[n++], "f", EVS_FALSE, 0, NULL, 0);
  set_hdr(&hs[n++], "b-1", EVS_BYTE, -1, NULL, 0);
  set_hdr(&hs[n++], "bmin", EVS_BYTE, -128, NULL, 0);
  set_hdr(&hs[n++], "bmax", EVS_BYTE, 127, NULL, 0);
  set_hdr(&hs[n++], "smin", EVS_SHORT, -32768, NULL, 0);
  set_hdr(&hs[n++], "smax", EVS_SHORT, 32767, NULL, 0);
  set_hdr(&hs[n++], "imin", EVS_INT, INT32_MIN, NULL, 0);
  set_hdr(&hs[n++], "imax", EVS_INT, INT32_MAX, NULL, 0);
  set_hdr(&hs[n++], "i-1", EVS_INT, -1, NULL, 0);
  set_hdr(&hs[n++], "lmin", EVS_LONG, INT64_MIN, NULL, 0);
  set_hdr(&hs[n++], "lmax", EVS_LONG, INT64_MAX, NULL, 0);
  set_hdr(&hs[n++], "l-1", EVS_LONG, -1, NULL, 0);
  set_hdr(&hs[n++], "ts", EVS_TIMESTAMP, 1700000000123LL, NULL, 0);
  set_hdr(&hs[n++], "tsneg", EVS_TIMESTAMP, INT64_MIN, NULL, 0);
  set_hdr(&hs[n++], "bytes0", EVS_BYTES, 0, NULL, 0);
  set_hdr(&hs[n++], "bytes", EVS_BYTES, 0, "\000\377\001", 3);
  set_hdr(&hs[n++], "str0", EVS_STRING, 0, "", 0);
  set_hdr(&hs[n++], "strmax", EVS_STRING, 0, str, sizeof(str));
  set_hdr(&hs[n++], "uuid", EVS_UUID, 0, uuid16, 16);
  set_hdr(&hs[n++], name255, EVS_TRUE, 1, NULL, 0);

  size = evs_encoded_size(hs, n, 3);
  check(size > 0 && size <= sizeof(out), "round trip: size %u",
        (unsigned)size);
  check(evs_encode(hs, n, "abc", 3, out) == size, "round trip: encode");
  evs_decoder_init(&d);
  rc = evs_decode(&d, out, size, &used, &m);
  check(rc == EVS_OK && used == size && m.payload_len == 3 &&
        !memcmp(m.payload, "abc", 3), "round trip: decode %s",
        evs_errcode(rc));
  for(i = 0; rc == EVS_OK && i < n; i++) {
    const struct evs_header *e = &hs[i];
    int ok = evs_header_next(m.headers, m.headers_len, &off, &h) == 1 &&
      h.name_len == e->name_len && !memcmp(h.name, e->name, h.name_len) &&
      h.type == e->type;
    if(ok) {
      switch(h.type) {
      case EVS_BYTES:
      case EVS_STRING:
      case EVS_UUID:
        ok = h.data_len == (e->type == EVS_UUID ? 16 : e->data_len) &&
          (!h.data_len || !memcmp(h.data, e->data, h.data_len));
        break;
      default:
        ok = h.i == e->i;
      }
    }
    check(ok, "round trip: header %s", e->name_len < 20 ? e->name : "long");
  }
  check(rc != EVS_OK ||
        evs_header_next(m.headers, m.headers_len, &off, &h) == 0,
        "round trip: header count");
  evs_decoder_free(&d);

  /* what the encoder refuses */
  set_hdr(&h, name256, EVS_TRUE, 1, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0 && evs_encode(&h, 1, "", 0, out) == 0,
        "encoder: 256-byte name refused");
  {
    static char big[65536];
    set_hdr(&h, "s", EVS_STRING, 0, big, sizeof(big));
    check(evs_encoded_size(&h, 1, 0) == 0 &&
          evs_encode(&h, 1, "", 0, out) == 0,
          "encoder: 65536-byte string refused");
    h.type = EVS_BYTES;
    check(evs_encoded_size(&h, 1, 0) == 0, "encoder: 65536 bytes refused");
  }
  set_hdr(&h, "", EVS_TRUE, 1, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: empty name refused");
  set_hdr(&h, "b", EVS_BYTE, 128, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: byte 128 refused");
  set_hdr(&h, "s", EVS_SHORT, -32769, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: short -32769 refused");
  set_hdr(&h, "i", EVS_INT, (int64_t)INT32_MAX + 1, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: int 2^31 refused");
  set_hdr(&h, "u", EVS_UUID, 0, NULL, 16);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: uuid without data");
  set_hdr(&h, "x", (enum evs_type)10, 0, NULL, 0);
  check(evs_encoded_size(&h, 1, 0) == 0, "encoder: type 10 refused");
  check(evs_encoded_size(NULL, 0, 0) == 16, "encoder: empty message");
  check(evs_encoded_size(NULL, 0, EVS_MAX_MESSAGE - 16) == EVS_MAX_MESSAGE,
        "encoder: 16 MiB frame allowed");
  check(evs_encoded_size(NULL, 0, EVS_MAX_MESSAGE - 15) == 0,
        "encoder: 16 MiB + 1 refused");
  check(evs_encoded_size(NULL, 0, (size_t)-1) == 0,
        "encoder: huge payload refused");
  {
    /* 128 KiB of headers is the limit, to the byte */
    struct evs_header three[3];
    set_hdr(&three[0], "s", EVS_STRING, 0, str, sizeof(str));
    set_hdr(&three[1], "s", EVS_STRING, 0, str, EVS_MAX_HEADERS - 65540 - 5);
    set_hdr(&three[2], "t", EVS_TRUE, 1, NULL, 0);
    check(evs_encoded_size(three, 2, 0) == 16 + EVS_MAX_HEADERS,
          "encoder: exactly 128 KiB of headers fit");
    check(evs_encoded_size(three, 3, 0) == 0,
          "encoder: headers over 128 KiB refused");
  }
}

/* A 16 MiB frame (the largest allowed) in 16 KiB pieces, as libcurl would
** hand it over: assembled, never over-allocated, handed out once. */
static void test_big_frame(void)
{
  size_t plen = EVS_MAX_MESSAGE - 16 - 20, size, pos = 0, used;
  unsigned char *pl = malloc(plen), *out;
  struct evs_header h;
  struct evs_decoder d;
  struct evs_message m;
  int rc = EVS_NEED_MORE, msgs = 0;
  size_t i, maxcap = 0;

  for(i = 0; i < plen; i++)
    pl[i] = (unsigned char)(i * 31 + 7);
  set_hdr(&h, ":event-type", EVS_STRING, 0, "chunk", 5);
  size = evs_encoded_size(&h, 1, plen);
  check(size == EVS_MAX_MESSAGE, "big frame: size %u", (unsigned)size);
  out = malloc(size);
  check(evs_encode(&h, 1, pl, plen, out) == size, "big frame: encode");
  evs_decoder_init(&d);
  while(pos < size) {
    size_t piece = size - pos < 16384 ? size - pos : 16384;
    rc = evs_decode(&d, out + pos, piece, &used, &m);
    if(d.cap > maxcap)
      maxcap = d.cap;
    if(rc == EVS_OK)
      msgs++;
    else if(rc != EVS_NEED_MORE)
      break;
    pos += used;
  }
  check(rc == EVS_OK && msgs == 1 && m.payload_len == plen &&
        !memcmp(m.payload, pl, plen), "big frame: decoded (%s)",
        evs_errcode(rc));
  check(maxcap <= size, "big frame: cap %u <= frame", (unsigned)maxcap);
  check(evs_decoder_pending(&d) == 0, "big frame: pending 0");
  /* corrupt one payload byte: caught by the message CRC */
  out[size / 2] ^= 1;
  evs_decoder_free(&d);
  evs_decoder_init(&d);
  rc = evs_decode(&d, out, size, &used, &m);
  check(rc == EVS_ERR_MESSAGE_CRC, "big frame corrupted: %s",
        evs_errcode(rc));
  evs_decoder_free(&d);
  free(out);
  free(pl);
}

static void test_strings(void)
{
  static const struct {
    int st;
    const char *code;
  } codes[] = {
    { EVS_OK, "EVS_OK" }, { EVS_NEED_MORE, "EVS_NEED_MORE" },
    { EVS_ERR_PRELUDE_CRC, "EVS_PRELUDE_CRC" },
    { EVS_ERR_MESSAGE_CRC, "EVS_MESSAGE_CRC" },
    { EVS_ERR_TOO_LARGE, "EVS_TOO_LARGE" },
    { EVS_ERR_BAD_LENGTH, "EVS_BAD_LENGTH" },
    { EVS_ERR_BAD_HEADERS, "EVS_BAD_HEADERS" },
    { EVS_ERR_NOMEM, "EVS_NOMEM" }, { EVS_ERR_ARG, "EVS_ARG" }
  };
  size_t i;
  struct evs_decoder d;
  struct evs_message m;
  size_t used;
  for(i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    check(!strcmp(evs_errcode(codes[i].st), codes[i].code),
          "errcode %d", codes[i].st);
    check(evs_strerror(codes[i].st) && *evs_strerror(codes[i].st),
          "strerror %d", codes[i].st);
  }
  check(!strcmp(evs_strerror(EVS_ERR_TOO_LARGE), "Message too large"),
        "strerror TOO_LARGE");
  check(evs_errcode(42) != NULL && evs_strerror(42) != NULL,
        "unknown status");
  evs_decoder_init(&d);
  check(evs_decode(&d, NULL, 5, &used, &m) == EVS_ERR_ARG, "ARG: NULL in");
  check(evs_decode(&d, "", 0, &used, &m) == EVS_NEED_MORE,
        "ARG is not sticky");
  evs_decoder_free(&d);
}

/* evs_header_find_many finds what evs_header_find finds, one walk for all */
static void test_find_many(void)
{
  struct evs_header hs[4], got[3], one;
  static const char *const names[] = { ":message-type", ":event-type", ":exception-type" };
  unsigned char frame[256];
  struct evs_decoder d;
  struct evs_message m;
  size_t size, used, i;
  memset(hs, 0, sizeof(hs));
  hs[0].name = ":event-type"; hs[0].name_len = 11; hs[0].type = EVS_STRING;
  hs[0].data = (const unsigned char *)"chunk"; hs[0].data_len = 5;
  hs[1].name = ":content-type"; hs[1].name_len = 13; hs[1].type = EVS_STRING;
  hs[1].data = (const unsigned char *)"application/json"; hs[1].data_len = 16;
  hs[2].name = ":message-type"; hs[2].name_len = 13; hs[2].type = EVS_STRING;
  hs[2].data = (const unsigned char *)"event"; hs[2].data_len = 5;
  hs[3].name = ":event-type"; hs[3].name_len = 11; hs[3].type = EVS_INT; hs[3].i = 7;
  size = evs_encode(hs, 4, "{}", 2, frame);
  check(size > 0, "find_many: encode");
  evs_decoder_init(&d);
  check(evs_decode(&d, frame, size, &used, &m) == EVS_OK, "find_many: decode");
  check(evs_header_find_many(&m, names, 3, got) == 2, "find_many: two of three found");
  for(i = 0; i < 2; i++) {
    int f = evs_header_find(&m, names[i], &one);
    check(f && got[i].name && got[i].type == one.type && got[i].data_len == one.data_len &&
          !memcmp(got[i].data, one.data, one.data_len),
          "find_many: %s as evs_header_find (the first of its name)", names[i]);
  }
  check(got[1].type == EVS_STRING, "find_many: the first :event-type, not the repeat");
  check(got[2].name == NULL && got[2].data == NULL, "find_many: a missing name is zeroed");
  evs_decoder_free(&d);
}

int main(int argc, char **argv)
{
  if(argc < 2) {
    fprintf(stderr, "usage: %s TESTDATA_DIR\n", argv[0]);
    return 2;
  }
  test_vectors(argv[1]);
  test_negative(argv[1]);
  test_limits();
  test_bad_headers();
  test_bedrock_like();
  test_roundtrip();
  test_big_frame();
  test_strings();
  test_find_many();
  printf("eventstream: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
