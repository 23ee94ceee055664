"""Running ./greenrow (the command line) in a subprocess, as a user would: in a pipe or on a terminal."""
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GREENROW = REPO / "greenrow"


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self):
        return self.stdout.splitlines()

    def json_lines(self):
        return [json.loads(line) for line in self.lines]


# What a developer's shell may hold that would change what the command line does.
NOT_PASSED = ("NO_COLOR", "GREENROW_URL", "GREENROW_TOKEN", "GREENROW_API_TOKEN")


def _env(url, extra=None):
    env = {name: value for name, value in os.environ.items() if name not in NOT_PASSED}
    if url is not None:
        env["GREENROW_URL"] = url
    env.update(extra or {})
    return env


def greenrow(url, *args, timeout=60, env=None):
    """./greenrow ARGS with GREENROW_URL=url (and env), its output in pipes (not a terminal)."""
    result = subprocess.run([str(GREENROW), *map(str, args)], env=_env(url, env), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    return Finished(result.returncode, result.stdout, result.stderr)


def greenrow_on_a_terminal(url, *args, timeout=60, columns=120):
    """./greenrow ARGS on a pseudo-terminal `columns` wide: (exit status, everything it drew)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen([str(GREENROW), *map(str, args)], env=_env(url, {"TERM": "xterm-256color"}),
                               stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"./greenrow {' '.join(map(str, args))} still running after {timeout} s: {drawn!r}")
            ready, _, _ = select.select([controller], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            drawn += chunk
        return process.wait(10), drawn.decode(errors="replace")
    finally:
        os.close(controller)


def run_example(url, script, *args, env=None):
    """examples/SCRIPT ARGS with GREENROW_URL=url (and env): the finished process."""
    return subprocess.run([str(REPO / "examples" / script), *map(str, args)], env=_env(url, env),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
