/*
** test_resolve.c: name lookups off the caller's thread (src/resolve.c):
** literals answered at once, "localhost" through the thread and its
** descriptor, the cache (hits, the port in the key, expiry, the bound),
** failures with a readable message and not cached, and a lookup abandoned
** while its thread runs (run under valgrind: nothing may leak).
**
** Two libc functions are interposed here (the executable's definitions win
** over libc's for calls from resolve.c): getaddrinfo, to hold the lookup of
** "slow.test" until the test lets it go, and clock_gettime, to move the
** monotonic clock past the cache's 60 s.
**
** Usage: test_resolve
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resolve.h"

#include "check.h"

static int gate[2] = { -1, -1 };   /* "slow.test" waits for a byte on gate[0] */
static long skew_s;                /* added to CLOCK_MONOTONIC */

typedef int gai_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef int clock_fn(clockid_t, struct timespec *);

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
  static gai_fn *real;
  if(node && !strcmp(node, "slow.test") && !(hints && (hints->ai_flags & AI_NUMERICHOST))) {
    char c;
    while(read(gate[0], &c, 1) < 0 && errno == EINTR)
      ;
    return EAI_NONAME;
  }
  if(!real)
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
  return real(node, service, hints, res);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
  static clock_fn *real;
  int rc;
  if(!real)
    *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
  rc = real(id, ts);
  if(rc == 0 && id == CLOCK_MONOTONIC)
    ts->tv_sec += skew_s;
  return rc;
}

static int port_of(const struct addrinfo *a)
{
  if(a->ai_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)(const void *)a->ai_addr)->sin_port);
  if(a->ai_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_port);
  return -1;
}

static const char *text_of(const struct addrinfo *a, char *buf, size_t len)
{
  const void *p = a->ai_family == AF_INET
    ? (const void *)&((const struct sockaddr_in *)(const void *)a->ai_addr)->sin_addr
    : (const void *)&((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_addr;
  return inet_ntop(a->ai_family, p, buf, (socklen_t)len) ? buf : "?";
}

/* Wait up to ms for r's descriptor; 1 when it turned readable. */
static int wait_fd(struct resolve *r, int ms)
{
  struct pollfd p;
  p.fd = resolve_fd(r);
  p.events = POLLIN;
  p.revents = 0;
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void wait_threads(void)
{
  int i;
  for(i = 0; i < 500 && resolve_running(); i++) {
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  check(resolve_running() == 0, "threads still running: %d", resolve_running());
}

/* host:port answered at once, no descriptor, first address of family */
static void literal(const char *host, int port, int family, const char *want)
{
  char err[256] = "", buf[64];
  const char *msg = NULL;
  const struct addrinfo *a;
  struct resolve *r = resolve_start(host, port, err, sizeof(err));
  check(r != NULL, "%s: %s", host, err);
  if(!r)
    return;
  check(resolve_fd(r) == -1, "%s: a descriptor for a literal", host);
  check(resolve_done(r) == 1, "%s: not done at once", host);
  a = resolve_result(r, &msg);
  check(a != NULL, "%s: no result (%s)", host, msg ? msg : "");
  if(a) {
    check(a->ai_family == family && a->ai_socktype == SOCK_STREAM, "%s: family %d type %d", host,
          a->ai_family, a->ai_socktype);
    check(port_of(a) == port, "%s: port %d", host, port_of(a));
    check(!strcmp(text_of(a, buf, sizeof(buf)), want), "%s: address %s", host, buf);
    check(a->ai_next == NULL, "%s: more than one address", host);
  }
  resolve_free(r);
}

static void test_literals(void)
{
  literal("127.0.0.1", 443, AF_INET, "127.0.0.1");
  literal("::1", 8443, AF_INET6, "::1");
  literal("2001:db8::5", 1, AF_INET6, "2001:db8::5");
  literal("10.1.2.3", 65535, AF_INET, "10.1.2.3");
  literal("[::1]", 443, AF_INET6, "::1");
}

/* Look host:port up; want_thread: through the thread (else from the
** cache). Returns the number of addresses, or -1 on failure (msg copied). */
static int lookup(const char *host, int port, int want_thread, char *msg, size_t msglen)
{
  char err[256] = "";
  const char *why = NULL;
  const struct addrinfo *a, *list;
  int n = 0;
  struct resolve *r = resolve_start(host, port, err, sizeof(err));
  check(r != NULL, "%s:%d: %s", host, port, err);
  if(!r)
    return -1;
  if(want_thread) {
    check(resolve_fd(r) >= 0, "%s:%d: answered at once, want the thread", host, port);
    if(resolve_fd(r) >= 0)
      check(wait_fd(r, 30000), "%s:%d: the descriptor did not turn readable", host, port);
  }
  else
    check(resolve_fd(r) == -1, "%s:%d: went to the thread, want a cache hit", host, port);
  check(resolve_done(r) == 1, "%s:%d: not done", host, port);
  list = resolve_result(r, &why);
  for(a = list; a; a = a->ai_next) {
    n++;
    check(port_of(a) == port, "%s:%d: port %d", host, port, port_of(a));
  }
  if(!list) {
    snprintf(msg, msglen, "%s", why ? why : "(no message)");
    n = -1;
  }
  resolve_free(r);
  return n;
}

static void test_localhost(void)
{
  char msg[320];
  int n;
  resolve_cache_clear();
  n = lookup("localhost", 80, 1, msg, sizeof(msg));
  check(n > 0, "localhost: %s", n < 0 ? msg : "no addresses");
  n = lookup("localhost", 80, 0, msg, sizeof(msg));
  check(n > 0, "localhost from the cache: %s", n < 0 ? msg : "no addresses");
  n = lookup("LocalHost", 80, 0, msg, sizeof(msg));
  check(n > 0, "LocalHost from the cache: %s", n < 0 ? msg : "no addresses");
  /* the port is part of the key */
  n = lookup("localhost", 81, 1, msg, sizeof(msg));
  check(n > 0, "localhost:81: %s", n < 0 ? msg : "no addresses");
  /* 60 s later the answer is asked again */
  skew_s += 61;
  n = lookup("localhost", 80, 1, msg, sizeof(msg));
  check(n > 0, "localhost after expiry: %s", n < 0 ? msg : "no addresses");
  n = lookup("localhost", 80, 0, msg, sizeof(msg));
  check(n > 0, "localhost cached again: %s", n < 0 ? msg : "no addresses");
  wait_threads();
}

static void test_bound(void)
{
  char msg[320];
  int port;
  resolve_cache_clear();
  for(port = 2000; port < 2070; port++)
    lookup("localhost", port, 1, msg, sizeof(msg));
  /* 64 entries: the newest are kept, the six oldest were pushed out */
  check(lookup("localhost", 2069, 0, msg, sizeof(msg)) > 0, "localhost:2069 not cached");
  check(lookup("localhost", 2006, 0, msg, sizeof(msg)) > 0, "localhost:2006 not cached");
  check(lookup("localhost", 2000, 1, msg, sizeof(msg)) > 0, "localhost:2000 still cached");
  wait_threads();
}

static void test_failure(void)
{
  char msg[320] = "";
  int n = lookup("no-such-host.invalid", 443, 1, msg, sizeof(msg));
  check(n == -1, "no-such-host.invalid resolved");
  check(strstr(msg, "could not resolve host no-such-host.invalid: ") == msg && strlen(msg) > 45,
        "message: %s", msg);
  /* failures are not cached */
  n = lookup("no-such-host.invalid", 443, 1, msg, sizeof(msg));
  check(n == -1, "no-such-host.invalid resolved the second time");
  wait_threads();
}

/* "slow.test" is held by the interposed getaddrinfo until a byte arrives
** on the gate: one lookup is freed while its thread waits (the thread must
** free the rest), one is waited for (a readable message). */
static void test_abandon(void)
{
  char err[256] = "";
  const char *msg = NULL;
  struct resolve *r;
  int i;
  check(pipe(gate) == 0, "pipe: %s", strerror(errno));
  for(i = 0; i < 3; i++) {
    r = resolve_start("slow.test", 443, err, sizeof(err));
    check(r != NULL, "slow.test: %s", err);
    if(!r)
      return;
    check(resolve_done(r) == 0, "slow.test done before the gate opened");
    check(!wait_fd(r, 20), "slow.test: the descriptor turned readable before the gate opened");
    resolve_free(r);
  }
  check(resolve_running() == 3, "%d threads running, want 3", resolve_running());

  r = resolve_start("slow.test", 443, err, sizeof(err));
  check(r != NULL, "slow.test: %s", err);
  check(write(gate[1], "xxxx", 4) == 4, "gate: %s", strerror(errno));
  if(r) {
    check(wait_fd(r, 10000), "slow.test: the descriptor did not turn readable");
    check(resolve_done(r) == 1, "slow.test not done");
    check(resolve_result(r, &msg) == NULL, "slow.test resolved");
    check(msg && !strcmp(msg, "could not resolve host slow.test: Name or service not known"),
          "message: %s", msg ? msg : "(none)");
    resolve_free(r);
  }
  wait_threads();
  close(gate[0]);
  close(gate[1]);
}

/* resolve_free(NULL) is a no-op, and freeing right after the start, before
** the thread has even run, is the common abandon path */
static void test_free_at_once(void)
{
  char err[256];
  int i;
  resolve_free(NULL);
  resolve_cache_clear();
  for(i = 0; i < 50; i++) {
    struct resolve *r = resolve_start("localhost", 3000 + i, err, sizeof(err));
    check(r != NULL, "localhost: %s", err);
    resolve_free(r);
  }
  wait_threads();
}

/* no descriptor left: NULL, errno EMFILE and a message; literals and
** cache hits need none */
static void test_emfile(void)
{
  struct rlimit saved, low;
  char err[256] = "";
  struct resolve *r;
  int dup_fd = dup(0);
  if(getrlimit(RLIMIT_NOFILE, &saved) || dup_fd < 0) {
    check(0, "getrlimit or dup: %s", strerror(errno));
    return;
  }
  close(dup_fd);
  resolve_cache_clear();
  low = saved;
  low.rlim_cur = (rlim_t)dup_fd;   /* the lowest free number: no new one */
  if(setrlimit(RLIMIT_NOFILE, &low)) {
    check(0, "setrlimit: %s", strerror(errno));
    return;
  }
  errno = 0;
  r = resolve_start("localhost", 4000, err, sizeof(err));
  check(r == NULL && errno == EMFILE, "EMFILE: %p errno %d", (void *)r, errno);
  check(strstr(err, "localhost") && strstr(err, "Too many open files"), "EMFILE message: %s", err);
  resolve_free(r);
  r = resolve_start("127.0.0.1", 4000, err, sizeof(err));
  check(r != NULL && resolve_fd(r) == -1, "a literal with no descriptor left: %s", err);
  resolve_free(r);
  setrlimit(RLIMIT_NOFILE, &saved);
}

int main(void)
{
  test_literals();
  test_localhost();
  test_bound();
  test_failure();
  test_abandon();
  test_free_at_once();
  test_emfile();
  resolve_cache_clear();
  printf("resolve: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
