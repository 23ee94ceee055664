"""`./greenrow`: parse the command line, run the command, and turn every failure into one line.

Exit status: 0 done; 1 the service answered an error (or a call's message was set aside); 2 a usage
error; 3 no answer from the service; 130 stopped with Ctrl-C while watching a run (it goes on).
"""
import argparse
import json
import os
import sys

from cli import commands
from cli.client import DEFAULT_URL, Client, ServiceError, Unreachable, token_from
from cli.output import FieldMissing

EXIT_SERVICE_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


def main(argv=None, out=None, err=None):
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    client = Client(args.url, token=args.token or token_from(os.environ))
    ctx = commands.Context(client=client, out=out, json=args.json, tty=out.isatty())
    try:
        return args.command(ctx, args)
    except ServiceError as exc:
        return _fail(err, exc, EXIT_SERVICE_ERROR)
    except commands.MessageDiscarded as exc:
        return _fail(err, exc, EXIT_SERVICE_ERROR)
    except Unreachable as exc:
        return _fail(err, exc, EXIT_UNREACHABLE)
    except (FieldMissing, commands.UsageError) as exc:
        return _fail(err, exc, EXIT_USAGE)
    except commands.StoppedWatching as exc:
        return _fail(err, exc, EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _fail(err, exc, status):
    print(f"greenrow: {exc}", file=err, flush=True)
    return status


# --- the command line --------------------------------------------------------------------------------------------

def build_parser():
    from service.validation import MESSAGE_FIELDS, RUN_FIELDS  # the API's own tables: options cannot drift

    parser = argparse.ArgumentParser(
        prog="greenrow", description="greenrow's HTTP API from the command line.",
        epilog="Exit status: 0 done, 1 the service answered an error, 2 usage, 3 no answer from the service.")
    _common_options(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, top_level=False)
    groups = parser.add_subparsers(title="commands", metavar="{run,row,nodes,top}", required=True)

    runs = groups.add_parser("run", help="start, list, show, stop and delete runs").add_subparsers(
        title="run commands", metavar="{start,list,show,stop,delete}", required=True)
    start = runs.add_parser("start", parents=[common], help="start a run (--watch: follow it to its end)")
    for name, spec in RUN_FIELDS.items():
        default = "required" if spec.required else f"default {spec.default}"
        start.add_argument("--" + name.replace("_", "-"), dest=name, type=int, required=spec.required,
                           metavar="N", help=f"{spec.low} to {spec.high} ({default})")
    _watch_options(start)
    _field_option(start)
    start.set_defaults(command=lambda ctx, args: commands.run_start(ctx, args, RUN_FIELDS))

    listing = runs.add_parser("list", parents=[common], help="the latest runs, newest first")
    listing.add_argument("--limit", type=int, metavar="N", help="at most N runs (1 to 1000; default 20)")
    listing.set_defaults(command=commands.run_list)

    show = runs.add_parser("show", parents=[common], help="one run with its counts (--watch: follow it)")
    show.add_argument("run_id", metavar="RUN_ID", type=int)
    _watch_options(show)
    _field_option(show)
    show.set_defaults(command=commands.run_show)

    stop = runs.add_parser("stop", parents=[common], help="stop a run's row servers; values stay")
    stop.add_argument("run_id", metavar="RUN_ID", type=int)
    _field_option(stop)
    stop.set_defaults(command=commands.run_stop)

    delete = runs.add_parser("delete", parents=[common],
                             help="delete a done or stopped run: its rows, messages and dead letters go in batches")
    delete.add_argument("run_id", metavar="RUN_ID", type=int)
    _field_option(delete)
    delete.set_defaults(command=commands.run_delete)

    rows = groups.add_parser("row", help="read a row, send its server a message").add_subparsers(
        title="row commands", metavar="{get,send,watch}", required=True)
    get = rows.add_parser("get", parents=[common], help="one row: value, status, node, inbox ...")
    get.add_argument("row_id", metavar="ROW_ID", type=int)
    _field_option(get)
    get.set_defaults(command=commands.row_get)

    with_fields = ", ".join(f"{kind} {' '.join(f'{name}=N' for name in fields)}".strip()
                            for kind, fields in MESSAGE_FIELDS.items())
    send = rows.add_parser("send", parents=[common], help="send a message to a row's server",
                           description=f"Message types and their fields: {with_fields}.")
    send.add_argument("row_id", metavar="ROW_ID", type=int)
    send.add_argument("type", metavar="TYPE", help=", ".join(MESSAGE_FIELDS))
    send.add_argument("fields", metavar="NAME=VALUE", nargs="*", type=message_field,
                      help="the message's fields; a value is read as JSON (5, true) or else as a string")
    send.add_argument("--wait", action="store_true", help="a call: wait for the server's reply (else a cast)")
    send.add_argument("--timeout-ms", type=int, metavar="N", help="with --wait: wait at most N ms (default 5000)")
    _field_option(send)
    send.set_defaults(command=commands.row_send)

    watch = rows.add_parser("watch", parents=[common], help="the row's live events: ticks, messages, crashes",
                            description="Prints the row, then each change and each message its server handles, "
                                        "from GET /rows/<id>/events, until Ctrl-C (or the service ends the stream).")
    watch.add_argument("row_id", metavar="ROW_ID", type=int)
    watch.add_argument("--count", type=int, default=0, metavar="N", help="stop after N events")
    watch.set_defaults(command=commands.row_watch)

    node_list = groups.add_parser("nodes", parents=[common], help="the cluster's live nodes")
    node_list.set_defaults(command=commands.nodes)

    top = groups.add_parser("top", parents=[common], help="nodes and runs, refreshed until Ctrl-C")
    top.add_argument("--interval", type=float, default=commands.WATCH_INTERVAL_S, metavar="S",
                     help=f"seconds between refreshes (default {commands.WATCH_INTERVAL_S:g})")
    top.add_argument("-n", "--iterations", type=int, default=0, metavar="N", help="stop after N refreshes")
    top.add_argument("--limit", type=int, default=10, metavar="N", help="runs shown (default 10)")
    top.set_defaults(command=commands.top_command)
    return parser


def _common_options(parser, top_level):
    """--url, --token and --json, taken before or after the command: the command's copies have no default
    of their own (SUPPRESS), so they do not overwrite what was given before the command."""
    parser.add_argument("--url", default=os.environ.get("GREENROW_URL") or DEFAULT_URL if top_level else argparse.SUPPRESS,
                        help=f"the service (default $GREENROW_URL or {DEFAULT_URL})")
    parser.add_argument("--token", default=None if top_level else argparse.SUPPRESS,
                        help="bearer token, if the service wants one (default $GREENROW_TOKEN, else the first of "
                             "$GREENROW_API_TOKEN)")
    parser.add_argument("--json", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="print the service's JSON answers, one a line")


def _watch_options(parser):
    parser.add_argument("--watch", action="store_true",
                        help="follow the run until it is done: a progress bar on a terminal, else a line a poll")
    parser.add_argument("--interval", type=float, default=commands.WATCH_INTERVAL_S, metavar="S",
                        help=f"with --watch: seconds between polls (default {commands.WATCH_INTERVAL_S:g})")


def _field_option(parser):
    parser.add_argument("--field", action="append", default=[], metavar="NAME",
                        help="print only this field of the answer (repeatable: values space-separated)")


def message_field(text):
    """NAME=VALUE of `row send`, the value read as JSON where it is JSON."""
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (for example by=5)")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw
