"""`make bench`: greenrow against the asyncio peer and the Elixir/OTP reference, on one PostgreSQL.

One bench PostgreSQL (bench/pg.py) for everything. Each run: greenrow's seed scenario through its
HTTP API with the bounded HTTP load, the same without the load (the tick path's own CPU), the
asyncio peer, the Elixir reference, then (unless
BENCH_SCALE=0) greenrow at 100,000 rows / 100,000 concurrent and the batched-UPDATE ceiling; after the
runs (unless BENCH_DASHBOARD=0), what watching costs: bench/dashboard_cost.py, one round.
Writes bench/results/<UTC stamp>.json, .md and charts, and copies them to bench/results/latest*.
Everything it starts is stopped on exit, Ctrl-C or error. What each figure means: bench/README.md.

    BENCH_RUNS=3 BENCH_SCALE=1 python bench/run_bench.py     # the defaults
    BENCH_QUICK=1 python bench/run_bench.py                  # 2,000 rows, 1 run, no scale
"""
import datetime
import os
import platform
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)  # import bench.* as a package, never the repo's other top-level names by accident

import psutil  # noqa: E402

from bench import charts, dashboard_cost, report  # noqa: E402
from bench.pg import BenchPostgres  # noqa: E402
from bench.phase_greenrow import ideal_makespan_s, run_greenrow  # noqa: E402
from bench.phase_peers import run_ceiling, run_elixir, run_peer  # noqa: E402
from bench.sampler import cpu_quiet  # noqa: E402

RESULTS = REPO / "bench" / "results"
LOGS = REPO / "var" / "bench-logs"
SEED_ROWS, SEED_CONCURRENCY = 20_000, 10_000
QUICK_ROWS = 2_000
SCALE_ROWS = 100_000
LOAD = {"rate": 500, "duration": 4.0}
QUICK_LOAD = {"rate": 500, "duration": 2.0}
QUIET_MAX_WAIT_S = 30


class Interrupted(KeyboardInterrupt):
    pass


def _env_int(name, default, low, high):
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw.strip() else default
    except ValueError:
        sys.exit(f"bench: {name} must be an integer from {low} to {high}, got {raw!r}")
    if not low <= value <= high:
        sys.exit(f"bench: {name} must be an integer from {low} to {high}, got {value}")
    return value


def config():
    quick = _env_int("BENCH_QUICK", 0, 0, 1) == 1
    return {
        "quick": quick,
        "runs": 1 if quick else _env_int("BENCH_RUNS", 3, 1, 20),
        "scale": False if quick else _env_int("BENCH_SCALE", 1, 0, 1) == 1,
        "rows": QUICK_ROWS if quick else SEED_ROWS,
        "concurrency": SEED_CONCURRENCY,
        "load": QUICK_LOAD if quick else LOAD,
        "dashboard": False if quick else _env_int("BENCH_DASHBOARD", 1, 0, 1) == 1,
    }


def phase(name, log_dir, fn, *args, **kwargs):
    """Run one phase; an exception becomes {"error": ...} (logged), so the other phases still run."""
    waited, busy = cpu_quiet(QUIET_MAX_WAIT_S)
    started = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        with open(log_dir / "errors.log", "a") as log:
            log.write(f"--- {name}\n{traceback.format_exc()}\n")
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["phase_s"] = round(time.monotonic() - started, 1)
    result["quiet_wait_s"], result["busy_cores_before"] = waited, busy
    print(f"  {name}: {_headline(result)}", flush=True)
    return result


def _headline(r):
    if r.get("error"):
        return "ERROR " + r["error"]
    if "rows_per_s" in r:
        return f"{r['rows_per_s']:,.0f} rows/s ({r['statements']} statements of {r['batch']:,})"
    late = r.get("tick_lateness") or {}
    text = (f"makespan {r.get('makespan_s')} s, {r.get('ticks_per_s')} ticks/s, lateness p50/p99 "
            f"{late.get('p50_ms')}/{late.get('p99_ms')} ms, CPU {r.get('impl_us_per_tick')} µs/tick, "
            f"PG {r.get('pg_cpu_s_per_1000_ticks')} s/1k ticks, verified {r.get('verified')}")
    http = r.get("http")
    if http and "latency" in http:
        text += (f"; HTTP mean/p99 {http['latency'].get('mean_ms')}/{http['latency'].get('p99_ms')} ms, "
                 f"errors {http['errors']}, client CPU {http['client_cpu_pct']} %")
    if r.get("sustained_ticks_per_s"):
        text += f"; sustained {r['sustained_ticks_per_s']:,.0f} ticks/s, {r.get('bytes_per_row_server_all_rows')} B/row"
    return text


def one_run(number, cfg, pg, log_dir, elixir_state):
    rows, conc = cfg["rows"], cfg["concurrency"]
    run = {"run": number}
    run["greenrow"] = phase("greenrow", log_dir, run_greenrow, pg, log_dir / f"greenrow-{number}.log", rows, conc,
                            load=cfg["load"])
    run["greenrow_quiet"] = phase("greenrow, no HTTP load", log_dir, run_greenrow, pg,
                                  log_dir / f"greenrow-quiet-{number}.log", rows, conc)
    run["peer"] = phase("asyncio peer", log_dir, run_peer, pg, log_dir / f"peer-{number}.log", rows, conc)
    if elixir_state["available"]:
        run["elixir"] = phase("elixir ref", log_dir, run_elixir, pg, log_dir / f"elixir-{number}.log", rows, conc)
        if run["elixir"].get("available") is False:
            elixir_state.update(available=False, reason=run["elixir"]["error"])
    else:
        run["elixir"] = {"available": False, "error": elixir_state["reason"]}
    if cfg["scale"]:
        run["scale"] = phase("greenrow 100k", log_dir, run_greenrow, pg, log_dir / f"scale-{number}.log",
                             SCALE_ROWS, SCALE_ROWS, poll_s=1.0, timeout_s=600)
        run["ceiling"] = phase("batched-UPDATE ceiling", log_dir, run_ceiling, pg, log_dir / f"ceiling-{number}.log")
    return run


def main():
    cfg = config()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    log_dir = LOGS / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    print(f"bench {stamp}: {cfg['runs']} run(s), {cfg['rows']:,} rows, scale {'on' if cfg['scale'] else 'off'}; "
          f"logs in {log_dir.relative_to(REPO)}", flush=True)
    runs, notes, elixir_state = [], [], {"available": True, "reason": None}
    pg = BenchPostgres()
    pg_version, interrupted, watching = None, False, None
    try:
        pg.start()
        pg_version = pg.admin("SHOW server_version")[0][0]
        for number in range(1, cfg["runs"] + 1):
            print(f"run {number}/{cfg['runs']}", flush=True)
            runs.append(one_run(number, cfg, pg, log_dir, elixir_state))
        if cfg["dashboard"]:
            print("what watching costs (the dashboard, /metrics)", flush=True)
            watching = _watching_cost(pg, log_dir)
    except KeyboardInterrupt:
        interrupted = True
        notes.append(f"interrupted: {len(runs)} of {cfg['runs']} runs finished; the report holds those only")
    finally:
        pg.stop()
    if not runs:
        print("bench: no run finished, no report written", file=sys.stderr)
        return 130 if interrupted else 1
    notes += _notes(runs, elixir_state)
    path = write_outputs(stamp, cfg, runs, notes, pg_version)
    if watching:
        for report_path in (path, RESULTS / "latest.md"):
            report_path.write_text(report_path.read_text() + "\n" + watching)
    print(f"report: {path.relative_to(REPO)} (and bench/results/latest.md)")
    failed = any(run[p].get("error") for run in runs for p in ("greenrow", "greenrow_quiet", "peer", "scale", "ceiling") if p in run)
    return 130 if interrupted else 1 if failed else 0


def _watching_cost(pg, log_dir):
    """bench/dashboard_cost.py's table (one round), or a line saying why it could not be measured."""
    try:
        figures = dashboard_cost.measure_costs(pg, 1, log_dir / "dashboard-cost.log",
                                               say=lambda line: print(f"  {line}", flush=True))
        return dashboard_cost.markdown(dashboard_cost.summary(figures), 1)
    except Exception as exc:
        with open(log_dir / "errors.log", "a") as log:
            log.write(f"--- dashboard cost\n{traceback.format_exc()}\n")
        return f"## What watching costs\n\nnot measured: {type(exc).__name__}: {exc}\n"


def _notes(runs, elixir_state):
    notes = []
    if not elixir_state["available"]:
        notes.append(f"the Elixir reference could not run on this machine ({elixir_state['reason']}); "
                     "greenrow / Elixir ratios are not measured")
    for run in runs:
        for name, result in run.items():
            if isinstance(result, dict) and result.get("error") and result.get("available") is not False:
                notes.append(f"run {run['run']} {name} failed: {result['error']}")
            elif isinstance(result, dict) and (result.get("other_cpu_s") or 0) - (result.get("softirq_s") or 0) > 3:
                notes.append(f"run {run['run']} {name}: {result['other_cpu_s']} CPU s used by other programs "
                             f"during the phase, of which at most {result['softirq_s']} s kernel softirq "
                             "(interference)")
    return notes


def write_outputs(stamp, cfg, runs, notes, pg_version):
    RESULTS.mkdir(parents=True, exist_ok=True)
    chart_run = _median_run(runs)
    chart_dir = RESULTS / stamp
    drawn = charts.draw_all(chart_run, chart_dir) if chart_run else []
    meta = {
        "stamp": stamp, "mode": "quick" if cfg["quick"] else "full", "config": cfg, "runs_done": len(runs),
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
                   f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "pg_version": pg_version, "seed_rows": cfg["rows"], "seed_concurrency": cfg["concurrency"],
        "ideal_seed_s": ideal_makespan_s(cfg["rows"], cfg["concurrency"]),
        "scale_rows": SCALE_ROWS, "ideal_scale_s": ideal_makespan_s(SCALE_ROWS, SCALE_ROWS),
        "workers": next((r["greenrow"]["workers"] for r in runs if r["greenrow"].get("workers")), None),
        "load": cfg["load"], "notes": notes, "charts": drawn, "chart_run": chart_run and chart_run["run"],
    }
    full = report.build(meta, runs)
    report.write_json(full, RESULTS / f"{stamp}.json")
    (RESULTS / f"{stamp}.md").write_text(report.markdown(full, stamp))
    latest = RESULTS / "latest"
    if latest.exists():
        shutil.rmtree(latest)
    latest.mkdir()
    for name, _ in drawn:
        shutil.copy2(chart_dir / name, latest / name)
    (RESULTS / "latest.md").write_text(report.markdown(full, "latest"))
    return RESULTS / f"{stamp}.md"


def _median_run(runs):
    ranked = sorted((r for r in runs if r["greenrow"].get("makespan_s")), key=lambda r: r["greenrow"]["makespan_s"])
    return ranked[len(ranked) // 2] if ranked else (runs[0] if runs else None)


def _raise_interrupted(signum, frame):
    raise Interrupted()


if __name__ == "__main__":
    sys.exit(main())
