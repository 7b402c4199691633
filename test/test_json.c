/*
** test_json.c: the strict JSON parser (src/json.c): accepted texts and what
** the handler is given, refused texts with their status and offset, depth
** limits, numbers at the int64 and double edges, escapes and UTF-8.
**
** Usage: test_json
*/
#include <float.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_canon.h"

#include "check.h"

static struct canon C;

/* text (n bytes) parses and writes back as want */
static void ok_n(const char *text, size_t n, const char *want)
{
  struct json_result r;
  canon_reset(&C);
  json_parse(text, n, &canon_handler, &C, 0, &r);
  check(r.status == JSON_OK && C.out && !strcmp(C.out, want),
        "accept %s: status %d (%s) at %zu, got %s, want %s", text, r.status,
        json_strerror(r.status), r.offset, C.out ? C.out : "(none)", want);
}

static void ok(const char *text, const char *want)
{
  ok_n(text, strlen(text), want);
}

static void bad_n(const char *text, size_t n, int status, size_t offset)
{
  struct json_result r;
  canon_reset(&C);
  json_parse(text, n, &canon_handler, &C, 0, &r);
  check((int)r.status == status && r.offset == offset,
        "refuse %s: got status %d (%s) at %zu, want %d (%s) at %zu", text,
        r.status, json_strerror(r.status), r.offset, status,
        json_strerror(status), offset);
}

static void bad(const char *text, int status, size_t offset)
{
  bad_n(text, strlen(text), status, offset);
}

/* integer callbacks see exactly v, number callbacks exactly d */
static int64_t got_i;
static double got_d;
static int got_kind;

static int rec_int(void *ud, int64_t v)
{
  (void)ud;
  got_i = v;
  got_kind = 1;
  return 0;
}

static int rec_num(void *ud, double v)
{
  (void)ud;
  got_d = v;
  got_kind = 2;
  return 0;
}

static void number_is(const char *text, int kind, int64_t i, double d)
{
  struct json_handler h = canon_handler;
  struct json_result r;
  h.integer = rec_int;
  h.number = rec_num;
  got_kind = 0;
  json_parse(text, strlen(text), &h, &C, 0, &r);
  if(kind == 1)
    check(r.status == JSON_OK && got_kind == 1 && got_i == i,
          "%s: want integer %lld, got kind %d %lld %.17g", text, (long long)i,
          got_kind, (long long)got_i, got_d);
  else
    check(r.status == JSON_OK && got_kind == 2 && memcmp(&got_d, &d, sizeof(d)) == 0,
          "%s: want float %.17g, got kind %d %lld %.17g", text, d, got_kind,
          (long long)got_i, got_d);
}

static void test_values(void)
{
  ok("null", "null");
  ok(" true ", "true");
  ok("\t\r\nfalse\n", "false");
  ok("0", "0");
  ok("-12", "-12");
  ok("\"\"", "\"\"");
  ok("[]", "[]");
  ok("{}", "{}");
  ok("[1, 2 ,3]", "[1,2,3]");
  ok("{\"a\" : 1, \"b\":[true,null,{}], \"c\":{\"d\":\"e\"}}",
     "{\"a\":1,\"b\":[true,null,{}],\"c\":{\"d\":\"e\"}}");
  ok("[[[[]]],[[],{}]]", "[[[[]]],[[],{}]]");
  ok("{\"usage\":{\"inputTokens\":4,\"outputTokens\":12.5}}",
     "{\"usage\":{\"inputTokens\":4,\"outputTokens\":12.5}}");
  ok("{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}");   /* duplicates reach the handler */
}

static void test_strings(void)
{
  ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\u0008\\u000c\\u000a\\u000d\\u0009\"");
  ok("\"\\u0041\\u00e9\\u20AC\"", "\"A\xc3\xa9\xe2\x82\xac\"");
  ok("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");          /* a surrogate pair */
  ok("\"\\uDBFF\\uDFFF\"", "\"\xf4\x8f\xbf\xbf\"");          /* U+10FFFF */
  ok("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  ok("\"\xef\xbf\xbf\"", "\"\xef\xbf\xbf\"");                /* U+FFFF is valid */
  ok_n("\"a\\u0000b\"", 10, "\"a\\u0000b\"");                /* NUL from an escape */
  ok("{\"k\\n\":\"v\"}", "{\"k\\u000a\":\"v\"}");           /* escaped key */
  bad("\"abc", JSON_ERR_EOF, 4);
  bad("\"a\\x\"", JSON_ERR_ESCAPE, 2);
  bad("\"a\\u12G4\"", JSON_ERR_ESCAPE, 2);
  bad("\"a\\u12\"", JSON_ERR_ESCAPE, 2);
  bad("\"\\ude00\"", JSON_ERR_SURROGATE, 1);                 /* a lone low */
  bad("\"\\ud83d\"", JSON_ERR_SURROGATE, 1);                 /* a high, then the end */
  bad("\"\\ud83dx\\ude00\"", JSON_ERR_SURROGATE, 1);
  bad("\"\\ud83d\\u0041\"", JSON_ERR_SURROGATE, 1);          /* a high, then no low */
  bad("\"\\ud83d\\ud83d\"", JSON_ERR_SURROGATE, 1);
  bad("\"\\ud83d", JSON_ERR_EOF, 1);
  bad("\"a\tb\"", JSON_ERR_CONTROL, 2);
  bad_n("\"a\0b\"", 5, JSON_ERR_CONTROL, 2);
  bad("\"\x80\"", JSON_ERR_UTF8, 1);                         /* a lone continuation */
  bad("\"\xc0\xaf\"", JSON_ERR_UTF8, 1);                     /* overlong '/' */
  bad("\"\xc1\xbf\"", JSON_ERR_UTF8, 1);
  bad("\"\xe0\x80\xaf\"", JSON_ERR_UTF8, 1);                 /* overlong, 3 bytes */
  bad("\"\xed\xa0\x80\"", JSON_ERR_UTF8, 1);                 /* an encoded surrogate */
  bad("\"\xf4\x90\x80\x80\"", JSON_ERR_UTF8, 1);             /* past U+10FFFF */
  bad("\"\xf5\x80\x80\x80\"", JSON_ERR_UTF8, 1);
  bad("\"\xff\"", JSON_ERR_UTF8, 1);
  bad("\"\xc3\"", JSON_ERR_UTF8, 1);                         /* cut short */
  bad("\"\xe2\x82\"", JSON_ERR_UTF8, 1);
  bad("'a'", JSON_ERR_SYNTAX, 0);
}

static void test_numbers(void)
{
  number_is("0", 1, 0, 0);
  number_is("4", 1, 4, 0);
  number_is("-4", 1, -4, 0);
  number_is("9223372036854775807", 1, INT64_MAX, 0);
  number_is("-9223372036854775808", 1, INT64_MIN, 0);
  number_is("9223372036854775808", 2, 0, 9223372036854775808.0);
  number_is("-9223372036854775809", 2, 0, -9223372036854775809.0);
  number_is("18446744073709551616", 2, 0, 18446744073709551616.0);
  number_is("123456789012345678901234567890", 2, 0, 1.2345678901234568e29);
  number_is("-0", 2, 0, -0.0);
  number_is("4.0", 2, 0, 4.0);
  number_is("4e0", 2, 0, 4.0);
  number_is("0.1", 2, 0, 0.1);
  number_is("-0.0", 2, 0, -0.0);
  number_is("1.5e3", 2, 0, 1500.0);
  number_is("1E-2", 2, 0, 0.01);
  number_is("1e+2", 2, 0, 100.0);
  number_is("0.000001234", 2, 0, 0.000001234);
  number_is("3.141592653589793", 2, 0, 3.141592653589793);
  number_is("2.2250738585072014e-308", 2, 0, 2.2250738585072014e-308);
  number_is("4.9406564584124654e-324", 2, 0, 4.9406564584124654e-324);
  number_is("1.7976931348623157e308", 2, 0, 1.7976931348623157e308);
  number_is("9007199254740993.0", 2, 0, 9007199254740992.0);   /* ties to even */
  number_is("0.30000000000000004", 2, 0, 0.30000000000000004);
  number_is("1e400", 2, 0, HUGE_VAL);
  number_is("1e-400", 2, 0, 0.0);
  number_is("1.00000000000000000000000000001", 2, 0, 1.0);
  bad("01", JSON_ERR_NUMBER, 1);
  bad("-01", JSON_ERR_NUMBER, 2);
  bad("1.", JSON_ERR_EOF, 2);
  bad("1.e5", JSON_ERR_NUMBER, 2);
  bad(".5", JSON_ERR_SYNTAX, 0);
  bad("-", JSON_ERR_EOF, 1);
  bad("-a", JSON_ERR_NUMBER, 1);
  bad("+1", JSON_ERR_SYNTAX, 0);
  bad("1e", JSON_ERR_EOF, 2);
  bad("1e+", JSON_ERR_EOF, 3);
  bad("1ex", JSON_ERR_NUMBER, 2);
  bad("[1x]", JSON_ERR_SYNTAX, 2);
  bad("NaN", JSON_ERR_SYNTAX, 0);
  bad("Infinity", JSON_ERR_SYNTAX, 0);
  bad("-Infinity", JSON_ERR_NUMBER, 1);
  bad("0x10", JSON_ERR_TRAILING, 1);
  bad("1 2", JSON_ERR_TRAILING, 2);
}

static void test_structure(void)
{
  bad("", JSON_ERR_EMPTY, 0);
  bad("  \n", JSON_ERR_EMPTY, 3);
  bad("[", JSON_ERR_EOF, 1);
  bad("[1", JSON_ERR_EOF, 2);
  bad("[1,", JSON_ERR_EOF, 3);
  bad("[1,]", JSON_ERR_SYNTAX, 3);
  bad("[,1]", JSON_ERR_SYNTAX, 1);
  bad("[1 2]", JSON_ERR_SYNTAX, 3);
  bad("{", JSON_ERR_EOF, 1);
  bad("{\"a\"", JSON_ERR_EOF, 4);
  bad("{\"a\":", JSON_ERR_EOF, 5);
  bad("{\"a\" 1}", JSON_ERR_SYNTAX, 5);
  bad("{\"a\":1,}", JSON_ERR_SYNTAX, 7);
  bad("{a:1}", JSON_ERR_SYNTAX, 1);
  bad("{1:1}", JSON_ERR_SYNTAX, 1);
  bad("{\"a\":1 \"b\":2}", JSON_ERR_SYNTAX, 7);
  bad("[1]]", JSON_ERR_TRAILING, 3);
  bad("{}x", JSON_ERR_TRAILING, 2);
  bad("tru", JSON_ERR_EOF, 3);
  bad("trUe", JSON_ERR_SYNTAX, 0);
  bad("nul", JSON_ERR_EOF, 3);
  bad("nulll", JSON_ERR_TRAILING, 4);
  bad("falsey", JSON_ERR_TRAILING, 5);
  bad("\xef\xbb\xbf{}", JSON_ERR_SYNTAX, 0);                 /* no BOM */
  bad("/* c */ 1", JSON_ERR_SYNTAX, 0);
  bad("[1]\f", JSON_ERR_TRAILING, 3);                        /* \f is not JSON space */
}

static void test_depth(void)
{
  char *deep = malloc(2 * 1001 + 1);
  struct json_result r;
  int i;
  for(i = 0; i < 1000; i++)
    deep[i] = '[';
  for(i = 0; i < 1000; i++)
    deep[1000 + i] = ']';
  canon_reset(&C);
  json_parse(deep, 2000, &canon_handler, &C, 0, &r);
  check(r.status == JSON_OK, "1000 nested arrays parse (status %d)", r.status);
  /* one more is refused, at the bracket that goes too deep */
  memmove(deep + 1, deep, 2000);
  deep[0] = '[';
  deep[2001] = ']';
  canon_reset(&C);
  json_parse(deep, 2002, &canon_handler, &C, 0, &r);
  check(r.status == JSON_ERR_DEPTH && r.offset == 1000,
        "1001 nested arrays refused at byte 1000 (status %d at %zu)", r.status, r.offset);
  canon_reset(&C);
  json_parse("[[{\"a\":[1]}]]", 13, &canon_handler, &C, 3, &r);
  check(r.status == JSON_ERR_DEPTH && r.offset == 7,
        "max_depth 3: the fourth level refused (status %d at %zu)", r.status, r.offset);
  canon_reset(&C);
  json_parse("[[{\"a\":1}]]", 11, &canon_handler, &C, 3, &r);
  check(r.status == JSON_OK, "max_depth 3: three levels parse (status %d)", r.status);
  free(deep);
}

static void test_handler_stop(void)
{
  const char *text = "{\"a\":[1,2,{\"b\":\"c\\n\"}],\"d\":null}";
  struct json_result r;
  int k, stops = 0;
  /* stopping at each callback in turn fails cleanly with JSON_ERR_HANDLER */
  for(k = 1; k < 40; k++) {
    canon_reset(&C);
    C.stop_after = k;
    json_parse(text, strlen(text), &canon_handler, &C, 0, &r);
    if(r.status == JSON_ERR_HANDLER)
      stops++;
    else
      check(r.status == JSON_OK, "stop at %d: status %d", k, r.status);
  }
  C.stop_after = 0;
  check(stops > 5, "the handler stopped the parse %d times", stops);
}

/* The same numbers under a locale whose decimal point is a comma. */
static void test_locale(void)
{
  if(!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
    printf("(no comma locale installed: the locale case is checked under C only)\n");
    number_is("123456789.123456789123", 2, 0, 123456789.12345679);
    return;
  }
  number_is("123456789.123456789123", 2, 0, 123456789.12345679);
  number_is("2.2250738585072014e-308", 2, 0, 2.2250738585072014e-308);
  setlocale(LC_NUMERIC, "C");
}

/* every output parses back to itself */
static void test_round_trip(void)
{
  const char *texts[] = {
    "{\"a\":[1,-2.5,1e300,\"x\\u0001\\\"\"],\"b\":{\"c\":[[]]},\"d\":-0.0}",
    "[0.1,0.2,0.30000000000000004,123456789012345678901]",
    "\"\\ud83d\\ude00 \\u00e9\"",
  };
  size_t i;
  for(i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    struct json_result r;
    char *first;
    canon_reset(&C);
    json_parse(texts[i], strlen(texts[i]), &canon_handler, &C, 0, &r);
    first = strdup(C.out ? C.out : "");
    canon_reset(&C);
    json_parse(first, strlen(first), &canon_handler, &C, 0, &r);
    check(r.status == JSON_OK && !strcmp(first, C.out), "round trip of %s: %s then %s",
          texts[i], first, C.out);
    free(first);
  }
}

int main(void)
{
  test_values();
  test_strings();
  test_numbers();
  test_structure();
  test_depth();
  test_handler_stop();
  test_locale();
  test_round_trip();
  canon_free(&C);
  printf("json: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
