"""docker-compose.yml starts what `make cluster` starts natively, and the Dockerfile follows the practice
the README promises. Read here, without an engine; `make containers-test` (tests/containers) builds and runs
both on podman."""
import ipaddress
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from deploy.cluster import APP_COMMAND, APP_ENV
from deploy.load_balancer import SERVER_CONF, Nginx, upstream_conf
from tests.support.cluster import require_nginx

REPO = Path(__file__).resolve().parents[2]
APPS = ("app1", "app2", "app3")
NGINX_CONF_DIR = "/etc/nginx/"  # the nginx image's conf prefix: relative includes resolve against it


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def dockerfile_instructions():
    """(INSTRUCTION, rest) of each Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    return [line.split(None, 1) for line in text.splitlines()
            if line.strip() and not line.startswith("#") and line[0].isupper()]


def final_stage():
    instructions = dockerfile_instructions()
    last_from = max(n for n, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def mounts(service):
    """target -> source path (resolved against the repository) of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (REPO / source).resolve()
    return found


def relative_includes(conf_text):
    return [path for path in re.findall(r"^\s*include\s+([^;\s]+);", conf_text, re.M) if not path.startswith("/")]


def significant(conf_text):
    """The directives of an nginx file, without comments and blank lines (no value here contains a #)."""
    lines = (line.split("#", 1)[0].strip() for line in conf_text.splitlines())
    return [line for line in lines if line]


def test_the_image_runs_the_app_command_of_the_native_cluster_as_a_non_root_user():
    instructions = dict((name, rest) for name, rest in final_stage() if name in ("CMD", "USER"))
    # Exec form: gunicorn itself is PID 1 and gets the container's SIGTERM.
    assert json.loads(instructions["CMD"]) == list(APP_COMMAND)
    assert instructions["USER"].strip().split(":")[0] not in ("root", "0")


def test_the_image_has_a_pinned_base_a_health_check_and_the_allocator_the_service_expects():
    instructions = dockerfile_instructions()
    base = next(rest for name, rest in instructions if name == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base.strip()), base
    assert [rest.split()[0] for name, rest in instructions if name == "FROM"] == ["${PYTHON_IMAGE}"] * 2
    stage = final_stage()
    assert any(name == "HEALTHCHECK" and "/readyz" in rest for name, rest in stage)
    env = " ".join(rest for name, rest in stage if name == "ENV")
    assert "PYTHONMALLOC=malloc" in shlex.split(env)  # else gunicorn.conf.py runs the master again to set it


def test_a_code_change_reuses_the_dependency_layers_and_the_build_context_is_the_code_only():
    stage = final_stage()
    copies = [rest.split()[0] for name, rest in stage if name == "COPY"]
    # The dependencies come first, whole, from their own stage; the code is copied after them.
    assert copies[0] == "--from=dependencies"
    assert set(copies[1:]) == {"wsgi.py", "config", "service", "greenlets"}
    dependencies = dockerfile_instructions()[:len(dockerfile_instructions()) - len(stage)]
    assert [rest.split()[0] for name, rest in dependencies if name == "COPY"] == ["requirements-service.txt"]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") + 1:][:6] == ["!requirements-service.txt", "!wsgi.py", "!config/", "!service/",
                                                    "!greenlets/", "**/__pycache__"]


def test_the_app_replicas_are_the_image_with_the_native_instances_environment(compose):
    services = compose["services"]
    assert set(APPS) <= set(services)
    postgres = services["postgres"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]
    assert len({services[name]["networks"]["default"]["ipv4_address"] for name in APPS}) == len(APPS)
    assert postgres["image"].startswith("postgres:16") and "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in APPS:
        app = services[name]
        assert app["build"] == "." and app["image"] == "greenrow:latest"
        assert not {"command", "entrypoint", "user"} & set(app), f"{name} must run the image's CMD as its USER"
        # The native instances' environment names, and the API token: required, since nginx publishes the API.
        assert set(app["environment"]) == set(APP_ENV) | {"GREENROW_API_TOKEN"}
        assert app["environment"]["GREENROW_API_TOKEN"].startswith("${GREENROW_API_TOKEN:?")
        assert app["environment"]["WORKERS"] == "2"
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
        # Longer than gunicorn's graceful_timeout (30 s): a stopping node hands its leases back itself.
        assert int(app["stop_grace_period"].rstrip("s")) > 30
        # A fixed address, outside the range given out to the others: nginx resolves the names once.
        address = app["networks"]["default"]["ipv4_address"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet["subnet"])
        assert ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["ip_range"])
        url = app["environment"]["DATABASE_URL"]
        env = postgres["environment"]
        assert url == f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"


def test_compose_nginx_serves_the_native_clusters_server_config_over_the_three_replicas(compose):
    nginx = compose["services"]["nginx"]
    assert nginx["image"].startswith("nginx")
    mounted = mounts(nginx)
    assert mounted["/etc/nginx/conf.d/default.conf"] == SERVER_CONF
    # Every per-environment file greenrow.conf includes is mounted where nginx looks for it.
    includes = relative_includes(SERVER_CONF.read_text())
    assert sorted(includes) == ["greenrow/listen.conf", "greenrow/upstream.conf"]
    for include in includes:
        assert NGINX_CONF_DIR + include in mounted, include
    upstream = mounted[NGINX_CONF_DIR + "greenrow/upstream.conf"].read_text()
    ports = {compose["services"][name]["environment"]["PORT"] for name in APPS}
    assert significant(upstream) == significant(upstream_conf([f"{name}:{port}" for name in APPS for port in ports]))
    listen = significant(mounted[NGINX_CONF_DIR + "greenrow/listen.conf"].read_text())
    assert listen == ["listen 80;"] and nginx["ports"] == ["${PORT:-8080}:80"]
    assert set(nginx["depends_on"]) == set(APPS)


def test_the_native_nginx_configuration_includes_the_same_server_file_and_nginx_accepts_it(tmp_path):
    nginx = Nginx(tmp_path, 8080, ["127.0.0.1:8001", "127.0.0.1:8002"], binary=require_nginx())

    nginx.check()

    assert f"include {SERVER_CONF};" in nginx.conf_path.read_text()
    for include in relative_includes(SERVER_CONF.read_text()):
        assert (nginx.conf_path.parent / include).is_file(), include
