"""gunicorn settings: the gevent worker, one node per worker.

Imported in the master: nothing of the app is imported here (no preload). The per-worker runtime
starts in post_worker_init (after gevent's monkey-patching and the app's import) and stops in
worker_exit, where it hands its rows back gracefully.
"""
import os
import sys

from config.settings import Settings, SettingsError

try:
    _settings = Settings.from_env()
except SettingsError as exc:
    sys.exit(f"greenrow: {exc}")

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "gevent"
worker_connections = 4000
preload_app = False
timeout = 60
graceful_timeout = 30
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
max_requests = 0
control_socket_disable = True  # several instances per machine; gunicornc is not used
accesslog = os.environ.get("GREENROW_ACCESS_LOG") or None
loglevel = _settings.log_level


def on_starting(server):
    if not os.environ.get("DATABASE_URL"):
        from config import embedded_postgres

        os.environ["DATABASE_URL"] = embedded_postgres.start()
        server.log.info("greenrow: embedded PostgreSQL at %s", os.environ["DATABASE_URL"])


def post_worker_init(worker):
    worker.wsgi.extensions["greenrow.node"].start_in_background()


def worker_exit(server, worker):
    node = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("greenrow.node")
    if node is not None:
        node.stop()
