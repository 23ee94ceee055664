"""The stack as the tests use it: HTTP through nginx on loopback, the database, the app containers."""
import requests

from tests.support.database import Db
from tests.support.http import HttpClient
from tests.support.wait import wait_until

APPS = ("app1", "app2", "app3")
NODES = 6            # 3 app containers x WORKERS=2, every worker a node
SHARDS = 256         # GREENROW_SHARDS' default
READY_TIMEOUT_S = 90.0
FIGURES = []         # printed at the end of the session (conftest.py)


def record(line):
    FIGURES.append(line)


class StackClient(HttpClient):
    def __init__(self, stack):
        HttpClient.__init__(self)
        self.stack = stack
        self.db = Db(stack.database_url)
        self.http.headers["Authorization"] = f"Bearer {stack.token}"

    def url(self, path):
        return self.stack.url(path)

    def apps(self):
        return [self.stack.container(name) for name in APPS]

    def answer(self, path):
        """The JSON of a 200 answer, else None (no answer yet, or not ready)."""
        try:
            response = self.get(path, timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """/readyz through nginx, then every node live and the shards balanced over them."""
        self._wait(lambda: self.answer("/readyz") is not None, timeout, "/readyz never answered 200 through nginx")
        return self.wait_balanced(timeout)

    def wait_balanced(self, timeout=READY_TIMEOUT_S):
        def balanced():
            nodes = (self.answer("/nodes") or {}).get("nodes", [])
            held = [node["shards"] for node in nodes]
            return nodes if len(nodes) == NODES and sum(held) == SHARDS and max(held) - min(held) <= 1 else None
        return self._wait(balanced, timeout, f"never {NODES} nodes holding the {SHARDS} shards evenly")

    def wait_healthy(self, container, timeout=READY_TIMEOUT_S):
        return self._wait(container.healthy, timeout, f"{container.name}'s health check never passed",
                          interval=0.5)

    def _wait(self, predicate, timeout, what, interval=0.2):
        def explained():
            nodes = self.answer("/nodes")
            states = {app.name: app.inspect("{{.State.Status}} exit={{.State.ExitCode}}") for app in self.apps()}
            tails = "\n".join(f"--- {app.name}:\n" + "\n".join(app.log().splitlines()[-8:]) for app in self.apps())
            return f"{what}\nnodes: {nodes}\ncontainers: {states}\n{tails}"
        try:
            return wait_until(predicate, timeout, interval=interval)
        except AssertionError:
            raise AssertionError(explained()) from None
