"""A latency (or size) histogram cheap enough for the tick path, readable three ways.

Recording is constant time and allocation free: fixed log-spaced buckets about 10 % apart (0.1 ..
~100,000 in the histogram's unit), plus the round bounds Prometheus is given (``export_bounds``), so
every Prometheus bucket is an exact union of fine ones. The same counts give:
- a summary (count, mean, p50, p99, max) for GET /stats;
- ``raw()``, the sparse counts a node stores on its row, which ``merged_summary`` adds up over nodes
  (cluster-wide percentiles, exact to a bucket);
- ``take_new()``, the counts recorded since the last call folded into the export buckets, which the
  Prometheus exporter adds to its histogram once a second (never one Prometheus call per tick).
"""
import bisect

_FINE_BOUNDS = [0.1 * 1.1 ** i for i in range(146)]


class Histogram:
    __slots__ = ("bounds", "counts", "total", "sum", "max", "export_bounds", "_export_index", "_taken", "_taken_total",
                 "_taken_sum")

    def __init__(self, export_bounds=()):
        self.export_bounds = sorted(export_bounds)
        self.bounds = sorted(set(_FINE_BOUNDS) | set(self.export_bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound
        self.total = 0
        self.sum = 0.0
        self.max = 0.0
        # fine bucket -> the export bucket holding it (len(export_bounds): +Inf)
        self._export_index = [bisect.bisect_left(self.export_bounds, bound) for bound in self.bounds]
        self._export_index.append(len(self.export_bounds))
        self._taken = [0] * len(self.counts)
        self._taken_total = 0
        self._taken_sum = 0.0

    def record(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += 1
        self.sum += value
        if value > self.max:
            self.max = value

    def summary(self):
        return merged_summary([self.raw()])

    def raw(self):
        """Sparse counts as [[upper bound, count], ...] (null bound: above every bound), sum and max."""
        pairs = [[self.bounds[i] if i < len(self.bounds) else None, count]
                 for i, count in enumerate(self.counts) if count]
        return {"buckets": pairs, "sum": self.sum, "max": self.max}

    def take_new(self):
        """(counts per export bucket, +Inf last, and the sum) recorded since the previous call."""
        new = [0] * (len(self.export_bounds) + 1)
        if self.total == self._taken_total:
            return new, 0.0
        for index, (count, taken) in enumerate(zip(self.counts, self._taken)):
            if count != taken:
                new[self._export_index[index]] += count - taken
        self._taken = list(self.counts)
        self._taken_total = self.total
        added_sum, self._taken_sum = self.sum - self._taken_sum, self.sum
        return new, added_sum


def merged_buckets(raws):
    """Several histograms' raw() added up: {"buckets": [[upper bound, count], ...] in order (null bound
    last: above every bound), "sum", "max"}. A reader that keeps two of these apart in time gets the
    distribution of what was recorded between them (the dashboard's recent p50/p99) by subtracting counts."""
    counts, total_sum, top = {}, 0.0, 0.0
    for raw in raws:
        for bound, count in raw["buckets"]:
            counts[bound] = counts.get(bound, 0) + count
        total_sum += raw["sum"]
        top = max(top, raw["max"])
    ordered = sorted(counts.items(), key=lambda pair: float("inf") if pair[0] is None else pair[0])
    return {"buckets": [[bound, count] for bound, count in ordered], "sum": round(total_sum, 3), "max": round(top, 3)}


def merged_summary(raws):
    """count, mean, p50, p99 and max of several histograms' raw() together (rounded to 0.001; the keys
    say _ms, as they always have, also for the one histogram of row counts)."""
    counts = {}
    total_sum, top = 0.0, 0.0
    for raw in raws:
        for bound, count in raw["buckets"]:
            counts[bound] = counts.get(bound, 0) + count
        total_sum += raw["sum"]
        top = max(top, raw["max"])
    total = sum(counts.values())
    if not total:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(counts.items(), key=lambda pair: float("inf") if pair[0] is None else pair[0])
    return {"count": total, "mean_ms": round(total_sum / total, 3),
            "p50_ms": _percentile(ordered, total, 0.50, top), "p99_ms": _percentile(ordered, total, 0.99, top),
            "max_ms": round(top, 3)}


def _percentile(ordered, total, fraction, top):
    """The upper bound of the bucket holding the given rank (never above the largest value seen)."""
    rank = fraction * total
    seen = 0
    for bound, count in ordered:
        seen += count
        if seen >= rank:
            return round(top if bound is None else min(bound, top), 3)
    return round(top, 3)
