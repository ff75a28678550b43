"""A minimal Lockgate rule engine: blocks tool calls that mention a secret project's code name and
redacts e-mail addresses in tool results. Python standard library plus ``standardwebhooks``.

    LOCKGATE_ENGINE_SECRET=whsec_... python rule_engine.py 127.0.0.1 8080
"""

import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

SECRET = os.environ.get("LOCKGATE_ENGINE_SECRET")  # the engine's secret, as given to Lockgate
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def decide(envelope):
    """The verdict on one envelope: {"metadata": {...}, "body": <JSON-RPC message>}."""
    body = envelope["body"]
    if envelope["metadata"]["direction"] == "request":
        if "bluebird" in json.dumps(body["params"]["arguments"]).lower():
            return {"verdict": "block", "reason": "mentions project Bluebird"}
        return {"verdict": "pass"}
    content = body.get("result", {}).get("content", [])
    texts = [item for item in content if item.get("type") == "text"]
    if not any(EMAIL.search(item["text"]) for item in texts):
        return {"verdict": "pass"}
    for item in texts:
        item["text"] = EMAIL.sub("[email]", item["text"])
    return {"verdict": "modify", "reason": "e-mail addresses redacted", "modifiedPayload": {"body": body}}


class Engine(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            if SECRET:  # refuse what Lockgate did not sign (and replays older than 5 minutes)
                Webhook(SECRET).verify(raw, dict(self.headers))
            answer = decide(json.loads(raw))
        except WebhookVerificationError:
            self.send_error(401)
            return
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Engine).serve_forever()
