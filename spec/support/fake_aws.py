#!/usr/bin/env python3
"""Local fakes of the credential endpoints lua-bedrock calls, on 127.0.0.1.

    fake_aws.py [--moto] --port 0 --port-file F [--exit-on-stdin-eof] [--parent-pid PID] [--quiet]

Without --moto: one server that plays
  - EC2 instance metadata (IMDSv2): PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/[role]
  - the container credentials endpoint: GET /container/... (ECS / EKS Pod Identity)
  - the SSO portal: GET /federation/credentials?account_id=..&role_name=.. (GetRoleCredentials)
With --moto: moto's server (STS and the rest), wrapped to log each request.

The command line matches spec/support/emulator.py, so spec/support/emulator.lua launches both.
Control routes (no auth), as the emulator's:
    POST   /__emulator/scenarios   JSON object merged into the behaviour settings (see DEFAULTS)
    DELETE /__emulator/scenarios   reset settings, counters and the request log
    GET    /__emulator/requests    the request log: [{method, path, query, headers, action, issued}]
Python 3 standard library plus werkzeug (moto's own dependency).
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import watch_stdin  # noqa: E402  (the emulator's stdin watcher, one copy)

DEFAULTS = {
    # IMDS
    "imds_token_status": 200,      # 404/403/405: IMDSv1 only; 400: bad request
    "imds_require_token": True,    # GET without a valid token -> 401
    "imds_role": "fake-role",      # None -> 404 (no role attached)
    "imds_delay_ms": 0,            # delay every IMDS reply...
    "imds_delay_count": -1,        # ...but only the first N IMDS requests (-1: all)
    "imds_fail_count": 0,          # the first N IMDS requests answer 500
    "imds_drop_tokens_after": -1,  # after N credential GETs, forget issued tokens (a 401 follows)
    "imds_garbage": False,         # credentials document is not JSON
    # container endpoint
    "container_token": None,       # required Authorization value (None: any)
    "container_status": 200,
    "container_garbage": False,
    # SSO portal
    "sso_token": "fake-sso-access-token",
    # all: expiry of issued credentials, seconds from now; "expire_in_first" for the first issue
    "expire_in": 3600,
    "expire_in_first": None,
    # credentials to hand out in turn (dicts with AccessKeyId, SecretAccessKey, Token); else minted
    "creds": None,
}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Fake:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.settings = dict(DEFAULTS)
        self.log = []
        self.issued = 0
        self.imds_requests = 0
        self.tokens = set()
        self.cred_gets = 0

    def issue(self):
        with self.lock:
            self.issued += 1
            n = self.issued
        s = self.settings
        exp = s["expire_in"]
        if n == 1 and s["expire_in_first"] is not None:
            exp = s["expire_in_first"]
        if s["creds"]:
            c = dict(s["creds"][(n - 1) % len(s["creds"])])
        else:
            c = {"AccessKeyId": "ASIAFAKE%08d" % n, "SecretAccessKey": "fake-secret-%d" % n,
                 "Token": "fake-token-%d" % n}
        c["_exp"] = int(time.time() + exp)
        c["Expiration"] = iso(c["_exp"])
        return c

    # ---- WSGI

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""

        def reply(status, payload, ctype="application/json"):
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload).encode()
            elif isinstance(payload, str):
                payload = payload.encode()
            start_response("%d X" % status, [("Content-Type", ctype), ("Content-Length", str(len(payload)))])
            return [payload]

        if path.startswith("/__emulator/"):
            if path == "/__emulator/scenarios" and method == "POST":
                self.settings.update(json.loads(body or b"{}"))
                return reply(200, {"ok": True})
            if path == "/__emulator/scenarios" and method == "DELETE":
                self.reset()
                return reply(200, {"ok": True})
            if path == "/__emulator/requests" and method == "GET":
                return reply(200, self.log)
            if path == "/__emulator/health":
                return reply(200, "ok", "text/plain")
            return reply(404, {"message": "no control route"})

        entry = {"method": method, "path": path, "query": query, "headers": headers}
        self.log.append(entry)
        if path.startswith("/latest/"):
            return self.imds(method, path, headers, entry, reply)
        if path.startswith("/container"):
            return self.container(headers, entry, reply)
        if path == "/federation/credentials":
            return self.sso(query, headers, entry, reply)
        return reply(404, {"message": "not found"})

    def imds(self, method, path, headers, entry, reply):
        s = self.settings
        with self.lock:
            self.imds_requests += 1
            n = self.imds_requests
        if s["imds_delay_ms"] and (s["imds_delay_count"] < 0 or n <= s["imds_delay_count"]):
            time.sleep(s["imds_delay_ms"] / 1000.0)
        if n <= s["imds_fail_count"]:
            return reply(500, "boom", "text/plain")
        if path == "/latest/api/token":
            if method != "PUT":
                return reply(405, "", "text/plain")
            if s["imds_token_status"] != 200:
                return reply(s["imds_token_status"], "", "text/plain")
            if "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return reply(400, "", "text/plain")
            token = "imds-token-" + uuid.uuid4().hex
            self.tokens.add(token)
            return reply(200, token, "text/plain")
        prefix = "/latest/meta-data/iam/security-credentials/"
        if not path.startswith(prefix) or method != "GET":
            return reply(404, "", "text/plain")
        role = path[len(prefix):]
        if role:
            self.cred_gets += 1
            if 0 <= s["imds_drop_tokens_after"] < self.cred_gets:
                self.tokens.clear()                   # as if the token expired: a 401 follows
                s["imds_drop_tokens_after"] = -1
        if s["imds_require_token"] and s["imds_token_status"] == 200:
            if headers.get("x-aws-ec2-metadata-token") not in self.tokens:
                return reply(401, "", "text/plain")
        if s["imds_role"] is None:
            return reply(404, "", "text/plain")
        if role == "":
            return reply(200, s["imds_role"] + "\n", "text/plain")
        if role != s["imds_role"]:
            return reply(404, "", "text/plain")
        if s["imds_garbage"]:
            return reply(200, "<html>not json", "text/html")
        c = self.issue()
        entry["issued"] = c["AccessKeyId"]
        doc = {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC"}
        doc.update(c)
        del doc["_exp"]
        return reply(200, doc)

    def container(self, headers, entry, reply):
        s = self.settings
        if s["container_token"] is not None and headers.get("authorization") != s["container_token"]:
            return reply(401, {"message": "bad token"})
        if s["container_status"] != 200:
            return reply(s["container_status"], {"message": "failure"})
        if s["container_garbage"]:
            return reply(200, "{garbage", "text/plain")
        c = self.issue()
        entry["issued"] = c["AccessKeyId"]
        del c["_exp"]
        return reply(200, c)

    def sso(self, query, headers, entry, reply):
        s = self.settings
        q = urllib.parse.parse_qs(query)
        if headers.get("x-amz-sso-bearer-token") != s["sso_token"]:
            return reply(401, {"message": "Session token not found or invalid"})
        if not q.get("account_id") or not q.get("role_name"):
            return reply(400, {"message": "missing account_id or role_name"})
        c = self.issue()
        entry["issued"] = c["AccessKeyId"]
        entry["account_id"], entry["role_name"] = q["account_id"][0], q["role_name"][0]
        exp_ms = c["_exp"] * 1000
        return reply(200, {"roleCredentials": {"accessKeyId": c["AccessKeyId"],
                                               "secretAccessKey": c["SecretAccessKey"],
                                               "sessionToken": c["Token"], "expiration": exp_ms}})


class Logged:
    """moto's WSGI app, with a request log at /__emulator/requests."""

    def __init__(self, app):
        self.app = app
        self.log = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__emulator/"):
            if environ["REQUEST_METHOD"] == "DELETE":
                self.log = []
            payload = json.dumps(self.log if path == "/__emulator/requests" else {"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        import io
        environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode("latin-1"))
        self.log.append({"method": environ["REQUEST_METHOD"], "path": path,
                         "action": (form.get("Action") or [None])[0],
                         "form": {k: v[0] for k, v in form.items()},
                         "authorization": environ.get("HTTP_AUTHORIZATION"),
                         "security_token": environ.get("HTTP_X_AMZ_SECURITY_TOKEN")})
        return self.app(environ, start_response)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moto", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--parent-pid", type=int)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if os.environ.get("FAKE_AWS_MODE") == "moto":
        args.moto = True
    if args.quiet:
        import logging
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.moto:
        from moto.server import DomainDispatcherApplication, create_backend_app
        app = Logged(DomainDispatcherApplication(create_backend_app))
    else:
        app = Fake()
    if args.moto:
        server = make_server("127.0.0.1", args.port, app, threaded=True)
    else:
        # wsgiref keeps headers with underscores (x-amz-sso_bearer_token); werkzeug drops them
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
        from wsgiref.simple_server import make_server as wsgiref_server

        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        class Handler(WSGIRequestHandler):
            def log_message(self, *a):
                if not args.quiet:
                    super().log_message(*a)

        server = wsgiref_server("127.0.0.1", args.port, app, server_class=Server, handler_class=Handler)
    stop = threading.Event()
    if args.exit_on_stdin_eof:
        watch_stdin(stop.set)
    if args.parent_pid:
        def watch_parent():
            while not stop.wait(0.25):
                try:
                    os.kill(args.parent_pid, 0)
                except ProcessLookupError:
                    stop.set()
                except PermissionError:
                    pass
        threading.Thread(target=watch_parent, daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    if not args.quiet:
        sys.stderr.write("fake listening on http://127.0.0.1:%d\n" % port)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
