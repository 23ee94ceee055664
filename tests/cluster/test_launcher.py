"""`make cluster` (python -m deploy.cluster): nginx in front of two instances of two workers, stopped cleanly."""
import os
import signal
import subprocess
import sys

import psutil
import pytest
import requests

from deploy.cluster import free_port
from tests.support.cluster import require_nginx
from tests.support.service import REPO, wait_for_run
from tests.support.wait import wait_until

BANNER_END = "Ctrl-C or SIGTERM stops it all."


def launch(tmp_path, **env):
    log = open(tmp_path / "launcher.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "deploy.cluster", "--state-dir", str(tmp_path / "state")],
                               cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log.close()
    return process


class LoadBalancer:
    """Just enough of a client for wait_for_run: json(path) through nginx."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def json(self, path):
        response = requests.get(self.base + path, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_the_cluster_launcher_serves_through_nginx_and_stops_everything_cleanly(stop_signal, database_url, tmp_path):
    require_nginx()
    port = free_port()
    launcher = launch(tmp_path, DATABASE_URL=database_url, PORT=str(port), GREENROW_LEASE_TTL_MS="2000")

    def output():
        return (tmp_path / "launcher.log").read_text(errors="replace")

    try:
        def started():
            assert launcher.poll() is None, f"launcher exited with {launcher.returncode}:\n{output()[-3000:]}"
            return BANNER_END in output()
        wait_until(started, 90, interval=0.1, message="the launcher never said it was up")
        assert f"nginx listening on http://127.0.0.1:{port}/" in output()
        balancer = LoadBalancer(port)
        nodes = balancer.json("/nodes")["nodes"]
        assert len(nodes) == 4 and sum(node["shards"] for node in nodes) == 256
        run = requests.post(f"{balancer.base}/runs", json={"rows": 100, "tick_ms": 20}, timeout=10)
        assert run.status_code == 201, run.text
        wait_for_run(balancer, run.json()["id"], timeout=30)
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 2 + 4 + 2  # two gunicorn masters, four workers, nginx master and worker

        launcher.send_signal(stop_signal)
        assert launcher.wait(60) == 0, output()[-3000:]
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(10)

    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {alive}"
    assert "greenrow cluster: stopped" in output()


def test_the_cluster_launcher_names_the_package_to_install_when_nginx_is_missing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "deploy.cluster", "--state-dir", str(tmp_path)], cwd=REPO,
                            env={**os.environ, "NGINX": str(tmp_path / "no-nginx-here")},
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "apt-get install nginx" in result.stderr
