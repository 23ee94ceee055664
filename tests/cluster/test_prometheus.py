"""A real Prometheus server (Debian's package) scraping a real cluster: what an operator would query; and
/stats through the cluster's nginx, what a curl user reads."""
import math

import pytest

from tests.support.prometheus import PrometheusServer
from tests.support.service import start_run
from tests.support.wait import wait_until

ROWS = 2000
START_VALUE = 6
LATENESS_P99 = ('histogram_quantile(0.99, sum by (le) '
                '(rate(greenrow_tick_lateness_seconds_bucket{job="greenrow"}[10s])))')


def finite(value):
    return value if value is not None and math.isfinite(value) else None


@pytest.fixture
def prometheus(tmp_path):
    servers = []

    def start(targets):
        server = PrometheusServer(tmp_path, targets)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


def test_prometheus_scraping_every_instance_of_a_cluster_sees_the_row_servers_and_tick_lateness(
        make_cluster, prometheus):
    cluster = make_cluster(instances=2, workers=2)
    server = prometheus([f"127.0.0.1:{instance.port}" for instance in cluster.instances])
    wait_until(lambda: set(server.targets_up().values()) == {1.0} and len(server.targets_up()) == 2, 20,
               interval=0.5, message="Prometheus never scraped both instances")
    assert server.value('count(greenrow_node_info{job="greenrow"} == 1)') == 4.0  # every worker is a node

    run = start_run(cluster, rows=ROWS, start_value=START_VALUE, tick_ms=1000, max_concurrency=ROWS)

    # While the run ticks: its row servers, summed over the nodes, and the lateness quantiles.
    wait_until(lambda: server.value('sum(greenrow_row_servers{job="greenrow"})') == ROWS, 20, interval=0.5,
               message="Prometheus never saw every row server live")
    p99 = wait_until(lambda: finite(server.value(LATENESS_P99)), 20, interval=0.5,
                     message="Prometheus never had a tick lateness p99")  # (NaN until ticks were counted)
    p50 = server.value(LATENESS_P99.replace("0.99", "0.5"))
    assert 0 < p50 <= p99 < 1.0, (p50, p99)

    cluster.wait_for_run(run["id"], timeout=30)
    # Once the last scrapes are in: every tick, counted once across instances and workers.
    wait_until(lambda: server.value('sum(greenrow_ticks_committed_total{job="greenrow"})') == ROWS * START_VALUE,
               15, interval=0.5, message="Prometheus's tick total never matched the run's")
    assert server.value('sum(greenrow_row_servers{job="greenrow"})') == 0

    # The same through nginx, for a curl user: /stats from whichever node, every node's figures.
    stats = wait_until(lambda: (lambda s: s if s["cluster"]["counters"]["ticks_committed"] == ROWS * START_VALUE
                                else None)(cluster.json("/stats")), 10, interval=0.2,
                       message="/stats through nginx never counted the run's ticks")
    assert stats["cluster"]["nodes"] == 4 and stats["cluster"]["tick_lateness"]["count"] == ROWS * START_VALUE
