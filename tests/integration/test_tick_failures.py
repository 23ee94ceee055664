"""A tick statement that fails crashes the row servers of its own step only: the servers whose ticks
another statement of the same batch committed are told so, and keep ticking."""
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until

INJECT = """
CREATE FUNCTION refuse_ticks_of_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.run_id = {run_id} AND NEW.ticks <> OLD.ticks THEN
        RAISE EXCEPTION 'ticks of run {run_id} refused by the test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_ticks BEFORE UPDATE ON rows FOR EACH ROW EXECUTE FUNCTION refuse_ticks_of_run();
"""


def test_a_failing_tick_statement_crashes_its_own_steps_servers_and_not_those_of_the_batch_it_shared(make_service, db):
    service = make_service(env={"GREENROW_MAX_RESTARTS": "1", "GREENROW_MAX_SECONDS": "60"})
    good = start_run(service, rows=200, start_value=40, step=1, tick_ms=50, max_concurrency=200)
    bad = start_run(service, rows=200, start_value=40, step=2, tick_ms=50, max_concurrency=200)
    wait_until(lambda: service.json(f"/runs/{bad['id']}")["ticks"] >= 200, 15, message="the runs never ticked")
    db.fetch_all(INJECT.format(run_id=bad["id"]))

    wait_until(lambda: service.json(f"/runs/{bad['id']}")["failed"] == 200, 30,
               message="the refused run's rows never failed")
    done = wait_for_run(service, good["id"], timeout=30)

    assert done["done"] == 200 and done["ticks"] == 200 * 40
    assert done["restarts"] == 0 and done["failed"] == 0, "servers of another step were crashed by the failure"
