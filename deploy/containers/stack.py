"""docker-compose.yml run by podman-compose (from PyPI, in .venv) on the engine of engine.py.

    stack = Stack(engine, port=free_port(), database_port=free_port())
    stack.build()          # the project's image from the Dockerfile, FROM the python stand-in
    stack.up()             # PostgreSQL, app1..app3, nginx on 127.0.0.1:port; requests need stack.token
    stack.container("app1").stop()  /  .kill()  /  .start()  /  .log()  /  .healthy()
    stack.down()           # `down -v`

compose.checks.yml, beside this file, is added on top of the unchanged docker-compose.yml: it only
publishes PostgreSQL on 127.0.0.1:database_port, so the checks can read the database (ticks, the audit).
"""
import secrets
import subprocess
import sys
import time
from pathlib import Path

from deploy.containers import standins

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMPOSE_FILES = (REPO / "docker-compose.yml", HERE / "compose.checks.yml")
PROJECT = "greenrow"  # docker-compose.yml's `name:`
COMPOSE_TIMEOUT_S = 300
USER, PASSWORD, DATABASE = "greenrow", "greenrow", "greenrow"  # docker-compose.yml's postgres service


class Stack:
    def __init__(self, engine, port, database_port):
        self.engine = engine
        self.port = port
        self.database_port = database_port
        self.token = secrets.token_hex(32)  # docker-compose.yml requires GREENROW_API_TOKEN

    # --- compose ------------------------------------------------------------------------------------
    def compose(self, *args, timeout=COMPOSE_TIMEOUT_S):
        command = [sys.executable, "-m", "podman_compose"]
        for path in COMPOSE_FILES:
            command += ["-f", str(path)]
        env = dict(self.engine.env, PORT=str(self.port), GREENROW_CHECKS_PG_PORT=str(self.database_port),
                   GREENROW_API_TOKEN=self.token)
        result = subprocess.run([*command, *args], env=env, text=True, capture_output=True, timeout=timeout,
                                cwd=REPO)
        if result.returncode != 0:
            raise RuntimeError(f"podman-compose {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
        return result

    def build(self):
        """Build the app image as compose builds it, with the python stand-in for the Dockerfile's base."""
        return self.compose("build", "--build-arg", f"PYTHON_IMAGE={standins.python_base()}")

    def up(self):
        return self.compose("up", "-d", "--no-build")

    def down(self):
        return self.compose("down", "-v")

    # --- what runs ------------------------------------------------------------------------------------
    def container(self, service):
        return Container(self.engine, f"{PROJECT}_{service}_1", service)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def database_url(self):
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.database_port}/{DATABASE}"

    def leftovers(self):
        """This project's containers, volumes and networks that still exist, one line each."""
        podman = self.engine.podman
        label = f"label=io.podman.compose.project={PROJECT}"
        found = [f"container {name}" for name in
                 podman("ps", "-a", "--format", "{{.Names}}").stdout.split()]
        found += [f"volume {name}" for name in podman("volume", "ls", "--format", "{{.Name}}").stdout.split()]
        found += [f"network {name}" for name in podman("network", "ls", "--format", "{{.Name}}").stdout.split()
                  if name != "podman"]  # podman's default network is built in: it has no state of its own
        found += [f"pod {name}" for name in podman("pod", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split()]
        return found


class Container:
    def __init__(self, engine, name, service):
        self.engine = engine
        self.name = name
        self.service = service

    def stop(self):
        """`podman stop` with the container's own stop timeout (compose's stop_grace_period); seconds taken."""
        began = time.monotonic()
        self.engine.podman("stop", self.name)
        return time.monotonic() - began

    def kill(self):
        self.engine.podman("kill", self.name)

    def start(self):
        self.engine.podman("start", self.name)

    def restart(self):
        began = time.monotonic()
        self.engine.podman("restart", self.name)
        return time.monotonic() - began

    def inspect(self, template):
        return self.engine.podman("inspect", "--format", template, self.name).stdout.strip()

    def exec(self, *command, check=True):
        return self.engine.podman("exec", self.name, *command, check=check)

    def healthy(self):
        """Runs the container's health check (podman runs none by itself without systemd)."""
        return self.engine.podman("healthcheck", "run", self.name, check=False, timeout=30).returncode == 0

    def running(self):
        return self.inspect("{{.State.Running}}") == "true"

    def log(self):
        result = self.engine.podman("logs", self.name, check=False)
        return result.stdout + result.stderr
