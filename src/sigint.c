/* sigint.c: SIGINT sets a flag (see sigint.h). Nothing else happens in the
** handler: a flag of type volatile sig_atomic_t is all that is safe there. */
#include "sigint.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t caught;
static struct sigaction saved;   /* the disposition before sigint_catch */
static int installed;

static void on_sigint(int sig)
{
  (void)sig;
  caught = 1;
}

int sigint_catch(void)
{
  struct sigaction sa;
  caught = 0;
  if(installed)
    return 0;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;   /* no SA_RESTART: a blocked poll() or read() returns EINTR */
  if(sigaction(SIGINT, &sa, &saved))
    return -1;
  installed = 1;
  return 0;
}

int sigint_restore(void)
{
  if(!installed)
    return 0;
  if(sigaction(SIGINT, &saved, NULL))
    return -1;
  installed = 0;
  return 0;
}

int sigint_caught(int clear)
{
  int was = caught != 0;
  if(clear)
    caught = 0;
  return was;
}
