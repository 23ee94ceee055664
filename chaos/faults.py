"""Fault injectors for the fault tests and the chaos runner: real faults, on loopback, each bounded in time.

Processes (an `instance` is a tests.support.service.ServiceProcess: a gunicorn master and its workers,
every worker a node):
    kill_worker(instance, pid)           SIGKILL one node; gunicorn forks a new worker
    kill_instance(instance)              SIGKILL the master and every worker at once
    terminate_instance(instance)         SIGTERM the master (graceful) and wait for the instance to exit
    pause_node(pid, seconds)             SIGSTOP one node for `seconds` (past its lease TTL), then SIGCONT

Connections (pg_terminate_backend from a session of the same database; the service names each of its
connections `greenrow <node id>`):
    kill_listen_connections(url, node_id=None)          the LISTEN connection of one node, or of all
    kill_service_connections(url, times=1, gap_s=0.7)   every connection of the service, `times` times

The database (a chaos.controlled_postgres.ControlledPostgres, never a shared server):
    stop_postgres_for(postgres, seconds)  `pg_ctl stop -m fast`, hold, `pg_ctl start`
    drop_network_for(port, seconds)       every packet to and from the server's port dropped (iptables on
                                          loopback, root only): a silent network drop, then healed

Each returns once the fault is over (or, for a kill, done) and says what it did.
"""
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import psutil
import psycopg2

from tests.support.wait import wait_until

PROCESS_GONE_TIMEOUT_S = 10.0
TERMINATE_TIMEOUT_S = 45.0  # gunicorn's graceful_timeout (30 s) plus the nodes' hand-off
FAILOVER_GAP_S = 0.7        # what a failover looks like to the service: every connection cut twice, 0.7 s apart
# A LISTEN connection's last statement: LISTEN, or the liveness probe it runs after 30 s without a
# notification (greenlets/ownership/listener.py); no other connection of the service runs exactly these.
LISTEN_QUERIES = ["LISTEN greenrow", "SELECT 1"]


@dataclass
class Fault:
    """What was injected, when (time.time(), the database's clock on this machine) and for how long."""
    kind: str
    detail: str
    started_at: float
    ended_at: float
    hits: int = 1      # processes signalled, connections terminated: 0 means the fault hit nothing

    @property
    def duration_s(self):
        return self.ended_at - self.started_at


def _fault(kind, detail, started_at, hits=1):
    return Fault(kind, detail, started_at, time.time(), hits)


# --- processes ------------------------------------------------------------------------------------

def kill_worker(instance, pid=None):
    """SIGKILL one worker (node) of the instance, the first one if no pid is given; wait until it is gone."""
    started = time.time()
    pid = instance.kill_worker(pid)
    return _fault("kill_worker", f"worker {pid}", started)


def kill_instance(instance):
    """SIGKILL the gunicorn master and all its workers at once: no node hands anything back."""
    started = time.time()
    workers = instance.worker_pids()
    instance.kill()  # the whole process group
    wait_until(lambda: not any(_alive(pid) for pid in workers),
               PROCESS_GONE_TIMEOUT_S, interval=0.05, message=f"workers {workers} outlived their master's SIGKILL")
    return _fault("kill_instance", f"master {instance.process.pid}, workers {workers}", started, 1 + len(workers))


def terminate_instance(instance, timeout=TERMINATE_TIMEOUT_S):
    """SIGTERM the master (gunicorn's graceful stop) and wait, at most `timeout`, for the instance to exit.

    The Fault's detail carries the exit code; the instance is killed if it outlives the timeout.
    """
    started = time.time()
    code = instance.stop(timeout)
    return _fault("terminate_instance", f"master {instance.process.pid} exited with {code}", started)


def pause_node(pid, seconds):
    """SIGSTOP one worker for `seconds`, then SIGCONT it (always, even if the hold is interrupted)."""
    started = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # holding the fault for its stated duration, not waiting for anything
    finally:
        os.kill(pid, signal.SIGCONT)
    return _fault("pause_node", f"worker {pid} stopped for {seconds} s", started)


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- connections ----------------------------------------------------------------------------------

def _terminate(database_url, listen_only=False, node_id=None):
    """pg_terminate_backend on the service's matching backends in this database; returns how many ended."""
    sql = ("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    sql += " AND application_name = %(name)s" if node_id else " AND application_name LIKE 'greenrow %%'"
    if listen_only:
        sql += " AND query = ANY(%(listen)s)"
    return _execute(database_url, sql, {"name": f"greenrow {node_id}", "listen": LISTEN_QUERIES})[0][0]


def kill_listen_connections(database_url, node_id=None):
    """Terminate the LISTEN connection of one node (by id), or of every node when node_id is None."""
    started = time.time()
    killed = _terminate(database_url, listen_only=True, node_id=node_id)
    return _fault("kill_listen_connections", f"{killed} LISTEN connection(s) of {node_id or 'every node'}",
                  started, killed)


def kill_service_connections(database_url, times=1, gap_s=FAILOVER_GAP_S):
    """Terminate every connection of the service, `times` times, `gap_s` apart (a failover: times=2)."""
    started = time.time()
    killed = []
    for attempt in range(times):
        if attempt:
            time.sleep(gap_s)  # the gap between the two cuts is the fault's own shape
        killed.append(_terminate(database_url))
    return _fault("kill_service_connections", f"connections terminated per cut: {killed}", started, sum(killed))


def _execute(database_url, sql, params):
    conn = psycopg2.connect(database_url, application_name="greenrow-faults")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


# --- the database ---------------------------------------------------------------------------------

def stop_postgres_for(postgres, seconds):
    """Stop the controlled PostgreSQL (`pg_ctl stop -m fast`), keep it down for `seconds`, start it again
    (always). The Fault's times are the moments it was down: from the stop's end to the start's beginning."""
    postgres.stop()
    down_from = time.time()
    try:
        time.sleep(seconds)  # holding the outage for its stated duration
    finally:
        down_until = time.time()
        postgres.start()
    return Fault("stop_postgres", f"down for {down_until - down_from:.2f} s", down_from, down_until)


# --- the network ----------------------------------------------------------------------------------

def _drop_rules(port):
    """iptables rules dropping every loopback packet to or from `port`: nothing is refused or reset, the
    packets just vanish, as when a network link or a firewall in between goes silent."""
    return [["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-i", "lo", "-p", "tcp", "--sport", str(port), "-j", "DROP"]]


def require_iptables():
    """The iptables command, or an error saying how to get it (root is needed to use it)."""
    binary = shutil.which("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin")
    if binary is None:
        raise RuntimeError("iptables is missing: apt-get install iptables (as root; .ci/run does it)")
    if os.geteuid() != 0:
        raise RuntimeError("dropping packets with iptables needs root")
    return binary


def drop_network_for(port, seconds):
    """Drop every packet to and from a local TCP port for `seconds`, then let them through again (always)."""
    iptables = require_iptables()
    rules = _drop_rules(port)
    for rule in rules:
        subprocess.run([iptables, "-I", *rule], check=True)
    dropped_from = time.time()
    try:
        time.sleep(seconds)  # holding the drop for its stated duration
    finally:
        dropped_until = time.time()
        for rule in rules:
            subprocess.run([iptables, "-D", *rule], check=True)
    return Fault("drop_network", f"port {port} silent for {dropped_until - dropped_from:.2f} s",
                 dropped_from, dropped_until)
