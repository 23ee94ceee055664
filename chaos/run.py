"""One chaos run: the cluster, the workload, the history, the faults of the seed's schedule, then the checker.

    config = ChaosConfig.from_env()                       # CHAOS_* knobs, see the README
    findings = run_chaos(config, database_url, workdir)   # a migrated database with the audit installed

Every wait is bounded: each fault (its schedule's duration, then at most RECOVER_TIMEOUT_S for the
cluster to be whole again), the end of the ticking runs and the draining of the inboxes (SETTLE_S).
"""
import os
import random
import threading
from dataclasses import dataclass, field

import psycopg2

from chaos.checker import check_everything
from chaos.history import History, LedgerBits
from chaos.injectors import ChaosTarget, available_kinds, inject, restore, wait_until_whole
from chaos.sampler import ConcurrencySampler
from chaos.schedule import draw_schedule
from chaos.violations import Violation
from chaos.workload import TickingRuns, create_ledger
from tests.support.cluster import Cluster
from tests.support.wait import WaitTimeout, wait_until

RECOVER_TIMEOUT_S = 60.0    # a fault's end until every node is live and every shard held
SETTLE_S = 180.0            # the faults' end until the last ticking run is done and every inbox empty
FIRST_TICKS_TIMEOUT_S = 60.0


def _env_int(name, default):
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    rows: int = 20_000
    max_concurrency: int = 10_000
    start_value: int = 3
    tick_ms: int = 1000
    faults: int = 8
    kinds: tuple = ()               # fault kinds to draw from; empty: every kind available
    instances: int = 2
    workers: int = 2
    lease_ttl_ms: int = 5000
    ledger_rows: int = 1000
    clients: int = 8
    ops_per_s: float = 100.0
    sample_ms: int = 5
    service_env: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls):
        seed = os.environ.get("CHAOS_SEED") or str(random.SystemRandom().randrange(10**9))
        kinds = tuple(k for k in (os.environ.get("CHAOS_FAULT_KINDS") or "").split(",") if k)
        return cls(seed=int(seed), rows=_env_int("CHAOS_ROWS", 20_000),
                   max_concurrency=_env_int("CHAOS_CONCURRENCY", 10_000),
                   start_value=_env_int("CHAOS_START_VALUE", 3), tick_ms=_env_int("CHAOS_TICK_MS", 1000),
                   faults=_env_int("CHAOS_FAULTS", 8), kinds=kinds,
                   instances=_env_int("CHAOS_INSTANCES", 2), workers=_env_int("CHAOS_WORKERS", 2),
                   lease_ttl_ms=_env_int("GREENROW_LEASE_TTL_MS", 5000),
                   ops_per_s=float(os.environ.get("CHAOS_OPS_PER_S") or 100.0))


def say(message):
    print(f"chaos: {message}", flush=True)


def run_chaos(config, database_url, workdir, postgres=None):
    """Run the workload under the seed's faults on a database with the audit installed; the Findings."""
    cluster = Cluster(database_url, workdir, env={"GREENROW_LEASE_TTL_MS": str(config.lease_ttl_ms),
                                                  **config.service_env})
    nodes = config.instances * config.workers
    target = ChaosTarget(cluster, database_url, postgres, config.workers)
    kinds = [k for k in available_kinds(target) if not config.kinds or k in config.kinds]
    schedule = draw_schedule(config.seed, config.faults, kinds, config.lease_ttl_ms)
    say("schedule: " + ", ".join(f"{f.kind}" + (f" {f.duration_s:g}s" if f.duration_s else "") for f in schedule))
    late, workers = [], []
    try:
        say(f"starting {config.instances} instances x {config.workers} workers behind nginx")
        cluster.start(config.instances, config.workers)
        cluster.wait_balanced(nodes, shards=target.shards, timeout=RECOVER_TIMEOUT_S)
        ledger = create_ledger(cluster, config.ledger_rows)
        sampler = ConcurrencySampler(database_url, config.sample_ms).start()
        runs = TickingRuns(cluster, config.rows, config.max_concurrency, config.start_value, config.tick_ms).start()
        history = History(cluster.url(""), LedgerBits(*ledger), runs.ticking_rows, config.seed,
                          clients=config.clients, ops_per_s=config.ops_per_s).start()
        workers += [runs, history, sampler]  # stopped in this order
        _wait_for_first_ticks(database_url)
        faults = _inject_schedule(schedule, target, nodes, random.Random(f"targets/{config.seed}"), late)
        say("faults done; letting the last run finish and the inboxes drain")
        runs.stop()
        history.stop()
        late += _settle(cluster, database_url, runs, history)
        sampler.stop()
        if runs.error is not None:
            late.append(Violation("workload", f"creating ticking runs failed: {runs.error!r}"))
        conn = psycopg2.connect(database_url, application_name="chaos checker")
        try:
            findings = check_everything(conn, runs=_run_states(conn, runs.run_ids), tick_ms=config.tick_ms,
                                        ledger=ledger, operations=history.snapshot(), sampler=sampler,
                                        faults=faults, log_lines=_log_lines(cluster))
        finally:
            conn.close()
        findings.add(late)
        return findings
    finally:
        for worker in workers:  # after an error: no client, run or sample outlives the cluster
            worker.stop()
        cluster.close()


def _wait_for_first_ticks(database_url):
    wait_until(lambda: _fetch_value(database_url, "SELECT EXISTS (SELECT 1 FROM tick_audit)"),
               FIRST_TICKS_TIMEOUT_S, interval=0.1, message="no tick was committed")


def _inject_schedule(schedule, target, nodes, rng, late):
    """Inject each planned fault, restore what it took down, wait (bounded) for the cluster to be whole."""
    faults = []
    quiet = threading.Event()
    for number, planned in enumerate(schedule, 1):
        quiet.wait(planned.pause_before_s)  # the schedule's quiet time, not a synchronisation
        try:
            fault = inject(planned.kind, target, rng, planned.duration_s)
        except Exception as exc:  # e.g. an instance that outlived its graceful stop: the cluster's state is unknown
            late.append(Violation("fault_failed", f"{planned.kind}: {str(exc).splitlines()[0] if str(exc) else exc!r}"))
            break
        say(f"fault {number}/{len(schedule)}: {fault.kind}: {fault.detail}")
        faults.append(fault)
        try:
            restore(planned.kind, target)
            wait_until_whole(target, nodes, RECOVER_TIMEOUT_S)
        except (WaitTimeout, AssertionError) as exc:
            late.append(Violation("cluster_not_recovered", f"after {fault.kind} ({fault.detail}): "
                                                           f"{str(exc).splitlines()[0]}"))
            break
    return faults


def _settle(cluster, database_url, runs, history):
    """Wait (bounded) for the last ticking run to end and every messaged row's inbox to empty."""
    violations = []
    last = runs.run_ids[-1] if runs.run_ids else None
    rows = sorted({op.row_id for op in history.snapshot() if op.kind != "read"})
    try:
        if last is not None:
            cluster.wait_until(lambda: _fetch_value(database_url, "SELECT status <> 'running' FROM runs WHERE id = %s",
                                                    (last,)), SETTLE_S, f"run {last} did not finish")
        wait_until(lambda: _fetch_value(database_url, "SELECT count(*) FROM messages WHERE row_id = ANY(%s)",
                                        (rows,)) == 0, SETTLE_S, interval=0.2,
                   message=f"messages still queued {SETTLE_S:.0f} s after the faults")
    except WaitTimeout as exc:
        violations.append(Violation("not_settled", str(exc).splitlines()[0]))
    return violations


def _run_states(conn, run_ids):
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT run.id, run.status, count(*) FILTER (WHERE r.state = 'active') AS active,
                              count(*) FILTER (WHERE r.state = 'pending') AS pending,
                              count(*) FILTER (WHERE r.state = 'failed') AS failed
                         FROM runs run JOIN rows r ON r.run_id = run.id
                        WHERE run.id = ANY(%s) GROUP BY run.id ORDER BY run.id""", (list(run_ids),))
        names = [column.name for column in cur.description]
        return [dict(zip(names, record)) for record in cur.fetchall()]


def _fetch_value(database_url, sql, params=None):
    try:
        conn = psycopg2.connect(database_url, application_name="chaos runner", connect_timeout=2)
    except psycopg2.OperationalError:
        return None  # PostgreSQL is being restarted by a fault
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _log_lines(cluster):
    return [line for instance in cluster.instances for line in instance.log().splitlines()]
