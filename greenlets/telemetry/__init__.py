"""A node's telemetry: recorded in place (recorder), read as JSON (stats, GET /stats) and in the
Prometheus format (prometheus, GET /metrics), published once a second (publisher); gevent's hub
watched for blocking and for crashes nobody else logs (hub_watch)."""
from greenlets.telemetry.recorder import Telemetry

__all__ = ["Telemetry"]
