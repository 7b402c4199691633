/* Name lookups that never block the caller: getaddrinfo on a detached
** thread of its own, its end signalled on a descriptor the caller polls with
** its sockets. Numeric hosts and recent answers (a process-wide cache, 60 s,
** libcurl's default DNS cache time) answer at once, with no thread.
** Link with -pthread. */
#ifndef BEDROCK_RESOLVE_H
#define BEDROCK_RESOLVE_H

#include <stddef.h>
#include <netdb.h>

struct resolve;   /* one lookup */

/* Start looking up host (a name, an IPv4 literal, or an IPv6 literal
** without brackets) for port. Addresses of both families (AF_UNSPEC), in
** getaddrinfo's order, SOCK_STREAM. NULL with a message in err and errno set
** (ENOMEM, EAGAIN for no thread, EMFILE/ENFILE for no descriptor). */
struct resolve *resolve_start(const char *host, int port, char *err, size_t errlen);

/* A descriptor that turns readable when the answer is in; -1 when it is in
** already. Close-on-exec; owned by r. */
int resolve_fd(const struct resolve *r);

/* 1 when the lookup ended (addresses or an error), 0 while it runs. Never
** blocks. */
int resolve_done(struct resolve *r);

/* The addresses (owned by r, valid until resolve_free), or NULL with
** *errmsg set to a readable reason ("could not resolve host
** example.invalid: Name or service not known", owned by r). Only once done. */
const struct addrinfo *resolve_result(struct resolve *r, const char **errmsg);

/* Release r; its descriptor is closed at once (take it out of any poll set
** first). A lookup still running is abandoned: its thread frees what is left
** when getaddrinfo returns. */
void resolve_free(struct resolve *r);

/* The lookup threads not finished yet, abandoned ones included (the tests
** wait for 0 before exiting, so valgrind sees everything freed). */
int resolve_running(void);

/* Forget every cached answer (the tests; a process that knows its DNS
** changed). */
void resolve_cache_clear(void);

#endif
