"""The fault schedule: drawn from the seed alone, so CHAOS_SEED replays the same faults in the same order.

A fault is (kind, pause before it, how long it lasts). Kills and connection cuts are instant; a
paused node stays stopped past its lease; PostgreSQL stays down for DATABASE_DOWN_S.
"""
import random
from dataclasses import dataclass

DATABASE_DOWN_S = 5.0
PAUSE_BEFORE_S = (2.0, 6.0)       # quiet time between the cluster being whole again and the next fault
STOPPED_PAST_LEASE_S = (0.5, 2.0)  # a SIGSTOPped node stays stopped for its lease TTL plus this


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    pause_before_s: float
    duration_s: float


def draw_schedule(seed, faults, kinds, lease_ttl_ms):
    """`faults` faults over `kinds`, every kind at least once when there are enough faults."""
    rng = random.Random(f"schedule/{seed}")
    order = list(kinds)
    rng.shuffle(order)
    drawn = order[:faults] + [rng.choice(kinds) for _ in range(faults - len(order))]
    return [PlannedFault(kind, round(rng.uniform(*PAUSE_BEFORE_S), 2), _duration(kind, rng, lease_ttl_ms))
            for kind in drawn]


def _duration(kind, rng, lease_ttl_ms):
    if kind == "pause_node":
        return round(lease_ttl_ms / 1000.0 + rng.uniform(*STOPPED_PAST_LEASE_S), 2)
    if kind == "stop_postgres":
        return DATABASE_DOWN_S
    return 0.0
