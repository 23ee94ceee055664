"""JSON views of runs and rows, as the HTTP API returns them."""
from datetime import datetime, timezone


def iso(moment):
    return moment.isoformat() if moment is not None else None


def row_status(state, paused):
    if state in ("failed", "done"):
        return state
    if paused:
        return "paused"
    return "running" if state == "active" else "idle"


def run_view(record):
    """A run_with_counts record (a dict) as the API shows it."""
    finished = record["finished_at"]
    end = finished or datetime.now(timezone.utc)
    return {
        "id": record["id"],
        "status": record["status"],
        "rows": record["rows"],
        "first_row_id": record["first_row_id"],
        "last_row_id": record["last_row_id"],
        "start_value": record["start_value"],
        "step": record["step"],
        "tick_ms": record["tick_ms"],
        "scan_ms": record["scan_ms"],
        "max_concurrency": record["max_concurrency"],
        "created_at": iso(record["created_at"]),
        "started_at": iso(record["started_at"]),
        "finished_at": iso(finished),
        "elapsed_s": round((end - record["started_at"]).total_seconds(), 3),
        "pending": record["pending"],
        "active": record["active"],
        "idle": record["idle"],
        "done": record["done"],
        "failed": record["failed"],
        "restarts": record["restarts"],
        "ticks": record["ticks"],
    }


def row_view(record, node_id):
    """A row_view or apply_message record (a dict) as the API shows it; node_id is its live server's node."""
    return {
        "id": record["id"],
        "run_id": record["run_id"],
        "value": record["value"],
        "status": row_status(record["state"], record["paused"]),
        "paused": record["paused"],
        "node": node_id,
        "inbox": record.get("inbox", 0),
        "restarts": record["restarts"],
        "ticks": record["ticks"],
        "last_tick_at": iso(record["last_tick_at"]),
    }
