/* A child process run through /bin/sh -c, read without blocking: what
** credential_process needs so an async client's other tasks go on while the
** command runs. POSIX only; no Lua here. */
#ifndef BEDROCK_SPAWN_H
#define BEDROCK_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define SPAWN_MAX_STDOUT (1u << 20)   /* more is an error (SPAWN_TOO_MUCH) */
#define SPAWN_MAX_STDERR (64u * 1024u) /* more is dropped */

struct spawn_buf {
  char *p;
  size_t len, cap;
};

struct spawn_proc {
  pid_t pid;                  /* 0 once reaped */
  int out_fd, err_fd;         /* -1 once at EOF */
  struct spawn_buf out, err;
  int exited;                 /* reaped: how and code are set */
  int signaled;               /* ended by a signal (code is its number) */
  int code;
  int too_much;               /* stdout passed SPAWN_MAX_STDOUT */
};

enum spawn_state { SPAWN_RUNNING = 0, SPAWN_EXITED = 1, SPAWN_ERROR = -1 };

/* Start /bin/sh -c command with stdin from /dev/null, in its own process
** group. 0, or -1 with err filled. */
int spawn_shell(const char *command, struct spawn_proc *p, char *err, size_t errlen);

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
