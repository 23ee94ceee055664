"""PNG charts of one run's time series: ticks/s, tick lateness, memory and CPU over time, and the scale run.

Time 0 is each implementation's launch: greenrow's POST /runs; for the peer and the Elixir reference
(which print only at the end) their exit time minus their makespan. Rates come from cumulative
counters over sliding windows; the peers' ticks/s come from pg_stat_database's tup_updated, which
backends flush about once a second, hence coarser curves.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

MIB = 1024 * 1024
COLOURS = {"greenrow": "tab:green", "peer": "tab:blue", "elixir": "tab:purple"}
LABELS = {"greenrow": "greenrow (gevent)", "peer": "asyncio + asyncpg", "elixir": "Elixir/OTP ref"}


def draw_all(run, out_dir):
    """Draw what the run has; returns [(file name, title)]."""
    out_dir.mkdir(parents=True, exist_ok=True)
    series = {impl: _aligned(run.get(impl), impl) for impl in LABELS}
    series = {impl: s for impl, s in series.items() if s}
    drawn = []
    for name, title, draw in (("ticks.png", "committed ticks/s", _ticks), ("lateness.png", "tick lateness", _lateness),
                              ("memory.png", "RSS", _memory), ("cpu.png", "CPU", _cpu)):
        if series:
            fig = draw(series, run)
            fig.savefig(out_dir / name, dpi=100)
            plt.close(fig)
            drawn.append((name, f"{title} over time, seed scenario"))
    scale = run.get("scale")
    if scale and scale.get("samples"):
        fig = _scale(scale, run.get("ceiling") or {})
        fig.savefig(out_dir / "scale.png", dpi=100)
        plt.close(fig)
        drawn.append(("scale.png", "100,000 rows / 100,000 concurrent: ticks/s, row servers, RSS, CPU"))
    return drawn


def _aligned(phase, impl):
    if not phase or phase.get("error") or not phase.get("samples"):
        return None
    if impl == "greenrow":
        t0 = phase["marks"]["post"]
    else:
        t0 = phase["exited_at_s"] - phase["makespan_s"]
    return {"phase": phase, "samples": _shift(phase["samples"], t0),
            "metrics": _shift(phase.get("metric_samples", []), t0)}


def _shift(samples, t0):
    return [dict(s, t=s["t"] - t0) for s in samples]


def rate(samples, key, window_s, scale=1.0):
    """(middle of window, d key / dt) over sliding windows of at least window_s, from a cumulative counter."""
    points = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
    out, j = [], 0
    for t, v in points:
        while j + 1 < len(points) and t - points[j + 1][0] >= window_s:
            j += 1
        tj, vj = points[j]
        if t - tj >= window_s:
            out.append(((t + tj) / 2, (v - vj) / (t - tj) * scale))
    return out


def _plot(ax, points, **kwargs):
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, **kwargs)


def _finish(fig, ax, ylabel, title):
    ax.set_xlabel("seconds since launch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def _ticks(series, run):
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for impl, s in series.items():
        if impl == "greenrow":
            _plot(ax, rate(s["metrics"], "ticks_committed", 0.5), color=COLOURS[impl],
                  label=LABELS[impl] + " (/stats)")
        else:
            _plot(ax, rate(s["samples"], "db_tup_updated", 1.0), color=COLOURS[impl],
                  label=LABELS[impl] + " (pg_stat_database, ~1 s)")
    return _finish(fig, ax, "ticks committed per second", "Seed scenario: committed ticks/s")


def _lateness(series, run):
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    g = series.get("greenrow")
    if g:
        samples = g["metrics"]
        interval = []
        for a, b in zip(samples, samples[1:]):
            if "lateness_count" in a and "lateness_count" in b and b["lateness_count"] > a["lateness_count"]:
                interval.append((b["t"], (b["lateness_sum_ms"] - a["lateness_sum_ms"])
                                 / (b["lateness_count"] - a["lateness_count"])))
        _plot(ax, interval, color=COLOURS["greenrow"], label="mean of ticks committed in each sample")
        _plot(ax, [(s["t"], s["lateness_p99_ms"]) for s in samples if s.get("lateness_p99_ms") is not None],
              color="tab:red", linestyle="--", label="p99 so far (/stats)")
    _finish(fig, ax, "ms (commit − due)", "greenrow tick lateness over time")
    names, p50, p99 = [], [], []
    for impl, s in series.items():
        late = s["phase"].get("tick_lateness") or {}
        names.append(LABELS[impl].split(" ")[0])
        p50.append(late.get("p50_ms") or 0)
        p99.append(late.get("p99_ms") or 0)
    xs = range(len(names))
    bars.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50")
    bars.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99")
    bars.set_xticks(list(xs), names)
    bars.set_ylabel("ms")
    bars.set_title("lateness of the whole run")
    bars.legend(fontsize="small")
    bars.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def _memory(series, run):
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for impl, s in series.items():
        label = LABELS[impl] + (" workers (summed)" if impl == "greenrow" else " process tree")
        _plot(ax, [(p["t"], p["impl_rss"] / MIB) for p in s["samples"] if "impl_rss" in p],
              color=COLOURS[impl], label=label)
    return _finish(fig, ax, "RSS (MiB)", "Seed scenario: memory")


def _cpu(series, run):
    fig, (ax, ax_pg) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for impl, s in series.items():
        _plot(ax, rate(s["samples"], "impl_cpu_s", 0.5, 100), color=COLOURS[impl], label=LABELS[impl])
        _plot(ax_pg, rate(s["samples"], "pg_cpu_s", 0.5, 100), color=COLOURS[impl], label="PG during " + LABELS[impl])
    _finish(fig, ax, "% of one core", "process CPU")
    return _finish(fig, ax_pg, "% of one core", "PostgreSQL CPU (whole cluster)")


def _scale(scale, ceiling):
    t0 = scale["marks"]["post"]
    samples, metrics = _shift(scale["samples"], t0), _shift(scale.get("metric_samples", []), t0)
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    ticks, servers, rss, cpu = axes.flat
    _plot(ticks, rate(metrics, "ticks_committed", 0.5), color=COLOURS["greenrow"], label="committed ticks/s")
    if ceiling.get("rows_per_s"):
        ticks.axhline(ceiling["rows_per_s"], color="grey", linestyle="--", label="batched-UPDATE ceiling")
        ticks.axhline(ceiling["rows_per_s"] / 2, color="grey", linestyle=":", label="50 % of ceiling (target)")
    _finish(fig, ticks, "ticks/s", "committed ticks/s")
    _plot(servers, [(s["t"], s["row_servers"]) for s in metrics if "row_servers" in s], color="tab:orange",
          label="live row servers")
    _finish(fig, servers, "row servers", "live row servers (/stats)")
    _plot(rss, [(s["t"], s["impl_rss"] / MIB) for s in samples if "impl_rss" in s], color=COLOURS["greenrow"],
          label="workers' RSS (summed)")
    _finish(fig, rss, "MiB", "workers' RSS")
    _plot(cpu, rate(samples, "impl_cpu_s", 0.5, 100), color=COLOURS["greenrow"], label="workers (summed)")
    _plot(cpu, rate(samples, "pg_cpu_s", 0.5, 100), color="tab:brown", label="PostgreSQL")
    _finish(fig, cpu, "% of one core", "CPU")
    fig.suptitle(f"{scale['rows']:,} rows, {scale['max_concurrency']:,} concurrent")
    fig.tight_layout()
    return fig
