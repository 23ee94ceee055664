"""A Server-Sent Events client for the tests: GET /rows/<id>/events read by a thread into a queue."""
import json
import queue
import threading
import time

import requests


class EventStream:
    """stream = EventStream(service, row_id); stream.wait_for(lambda name, data: ..., timeout); stream.close()."""

    def __init__(self, service, row_id, headers=None):
        self.response = requests.get(service.url(f"/rows/{row_id}/events"), stream=True, timeout=(5, 60),
                                     headers=headers or {})
        self.status_code = self.response.status_code
        self.headers = self.response.headers
        self.events = queue.Queue()
        self.seen = []
        self.ended = threading.Event()
        if self.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        name, data = None, []
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    self.events.put((name, json.loads("".join(data))))
                    name, data = None, []
        except (requests.RequestException, ValueError, AttributeError):
            pass  # closed by the test, or by the server
        finally:
            self.ended.set()

    def wait_for(self, predicate, timeout, what="the event"):
        """The first (name, data) from now on for which predicate(name, data) holds; fails after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                name, data = self.events.get(timeout=max(0.0, min(left, 0.5)))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{what} never came within {timeout} s; seen: {self.seen[-10:]}") from None
                continue
            self.seen.append((name, data))
            if predicate(name, data):
                return name, data

    def close(self):
        self.response.close()
