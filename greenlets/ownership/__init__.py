"""Who owns a row: shard leases (claimed, renewed, fenced by epoch), the routing of wake-ups, replies
and row reads between nodes over PostgreSQL notifications, the listener that hears them, and the
callers waiting for replies."""
