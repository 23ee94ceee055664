"""Debian's prometheus package in the tests: promtool to lint an exposition, and a real Prometheus
server scraping greenrow. Missing, they fail the test naming the package (never a skip)."""
import json
import shutil
import subprocess
import urllib.parse

import pytest
import requests

from deploy.cluster import free_port
from tests.support.wait import wait_until

INSTALL_HINT = "Debian's prometheus package is not installed: apt-get install prometheus (as root; .ci/run does it)"
SCRAPE_INTERVAL_S = 1


def require(binary):
    """The path of promtool or prometheus, or a test failure naming the package."""
    path = shutil.which(binary, path="/usr/local/bin:/usr/bin:/bin")
    if path is None:
        pytest.fail(f"{binary} not found. {INSTALL_HINT}", pytrace=False)
    return path


def promtool_check_metrics(exposition):
    """`promtool check metrics` on an exposition: (exit status, what it said)."""
    result = subprocess.run([require("promtool"), "check", "metrics"], input=exposition, capture_output=True,
                            timeout=30)
    return result.returncode, (result.stdout + result.stderr).decode(errors="replace")


class PrometheusServer:
    """A Prometheus server on a free loopback port scraping the given host:port targets every second."""

    def __init__(self, workdir, targets):
        self.workdir = workdir
        self.targets = list(targets)
        self.port = free_port()
        self.process = None
        self.http = requests.Session()

    def start(self, timeout=30.0):
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
            "scrape_configs": [{"job_name": "greenrow", "static_configs": [{"targets": self.targets}]}],
        }))
        self._log = open(self.workdir / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [require("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout, interval=0.2, message=self._explain("Prometheus never became ready"))
        return self

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(self._explain(f"Prometheus exited with {self.process.returncode}"))
        try:
            return self.http.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def query(self, promql):
        """An instant query's result vector: [(labels, value as float), ...]."""
        response = self.http.get(f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
                                 timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (promql, response.text)
        return [(sample["metric"], float(sample["value"][1])) for sample in body["data"]["result"]]

    def value(self, promql):
        """The single value of an instant query, or None when it has none (yet)."""
        result = self.query(promql)
        return result[0][1] if len(result) == 1 else None

    def targets_up(self):
        return {sample[0]["instance"]: sample[1] for sample in self.query('up{job="greenrow"}')}

    def close(self):
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def _explain(self, what):
        return what + "; its log:\n" + (self.workdir / "prometheus.log").read_text(errors="replace")[-3000:]
