"""`make containers-test`: the Dockerfile and docker-compose.yml built and run on rootful podman.

The `stack` fixture (once per session): the host's network state noted, podman checked (and installed
with apt-get as root), the stand-in base images built if missing, the app image built, the stack up and
ready. Afterwards `down -v`, then what netavark left on the host removed. Where podman cannot run, the
session ends at once with one line saying why (exit status 2). The figures (build times, image size,
the runs under faults) are printed at the end.
"""
import time

import pytest

from deploy.cluster import free_port
from deploy.containers import standins
from deploy.containers.engine import Engine, EngineMissing
from deploy.containers.host import HostNetwork
from deploy.containers.stack import Stack
from tests.containers.support import FIGURES, StackClient, record


@pytest.fixture(scope="session")
def host_before():
    return HostNetwork.snapshot()


@pytest.fixture(scope="session")
def engine(host_before):
    try:
        return Engine().require()
    except EngineMissing as exc:
        pytest.exit(f"containers: {exc}", returncode=2)


@pytest.fixture(scope="session")
def stack(engine, host_before):
    spent = standins.ensure(engine, log=lambda line: None)
    built = {name: seconds for name, seconds in spent.items() if seconds}
    record(f"stand-ins: {', '.join(f'{n} built in {s:.0f} s' for n, s in built.items()) or 'all cached'}")
    stack = Stack(engine, port=free_port(), database_port=free_port())
    if stack.leftovers():  # an earlier run that was cut short
        stack.down()
    began = time.monotonic()
    stack.build()
    record(f"app image built (podman-compose build) in {time.monotonic() - began:.1f} s")
    began = time.monotonic()
    try:
        stack.up()
        client = StackClient(stack)
        client.wait_ready()
        record(f"stack up and ready through nginx in {time.monotonic() - began:.1f} s")
        yield stack
    finally:
        teardown(stack, host_before)


def teardown(stack, host_before):
    """`down -v` (once: the last test may have done it), then the host's network as it was."""
    if stack.leftovers():
        stack.down()
    host_before.restore()


@pytest.fixture(scope="session")
def client(stack):
    return StackClient(stack)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("containers: figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
