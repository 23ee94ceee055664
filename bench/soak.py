"""A soak through the load balancer: minutes of mixed API traffic, bounded in count, then a verdict.

    python bench/soak.py [--duration 600] [--rate 150] [--seed N]      # make soak (SOAK_DURATION_S, SOAK_RATE)

It starts what `make cluster` starts (nginx in front of 2 instances x 2 workers) on the bench's
PostgreSQL, with an API token and a metrics token set, then sends exactly ``rate x duration``
requests through nginx, open loop (each request is due at its own instant, whatever the answers
take), drawn from a seeded mix of everything a client does: row reads, casts (each with its own
Idempotency-Key), calls, run views and lists, `/stats`, `/metrics` with the scraper's token,
`/nodes`, bad input that must be refused (4xx), requests without a token (401). Besides that mix, a
new run starts every ``--run-every`` seconds (5,000 rows, start 3, 1 s ticks, 2,000 at once), every
third one is stopped 5 s after it starts, and finished runs are deleted when the service offers
``DELETE /runs/{run_id}``.

The verdict: no 5xx but the deliberate ``503`` (unavailable) and no ``429`` beyond the documented
limits; every answer has the status its request expects; and the workers' memory after the soak
(every run finished, row servers gone) is back within 10 % of its level before it: measured after a
warm-up (``--warm-up`` seconds of the same mix and runs, 60 by default), so that what a worker keeps
from the first use of each path (imports, caches, prepared statements, pool connections) is not
counted as growth.
Writes ``bench/results/soak-<date>.json`` and ``.md``; exit status 1 when the verdict fails.
"""
import argparse
import collections
import contextlib
import json
import os
import random
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pg import BenchPostgres  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.wait import wait_until  # noqa: E402

RESULTS = REPO / "bench" / "results"
API_TOKEN = "soak-api-token-" + "a" * 24
METRICS_TOKEN = "soak-metrics-token-" + "b" * 20
CLIENT_THREADS = 64
REQUEST_TIMEOUT_S = 15.0
RUN = {"rows": 5000, "start_value": 3, "tick_ms": 1000, "max_concurrency": 2000}
MEMORY_TOLERANCE = 1.10
SETTLE_TIMEOUT_S = 120.0

# (operation, weight): what a mixed population of clients does, per request of the open-loop mix.
MIX = (("get_row", 30), ("cast", 20), ("call", 10), ("get_run", 10), ("list_runs", 5), ("stats", 5),
       ("nodes", 3), ("metrics", 2), ("bad_input", 10), ("no_token", 5))
# The statuses each operation may answer besides the deliberate 503/429 (counted apart).
EXPECTED = {"get_row": {200}, "cast": {202}, "call": {200, 504}, "get_run": {200}, "list_runs": {200},
            "stats": {200}, "nodes": {200}, "metrics": {200}, "bad_input": {400, 404, 405, 409, 413, 415, 422},
            "no_token": {401}, "start_run": {201}, "stop_run": {200}, "delete_run": {202, 404},
            **{f"{op} (run deleted)": {404} for op in ("get_row", "get_run", "cast", "call")}}
DELIBERATE = {503, 429}
BAD_INPUTS = (
    ("POST", "/runs", {"rows": -1}),
    ("POST", "/runs", {"rows": 10, "colour": "blue"}),
    ("POST", "/runs", "not json"),
    ("GET", "/runs/0", None),
    ("GET", "/runs?limit=abc", None),
    ("GET", "/rows/1?foo=1", None),
    ("POST", "/rows/1/messages", {"type": "launch_rockets"}),
    ("POST", "/rows/1/messages", {"type": "incr", "by": "five"}),
    ("POST", "/rows/1/messages?wait=true&timeout_ms=-5", {"type": "get"}),
    ("POST", "/rows/1/messages", {"type": "crash"}),
    ("DELETE", "/rows/1", None),
)


class Soak:
    def __init__(self, cluster, args):
        self.cluster = cluster
        self.args = args
        self.random = random.Random(args.seed)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.outcomes = collections.Counter()       # (operation, status or error) -> count
        self.latencies = collections.defaultdict(list)
        self.runs = []                               # (run_id, first_row_id, rows, started_at)
        self.deleted = set()                         # runs this soak deleted: their rows answer 404 from then on
        self.deletes = self._offers_delete()

    # --- HTTP -------------------------------------------------------------------------------------
    def _session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def request(self, operation, method, path, body=None, token=API_TOKEN, headers=None, run_id=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs = {"headers": headers, "timeout": REQUEST_TIMEOUT_S}
        if isinstance(body, str):
            kwargs["data"] = body
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["json"] = body
        started = time.monotonic()
        try:
            response = self._session().request(method, self.cluster.url(path), **kwargs)
            outcome, answer = response.status_code, response
        except requests.RequestException as exc:
            outcome, answer = type(exc).__name__, None
        if outcome == 404 and run_id in self.deleted:
            operation = f"{operation} (run deleted)"  # a request that met the soak's own deletion: expected
        with self.lock:
            self.outcomes[(operation, outcome)] += 1
            self.latencies[operation].append(time.monotonic() - started)
        return answer

    def _offers_delete(self):
        spec = self.request("openapi", "GET", "/openapi.json").json()
        return "delete" in spec["paths"].get("/runs/{run_id}", {})

    # --- runs -------------------------------------------------------------------------------------
    def start_run(self):
        response = self.request("start_run", "POST", "/runs", RUN)
        if response is not None and response.status_code == 201:
            run = response.json()
            with self.lock:
                self.runs.append((run["id"], run["first_row_id"], run["rows"], time.monotonic()))
            return run["id"]
        return None

    def _a_row(self):
        with self.lock:
            run_id, first, rows, _ = self.random.choice(self.runs)
        return first + self.random.randrange(rows), run_id

    def run_keeper(self, stop):
        """A run every run_every seconds; every third stopped 5 s in; finished ones deleted when offered."""
        count = 0
        while not stop.wait(self.args.run_every):
            run_id = self.start_run()
            count += 1
            if run_id is not None and count % 3 == 0:
                threading.Timer(5.0, self.request, ("stop_run", "POST", f"/runs/{run_id}/stop")).start()
            if self.deletes:
                self._delete_finished()

    def _delete_finished(self):
        with self.lock:
            candidates = self.runs[:-3]  # keep the newest ones for the reads
        for run_id, *_ in candidates:
            view = self.request("get_run", "GET", f"/runs/{run_id}")
            if view is not None and view.status_code == 200 and view.json()["status"] in ("done", "stopped"):
                self.deleted.add(run_id)
                response = self.request("delete_run", "DELETE", f"/runs/{run_id}")
                if response is not None and response.status_code in (202, 404):
                    with self.lock:
                        self.runs = [r for r in self.runs if r[0] != run_id]

    # --- the mix ----------------------------------------------------------------------------------
    def one_request(self, operation):
        row_id, run_id = self._a_row()
        if operation == "get_row":
            self.request(operation, "GET", f"/rows/{row_id}", run_id=run_id)
        elif operation == "cast":
            self.request(operation, "POST", f"/rows/{row_id}/messages", {"type": "incr", "by": 1},
                         headers={"Idempotency-Key": str(uuid.uuid4())}, run_id=run_id)
        elif operation == "call":
            self.request(operation, "POST", f"/rows/{row_id}/messages?wait=true&timeout_ms=2000", {"type": "get"},
                         run_id=run_id)
        elif operation == "get_run":
            self.request(operation, "GET", f"/runs/{run_id}", run_id=run_id)
        elif operation == "list_runs":
            self.request(operation, "GET", "/runs?limit=20")
        elif operation == "stats":
            self.request(operation, "GET", "/stats")
        elif operation == "nodes":
            self.request(operation, "GET", "/nodes")
        elif operation == "metrics":
            self.request(operation, "GET", "/metrics", token=METRICS_TOKEN)
        elif operation == "bad_input":
            method, path, body = self.random.choice(BAD_INPUTS)
            self.request(operation, method, path, body)
        elif operation == "no_token":
            self.request(operation, "GET", f"/rows/{row_id}", token=None)

    def mix(self, duration_s):
        """Exactly rate x duration requests, each due at its own instant, handed to the client threads."""
        operations, weights = zip(*MIX)
        total = int(self.args.rate * duration_s)
        plan = self.random.choices(operations, weights, k=total)
        jobs = collections.deque()
        ready = threading.Semaphore(0)
        lag = []

        def client():
            while True:
                ready.acquire()
                job = jobs.popleft()
                if job is None:
                    return
                due, operation = job
                lag.append(time.monotonic() - due)
                self.one_request(operation)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        start = time.monotonic()
        last_report = start
        for index, operation in enumerate(plan):
            due = start + index / self.args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            jobs.append((due, operation))
            ready.release()
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                say(f"{index + 1:,}/{total:,} requests sent, {self.bad_count():,} unexpected so far")
        for _ in threads:
            jobs.append(None)
            ready.release()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_S * 2)
        return total, sorted(lag)

    def bad_count(self):
        with self.lock:
            return sum(n for (op, outcome), n in self.outcomes.items()
                       if outcome not in EXPECTED.get(op, {200}) and outcome not in DELIBERATE)


# --- memory and settling ---------------------------------------------------------------------------

def worker_rss(cluster):
    """{pid: RSS bytes} of every worker (node) of every instance."""
    sizes = {}
    for instance in cluster.instances:
        for pid in instance.worker_pids():
            sizes[pid] = psutil.Process(pid).memory_info().rss
    return sizes


def settle(cluster, soak):
    """Every run finished and no row server left anywhere; then a few seconds for the idle-time trims."""
    def quiet():
        runs = cluster.get("/runs?limit=100", headers=auth()).json()["runs"]
        stats = cluster.get("/stats", headers=auth()).json()
        return all(r["status"] in ("done", "stopped") for r in runs) and stats["cluster"]["row_servers"] == 0
    try:
        wait_until(quiet, SETTLE_TIMEOUT_S, interval=1.0, message="the runs never finished after the soak")
    except AssertionError:
        runs = cluster.get("/runs?limit=100", headers=auth()).json()["runs"]
        stats = cluster.get("/stats", headers=auth()).json()
        say("unfinished: " + "; ".join(f"run {r['id']} {r['status']} pending {r['pending']} active {r['active']}"
                                      for r in runs if r["status"] not in ("done", "stopped")))
        say("monitors by node: " + "; ".join(f"{n['node']}: {n.get('monitors')} servers {n.get('row_servers')}"
                                            for n in stats["nodes"]))
        diagnose(cluster.database_url, [r["id"] for r in runs if r["status"] not in ("done", "stopped")])
        raise
    time.sleep(10)  # not a synchronisation: the workers' idle trim (malloc_trim) runs a few s after a run ends


def diagnose(database_url, run_ids):
    """What the database says of unfinished runs: their pending/active rows, shards, leases and locks."""
    import psycopg2
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for sql in (
                "SELECT r.run_id, r.state, count(*), min(r.shard), max(r.shard), count(DISTINCT l.node_id),"
                " bool_and(l.expires_at > now()), min(r.epoch), max(l.epoch) FROM rows r"
                " LEFT JOIN shard_leases l ON l.shard = r.shard WHERE r.run_id = ANY(%s)"
                " AND r.state IN ('pending', 'active') GROUP BY 1, 2",
                "SELECT l.locktype, l.mode, l.granted, a.state, a.application_name, left(a.query, 120),"
                " now() - a.xact_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.relation = 'rows'::regclass OR l.relation = 'runs'::regclass",
                "SELECT id, status, max_concurrency FROM runs WHERE id = ANY(%s)"):
            cur.execute(sql, (run_ids,) if "%s" in sql else None)
            for row in cur.fetchall():
                say(f"db: {row}")
    conn.close()


def auth(token=API_TOKEN):
    return {"Authorization": f"Bearer {token}"}


def percentile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def say(message):
    print(f"soak: {message}", flush=True)


# --- report ----------------------------------------------------------------------------------------

def verdict(soak, before, after):
    unexpected = {f"{op} -> {outcome}": n for (op, outcome), n in sorted(soak.outcomes.items(), key=str)
                  if outcome not in EXPECTED.get(op, {200}) and outcome not in DELIBERATE}
    five_xx = sum(n for (_, outcome), n in soak.outcomes.items()
                  if isinstance(outcome, int) and outcome >= 500 and outcome != 503)
    memory = sum(after.values()) / sum(before.values())
    return {"unexpected": unexpected, "five_xx_not_503": five_xx, "memory_after_over_before": round(memory, 3),
            "passed": not unexpected and five_xx == 0 and memory <= MEMORY_TOLERANCE}


def write_report(stamp, args, soak, total, lag, before, after, result, elapsed):
    by_status = collections.Counter()
    for (_, outcome), n in soak.outcomes.items():
        by_status[str(outcome)] += n
    figures = {
        "stamp": stamp, "duration_s": args.duration, "rate": args.rate, "seed": args.seed,
        "requests_in_mix": total, "requests_all": sum(soak.outcomes.values()), "elapsed_s": round(elapsed, 1),
        "runs_started": soak.outcomes[("start_run", 201)], "deletes_offered": soak.deletes,
        "by_status": dict(sorted(by_status.items())),
        "by_operation": {f"{op} {outcome}": n for (op, outcome), n in sorted(soak.outcomes.items(), key=str)},
        "latency_ms": {op: {"p50": round(percentile(v, 0.5) * 1000, 1), "p99": round(percentile(v, 0.99) * 1000, 1)}
                       for op, v in sorted(soak.latencies.items())},
        "client_lag_p99_ms": round(percentile(lag, 0.99) * 1000, 1),
        "worker_rss_before": before, "worker_rss_after": after, **result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"soak-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    lines = [f"# greenrow soak, {stamp}", "",
             f"`python bench/soak.py --duration {args.duration} --rate {args.rate} --warm-up {args.warm_up} --seed {args.seed}`: nginx in "
             f"front of 2 instances x 2 workers, {total:,} requests in the mix over {elapsed:.0f} s after "
             f"{int(args.rate * args.warm_up):,} in {args.warm_up:g} s of warm-up (the tables count both), "
             f"{figures['runs_started']} runs of {RUN['rows']:,} rows started.", "",
             f"**{'PASS' if result['passed'] else 'FAIL'}**: 5xx other than 503: {result['five_xx_not_503']}; "
             f"unexpected answers: {sum(result['unexpected'].values())}; worker memory after / before: "
             f"{result['memory_after_over_before']} (at most {MEMORY_TOLERANCE}).", "",
             "| status | answers |", "| --- | --- |"]
    lines += [f"| {status} | {n:,} |" for status, n in figures["by_status"].items()]
    lines += ["", "| operation | answers | p50 (ms) | p99 (ms) |", "| --- | --- | --- | --- |"]
    for op, lat in figures["latency_ms"].items():
        answers = ", ".join(f"{outcome}: {n:,}" for (o, outcome), n in sorted(soak.outcomes.items(), key=str)
                            if o == op)
        lines.append(f"| {op} | {answers} | {lat['p50']} | {lat['p99']} |")
    lines += ["", f"Worker RSS before (after {args.warm_up:g} s of warm-up): {sum(before.values()) / 2**20:.1f} MiB over "
                  f"{len(before)} workers; after: {sum(after.values()) / 2**20:.1f} MiB."]
    if result["unexpected"]:
        lines += ["", "Unexpected answers:", ""] + [f"- {k}: {n}" for k, n in result["unexpected"].items()]
    (RESULTS / f"soak-{stamp}.md").write_text("\n".join(lines) + "\n")
    return RESULTS / f"soak-{stamp}.md"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("SOAK_DURATION_S") or 600))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE") or 150))
    parser.add_argument("--run-every", type=float, default=20.0, help="seconds between new runs (20)")
    parser.add_argument("--warm-up", type=float, default=60.0,
                        help="seconds of the mix before the memory is measured (60): its first use of each path")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED") or 1))
    return parser.parse_args(argv)


@contextlib.contextmanager
def run_keeper(soak):
    """Runs started (and stopped, and deleted) by the soak's run keeper while the block runs."""
    stop = threading.Event()
    keeper = threading.Thread(target=soak.run_keeper, args=(stop,), daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(60)


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    workdir = REPO / "var" / "soak" / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    with BenchPostgres() as pg:
        pg.recreate_database("soak")
        env = {"GREENROW_API_TOKEN": API_TOKEN, "GREENROW_METRICS_TOKEN": METRICS_TOKEN,
               "GREENROW_FAULT_INJECTION": "0"}  # as deployed: a crash message is bad input
        cluster = Cluster(pg.url("soak"), workdir, env=env)
        cluster.http.headers.update(auth())
        try:
            cluster.start(instances=2, workers=2)
            soak = Soak(cluster, args)
            say(f"cluster up (logs in {workdir}); warm-up run")
            soak.start_run()
            if args.warm_up:
                say(f"warm-up: {args.warm_up:g} s of the mix, then the memory before")
                with run_keeper(soak):
                    soak.mix(args.warm_up)
            settle(cluster, soak)
            before = worker_rss(cluster)
            say(f"{int(args.rate * args.duration):,} requests over {args.duration:g} s at {args.rate:g}/s, "
                f"a run every {args.run_every:g} s (DELETE offered: {soak.deletes})")
            started = time.monotonic()
            with run_keeper(soak):
                total, lag = soak.mix(args.duration)
            elapsed = time.monotonic() - started
            say("mix done; waiting for every run to finish")
            settle(cluster, soak)
            after = worker_rss(cluster)
            result = verdict(soak, before, after)
            report = write_report(stamp, args, soak, total, lag, before, after, result, elapsed)
        finally:
            cluster.close()
    print(report.read_text())
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
