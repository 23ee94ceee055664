"""The service's HTTP API as the command line calls it: JSON in and out, every failure an exception.

ServiceError is an answer with the API's one error shape (or any other 4xx/5xx); Unreachable is no
answer at all (nothing listens, the name does not resolve, the connection broke or timed out).
Their str() is one line, which is what the command line prints.
"""
import contextlib
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 70.0  # longer than the longest call the API waits for (timeout_ms up to 60,000)
RETRY_INTERVAL_S = 0.5


class ServiceError(Exception):
    """The service answered with an error: HTTP status, stable code, message, and any top-level extras."""

    def __init__(self, status, code, message, extra=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def __str__(self):
        extras = "".join(f", {name} {value}" for name, value in self.extra.items())
        hint = "; --token or GREENROW_TOKEN gives one" if self.status == 401 else ""
        return f"{self.message} ({self.code}, HTTP {self.status}{extras}){hint}"

    @property
    def transient(self):
        """503: nothing was done, and asking again later may work (a node starting, stopping, a database outage)."""
        return self.status == 503


class Unreachable(Exception):
    """No answer from the service at all."""

    transient = True


def normalised_url(url):
    """http://host:port without a trailing slash; a bare host:port gets http://."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def token_from(env):
    """The bearer token to send: GREENROW_TOKEN, else the first of the service's own GREENROW_API_TOKEN
    (so one `export` serves make run and the command line); None when neither is set."""
    if env.get("GREENROW_TOKEN", "").strip():
        return env["GREENROW_TOKEN"].strip()
    tokens = [token.strip() for token in env.get("GREENROW_API_TOKEN", "").split(",") if token.strip()]
    return tokens[0] if tokens else None


class Client:
    def __init__(self, base_url=DEFAULT_URL, token=None, timeout_s=TIMEOUT_S):
        self.base_url = normalised_url(base_url)
        self.token = token
        self.timeout_s = timeout_s

    def get(self, path, **query):
        return self.request("GET", path, None, query)

    def post(self, path, body=None, **query):
        return self.request("POST", path, body, query)

    def delete(self, path):
        return self.request("DELETE", path, None, {})

    def get_patiently(self, path, give_up_s, clock=time.monotonic, sleep=time.sleep, **query):
        """GET, asking again while the failure is transient (503, no answer), for at most give_up_s."""
        deadline = clock() + give_up_s
        while True:
            try:
                return self.get(path, **query)
            except (ServiceError, Unreachable) as exc:
                if not exc.transient or clock() >= deadline:
                    raise
            sleep(RETRY_INTERVAL_S)

    def request(self, method, path, body, query):
        """The JSON body of a 2xx answer, or ServiceError / Unreachable."""
        with self._open(method, path, body, query, "application/json") as (response, url):
            return _json_answer(response, url)

    def events(self, path):
        """(name, data) of a Server-Sent Events stream, as they come, until the service ends it."""
        with self._open("GET", path, None, {}, "text/event-stream") as (response, _):
            name, data = None, []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif not line and data:
                    yield name, json.loads("".join(data))
                    name, data = None, []

    @contextlib.contextmanager
    def _open(self, method, path, body, query, accept):
        query = {name: value for name, value in query.items() if value is not None}
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": accept}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                yield response, url
        except urllib.error.HTTPError as answer:
            raise _service_error(answer) from None
        except urllib.error.URLError as exc:
            raise Unreachable(f"cannot reach the service at {self.base_url}: {_reason(exc.reason)}") from None
        except (socket.timeout, TimeoutError):
            raise Unreachable(f"no answer from the service at {self.base_url} within {self.timeout_s:g} s") from None
        except (ConnectionError, HTTPException) as exc:
            raise Unreachable(f"the connection to {self.base_url} broke: {_reason(exc)}") from None


def _json_answer(response, url):
    raw = response.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise ServiceError(response.status, "not_json", f"the answer from {url} is not JSON: is it greenrow's API?") \
            from None


def _service_error(answer):
    raw = answer.read()
    try:
        body = json.loads(raw)
        error = body["error"]
        extra = {name: value for name, value in body.items() if name != "error"}
        return ServiceError(answer.code, error["code"], error["message"], extra)
    except (ValueError, TypeError, KeyError):
        # not the API's shape: a load balancer's page, a proxy's error
        return ServiceError(answer.code, f"http_{answer.code}", answer.reason or "error")


def _reason(reason):
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is it running? `make run` starts it; --url or GREENROW_URL picks another)"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
