"""A test scenario run as a script in a Python process of its own (gevent's hub, psycogreen patched or
not, as the script does), in the repository: what it prints last, one JSON line, is its result."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_script(script, *args, timeout=60):
    """Run ``script`` with ``args`` (``sys.argv[1:]`` in it); its last line of output, as JSON. The test fails
    with the script's stderr if it exits with an error."""
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
