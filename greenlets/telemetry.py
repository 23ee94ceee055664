"""Counters and latency histograms a node keeps about itself, served by GET /metrics.

Recording is constant time and allocation free (fixed log-spaced buckets), cheap enough for the
tick path. Event names follow ``greenrow.<thing>.<event>`` and are listed in the README.
"""
import bisect

# Bucket upper bounds in milliseconds: 0.1 ms .. ~100 s, about 10 % apart.
_BOUNDS = [0.1 * 1.1 ** i for i in range(146)]


class Histogram:
    __slots__ = ("counts", "total", "sum_ms", "max_ms")

    def __init__(self):
        self.counts = [0] * (len(_BOUNDS) + 1)
        self.total = 0
        self.sum_ms = 0.0
        self.max_ms = 0.0

    def record(self, ms):
        self.counts[bisect.bisect_left(_BOUNDS, ms)] += 1
        self.total += 1
        self.sum_ms += ms
        if ms > self.max_ms:
            self.max_ms = ms

    def percentile(self, fraction):
        if not self.total:
            return None
        rank = fraction * self.total
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return round(min(_BOUNDS[min(index, len(_BOUNDS) - 1)], self.max_ms), 3)
        return round(self.max_ms, 3)

    def summary(self):
        return {
            "count": self.total,
            "mean_ms": round(self.sum_ms / self.total, 3) if self.total else None,
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(self.max_ms, 3) if self.total else None,
        }


class Telemetry:
    """A node's counters: plain integers bumped in place, read as one JSON dict."""

    COUNTERS = (
        "ticks_committed", "ticks_not_applied", "tick_batches", "tick_batch_retries",
        "messages_accepted", "messages_applied", "messages_discarded", "messages_fenced", "calls_timed_out",
        "row_servers_started", "row_servers_exited", "row_servers_crashed", "row_restarts", "rows_failed",
        "runs_created", "runs_finished", "runs_stopped", "service_restarts",
        "database_errors", "database_outages", "orphan_rows_relaunched",
    )

    def __init__(self):
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        self.tick_lateness = Histogram()
        self.tick_batch_size = Histogram()
        self.tick_commit = Histogram()

    def bump(self, name, by=1):
        self.counters[name] += by

    def snapshot(self):
        return {
            "counters": dict(self.counters),
            "tick_lateness": self.tick_lateness.summary(),
            "tick_commit": self.tick_commit.summary(),
            "tick_batch_rows": self.tick_batch_size.summary(),
        }
