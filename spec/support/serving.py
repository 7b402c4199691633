"""What the specs' small test servers (proxy.py, hostile.py, wire.py) share:
telling the spec which port they got, and ending with the spec that started
them. Imported from the servers' own directory (Python puts a script's
directory first on sys.path)."""
import os
import threading
import time


def publish_port(port_file, port):
    """Write the port atomically: the spec polls for the file and must never
    read it half written."""
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, port_file)


def stop_on_stdin_eof(stop):
    """Call stop() once stdin reaches EOF or says "quit" (other children of
    the spec may hold the same pipe open, so EOF alone can come late)."""
    def watch():
        while True:
            data = os.read(0, 4096)
            if not data or b"quit" in data:
                break
        stop()
    threading.Thread(target=watch, daemon=True).start()


def exit_with_parent(pid):
    """Exit once process pid is gone (a spec killed before its teardown)."""
    def orphan():
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except OSError:
                os._exit(0)
    threading.Thread(target=orphan, daemon=True).start()
