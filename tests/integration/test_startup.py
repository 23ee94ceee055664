"""Start-up refuses what it cannot serve correctly, saying why in one line."""
import os
import subprocess

from tests.support.service import GUNICORN, REPO


def start_and_wait_for_exit(database_url, **env):
    full_env = dict(os.environ, DATABASE_URL=database_url, HOST="127.0.0.1", PORT="0", **env)
    return subprocess.run(GUNICORN, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=60)


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(database_url):
    result = start_and_wait_for_exit(database_url, GREENROW_LEASE_TTL_MS="soon")

    assert result.returncode != 0
    assert "GREENROW_LEASE_TTL_MS must be an integer" in result.stderr


def test_a_shard_count_the_database_contradicts_stops_the_service_with_one_line(database_url, db):
    db.fetch_all("INSERT INTO greenrow_meta (key, value) VALUES ('shards', '256')")  # as a first start stores it

    result = start_and_wait_for_exit(database_url, GREENROW_SHARDS="64", WORKERS="2")

    assert result.returncode == 3, result.stderr  # the master stopped the service
    why = "GREENROW_SHARDS is 64 but this database was set up with 256 shards"
    refusals = [line for line in result.stderr.splitlines() if "greenrow.node.refused" in line]
    assert 1 <= len(refusals) <= 2 and all(why in line for line in refusals), result.stderr  # one line per worker
    assert result.stderr.splitlines()[-1].endswith(f"[ERROR] Reason: {why}; use the same value on every node of a"
                                                   " database"), result.stderr
    assert "Traceback" not in result.stderr


def _worker_allocator(service):
    (pid,) = service.worker_pids()  # a child of the pid we started: the master restarted in place
    with open(f"/proc/{pid}/environ", "rb") as environ:
        variables = dict(item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item)
    return variables.get(b"PYTHONMALLOC", b"").decode()


def test_workers_allocate_with_malloc_unless_told_otherwise(make_service):
    assert _worker_allocator(make_service()) == "malloc"
    assert _worker_allocator(make_service(env={"PYTHONMALLOC": "pymalloc"})) == "pymalloc"
