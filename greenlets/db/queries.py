"""Named SQL from queries.sql, looked up by name: ``QUERIES["commit_ticks"]``."""
import re
from pathlib import Path

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load(path):
    text = Path(path).read_text()
    parts = _HEADER.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";")
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {path}")
        queries[name] = sql
    return queries


QUERIES = load(Path(__file__).with_name("queries.sql"))
