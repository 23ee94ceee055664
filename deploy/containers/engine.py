"""Rootful podman as it runs on this kind of machine, with every bit of its state under one folder.

    engine = Engine()                     # HOME: $GREENROW_CONTAINERS_HOME, else ~/.cache/greenrow-containers
    engine.require()                      # root, podman, runc, debootstrap (apt-get installs what is missing)
    engine.podman("ps", "-a")             # podman with the settings below; a CompletedProcess (text)

Settings (../shared/CONTAINERS-NOTES.md has why): the runc runtime (crun cannot set the open-files limit
here, nor use the hybrid cgroup layout), the cgroupfs manager and a file events log (no systemd), default
ulimits within the host's hard limits, native overlay storage, short names resolved on docker.io (so
`FROM python:...` finds the local stand-in), and the Docker image format (OCI images drop HEALTHCHECK).
The storage, run, temporary and network folders all live under HOME: `make containers-clean` removes it.
"""
import os
import resource
import shutil
import subprocess
from pathlib import Path

PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap", "netavark": "netavark",
            "aardvark-dns": "aardvark-dns", "conmon": "conmon", "iptables": "iptables"}
SEARCH_PATHS = ("/usr/bin", "/usr/sbin", "/usr/libexec/podman", "/usr/lib/podman", "/bin", "/sbin")
MAX_PROCESSES = 32_768
PODMAN_TIMEOUT_S = 600


class EngineMissing(Exception):
    """Podman cannot run here; the message is one line saying why and what to do."""


def default_home():
    explicit = os.environ.get("GREENROW_CONTAINERS_HOME")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "greenrow-containers"


class Engine:
    def __init__(self, home=None):
        self.home = Path(home or default_home()).resolve()
        self.conf_dir = self.home / "conf"
        self.env = self._environment()

    # --- prerequisites ------------------------------------------------------------------------------
    def require(self):
        """Check (and, as root with apt-get, install) what podman needs; EngineMissing says what is not there."""
        if not os.path.isdir("/proc/sys/net") or os.uname().sysname != "Linux":
            raise EngineMissing("make containers-test needs Linux (rootful podman)")
        if os.geteuid() != 0:
            raise EngineMissing("make containers-test needs root: rootful podman builds the images and runs the stack")
        missing = [package for tool, package in PACKAGES.items() if not _found(tool)]
        if missing and shutil.which("apt-get"):
            _apt_install(missing)
            missing = [package for tool, package in PACKAGES.items() if not _found(tool)]
        if missing:
            raise EngineMissing(f"make containers-test needs {', '.join(missing)}: apt-get install {' '.join(missing)}")
        self._write_configuration()
        probe = self.podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
            raise EngineMissing(f"podman cannot run here: {last}")
        return self

    # --- running podman -----------------------------------------------------------------------------
    def podman(self, *args, check=True, input=None, timeout=PODMAN_TIMEOUT_S):
        return self.run(["podman", *args], check=check, input=input, timeout=timeout)

    def run(self, command, check=True, input=None, timeout=PODMAN_TIMEOUT_S, capture=True):
        """A command with podman's settings in its environment; raises with its stderr if check fails."""
        result = subprocess.run(command, env=self.env, input=input, text=True, timeout=timeout,
                                capture_output=capture)
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise subprocess.CalledProcessError(result.returncode, command, result.stdout, detail)
        return result

    def image_label(self, image, label):
        """A label of a local image, '' if the image has no such label, None if there is no such image."""
        found = self.podman("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', image,
                            check=False)
        return found.stdout.strip().replace("<no value>", "") if found.returncode == 0 else None

    # --- settings -----------------------------------------------------------------------------------
    def _environment(self):
        env = dict(os.environ)
        env.update(CONTAINERS_CONF=str(self.conf_dir / "containers.conf"),
                   CONTAINERS_STORAGE_CONF=str(self.conf_dir / "storage.conf"),
                   CONTAINERS_REGISTRIES_CONF=str(self.conf_dir / "registries.conf"),
                   BUILDAH_FORMAT="docker",
                   TMPDIR=str(self.home / "tmp"))
        return env

    def _write_configuration(self):
        for folder in (self.conf_dir, self.home / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], MAX_PROCESSES)
        (self.conf_dir / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{self.home}/run/libpod"

[network]
network_config_dir = "{self.home}/networks"
""")
        (self.conf_dir / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{self.home}/storage"
runroot = "{self.home}/run/storage"
""")
        (self.conf_dir / "registries.conf").write_text("""\
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
""")


def _found(tool):
    return shutil.which(tool) or any(os.access(Path(folder) / tool, os.X_OK) for folder in SEARCH_PATHS)


def _apt_install(packages):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env,
                   check=False, capture_output=True)
