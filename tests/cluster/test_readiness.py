"""/readyz answers 200 only once every worker of the instance is up and the shards are balanced: a run
started the moment an instance says it is ready is not slowed down by shards changing hands."""
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until
from tests.support.stats import node_stats

SHARDS = 256


def leases(db):
    return db.fetch_all("SELECT shard, node_id, epoch FROM shard_leases ORDER BY shard")


def test_a_run_started_the_moment_the_service_is_ready_runs_without_a_shard_changing_hands(make_service, db):
    service = make_service(workers=2)  # returns the moment /readyz answers 200
    at_ready = leases(db)

    run = start_run(service, rows=4_000, start_value=3, tick_ms=200, max_concurrency=2_000)
    done = wait_for_run(service, run["id"], timeout=60)

    assert len({node for _, node, _ in at_ready}) == 2, "ready before both workers held shards"
    assert all(node is not None for _, node, _ in at_ready) and len(at_ready) == SHARDS
    assert leases(db) == at_ready, "shards changed hands during the run"
    assert done["ticks"] == 4_000 * 3 and done["restarts"] == 0


def test_readyz_says_why_a_node_is_not_ready_while_its_peer_still_holds_every_shard(make_service, db):
    owner = make_service(env={"GREENROW_LEASE_TTL_MS": "60000"})
    owner.kill()  # SIGKILL: its leases stay held for a minute
    peer = make_service(env={"GREENROW_LEASE_TTL_MS": "60000"}, start=False).start(wait_ready=False)
    wait_until(lambda: (node_stats(peer) or {}).get("running"), 10, message="the peer's node never ran")

    response = peer.get("/readyz")

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert "balanced" in response.json()["error"]["message"]
