/* resolve.c: getaddrinfo off the caller's thread (see resolve.h).
**
** getaddrinfo has no asynchronous form in POSIX, and a lookup through a
** slow or dead name server can take seconds; the engine's loop must go on
** polling its other transfers meanwhile. So a name that is not numeric and
** not cached is looked up on a detached thread of its own, which wakes the
** caller through a descriptor (libcurl's threaded resolver works the same
** way). A lookup the caller gives up on is not cancelled, since
** getaddrinfo cannot be; the thread finishes it and frees what remains.
**
** The answers are kept in one malloc'd block each (addrinfo records, then
** their socket addresses), so a result can be copied into and out of the
** cache and freed the same way whatever produced it. */
/* dladdr (pin_module) */
#define _GNU_SOURCE
#include "resolve.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#define CACHE_TTL_S 60      /* libcurl's default DNS cache timeout */
#define CACHE_SIZE 64
#define MSG_SIZE 320

struct resolve {
  pthread_mutex_t lock;       /* guards the fields below it while a thread runs */
  int fd, wfd;                /* read and write ends (the same descriptor with an eventfd) */
  int has_thread;             /* a thread was started: lock is initialised */
  int running;                /* the thread has not finished: it owns r too */
  int abandoned;              /* resolve_free came first: the thread frees r */
  int done;
  struct addrinfo *ai;        /* one block (copy_list), or NULL */
  int port;
  char msg[MSG_SIZE];
  char host[];                /* the name looked up */
};

struct cache_entry {
  char *host;                 /* NULL: free slot */
  int port;
  time_t expires;             /* on the monotonic clock */
  unsigned long seq;          /* insertion order: the oldest goes first */
  struct addrinfo *ai;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[CACHE_SIZE];
static unsigned long cache_seq;
static int threads_running;   /* under cache_lock */

static time_t now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

/* A copy of list in one block, without canonical names (the client
** connects to addresses; it never shows a canonical name). */
static struct addrinfo *copy_list(const struct addrinfo *list)
{
  const struct addrinfo *a;
  size_t n = 0, i = 0;
  struct addrinfo *out;
  char *addrs;
  for(a = list; a; a = a->ai_next)
    n++;
  if(!n)
    return NULL;
  /* the socket addresses follow the records, each on a sockaddr_storage
  ** boundary (a multiple of the alignment any of them needs) */
  out = malloc(n * sizeof(*out) + n * sizeof(struct sockaddr_storage));
  if(!out)
    return NULL;
  addrs = (char *)(out + n);
  for(a = list; a; a = a->ai_next, i++) {
    struct addrinfo *o = &out[i];
    char *sa = addrs + i * sizeof(struct sockaddr_storage);
    *o = *a;
    o->ai_canonname = NULL;
    memcpy(sa, a->ai_addr, a->ai_addrlen);
    o->ai_addr = (struct sockaddr *)(void *)sa;
    o->ai_next = i + 1 < n ? &out[i + 1] : NULL;
  }
  return out;
}

static void hints_for(struct addrinfo *hints, int flags)
{
  memset(hints, 0, sizeof(*hints));
  hints->ai_family = AF_UNSPEC;
  hints->ai_socktype = SOCK_STREAM;
  hints->ai_protocol = IPPROTO_TCP;
  hints->ai_flags = AI_NUMERICSERV | flags;
}

/* 1 and a copy in *out when host:port is cached and fresh. */
static int cache_get(const char *host, int port, struct addrinfo **out)
{
  int i, hit = 0;
  time_t now = now_s();
  *out = NULL;
  pthread_mutex_lock(&cache_lock);
  for(i = 0; i < CACHE_SIZE; i++) {
    struct cache_entry *e = &cache[i];
    if(e->host && e->port == port && now < e->expires && !strcasecmp(e->host, host)) {
      *out = copy_list(e->ai);
      hit = *out != NULL;
      break;
    }
  }
  pthread_mutex_unlock(&cache_lock);
  return hit;
}

static void entry_clear(struct cache_entry *e)
{
  free(e->host);
  free(e->ai);
  e->host = NULL;
  e->ai = NULL;
}

/* Keep a copy of ai for host:port: in its old slot, else a free one, else
** an expired one, else in place of the oldest. Out of
** memory only means no caching. */
static void cache_put(const char *host, int port, const struct addrinfo *ai)
{
  struct cache_entry *same = NULL, *empty = NULL, *stale = NULL, *first = NULL, *slot;
  time_t now = now_s();
  char *h = strdup(host);
  struct addrinfo *copy = copy_list(ai);
  int i;
  if(!h || !copy) {
    free(h);
    free(copy);
    return;
  }
  pthread_mutex_lock(&cache_lock);
  for(i = 0; i < CACHE_SIZE && !same; i++) {
    struct cache_entry *e = &cache[i];
    if(!e->host) {
      if(!empty)
        empty = e;
    }
    else if(e->port == port && !strcasecmp(e->host, host))
      same = e;
    else if(now >= e->expires) {
      if(!stale)
        stale = e;
    }
    else if(!first || e->seq < first->seq)
      first = e;
  }
  slot = same ? same : empty ? empty : stale ? stale : first;
  entry_clear(slot);
  slot->host = h;
  slot->port = port;
  slot->ai = copy;
  slot->expires = now + CACHE_TTL_S;
  slot->seq = ++cache_seq;
  pthread_mutex_unlock(&cache_lock);
}

void resolve_cache_clear(void)
{
  int i;
  pthread_mutex_lock(&cache_lock);
  for(i = 0; i < CACHE_SIZE; i++)
    entry_clear(&cache[i]);
  pthread_mutex_unlock(&cache_lock);
}

int resolve_running(void)
{
  int n;
  pthread_mutex_lock(&cache_lock);
  n = threads_running;
  pthread_mutex_unlock(&cache_lock);
  return n;
}

static void lookup_failed(struct resolve *r, int rc, int syserr)
{
  const char *why = rc == EAI_SYSTEM ? strerror(syserr) : gai_strerror(rc);
  snprintf(r->msg, sizeof(r->msg), "could not resolve host %s: %s", r->host, why);
}

static void release(struct resolve *r)
{
  if(r->wfd >= 0 && r->wfd != r->fd)
    close(r->wfd);
  if(r->fd >= 0)
    close(r->fd);
  if(r->has_thread)
    pthread_mutex_destroy(&r->lock);
  free(r->ai);
  free(r);
}

static void *lookup_thread(void *arg)
{
  struct resolve *r = arg;
  struct addrinfo hints, *res = NULL, *ai = NULL;
  char service[16];
  int rc, syserr, abandoned;
  hints_for(&hints, 0);
  snprintf(service, sizeof(service), "%d", r->port);
  rc = getaddrinfo(r->host, service, &hints, &res);
  syserr = errno;
  if(rc == 0) {
    ai = copy_list(res);
    freeaddrinfo(res);
    if(ai)
      cache_put(r->host, r->port, ai);
  }
  pthread_mutex_lock(&r->lock);
  abandoned = r->abandoned;
  if(!abandoned) {
    if(rc != 0)
      lookup_failed(r, rc, syserr);
    else if(!ai)
      snprintf(r->msg, sizeof(r->msg), "could not resolve host %s: out of memory", r->host);
    r->ai = ai;
    ai = NULL;
    r->done = 1;
    r->running = 0;
    {
      /* an eventfd takes 8 bytes, a pipe any; the descriptor is
      ** non-blocking and holds one signal, so this cannot block */
      uint64_t one = 1;
      ssize_t w;
      do
        w = write(r->wfd, &one, sizeof(one));
      while(w < 0 && errno == EINTR);
    }
  }
  pthread_mutex_unlock(&r->lock);
  if(abandoned) {
    free(ai);
    release(r);
  }
  pthread_mutex_lock(&cache_lock);
  threads_running--;
  pthread_mutex_unlock(&cache_lock);
  return NULL;
}

static int make_signal_fd(struct resolve *r)
{
#ifdef __linux__
  r->fd = r->wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return r->fd < 0 ? -1 : 0;
#else
  int p[2], i;
  if(pipe(p))
    return -1;
  for(i = 0; i < 2; i++) {
    if(fcntl(p[i], F_SETFD, FD_CLOEXEC) || fcntl(p[i], F_SETFL, O_NONBLOCK)) {
      close(p[0]);
      close(p[1]);
      return -1;
    }
  }
  r->fd = p[0];
  r->wfd = p[1];
  return 0;
#endif
}

/* A lookup thread runs code of the module this file is linked into, and
** may outlive every use of it: Lua's lua_close unloads C modules
** (dlclose), and a thread still in getaddrinfo would then return into
** unmapped code. So before the first thread the module is made
** permanent (RTLD_NODELETE on a handle to itself, never closed). In an
** executable this finds nothing to pin, which is fine. */
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_module(void)
{
  Dl_info info;
  if(dladdr(&threads_running, &info) && info.dli_fname && *info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

/* The thread gets every signal blocked, so a SIGINT reaches the caller's
** thread and interrupts its poll there (sigint.c relies on that). */
static int start_thread(struct resolve *r)
{
  pthread_attr_t attr;
  pthread_t tid;
  sigset_t all, old;
  int rc;
  pthread_once(&pin_once, pin_module);
  if(pthread_attr_init(&attr))
    return EAGAIN;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&tid, &attr, lookup_thread, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return rc;
}

struct resolve *resolve_start(const char *host, int port, char *err, size_t errlen)
{
  size_t hlen = strlen(host);
  struct resolve *r;
  struct addrinfo hints, *res = NULL;
  char service[16];
  int rc;
  /* "[::1]", as a URL spells it, is the address ::1 */
  int bracketed = hlen > 2 && host[0] == '[' && host[hlen - 1] == ']';
  if(bracketed)
    hlen -= 2;
  r = calloc(1, sizeof(*r) + hlen + 1);
  if(!r) {
    snprintf(err, errlen, "out of memory resolving %s", host);
    errno = ENOMEM;
    return NULL;
  }
  memcpy(r->host, host + bracketed, hlen);
  r->host[hlen] = '\0';
  host = r->host;
  r->port = port;
  r->fd = r->wfd = -1;

  /* a literal address: getaddrinfo only parses it, consulting nothing */
  hints_for(&hints, AI_NUMERICHOST);
  snprintf(service, sizeof(service), "%d", port);
  rc = getaddrinfo(host, service, &hints, &res);
  if(rc == 0) {
    r->ai = copy_list(res);
    freeaddrinfo(res);
    if(!r->ai)
      snprintf(r->msg, sizeof(r->msg), "could not resolve host %s: out of memory", host);
    r->done = 1;
    return r;
  }
  if(cache_get(host, port, &r->ai)) {
    r->done = 1;
    return r;
  }

  if(make_signal_fd(r)) {
    int e = errno;
    snprintf(err, errlen, "no descriptor to resolve %s: %s", host, strerror(e));
    free(r);
    errno = e;
    return NULL;
  }
  if(pthread_mutex_init(&r->lock, NULL)) {
    snprintf(err, errlen, "no mutex to resolve %s", host);
    release(r);
    errno = EAGAIN;
    return NULL;
  }
  r->has_thread = 1;
  r->running = 1;
  pthread_mutex_lock(&cache_lock);
  threads_running++;
  pthread_mutex_unlock(&cache_lock);
  rc = start_thread(r);
  if(rc) {
    pthread_mutex_lock(&cache_lock);
    threads_running--;
    pthread_mutex_unlock(&cache_lock);
    snprintf(err, errlen, "no thread to resolve %s: %s", host, strerror(rc));
    release(r);
    errno = rc;
    return NULL;
  }
  return r;
}

int resolve_fd(const struct resolve *r)
{
  return r->fd;
}

int resolve_done(struct resolve *r)
{
  int done;
  if(!r->has_thread)
    return 1;
  pthread_mutex_lock(&r->lock);
  done = r->done;
  pthread_mutex_unlock(&r->lock);
  return done;
}

const struct addrinfo *resolve_result(struct resolve *r, const char **errmsg)
{
  if(!resolve_done(r)) {
    *errmsg = "the lookup has not ended";
    return NULL;
  }
  /* done is final and the thread touches nothing of r after setting it */
  if(!r->ai)
    *errmsg = r->msg;
  return r->ai;
}

void resolve_free(struct resolve *r)
{
  if(!r)
    return;
  if(r->has_thread) {
    int running;
    pthread_mutex_lock(&r->lock);
    running = r->running;
    if(running) {
      /* the caller is done with the descriptor: close it now, under the
      ** lock, so the thread never writes to a number reused since */
      r->abandoned = 1;
      if(r->wfd >= 0 && r->wfd != r->fd)
        close(r->wfd);
      if(r->fd >= 0)
        close(r->fd);
      r->fd = r->wfd = -1;
    }
    pthread_mutex_unlock(&r->lock);
    if(running)
      return;
  }
  release(r);
}
