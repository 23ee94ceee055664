"""Who may call the API: bearer tokens (RFC 6750) from the settings.

    GREENROW_API_TOKEN      comma-separated tokens; each opens every endpoint. Unset: the API is open.
    GREENROW_METRICS_TOKEN  comma-separated tokens that open GET /metrics only (for a scraper).

/healthz and /readyz stay open (load balancers and orchestrators probe them without credentials), and
so do the dashboard's page and files (/dashboard, /dashboard/...), which hold no data: the page asks
its user for a token and reads the protected endpoints with it.
Several tokens let an operator rotate one without downtime: add the new one, move the clients, drop
the old one. A presented token is compared with every allowed one in constant time.
"""
import hmac

from flask import request

from service.errors import ApiError

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/dashboard"})
OPEN_PREFIX = "/dashboard/"
METRICS_PATH = "/metrics"
_CHALLENGE = 'Bearer realm="greenrow"'


def init_app(app, settings):
    api_tokens = _encoded(settings.api_tokens)
    metrics_tokens = api_tokens + _encoded(settings.metrics_tokens)

    @app.before_request
    def require_a_token():
        if request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIX):
            return
        allowed = metrics_tokens if request.path == METRICS_PATH else api_tokens
        if allowed:
            _check(request.headers.get("Authorization"), allowed)


def _check(header, allowed):
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "this endpoint needs a token: Authorization: Bearer <token>",
                       headers=[("WWW-Authenticate", _CHALLENGE)])
    presented = token.strip().encode()
    matches = [hmac.compare_digest(presented, candidate) for candidate in allowed]  # all of them, always
    if not any(matches):
        raise ApiError(401, "unauthorized", "the token is not valid for this endpoint",
                       headers=[("WWW-Authenticate", f'{_CHALLENGE}, error="invalid_token"')])


def _encoded(tokens):
    return tuple(token.encode() for token in tokens)
