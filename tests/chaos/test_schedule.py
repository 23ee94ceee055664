"""A chaos run's fault schedule comes from its seed alone, so CHAOS_SEED replays it."""
from chaos.injectors import INJECTORS
from chaos.schedule import DATABASE_DOWN_S, draw_schedule

KINDS = list(INJECTORS)


def test_the_same_seed_draws_the_same_schedule_and_another_seed_another():
    assert draw_schedule(7, 8, KINDS, 5000) == draw_schedule(7, 8, KINDS, 5000)
    assert draw_schedule(7, 8, KINDS, 5000) != draw_schedule(8, 8, KINDS, 5000)


def test_a_schedule_with_as_many_faults_as_kinds_has_every_kind_once():
    assert sorted(fault.kind for fault in draw_schedule(3, len(KINDS), KINDS, 5000)) == sorted(KINDS)


def test_a_paused_node_stays_paused_past_its_lease_and_the_database_stays_down_5_s():
    for fault in draw_schedule(11, 40, KINDS, 2000):
        if fault.kind == "pause_node":
            assert fault.duration_s > 2.0
        elif fault.kind == "stop_postgres":
            assert fault.duration_s == DATABASE_DOWN_S
        else:
            assert fault.duration_s == 0.0
