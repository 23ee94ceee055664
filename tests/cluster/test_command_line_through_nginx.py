"""./greenrow and examples/ through make cluster's load balancer (nginx in front of 2 instances x 1 worker):
a run followed to its end, every node listed, a call answered by the row's owner whichever node took it,
and an error still one line."""
import json

from tests.support.command_line import greenrow, run_example


def one_row_per_node(db, run_id):
    """{row id: the node holding its shard's lease}, one row of the run for each node."""
    return dict(db.fetch_all(
        "SELECT DISTINCT ON (l.node_id) r.id, l.node_id FROM rows r JOIN shard_leases l ON l.shard = r.shard"
        " WHERE r.run_id = %s ORDER BY l.node_id, r.id", (run_id,)))


def test_the_command_line_and_the_examples_work_through_nginx(make_cluster, db):
    cluster = make_cluster(instances=2, workers=1)
    url = cluster.url("")

    watched = greenrow(url, "run", "start", "--rows", 300, "--start-value", 5, "--tick-ms", 100, "--watch", "--json",
                       "--interval", 0.2)
    assert watched.returncode == 0, watched
    last = watched.json_lines()[-1]["run"]
    assert (last["status"], last["done"], last["ticks"]) == ("done", 300, 1500)

    [answer] = greenrow(url, "nodes", "--json").json_lines()
    assert sorted(node["shards"] for node in answer["nodes"]) == [128, 128]
    owners = one_row_per_node(db, last["id"])
    assert len(owners) == 2
    for row_id, owner in owners.items():
        for _ in range(2):  # two calls in a row: nginx takes turns, so one through each node
            reply = greenrow(url, "row", "send", row_id, "incr", "by=1", "--wait", "--field", "node")
            assert (reply.returncode, reply.stdout) == (0, f"{owner}\n"), reply  # applied by the row's owner
    assert all(greenrow(url, "row", "get", row_id, "--field", "value").stdout == "2\n" for row_id in owners)

    missing = greenrow(url, "row", "get", 999_999_999)
    assert (missing.returncode, missing.stderr) == (
        1, "greenrow: row 999999999 does not exist (row_not_found, HTTP 404)\n")

    example = run_example(url, "call-message.sh", last["first_row_id"])
    assert example.returncode == 0, example
    assert json.loads(example.stdout)["reply"]["value"] == 2
