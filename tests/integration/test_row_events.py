"""GET /rows/<id>/events: a row's life as Server-Sent Events, from whichever node takes the request."""
import time

from tests.support.events import EventStream
from tests.support.rows import send
from tests.support.service import start_run
from tests.support.wait import wait_until


def stream_served_elsewhere(service, run, tries=40):
    """A stream of a ticking row whose server lives on another node than the one serving the stream."""
    for row_id in range(run["first_row_id"], run["first_row_id"] + tries):
        stream = EventStream(service, row_id)
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["X-Accel-Buffering"] == "no"
        _, row = stream.wait_for(lambda name, data: name == "row" and data["node"] is not None, 10,
                                 "the row with its owner")
        if row["node"] != stream.headers["Greenrow-Node"]:
            return stream, row
        stream.close()
    raise AssertionError(f"every one of {tries} rows was served by the node that took its stream")


def test_a_stream_shows_the_row_ticking_and_the_messages_its_server_handles_on_another_node(make_service):
    service = make_service(workers=2)
    run = start_run(service, rows=200, start_value=1000, tick_ms=200)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["active"] == 200, 15, message="the run never started")
    stream, first = stream_served_elsewhere(service, run)
    try:
        _, later = stream.wait_for(lambda name, data: name == "row" and data["value"] < first["value"], 5,
                                   "a row event after a tick")
        assert later["ticks"] > first["ticks"] and later["node"] == first["node"]

        message_id = send(service, first["id"], "incr", by=500)["message_id"]
        _, handled = stream.wait_for(lambda name, data: name == "message", 10, "the handled message, forwarded")
        assert handled["message"] == "incr" and handled["message_id"] == message_id
        assert handled["node"] == first["node"] and handled["value"] > later["value"] + 400
    finally:
        stream.close()


def test_a_crash_is_told_with_its_error_and_whether_the_row_restarts(service):
    run = start_run(service, rows=1, start_value=1000, tick_ms=200)
    row_id = run["first_row_id"]
    stream = EventStream(service, row_id)
    try:
        stream.wait_for(lambda name, data: name == "row", 5, "the first row event")
        send(service, row_id, "crash")
        _, crash = stream.wait_for(lambda name, data: name == "crash", 10, "the crash event")
        assert "CrashRequested" in crash["error"] and crash["outcome"] == "restarting"
        stream.wait_for(lambda name, data: name == "row" and data["restarts"] == 1, 10, "the restart in the row")
    finally:
        stream.close()


def test_streams_past_the_nodes_bound_are_refused_with_429_and_a_closed_one_frees_its_place(make_service):
    """The rows are quiet (a tick an hour away): nothing is written to a stream but its keepalive every 15 s,
    so the closed stream's place must come back because the node saw its client go, not because a write
    failed (that took 30 s: the first write after a close still succeeds)."""
    service = make_service(env={"GREENROW_MAX_EVENT_STREAMS": "2"})
    run = start_run(service, rows=3, start_value=1000, tick_ms=3_600_000)
    rows = range(run["first_row_id"], run["first_row_id"] + 3)
    streams = [EventStream(service, row_id) for row_id in rows[:2]]
    try:
        assert [s.status_code for s in streams] == [200, 200]
        refused = service.get(f"/rows/{rows[2]}/events")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
        assert refused.headers["Retry-After"].isdigit() and "GREENROW_MAX_EVENT_STREAMS" in refused.text

        streams.pop().close()

        def a_place_again():
            stream = EventStream(service, rows[2])
            if stream.status_code == 200:
                return stream
            stream.close()
            return None
        streams.append(wait_until(a_place_again, 10, message="the closed stream's place did not come back within 10 s"))
    finally:
        for stream in streams:
            stream.close()


def test_a_stream_of_a_row_that_does_not_exist_is_a_404(service):
    response = service.get("/rows/987654321/events")
    assert response.status_code == 404 and response.json()["error"]["code"] == "row_not_found"


def test_sigterm_ends_every_stream_and_the_service_still_stops_within_seconds(make_service):
    service = make_service()
    run = start_run(service, rows=50, start_value=1000, tick_ms=200)
    streams = [EventStream(service, row_id) for row_id in range(run["first_row_id"], run["first_row_id"] + 5)]
    for stream in streams:
        stream.wait_for(lambda name, data: name == "row", 5, "the first row event")

    began = time.monotonic()
    assert service.stop(timeout=30) == 0
    took = time.monotonic() - began

    for stream in streams:
        stream.wait_for(lambda name, data: name == "end", 5, "the end event")
    assert took < 6, f"the service took {took:.1f} s to stop with 5 streams open"
