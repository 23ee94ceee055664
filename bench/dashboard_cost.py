"""What watching costs the service: `python bench/dashboard_cost.py [rounds]` (`make dashboard-cost`).

greenrow the README's way (default settings: a worker per core) on the bench's PostgreSQL runs the
seed scenario (20,000 rows, start 3, 1 s ticks, 10,000 at once) and then 100,000 rows all at once,
each under three watchers, alternated over ``rounds`` rounds (2):

    nobody        nothing but the run
    /metrics      a Prometheus-like scraper: GET /metrics every second
    dashboard     a headless Chromium (Debian's, through Selenium) on /dashboard, which polls
                  /stats?histograms=1 and /runs every second, with the row inspector streaming a row

For each it prints the workers' CPU (user + system) during the run, per committed tick and per second
of the run, and the difference the watcher makes (the median over the rounds).
"""
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)

from bench.pg import BenchPostgres  # noqa: E402
from bench.service import GreenrowService  # noqa: E402

SCENARIOS = {"seed": {"rows": 20_000, "start_value": 3, "tick_ms": 1000, "max_concurrency": 10_000},
             "100k": {"rows": 100_000, "start_value": 3, "tick_ms": 1000, "max_concurrency": 100_000}}
WATCHERS = ("nobody", "/metrics", "dashboard")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1700")
RUN_TIMEOUT_S = 120


class Scraper:
    """GET /metrics once a second until stopped."""

    def __init__(self, base_url):
        self.base_url, self.stop = base_url, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)

    def _run(self):
        while not self.stop.wait(1.0):
            with urllib.request.urlopen(self.base_url + "/metrics", timeout=10) as response:
                response.read()


class Browser:
    """Headless Chromium on /dashboard, its inspector watching one row."""

    def __init__(self, base_url, row_id):
        self.base_url, self.row_id = base_url, row_id

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By

        self.profile = tempfile.mkdtemp(prefix="greenrow-dashboard-cost-")
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        self.driver.get(self.base_url + "/dashboard")
        self.driver.find_element(By.ID, "inspect-id").send_keys(str(self.row_id))
        self.driver.find_element(By.CSS_SELECTOR, "#inspect-form button").click()
        time.sleep(2)  # not a synchronisation: the page's first polls, before the measured run begins
        return self

    def __exit__(self, *exc):
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def workers_cpu_s(service):
    return sum(sum(worker.cpu_times()[:2]) for worker in service.workers())


def measure(service, scenario, watcher, watched_row):
    """One run under one watcher: (worker CPU s, ticks, seconds)."""
    if watcher == "/metrics":
        context = Scraper(service.base_url)
    elif watcher == "dashboard":
        context = Browser(service.base_url, watched_row)
    else:
        context = _Nothing()
    with context:
        cpu0, began = workers_cpu_s(service), time.monotonic()
        _, run = service.post("/runs", SCENARIOS[scenario])
        deadline = began + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            _, view = service.get(f"/runs/{run['id']}")
            if view["status"] == "done":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"run {run['id']} not done within {RUN_TIMEOUT_S} s")
        return workers_cpu_s(service) - cpu0, view["ticks"], time.monotonic() - began


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def measure_costs(pg, rounds, log_path, say=print):
    """{(scenario, watcher): [(worker CPU s, ticks, seconds), ...]} over ``rounds`` alternated rounds, on a
    fresh database of the bench's PostgreSQL."""
    figures = {(scenario, watcher): [] for scenario in SCENARIOS for watcher in WATCHERS}
    pg.recreate_database("dashboard_cost")
    with GreenrowService(pg.url("dashboard_cost"), log_path) as service:
        service.wait_nodes()
        _, slow = service.post("/runs", {"rows": 1, "start_value": 1_000_000, "tick_ms": 1000})
        for number in range(rounds):
            for scenario in SCENARIOS:
                for watcher in (WATCHERS if number % 2 == 0 else WATCHERS[::-1]):
                    cpu, ticks, seconds = measure(service, scenario, watcher, slow["first_row_id"])
                    figures[(scenario, watcher)].append((cpu, ticks, seconds))
                    say(f"round {number + 1}: {scenario:5s} {watcher:9s} {seconds:5.1f} s, {ticks:,} ticks, "
                        f"workers' CPU {cpu:5.2f} s ({cpu / ticks * 1e6:5.1f} µs/tick)")
    return figures


def summary(figures):
    """[(scenario, watcher, µs per tick, CPU s per s, difference with nobody)], medians over the rounds."""
    rows = []
    for scenario in SCENARIOS:
        base = statistics.median(cpu / seconds for cpu, _, seconds in figures[(scenario, "nobody")])
        for watcher in WATCHERS:
            per_tick = statistics.median(cpu / ticks * 1e6 for cpu, ticks, _ in figures[(scenario, watcher)])
            per_s = statistics.median(cpu / seconds for cpu, _, seconds in figures[(scenario, watcher)])
            rows.append((scenario, watcher, round(per_tick, 1), round(per_s, 3), round(per_s - base, 3)))
    return rows


def markdown(rows, rounds):
    lines = ["## What watching costs (bench/dashboard_cost.py)", "",
             f"The workers' CPU during a run with nobody watching, with `/metrics` scraped each second, and with "
             f"the dashboard open in headless Chromium (its inspector streaming a row); medians of {rounds} "
             "alternated round(s).", "",
             "| scenario | watcher | worker CPU µs per tick | worker CPU s per s | difference with nobody (CPU s per s) |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {s} | {w} | {t} | {p} | {d:+} |" for s, w, t, p, d in rows]
    return "\n".join(lines) + "\n"


def main(argv):
    rounds = int(argv[0]) if argv else 2
    with BenchPostgres() as pg:
        figures = measure_costs(pg, rounds, REPO / "var" / "bench-logs" / "dashboard-cost.log",
                                say=lambda line: print(line, flush=True))
    print()
    print(markdown(summary(figures), rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
