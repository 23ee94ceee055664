"""docker-compose.yml starts what `make cluster` starts natively (there is no Docker engine here, so the
native launcher, tested in test_launcher.py and the other cluster tests, stands in for it)."""
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
    return [line.split(None, 1) for line in (REPO / "Dockerfile").read_text().splitlines()
            if line.strip() and not line.startswith("#") and line[0].isupper()]


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
    instructions = dict((name, rest) for name, rest in dockerfile_instructions() if name in ("CMD", "USER"))
    cmd = json.loads(instructions["CMD"])
    assert cmd[:2] == ["sh", "-c"]
    assert shlex.split(cmd[2]) == ["exec", *APP_COMMAND]  # exec: gunicorn is PID 1 and gets SIGTERM
    assert instructions["USER"].strip() not in ("root", "0")


def test_the_app_replicas_are_the_image_with_the_native_instances_environment(compose):
    services = compose["services"]
    assert set(APPS) <= set(services)
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16") and "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in APPS:
        app = services[name]
        assert app["build"] == "."
        assert not {"command", "entrypoint", "user"} & set(app), f"{name} must run the image's CMD as its USER"
        assert set(app["environment"]) == set(APP_ENV)
        assert app["environment"]["WORKERS"] == "2"
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
        # Longer than gunicorn's graceful_timeout (30 s): a stopping node hands its leases back itself.
        assert int(app["stop_grace_period"].rstrip("s")) > 30
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
