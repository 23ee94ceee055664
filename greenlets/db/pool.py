"""A bounded, gevent-friendly psycopg2 connection pool.

Checkout is constant time: a free list of idle connections plus a FIFO of waiters, each with its
own AsyncResult (never thousands of greenlets parked on one shared queue). Waiters marked
``priority`` (the node's own work that many rows wait on: a run monitor's claims, a row restart) have
a FIFO of their own, served first: under a burst of HTTP requests the pool's queue can be hundreds
long, and a claim of a run's next rows waiting its turn there held the whole run back. Checkout waits at most
``timeout_s``; connects are bounded by ``gevent.Timeout`` because libpq's connect_timeout is ignored
in green mode. Sessions are bounded server-side (statement, lock and idle-in-transaction timeouts)
because killing a greenlet mid-query does not stop the statement on the server.
"""
import logging
import select
import socket
import time
from collections import deque
from contextlib import contextmanager

import gevent
import gevent.socket
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from gevent.event import AsyncResult

from greenlets.db.queries import PreparingConnection, run_query

log = logging.getLogger(__name__)

KEEPALIVE_PROBES = 3


def network_timeouts(timeout_ms):
    """Client-side network timeouts of every connection (libpq; TCP only, unix sockets ignore them), so a
    silent network drop is noticed within about ``timeout_ms`` instead of the kernel's minutes: data sent
    and not acknowledged for that long breaks the connection (tcp_user_timeout), and so does an idle one
    whose peer stops answering keepalive probes (sent after a quarter of it, then every tenth, 3 missed)."""
    return {"keepalives": 1, "keepalives_idle": max(1, timeout_ms // 4000),
            "keepalives_interval": max(1, timeout_ms // 10000), "keepalives_count": KEEPALIVE_PROBES,
            "tcp_user_timeout": timeout_ms}


# A transaction of greenrow never waits on its client for long (statements follow each other at once):
# one left open by a client that stopped (a paused or frozen node) is ended by the server after this
# long, so the locks it holds (a message, a row, a lease FOR SHARE, a run) do not keep other nodes
# from taking over the shard or claiming the run's rows.
IDLE_IN_TRANSACTION_MS = 2000
# Errors that mean "the database cannot answer now" (gone, restarting, a connection cut, a statement or
# lock timeout, no free connection): the operation may be tried again later. Not a bug of the caller.
_BROKEN = (psycopg2.OperationalError, psycopg2.InterfaceError, gevent.GreenletExit, gevent.Timeout)


class _BeginningCursor(psycopg2.extensions.cursor):
    """A cursor that opens its transaction with its first statement: ``BEGIN;`` goes before it, in the
    same round trip (PostgreSQL runs the two as sent, the statement inside the transaction)."""

    began = False

    def execute(self, query, vars=None):
        if not self.began:
            self.began = True
            query = "BEGIN;" + query
        return super().execute(query, vars)


class _BeginningDictCursor(_BeginningCursor, psycopg2.extras.RealDictCursor):
    """The same, with rows as dicts."""


_BEGINNING_CURSORS = {False: _BeginningCursor, True: _BeginningDictCursor}


class PoolTimeout(Exception):
    """No connection became free within the checkout timeout."""


UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError, PoolTimeout)


class Pool:
    def __init__(self, dsn, size, timeout_s, statement_timeout_ms=30000, network_timeout_ms=10000,
                 application_name="greenrow", checkout_ms=None):
        if psycopg2.extensions.get_wait_callback() is None:
            raise RuntimeError("psycogreen.gevent.patch_psycopg() must run before the pool is made")
        self.dsn = dsn
        self.size = size
        self.timeout_s = timeout_s
        self._network = network_timeouts(network_timeout_ms)
        self._connect_timeout_s = network_timeout_ms / 1000.0  # a connect gets no answer in a network drop
        self._options = (
            f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={statement_timeout_ms}"
            f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
        )
        self._application_name = application_name
        self._free = []
        self._waiters = deque()
        self._priority_waiters = deque()
        self._opened = 0
        self.closed = False
        self._checkout_ms = checkout_ms  # a telemetry Histogram of checkout times, or None

    def __str__(self):
        return f"<Pool size={self.size} opened={self._opened} free={len(self._free)} waiting={self.waiting()}>"

    def waiting(self):
        return len(self._waiters) + len(self._priority_waiters)

    def stats(self):
        return {"size": self.size, "open": self._opened, "in_use": self._opened - len(self._free),
                "idle": len(self._free), "waiting": self.waiting()}

    def connect(self, **extra):
        """A new connection outside the pool (e.g. for LISTEN or migrations); the caller closes it."""
        params = dict(self._network, **extra)
        limit = self._connect_timeout_s
        with gevent.Timeout(limit, PoolTimeout(f"could not connect within {limit:g} s")):
            return psycopg2.connect(self.dsn, options=self._options, application_name=self._application_name,
                                    connection_factory=PreparingConnection, **_resolved_host(self.dsn), **params)

    def dedicated(self):
        """A connection of the caller's own, outside the pool (see OwnConnection)."""
        return OwnConnection(self)

    def acquire(self, priority=False):
        """A connection of the pool (wait at most timeout_s for one, ahead of the other waiters with
        ``priority``); the caller releases it."""
        if self._checkout_ms is None:
            return self._acquire(priority)
        started = time.monotonic()
        conn = self._acquire(priority)
        self._checkout_ms.record((time.monotonic() - started) * 1000.0)
        return conn

    def _acquire(self, priority):
        if self.closed:
            raise PoolTimeout("the connection pool is closed")
        while self._free:
            conn = self._free.pop()
            if _still_open(conn):
                return conn
            self._opened -= 1  # its slot is ours to open a new one below
        if self._opened < self.size:
            return self._open_counted()
        waiter = AsyncResult()
        waiters = self._priority_waiters if priority else self._waiters
        waiters.append(waiter)
        try:
            granted = waiter.get(timeout=self.timeout_s)
        except PoolTimeout:  # refused by refuse_waiters (already out of the queue)
            raise
        except gevent.Timeout:
            if not waiter.ready():
                waiters.remove(waiter)
                raise PoolTimeout(f"no database connection free within {self.timeout_s} s") from None
            granted = waiter.value
        except BaseException:
            if waiter.ready() and waiter.successful():  # handed a connection as we were killed: pass it on
                self._hand_back(waiter.value)
            else:
                waiters.remove(waiter)
            raise
        # None means "a slot was freed by a broken connection: open your own".
        return granted if granted is not None else self._open_counted(already_counted=True)

    def _open_counted(self, already_counted=False):
        if not already_counted:
            self._opened += 1
        try:
            return self.connect()
        except BaseException:
            self._opened -= 1
            self._wake_one_for_slot()
            raise

    def _hand_back(self, conn):
        if conn is None:
            self._opened -= 1
            self._wake_one_for_slot()
        else:
            self.release(conn)

    def _next_waiter(self):
        """The waiter to serve next (priority ones first), or None."""
        if self._priority_waiters:
            return self._priority_waiters.popleft()
        return self._waiters.popleft() if self._waiters else None

    def _wake_one_for_slot(self):
        if self._opened < self.size:
            waiter = self._next_waiter()
            if waiter is not None:
                self._opened += 1
                waiter.set(None)

    def refuse_waiters(self):
        """The database just became unreachable (the node's DatabaseHealth calls this when an outage
        begins): everyone waiting for a connection gets PoolTimeout now. Otherwise a request sent as a
        silent network drop began waits behind connections stuck until their network timeout, then opens
        a connection of its own and waits that timeout again: twice the timeout before its 503."""
        waiters = [*self._priority_waiters, *self._waiters]
        self._priority_waiters.clear()
        self._waiters.clear()
        for waiter in waiters:
            waiter.set_exception(PoolTimeout("the database became unreachable while this waited for a connection"))

    def release(self, conn, broken=False):
        if broken or conn.closed or self.closed:
            _close_quietly(conn)
            self._opened -= 1
            self._wake_one_for_slot()
        else:
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set(conn)
            else:
                self._free.append(conn)

    @contextmanager
    def transaction(self, dicts=False, priority=False):
        """A cursor in one transaction: commits on success, rolls back on error, drops broken connections.
        The transaction's BEGIN is sent with its first statement, not on its own (psycopg2 would): one
        round trip less, and a round trip costs a worker about 200 µs of CPU on this project's machine.
        The connection is in autocommit mode meanwhile, so psycopg2 sends no BEGIN itself, and the
        transaction ends with an explicit COMMIT (or ROLLBACK)."""
        conn = self.acquire(priority)
        broken = False
        try:
            conn.autocommit = True
            with conn.cursor(cursor_factory=_BEGINNING_CURSORS[dicts]) as cur:
                yield cur
                if cur.began:
                    cur.execute("COMMIT")
        except BaseException as exc:
            broken = isinstance(exc, _BROKEN) or conn.closed
            if not broken and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                try:
                    conn.cursor().execute("ROLLBACK")
                except Exception:
                    broken = True
            raise
        finally:
            if not broken:
                try:
                    conn.autocommit = False
                except Exception:
                    broken = True
            self.release(conn, broken)

    @contextmanager
    def statement(self, dicts=False, priority=False):
        """A cursor for one statement, which is its own transaction (autocommit): one round trip, not three."""
        conn = self.acquire(priority)
        broken = False
        try:
            conn.autocommit = True
            factory = psycopg2.extras.RealDictCursor if dicts else None
            with conn.cursor(cursor_factory=factory) as cur:
                yield cur
        except BaseException as exc:
            broken = isinstance(exc, _BROKEN)
            raise
        finally:
            if not broken and not conn.closed:
                try:
                    conn.autocommit = False
                except Exception:
                    broken = True
            self.release(conn, broken)

    def fetch_all(self, name, params=None, dicts=False, priority=False):
        with self.statement(dicts=dicts, priority=priority) as cur:
            run_query(cur, name, params)
            return cur.fetchall() if cur.description else []

    def fetch_one(self, name, params=None, dicts=False, priority=False):
        with self.statement(dicts=dicts, priority=priority) as cur:
            run_query(cur, name, params)
            return cur.fetchone() if cur.description else None

    def close(self):
        self.closed = True
        while self._free:
            self._free.pop().close()
        while (waiter := self._next_waiter()) is not None:
            waiter.set_exception(PoolTimeout("the connection pool is closed"))


class OwnConnection:
    """One connection kept by a long-lived service for itself (the lease keeper): never waits behind
    HTTP requests for a pool connection. Opened at first use, dropped when broken, reopened next time."""

    def __init__(self, pool):
        self._pool = pool
        self._conn = None

    def __str__(self):
        return f"<OwnConnection open={self._conn is not None}>"

    @contextmanager
    def transaction(self):
        """A cursor in one transaction (commit on success, rollback on error)."""
        with self._using(autocommit=False) as cur:
            yield cur

    @contextmanager
    def statement(self):
        """A cursor whose statements are each their own transaction (autocommit)."""
        with self._using(autocommit=True) as cur:
            yield cur

    @contextmanager
    def _using(self, autocommit):
        if self._conn is None or self._conn.closed:
            self._conn = self._pool.connect()
        conn = self._conn
        try:
            conn.autocommit = autocommit
            with conn.cursor() as cur:
                yield cur
            if not autocommit:
                conn.commit()
        except BaseException as exc:
            if isinstance(exc, _BROKEN) or conn.closed:
                self.close()
            elif not autocommit:
                try:
                    conn.rollback()
                except Exception:
                    self.close()
            raise

    def close(self):
        if self._conn is not None:
            _close_quietly(self._conn)
            self._conn = None


def _still_open(conn):
    """Whether an idle connection is still usable. An idle pool connection receives nothing (it does
    not LISTEN): one with data waiting on its socket has the server's goodbye there (an administrator
    ended the session, a restart, a failover). Checking costs a zero-timeout select; it spares the
    request that would otherwise fail on the dead connection with a 503."""
    try:
        if not conn.closed and not select.select([conn.fileno()], [], [], 0)[0]:
            return True
    except (OSError, ValueError, psycopg2.Error):
        pass
    _close_quietly(conn)
    return False


def _close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail again; it is gone either way
        pass


def _resolved_host(dsn):
    """``hostaddr`` for a DSN whose host is a name: libpq would resolve it in blocking C code."""
    params = psycopg2.extensions.parse_dsn(dsn)
    host = params.get("host", "")
    if not host or "hostaddr" in params or host.startswith("/") or "," in host:
        return {}
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return {}  # already an address
    except OSError:
        pass
    port = int(params.get("port") or 5432)
    address = gevent.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    return {"hostaddr": address}
