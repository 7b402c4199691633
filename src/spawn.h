/* A child process run through /bin/sh -c, read without blocking: what
** credential_process needs so an async client's other tasks go on while the
** command runs. POSIX only; no Lua here. */
#ifndef BEDROCK_SPAWN_H
#define BEDROCK_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define SPAWN_MAX_STDOUT (1u << 20)   /* more is an error (SPAWN_TOO_MUCH) */
#define SPAWN_MAX_STDERR (64u * 1024u) /* more is dropped (with SPAWN_STDIN: the oldest) */
#define SPAWN_MAX_PENDING (16u << 20) /* with SPAWN_STDIN: unread stdout beyond this is an error */

/* spawn_shell flags */
#define SPAWN_STDIN 1   /* stdin on a socket we write to (spawn_write), not /dev/null */

struct spawn_buf {
  char *p;
  size_t len, cap;
};

struct spawn_proc {
  pid_t pid;                  /* 0 once reaped */
  int out_fd, err_fd;         /* -1 once at EOF */
  int in_fd;                  /* our end of the child's stdin; -1 without SPAWN_STDIN or once closed */
  size_t out_max;             /* the stdout cap (SPAWN_MAX_STDOUT, or SPAWN_MAX_PENDING) */
  struct spawn_buf out, err;
  int exited;                 /* reaped: how and code are set */
  int signaled;               /* ended by a signal (code is its number) */
  int code;
  int too_much;               /* stdout passed SPAWN_MAX_STDOUT */
};

enum spawn_state { SPAWN_RUNNING = 0, SPAWN_EXITED = 1, SPAWN_ERROR = -1 };

/* Start /bin/sh -c command in its own process group, with stdin from
** /dev/null, or (flags SPAWN_STDIN) on a socket written with spawn_write. 0,
** or -1 with err filled. */
int spawn_shell(const char *command, int flags, struct spawn_proc *p, char *err, size_t errlen);

/* Write to the child's stdin without blocking: the bytes taken (0 when the
** socket is full), or -1 (errno set; EPIPE once the child closed it). A
** write to a child that has gone never raises SIGPIPE. */
long spawn_write(struct spawn_proc *p, const char *buf, size_t len);

/* Close our end of stdin (the child reads EOF). */
void spawn_close_stdin(struct spawn_proc *p);

/* The length of the first complete line in the stdout buffer, with its
** newline, or 0; spawn_consume drops n bytes from the buffer's front. */
size_t spawn_line_len(const struct spawn_proc *p);
void spawn_consume(struct spawn_proc *p, size_t n);

/* Read what the pipes hold, waiting up to timeout_ms (0: not at all) for
** output or the end. SPAWN_EXITED once the process was reaped and both
** pipes are at EOF. */
enum spawn_state spawn_poll(struct spawn_proc *p, int timeout_ms);

/* SIGKILL the process group (a timeout). */
void spawn_kill(struct spawn_proc *p);

/* Kill if still running, reap, close the pipes, free the buffers. Safe to
** call twice. */
void spawn_free(struct spawn_proc *p);

#endif
