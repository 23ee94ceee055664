"""The node's telemetry publisher: once a second, its figures go where readers outside the worker find
them: the Prometheus files (any worker of the instance answers /metrics with them) and the node's row
in ``nodes`` (any node answers /stats with every node's). The same statement reads how many messages
wait in the inboxes of the shards the node holds (the inbox depth gauge).
"""
import gevent
from psycopg2.extras import Json

from greenlets.db.pool import UNAVAILABLE
from greenlets.telemetry import stats
from greenlets.telemetry.prometheus import PrometheusExporter

PUBLISH_EVERY_S = 1.0


class TelemetryPublisher:
    def __init__(self, node):
        self._node = node
        self.exporter = PrometheusExporter(node)

    def __str__(self):
        return f"<TelemetryPublisher node={self._node.id}>"

    def run(self):
        while True:
            self.publish()
            gevent.sleep(PUBLISH_EVERY_S)

    def publish(self):
        node = self._node
        self.exporter.publish()
        try:
            record = node.pool.fetch_one("publish_node_stats", {
                "node_id": node.id, "stats": Json(stats.stored(node)), "shards": sorted(node.leases.held)})
        except UNAVAILABLE as exc:
            node.database.failed("telemetry", exc)
            return
        node.database.succeeded()
        if record is not None:  # (none when the node's row was swept: its heartbeat brings it back)
            node.telemetry.inbox_messages = record[0]
