"""`make profile`: one greenrow seed run with py-spy sampling every worker, to see where the CPU goes.

    make profile                                   # the seed scenario with the bench's HTTP load
    PROFILE_LOAD=0 make profile                    # without the load: the tick path alone
    PROFILE_ROWS=100000 PROFILE_CONCURRENCY=100000 PROFILE_LOAD=0 make profile

The run is `make bench`'s greenrow phase (bench/phase_greenrow.py) on the bench PostgreSQL. py-spy
samples each worker at 250 Hz from the moment its node is up until it exits at the end of the phase.
Writes bench/results/profiles/<UTC stamp>.md (the run's headline figures and the functions holding
the most samples, inclusive and self, summed over the workers) and the raw stacks beside it
(<stamp>-<pid>.txt, one "frame;frame;... count" line per stack: speedscope and flamegraph.pl read
them). Idle time (the hub waiting in epoll) is not sampled; compiled code (gevent's Cython hub,
libev, greenlet switches, psycopg2 and socket calls in C) counts as its nearest Python frame.
"""
import collections
import datetime
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)

from bench.pg import BenchPostgres  # noqa: E402
from bench.phase_greenrow import run_greenrow  # noqa: E402
from bench.run_bench import LOAD, SEED_CONCURRENCY, SEED_ROWS, _env_int  # noqa: E402

PROFILES = REPO / "bench" / "results" / "profiles"
PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 250
TOP = 30


def main():
    rows = _env_int("PROFILE_ROWS", SEED_ROWS, 1, 1_000_000)
    concurrency = _env_int("PROFILE_CONCURRENCY", SEED_CONCURRENCY, 1, 1_000_000)
    load = LOAD if _env_int("PROFILE_LOAD", 1, 0, 1) else None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    PROFILES.mkdir(parents=True, exist_ok=True)
    samplers = []

    def attach(service):
        for worker in service.workers():
            out = PROFILES / f"{stamp}-{worker.pid}.txt"
            samplers.append((out, subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(worker.pid), "--rate", str(RATE_HZ), "--nonblocking",
                 "--format", "raw", "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))

    with BenchPostgres() as pg:
        result = run_greenrow(pg, REPO / "var" / "bench-logs" / f"profile-{stamp}.log", rows, concurrency,
                              load=load, on_nodes_up=attach)
    raw = []
    for out, sampler in samplers:
        _, err = sampler.communicate(timeout=60)  # py-spy ends when its worker does
        if not out.exists():
            sys.exit(f"profile: py-spy wrote nothing for {out.name}: {err.decode().strip()[-300:]}")
        raw.append(out)
    path = PROFILES / f"{stamp}.md"
    path.write_text(markdown(stamp, rows, concurrency, load, result, raw))
    print(f"profile: {path.relative_to(REPO)}")


def tally(paths):
    """Samples per frame, inclusive (the frame is anywhere on the stack) and self (it is on top)."""
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            frames, count = stack.split(";"), int(count)
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    return inclusive, own, total


def markdown(stamp, rows, concurrency, load, result, raw):
    inclusive, own, total = tally(raw)
    http = result.get("http") or {}
    late = result.get("tick_lateness") or {}
    lines = [
        f"# greenrow profile, {stamp}", "",
        f"`make profile`: {rows:,} rows, max_concurrency {concurrency:,}, "
        + (f"HTTP load {load['rate']} req/s for {load['duration']} s" if load else "no HTTP load")
        + f"; py-spy at {RATE_HZ} Hz on {len(raw)} worker(s), {total:,} samples "
        f"({total / RATE_HZ:.2f} s of non-idle worker time; idle not sampled).", "",
        f"- makespan {result.get('makespan_s')} s, {result.get('ticks'):,} ticks, worker CPU "
        f"{result.get('impl_cpu_s')} s ({result.get('impl_us_per_tick')} µs per tick), tick lateness p50 / p99 "
        f"{late.get('p50_ms')} / {late.get('p99_ms')} ms",
    ]
    if http.get("latency"):
        lines.append(f"- HTTP: {http.get('requests_done')} requests, mean / p99 {http['latency'].get('mean_ms')} / "
                     f"{http['latency'].get('p99_ms')} ms, errors {http.get('errors')}")
    for title, counter in (("inclusive (the function or anything it calls)", inclusive), ("self", own)):
        lines += ["", f"## Samples, {title}", "", "| share | function (file:line) |", "| --- | --- |"]
        for frame, count in counter.most_common(TOP):
            lines.append(f"| {count / total:.1%} | `{frame or '(no Python frame)'}` |")
    lines += ["", "Raw stacks: " + ", ".join(f"`{path.name}`" for path in raw), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
