"""The HTTP API's /runs against the real service: creating, listing, getting and stopping runs.

The tests share one service (and its database) started once for this module (the api fixture).
"""
from tests.support.api import FINISHED_ROWS, assert_shape, row
from tests.support.service import start_run, wait_for_run
from tests.support.wait import assert_holds, wait_until

DEFAULTS = {"start_value": 3, "step": 1, "tick_ms": 1000, "scan_ms": 2000, "max_concurrency": 10_000}


def test_creating_a_run_answers_201_with_its_location_and_every_default_filled_in(api, api_db):
    response = api.post("/runs", json={"rows": 3})

    assert response.status_code == 201, response.text
    run = response.json()
    assert_shape(run, "Run")
    assert response.headers["Location"] == f"/runs/{run['id']}"
    assert {name: run[name] for name in DEFAULTS} == DEFAULTS
    assert run["rows"] == 3 and run["status"] == "running" and run["finished_at"] is None
    assert run["last_row_id"] - run["first_row_id"] == 2
    assert run["pending"] + run["active"] == 3
    assert run["done"] == run["idle"] == run["failed"] == run["ticks"] == run["restarts"] == 0
    assert api.json(response.headers["Location"])["id"] == run["id"]
    stored = api_db.fetch_all("SELECT id, value FROM rows WHERE run_id = %s ORDER BY id", (run["id"],))
    assert stored == [(row_id, 3) for row_id in range(run["first_row_id"], run["last_row_id"] + 1)]

    api.post(f"/runs/{run['id']}/stop")


def test_a_run_with_every_field_given_keeps_them(api):
    fields = {"rows": 2, "start_value": 2, "step": 2, "tick_ms": 50, "scan_ms": 100, "max_concurrency": 1}

    run = start_run(api, **fields)
    done = wait_for_run(api, run["id"], timeout=15)

    assert {name: run[name] for name in fields} == fields
    assert done["done"] == 2 and done["ticks"] == 2 and done["finished_at"] is not None


def test_listing_runs_shows_the_most_recent_first_and_honours_limit(api):
    created = [start_run(api, rows=1, start_value=1, tick_ms=50)["id"] for _ in range(3)]

    listed = api.json("/runs")["runs"]
    limited = api.json("/runs?limit=2")["runs"]

    ids = [run["id"] for run in listed]
    assert ids == sorted(ids, reverse=True) and ids[:3] == created[::-1]
    assert [run["id"] for run in limited] == created[:0:-1]
    for run in listed:
        assert_shape(run, "Run")
    assert len(api.json("/runs?limit=1")["runs"]) == 1
    everything = api.json("/runs?limit=1000")["runs"]
    assert len(listed) == min(20, len(everything)) and [run["id"] for run in everything][:len(ids)] == ids


def test_getting_a_finished_run_shows_its_counts(api, finished_run):
    run = api.json(f"/runs/{finished_run['id']}")

    assert_shape(run, "Run")
    assert run["status"] == "done" and run["finished_at"] is not None and run["elapsed_s"] > 0
    assert run["ticks"] == FINISHED_ROWS and run["pending"] == run["active"] == 0
    assert run in api.json("/runs?limit=1000")["runs"]


def test_stop_leaves_values_as_they_are_and_a_second_stop_changes_nothing(api, api_db):
    run = start_run(api, rows=4, start_value=1000, tick_ms=50)
    wait_until(lambda: api.json(f"/runs/{run['id']}")["ticks"] >= 8, 10)

    first = api.post(f"/runs/{run['id']}/stop")

    assert first.status_code == 200, first.text
    stopped = first.json()
    assert_shape(stopped, "Run")
    assert stopped["status"] == "stopped" and stopped["finished_at"] is not None
    assert stopped["idle"] == 4 and stopped["pending"] == stopped["active"] == stopped["done"] == 0
    rows = range(run["first_row_id"], run["last_row_id"] + 1)
    wait_until(lambda: all(row(api, row_id)["node"] is None for row_id in rows), 10)
    stored = "SELECT id, value, ticks FROM rows WHERE run_id = %s ORDER BY id"
    values = api_db.fetch_all(stored, (run["id"],))
    assert all(0 < value < 1000 for _, value, _ in values)
    assert sum(ticks for _, _, ticks in values) == stopped["ticks"]
    assert [row(api, row_id)["status"] for row_id in rows] == ["idle"] * 4
    assert_holds(lambda: api_db.fetch_all(stored, (run["id"],)) == values, seconds=0.4)  # 8 tick periods

    second = api.post(f"/runs/{run['id']}/stop", json={})

    assert second.status_code == 200, second.text
    assert second.json() == stopped


def test_stopping_a_done_run_changes_nothing(api, finished_run):
    response = api.post(f"/runs/{finished_run['id']}/stop")

    assert response.status_code == 200
    assert response.json() == api.json(f"/runs/{finished_run['id']}")
    assert response.json()["status"] == "done"


def test_a_whole_number_written_with_a_fraction_is_that_integer_as_json_schema_says(api):
    run = start_run(api, rows=2.0, start_value=1e1, tick_ms=3_600_000.0)

    assert (run["rows"], run["start_value"], run["tick_ms"]) == (2, 10, 3_600_000)
    assert all(type(run[name]) is int for name in ("rows", "start_value", "tick_ms"))
