#!/usr/bin/env python3
"""A deliberately broken build of `ztm serve`, for `ztm lab deploy`'s rollback test.

Run as `broken_web.py serve --config FILE` (the way the lab runs ztm): it listens where the
config's [http] section says, answers /healthz and /readyz (so it joins the load balancer's
pool, as a build with a bug in a handler would) and answers every other request 500.
"""
import http.server
import json
import sys
import tomllib


class Broken(http.server.BaseHTTPRequestHandler):
    def answer(self):
        ok = self.path in ("/healthz", "/readyz")
        body = json.dumps(
            {"status": "ready"} if ok else {"error": {"code": "internal", "message": "broken build"}}
        ).encode()
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass


def main():
    config = sys.argv[sys.argv.index("--config") + 1]
    with open(config, "rb") as f:
        http_section = tomllib.load(f).get("http", {})
    server = http.server.ThreadingHTTPServer(
        (http_section.get("address", "127.0.0.1"), int(http_section.get("port", 8080))), Broken
    )
    print(f"broken build listening on {server.server_address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
