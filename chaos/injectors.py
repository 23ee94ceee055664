"""The runner's faults: each kind of the schedule mapped to an injector of chaos/faults.py, and the cluster
made whole again after it.

    inject(kind, target, rng, duration_s) -> Fault    returns once the fault is over (a kill: done)
    restore(kind, target)                            after a fault that took an instance down, a new one

A Fault (chaos/faults.py) is kind, detail, started_at, ended_at on time.time(), the database's clock on
this machine. `target` is a ChaosTarget: the Cluster (tests/support/cluster.py), the service's database
URL and, for `stop_postgres`, the ControlledPostgres the harness runs (without one, as on
DATABASE_URL's server, that kind is left out of schedules). Choices (which instance, which worker) come
from `rng`, so a seed replays the same schedule.
"""
from dataclasses import dataclass

import requests

from chaos import faults

REPLACE_TIMEOUT_S = 60.0


@dataclass
class ChaosTarget:
    cluster: object
    database_url: str
    postgres: object = None          # a chaos.controlled_postgres.ControlledPostgres, or None
    workers: int = 2
    shards: int = 256


def _live_instances(target):
    return [i for i in target.cluster.instances if i.process is not None and i.process.poll() is None]


def _instance(target, rng):
    return rng.choice(_live_instances(target))


def _worker(target, rng):
    instance = _instance(target, rng)
    pids = instance.worker_pids()
    return instance, pids[rng.randrange(len(pids))]


INJECTORS = {
    "kill_worker": lambda target, rng, seconds: faults.kill_worker(*_worker(target, rng)),
    "kill_instance": lambda target, rng, seconds: faults.kill_instance(_instance(target, rng)),
    "terminate_instance": lambda target, rng, seconds: faults.terminate_instance(_instance(target, rng)),
    "pause_node": lambda target, rng, seconds: faults.pause_node(_worker(target, rng)[1], seconds),
    "kill_listen_connections": lambda target, rng, seconds: faults.kill_listen_connections(target.database_url),
    "kill_service_connections": lambda target, rng, seconds: faults.kill_service_connections(target.database_url,
                                                                                             times=2),
    "stop_postgres": lambda target, rng, seconds: faults.stop_postgres_for(target.postgres, seconds),
}
# Faults that can cut a request off mid-way: the load balancer's 502/504 during them is an unknown outcome.
# A graceful stop too: gunicorn closes its listening socket, and a connection the kernel had already
# accepted for it but no worker had taken yet is reset; nginx cannot resend a POST it already sent.
DROPS_REQUESTS = frozenset({"kill_worker", "kill_instance", "pause_node", "terminate_instance"})
TAKES_AN_INSTANCE = frozenset({"kill_instance", "terminate_instance"})


def available_kinds(target):
    return [kind for kind in INJECTORS if kind != "stop_postgres" or target.postgres is not None]


def inject(kind, target, rng, duration_s):
    """Inject one fault of the schedule (its kinds are chaos/faults.py's names); the Fault once it is over."""
    return INJECTORS[kind](target, rng, duration_s)


def restore(kind, target):
    """Start a new instance behind nginx after one was taken down. The dead one stayed in nginx's list
    during the fault (nginx must fail over, as for a container that died); it leaves the list once its
    replacement is in, as a replaced container's address would (dead instances piling up in the list
    would let a request spend all its tries on them). It stays in the cluster's, whose logs are read at
    the end."""
    if kind in TAKES_AN_INSTANCE:
        target.cluster.add_instance(workers=target.workers, timeout=REPLACE_TIMEOUT_S)
        target.cluster.forget_dead_instances()


def wait_until_whole(target, nodes, timeout):
    """Every node live again and every shard held: the cluster is back before the next fault."""
    target.cluster.wait_until(lambda: _whole(target, nodes), timeout, f"{nodes} live nodes holding every shard")


def _whole(target, nodes):
    try:
        live = (target.cluster.answer("/nodes") or {}).get("nodes", [])
    except (AssertionError, ValueError, requests.RequestException):  # nginx's 502 while an instance starts
        return None
    return len(live) == nodes and sum(node["shards"] for node in live) == target.shards or None
