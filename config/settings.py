"""Settings read once from the environment, validated, and passed down.

Every setting is documented in the README's "Settings" table. A bad value stops the
process at start-up with one line naming the variable, never later.
"""
import os
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting from the environment is missing or out of range."""


def _int(env, name, default, low, high):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be an integer from {low} to {high}, got {value}")
    return value


MIN_TOKEN_LENGTH = 16
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _flag(env, name):
    raw = (env.get(name) or "0").strip()
    if raw not in ("0", "1"):
        raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"


def _tokens(env, name):
    """Comma-separated bearer tokens (several allow rotation); none when unset."""
    tokens = tuple(token.strip() for token in (env.get(name) or "").split(",") if token.strip())
    for token in tokens:
        if len(token) < MIN_TOKEN_LENGTH or any(not (33 <= ord(c) < 127) for c in token):
            raise SettingsError(f"{name} must be comma-separated tokens of at least {MIN_TOKEN_LENGTH} printable"
                                " ASCII characters without spaces (e.g. from `openssl rand -hex 32`)")
    return tokens


@dataclass(frozen=True)
class Settings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # from_env defaults to one per core
    shards: int = 256
    # Few connections per node on purpose: they are an admission limit, not a throughput one. A worker
    # with more statements in flight than that only makes them queue inside PostgreSQL for the cores it
    # shares with the workers, and the tick writers' batches (on their own connections) wait behind
    # them. Seed runs under the bench's HTTP load, four rounds side by side (2026-12-04): tick lateness
    # p99 79-96 ms and makespan 6.68-6.76 s with 3, 87-221 ms and 6.69-6.77 s with 4, 93-154 ms and
    # 6.74-6.89 s with 8, the HTTP load's own latency lower too (README, Performance).
    pool_size: int = 3
    pool_timeout_ms: int = 5000
    statement_timeout_ms: int = 30000
    db_network_timeout_ms: int = 10000
    lease_ttl_ms: int = 5000
    max_restarts: int = 3
    max_seconds: int = 5
    restart_backoff_ms: int = 100
    tick_batch_ms: int = 5
    tick_batch_max: int = 5000
    inbox_max: int = 1000
    max_unfinished_rows: int = 2_000_000
    max_tick_rate: int = 200_000
    log_level: str = "info"
    fault_injection: bool = False
    api_tokens: tuple = ()
    metrics_tokens: tuple = ()
    log_format: str = "text"
    max_event_streams: int = 64
    max_calls_in_flight: int = 1000
    idempotency_ttl_s: int = 86400
    retain_finished_runs_s: int = None  # retention: None keeps finished runs forever

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        log_level = (env.get("LOG_LEVEL") or "info").lower()
        if log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"LOG_LEVEL must be one of debug, info, warning, error, got {log_level!r}")
        log_format = (env.get("LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT must be text or json, got {log_format!r}")
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            host=env.get("HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "PORT", 8000, 0, 65535),
            workers=_int(env, "WORKERS", os.cpu_count() or 1, 1, 64),
            shards=_int(env, "GREENROW_SHARDS", 256, 1, 65536),
            pool_size=_int(env, "GREENROW_POOL_SIZE", 3, 2, 200),
            pool_timeout_ms=_int(env, "GREENROW_POOL_TIMEOUT_MS", 5000, 10, 600000),
            statement_timeout_ms=_int(env, "GREENROW_STATEMENT_TIMEOUT_MS", 30000, 100, 3600000),
            db_network_timeout_ms=_int(env, "GREENROW_DB_NETWORK_TIMEOUT_MS", 10000, 1000, 600000),
            lease_ttl_ms=_int(env, "GREENROW_LEASE_TTL_MS", 5000, 500, 600000),
            max_restarts=_int(env, "GREENROW_MAX_RESTARTS", 3, 0, 1000),
            max_seconds=_int(env, "GREENROW_MAX_SECONDS", 5, 1, 3600),
            restart_backoff_ms=_int(env, "GREENROW_RESTART_BACKOFF_MS", 100, 0, 60000),
            tick_batch_ms=_int(env, "GREENROW_TICK_BATCH_MS", 5, 0, 1000),
            tick_batch_max=_int(env, "GREENROW_TICK_BATCH_MAX", 5000, 1, 100000),
            inbox_max=_int(env, "GREENROW_INBOX_MAX", 1000, 1, 1_000_000),
            max_unfinished_rows=_int(env, "GREENROW_MAX_UNFINISHED_ROWS", 2_000_000, 1, 1_000_000_000),
            max_tick_rate=_int(env, "GREENROW_MAX_TICK_RATE", 200_000, 1, 100_000_000),
            log_level=log_level,
            fault_injection=_flag(env, "GREENROW_FAULT_INJECTION"),
            api_tokens=_tokens(env, "GREENROW_API_TOKEN"),
            metrics_tokens=_tokens(env, "GREENROW_METRICS_TOKEN"),
            log_format=log_format,
            max_event_streams=_int(env, "GREENROW_MAX_EVENT_STREAMS", 64, 0, 10000),
            max_calls_in_flight=_int(env, "GREENROW_MAX_CALLS_IN_FLIGHT", 1000, 0, 100_000),
            idempotency_ttl_s=_int(env, "GREENROW_IDEMPOTENCY_TTL_S", 86400, 1, 30 * 86400),
            retain_finished_runs_s=_int(env, "GREENROW_RETAIN_FINISHED_RUNS_S", None, 1, 3_153_600_000),
        )

    def exposure_warning(self):
        """The start-up warning for an open API listening beyond loopback, or None."""
        if self.api_tokens or self.host in LOOPBACK_HOSTS:
            return None
        return (f"greenrow: WARNING: the API is open to anyone who can reach {self.host}:{self.port}"
                " (GREENROW_API_TOKEN is not set; see the README, Security)")

    def require_database(self):
        if not self.database_url:
            raise SettingsError("DATABASE_URL is not set (make run starts an embedded PostgreSQL and sets it)")
        return self
