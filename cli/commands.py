"""What each command does: one HTTP request (or a loop of them) and what it prints.

Every command takes a Context (the client, where to print, the clock) and the parsed arguments,
and returns the exit status. Errors are raised (client.ServiceError, client.Unreachable, and the
few below); main.py turns each into one line and a status.
"""
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from cli import output, progress, top
from cli.client import Client

WATCH_INTERVAL_S = 1.0


class StoppedWatching(Exception):
    """Ctrl-C while following a run: the run goes on."""

    def __init__(self, run_id):
        super().__init__(f"stopped watching run {run_id}; it goes on (./greenrow run stop {run_id} stops it)")


class MessageDiscarded(Exception):
    """A call's reply says the message could never be applied (it was set aside unapplied)."""


class UsageError(Exception):
    """Arguments argparse cannot check alone (a message field given twice)."""


@dataclass
class Context:
    client: Client
    out: TextIO
    json: bool = False
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    tty: bool = False

    def emit(self, answer, fields=(), text=None):
        """One answer: its --field values, one JSON line with --json, else text(answer)."""
        if fields:
            print(output.picked(answer, fields), file=self.out, flush=True)
        elif self.json:
            output.print_json(answer, self.out)
        else:
            print(text(answer), file=self.out, flush=True)


# --- runs ------------------------------------------------------------------------------------------------------

def run_start(ctx, args, run_fields):
    body = {name: getattr(args, name) for name in run_fields if getattr(args, name) is not None}
    run = ctx.client.post("/runs", body)
    if args.watch:
        if not (ctx.json or args.field):
            print(f"run {run['id']} started: rows {run['first_row_id']}-{run['last_row_id']}", file=ctx.out, flush=True)
        run = _follow(ctx, run["id"], args.interval)
        if args.field:
            ctx.emit(run, args.field)
        return 0
    ctx.emit(run, args.field, output.run_text)
    return 0


def run_show(ctx, args):
    if args.watch:
        run = _follow(ctx, args.run_id, args.interval)
        if args.field:
            ctx.emit(run, args.field)
        return 0
    ctx.emit(ctx.client.get(f"/runs/{args.run_id}"), args.field, output.run_text)
    return 0


def run_stop(ctx, args):
    ctx.emit(ctx.client.post(f"/runs/{args.run_id}/stop"), args.field, output.run_text)
    return 0


def run_delete(ctx, args):
    """The run as marked: status deleting (`run show` says run_not_found once it is gone)."""
    ctx.emit(ctx.client.delete(f"/runs/{args.run_id}"), args.field,
             lambda run: f"run {run['id']} is being deleted ({run['rows']:,} rows, in batches);"
                         f" ./greenrow run show {run['id']} says run_not_found once it is gone")
    return 0


def run_list(ctx, args):
    ctx.emit(ctx.client.get("/runs", limit=args.limit), (), lambda answer: output.runs_text(answer["runs"]))
    return 0


def _follow(ctx, run_id, interval_s):
    view = progress.view_for(ctx.json, ctx.out, ctx.tty)
    try:
        return progress.watch_run(ctx.client, run_id, view, interval_s, ctx.clock, ctx.sleep)
    except KeyboardInterrupt:
        raise StoppedWatching(run_id) from None


# --- rows ------------------------------------------------------------------------------------------------------

def row_get(ctx, args):
    ctx.emit(ctx.client.get(f"/rows/{args.row_id}"), args.field, output.row_text)
    return 0


def row_send(ctx, args):
    body = {"type": args.type, **message_body(args.fields)}
    answer = ctx.client.post(f"/rows/{args.row_id}/messages", body,
                             wait="true" if args.wait else None, timeout_ms=args.timeout_ms)
    reply = answer.get("reply")
    if reply is not None and "error" in reply:
        error = reply["error"]
        raise MessageDiscarded(f"message {answer['message_id']} was set aside unapplied: {error['message']} "
                               f"({error['code']})")
    if reply is None:
        ctx.emit(answer, args.field, lambda accepted: f"message {accepted['message_id']} queued for row {args.row_id}")
        return 0
    ctx.emit(reply if args.field else answer, args.field, lambda _: output.row_text(reply, _reply_headline(answer)))
    return 0


def row_watch(ctx, args):
    """The row's events as they come (GET /rows/<id>/events), until the service ends the stream, --count
    events were printed, or Ctrl-C."""
    printed = 0
    for name, event in ctx.client.events(f"/rows/{args.row_id}/events"):
        ctx.emit({"event": name, **event}, (), lambda _: output.event_text(name, event))
        printed += 1
        if name == "end" or (args.count and printed >= args.count):
            break
    return 0


def message_body(fields):
    """The NAME=VALUE pairs of `row send` as a dict; a name given twice is refused."""
    body = {}
    for name, value in fields:
        if name in body or name == "type":
            raise UsageError(f"{name} is given twice" if name in body else "type is the TYPE argument, not a field")
        body[name] = value
    return body


def _reply_headline(answer):
    reply = answer["reply"]
    where = f"on node {reply['node']}" if reply.get("node") else "no live server"
    return (f"row {reply['id']} after {reply['type']} (message {answer['message_id']}): value {reply['value']:,}, "
            f"{reply['status']}, {where}")


# --- the cluster ---------------------------------------------------------------------------------------------

def nodes(ctx, args):
    ctx.emit(ctx.client.get("/nodes"), (), lambda answer: output.nodes_text(answer["nodes"]))
    return 0


def top_command(ctx, args):
    return top.refresh(ctx, args.interval, args.iterations, args.limit)
