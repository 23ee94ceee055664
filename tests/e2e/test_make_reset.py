"""`make reset`, as the README says to start over: it deletes the embedded PostgreSQL's data folder,
unless a server runs on it or DATABASE_URL names another server."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DATABASE_URL")


def make_reset(pgdata, **env):
    clean = {name: value for name, value in os.environ.items() if name not in MAKE_ENV}
    return subprocess.run(["make", "--no-print-directory", "reset"], cwd=REPO, capture_output=True, text=True,
                          timeout=30, env=dict(clean, GREENROW_PGDATA=str(pgdata), **env))


def a_data_folder(tmp_path, postmaster_pid=None):
    pgdata = tmp_path / "pgdata"
    (pgdata / "base").mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")
    if postmaster_pid is not None:
        (pgdata / "postmaster.pid").write_text(f"{postmaster_pid}\n{pgdata}\n")
    return pgdata


def test_make_reset_deletes_the_data_folder(tmp_path):
    pgdata = a_data_folder(tmp_path, postmaster_pid=2**22 + 1)  # left by a crash: no such process

    result = make_reset(pgdata)

    assert result.returncode == 0, result.stderr
    assert not pgdata.exists()
    assert f"make reset: deleted {pgdata}; the next make run starts on an empty database" in result.stdout


def test_make_reset_refuses_while_postgresql_runs_on_the_folder(tmp_path):
    pgdata = a_data_folder(tmp_path, postmaster_pid=os.getpid())  # a live process stands for the server

    result = make_reset(pgdata)

    assert result.returncode != 0 and (pgdata / "PG_VERSION").exists()
    assert f"make reset: PostgreSQL (pid {os.getpid()}) is running on {pgdata}: stop make run first (Ctrl-C)" \
        in result.stderr


def test_make_reset_refuses_when_database_url_names_another_server(tmp_path):
    pgdata = a_data_folder(tmp_path)

    result = make_reset(pgdata, DATABASE_URL="postgresql://db.example/greenrow")

    assert result.returncode != 0 and (pgdata / "PG_VERSION").exists()
    assert "make reset: DATABASE_URL is set" in result.stderr
