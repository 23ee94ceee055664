"""What a new run may ask of the cluster: limits on the unfinished rows and on the tick rate of all
running runs together, checked when a run is created (under the run-creation lock, so exactly).

A run's tick rate is its peak: min(rows, max_concurrency) rows ticking every tick_ms, in ticks per
second (a run never has more than max_concurrency rows live at once). A run that alone exceeds a limit
can never be created (422); one that only does with the runs already running can be, later (429).
"""
from greenlets.errors import RunRefused


def peak_tick_rate(rows, max_concurrency, tick_ms):
    return min(rows, max_concurrency) * 1000.0 / tick_ms


def check_new_run(params, load, settings):
    """Raise RunRefused if the run in `params` does not fit beside the running runs' `load`."""
    rows = params["rows"]
    rate = peak_tick_rate(rows, params["max_concurrency"], params["tick_ms"])
    limits = (
        ("unfinished rows", rows, load["unfinished_rows"], settings.max_unfinished_rows,
         "GREENROW_MAX_UNFINISHED_ROWS"),
        ("ticks per second", rate, load["tick_rate"], settings.max_tick_rate, "GREENROW_MAX_TICK_RATE"),
    )
    for what, wanted, running, limit, variable in limits:
        if wanted > limit:
            raise RunRefused(f"this run alone asks for {wanted:,.0f} {what}, above the cluster's limit of"
                             f" {limit:,} ({variable})", ever_fits=False)
        if running + wanted > limit:
            raise RunRefused(f"this run asks for {wanted:,.0f} {what} and the running runs already have"
                             f" {running:,.0f}: together above the cluster's limit of {limit:,} ({variable});"
                             " try again when runs have finished", ever_fits=True)
