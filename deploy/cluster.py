"""`make cluster`: greenrow on loopback the way it is deployed, nginx in front of several instances.

    PostgreSQL   the embedded one (config/embedded_postgres), started once here, unless DATABASE_URL is set
    instances    INSTANCES (2) x `gunicorn -c config/gunicorn.conf.py wsgi:app`, WORKERS (2) workers each,
                 on 127.0.0.1 and free ports; every worker is a node
    nginx        Debian's package, on 127.0.0.1:PORT (8080), serving deploy/nginx/greenrow.conf: the
                 server configuration docker-compose.yml mounts, with a generated upstream and listen

Ctrl-C or SIGTERM stops it all, in order: the instances (SIGTERM: their nodes hand their rows back),
then nginx, then PostgreSQL; the exit status is 0. Without nginx it says which package to install
and exits with 2. nginx's generated configuration, pid file, logs and temporary files live under
var/cluster/nginx.

The tests start the same things (tests/support/cluster.py): APP_COMMAND and APP_ENV from here, nginx
through deploy/load_balancer.py; tests/cluster/test_compose.py checks docker-compose.yml against them.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from config.settings import Settings, SettingsError
from deploy.load_balancer import SERVER_CONF, ClusterError, Nginx, NginxMissing, find_nginx

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / "var" / "cluster"

# What every instance runs (the Dockerfile's CMD) and the environment names it is given
# (docker-compose.yml gives its app services the same ones).
APP_COMMAND = ("gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app")
APP_ENV = ("DATABASE_URL", "HOST", "PORT", "WORKERS")

DEFAULT_PORT = 8080
READY_TIMEOUT_S = 60.0
INSTANCE_STOP_TIMEOUT_S = 45.0  # gunicorn's graceful_timeout (30 s) plus the nodes' lease release
POLL_S = 0.1


# --- service instances ------------------------------------------------------------------------------

def app_command(python=None):
    """APP_COMMAND run by this Python (`python -m gunicorn ...`), so the venv's gunicorn is the one used."""
    return [python or sys.executable, "-m", *APP_COMMAND]


def instance_env(database_url, port, workers, host="127.0.0.1", base=None):
    """An instance's environment: the caller's (LOG_LEVEL, GREENROW_* ...) with APP_ENV set for it."""
    env = dict(os.environ if base is None else base)
    values = {"DATABASE_URL": database_url, "HOST": host, "PORT": str(port), "WORKERS": str(workers)}
    assert tuple(values) == APP_ENV
    env.update(values, PYTHONUNBUFFERED="1")
    return env


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


class Instance:
    """One gunicorn master and its workers, on its own port, logging to the terminal."""

    def __init__(self, name, database_url, port, workers):
        self.name = name
        self.port = port
        self.workers = workers
        self.process = subprocess.Popen(app_command(), cwd=REPO, env=instance_env(database_url, port, workers),
                                        start_new_session=True)  # Ctrl-C reaches the launcher only

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def get_json(self, path):
        """(status, body) of a GET, or (None, None) when the instance does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.address}{path}", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError):
            return None, None

    def terminate(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        """Wait for the instance to end; SIGKILL its whole group past the timeout. True if it ended by itself."""
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            return False


# --- the launcher ----------------------------------------------------------------------------------

class Launcher:
    def __init__(self, database_url, port, instances, workers, nginx_binary, stop_requested, state_dir=STATE_DIR):
        self.state_dir = Path(state_dir)
        self.database_url = database_url
        self.port = port
        self.instance_count = instances
        self.workers = workers
        self.nginx_binary = nginx_binary
        self.stop_requested = stop_requested
        self.instances = []
        self.nginx = None

    def start(self):
        for number in range(1, self.instance_count + 1):
            self.instances.append(Instance(f"app{number}", self.database_url, free_port(), self.workers))
        self._wait("every instance to be ready", lambda: all(
            instance.get_json("/readyz")[0] == 200 for instance in self.instances))
        self.nginx = Nginx(self.state_dir / "nginx", self.port, [i.address for i in self.instances],
                           binary=self.nginx_binary)
        self.nginx.start()
        try:
            shards = Settings.from_env().shards
        except SettingsError as exc:
            raise ClusterError(str(exc)) from None
        nodes = self.instance_count * self.workers
        self._wait(f"{nodes} live nodes holding all {shards} shards", lambda: self._settled(nodes, shards))

    def _settled(self, nodes, shards):
        """Every node is live and every shard held (nodes hand shards to each other as they join)."""
        live = self._live_nodes()
        return len(live) >= nodes and sum(node["shards"] for node in live) == shards

    def _live_nodes(self):
        status, body = self.instances[0].get_json("/nodes")
        return body["nodes"] if status == 200 else []

    def _wait(self, what, predicate):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not predicate():
            self.check_children()
            if self.stop_requested.is_set():
                raise ClusterError(f"stopped while waiting for {what}")
            if time.monotonic() >= deadline:
                raise ClusterError(f"gave up waiting {READY_TIMEOUT_S:.0f} s for {what}")
            self.stop_requested.wait(POLL_S)

    def check_children(self):
        for instance in self.instances:
            if instance.process.poll() is not None:
                raise ClusterError(f"instance {instance.name} ({instance.address}) exited with "
                                   f"{instance.process.returncode}; its log is above")
        if self.nginx is not None and not self.nginx.running():
            raise ClusterError(f"nginx exited with {self.nginx.process.returncode}:\n{self.nginx.log_tail()}")

    def describe(self):
        lines = [f"greenrow cluster: nginx listening on {self.nginx.url('/')}"]
        for instance in self.instances:
            lines.append(f"  {instance.name}: http://{instance.address}/ (gunicorn pid {instance.process.pid}, "
                         f"{instance.workers} workers)")
        lines.append(f"  PostgreSQL: {_without_password(self.database_url)}")
        lines.append(f"  nginx configuration: {self.nginx.conf_path} (server: {SERVER_CONF.relative_to(REPO)})")
        lines.append("Ctrl-C or SIGTERM stops it all.")
        return "\n".join(lines)

    def stop(self):
        """Instances first (graceful: rows handed back), then nginx; PostgreSQL stops when the launcher exits."""
        for instance in self.instances:
            instance.terminate()
        for instance in self.instances:
            if not instance.wait(INSTANCE_STOP_TIMEOUT_S):
                say(f"instance {instance.name} did not stop within {INSTANCE_STOP_TIMEOUT_S:.0f} s: killed")
        if self.nginx is not None:
            self.nginx.stop()


def _without_password(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def say(message):
    print(f"greenrow cluster: {message}", file=sys.stderr, flush=True)


def _count(low, high):
    def parse(text):
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}")
        return int(text)
    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=_count(1, 16), default=2, help="service instances (default 2)")
    parser.add_argument("--workers", type=_count(1, 64), default=2, help="gunicorn workers per instance (default 2)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where nginx's generated configuration, pid file and logs go (default var/cluster)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        nginx_binary = find_nginx()
    except NginxMissing as exc:
        say(str(exc))
        return 2
    raw_port = os.environ.get("PORT") or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
        say(f"PORT must be an integer from 1 to 65535, got {raw_port!r}")
        return 1
    port = int(raw_port)
    if not port_is_free(port):
        say(f"port {port} is in use; set PORT to a free one")
        return 1

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    database_url = os.environ.get("DATABASE_URL")
    embedded = not database_url
    if embedded:
        from config import embedded_postgres

        database_url = embedded_postgres.start()  # once, for every instance; stopped when this process exits
        say(f"embedded PostgreSQL at {database_url}")

    launcher = Launcher(database_url, port, args.instances, args.workers, nginx_binary, stop_requested,
                        args.state_dir)
    status = 0
    try:
        launcher.start()
        print(launcher.describe(), flush=True)
        while not stop_requested.wait(1.0):
            launcher.check_children()
    except ClusterError as exc:
        if not stop_requested.is_set():
            say(str(exc))
            status = 1
    finally:
        say("stopping: the instances (SIGTERM), then nginx" + (", then PostgreSQL" if embedded else ""))
        launcher.stop()
    # The embedded server's handle stops it as this process exits (embedded_postgres, cleanup_mode="stop").
    say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
