/*
** fuzz_sigv4.c: libFuzzer target for the SigV4 canonicaliser and signer
** (src/sigv4.c).
**
** The input is read as a request description: a flags byte, a time, then
** length-prefixed method, path, query, region, service, access key id,
** secret and session token, then header name/value pairs to the end (see
** the seed writer, fuzz/seeds.py). Every string is its own exact-size heap
** copy, so AddressSanitizer sees any read past it. Checked on every input:
**   - never a crash, a leak or undefined behaviour;
**   - an input the independent validity check below accepts is signed, any
**     other is refused with SIGV4_ERR_ARG and an empty output;
**   - determinism: a second sign with the same (warm) signer, a sign with a
**     fresh signer, and a sign without the intermediates all agree;
**   - the output's shape: X-Amz-Date is the time in UTC; the canonical
**     request has its seven parts, the method first, the path absolute and
**     (normalised) free of empty, "." and ".." segments, the query pairs
**     sorted and percent-encoded, the header names lowercase, sorted, unique
**     and exactly the ones given plus the signer's, the values trimmed and
**     folded; SignedHeaders matches; the string to sign carries the SHA-256
**     of the canonical request; and the signature equals an HMAC chain
**     recomputed here with OpenSSL's one-shot HMAC (not the signer's cached
**     pad states).
*/
#define _GNU_SOURCE               /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sigv4.h"

#define MAX_HDRS 40
#define MAX_TIME 253402300799LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if(!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  abort(); } } while(0)

struct reader {
  const uint8_t *p;
  size_t n;
};

static unsigned rd_byte(struct reader *r)
{
  if(!r->n)
    return 0;
  r->n--;
  return *r->p++;
}

/* A u16-length-prefixed field as an exact-size heap copy (NUL added after
** it, not counted); *len gets its length. */
static char *rd_field(struct reader *r, size_t *len)
{
  size_t n = rd_byte(r) << 8;
  char *s;
  n |= rd_byte(r);
  if(n > r->n)
    n = r->n;
  s = malloc(n + 1);
  CHECK(s);
  memcpy(s, r->p, n);
  s[n] = '\0';
  r->p += n;
  r->n -= n;
  if(len)
    *len = n;
  return s;
}

/* ---- the independent validity check --------------------------------- */

static int is_tchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int tokens_ok(const char *s, size_t n)
{
  size_t i;
  if(!n)
    return 0;
  for(i = 0; i < n; i++)
    if(!is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

static int scope_ok(const char *s)
{
  size_t i;
  for(i = 0; s[i]; i++)
    if((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
       s[i] == '/' || s[i] == ',')
      return 0;
  return i > 0;
}

static int lc_eq(const char *a, size_t n, const char *lc)
{
  size_t i;
  if(n != strlen(lc))
    return 0;
  for(i = 0; i < n; i++) {
    char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
    if(c != lc[i])
      return 0;
  }
  return 1;
}

static int unreserved(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

static int hexup(unsigned char c)
{
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* ---- output checks ---------------------------------------------------- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
  static const char hx[] = "0123456789abcdef";
  size_t i;
  for(i = 0; i < n; i++) {
    out[2 * i] = hx[in[i] >> 4];
    out[2 * i + 1] = hx[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int is_lower_hex(const char *s, size_t n)
{
  size_t i;
  for(i = 0; i < n; i++)
    if(!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* Next line of s (up to '\n' or end): returns its length, advances *pos
** past the newline; -1 when *pos is past the end. */
static long next_line(const char *s, size_t n, size_t *pos, const char **line)
{
  size_t i = *pos;
  if(i > n)
    return -1;
  *line = s + i;
  while(i < n && s[i] != '\n')
    i++;
  *pos = i + 1;
  return (long)(i - (size_t)(*line - s));
}

static int name_cmp_lc(const char *a, size_t an, const char *b, size_t bn)
{
  int c = memcmp(a, b, an < bn ? an : bn);
  if(c)
    return c;
  return an < bn ? -1 : an > bn;
}

struct input {
  unsigned flags;
  int64_t time;
  char *method, *path, *query, *region, *service, *akid, *secret, *token;
  size_t path_len, query_len;
  struct sigv4_header h[MAX_HDRS];
  char *owned[2 * MAX_HDRS];
  size_t nh, nowned;
  char hash[SIGV4_HEX_LEN + 1];
};

static void check_output(const struct input *in, const struct sigv4_request *r,
                         const struct sigv4_output *o)
{
  const char *cr = o->canonical_request, *line, *sh = NULL;
  size_t pos = 0, crn = o->canonical_request_len, i, shn = 0, nnames = 0;
  long ln;
  char date[SIGV4_AMZ_DATE_LEN + 1], hex[65];
  char *scope, *expect;
  size_t cap = strlen(in->region) + strlen(in->service) + strlen(in->akid) +
               o->authorization_len + 256;
  unsigned char md[32], k[32];
  unsigned klen = 0;
  time_t t = (time_t)in->time;
  struct tm tm;
  const char *prev = NULL;
  size_t prevn = 0;
  int newline_path = !r->double_encode && memchr(in->path, '\n', in->path_len);

  /* the date */
  CHECK(gmtime_r(&t, &tm));
  snprintf(date, sizeof(date), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  CHECK(!strcmp(o->amz_date, date));
  CHECK(strlen(o->signature) == SIGV4_HEX_LEN &&
        is_lower_hex(o->signature, SIGV4_HEX_LEN));
  CHECK(cr && o->string_to_sign);
  CHECK(strlen(cr) <= crn);      /* a NUL may come only from a raw path */

  /* canonical request: method, path, query, headers, blank, signed, hash */
  ln = next_line(cr, crn, &pos, &line);
  CHECK(ln == (long)strlen(in->method) && !memcmp(line, in->method, (size_t)ln));
  if(!newline_path) {
    ln = next_line(cr, crn, &pos, &line);
    CHECK(ln >= 1);
    if(r->normalize || !in->path_len || in->path[0] == '/')
      CHECK(line[0] == '/');
    if(r->double_encode) {
      for(i = 0; i < (size_t)ln; i++)
        CHECK(unreserved((unsigned char)line[i]) || line[i] == '/' ||
              (line[i] == '%' && i + 2 < (size_t)ln && hexup((unsigned char)line[i + 1]) &&
               hexup((unsigned char)line[i + 2])));
    }
    if(r->normalize) {
      /* no empty segment but a trailing one; no "." or ".." segments */
      for(i = 0; i + 1 < (size_t)ln; i++)
        CHECK(!(line[i] == '/' && line[i + 1] == '/'));
      for(i = 0; i < (size_t)ln; i++) {
        if(line[i] == '/') {
          size_t j = i + 1;
          while(j < (size_t)ln && line[j] != '/')
            j++;
          CHECK(!(j - i - 1 == 1 && line[i + 1] == '.'));
          CHECK(!(j - i - 1 == 2 && line[i + 1] == '.' && line[i + 2] == '.'));
        }
      }
    }
    /* the query: sorted key=value pairs, percent-encoded */
    ln = next_line(cr, crn, &pos, &line);
    CHECK(ln >= 0);
    {
      /* encoded keys hold no '=', so the first '=' splits key and value */
      const char *q = line, *qe = line + ln, *pk = NULL, *pv = NULL;
      size_t pkn = 0, pvn = 0;
      if(!in->query_len)
        CHECK(ln == 0);
      while(q < qe) {
        const char *amp = memchr(q, '&', (size_t)(qe - q));
        const char *end = amp ? amp : qe;
        const char *eq = memchr(q, '=', (size_t)(end - q));
        int kc;
        CHECK(eq);
        for(i = 0; i < (size_t)(end - q); i++)
          CHECK(unreserved((unsigned char)q[i]) || q + i == eq ||
                (q[i] == '%' && q + i + 2 < end && hexup((unsigned char)q[i + 1]) &&
                 hexup((unsigned char)q[i + 2])));
        if(pk) {
          kc = name_cmp_lc(pk, pkn, q, (size_t)(eq - q));
          CHECK(kc < 0 || (kc == 0 && name_cmp_lc(pv, pvn, eq + 1,
                                                  (size_t)(end - eq - 1)) <= 0));
        }
        pk = q;
        pkn = (size_t)(eq - q);
        pv = eq + 1;
        pvn = (size_t)(end - eq - 1);
        q = amp ? amp + 1 : qe;
      }
    }
    /* headers: lowercase names, strictly ascending, values trimmed */
    for(;;) {
      const char *colon;
      size_t nn;
      ln = next_line(cr, crn, &pos, &line);
      CHECK(ln >= 0);
      if(ln == 0)
        break;
      colon = memchr(line, ':', (size_t)ln);
      CHECK(colon);
      nn = (size_t)(colon - line);
      for(i = 0; i < nn; i++)
        CHECK(is_tchar((unsigned char)line[i]) && !(line[i] >= 'A' && line[i] <= 'Z'));
      if(prev)
        CHECK(name_cmp_lc(prev, prevn, line, nn) < 0);
      prev = line;
      prevn = nn;
      nnames++;
      {
        const char *v = colon + 1, *ve = line + ln;
        if(ve > v) {
          CHECK(*v != ' ' && ve[-1] != ' ');
          for(; v < ve; v++) {
            CHECK(*v != '\t' && *v != '\r' && *v != '\v' && *v != '\f');
            CHECK(!(v[0] == ' ' && v + 1 < ve && v[1] == ' '));
          }
        }
      }
    }
    /* signed headers: the names above, ';'-joined */
    ln = next_line(cr, crn, &pos, &line);
    CHECK(ln > 0);
    sh = line;
    shn = (size_t)ln;
    {
      size_t count = 1;
      for(i = 0; i < shn; i++)
        count += sh[i] == ';';
      CHECK(count == nnames);
    }
    ln = next_line(cr, crn, &pos, &line);
    CHECK(ln == SIGV4_HEX_LEN && !memcmp(line, in->hash, SIGV4_HEX_LEN));
    CHECK(pos == crn + 1);

    /* the names given (lowercased, deduplicated) plus x-amz-date and the
    ** token header are exactly the signed ones */
    {
      size_t want = 0, j;
      for(i = 0; i < in->nh; i++) {
        int seen = 0;
        for(j = 0; j < i && !seen; j++)
          seen = in->h[j].name_len == in->h[i].name_len &&
                 !strncasecmp(in->h[j].name, in->h[i].name, in->h[i].name_len);
        if(!seen)
          want++;
      }
      want += 1 + (in->token && in->token[0]);
      CHECK(want == nnames);
    }
    {
      /* x-amz-date carries the date; the token header iff a token */
      const char *p = memmem(cr, crn, "\nx-amz-date:", 12);
      CHECK(p && !memcmp(p + 12, date, SIGV4_AMZ_DATE_LEN) && p[28] == '\n');
      CHECK((memmem(cr, crn, "\nx-amz-security-token:", 22) != NULL) ==
            (in->token && in->token[0]));
    }
  }

  /* string to sign */
  scope = malloc(cap);
  expect = malloc(cap);
  CHECK(scope && expect);
  snprintf(scope, cap, "%.8s/%s/%s/aws4_request", date, in->region,
           in->service);
  SHA256((const unsigned char *)cr, crn, md);
  to_hex(md, 32, hex);
  snprintf(expect, cap, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, hex);
  CHECK(o->string_to_sign_len == strlen(expect) &&
        !strcmp(o->string_to_sign, expect));

  /* the signature, from a plain HMAC chain */
  {
    size_t sl = strlen(in->secret);
    char *k0 = malloc(sl + 4);
    CHECK(k0);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, in->secret, sl);
    CHECK(HMAC(EVP_sha256(), k0, (int)(sl + 4), (const unsigned char *)date, 8, k, &klen));
    free(k0);
    CHECK(HMAC(EVP_sha256(), k, 32, (const unsigned char *)in->region, strlen(in->region), k, &klen));
    CHECK(HMAC(EVP_sha256(), k, 32, (const unsigned char *)in->service, strlen(in->service), k, &klen));
    CHECK(HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k, &klen));
    CHECK(HMAC(EVP_sha256(), k, 32, (const unsigned char *)expect, strlen(expect), md, &klen));
    to_hex(md, 32, hex);
    CHECK(!strcmp(hex, o->signature));
  }

  /* Authorization */
  if(sh) {
    int n = snprintf(expect, cap,
                     "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%.*s, Signature=%s",
                     in->akid, scope, (int)shn, sh, o->signature);
    CHECK(n > 0 && (size_t)n < cap);
    CHECK(o->authorization_len == (size_t)n && !strcmp(o->authorization, expect));
  }
  CHECK(o->authorization_len == strlen(o->authorization));
  CHECK(!memchr(o->authorization, '\n', o->authorization_len) &&
        !memchr(o->authorization, '\r', o->authorization_len));
  free(scope);
  free(expect);
}

static int valid(const struct input *in)
{
  size_t i, j;
  if(!tokens_ok(in->method, strlen(in->method)) || !scope_ok(in->region) ||
     !scope_ok(in->service) || !scope_ok(in->akid))
    return 0;
  if(in->token)
    for(i = 0; in->token[i]; i++)
      if((unsigned char)in->token[i] < 0x20 || in->token[i] == 0x7f)
        return 0;
  if(in->time < 0 || in->time > MAX_TIME)
    return 0;
  if(!is_lower_hex(in->hash, SIGV4_HEX_LEN))
    return 0;
  for(i = 0; i < in->nh; i++) {
    if(!tokens_ok(in->h[i].name, in->h[i].name_len) ||
       lc_eq(in->h[i].name, in->h[i].name_len, "x-amz-date") ||
       lc_eq(in->h[i].name, in->h[i].name_len, "x-amz-security-token"))
      return 0;
    for(j = 0; j < in->h[i].value_len; j++)
      if(!in->h[i].value[j])
        return 0;
  }
  return 1;
}

static struct sigv4_signer *warm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct reader r = { data, size };
  struct input in;
  struct sigv4_request req;
  struct sigv4_credentials c;
  struct sigv4_output o1, o2, o3, o4;
  struct sigv4_signer *fresh;
  int rc1, rc2, rc3, rc4, ok;
  size_t i;

  if(!warm)
    warm = sigv4_signer_new();       /* kept: its cache spans inputs */
  CHECK(warm);
  memset(&in, 0, sizeof(in));
  in.flags = rd_byte(&r);
  for(i = 0; i < 5; i++)
    in.time = in.time << 8 | rd_byte(&r);
  if(in.flags & 0x40)
    in.time = -in.time;
  in.method = rd_field(&r, NULL);
  in.path = rd_field(&r, &in.path_len);
  in.query = rd_field(&r, &in.query_len);
  in.region = rd_field(&r, NULL);
  in.service = rd_field(&r, NULL);
  in.akid = rd_field(&r, NULL);
  in.secret = rd_field(&r, NULL);
  in.token = rd_field(&r, NULL);
  while(r.n && in.nh < MAX_HDRS) {
    struct sigv4_header *h = &in.h[in.nh++];
    char *name = rd_field(&r, &h->name_len);
    char *value = rd_field(&r, &h->value_len);
    in.owned[in.nowned++] = name;
    in.owned[in.nowned++] = value;
    h->name = name;
    h->value = value;
  }
  if(in.flags & 0x20) {
    /* a payload hash straight from the input (may be malformed) */
    memset(in.hash, 'g', SIGV4_HEX_LEN);
    memcpy(in.hash, in.secret, strlen(in.secret) < SIGV4_HEX_LEN ?
           strlen(in.secret) : SIGV4_HEX_LEN);
  }
  else {
    CHECK(sigv4_sha256_hex(in.path, in.path_len, in.hash) == SIGV4_OK);
  }

  memset(&req, 0, sizeof(req));
  req.method = in.method;
  req.path = in.path;
  req.path_len = in.path_len;
  req.query = (in.flags & 4) ? in.query : NULL;
  req.query_len = (in.flags & 4) ? in.query_len : 0;
  req.headers = in.h;
  req.nheaders = in.nh;
  req.payload_hash = in.hash;
  req.region = in.region;
  req.service = in.service;
  req.time = in.time;
  req.normalize = in.flags & 1;
  req.double_encode = (in.flags >> 1) & 1;
  if(!(in.flags & 4))
    in.query_len = 0;
  c.access_key_id = in.akid;
  c.secret_access_key = in.secret;
  c.session_token = (in.flags & 8) ? in.token : NULL;
  if(!(in.flags & 8)) {
    free(in.token);
    in.token = NULL;
  }

  ok = valid(&in);
  rc1 = sigv4_sign(warm, &req, &c, SIGV4_KEEP_INTERMEDIATE, &o1);
  rc2 = sigv4_sign(warm, &req, &c, SIGV4_KEEP_INTERMEDIATE, &o2);
  fresh = sigv4_signer_new();
  CHECK(fresh);
  rc3 = sigv4_sign(fresh, &req, &c, SIGV4_KEEP_INTERMEDIATE, &o3);
  rc4 = sigv4_sign(fresh, &req, &c, 0, &o4);
  sigv4_signer_free(fresh);

  CHECK(rc1 == (ok ? SIGV4_OK : SIGV4_ERR_ARG));
  CHECK(rc2 == rc1 && rc3 == rc1 && rc4 == rc1);
  if(rc1 == SIGV4_OK) {
    CHECK(!strcmp(o1.signature, o2.signature) && !strcmp(o1.signature, o3.signature) &&
          !strcmp(o1.signature, o4.signature));
    CHECK(!strcmp(o1.authorization, o2.authorization) &&
          !strcmp(o1.authorization, o3.authorization) &&
          !strcmp(o1.authorization, o4.authorization));
    CHECK(o1.canonical_request_len == o3.canonical_request_len &&
          !memcmp(o1.canonical_request, o3.canonical_request, o1.canonical_request_len));
    CHECK(!o4.canonical_request && !o4.string_to_sign);
    check_output(&in, &req, &o1);
  }
  else {
    CHECK(!o1.authorization && !o1.canonical_request && !o1.string_to_sign);
  }
  sigv4_output_free(&o1);
  sigv4_output_free(&o2);
  sigv4_output_free(&o3);
  sigv4_output_free(&o4);
  sigv4_output_free(&o4);            /* idempotent */

  for(i = 0; i < in.nowned; i++)
    free(in.owned[i]);
  free(in.method);
  free(in.path);
  free(in.query);
  free(in.region);
  free(in.service);
  free(in.akid);
  free(in.secret);
  free(in.token);
  return 0;
}
