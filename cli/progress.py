"""Following a run to its end: its progress, rate and ETA, shown as a bar, plain lines or JSON lines.

Progress is counted in ticks, which move every tick_ms (rows finish in batches): a run needs
rows x ceil(start_value / step) ticks, unless messages change values on the way (the bar then stops
at 100 % until the run is done). The rate is measured over the last RATE_WINDOW_S seconds of polls.
"""
import json
import math
import sys
from collections import deque

RATE_WINDOW_S = 10.0
PLAIN_LINE_EVERY_S = 5.0  # in a pipe (a log, CI), a line every few seconds is enough
GIVE_UP_S = 30.0  # a node restarting, the database back after an outage: keep asking this long


class RunProgress:
    """Where a run is, from successive GET /runs/<id> answers: ticks done of those needed, rate, ETA."""

    def __init__(self, window_s=RATE_WINDOW_S):
        self.window_s = window_s
        self.run = None
        self.updated_at = None
        self._samples = deque()  # (seconds, ticks)

    def update(self, run, now):
        self.run = run
        self.updated_at = now
        self._samples.append((now, run["ticks"]))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        return self

    @property
    def finished(self):
        return self.run["status"] != "running"

    @property
    def total_ticks(self):
        return self.run["rows"] * math.ceil(self.run["start_value"] / self.run["step"])

    @property
    def ticks(self):
        return self.run["ticks"]

    @property
    def fraction(self):
        if self.finished:
            return 1.0
        return min(1.0, self.ticks / self.total_ticks) if self.total_ticks else 0.0

    @property
    def ticks_per_s(self):
        """Ticks per second over the window, or None before two polls span any time."""
        (first_at, first_ticks), (last_at, last_ticks) = self._samples[0], self._samples[-1]
        if last_at <= first_at:
            return None
        return max(0.0, (last_ticks - first_ticks) / (last_at - first_at))

    @property
    def eta_s(self):
        """Seconds until the last tick at the current rate; 0 once finished, None while unknown."""
        if self.finished:
            return 0.0
        rate = self.ticks_per_s
        if not rate:
            return None
        return max(0.0, self.total_ticks - self.ticks) / rate

    def snapshot(self):
        """What --json prints for one poll."""
        rate, eta = self.ticks_per_s, self.eta_s
        return {"run": self.run, "ticks_needed": self.total_ticks,
                "ticks_per_s": None if rate is None else round(rate, 1),
                "eta_s": None if eta is None else round(eta, 1)}


def format_rate(ticks_per_s):
    return "– ticks/s" if ticks_per_s is None else f"{ticks_per_s:,.0f} ticks/s"


def format_eta(eta_s):
    if eta_s is None:
        return "ETA –"
    minutes, seconds = divmod(round(eta_s), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"ETA {hours}h{minutes:02d}m"
    return f"ETA {minutes}m{seconds:02d}s" if minutes else f"ETA {seconds}s"


def rows_line(run):
    return (f"rows {run['done']:,} done, {run['active']:,} active, {run['pending']:,} pending, "
            f"{run['idle']:,} idle, {run['failed']:,} failed")


def progress_line(progress):
    """One line for a run in progress: what the plain view prints each poll."""
    run = progress.run
    return (f"run {run['id']} {run['status']}: {progress.fraction:6.1%}  {progress.ticks:,}/{progress.total_ticks:,} "
            f"ticks  {format_rate(progress.ticks_per_s)}  {format_eta(progress.eta_s)}  {rows_line(run)}")


def final_line(run):
    """The line every view but JSON ends with."""
    return (f"run {run['id']} {run['status']} after {run['elapsed_s']:,.1f} s: {rows_line(run)}; "
            f"{run['ticks']:,} ticks, {run['restarts']:,} restarts")


# --- the views: each shows one poll, then the end -----------------------------------------------------------

class JsonLines:
    """--json: one JSON object per poll ({"run", "ticks_needed", "ticks_per_s", "eta_s"}); the last one's run is over."""

    def __init__(self, out=None):
        self.out = out or sys.stdout

    def show(self, progress):
        print(json.dumps(progress.snapshot()), file=self.out, flush=True)

    def close(self, progress):
        pass


class PlainLines:
    """Not a terminal: a line at the first poll and then every PLAIN_LINE_EVERY_S at most, then the final line."""

    def __init__(self, out=None, every_s=PLAIN_LINE_EVERY_S):
        self.out = out or sys.stdout
        self.every_s = every_s
        self._printed_at = None

    def show(self, progress):
        if progress.finished:
            return
        if self._printed_at is None or progress.updated_at - self._printed_at >= self.every_s:
            self._printed_at = progress.updated_at
            print(progress_line(progress), file=self.out, flush=True)

    def close(self, progress):
        if progress.run is not None:
            print(final_line(progress.run), file=self.out, flush=True)


class Bar:
    """A terminal: a live progress bar (rich) with ticks, rate, ETA and the rows' states, then the final line."""

    def __init__(self, out=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self.console = Console(file=out or sys.stdout)
        self._progress = Progress(  # fits 80 columns; the final line has every count
            TextColumn("run {task.fields[run_id]}"), BarColumn(bar_width=20), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"), TextColumn("{task.fields[rows]}"),
            console=self.console, refresh_per_second=4)
        self._task = None

    def show(self, progress):
        run = progress.run
        fields = {"rate": format_rate(progress.ticks_per_s), "eta": format_eta(progress.eta_s),
                  "rows": f"{run['done'] + run['failed']:,}/{run['rows']:,} rows done"}
        completed = progress.fraction * progress.total_ticks
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("run", total=progress.total_ticks or 1, completed=completed,
                                                 run_id=progress.run["id"], **fields)
        else:
            self._progress.update(self._task, completed=completed, **fields)

    def close(self, progress):
        if self._task is not None:
            self._progress.stop()
        if progress.run is not None:
            self.console.print(final_line(progress.run), highlight=False, soft_wrap=True)


def view_for(json_output, out, tty):
    """JSON lines with --json, else a bar on a terminal and plain lines anywhere else."""
    if json_output:
        return JsonLines(out)
    return Bar(out) if tty else PlainLines(out)


def watch_run(client, run_id, view, interval_s, clock, sleep, give_up_s=GIVE_UP_S):
    """Poll the run every interval_s and show it until it is no longer running; returns the last run."""
    progress = RunProgress()
    try:
        while True:
            run = client.get_patiently(f"/runs/{run_id}", give_up_s, clock=clock, sleep=sleep)
            progress.update(run, clock())
            view.show(progress)
            if progress.finished:
                return run
            sleep(interval_s)
    finally:
        view.close(progress)
