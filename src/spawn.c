/* spawn.c: /bin/sh -c COMMAND with its stdout and stderr on non-blocking
** pipes, polled by the caller (see spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void close_fd(int *fd)
{
  if(*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* A pipe whose read end (ours) is non-blocking; both ends close on exec,
** the child gets its copy of the write end through dup2. */
static int make_pipe(int fds[2])
{
  if(pipe(fds))
    return -1;
  if(fcntl(fds[0], F_SETFD, FD_CLOEXEC) || fcntl(fds[1], F_SETFD, FD_CLOEXEC) ||
     fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  return 0;
}

/* stdin as a socket pair rather than a pipe: send(MSG_NOSIGNAL) then fails
** with EPIPE when the child has gone instead of killing us with SIGPIPE. */
static int make_stdin(int fds[2])
{
  if(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
    return -1;
  if(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) || shutdown(fds[1], SHUT_WR)) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  return 0;
}

int spawn_shell(const char *command, int flags, struct spawn_proc *p, char *err, size_t errlen)
{
  int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 };
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  char *argv[4];
  int rc;

  memset(p, 0, sizeof(*p));
  p->out_fd = p->err_fd = p->in_fd = -1;
  p->out_max = (flags & SPAWN_STDIN) ? SPAWN_MAX_PENDING : SPAWN_MAX_STDOUT;
  if(make_pipe(out) || make_pipe(errp) || ((flags & SPAWN_STDIN) && make_stdin(in))) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    return -1;
  }
  posix_spawn_file_actions_init(&fa);
  if(in[1] >= 0)
    posix_spawn_file_actions_adddup2(&fa, in[1], 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
  posix_spawnattr_init(&attr);
  /* its own process group, so a timeout kills the command's children too */
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  argv[0] = (char *)"sh";
  argv[1] = (char *)"-c";
  argv[2] = (char *)command;
  argv[3] = NULL;
  rc = posix_spawn(&p->pid, "/bin/sh", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(errp[1]);
  close_fd(&in[1]);
  if(rc) {
    snprintf(err, errlen, "posix_spawn: %s", strerror(rc));
    close(out[0]);
    close(errp[0]);
    close_fd(&in[0]);
    p->pid = 0;
    return -1;
  }
  p->out_fd = out[0];
  p->err_fd = errp[0];
  p->in_fd = in[0];
  return 0;
}

long spawn_write(struct spawn_proc *p, const char *buf, size_t len)
{
  ssize_t n;
  if(p->in_fd < 0) {
    errno = EPIPE;
    return -1;
  }
  do
    n = send(p->in_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while(n < 0 && errno == EINTR);
  if(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  return (long)n;
}

void spawn_close_stdin(struct spawn_proc *p)
{
  close_fd(&p->in_fd);
}

size_t spawn_line_len(const struct spawn_proc *p)
{
  const char *nl = p->out.len ? memchr(p->out.p, '\n', p->out.len) : NULL;
  return nl ? (size_t)(nl - p->out.p) + 1 : 0;
}

void spawn_consume(struct spawn_proc *p, size_t n)
{
  if(n > p->out.len)
    n = p->out.len;
  memmove(p->out.p, p->out.p + n, p->out.len - n);
  p->out.len -= n;
}

/* Drain one pipe into b (up to max; the rest is read and dropped, or with
** tail the oldest bytes are, half of max at a time). */
static void drain(int *fd, struct spawn_buf *b, size_t max, int *over, int tail)
{
  char chunk[4096];
  for(;;) {
    ssize_t n = read(*fd, chunk, sizeof(chunk));
    if(n > 0) {
      size_t keep = (size_t)n;
      if(tail && b->len + keep > max) {
        size_t drop = b->len < max / 2 ? b->len : max / 2;
        memmove(b->p, b->p + drop, b->len - drop);
        b->len -= drop;
      }
      if(b->len + keep > max) {
        keep = max - b->len;
        if(over)
          *over = 1;
      }
      if(keep) {
        if(b->len + keep > b->cap) {
          size_t cap = b->cap ? b->cap * 2 : 4096;
          char *np;
          while(cap < b->len + keep)
            cap *= 2;
          np = realloc(b->p, cap);
          if(!np) {
            if(over)
              *over = 1;
            continue;
          }
          b->p = np;
          b->cap = cap;
        }
        memcpy(b->p + b->len, chunk, keep);
        b->len += keep;
      }
      continue;
    }
    if(n < 0 && errno == EINTR)
      continue;
    if(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    close_fd(fd);   /* EOF, or an error reading: nothing more comes */
    return;
  }
}

static void reap(struct spawn_proc *p, int options)
{
  int status;
  pid_t r;
  if(!p->pid)
    return;
  do
    r = waitpid(p->pid, &status, options);
  while(r < 0 && errno == EINTR);
  if(r == p->pid) {
    p->pid = 0;
    p->exited = 1;
    if(WIFSIGNALED(status)) {
      p->signaled = 1;
      p->code = WTERMSIG(status);
    }
    else
      p->code = WEXITSTATUS(status);
  }
  else if(r < 0) {
    /* not ours to wait for any more (SIGCHLD ignored by the host) */
    p->pid = 0;
    p->exited = 1;
    p->code = -1;
  }
}

enum spawn_state spawn_poll(struct spawn_proc *p, int timeout_ms)
{
  struct pollfd fds[2];
  nfds_t n = 0;
  if(p->out_fd >= 0) {
    fds[n].fd = p->out_fd;
    fds[n].events = POLLIN;
    n++;
  }
  if(p->err_fd >= 0) {
    fds[n].fd = p->err_fd;
    fds[n].events = POLLIN;
    n++;
  }
  if(n) {
    if(poll(fds, n, timeout_ms) < 0 && errno != EINTR)
      return SPAWN_ERROR;
  }
  else if(!p->exited && timeout_ms > 0) {
    /* pipes closed, the process not yet gone: wait a little for it */
    poll(NULL, 0, timeout_ms < 10 ? timeout_ms : 10);
  }
  if(p->out_fd >= 0)
    drain(&p->out_fd, &p->out, p->out_max ? p->out_max : SPAWN_MAX_STDOUT, &p->too_much, 0);
  if(p->err_fd >= 0)
    /* a long-lived child (SPAWN_STDIN) keeps its latest stderr, not its first */
    drain(&p->err_fd, &p->err, SPAWN_MAX_STDERR, NULL, p->out_max == SPAWN_MAX_PENDING);
  if(p->out_fd < 0 && p->err_fd < 0)
    reap(p, WNOHANG);
  return p->exited && p->out_fd < 0 && p->err_fd < 0 ? SPAWN_EXITED : SPAWN_RUNNING;
}

void spawn_kill(struct spawn_proc *p)
{
  if(p->pid > 0)
    kill(-p->pid, SIGKILL);
}

void spawn_free(struct spawn_proc *p)
{
  if(p->pid > 0) {
    spawn_kill(p);
    reap(p, 0);
  }
  close_fd(&p->out_fd);
  close_fd(&p->err_fd);
  close_fd(&p->in_fd);
  free(p->out.p);
  free(p->err.p);
  p->out.p = p->err.p = NULL;
  p->out.len = p->out.cap = p->err.len = p->err.cap = 0;
}
