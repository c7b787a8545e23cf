"""Generic pieces of the engine sandboxes: server thread, routing, faults, control endpoints.

Standard library only; nothing here knows an engine. An engine sandbox subclasses
``SandboxServer``, registers its API routes on ``self.router`` and its extra control
routes on ``self.control``, and implements ``dispatch``, ``state`` and
``rate_limited_response``.

Every request that is not a control request (``/_sandbox/...``) is logged in
``requests`` and then passes the fault queue before reaching ``dispatch``.
"""
import base64
import copy
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

CONTROL_PREFIX = "/_sandbox/"
FAULT_KINDS = ("status", "html", "rate_limit", "reset_after_store", "reset_before", "delay", "hook")

# Returned instead of a Response: drop the TCP connection without answering.
RESET = object()


def wall_clock():
    """Epoch seconds, looked up at each call so that freezegun also moves the sandbox."""
    return time.time()


# --------------------------------------------------------------------------- messages


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes = b""
    params: dict = field(default_factory=dict)  # named groups of the matched route

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        """The body decoded as JSON; ``None`` when empty. Raises ``ValueError`` if malformed."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self):
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def basic_auth(self):
        """``(user, password)`` from an HTTP Basic header, or ``None``."""
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def bearer_token(self):
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def log_entry(self):
        """What ``SandboxServer.requests`` keeps: never the Authorization header."""
        try:
            payload = self.json() if self.content_type == "application/json" else None
        except ValueError:
            payload = None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": headers,
            "json": payload,
            "status": None,  # filled in once answered; stays None after a reset
            "at": wall_clock(),  # when it arrived (epoch seconds): benchmarks count calls per window
        }


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)


def json_response(status, payload, headers=None):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def text_response(status, text, content_type="text/plain; charset=utf-8", headers=None):
    return Response(status, text.encode("utf-8"), {"Content-Type": content_type, **(headers or {})})


def html_response(status, title, message=""):
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{t}</title></head>"
        "<body><h1>{t}</h1><p>{m}</p></body></html>"
    ).format(t=_escape_html(title), m=_escape_html(message))
    return text_response(status, page, "text/html; charset=utf-8")


def empty_response(status=204, headers=None):
    return Response(status, b"", dict(headers or {}))


def redirect_response(location, status=302):
    return Response(status, b"", {"Location": location})


def _escape_html(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- routing


@dataclass
class Route:
    method: str
    regex: re.Pattern
    handler: object
    kind: str = ""  # free label the engine sandbox uses to pick its checks


class Router:
    """Method + path patterns; ``{name}`` matches one path segment into ``request.params``."""

    def __init__(self):
        self.routes = []

    def add(self, method, pattern, handler, kind=""):
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}"))
        self.routes.append(Route(method.upper(), re.compile("^" + regex + "$"), handler, kind))

    def match(self, method, path):
        """Return ``(route, params)``; route is ``None`` when nothing matches,
        ``"method_not_allowed"`` when only the method differs."""
        path_matched = False
        for route in self.routes:
            found = route.regex.match(path)
            if not found:
                continue
            path_matched = True
            if route.method == method:
                return route, found.groupdict()
        return ("method_not_allowed" if path_matched else None), {}


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None  # regex searched in the request path
    times: int | None = 1  # None: every matching request, forever
    params: dict = field(default_factory=dict)

    def matches(self, method, path):
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None


# What "a fault on any call" may be (``SandboxServer.set_chaos``): the failures every engine sees.
CHAOS_FAULTS = (
    ("status", {"status": 500}),
    ("status", {"status": 503}),
    ("html", {"status": 502, "title": "Bad Gateway"}),
    ("rate_limit", {"reset": 1}),
    ("reset_before", {}),
    ("reset_after_store", {}),
)


class Chaos:
    """Faults on a share of all calls, drawn from a seeded generator so that a run can be replayed."""

    def __init__(self, rate, faults=CHAOS_FAULTS, seed=0):
        self.rate = float(rate)
        self.faults = tuple(faults)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.dealt = []  # (kind, method, path) of every fault dealt

    def draw(self, method, path):
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind, params = self._random.choice(self.faults)
            self.dealt.append((kind, method, path))
        return Fault(kind, method, path, 1, dict(params))


class FaultQueue:
    """Faults in injection order; the first one matching a request is consumed."""

    def __init__(self):
        self._faults = []
        self._lock = threading.Lock()

    def add(self, fault):
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(fault)

    def take(self, method, path):
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self):
        with self._lock:
            self._faults.clear()

    def pending(self):
        with self._lock:
            return [(f.kind, f.method, f.path, f.times) for f in self._faults]


# --------------------------------------------------------------------------- server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EngineSandbox/1.0"
    # Headers and body are written separately: without TCP_NODELAY the body waits for the
    # client's delayed ACK (about 40 ms per call on loopback), which real servers do not do.
    disable_nagle_algorithm = True
    timeout = 60  # an idle keep-alive connection is closed after this

    def do_GET(self):
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def _handle(self):
        request = self._read_request()
        outcome = self.server.sandbox.handle(request)
        if outcome is RESET:
            self._reset_connection()
            return
        try:
            self._write(outcome)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (its read timeout) before the answer: as on a real
            # server, the answer is simply lost.
            self.close_connection = True

    def _read_request(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return Request(self.command, parts.path, query, self.headers, body)

    def _write(self, response):
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(response.body)

    def _reset_connection(self):
        """Close with SO_LINGER 0, so the peer gets a TCP RST and no HTTP answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.rfile.close()  # drops the last reference to the socket: the real close happens here


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, sandbox):
        self.sandbox = sandbox
        self.open_connections = set()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self):
        """Keep-alive connections would otherwise go on being served after ``stop()``."""
        for connection in list(self.open_connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SandboxServer:
    """A local HTTP server in a daemon thread, with a fault queue and a request log."""

    def __init__(self, host="127.0.0.1", port=0, time_scale=1.0):
        self.host = host
        self.port = port
        self.time_scale = float(time_scale)
        self.clock = wall_clock
        self.requests = []
        self.faults = FaultQueue()
        self.chaos = None  # Chaos: faults on a share of every call
        self.router = Router()
        self.control = Router()
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._register_generic_control_routes()

    # ---- lifecycle

    def start(self):
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_open_connections()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reset(self):
        """Forget faults and the request log; engine sandboxes extend this."""
        self.faults.clear()
        self.chaos = None
        with self._lock:
            self.requests.clear()

    def set_chaos(self, rate, faults=CHAOS_FAULTS, seed=0):
        """From now on, a fault on about ``rate`` of all calls (0 stops it); the ``Chaos`` is returned."""
        self.chaos = Chaos(rate, faults, seed) if rate else None
        return self.chaos

    # ---- faults

    def inject(self, kind, *, method=None, path=None, times=1, **params):
        """Queue a fault for the next ``times`` requests matching ``method`` and ``path``."""
        self.faults.add(Fault(kind, method, path, times, params))

    def scaled(self, seconds):
        return seconds * self.time_scale

    # ---- to implement

    def dispatch(self, request):
        raise NotImplementedError

    def state(self, slug):
        raise NotImplementedError

    def rate_limited_response(self, request, reset_seconds):
        return json_response(429, {"error": "too_many_requests"}, {"Retry-After": str(reset_seconds)})

    # ---- the request pipeline

    def handle(self, request):
        if request.path.startswith(CONTROL_PREFIX):
            return self._safely(self._dispatch_control, request)
        entry = request.log_entry()
        with self._lock:
            self.requests.append(entry)
        outcome = self._handle_with_faults(request, entry)
        entry["status"] = None if outcome is RESET else outcome.status
        return outcome

    def _handle_with_faults(self, request, entry):
        fault = self.faults.take(request.method, request.path)
        if fault is None and self.chaos is not None:
            fault = self.chaos.draw(request.method, request.path)
        if fault is None:
            return self._safely(self.dispatch, request)
        early = self._safely(lambda _: self._fault_answer(fault, request, entry), request)  # a hook may raise
        if early is not None:
            return early
        response = self._safely(self.dispatch, request)
        return RESET if fault.kind == "reset_after_store" else response

    def _fault_answer(self, fault, request, entry):
        """The answer a fault gives instead of processing, or ``None`` to process normally."""
        params = fault.params
        if fault.kind == "reset_before":
            return RESET
        if fault.kind == "status":
            return _injected_status(params.get("status", 500), params.get("body"))
        if fault.kind == "html":
            return html_response(params.get("status", 200), params.get("title", "Údržba"), params.get("message", ""))
        if fault.kind == "rate_limit":
            return self.rate_limited_response(request, params.get("reset", 30))
        if fault.kind == "delay":
            time.sleep(float(params.get("seconds", 1)))
        elif fault.kind == "hook":
            params["callback"](copy.deepcopy(entry))
        return None

    def _safely(self, handler, request):
        try:
            return handler(request)
        except Exception:  # a sandbox bug must show as a 500, not kill the connection
            traceback.print_exc(file=sys.stderr)
            return json_response(500, {"error": "sandbox_error", "error_description": traceback.format_exc(limit=3)})

    # ---- control endpoints

    def _dispatch_control(self, request):
        route, params = self.control.match(request.method, request.path)
        if route is None or route == "method_not_allowed":
            return json_response(404, {"error": "not_found", "error_description": request.path})
        request.params = params
        try:
            payload = request.json() or {}
        except ValueError:
            return json_response(400, {"error": "invalid_json"})
        try:
            return route.handler(request, payload)
        except (KeyError, TypeError, ValueError) as error:
            return json_response(400, {"error": "invalid_request", "error_description": repr(error)})

    def _register_generic_control_routes(self):
        self.control.add("GET", "/_sandbox/state", self._control_state)
        self.control.add("POST", "/_sandbox/reset", self._control_reset)
        self.control.add("POST", "/_sandbox/faults", self._control_faults)
        self.control.add("GET", "/_sandbox/faults", lambda request, payload: json_response(200, self.faults.pending()))
        self.control.add("GET", "/_sandbox/requests", self._control_requests)

    def _control_state(self, request, payload):
        slug = request.query.get("slug")
        try:
            return json_response(200, self.state(slug))
        except KeyError:
            return json_response(404, {"error": "not_found", "error_description": f"unknown account {slug!r}"})

    def _control_reset(self, request, payload):
        self.reset()
        return json_response(200, {})

    def _control_faults(self, request, payload):
        payload = dict(payload)
        kind = payload.pop("kind")
        if kind == "hook":
            return json_response(400, {"error": "invalid_request", "error_description": "hook faults need Python"})
        self.inject(kind, method=payload.pop("method", None), path=payload.pop("path", None),
                    times=payload.pop("times", 1), **payload)
        return json_response(201, {"kind": kind})

    def _control_requests(self, request, payload):
        with self._lock:
            return json_response(200, copy.deepcopy(self.requests))


def _injected_status(status, body):
    if body is None:
        return text_response(status, f"Injected HTTP {status}")
    if isinstance(body, (dict, list)):
        return json_response(status, body)
    return text_response(status, str(body))


def format_seconds(seconds):
    """Whole seconds (rounded up) from 1 s on; below 1 s a float with millisecond precision.

    Real engines report integers; a sandbox running at a reduced ``time_scale`` has
    sub-second windows, which an integer would round to 0 or overstate as 1.
    """
    if seconds >= 1:
        whole = int(seconds)
        return str(whole if whole == seconds else whole + 1)
    return f"{max(seconds, 0.001):.3f}".rstrip("0").rstrip(".")
