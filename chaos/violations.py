"""What every check returns: violations, each one line naming the invariant and what broke it."""
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Violation:
    invariant: str  # a short stable name: "tick_spacing", "lost_cast", ...
    detail: str     # enough to find the row, the node and the moment

    def __str__(self):
        return f"VIOLATION {self.invariant}: {self.detail}"


def describe(record, keys):
    """key=value pairs of a record (a dict), in the given order, for a violation's detail."""
    return " ".join(f"{key}={record[key]}" for key in keys)


def clock(wall):
    """A time.time() instant as UTC HH:MM:SS.mmm, as the audit's timestamps read."""
    return datetime.fromtimestamp(wall, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]
