"""From the runs' raw results to the report: flat figures per run, medians, issue 4's targets, JSON and Markdown.

Every figure is the median over the runs; a ratio (greenrow / Elixir, scale / ceiling) is taken
within each run first, then its median is reported.
"""
import json
import statistics

IMPLS = (("greenrow", "greenrow"), ("greenrow_quiet", "greenrow, no HTTP load"), ("peer", "asyncio peer"),
         ("elixir", "Elixir/OTP ref"))
MIB = 1024 * 1024

# (key, label, decimals); the seed scenario table, one column per implementation
SEED_FIGURES = (
    ("makespan_s", "makespan (s)", 2),
    ("makespan_over_ideal", "makespan / ideal", 2),
    ("makespan_over_elixir", "makespan / Elixir's, same run", 2),
    ("ideal_over_elixir", "ideal / Elixir's: the lowest makespan / Elixir's any implementation can reach", 2),
    ("ticks_per_s", "committed ticks/s (ticks / makespan)", 0),
    ("lateness_p50_ms", "tick lateness p50 (ms)", 1),
    ("lateness_p99_ms", "tick lateness p99 (ms)", 1),
    ("http_mean_ms", "HTTP latency under load, mean (ms, from due time)", 2),
    ("http_p99_ms", "HTTP latency under load, p99 (ms, from due time)", 1),
    ("http_sent_mean_ms", "HTTP latency, send → response, mean (ms)", 2),
    ("http_sent_p99_ms", "HTTP latency, send → response, p99 (ms)", 1),
    ("http_errors", "HTTP errors (of requests sent)", 0),
    ("http_rate", "HTTP load achieved (req/s)", 0),
    ("http_client_cpu_pct", "load client's own CPU (% of a core)", 1),
    ("rss_peak_mib", "peak RSS (MiB)", 1),
    ("bytes_per_row_server", "bytes per live row server (Δ RSS / peak live)", 0),
    ("rss_after_over_before", "RSS after run / before", 3),
    ("impl_cpu_s_per_1000_ticks", "process CPU s per 1,000 ticks", 4),
    ("impl_us_per_tick", "process CPU µs per tick", 1),
    ("cpu_over_elixir", "process CPU per tick / Elixir's, same run (both slow down alike on a slower machine)", 3),
    ("http_worker_us_per_request", "worker CPU µs per HTTP request of the load (run with it − run without it)", 0),
    ("pg_cpu_s_per_1000_ticks", "PostgreSQL CPU s per 1,000 ticks", 4),
    ("metrics_ms_max", "slowest GET /stats answer (ms): about the longest hub stall seen", 0),
    ("pool_waiting_max", "most greenlets waiting for a DB connection at once", 0),
    ("softirq_s", "kernel softirq (loopback TCP) during the phase (s)", 1),
    ("other_cpu_s", "other CPU on the machine during the phase (s)", 1),
    ("verified", "verified (every row 0, ticks = 3 × rows)", 0),
)
SCALE_FIGURES = (
    ("makespan_s", "makespan (s)", 2),
    ("makespan_over_ideal", "makespan / ideal", 2),
    ("sustained_ticks_per_s", "sustained committed ticks/s (busy window)", 0),
    ("peak_1s_ticks_per_s", "best 1 s of committed ticks/s", 0),
    ("ceiling_rows_per_s", "batched-UPDATE ceiling (rows/s, 5,000 per statement)", 0),
    ("sustained_over_ceiling", "sustained / ceiling, same run", 3),
    ("lateness_p50_ms", "tick lateness p50 (ms)", 1),
    ("lateness_p99_ms", "tick lateness p99 (ms)", 1),
    ("rss_before_mib", "RSS before (MiB)", 1),
    ("rss_peak_mib", "peak RSS (MiB)", 1),
    ("bytes_per_row_server", "bytes per live row server ((peak − before) / 100,000)", 0),
    ("rss_after_over_before", "RSS after run / before", 3),
    ("impl_us_per_tick", "worker CPU µs per tick", 1),
    ("pg_cpu_s_per_1000_ticks", "PostgreSQL CPU s per 1,000 ticks", 4),
    ("metrics_ms_max", "slowest GET /stats answer (ms): about the longest hub stall seen", 0),
    ("pool_waiting_max", "most greenlets waiting for a DB connection at once", 0),
    ("other_cpu_s", "other CPU on the machine during the phase (s)", 1),
    ("verified", "verified", 0),
)


def flatten(phase, ideal_s=None, elixir_makespan=None, elixir_us_per_tick=None):
    """A phase's raw result as flat numbers (None where not measured)."""
    if not phase or phase.get("error") or phase.get("available") is False:
        return {}
    late = phase.get("tick_lateness") or {}
    http = phase.get("http") or {}
    latency = http.get("latency_from_due") or {}  # what a client sending at the target rate sees
    service_latency = http.get("latency") or {}
    flat = {
        "makespan_s": phase.get("makespan_s"),
        "ticks_per_s": phase.get("ticks_per_s"),
        "sustained_ticks_per_s": phase.get("sustained_ticks_per_s"),
        "peak_1s_ticks_per_s": phase.get("peak_1s_ticks_per_s"),
        "lateness_p50_ms": late.get("p50_ms"),
        "lateness_p99_ms": late.get("p99_ms"),
        "http_mean_ms": latency.get("mean_ms"),
        "http_p99_ms": latency.get("p99_ms"),
        "http_sent_mean_ms": service_latency.get("mean_ms"),
        "http_sent_p99_ms": service_latency.get("p99_ms"),
        "http_errors": http.get("errors") if http and "error" not in http else None,
        "http_rate": http.get("rate_achieved"),
        "http_client_cpu_pct": http.get("client_cpu_pct"),
        "rss_before_mib": _mib(phase.get("rss_before")),
        "rss_peak_mib": _mib(phase.get("rss_peak")),
        "bytes_per_row_server": phase.get("bytes_per_row_server"),
        "rss_after_over_before": phase.get("rss_after_over_before"),
        "impl_cpu_s_per_1000_ticks": phase.get("impl_cpu_s_per_1000_ticks"),
        "impl_us_per_tick": phase.get("impl_us_per_tick"),
        "pg_cpu_s_per_1000_ticks": phase.get("pg_cpu_s_per_1000_ticks"),
        "other_cpu_s": phase.get("other_cpu_s"),
        "softirq_s": phase.get("softirq_s"),
        "metrics_ms_max": phase.get("metrics_ms_max"),
        "pool_waiting_max": phase.get("pool_waiting_max"),
        "verified": phase.get("verified"),
    }
    if ideal_s and flat["makespan_s"]:
        flat["makespan_over_ideal"] = round(flat["makespan_s"] / ideal_s, 3)
    if elixir_us_per_tick and flat["impl_us_per_tick"]:
        flat["cpu_over_elixir"] = round(flat["impl_us_per_tick"] / elixir_us_per_tick, 3)
    if elixir_makespan and flat["makespan_s"]:
        flat["makespan_over_elixir"] = round(flat["makespan_s"] / elixir_makespan, 3)
        if ideal_s and phase.get("http"):
            flat["ideal_over_elixir"] = round(ideal_s / elixir_makespan, 3)
    return flat


def flatten_run(run, ideal_seed, ideal_scale):
    elixir = run.get("elixir") or {}
    elixir_makespan = elixir.get("makespan_s") if not elixir.get("error") else None
    elixir_us_per_tick = elixir.get("impl_us_per_tick") if not elixir.get("error") else None
    flat = {impl: flatten(run.get(impl), ideal_seed, elixir_makespan, elixir_us_per_tick) for impl, _ in IMPLS}
    scale = flatten(run.get("scale"), ideal_scale)
    if scale:
        bytes_all = (run["scale"] or {}).get("bytes_per_row_server_all_rows")
        scale["bytes_per_row_server"] = bytes_all
        ceiling = (run.get("ceiling") or {}).get("rows_per_s")
        scale["ceiling_rows_per_s"] = ceiling
        if ceiling and scale.get("sustained_ticks_per_s"):
            scale["sustained_over_ceiling"] = round(scale["sustained_ticks_per_s"] / ceiling, 3)
    flat["scale"] = scale
    flat["greenrow"].update(_http_cost(run.get("greenrow") or {}, run.get("greenrow_quiet") or {}))
    return flat


def _http_cost(loaded, quiet):
    """What serving the HTTP load cost the workers: the loaded run's CPU minus the same run's without it."""
    requests = (loaded.get("http") or {}).get("requests_done")
    if not requests or loaded.get("error") or quiet.get("error") or not quiet.get("impl_cpu_s"):
        return {}
    return {"http_worker_us_per_request": round((loaded["impl_cpu_s"] - quiet["impl_cpu_s"]) / requests * 1e6)}


def medians(flat_runs):
    """{impl: {figure: median over runs}}; booleans become 'all runs true'."""
    out = {}
    for impl in [i for i, _ in IMPLS] + ["scale"]:
        keys = {k for run in flat_runs for k in run.get(impl, {})}
        out[impl] = {}
        for key in keys:
            values = [run[impl][key] for run in flat_runs if run.get(impl, {}).get(key) is not None]
            if not values:
                out[impl][key] = None
            elif isinstance(values[0], bool):
                out[impl][key] = all(values)
            elif key == "http_errors":
                out[impl][key] = sum(values)  # any error in any run counts
            else:
                out[impl][key] = round(statistics.median(values), 4)
    return out


def targets(summary):
    """Issue 4's targets: (number, text, measured, pass) with pass None when not measured."""
    g, quiet, s = summary["greenrow"], summary["greenrow_quiet"], summary["scale"]

    def check(value, ok):
        return (value, None if value is None else bool(ok(value)))

    rows = [
        ("1", "seed makespan ≤ 1.15 × ideal", *check(g.get("makespan_over_ideal"), lambda v: v <= 1.15)),
        ("1", "seed makespan ≤ 0.5 × Elixir's (same run)",
         *check(g.get("makespan_over_elixir"), lambda v: v <= 0.5)),
        ("2", "tick lateness p99 ≤ 100 ms", *check(g.get("lateness_p99_ms"), lambda v: v <= 100)),
        ("2", "tick lateness p50 ≤ 20 ms", *check(g.get("lateness_p50_ms"), lambda v: v <= 20)),
        ("3", "HTTP under load: mean ≤ 20 ms", *check(g.get("http_mean_ms"), lambda v: v <= 20)),
        ("3", "HTTP under load: p99 ≤ 100 ms", *check(g.get("http_p99_ms"), lambda v: v <= 100)),
        ("3", "HTTP under load: no errors (all runs)", *check(g.get("http_errors"), lambda v: v == 0)),
        ("4", "100k: sustained ticks/s ≥ 0.5 × batched-UPDATE ceiling",
         *check(s.get("sustained_over_ceiling"), lambda v: v >= 0.5)),
        ("5", "100k: ≤ 5,000 B RSS per live row server", *check(s.get("bytes_per_row_server"), lambda v: v <= 5000)),
        ("5", "100k: RSS after run within 10 % of before",
         *check(s.get("rss_after_over_before"), lambda v: v <= 1.10)),
        ("5", "seed: RSS after run within 10 % of before",
         *check(g.get("rss_after_over_before"), lambda v: v <= 1.10)),
        ("6", "seed: worker CPU ≤ 15 µs per committed tick (the seed run without the HTTP load: the tick path)",
         *check(quiet.get("impl_us_per_tick"), lambda v: v <= 15)),
        ("6", "seed: worker CPU ≤ 15 µs per committed tick (whole run, incl. serving the HTTP load)",
         *check(g.get("impl_us_per_tick"), lambda v: v <= 15)),
    ]
    return [{"issue_target": n, "target": text, "measured": value, "pass": ok} for n, text, value, ok in rows]


def build(meta, runs):
    flat_runs = [flatten_run(run, meta["ideal_seed_s"], meta.get("ideal_scale_s")) for run in runs]
    summary = medians(flat_runs)
    return {**meta, "summary": summary, "targets": targets(summary), "per_run": flat_runs, "runs": runs}


def write_json(report, path):
    path.write_text(json.dumps(report, separators=(",", ":"), default=str))


def markdown(report, charts_dir):
    m, summary = report, report["summary"]
    lines = [
        f"# greenrow bench, {m['stamp']}",
        "",
        f"`make bench` ({m['mode']}): {m['runs_done']} run(s), each figure the median of the runs; ratios taken "
        f"within a run. Machine: {m['machine']}. PostgreSQL {m['pg_version']} (default settings, fsync on, "
        f"TCP loopback), shared by everything. greenrow with its default settings: {m.get('workers')} gunicorn "
        f"worker(s), one node each. Seed scenario: {m['seed_rows']:,} rows, start 3, step 1, tick 1 s, "
        f"max_concurrency {m['seed_concurrency']:,} (ideal makespan {m['ideal_seed_s']:g} s); HTTP load "
        f"{m['load']['rate']} req/s for {m['load']['duration']} s during the greenrow run.",
        "",
    ]
    for note in m["notes"]:
        lines.append(f"- **Note:** {note}")
    if m["notes"]:
        lines.append("")
    lines += ["## Targets (issue 4)", "", "| # | target | measured (median) | result |", "| --- | --- | --- | --- |"]
    for t in report["targets"]:
        result = "not measured" if t["pass"] is None else ("**pass**" if t["pass"] else "**miss**")
        measured = _fmt(t["measured"], _decimals(t["measured"]))
        lines.append(f"| {t['issue_target']} | {t['target']} | {measured} | {result} |")
    lines += ["", f"## Seed scenario ({m['seed_rows']:,} rows, {m['seed_concurrency']:,} concurrent)", "",
              "| figure | " + " | ".join(label for _, label in IMPLS) + " |",
              "| --- |" + " --- |" * len(IMPLS)]
    for key, label, decimals in SEED_FIGURES:
        cells = [_fmt(summary[impl].get(key), decimals) for impl, _ in IMPLS]
        if any(c != "–" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if summary["scale"]:
        lines += ["", f"## Scale ({m['scale_rows']:,} rows, {m['scale_rows']:,} concurrent, greenrow)", "",
                  "| figure | greenrow |", "| --- | --- |"]
        for key, label, decimals in SCALE_FIGURES:
            lines.append(f"| {label} | {_fmt(summary['scale'].get(key), decimals)} |")
    lines += ["", "## Per run", "", "| run | greenrow makespan | peer | Elixir | greenrow / Elixir | "
              "lateness p99 | HTTP mean / p99 / errors | 100k ticks/s / ceiling |", "| --- |" + " --- |" * 7]
    for number, flat in enumerate(report["per_run"], 1):
        g, sc = flat["greenrow"], flat["scale"]
        lines.append(
            f"| {number} | {_fmt(g.get('makespan_s'), 2)} s | {_fmt(flat['peer'].get('makespan_s'), 2)} s | "
            f"{_fmt(flat['elixir'].get('makespan_s'), 2)} s | {_fmt(g.get('makespan_over_elixir'), 2)} | "
            f"{_fmt(g.get('lateness_p99_ms'), 1)} ms | {_fmt(g.get('http_mean_ms'), 2)} / "
            f"{_fmt(g.get('http_p99_ms'), 1)} ms / {_fmt(g.get('http_errors'), 0)} | "
            f"{_fmt(sc.get('sustained_ticks_per_s'), 0)} / {_fmt(sc.get('ceiling_rows_per_s'), 0)} |")
    if m.get("charts"):
        lines += ["", f"## Charts (run {m['chart_run']}, the median greenrow makespan)", ""]
        for name, title in m["charts"]:
            lines.append(f"![{title}]({charts_dir}/{name})")
    lines += ["", "What each figure means: `bench/README.md`. Raw data: the JSON beside this file.", ""]
    return "\n".join(lines)


def _decimals(value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 3


def _mib(value):
    return round(value / MIB, 1) if value else None


def _fmt(value, decimals):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, (int, float)):
        return f"{value:,.{decimals}f}" if decimals else f"{round(value):,}"
    return str(value)
