"""requirements.txt alone runs the service: what the worker imports comes from it, not from the test tools;
requirements-service.txt alone (what the container image installs) runs it on a real PostgreSQL."""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
# What gunicorn loads in a worker, and what the master loads for the embedded PostgreSQL (not in the image).
SERVICE_MODULES = ("gunicorn.app.wsgiapp", "gunicorn.workers.ggevent", "wsgi")
EMBEDDED_MODULES = ("config.embedded_postgres",)


def requirement_names(path):
    """The distributions a requirements file names, following its `-r` includes."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names += requirement_names(path.parent / line[3:].strip())
        elif line:
            names.append(Requirement(line).name)
    return names


def runtime_distributions(requirements="requirements.txt"):
    """A requirements file's distributions and everything they declare they need, by normalised name."""
    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    pending = requirement_names(REPO / requirements)
    seen = set()
    while pending:
        name = norm(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or ():
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


@pytest.mark.parametrize("requirements, modules", [("requirements.txt", SERVICE_MODULES + EMBEDDED_MODULES),
                                                    ("requirements-service.txt", SERVICE_MODULES)])
def test_the_service_imports_nothing_the_runtime_requirements_do_not_install(requirements, modules):
    allowed = sorted(runtime_distributions(requirements))
    # In a fresh interpreter, refuse any top-level module that belongs to a distribution outside the
    # runtime set (pytest, requests, PyYAML ... are installed here for the tests, not for the service).
    script = f"""
import importlib, importlib.abc, importlib.metadata, re, sys
allowed = set({allowed!r})
owners = importlib.metadata.packages_distributions()
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        dists = {{re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, ())}}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"{{name}} comes from {{sorted(dists)}}, not from {requirements}")
        return None
sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    importlib.import_module(module)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PYTHONMALLOC": "malloc"})
    assert result.returncode == 0, result.stderr[-3000:]
