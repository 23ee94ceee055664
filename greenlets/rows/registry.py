"""The node's registry of live row servers, by row id.

An entry dies with its server: the server removes itself as its last act, in its own greenlet, so
a message delivered to a registered server is always seen by it (no stale entries).
"""
from greenlets.rows.server import RowServer


class Registry:
    def __init__(self, node):
        self._node = node
        self._servers = {}

    def __len__(self):
        return len(self._servers)

    def get(self, row_id):
        return self._servers.get(row_id)

    def servers(self):
        return list(self._servers.values())

    def start(self, row_id, run, launched, row_value, paused, epoch, check_inbox=False, since_tick_s=None):
        """Start (or, for a live on-demand server, promote) the server of a row, under lease ``epoch``;
        returns it. ``since_tick_s``: how long ago the row last ticked (its next tick keeps its schedule)."""
        server = self._servers.get(row_id)
        if server is not None:
            if launched and not server.launched:
                server.launch(run, row_value, paused, epoch, since_tick_s)
            if check_inbox:
                server.notify_messages()
            return server
        server = RowServer(self._node, row_id, run, launched, row_value, paused, epoch, check_inbox, since_tick_s)
        self._servers[row_id] = server
        server.rawlink(self._node.supervisor.on_exit)
        server.begin()
        self._node.telemetry.bump("row_servers_started")
        return server

    def remove(self, server):
        if self._servers.get(server.row_id) is server:
            del self._servers[server.row_id]
            if not self._servers:
                # A dict never shrinks on delete: the table 100,000 servers grew (~5 MB) would stay.
                self._servers = {}
