#!/usr/bin/env python3
"""Drive a command through a pseudo-terminal, expect-style, for spec/cli_spec.lua.

    python3 pty_drive.py STEPS_JSON -- COMMAND [ARGS...]

STEPS_JSON is a list of steps, run in order:
    {"expect": "text"}     wait until the terminal output since the last expect holds "text"
    {"send": "text"}       write "text" to the terminal (as typed: "\\u0003" is Ctrl-C, "\\u0004" Ctrl-D)
    {"sleep": seconds}
Every expect has TIMEOUT seconds (env PTY_TIMEOUT, default 20). Prints one JSON object on stdout:
{"ok": bool, "failed_step": n | null, "status": exit status (128 + signal when killed) | null,
 "output": everything the command wrote to the terminal}. The command runs as the session leader of
the pty (its foreground process group), so Ctrl-C typed there reaches it as SIGINT, as in a shell.
Python 3 standard library only.
"""
import json
import os
import pty
import select
import signal
import sys
import time


def main():
    steps = json.loads(sys.argv[1])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    timeout = float(os.environ.get("PTY_TIMEOUT", "20"))
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    output = b""
    mark = 0            # expects look at the output after the previous match
    ok, failed = True, None
    status = None

    def read_some(wait):
        nonlocal output
        r, _, _ = select.select([fd], [], [], wait)
        if not r:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:       # EIO: the child's side closed
            return False
        if not data:
            return False
        output += data
        return True

    for i, step in enumerate(steps):
        if "send" in step:
            os.write(fd, step["send"].encode())
        elif "sleep" in step:
            end = time.monotonic() + step["sleep"]
            while time.monotonic() < end and read_some(max(0.0, end - time.monotonic())):
                pass
        elif "expect" in step:
            want = step["expect"].encode()
            end = time.monotonic() + timeout
            alive = True
            while True:
                at = output.find(want, mark)
                if at >= 0:
                    mark = at + len(want)
                    break
                if not alive or time.monotonic() > end:
                    ok, failed = False, i
                    break
                alive = read_some(min(0.2, max(0.0, end - time.monotonic())))
            if not ok:
                break
    # the rest of the output, then the exit status (the command is killed if it lingers)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
            status = 128 - status if status < 0 else status
            break
        read_some(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        ok = False
    while read_some(0.05):
        pass
    os.close(fd)
    json.dump({"ok": ok, "failed_step": failed, "status": status,
               "output": output.decode("utf-8", "replace")}, sys.stdout)


if __name__ == "__main__":
    main()
