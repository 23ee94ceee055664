"""A real cluster for tests: N gunicorn instances x W workers on one test database, nginx in front.

Everything runs on loopback, on free ports, as `make cluster` runs it (deploy/cluster.py: the same app
command, environment names and nginx configuration). Every wait has a deadline.
"""
import signal
import subprocess
import sys
import time

import pytest

from deploy.cluster import APP_COMMAND, free_port
from deploy.load_balancer import ClusterError, Nginx, NginxMissing, find_nginx
from tests.support.http import HttpClient
from tests.support.service import ServiceProcess
from tests.support.wait import WaitTimeout, wait_until

NGINX_PORT_ATTEMPTS = 3
# Short leases keep failover fast in tests (GREENROW_LEASE_TTL_MS, documented in the README).
SHORT_LEASES = {"GREENROW_LEASE_TTL_MS": "2000"}
STOP_TIMEOUT_S = 45.0


def require_nginx():
    """The nginx binary, or a test failure (not a skip) saying which package to install."""
    try:
        return find_nginx()
    except NginxMissing as exc:
        missing = str(exc)
    pytest.fail(f"{missing} (as root; .ci/run does it)", pytrace=False)


class Cluster(HttpClient):
    def __init__(self, database_url, workdir, env=None):
        self.database_url = database_url
        self.workdir = workdir
        self.env = dict(env or {})
        self.instances = []
        self.nginx = None
        HttpClient.__init__(self)

    # --- lifecycle ---
    def start(self, instances=2, workers=2, timeout=60.0):
        binary = require_nginx()
        started = [self._spawn(workers) for _ in range(instances)]
        for instance in started:
            instance.wait_ready(timeout)
        self._start_nginx(binary)
        self.wait_for_nodes(instances * workers, timeout)
        return self

    def _spawn(self, workers):
        name = f"app{len(self.instances) + 1}"
        instance = ServiceProcess(self.database_url, self.workdir / f"{name}.log", workers=workers, env=self.env,
                                  command=[sys.executable, "-m", *APP_COMMAND])
        instance.name = name
        self.instances.append(instance)
        return instance.start(wait_ready=False)

    def _start_nginx(self, binary):
        for attempt in range(NGINX_PORT_ATTEMPTS):  # a free port can be taken before nginx binds it
            nginx = Nginx(self.workdir / f"nginx-{attempt}", free_port(), self.upstreams(), binary=binary,
                          access_log=True, output=self.workdir / f"nginx-{attempt}.out")
            try:
                self.nginx = nginx.start()
                return
            except ClusterError:
                if attempt == NGINX_PORT_ATTEMPTS - 1 or "in use" not in nginx.log_tail():
                    raise

    def add_instance(self, workers=2, timeout=60.0):
        """Start one more instance and put it behind nginx; returns it once it answers /readyz."""
        instance = self._spawn(workers)
        instance.wait_ready(timeout)
        self.nginx.set_upstreams(self.upstreams())
        return instance

    def upstreams(self, running_only=False):
        return [f"127.0.0.1:{instance.port}" for instance in self.instances
                if not running_only or (instance.process is not None and instance.process.poll() is None)]

    def forget_dead_instances(self):
        """Take instances that exited out of nginx's list (as a replaced container's address leaves it)."""
        self.nginx.set_upstreams(self.upstreams(running_only=True))

    def kill_worker(self, instance, pid=None):
        """SIGKILL one worker (node) of an instance; gunicorn starts a new one. Returns the killed pid."""
        return instance.kill_worker(pid)

    def terminate(self, instance, timeout=STOP_TIMEOUT_S):
        """SIGTERM an instance (graceful: its nodes hand their shards back) and wait for it to exit.

        It stays in nginx's upstream list, as a container that died would: nginx must fail over.
        """
        code = instance.stop(timeout)
        assert code == 0, instance._explain(f"exited with {code} after SIGTERM")
        return code

    def close(self):
        """Stop everything: every instance gracefully (in parallel), then nginx."""
        running = [i for i in self.instances if i.process is not None and i.process.poll() is None]
        for instance in running:
            instance.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for instance in self.instances:
            try:
                if instance.process is not None:
                    instance.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # past the deadline: close() kills the group
                pass
            instance.close()
        if self.nginx is not None:
            self.nginx.stop()
        self.http.close()

    # --- through the load balancer ---
    def url(self, path):
        return self.nginx.url(path)


    def answer(self, path):
        """GET path's JSON, or None when the node that took it is starting or stopping (503 unavailable)."""
        response = self.get(path)
        if response.status_code == 503 and response.json()["error"]["code"] == "unavailable":
            return None
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def wait_for_run(self, run_id, status="done", timeout=60.0):
        def finished():
            run = self.answer(f"/runs/{run_id}")
            return run if run is not None and run["status"] == status else None
        return self.wait_until(finished, timeout, f"run {run_id} was not {status}")

    # --- membership ---
    def live_nodes(self):
        return self.json("/nodes")["nodes"]

    def wait_for_nodes(self, count, timeout=60.0):
        """Wait until exactly `count` nodes are live; returns them."""
        def counted():
            nodes = (self.answer("/nodes") or {}).get("nodes")
            return nodes if nodes is not None and len(nodes) == count else None
        return self.wait_until(counted, timeout, f"never had {count} live nodes")

    def wait_balanced(self, count, shards=256, timeout=30.0):
        """Wait until `count` live nodes hold every shard, each within one of the others; returns the nodes."""
        def balanced():
            nodes = (self.answer("/nodes") or {}).get("nodes", [])
            held = [node["shards"] for node in nodes]
            ok = len(nodes) == count and sum(held) == shards and max(held) - min(held) <= 1
            return nodes if ok else None
        return self.wait_until(balanced, timeout, f"shards never balanced over {count} nodes")

    # --- diagnostics ---
    def wait_until(self, predicate, timeout, what, interval=0.1):
        """wait_until, failing with the cluster's state (nodes, the instances' and nginx's last log lines)."""
        try:
            return wait_until(predicate, timeout, interval=interval)
        except WaitTimeout:
            raise WaitTimeout(self._explain(f"{what} within {timeout} s")) from None

    def _explain(self, what):
        try:
            nodes = [(node["id"], node["shards"], node["heartbeat_age_s"]) for node in self.live_nodes()]
        except Exception as exc:  # the explanation must not hide the failure
            nodes = f"unknown ({exc!r})"
        lines = [f"cluster {what}; live nodes (id, shards, heartbeat age): {nodes}"]
        for instance in self.instances:
            alive = instance.process is not None and instance.process.poll() is None
            lines.append(f"--- {instance.name} (port {instance.port}, {'running' if alive else 'exited'}), last lines:")
            lines += instance.log().splitlines()[-15:]
        if self.nginx is not None:
            lines.append("--- nginx:")
            lines.append(self.nginx.log_tail())
        return "\n".join(lines)


def wait_for_inbox_empty(db, row_ids, timeout=30.0):
    return wait_until(
        lambda: db.fetch_value("SELECT count(*) FROM messages WHERE row_id = ANY(%s)", (list(row_ids),)) == 0,
        timeout, interval=0.1, message=f"messages for rows {sorted(row_ids)[:5]}... still queued after {timeout} s")


def lease_owners(db):
    """shard -> node id of every live lease."""
    return dict(db.fetch_all("SELECT shard, node_id FROM shard_leases WHERE node_id IS NOT NULL AND expires_at > now()"))


def node_pid(db, node_id):
    return db.fetch_value("SELECT pid FROM nodes WHERE id = %s", (node_id,))

