"""A node: one gunicorn worker's runtime, and the facade the HTTP layer talks to.

It wires the pieces together (pool, lease keeper, tick writers, row supervisor, monitors, registry)
under a ServiceSupervisor, starts them in ``post_worker_init`` and stops them gracefully in
``worker_exit``: row servers finish their tick in flight, active rows go back to pending, the
shard leases are released and the node deregisters, so a peer can take over at once.
"""
import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager

import gevent
import psycopg2.errors
from psycopg2.extras import Json

from config.settings import SettingsError
from greenlets import dead_letters, idempotency
from greenlets.database_health import DatabaseHealth, one_line, public_reason
from greenlets.db.migrate import migrate
from greenlets.db.pool import UNAVAILABLE, Pool
from greenlets.db.queries import run_query
from greenlets.errors import CallsFull, InboxFull, RowNotFound, RuntimeUnavailable
from greenlets.memory import release_free_memory
from greenlets.ownership.calls import PendingCalls
from greenlets.ownership.leases import LeaseKeeper
from greenlets.ownership.listener import Listener
from greenlets.ownership.routing import Router
from greenlets.rows.events import RowEvents
from greenlets.rows.inbox import reply_type
from greenlets.rows.monitor import Monitor
from greenlets.rows.registry import Registry
from greenlets.rows.server import stop_all
from greenlets.rows.supervisor import RowSupervisor
from greenlets.rows.tick_clock import TickClock
from greenlets.rows.ticks import TickWriter
from greenlets.run_deleter import RunDeleter
from greenlets.run_limits import check_new_run
from greenlets.services import ServiceSupervisor
from greenlets.telemetry import Telemetry, stats
from greenlets.telemetry.prometheus import exposition
from greenlets.telemetry.publisher import TelemetryPublisher
from greenlets.views import row_view, run_view

log = logging.getLogger(__name__)

START_RETRY_S = 1.0
INBOX_SWEEP_S = 2.0
INBOX_SWEEP_MAX_ROWS = 2000  # row servers a sweep starts at most (each applies its inbox, then leaves)
STOP_TIMEOUT_S = 10.0
TICK_WRITERS = 2
ROW_READ_TIMEOUT_MS = 2000
# A stop parks the rows tick batches held at that moment once they are free: a retry this often,
# for at most this long (a batch holds its rows for milliseconds; a frozen node's are freed by the
# server's idle-in-transaction timeout).
PARK_ROWS_RETRY_S = 0.02
PARK_ROWS_TIMEOUT_S = 10.0
REPLY_GRACE_S = 1.0
DRAIN_CALLS_S = 10.0  # within gunicorn's graceful_timeout (30 s), leaving the hand-off its time


class Node:
    def __init__(self, settings):
        self.settings = settings
        self.id = None
        self.pool = None
        self.telemetry = Telemetry()
        self.calls = PendingCalls()
        self.database = DatabaseHealth(self.telemetry)
        self.registry = Registry(self)
        self.router = Router(self)
        self.row_events = RowEvents(self, settings.max_event_streams)
        self.calls_in_flight = 0  # calls (?wait=true) this node waits on: at most GREENROW_MAX_CALLS_IN_FLIGHT
        self.monitors = {}
        self.running = False
        self.stopping = False
        self.draining = False  # asked to stop (SIGTERM): requests get 503 while the node hands off
        self.started_at = None
        self.start_error = None
        self.refused = None  # a setting the database contradicts: waiting cannot fix it (the worker exits)
        self._starter = None
        self.publisher = TelemetryPublisher(self)
        self.services = None
        self.supervisor = None

    def __str__(self):
        return f"<Node {self.id} running={self.running} servers={len(self.registry)}>"

    # --- lifecycle --------------------------------------------------------------------------------

    def start_in_background(self):
        """Start the node, retrying until the database answers; /readyz says 503 until then."""
        self._starter = gevent.spawn(self._start_with_retries)

    def wait_started(self, timeout_s):
        """Wait, at most ``timeout_s``, until the node runs (or start-up gave up on a bad setting)."""
        if self._starter is not None:
            self._starter.join(timeout=timeout_s)

    def _start_with_retries(self):
        while not self.stopping:
            try:
                self.start()
                return
            except SettingsError as exc:
                self.start_error = self.refused = str(exc)
                log.critical("greenrow.node.refused %s", exc)
                return
            except Exception as exc:
                self.start_error = f"the database could not answer: {public_reason(exc)} (the log says why)"
                log.warning("greenrow.node.start_failed %s; retrying in %ss", one_line(exc), START_RETRY_S)
                if self.pool is not None:
                    self.pool.close()
                    self.pool = None
                gevent.sleep(START_RETRY_S)

    def start(self):
        settings = self.settings.require_database()
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.calls.node_id = self.id
        self.pool = Pool(settings.database_url, settings.pool_size, settings.pool_timeout_ms / 1000.0,
                         settings.statement_timeout_ms, settings.db_network_timeout_ms,
                         application_name=f"greenrow {self.id}", checkout_ms=self.telemetry.pool_checkout)
        self.database.on_outage = self.pool.refuse_waiters
        conn = self.pool.connect()
        try:
            migrate(conn)
        finally:
            conn.close()
        self._check_shard_count()
        self.pool.fetch_one("ensure_shards", {"shards": settings.shards})
        self.pool.fetch_one("heartbeat_node", self.heartbeat_params())
        self.leases = LeaseKeeper(self, settings.shards, settings.lease_ttl_ms)
        self.tick_clock = TickClock()
        self.tick_writer = TickWriter(self.pool, self.id, self.telemetry, self.database, settings.shards,
                                      settings.tick_batch_ms, settings.tick_batch_max)
        self.supervisor = RowSupervisor(self, settings.max_restarts, settings.max_seconds,
                                        settings.restart_backoff_ms)
        self.services = ServiceSupervisor(self.telemetry)
        self.services.start_child("row-supervisor", self.supervisor.run)
        for number in range(TICK_WRITERS):
            self.services.start_child(f"tick-writer-{number}", self.tick_writer.run)
        self.started_at = time.time()
        self.leases.renew_and_claim()
        self.running = True
        self.start_error = None
        self.services.start_child("lease-keeper", self.leases.run)
        self.services.start_child("listener", Listener(self, self.router.dispatch).run)
        self.services.start_child("inbox-sweeper", self._sweep_inboxes)
        self.services.start_child("telemetry-publisher", self.publisher.run)
        self.services.start_child("idempotency-key-purger", idempotency.KeyPurger(self, settings.idempotency_ttl_s).run)
        self.deleter = RunDeleter(self, settings.retain_finished_runs_s)
        self.services.start_child("run-deleter", self.deleter.run)
        self.ensure_monitors()
        log.info("greenrow.node.start node=%s shards=%d/%d", self.id, len(self.leases.held), settings.shards)

    def drain(self):
        """The worker was asked to stop (SIGTERM): refuse new requests (503); let the calls already
        waiting get their replies for up to DRAIN_CALLS_S (the node still runs meanwhile), then answer
        the ones still waiting with 504 (their messages are committed and will be applied: a timeout,
        not a refusal). gunicorn's graceful stop is then not held up by calls waiting out their
        timeouts (up to 60 s), and the node hands its shards off well within the graceful timeout."""
        if self.draining:
            return
        self.draining = True
        self.row_events.close_all()
        deadline = time.monotonic() + DRAIN_CALLS_S
        while len(self.calls) and time.monotonic() < deadline:  # (a call whose message is being committed too)
            gevent.sleep(0.05)
        self.calls.give_up_all("the node that took the call is stopping and will not wait for the reply")

    def stop(self):
        """Graceful stop: servers finish their tick in flight, leases are released, the node leaves."""
        self.drain()
        self.stopping = True
        if self._starter is not None:
            self._starter.kill(block=False)
        if not self.running:
            return
        log.info("greenrow.node.stop node=%s row_servers=%d", self.id, len(self.registry))
        for monitor in list(self.monitors.values()):
            self.services.stop_child(f"monitor-{monitor.run_id}")
        stop_all(self.registry.servers(), timeout_s=STOP_TIMEOUT_S)
        self.supervisor.stop()
        self.services.stop()
        self.running = False
        try:
            self.leases.release_all()
            self.pool.fetch_one("deregister_node", {"node_id": self.id})
        except Exception as exc:
            log.warning("greenrow.node.stop could not release leases (%s): they expire in %d ms",
                        exc, self.settings.lease_ttl_ms)
        self.pool.close()

    def _check_shard_count(self):
        stored = self.pool.fetch_one("meta_set_default", {"key": "shards", "value": str(self.settings.shards)})
        if int(stored[0]) != self.settings.shards:
            raise SettingsError(
                f"GREENROW_SHARDS is {self.settings.shards} but this database was set up with {stored[0]} shards;"
                " use the same value on every node of a database")

    def heartbeat_params(self):
        return {"node_id": self.id, "host": socket.gethostname(), "pid": os.getpid(),
                "row_servers": len(self.registry)}

    # --- what the runtime's parts ask of the node -------------------------------------------------

    def concurrency_share(self, max_concurrency):
        """This node's part of a run's cluster-wide max_concurrency: the quotas of the shards it holds.

        Shard k's quota is floor(max*(k+1)/S) - floor(max*k/S); over all S shards they add up to
        exactly max_concurrency, so the nodes' shares never sum to more.
        """
        shards = self.leases.shards
        return sum((max_concurrency * (k + 1)) // shards - (max_concurrency * k) // shards
                   for k in self.leases.held)

    def release_slot(self, run_id, row_id):
        monitor = self.monitors.get(run_id)
        if monitor is not None:
            monitor.release(row_id)

    def ensure_monitors(self):
        """A monitor for every running run (the sweep tries again if the database cannot answer now)."""
        try:
            runs = self.pool.fetch_all("running_runs", dicts=True)
        except UNAVAILABLE as exc:
            self.database.failed("monitors", exc)
            return
        for run in runs:
            if run["id"] not in self.monitors and not self.stopping:
                monitor = Monitor(self, run)
                self.monitors[run["id"]] = monitor
                self.services.start_child(f"monitor-{run['id']}", monitor.run)

    def forget_monitor(self, monitor):
        if self.monitors.get(monitor.run_id) is monitor:
            del self.monitors[monitor.run_id]
        if not self.monitors and not len(self.registry):
            release_free_memory()

    def shards_gained(self, shards):
        self._poke_inboxes(shards)
        self.ensure_monitors()
        for monitor in list(self.monitors.values()):
            monitor.wake()

    def catch_up(self):
        """Read the tables for what notifications may not have said (after the listener (re)connects,
        and every few seconds): messages nobody was woken for, runs with no monitor here."""
        try:
            if self.leases.held:
                self._poke_inboxes(self.leases.held)
            self.ensure_monitors()
        except UNAVAILABLE as exc:
            self.database.failed("catch-up", exc)

    def settle_calls(self):
        """After the listener (re)connects: a reply sent to this node while it was not listening is
        lost. A waiting call whose message is no longer queued was applied; if its reply has not come
        within REPLY_GRACE_S, it is answered with its row as the table shows it now (a state at or
        after the message's effect) rather than left to time out."""
        if not self.calls.waiting_calls():
            return
        gevent.sleep(REPLY_GRACE_S)
        calls = self.calls.waiting_calls()
        if not calls:
            return
        try:
            queued = {message_id for (message_id,) in self.pool.fetch_all(
                "queued_messages", {"ids": [message_id for _, message_id, _, _ in calls]})}
            for token, message_id, row_id, message_type in calls:
                if message_id in queued:
                    continue  # not applied yet: its reply comes, now that the node listens again
                record = self._own_row_record(row_id)
                reply = row_view(record, record["owner"])
                reply["type"] = reply_type(message_type)
                if self.calls.reply(token, reply):
                    log.info("greenrow.call.settled message=%s row=%s (its reply was lost to a reconnect)",
                             message_id, row_id)
        except UNAVAILABLE as exc:
            self.database.failed("settling calls", exc)

    def shards_lost(self, shards):
        """Stop the row servers of shards whose lease term ended (not those of a newer term held now)."""
        held = self.leases.held
        lost = [server for server in self.registry.servers()
                if (shard := self.leases.shard_of(server.row_id)) in shards and held.get(shard) != server.epoch]
        stop_all(lost, timeout_s=STOP_TIMEOUT_S)

    def deliver(self, row_id):
        """Wake the row's server about its inbox, starting one if none is live (activation on demand)."""
        server = self.registry.get(row_id)
        if server is not None:
            server.notify_messages()
        elif self.supervisor.is_restarting(row_id):
            pass  # the restarted server reads the inbox when it starts, after its backoff
        elif not self.stopping and (epoch := self.leases.epoch_of(row_id)) is not None:
            # On demand: the server learns its row from the first message it applies.
            self.registry.start(row_id, None, False, None, None, epoch, check_inbox=True)
        # else: the message waits in the inbox for the shard's owner

    def _poke_inboxes(self, shards):
        for (row_id,) in self.pool.fetch_all("rows_with_messages",
                                             {"shards": sorted(shards), "limit": INBOX_SWEEP_MAX_ROWS}):
            self.deliver(row_id)

    def _sweep_inboxes(self):
        """Catch up on messages nobody was woken for (a failed delivery, a restart) and on new runs."""
        while True:
            gevent.sleep(INBOX_SWEEP_S)
            self.catch_up()

    # --- the facade the HTTP layer calls ------------------------------------------------------------

    @contextmanager
    def _serving(self):
        """Around database work for an HTTP request: 503 (RuntimeUnavailable) when the node cannot serve it."""
        if not self.running or self.stopping or self.draining:
            raise RuntimeUnavailable(self.start_error or "the node is starting or stopping")
        try:
            yield
        except UNAVAILABLE as exc:
            # the database is gone, restarting, or too slow (statement or lock timeout): try again later
            self.database.failed("request", exc)
            raise RuntimeUnavailable(f"the database could not answer: {public_reason(exc)}") from exc

    @contextmanager
    def _transaction(self, dicts=True):
        with self._serving(), self.pool.transaction(dicts=dicts) as cur:
            yield cur

    def _fetch(self, name, params):
        with self._serving():
            return self.pool.fetch_all(name, params, dicts=True)

    def readiness(self):
        """None when ready to serve, else why not. Ready: running, the database answers, every worker
        of this instance is up and the cluster's shards are balanced (each live node holds its share),
        so a run started now is not slowed down by rows handed from one node to another."""
        if not self.running or self.stopping or self.draining:
            return self.start_error or "it is starting or stopping"
        try:
            record = self.pool.fetch_one("cluster_balance", {"ttl_ms": self.settings.lease_ttl_ms,
                                                             "shards": self.settings.shards}, dicts=True)
        except UNAVAILABLE as exc:
            return f"the database could not answer: {public_reason(exc)}"
        if record["live"] < self.settings.workers:
            return f"{record['live']} of this instance's {self.settings.workers} workers are up"
        if not record["balanced"]:
            return "the shards are being balanced between the nodes"
        return None

    def create_run(self, params, key=None):
        """The run as created, and whether that is the stored answer to an earlier request with ``key``
        (an idempotency.Key, or None): then nothing was created."""
        stored = self._stored_answer(key)
        if stored is not None:
            return stored.response, True
        try:
            with self._transaction() as cur:
                run_query(cur, "lock_run_creation", {})
                run_query(cur, "running_load", {})
                check_new_run(params, cur.fetchone(), self.settings)
                run_query(cur, "create_run", dict(params, shards=self.settings.shards))
                record = cur.fetchone()
                view = run_view(record)  # as created: the monitors (here and on other nodes) claim rows from now on
                if key is not None:
                    idempotency.store(cur, key, self.settings.idempotency_ttl_s, status=201, response=view)
                self.router.send({"k": "run", "run": record["id"]}, cur)
        except idempotency.KeyTaken:  # the same request, committed first: nothing of this one was
            return self._stored_answer(key).response, True
        self.telemetry.bump("runs_created")
        log.info("greenrow.run.start run=%s rows=%d", record["id"], record["rows"])
        self.ensure_monitors()
        return view, False

    def _stored_answer(self, key):
        """The stored answer of an idempotency key (None without a key, or for a new one)."""
        if key is None:
            return None
        with self._transaction(dicts=False) as cur:
            return idempotency.find(cur, key, self.settings.idempotency_ttl_s)

    def get_run(self, run_id):
        records = self._fetch("runs_with_counts", {"run_id": run_id, "limit": 1})
        return run_view(records[0]) if records else None

    def list_runs(self, limit):
        records = self._fetch("runs_with_counts", {"run_id": None, "limit": limit})
        return [run_view(record) for record in records]

    def stop_run(self, run_id):
        """Stop a running run: its status, its unfinished rows parked idle, its row servers ended on every
        node (the run_stop notification goes out with the status). Rows a tick batch held at that moment
        are parked as soon as they are free (see park_stopped_rows), before this returns."""
        with self._transaction() as cur:
            run_query(cur, "stop_run", {"run_id": run_id})
            if cur.fetchone() is not None:
                self.router.send({"k": "run_stop", "run": run_id}, cur)
            run_query(cur, "park_stopped_rows", {"run_id": run_id})
            left = cur.fetchone()["unfinished"]
        deadline = time.monotonic() + PARK_ROWS_TIMEOUT_S
        while left and time.monotonic() < deadline:
            gevent.sleep(PARK_ROWS_RETRY_S)
            left = self._fetch("park_stopped_rows", {"run_id": run_id})[0]["unfinished"]
        monitor = self.monitors.get(run_id)
        if monitor is not None:
            monitor.stop()
            self.telemetry.bump("runs_stopped")
        return self.get_run(run_id)

    def delete_run(self, run_id):
        """Mark a done or stopped run for deletion (this node's run deleter starts on it now): the run,
        status deleting; None if there is no such run; RunNotFinished if it is running."""
        with self._transaction() as cur:
            record = self.deleter.mark(cur, run_id)
        if record is not None:
            self.deleter.wake()
            log.info("greenrow.run.delete run=%s", run_id)
        return run_view(record) if record is not None else None

    def get_row(self, row_id):
        """The row as its owner sees it. An active row's server lives on its shard's owner: when that
        is another node, the read itself asks the owner, which answers (over a notification, within a
        timeout) and names itself."""
        token = self.calls.open()
        try:
            records = self._fetch("row_view", {"row_id": row_id, "node_id": self.id,
                                               **self.router.row_request_params(token)})
            if not records:
                return None
            record = records[0]
            owner = record["owner"]
            if record["asked"]:  # the read rang the row's owner, another node
                answer = self.router.wait_for_row(token, row_id, owner, ROW_READ_TIMEOUT_MS)
                return answer if answer is not None else row_view(record, owner)
            return self._row_view_from(record)
        finally:
            self.calls.cancel(token)

    def owner_row_view(self, row_id):
        """This node's answer to a peer asking about a row it owns."""
        record = self._own_row_record(row_id)
        return self._row_view_from(record) if record is not None else None

    def _own_row_record(self, row_id):
        """The row_view record of a row, read without asking any other node."""
        return self.pool.fetch_one("row_view", {"row_id": row_id, "node_id": self.id,
                                                **self.router.row_request_params(None)}, dicts=True)

    def _row_view_from(self, record):
        # an active row of a shard we hold has its server here (or about to be, or restarting)
        live = ((record["state"] == "active" and record["owner"] == self.id)
                or self.registry.get(record["id"]) is not None)  # (a server that never started is falsy)
        return row_view(record, self.id if live else None)

    def send_message(self, row_id, message, wait, timeout_ms, key=None):
        """The answer ({"message_id"} for a cast, and the "reply" for a call) and whether it is the stored
        answer to an earlier request with ``key`` (an idempotency.Key, or None): then nothing new was queued."""
        stored = self._stored_answer(key)
        if stored is not None and (not wait or stored.status is not None):
            return stored.response, True
        if not wait:
            return self._send(row_id, message, None, timeout_ms, key)
        if self.calls_in_flight >= self.settings.max_calls_in_flight:
            raise CallsFull(f"this node already waits on {self.calls_in_flight} calls (GREENROW_MAX_CALLS_IN_FLIGHT); "
                            "nothing was stored: call again later, or cast")
        self.calls_in_flight += 1
        try:
            if stored is not None:
                return self._wait_again(stored.message_id, key, message, timeout_ms), True
            return self._send(row_id, message, self.calls.open(keyed=key is not None), timeout_ms, key)
        finally:
            self.calls_in_flight -= 1

    def _send(self, row_id, message, token, timeout_ms, key):
        """Commit a message (a call when it has a reply token) and, for a call, wait for its reply."""
        body = {name: value for name, value in message.items() if name != "type"}
        try:
            message_id, owner = self._commit_message(row_id, message["type"], body, token, key)
        except idempotency.KeyTaken:  # the same request committed first: nothing of this one was
            self.calls.cancel(token)
            return self.send_message(row_id, message, token is not None, timeout_ms, key)[0], True
        except BaseException:
            self.calls.cancel(token)
            raise
        self.telemetry.message(message["type"], "accepted")
        if owner == self.id:
            self.deliver(row_id)
        if token is None:
            return {"message_id": message_id}, False
        return self._wait_for_reply(token, message_id, row_id, message["type"], timeout_ms), False

    def _wait_for_reply(self, token, message_id, row_id, message_type, timeout_ms):
        try:
            reply = self.calls.wait(token, message_id, timeout_ms, row_id, message_type)
        except Exception:
            self.telemetry.message(message_type, "timed_out")
            raise
        return {"message_id": message_id, "reply": reply}

    def _wait_again(self, message_id, key, message, timeout_ms):
        """A retried call whose reply is not stored yet: its message's reply comes here from now on (or, if
        it was applied meanwhile, its stored reply is the answer)."""
        token = self.calls.open(keyed=True)
        try:
            with self._transaction(dicts=False) as cur:
                run_query(cur, "redirect_call", {"reply_to": token, "message_id": message_id})
                redirected = cur.fetchone() is not None
        except BaseException:
            self.calls.cancel(token)
            raise
        if not redirected:
            self.calls.cancel(token)
            stored = self._stored_answer(key)
            if stored is None or stored.status is None:
                raise RuntimeUnavailable(f"message {message_id} was applied but its reply is not stored; "
                                         "GET the row for its state")
            return stored.response
        row_id = None  # settle_calls needs no row for a redirected call: it waits for the reply or times out
        return self._wait_for_reply(token, message_id, row_id, message["type"], timeout_ms)

    def _commit_message(self, row_id, message_type, body, token, key):
        """Insert into the durable inbox, waking another node's row's owner in the same statement; with an
        idempotency key, the key is stored in the same transaction."""
        params = {"row_id": row_id, "type": message_type, "body": Json(body), "reply_to": token,
                  "node_id": self.id, "inbox_max": self.settings.inbox_max, **self.router.wake_params(row_id)}
        if key is None:
            try:
                with self._serving():  # one round trip, autocommit: the statements run as one transaction
                    inserted = self.pool.fetch_one("insert_message", params)
            except psycopg2.errors.ForeignKeyViolation:  # the run deleter took the row as this was sent
                inserted = None
            return self._inserted(row_id, inserted)
        try:
            with self._transaction(dicts=False) as cur:
                run_query(cur, "insert_message", params)
                message_id, owner = self._inserted(row_id, cur.fetchone())
                answer = {"message_id": message_id} if token is None else None  # a call's answer is its reply, later
                idempotency.store(cur, key, self.settings.idempotency_ttl_s, status=None if token else 202,
                                  response=answer, message_id=message_id)
        except psycopg2.errors.ForeignKeyViolation:
            return self._inserted(row_id, None)
        return message_id, owner

    def _inserted(self, row_id, inserted):
        if inserted is None:
            raise RowNotFound(f"row {row_id} does not exist")
        message_id, owner, deleting = inserted
        if deleting:
            raise RowNotFound(f"row {row_id} does not exist: its run is being deleted")
        if message_id is None:
            raise InboxFull(f"row {row_id}'s inbox holds {self.settings.inbox_max} messages"
                            " (GREENROW_INBOX_MAX); nothing was stored: send it again later")
        return message_id, owner

    def dead_letters(self, row_id, limit):
        with self._serving():
            return dead_letters.of_row(self.pool, row_id, limit)

    def replay_dead_letter(self, dead_letter_id):
        with self._serving():
            return dead_letters.replay(self, dead_letter_id)

    def delete_dead_letter(self, dead_letter_id):
        with self._serving():
            return dead_letters.delete(self, dead_letter_id)

    def list_nodes(self):
        records = self._fetch("live_nodes", {"ttl_ms": self.settings.lease_ttl_ms})
        nodes = []
        for record in records:
            view = dict(record, started_at=record["started_at"].isoformat())
            if record["id"] == self.id:
                view["row_servers"] = len(self.registry)
            nodes.append(view)
        return nodes

    def greenlet_counts(self):
        """The node's greenlets by kind (counted from what holds them: no walk over the heap)."""
        return {"row_server": len(self.registry),
                "service": len(self.services) if self.services is not None else 0,
                "request": self.telemetry.http_in_flight,
                "restart": self.supervisor.restarts_waiting() if self.supervisor is not None else 0}

    def cluster_stats(self, histograms=False):
        """GET /stats: every live node's figures (from their rows, this node's own fresh) and the totals."""
        rows = self._fetch("node_stats", {"ttl_ms": self.settings.lease_ttl_ms})
        return stats.cluster(self, rows, histograms)

    def prometheus_exposition(self):
        """GET /metrics: this node's figures published now, then every worker's of the instance read."""
        self.publisher.exporter.publish()
        return exposition()
