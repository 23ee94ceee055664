"""The folder of prometheus_client's multiprocess mode, one per gunicorn master (an instance).

Each worker writes its metrics to files there; any worker answering GET /metrics reads them all
(greenlets/telemetry/prometheus.py). The master makes a fresh folder before it forks the workers
(``PROMETHEUS_MULTIPROC_DIR``, inherited by them), forgets a worker's gauges when the worker exits
(its counters and histograms stay: an instance's counters never go back), and removes the folder when
it exits. Folders left by a master that was killed are removed at the next start. A
``PROMETHEUS_MULTIPROC_DIR`` set by the operator is used instead, emptied at start and kept.
Used by config/gunicorn.conf.py only (the master): it imports nothing of the app.
"""
import glob
import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "greenrow-metrics-"


def prepare():
    """Make (or empty) the folder and put it in the environment the workers inherit; returns it."""
    if os.environ.get(ENV):
        path = os.environ[ENV]
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return path
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    _remove_orphans(base)
    path = os.path.join(base, f"{_PREFIX}{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    os.environ[ENV] = path
    os.environ["GREENROW_OWN_METRICS_DIR"] = path
    return path


def worker_exited(pid):
    """A worker ended (however): its gauges go; what it counted stays in the instance's totals."""
    from prometheus_client import multiprocess

    if os.environ.get(ENV):
        multiprocess.mark_process_dead(pid)


def remove():
    """The master exits: remove the folder it made (not one the operator gave)."""
    path = os.environ.get(ENV)
    if path and path == os.environ.get("GREENROW_OWN_METRICS_DIR"):
        shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(base):
    for path in glob.glob(os.path.join(base, f"{_PREFIX}*")):
        pid = path.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
