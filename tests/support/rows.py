"""Helpers for tests that talk to row servers: messages, rows that must not change."""
from tests.support.wait import wait_until


def send(service, row_id, message_type, wait=False, **body):
    """POST one message: a cast answers 202 with its id, a call (?wait=true) 200 with the row server's reply."""
    path = f"/rows/{row_id}/messages" + ("?wait=true" if wait else "")
    response = service.post(path, json={"type": message_type, **body})
    assert response.status_code == (200 if wait else 202), (message_type, response.status_code, response.text)
    return response.json()["reply"] if wait else response.json()


def assert_unchanged(read, polls=5, interval=0.1):
    """read() answers the same `polls` times, `interval` s apart (long enough for several ticks); returns it."""
    first = read()
    readings = []

    def same_again():
        readings.append(read())
        assert readings[-1] == first, f"changed after {len(readings)} polls: {first!r} -> {readings[-1]!r}"
        return len(readings) >= polls

    wait_until(same_again, timeout=polls * interval + 10, interval=interval)
    return first


def row_ticks(db, row_id):
    return db.fetch_value("SELECT ticks FROM rows WHERE id = %s", (row_id,))
