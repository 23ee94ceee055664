"""nginx with deploy/nginx/greenrow.conf, in front of stand-in instances: what it retries and how it fails.

A request that could not be sent (the instance is gone) goes to another instance, whatever its
method; a GET whose instance died after taking it is retried too, but a POST is not: it may have
been committed. Errors nginx answers itself have the service's error shape.
"""
import socket
import socketserver
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from deploy.cluster import free_port
from deploy.load_balancer import Nginx
from tests.support.cluster import require_nginx


class Healthy(BaseHTTPRequestHandler):
    def _answer(self):
        self.server.seen[self.command] += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"served": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


class DiesMidRequest(socketserver.BaseRequestHandler):
    """Takes the request, then the connection drops without an answer: a worker SIGKILLed mid-request."""

    def handle(self):
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            received += chunk
        self.server.seen[received.split(b" ", 1)[0].decode()] += 1
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.request.close()


def serve(server):
    server.seen = Counter()
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stand_ins():
    healthy = serve(ThreadingHTTPServer(("127.0.0.1", 0), Healthy))
    dying = serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), DiesMidRequest))
    yield healthy, dying
    for server in (healthy, dying):
        server.shutdown()
        server.server_close()


@pytest.fixture
def balancer(tmp_path):
    started = []

    def start(*ports):
        nginx = Nginx(tmp_path / f"nginx-{len(started)}", free_port(), [f"127.0.0.1:{port}" for port in ports],
                      binary=require_nginx(), output=tmp_path / "nginx.out")
        started.append(nginx)
        return nginx.start()

    yield start
    for nginx in started:
        nginx.stop()


def address_port(server):
    return server.server_address[1]


def test_requests_to_a_gone_instance_go_to_another_whatever_their_method(balancer, stand_ins):
    healthy, _ = stand_ins
    nginx = balancer(free_port(), address_port(healthy))  # nothing listens on the first

    statuses = [requests.post(nginx.url("/rows/1/messages"), json={"type": "ping"}, timeout=10).status_code
                for _ in range(4)] + [requests.get(nginx.url("/rows/1"), timeout=10).status_code for _ in range(4)]

    assert statuses == [200] * 8
    assert healthy.seen == {"POST": 4, "GET": 4}


def test_a_post_taken_by_an_instance_that_died_is_not_sent_again_but_a_get_is(balancer, stand_ins):
    healthy, dying = stand_ins
    nginx = balancer(address_port(dying), address_port(healthy))

    posts = [requests.post(nginx.url("/rows/1/messages"), json={"type": "incr", "by": 1}, timeout=10)
             for _ in range(2)]  # round robin: one each
    gets = [requests.get(nginx.url("/rows/1"), timeout=10) for _ in range(2)]

    assert sorted(response.status_code for response in posts) == [200, 502]
    lost = next(response for response in posts if response.status_code == 502)
    assert lost.headers["Content-Type"] == "application/json"
    assert lost.json()["error"]["code"] == "unavailable"
    assert [response.status_code for response in gets] == [200, 200]
    assert dying.seen["POST"] == 1 and healthy.seen["POST"] == 1  # the lost POST was not sent again
    assert healthy.seen["GET"] == 2


def test_errors_nginx_answers_itself_have_the_services_error_shape(balancer):
    nginx = balancer(free_port())  # no instance at all

    unavailable = requests.get(nginx.url("/runs"), timeout=10)
    too_large = requests.post(nginx.url("/runs"), data=b"x" * (64 * 1024 + 1),
                              headers={"Content-Type": "application/json"}, timeout=10)

    assert unavailable.status_code == 502 and unavailable.json()["error"]["code"] == "unavailable"
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "payload_too_large"
    for response in (unavailable, too_large):
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()["error"]) == {"code", "message"}
