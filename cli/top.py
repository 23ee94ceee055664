"""`greenrow top`: the cluster's live nodes and the latest runs, refreshed every interval.

On a terminal the screen is redrawn in place (rich's Live); anywhere else each refresh is printed
below the last one, and with --json each is one JSON line ({"nodes": [...], "runs": [...]}).
"""
import time

from cli import output
from cli.progress import GIVE_UP_S


def refresh(ctx, interval_s, iterations, limit):
    """Show the cluster every interval_s, `iterations` times (0: until Ctrl-C); returns the exit status."""
    screen = _Screen(ctx) if ctx.tty and not ctx.json else None
    shown = 0
    try:
        while True:
            nodes = ctx.client.get_patiently("/nodes", GIVE_UP_S, clock=ctx.clock, sleep=ctx.sleep)["nodes"]
            runs = ctx.client.get_patiently("/runs", GIVE_UP_S, clock=ctx.clock, sleep=ctx.sleep, limit=limit)["runs"]
            if ctx.json:
                output.print_json({"nodes": nodes, "runs": runs}, ctx.out)
            elif screen is not None:
                screen.show(cluster_text(ctx.client.base_url, nodes, runs, interval_s))
            else:
                print(cluster_text(ctx.client.base_url, nodes, runs, interval_s) + "\n", file=ctx.out, flush=True)
            shown += 1
            if iterations and shown >= iterations:
                return 0
            ctx.sleep(interval_s)
    except KeyboardInterrupt:
        return 0
    finally:
        if screen is not None:
            screen.close()


def cluster_text(url, nodes, runs, interval_s):
    servers = sum(node["row_servers"] for node in nodes)
    running = sum(run["status"] == "running" for run in runs)
    header = (f"greenrow at {url}  {time.strftime('%H:%M:%S')}  {len(nodes)} nodes, {servers:,} row servers, "
              f"{running} running runs  (every {interval_s:g} s; Ctrl-C quits)")
    return "\n".join([header, "", "nodes", output.nodes_text(nodes), "", "runs", output.runs_text(runs)])


class _Screen:
    """A terminal redrawn in place."""

    def __init__(self, ctx):
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(file=ctx.out), auto_refresh=False)
        self._live.start()

    def show(self, text):
        from rich.text import Text

        self._live.update(Text(text), refresh=True)

    def close(self):
        self._live.stop()
