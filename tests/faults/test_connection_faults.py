"""A ticking run with casts and calls in flight survives losing its database connections: the LISTEN
connections cut, then every connection cut twice 0.7 s apart (what a failover looks like to the service),
at a moderate size and at the seed's own scale."""
from chaos import faults
from tests.faults.scenario import FaultScenario
from tests.support.cluster import SHORT_LEASES

NODES = 2
SEED_SCALE = {"rows": 20_000, "start_value": 3, "tick_ms": 1000, "max_concurrency": 10_000}


def test_a_run_finishes_exactly_after_the_listen_connections_are_killed(make_service, db):
    service = make_service(workers=NODES, env=SHORT_LEASES)
    scenario = FaultScenario(service, db, [service]).start()
    scenario.wait_for_progress(0.3)

    cut = faults.kill_listen_connections(db.url)

    assert cut.hits == NODES, cut.detail
    scenario.finish([cut])


def test_a_run_finishes_exactly_after_every_connection_is_killed_twice(make_service, db):
    service = make_service(workers=NODES, env=SHORT_LEASES)
    scenario = FaultScenario(service, db, [service]).start()
    scenario.wait_for_progress(0.3)

    cut = faults.kill_service_connections(db.url, times=2)

    assert cut.hits >= NODES * 3, cut.detail  # at least each node's listener and tick writers, the first time
    scenario.finish([cut])


def test_a_seed_scale_run_finishes_exactly_after_every_connection_is_killed_twice(make_service, db):
    """20,000 rows, 10,000 at a time, 1 s ticks, on two nodes with the default settings, as `make run`."""
    service = make_service(workers=NODES)
    scenario = FaultScenario(service, db, [service], **SEED_SCALE).start()
    scenario.wait_for_progress(0.25)

    cut = faults.kill_service_connections(db.url, times=2)

    assert cut.hits >= NODES * 3, cut.detail
    scenario.finish([cut])
