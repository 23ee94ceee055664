"""Reading the service's logs: the tracebacks they hold."""


def tracebacks(log):
    """The exception line ending each traceback in a log."""
    lines = log.splitlines()
    errors = []
    for start, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith(" ")), None)
            errors.append(lines[end] if end is not None else "(cut short)")
    return errors


def assert_no_tracebacks(instances):
    """No instance logged a traceback: the faults a test injects are told in log lines, not stack dumps."""
    found = [(getattr(instance, "name", "service"), error) for instance in instances
             for error in tracebacks(instance.log())]
    assert not found, f"{len(found)} tracebacks in the instances' logs (instance, exception): {found[:10]}"
