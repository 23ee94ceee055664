"""The phases that run another program against the bench PostgreSQL: the asyncio peer, the Elixir
reference and the batched-UPDATE ceiling. Each program prints one JSON object; around it we sample
its process tree (RSS, CPU), PostgreSQL's CPU, the machine's busy CPU and the database's updated
tuples (pg_stat_database, flushed by backends about once a second: ticks/s over time for programs
that have no /stats).
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg2

from bench.sampler import Sampler, machine_busy_s, machine_probe, own_cpu_s, pg_probe, process_probe, softirq_s

REPO = Path(__file__).resolve().parent.parent
PEER = REPO / "bench" / "peers" / "asyncio_peer.py"
ELIXIR_REF = REPO / "bench" / "elixir_ref.sh"
PEER_POOL = 20
ELIXIR_MISSING = 3  # elixir_ref.sh's exit code when elixir or p1_pgsql is missing


class StatProbe:
    """tup_updated of one database, read through one connection kept for the phase."""

    def __init__(self, pg, database):
        self.database = database
        self.conn = psycopg2.connect(pg.url("postgres"))
        self.conn.autocommit = True

    def __call__(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT tup_updated FROM pg_stat_database WHERE datname = %s", (self.database,))
            row = cur.fetchone()
        return row and {"db_tup_updated": row[0]}

    def close(self):
        self.conn.close()


def run_program(pg, command, env, log_path, database, timeout_s):
    """Run one program under the sampler; returns (exit code, its JSON or None, measurements)."""
    stat = StatProbe(pg, database) if database else None
    pg0, machine0, own0, irq0 = pg.cpu_s(), machine_busy_s(), own_cpu_s(), softirq_s()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
    probes = [process_probe("impl", psutil.Process(proc.pid)), pg_probe(pg), machine_probe]
    sampler = Sampler(probes + ([stat] if stat else []))
    try:
        with sampler:
            try:
                out, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                out = b""
            exited_at = sampler.now()
    finally:
        _kill_group(proc)
        if stat:
            stat.close()
    measured = {
        "wall_s": round(exited_at, 3),
        "pg_cpu_s": round(pg.cpu_s() - pg0, 3),
        "machine_busy_s": round(machine_busy_s() - machine0, 3),
        "bench_cpu_s": round(own_cpu_s() - own0, 3),  # incl. the program itself, reaped by now
        "softirq_s": round(softirq_s() - irq0, 3),
        "rss_peak": sampler.peak("impl_rss"),
        "samples": sampler.samples,
    }
    return proc.returncode, _last_json(out.decode(errors="replace")), measured


def run_peer(pg, log_path, rows, max_concurrency, timeout_s=600):
    pg.recreate_database("peer")
    pg.checkpoint()
    command = [sys.executable, str(PEER), "--dsn", pg.url("peer"), "--rows", str(rows),
               "--concurrency", str(max_concurrency), "--pool", str(PEER_POOL), "--tick-ms", "1000",
               "--start-value", "3"]
    code, out, measured = run_program(pg, command, dict(os.environ), log_path, "peer", timeout_s)
    if out is None:
        return {"error": f"asyncio_peer.py exited with {code} and no JSON; see {log_path}", **measured}
    return _figures(out, measured, code, impl_cpu=out["cpu_s"], lateness=out["tick_lateness"],
                    peak_tasks=out["peak_row_tasks"])


def run_elixir(pg, log_path, rows, max_concurrency, timeout_s=600):
    pg.recreate_database("elixir_ref")
    pg.checkpoint()
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(pg.port), PGUSER="postgres", PGDATABASE="postgres",
               ELIXIR_REF_DB="elixir_ref", PGDATA_DIR=str(pg.pgdata))
    command = ["bash", str(ELIXIR_REF), str(rows), str(max_concurrency), str(PEER_POOL)]
    code, out, measured = run_program(pg, command, env, log_path, "elixir_ref", timeout_s)
    if code == ELIXIR_MISSING:
        reason = Path(log_path).read_text(errors="replace").strip().splitlines()[-1:]
        return {"available": False, "error": "Elixir reference not run: " + " ".join(reason)}
    if out is None:
        return {"error": f"elixir_ref.sh exited with {code} and no JSON; see {log_path}", **measured}
    out["verified"] = bool(out.get("check_all_zero") and out.get("check_ticks_ok"))
    result = _figures(out, measured, code, impl_cpu=out["beam_cpu_s"], lateness=out["tick_lateness"],
                      peak_tasks=out["peak_row_processes"])
    result["own_pg_cpu_s_makespan"] = out.get("pg_cpu_s")
    result["beam_memory_peak_bytes"] = out.get("beam_memory_peak_bytes")
    result["row_process_memory_bytes"] = out.get("row_process_memory_bytes")
    return result


def run_ceiling(pg, log_path, rows=100_000, batch=5_000, seconds=5.0):
    pg.recreate_database("bench_ceiling")
    command = [sys.executable, str(REPO / "bench" / "ceiling.py"), "--dsn", pg.url("bench_ceiling"),
               "--rows", str(rows), "--batch", str(batch), "--seconds", str(seconds)]
    code, out, measured = run_program(pg, command, dict(os.environ), log_path, None, 120)
    if out is None:
        return {"error": f"ceiling.py exited with {code}; see {log_path}"}
    measured.pop("samples")
    return {**out, "pg_cpu_s_whole_script": measured["pg_cpu_s"]}


def _figures(out, measured, code, impl_cpu, lateness, peak_tasks):
    ticks = out["total_ticks"]
    return {
        "exit_code": code,
        "exited_at_s": measured["wall_s"],
        "verified": bool(out.get("verified")),
        "makespan_s": out["makespan_s"],
        "ticks": ticks,
        "ticks_per_s": out["ticks_per_s"],
        "tick_lateness": lateness,
        "impl_cpu_s": impl_cpu,
        "impl_cpu_s_per_1000_ticks": round(impl_cpu / ticks * 1000, 4) if ticks else None,
        "impl_us_per_tick": round(impl_cpu / ticks * 1e6, 2) if ticks else None,
        "pg_cpu_s": measured["pg_cpu_s"],
        "pg_cpu_s_per_1000_ticks": round(measured["pg_cpu_s"] / ticks * 1000, 4) if ticks else None,
        "machine_busy_s": measured["machine_busy_s"],
        "bench_cpu_s": measured["bench_cpu_s"],
        "softirq_s": measured["softirq_s"],
        "other_cpu_s": round(measured["machine_busy_s"] - measured["bench_cpu_s"] - measured["pg_cpu_s"], 3),
        "rss_peak": measured["rss_peak"],
        "peak_row_tasks": peak_tasks,
        "raw": out,
        "samples": measured["samples"],
    }


def _last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _kill_group(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)
