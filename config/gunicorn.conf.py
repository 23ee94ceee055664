"""gunicorn settings: the gevent worker, one node per worker.

Imported in the master: nothing of the app is imported here (no preload). The per-worker runtime
starts in post_worker_init (after gevent's monkey-patching and the app's import) and stops in
worker_exit, where it hands its rows back gracefully.
"""
import mmap
import os
import sys

from config import metrics_dir
from config.log_setup import gunicorn_json_logconfig
from config.settings import Settings, SettingsError

# The workers allocate with malloc, not pymalloc: after a run, pymalloc keeps every 1 MB arena in which
# a single block is still alive (a run of 100,000 servers: ~25 MB of 120 stay resident), while glibc's
# malloc_trim (greenlets/memory.py) returns every free page. The allocator is chosen when the
# interpreter starts, so the master runs itself again, same pid and arguments, with it set (workers
# fork from the master). Costs about 1 µs of worker CPU per tick and ~10 % more memory per live row
# server. An explicit PYTHONMALLOC (e.g. pymalloc) is left alone.
if "PYTHONMALLOC" not in os.environ:
    os.environ["PYTHONMALLOC"] = "malloc"
    os.execv(sys.executable, sys.orig_argv)

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
if _settings.log_format == "json":
    logconfig_dict = gunicorn_json_logconfig(accesslog, _settings.log_level)


def on_starting(server):
    warning = _settings.exposure_warning()
    if warning:
        server.log.warning(warning)
    metrics_dir.prepare()  # before any worker forks (and imports prometheus_client)
    if not os.environ.get("DATABASE_URL"):
        from config import embedded_postgres

        os.environ["DATABASE_URL"] = embedded_postgres.start()
        server.log.info("greenrow: embedded PostgreSQL at %s", os.environ["DATABASE_URL"])


# A worker accepts requests once its node runs, or after this long if the database is not there
# yet (it then answers 503 until the node starts): a worker still starting does not turn away the
# requests a load balancer sends it once another worker of the instance said it was ready.
NODE_START_WAIT_S = 3.0


def post_worker_init(worker):
    import gevent

    node = worker.wsgi.extensions["greenrow.node"]
    _drain_on_sigterm(worker, node)
    node.start_in_background()
    node.wait_started(NODE_START_WAIT_S)
    gevent.spawn(_end_the_worker_if_refused, worker, node)


# A setting the database contradicts (GREENROW_SHARDS on a database set up with another count) cannot be
# fixed by waiting, so the service stops instead of answering 503 for ever: the worker whose node refused
# to start (its one CRITICAL line says why) writes the reason here and ends; the master, seeing a worker
# end with a reason written, stops the whole service and exits with status 3. Anonymous shared memory,
# made before the workers fork. (A worker exiting with gunicorn's boot-error status would do it too, but
# when two workers do at once the master meets the second while stopping and dies with a traceback.)
_REFUSAL = mmap.mmap(-1, 1024)
REFUSED_EXIT_STATUS = 3


def _end_the_worker_if_refused(worker, node):
    node.wait_started(None)
    if node.refused is not None and worker.alive:
        _REFUSAL[:] = node.refused.encode()[:len(_REFUSAL) - 1].ljust(len(_REFUSAL), b"\0")
        worker.alive = False  # gunicorn's gevent worker loop sees it within a second


def child_exit(server, worker):
    """In the master, after a worker ended: drop its metrics gauges; stop the service if a node refused a
    setting (once: while stopping, the master has no listeners left)."""
    metrics_dir.worker_exited(worker.pid)
    reason = _REFUSAL[:].split(b"\0", 1)[0].decode(errors="replace")
    if reason and server.LISTENERS:
        from gunicorn.errors import HaltServer

        raise HaltServer(reason, REFUSED_EXIT_STATUS)  # logged as "Reason: <reason>"; exits with the status


def _drain_on_sigterm(worker, node):
    """On SIGTERM the node drains at once (503 for new requests and for calls still waiting), so
    gunicorn's graceful stop is not held up by a call waiting out its timeout (up to 60 s) and the node
    hands its shards off in worker_exit within the graceful timeout."""
    import signal

    import gevent

    def handle_term(sig, frame):
        worker.handle_exit(sig, frame)  # gunicorn's own: stop accepting, finish requests in flight
        gevent.spawn(node.drain)  # out of the signal handler, as gunicorn's gevent worker does

    signal.signal(signal.SIGTERM, handle_term)


def worker_exit(server, worker):
    node = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("greenrow.node")
    if node is not None:
        node.stop()


def on_exit(server):
    metrics_dir.remove()
