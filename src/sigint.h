/* sigint.h: Ctrl-C as a flag. A process that wants to end a transfer
** cleanly on SIGINT (the bedrock command) installs a handler that only sets
** a flag and polls the flag between engine pumps. The handler is installed
** without SA_RESTART, so a poll() or read() blocked when the signal arrives
** returns at once (EINTR) instead of waiting for its timeout or its input.
** Process-wide state: there is one SIGINT disposition per process. */
#ifndef BEDROCK_SIGINT_H
#define BEDROCK_SIGINT_H

/* Install the flag handler (idempotent); clears the flag. 0, or -1 (errno). */
int sigint_catch(void);

/* Put back the disposition sigint_catch replaced. 0, or -1 (errno). */
int sigint_restore(void);

/* Whether SIGINT arrived since the last clear; clear != 0 clears it. */
int sigint_caught(int clear);

#endif
