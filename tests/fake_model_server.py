"""A real OpenAI-compatible HTTP server on loopback, scripted by the test: it stands in for a
hosted model (the one third party beyond reach) and measures what ftapp sends it."""

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeModelServer:
    """``script`` holds behaviours for the next requests, in order: ``("status", code,
    retry_after)``, ``("hang", seconds)``, ``("echo_auth", code)`` (an error that quotes the
    Authorization header back, as some APIs do with a wrong key), ``("reply", code, payload)`` (that
    JSON, as it is); when it is empty a request is answered. Every answer waits ``delay`` seconds
    first; with a ``gate`` (an Event), every chat completion also waits for it to be set (at most a
    minute). ``GET /models`` lists ``models``, or answers ``models_status`` when that is not 200.
    ``answer``, a function of the request's body, writes the answer's text (by default it quotes the
    last message). ``max_in_flight`` is the most requests seen at once; ``answered`` how many chat
    completions were answered; ``authorizations`` the Authorization headers of the chat completions
    (whose bodies ``requests`` holds), ``listings`` those of the model listings."""

    def __init__(
        self,
        delay: float = 0.0,
        require_key: str | None = None,
        gate: threading.Event | None = None,
        answer: Callable[[dict], str] | None = None,
    ):
        self.delay = delay
        self.require_key = require_key
        self.gate = gate
        self.answer = answer
        self.models_status = 200
        self.answered = 0
        self.script: deque = deque()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict] = []
        self.authorizations: list[str] = []
        self.listings: list[str] = []
        self.models: list = ["fake-model"]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm
                # and delayed ACKs add ~40 ms to every answer.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.listings.append(self.headers.get("Authorization", ""))
                if self.path.endswith("/models") and server.models_status != 200:
                    self._send(server.models_status, {"error": "scripted"})
                elif self.path.endswith("/models"):
                    data = [{"id": m} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": "no"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.requests.append(body)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    step = server.script.popleft() if server.script else None
                try:
                    if server.gate is not None:
                        server.gate.wait(timeout=60)
                    self._answer(body, step)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                        server.answered += 1

            def _answer(self, body, step):
                if server.require_key and self.headers.get("Authorization") != (
                    f"Bearer {server.require_key}"
                ):
                    self._send(401, {"error": "bad key"})
                    return
                if step and step[0] == "status":
                    headers = {"Retry-After": str(step[2])} if step[2] is not None else {}
                    self._send(step[1], {"error": "scripted"}, headers)
                    return
                if step and step[0] == "reply":
                    self._send(step[1], step[2])
                    return
                if step and step[0] == "echo_auth":
                    auth = self.headers.get("Authorization", "")
                    self._send(step[1], {"error": f"Incorrect API key provided: {auth}"})
                    return
                if step and step[0] == "hang":
                    time.sleep(step[1])
                time.sleep(server.delay)
                question = body["messages"][-1]["content"]
                if server.answer is not None:
                    text = server.answer(body)
                else:
                    text = f"Answer to: {question} (seed {body.get('seed')})"
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": len(question.split()), "completion_tokens": 7},
                    },
                )

            def _send(self, code, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
