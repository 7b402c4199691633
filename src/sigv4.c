/*
** sigv4.c: AWS Signature Version 4, header mode (see sigv4.h).
**
** The canonical request is built in one pass into a buffer that starts on
** the stack, so a typical Bedrock request costs no allocation apart from the
** returned Authorization string. The signing key of recent (date, region,
** service, secret) tuples is cached as the two SHA-256 states of HMAC after
** the key pads, so a warm sign hashes only the canonical request and the
** string to sign.
*/
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sigv4.h"

#define SHA256_LEN 32
#define SHA256_BLOCK 64
#define KEY_SLOTS 4                 /* distinct credentials/days per signer */
#define STACK_BUF 2048              /* canonical request fits here for Bedrock */
#define STACK_HEADERS 24
#define STACK_PARAMS 16
#define MAX_TIME 253402300799LL     /* 9999-12-31T23:59:59Z: 4-digit years */

static const char algorithm[] = "AWS4-HMAC-SHA256";
static const char hexdig[] = "0123456789abcdef";
static const char hexup[] = "0123456789ABCDEF";

/* Byte classes. C_UNRES: unreserved in URI encoding (A-Z a-z 0-9 - . _ ~).
** C_TCHAR: RFC 7230 tchar, the only bytes allowed in header names and
** methods (this also keeps ';' and ':' out of SignedHeaders). C_SPACE:
** whitespace folded in header values. A constant table, so no
** initialisation race between threads. */
#define C_UNRES 1
#define C_TCHAR 2
#define C_SPACE 4
static const unsigned char ctab[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 2, 0, 2, 2, 2, 2, 2, 0, 0, 2, 2, 0, 3, 3, 0,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,
  0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 2, 3,
  2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 2, 0, 3, 0
  /* bytes 0x80 and up: none of the classes */
};

static unsigned char lower(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Writers into a buffer whose size the caller bounded beforehand: each
** returns the new end. */

/* Percent-encode every byte but the unreserved ones (and '/' when asked). */
static char *put_encoded(char *d, const unsigned char *s, size_t n,
                         int keep_slash)
{
  size_t i;
  for(i = 0; i < n; i++) {
    unsigned char c = s[i];
    if((ctab[c] & C_UNRES) || (c == '/' && keep_slash))
      *d++ = (char)c;
    else {
      d[0] = '%';
      d[1] = hexup[c >> 4];
      d[2] = hexup[c & 15];
      d += 3;
    }
  }
  return d;
}

static int hexval(unsigned char c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decode %XX (a stray '%' stays literal), then encode for the canonical
** query: how the AWS reference signers treat query keys and values. */
static char *put_reencoded(char *d, const unsigned char *s, size_t n)
{
  size_t i;
  for(i = 0; i < n; i++) {
    unsigned char c = s[i];
    if(c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
       hexval(s[i + 2]) >= 0) {
      c = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    }
    if(ctab[c] & C_UNRES)
      *d++ = (char)c;
    else {
      d[0] = '%';
      d[1] = hexup[c >> 4];
      d[2] = hexup[c & 15];
      d += 3;
    }
  }
  return d;
}

static char *put_lower(char *d, const char *s, size_t n)
{
  size_t i;
  for(i = 0; i < n; i++)
    d[i] = (char)lower((unsigned char)s[i]);
  return d + n;
}

/* Trim, and fold every internal whitespace run (newlines of continuation
** lines included) to one space. Runs of plain bytes are copied whole. */
static char *put_value(char *d, const char *v, size_t n)
{
  const char *e = v + n;
  while(v < e && (ctab[(unsigned char)*v] & C_SPACE))
    v++;
  while(v < e) {
    const char *run = v;
    while(v < e && !(ctab[(unsigned char)*v] & C_SPACE))
      v++;
    memcpy(d, run, (size_t)(v - run));
    d += v - run;
    while(v < e && (ctab[(unsigned char)*v] & C_SPACE))
      v++;
    if(v < e)
      *d++ = ' ';
  }
  return d;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
  size_t i;
  for(i = 0; i < n; i++) {
    out[2 * i] = hexdig[in[i] >> 4];
    out[2 * i + 1] = hexdig[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* ---- signing-key cache ------------------------------------------------ */

struct key_slot {
  char *mem;              /* region, service, secret in one block; NULL: free */
  size_t region_len;
  size_t service_len;
  size_t secret_len;
  char date[8];
  unsigned long last_use;
  EVP_MD_CTX *inner;      /* SHA-256 after absorbing kSigning ^ ipad */
  EVP_MD_CTX *outer;      /* SHA-256 after absorbing kSigning ^ opad */
};

struct sigv4_signer {
  EVP_MD *md;
  EVP_MD_CTX *work;
  unsigned long tick;
  struct key_slot slot[KEY_SLOTS];
};

static void slot_clear(struct key_slot *k)
{
  if(k->mem) {
    /* the block holds the secret */
    OPENSSL_cleanse(k->mem, k->region_len + k->service_len + k->secret_len);
    free(k->mem);
    k->mem = NULL;
  }
  k->region_len = k->service_len = k->secret_len = 0;
}

struct sigv4_signer *sigv4_signer_new(void)
{
  struct sigv4_signer *s = calloc(1, sizeof(*s));
  if(!s)
    return NULL;
  /* an explicit fetch: EVP_sha256() would look the provider up per hash */
  s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
  s->work = EVP_MD_CTX_new();
  if(!s->md || !s->work)
    goto fail;
  return s;
fail:
  sigv4_signer_free(s);
  return NULL;
}

void sigv4_signer_free(struct sigv4_signer *s)
{
  int i;
  if(!s)
    return;
  for(i = 0; i < KEY_SLOTS; i++) {
    slot_clear(&s->slot[i]);
    /* freeing a digest context wipes its state, which is key material */
    EVP_MD_CTX_free(s->slot[i].inner);
    EVP_MD_CTX_free(s->slot[i].outer);
  }
  EVP_MD_CTX_free(s->work);
  EVP_MD_free(s->md);
  free(s);
}

/* Start inner and outer HMAC states for key (at most one block long). */
static int hmac_start(const EVP_MD *md, EVP_MD_CTX *in, EVP_MD_CTX *out,
                      const unsigned char *key, size_t klen)
{
  unsigned char pad[SHA256_BLOCK];
  size_t i;
  int ok = 0;
  memset(pad, 0x36, sizeof(pad));
  for(i = 0; i < klen; i++)
    pad[i] ^= key[i];
  if(!EVP_DigestInit_ex(in, md, NULL) ||
     !EVP_DigestUpdate(in, pad, sizeof(pad)))
    goto fail;
  for(i = 0; i < sizeof(pad); i++)
    pad[i] ^= 0x36 ^ 0x5c;
  if(!EVP_DigestInit_ex(out, md, NULL) ||
     !EVP_DigestUpdate(out, pad, sizeof(pad)))
    goto fail;
  ok = 1;
fail:
  OPENSSL_cleanse(pad, sizeof(pad));
  return ok;
}

/* Finish an HMAC from started states: out = H(opad || H(ipad || msg)). */
static int hmac_finish(EVP_MD_CTX *in, EVP_MD_CTX *out, const void *msg,
                       size_t mlen, unsigned char mac[SHA256_LEN])
{
  unsigned char ih[SHA256_LEN];
  int ok = EVP_DigestUpdate(in, msg, mlen) &&
           EVP_DigestFinal_ex(in, ih, NULL) &&
           EVP_DigestUpdate(out, ih, sizeof(ih)) &&
           EVP_DigestFinal_ex(out, mac, NULL);
  OPENSSL_cleanse(ih, sizeof(ih));
  return ok;
}

/* Derive kSigning and leave its HMAC states in slot k. The slot's
** contexts double as scratch for the derivation chain. */
static int slot_fill(struct sigv4_signer *s, struct key_slot *k,
                     const char *date, const char *region, size_t region_len,
                     const char *service, size_t service_len,
                     const char *secret, size_t secret_len)
{
  unsigned char kbuf[SHA256_BLOCK];
  unsigned char key[SHA256_LEN];
  const unsigned char *k0 = kbuf;
  size_t k0len = 4 + secret_len;
  int rc;

  slot_clear(k);
  if(!k->inner)
    k->inner = EVP_MD_CTX_new();
  if(!k->outer)
    k->outer = EVP_MD_CTX_new();
  if(!k->inner || !k->outer)
    return SIGV4_ERR_NOMEM;

  /* kSecret = "AWS4" + secret, hashed first when longer than a block */
  if(k0len <= SHA256_BLOCK) {
    memcpy(kbuf, "AWS4", 4);
    memcpy(kbuf + 4, secret, secret_len);
  }
  else {
    if(!EVP_DigestInit_ex(s->work, s->md, NULL) ||
       !EVP_DigestUpdate(s->work, "AWS4", 4) ||
       !EVP_DigestUpdate(s->work, secret, secret_len) ||
       !EVP_DigestFinal_ex(s->work, kbuf, NULL))
      goto fail;
    k0len = SHA256_LEN;
  }
  if(!hmac_start(s->md, k->inner, k->outer, k0, k0len) ||
     !hmac_finish(k->inner, k->outer, date, 8, key) ||
     !hmac_start(s->md, k->inner, k->outer, key, SHA256_LEN) ||
     !hmac_finish(k->inner, k->outer, region, region_len, key) ||
     !hmac_start(s->md, k->inner, k->outer, key, SHA256_LEN) ||
     !hmac_finish(k->inner, k->outer, service, service_len, key) ||
     !hmac_start(s->md, k->inner, k->outer, key, SHA256_LEN) ||
     !hmac_finish(k->inner, k->outer, "aws4_request", 12, key) ||
     !hmac_start(s->md, k->inner, k->outer, key, SHA256_LEN))
    goto fail;

  k->mem = malloc(region_len + service_len + secret_len + 1);
  if(!k->mem) {
    rc = SIGV4_ERR_NOMEM;
    goto done;
  }
  memcpy(k->mem, region, region_len);
  memcpy(k->mem + region_len, service, service_len);
  memcpy(k->mem + region_len + service_len, secret, secret_len);
  k->region_len = region_len;
  k->service_len = service_len;
  k->secret_len = secret_len;
  memcpy(k->date, date, 8);
  rc = SIGV4_OK;
  goto done;
fail:
  rc = SIGV4_ERR_CRYPTO;
done:
  OPENSSL_cleanse(kbuf, sizeof(kbuf));
  OPENSSL_cleanse(key, sizeof(key));
  return rc;
}

static int slot_match(const struct key_slot *k, const char *date,
                      const char *region, size_t region_len,
                      const char *service, size_t service_len,
                      const char *secret, size_t secret_len)
{
  return k->mem && !memcmp(k->date, date, 8) &&
         k->region_len == region_len && k->service_len == service_len &&
         k->secret_len == secret_len &&
         !memcmp(k->mem, region, region_len) &&
         !memcmp(k->mem + region_len, service, service_len) &&
         !CRYPTO_memcmp(k->mem + region_len + service_len, secret,
                        secret_len);
}

/* The cached slot for this key, deriving it into the least recently used
** slot on a miss. */
static int get_slot(struct sigv4_signer *s, const char *date,
                    const char *region, size_t region_len,
                    const char *service, size_t service_len,
                    const char *secret, size_t secret_len,
                    struct key_slot **out)
{
  struct key_slot *victim = &s->slot[0];
  int i, rc;
  for(i = 0; i < KEY_SLOTS; i++) {
    struct key_slot *k = &s->slot[i];
    if(slot_match(k, date, region, region_len, service, service_len,
                  secret, secret_len)) {
      k->last_use = ++s->tick;
      *out = k;
      return SIGV4_OK;
    }
    if(!k->mem)
      victim = k;
    else if(victim->mem && k->last_use < victim->last_use)
      victim = k;
  }
  rc = slot_fill(s, victim, date, region, region_len, service, service_len,
                 secret, secret_len);
  if(rc)
    return rc;
  victim->last_use = ++s->tick;
  *out = victim;
  return SIGV4_OK;
}

/* ---- canonical request ------------------------------------------------ */

struct hentry {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
  int dup;            /* same name as the previous entry once sorted */
  int plain;          /* no whitespace at all: copied as is */
};

struct qparam {
  const char *key;
  size_t key_len;
  const char *val;
  size_t val_len;
};

/* String lengths, measured once. */
struct lens {
  size_t method;
  size_t region;
  size_t service;
  size_t akid;
  size_t secret;
  size_t token;
  size_t hash;
};

/* Compare names as their lowercase forms. */
static int name_cmp(const struct hentry *a, const struct hentry *b)
{
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  size_t i;
  for(i = 0; i < n; i++) {
    unsigned char x = lower((unsigned char)a->name[i]);
    unsigned char y = lower((unsigned char)b->name[i]);
    if(x != y)
      return x < y ? -1 : 1;
  }
  return a->name_len < b->name_len ? -1 : (a->name_len > b->name_len);
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if(c)
    return c;
  return alen < blen ? -1 : (alen > blen);
}

static int qparam_cmp(const void *pa, const void *pb)
{
  const struct qparam *a = pa;
  const struct qparam *b = pb;
  int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
  if(c)
    return c;
  return bytes_cmp(a->val, a->val_len, b->val, b->val_len);
}

static int name_is(const char *name, size_t len, const char *lc, size_t lclen)
{
  size_t i;
  if(len != lclen)
    return 0;
  for(i = 0; i < len; i++)
    if(lower((unsigned char)name[i]) != (unsigned char)lc[i])
      return 0;
  return 1;
}

static int token_ok(const char *p, size_t n)
{
  size_t i;
  if(!n)
    return 0;
  for(i = 0; i < n; i++)
    if(!(ctab[(unsigned char)p[i]] & C_TCHAR))
      return 0;
  return 1;
}

/* Scope parts end up in the Authorization header: printable, no space,
** and no '/' or ',' that would split the credential. */
static int scope_part_ok(const char *p, size_t *len)
{
  size_t i;
  for(i = 0; p[i]; i++) {
    unsigned char c = (unsigned char)p[i];
    if(c <= ' ' || c >= 0x7f || c == '/' || c == ',')
      return 0;
  }
  *len = i;
  return i > 0;
}

/* 1 when some byte is a control byte, a space or DEL. Eight bytes a step:
** session tokens run to a kilobyte and are scanned on every sign. */
static int has_special(const char *p, size_t n)
{
  const uint64_t ones = 0x0101010101010101u;
  const uint64_t high = 0x8080808080808080u;
  size_t i = 0;
  for(; i + 8 <= n; i += 8) {
    uint64_t x, y;
    memcpy(&x, p + i, 8);
    y = x ^ (ones * 0x7f);
    /* a byte below 0x21, or a byte equal to 0x7f (zero in y) */
    if(((x - ones * 0x21) & ~x & high) | ((y - ones) & ~y & high))
      return 1;
  }
  for(; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if(c < 0x21 || c == 0x7f)
      return 1;
  }
  return 0;
}

/* A header value: 0 when it holds a NUL, else 1 with *plain set when it
** has no whitespace to trim or fold. */
static int value_scan(const char *p, size_t n, int *plain)
{
  size_t i;
  *plain = !has_special(p, n);
  if(*plain)
    return 1;
  for(i = 0; i < n; i++)
    if(!p[i])
      return 0;
  return 1;
}

static int has_line_break(const char *p, size_t n)
{
  return memchr(p, '\r', n) != NULL || memchr(p, '\n', n) != NULL;
}

/* The session token goes out as a header value: no control bytes. */
static int token_value_ok(const char *p, size_t n)
{
  size_t i;
  if(!has_special(p, n))
    return 1;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if(c < 0x20 || c == 0x7f)
      return 0;
  }
  return 1;
}

/* a += b, failing instead of wrapping */
static int add_size(size_t *a, size_t b)
{
  if(b > ((size_t)-1) - *a)
    return 0;
  *a += b;
  return 1;
}

/* The path: optionally drop empty, "." and ".." segments the way the AWS
** reference signers do (a trailing '/' is kept only when the path had one),
** then encode once more. Encoded segments hold no '/', so a ".." can pop
** the output back to the previous '/' after encoding. Writes at most
** 3 * path_len + 1 bytes. */
static char *put_path(char *d, const struct sigv4_request *r)
{
  const unsigned char *p = (const unsigned char *)r->path;
  size_t n = r->path_len;
  char *start = d;
  size_t i = 0;
  if(!n) {
    *d++ = '/';
    return d;
  }
  if(!r->normalize) {
    if(r->double_encode)
      return put_encoded(d, p, n, 1);
    memcpy(d, p, n);
    return d + n;
  }
  while(i < n) {
    size_t j = i;
    while(j < n && p[j] != '/')
      j++;
    if(j - i == 2 && p[i] == '.' && p[i + 1] == '.') {
      while(d > start && d[-1] != '/')
        d--;
      if(d > start)
        d--;
    }
    else if(j > i && !(j - i == 1 && p[i] == '.')) {
      *d++ = '/';
      if(r->double_encode)
        d = put_encoded(d, p + i, j - i, 0);
      else {
        memcpy(d, p + i, j - i);
        d += j - i;
      }
    }
    i = j + 1;
  }
  if(d == start || p[n - 1] == '/')
    *d++ = '/';
  return d;
}

/* The canonical query; writes at most 4 * query_len bytes. */
static int put_query(char **dp, const struct sigv4_request *r)
{
  struct qparam stackq[STACK_PARAMS];
  struct qparam *q = stackq;
  char stackbuf[512];
  char *sc = stackbuf, *w;
  const char *p = r->query;
  size_t n = r->query ? r->query_len : 0;
  size_t count = 1, nq = 0, i;
  char *d = *dp;
  int rc = SIGV4_ERR_NOMEM;

  if(!n)
    return SIGV4_OK;
  for(i = 0; i < n; i++)
    count += (p[i] == '&');
  if(count > STACK_PARAMS) {
    if(count > ((size_t)-1) / sizeof(*q))
      goto done;
    q = malloc(count * sizeof(*q));
    if(!q)
      goto done;
  }
  /* check_request capped query_len at SIZE_MAX / 8: 3 * n cannot wrap */
  if(3 * n > sizeof(stackbuf)) {
    sc = malloc(3 * n);
    if(!sc)
      goto done;
  }
  /* encode every key and value first: the sort is on encoded forms */
  w = sc;
  i = 0;
  while(i < n) {
    size_t j = i, eq;
    while(j < n && p[j] != '&')
      j++;
    if(j > i) {
      eq = i;
      while(eq < j && p[eq] != '=')
        eq++;
      q[nq].key = w;
      w = put_reencoded(w, (const unsigned char *)p + i, eq - i);
      q[nq].key_len = (size_t)(w - q[nq].key);
      q[nq].val = w;
      if(eq < j)
        w = put_reencoded(w, (const unsigned char *)p + eq + 1, j - eq - 1);
      q[nq].val_len = (size_t)(w - q[nq].val);
      nq++;
    }
    i = j + 1;
  }
  if(nq > 1)
    qsort(q, nq, sizeof(*q), qparam_cmp);
  for(i = 0; i < nq; i++) {
    if(i)
      *d++ = '&';
    memcpy(d, q[i].key, q[i].key_len);
    d += q[i].key_len;
    *d++ = '=';
    memcpy(d, q[i].val, q[i].val_len);
    d += q[i].val_len;
  }
  *dp = d;
  rc = SIGV4_OK;
done:
  if(q != stackq)
    free(q);
  if(sc != stackbuf)
    free(sc);
  return rc;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian): no gmtime,
** so no TZ and no shared static state. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
  int64_t era, doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put_num(char *p, int v, int digits)
{
  while(digits--) {
    p[digits] = (char)('0' + v % 10);
    v /= 10;
  }
}

static void amz_date(int64_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
  int64_t days = t / 86400;
  int secs = (int)(t % 86400);
  int y, m, d;
  civil_from_days(days, &y, &m, &d);
  put_num(out, y, 4);
  put_num(out + 4, m, 2);
  put_num(out + 6, d, 2);
  out[8] = 'T';
  put_num(out + 9, secs / 3600, 2);
  put_num(out + 11, secs / 60 % 60, 2);
  put_num(out + 13, secs % 60, 2);
  out[15] = 'Z';
  out[16] = '\0';
}

/* Validate everything and measure the strings; also returns in *bound an
** upper limit on canonical request plus string to sign. Header values may
** hold CR and LF (continuation lines fold into one space when signing):
** refusing them on the wire is the transport's job. Only a NUL is refused,
** in value_scan. */
static int check_request(const struct sigv4_request *r,
                         const struct sigv4_credentials *c, struct lens *l,
                         size_t *bound)
{
  size_t i, b = 512;          /* fixed text, x-amz-date, separators, hashes */
  if(!r->method || !r->path || (r->nheaders && !r->headers) ||
     !r->payload_hash || !r->region || !r->service || !c->access_key_id ||
     !c->secret_access_key)
    return 0;
  l->method = strlen(r->method);
  if(!token_ok(r->method, l->method) || !scope_part_ok(r->region, &l->region) ||
     !scope_part_ok(r->service, &l->service) ||
     !scope_part_ok(c->access_key_id, &l->akid))
    return 0;
  l->secret = strlen(c->secret_access_key);
  l->token = c->session_token ? strlen(c->session_token) : 0;
  if(!token_value_ok(c->session_token, l->token))
    return 0;
  if(r->time < 0 || r->time > MAX_TIME)
    return 0;
  l->hash = strlen(r->payload_hash);
  if(l->hash != sizeof(SIGV4_STREAMING_EVENTS) - 1 ||
     memcmp(r->payload_hash, SIGV4_STREAMING_EVENTS, l->hash)) {
    if(l->hash != SIGV4_HEX_LEN)
      return 0;
    for(i = 0; i < SIGV4_HEX_LEN; i++) {
      char ch = r->payload_hash[i];
      if(!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
        return 0;
    }
  }
  for(i = 0; i < r->nheaders; i++) {
    const struct sigv4_header *h = &r->headers[i];
    if(!h->name || !token_ok(h->name, h->name_len))
      return 0;
    if(h->value_len && !h->value)
      return 0;
    /* the signer owns these two: a second copy would be joined in */
    if(name_is(h->name, h->name_len, "x-amz-date", 10) ||
       name_is(h->name, h->name_len, "x-amz-security-token", 20))
      return 0;
    /* "name:value\n" and "name;" */
    if(!add_size(&b, h->name_len) || !add_size(&b, h->name_len) ||
       !add_size(&b, h->value_len) || !add_size(&b, 3))
      return 0;
  }
  if(r->path_len > ((size_t)-1) / 8 ||
     (r->query && r->query_len > ((size_t)-1) / 8))
    return 0;
  if(!add_size(&b, l->method) || !add_size(&b, 3 * r->path_len + 1) ||
     !add_size(&b, r->query ? 4 * r->query_len : 0) ||
     !add_size(&b, 2 * l->token + 64) ||
     !add_size(&b, l->region) || !add_size(&b, l->service))
    return 0;
  *bound = b;
  return 1;
}

int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
               const struct sigv4_credentials *c, unsigned flags,
               struct sigv4_output *out)
{
  char stackbuf[STACK_BUF];
  struct hentry stackh[STACK_HEADERS];
  struct hentry *h = stackh;
  struct lens l;
  char *buf = stackbuf;
  char *d, *cr, *sts, *sh, *scope, *a;
  struct key_slot *slot = NULL;
  unsigned char digest[SHA256_LEN], ih[SHA256_LEN];
  const char *token;
  size_t nh, i, bound = 0, cr_len, sts_len, sh_len, scope_len, alen;
  int rc = SIGV4_ERR_ARG;

  if(!out)
    return SIGV4_ERR_ARG;
  out->authorization = out->canonical_request = out->string_to_sign = NULL;
  out->authorization_len = out->canonical_request_len = 0;
  out->string_to_sign_len = 0;
  out->amz_date[0] = out->signature[0] = '\0';
  if(!s || !r || !c || !check_request(r, c, &l, &bound))
    goto fail;

  rc = SIGV4_ERR_NOMEM;
  if(bound > sizeof(stackbuf)) {
    buf = malloc(bound);
    if(!buf)
      goto fail;
  }
  amz_date(r->time, out->amz_date);
  /* an empty token is no token, as in the AWS SDKs */
  token = l.token ? c->session_token : NULL;

  /* headers in stable order of lowercase name, the signer's own included */
  nh = r->nheaders + 1 + (token != NULL);
  if(nh > STACK_HEADERS) {
    if(nh > ((size_t)-1) / sizeof(*h))
      goto fail;
    h = malloc(nh * sizeof(*h));
    if(!h)
      goto fail;
  }
  for(i = 0; i < r->nheaders; i++) {
    h[i].name = r->headers[i].name;
    h[i].name_len = r->headers[i].name_len;
    h[i].value = r->headers[i].value_len ? r->headers[i].value : "";
    h[i].value_len = r->headers[i].value_len;
    if(!value_scan(h[i].value, h[i].value_len, &h[i].plain) ||
       ((flags & SIGV4_REFUSE_LINE_BREAKS) && !h[i].plain &&
        has_line_break(h[i].value, h[i].value_len))) {
      rc = SIGV4_ERR_ARG;
      goto fail;
    }
  }
  h[i].name = "x-amz-date";
  h[i].name_len = 10;
  h[i].value = out->amz_date;
  h[i].value_len = SIGV4_AMZ_DATE_LEN;
  h[i].plain = 1;
  if(token) {
    i++;
    h[i].name = "x-amz-security-token";
    h[i].name_len = 20;
    h[i].value = token;
    h[i].value_len = l.token;
    value_scan(token, l.token, &h[i].plain);
  }
  for(i = 1; i < nh; i++) {
    struct hentry t = h[i];
    size_t j = i;
    while(j > 0 && name_cmp(&h[j - 1], &t) > 0) {
      h[j] = h[j - 1];
      j--;
    }
    h[j] = t;
  }
  h[0].dup = 0;
  for(i = 1; i < nh; i++)
    h[i].dup = !name_cmp(&h[i - 1], &h[i]);

  /* canonical request; check_request bounded its size */
  cr = d = buf;
  memcpy(d, r->method, l.method);
  d += l.method;
  *d++ = '\n';
  d = put_path(d, r);
  *d++ = '\n';
  rc = put_query(&d, r);
  if(rc)
    goto fail;
  *d++ = '\n';
  for(i = 0; i < nh; i++) {
    if(h[i].dup)
      *d++ = ',';
    else {
      if(i)
        *d++ = '\n';
      d = put_lower(d, h[i].name, h[i].name_len);
      *d++ = ':';
    }
    if(h[i].plain) {
      memcpy(d, h[i].value, h[i].value_len);
      d += h[i].value_len;
    }
    else
      d = put_value(d, h[i].value, h[i].value_len);
  }
  *d++ = '\n';
  *d++ = '\n';
  sh = d;
  for(i = 0; i < nh; i++) {
    if(h[i].dup)
      continue;
    if(i)
      *d++ = ';';
    d = put_lower(d, h[i].name, h[i].name_len);
  }
  sh_len = (size_t)(d - sh);
  *d++ = '\n';
  memcpy(d, r->payload_hash, l.hash);
  d += l.hash;
  cr_len = (size_t)(d - cr);

  rc = SIGV4_ERR_CRYPTO;
  if(!EVP_DigestInit_ex(s->work, s->md, NULL) ||
     !EVP_DigestUpdate(s->work, cr, cr_len) ||
     !EVP_DigestFinal_ex(s->work, digest, NULL))
    goto fail;

  /* string to sign, right after the canonical request */
  sts = d;
  memcpy(d, algorithm, sizeof(algorithm) - 1);
  d += sizeof(algorithm) - 1;
  *d++ = '\n';
  memcpy(d, out->amz_date, SIGV4_AMZ_DATE_LEN);
  d += SIGV4_AMZ_DATE_LEN;
  *d++ = '\n';
  scope = d;
  memcpy(d, out->amz_date, 8);
  d += 8;
  *d++ = '/';
  memcpy(d, r->region, l.region);
  d += l.region;
  *d++ = '/';
  memcpy(d, r->service, l.service);
  d += l.service;
  memcpy(d, "/aws4_request", 13);
  d += 13;
  scope_len = (size_t)(d - scope);
  *d++ = '\n';
  to_hex(digest, SHA256_LEN, d);
  d += SIGV4_HEX_LEN;
  sts_len = (size_t)(d - sts);

  rc = get_slot(s, out->amz_date, r->region, l.region, r->service, l.service,
                c->secret_access_key, l.secret, &slot);
  if(rc)
    goto fail;
  /* HMAC from the cached pad states, through one scratch context */
  rc = SIGV4_ERR_CRYPTO;
  if(!EVP_MD_CTX_copy_ex(s->work, slot->inner) ||
     !EVP_DigestUpdate(s->work, sts, sts_len) ||
     !EVP_DigestFinal_ex(s->work, ih, NULL) ||
     !EVP_MD_CTX_copy_ex(s->work, slot->outer) ||
     !EVP_DigestUpdate(s->work, ih, sizeof(ih)) ||
     !EVP_DigestFinal_ex(s->work, digest, NULL))
    goto fail;
  to_hex(digest, SHA256_LEN, out->signature);

  rc = SIGV4_ERR_NOMEM;
  alen = sizeof(algorithm) - 1 + 12 + l.akid + 1 + scope_len + 16 + sh_len +
         12 + SIGV4_HEX_LEN;
  a = malloc(alen + 1);
  if(!a)
    goto fail;
  out->authorization = a;
  out->authorization_len = alen;
  memcpy(a, algorithm, sizeof(algorithm) - 1);
  a += sizeof(algorithm) - 1;
  memcpy(a, " Credential=", 12);
  a += 12;
  memcpy(a, c->access_key_id, l.akid);
  a += l.akid;
  *a++ = '/';
  memcpy(a, scope, scope_len);
  a += scope_len;
  memcpy(a, ", SignedHeaders=", 16);
  a += 16;
  memcpy(a, sh, sh_len);
  a += sh_len;
  memcpy(a, ", Signature=", 12);
  a += 12;
  memcpy(a, out->signature, SIGV4_HEX_LEN + 1);

  if(flags & SIGV4_KEEP_INTERMEDIATE) {
    out->canonical_request = malloc(cr_len + 1);
    out->string_to_sign = malloc(sts_len + 1);
    if(!out->canonical_request || !out->string_to_sign)
      goto fail;
    memcpy(out->canonical_request, cr, cr_len);
    out->canonical_request[cr_len] = '\0';
    out->canonical_request_len = cr_len;
    memcpy(out->string_to_sign, sts, sts_len);
    out->string_to_sign[sts_len] = '\0';
    out->string_to_sign_len = sts_len;
  }
  rc = SIGV4_OK;
  goto done;

fail:
  sigv4_output_free(out);
done:
  OPENSSL_cleanse(ih, sizeof(ih));
  if(h != stackh)
    free(h);
  if(buf != stackbuf)
    free(buf);
  return rc;
}

void sigv4_output_free(struct sigv4_output *out)
{
  if(!out)
    return;
  free(out->authorization);
  free(out->canonical_request);
  free(out->string_to_sign);
  memset(out, 0, sizeof(*out));
}

/* No signer here, so no fetched digest to reuse: EVP_sha256() costs an
** implicit provider lookup per call (about 0.2 us), which is still cheaper
** than keeping process-wide state that nothing could ever free. */
int sigv4_sha256_hex(const void *data, size_t len,
                     char out[SIGV4_HEX_LEN + 1])
{
  unsigned char md[SHA256_LEN];
  if(!out || (!data && len))
    return SIGV4_ERR_CRYPTO;
  if(!EVP_Digest(data ? data : "", len, md, NULL, EVP_sha256(), NULL))
    return SIGV4_ERR_CRYPTO;
  to_hex(md, SHA256_LEN, out);
  return SIGV4_OK;
}

int sigv4_payload_hash(struct sigv4_signer *s, const void *data, size_t len,
                       char out[SIGV4_HEX_LEN + 1])
{
  unsigned char md[SHA256_LEN];
  if(!s || !out || (!data && len))
    return SIGV4_ERR_CRYPTO;
  if(!EVP_DigestInit_ex(s->work, s->md, NULL) ||
     !EVP_DigestUpdate(s->work, data ? data : "", len) ||
     !EVP_DigestFinal_ex(s->work, md, NULL))
    return SIGV4_ERR_CRYPTO;
  to_hex(md, SHA256_LEN, out);
  return SIGV4_OK;
}

/* ---- event-stream input envelopes ------------------------------------- */

void sigv4_event_date_header(int64_t time, unsigned char out[15])
{
  uint64_t ms = (uint64_t)time * 1000u;
  int i;
  out[0] = 5;
  memcpy(out + 1, ":date", 5);
  out[6] = 8;                       /* timestamp */
  for(i = 0; i < 8; i++)
    out[7 + i] = (unsigned char)(ms >> (56 - 8 * i));
}

static int digest_hex(struct sigv4_signer *s, const void *p, size_t n,
                      char *out)
{
  unsigned char md[SHA256_LEN];
  if(!EVP_DigestInit_ex(s->work, s->md, NULL) ||
     !EVP_DigestUpdate(s->work, n ? p : "", n) ||
     !EVP_DigestFinal_ex(s->work, md, NULL))
    return 0;
  to_hex(md, SHA256_LEN, out);
  return 1;
}

int sigv4_sign_event(struct sigv4_signer *s, const struct sigv4_event *ev,
                     unsigned char signature[SHA256_LEN],
                     char signature_hex[SIGV4_HEX_LEN + 1], char *sts_out)
{
  static const char head[] = "AWS4-HMAC-SHA256-PAYLOAD\n";
  char sts[SIGV4_EVENT_STS_MAX];
  char date[SIGV4_AMZ_DATE_LEN + 1];
  unsigned char dh[15], ih[SHA256_LEN];
  size_t rlen, slen, klen, i, n;
  struct key_slot *slot;
  char *d = sts;
  int rc;

  if(!s || !ev || !ev->prior_signature || !ev->region || !ev->service ||
     !ev->secret_access_key || (!ev->payload && ev->payload_len) ||
     ev->time < 0 || ev->time > MAX_TIME)
    return SIGV4_ERR_ARG;
  if(strlen(ev->prior_signature) != SIGV4_HEX_LEN)
    return SIGV4_ERR_ARG;
  for(i = 0; i < SIGV4_HEX_LEN; i++)
    if(!strchr(hexdig, ev->prior_signature[i]) || !ev->prior_signature[i])
      return SIGV4_ERR_ARG;
  if(!scope_part_ok(ev->region, &rlen) || !scope_part_ok(ev->service, &slen) ||
     rlen > 64 || slen > 64)
    return SIGV4_ERR_ARG;
  klen = strlen(ev->secret_access_key);

  amz_date(ev->time, date);
  n = sizeof(head) - 1;
  memcpy(d, head, n);
  d += n;
  memcpy(d, date, SIGV4_AMZ_DATE_LEN);
  d += SIGV4_AMZ_DATE_LEN;
  *d++ = '\n';
  memcpy(d, date, 8);
  d += 8;
  *d++ = '/';
  memcpy(d, ev->region, rlen);
  d += rlen;
  *d++ = '/';
  memcpy(d, ev->service, slen);
  d += slen;
  memcpy(d, "/aws4_request\n", 14);
  d += 14;
  memcpy(d, ev->prior_signature, SIGV4_HEX_LEN);
  d += SIGV4_HEX_LEN;
  *d++ = '\n';
  sigv4_event_date_header(ev->time, dh);
  if(!digest_hex(s, dh, sizeof(dh), d))
    return SIGV4_ERR_CRYPTO;
  d += SIGV4_HEX_LEN;
  *d++ = '\n';
  if(!digest_hex(s, ev->payload, ev->payload_len, d))
    return SIGV4_ERR_CRYPTO;
  d += SIGV4_HEX_LEN;
  n = (size_t)(d - sts);

  rc = get_slot(s, date, ev->region, rlen, ev->service, slen,
                ev->secret_access_key, klen, &slot);
  if(rc)
    return rc;
  rc = SIGV4_ERR_CRYPTO;
  if(!EVP_MD_CTX_copy_ex(s->work, slot->inner) ||
     !EVP_DigestUpdate(s->work, sts, n) ||
     !EVP_DigestFinal_ex(s->work, ih, NULL) ||
     !EVP_MD_CTX_copy_ex(s->work, slot->outer) ||
     !EVP_DigestUpdate(s->work, ih, sizeof(ih)) ||
     !EVP_DigestFinal_ex(s->work, signature, NULL))
    goto done;
  to_hex(signature, SHA256_LEN, signature_hex);
  if(sts_out) {
    memcpy(sts_out, sts, n);
    sts_out[n] = '\0';
  }
  rc = SIGV4_OK;
done:
  OPENSSL_cleanse(ih, sizeof(ih));
  return rc;
}

const char *sigv4_strerror(int status)
{
  switch(status) {
  case SIGV4_OK:
    return "no error";
  case SIGV4_ERR_NOMEM:
    return "out of memory";
  case SIGV4_ERR_ARG:
    return "invalid signing input";
  case SIGV4_ERR_CRYPTO:
    return "crypto library failure";
  default:
    return "unknown sigv4 error";
  }
}
