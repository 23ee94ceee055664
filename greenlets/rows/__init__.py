"""What a row does: its server (a greenlet with its own inbox and timer), the messages it handles, its
ticks (group-committed), its supervision, the monitor that launches a run's rows, and the registry of
live servers."""
