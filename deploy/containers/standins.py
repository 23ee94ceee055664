"""Stand-ins for the official base images, built from Debian 12's packages (no container registry is
reachable here), tagged with the names the project's files use so those files build and run unchanged.

    localhost/greenrow-standin/debian:bookworm    debootstrap --variant=minbase, imported (the stand-ins' base)
    docker.io/library/python:<Dockerfile's tag>  standins/python.Containerfile
    docker.io/library/postgres:<compose's tag>   standins/postgres.Containerfile (PostgreSQL 15)
    docker.io/library/nginx:<compose's tag>      standins/nginx.Containerfile (nginx 1.22)

Each image carries a label with a fingerprint of what made it (its Containerfile and files, the Debian
mirror); one whose label matches is kept, so a second run builds nothing.
"""
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "standins"
REPO = HERE.parents[1]
DEBIAN = "localhost/greenrow-standin/debian:bookworm"
SUITE = "bookworm"
LABEL = "greenrow.standin"
HOST_CA_FOLDER = Path("/usr/local/share/ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"
RECIPES = {"python": "python.Containerfile", "postgres": "postgres.Containerfile", "nginx": "nginx.Containerfile"}


def python_base(dockerfile=REPO / "Dockerfile"):
    """The Dockerfile's base image (ARG PYTHON_IMAGE's default) without its digest: the name the stand-in takes."""
    found = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile.read_text(), re.M)
    if not found:
        raise ValueError("the Dockerfile has no `ARG PYTHON_IMAGE=...` naming its base image")
    return qualify(found.group(1).split("@")[0])


def compose_images(compose_file=REPO / "docker-compose.yml"):
    services = yaml.safe_load(compose_file.read_text())["services"]
    return sorted({qualify(service["image"]) for service in services.values()
                   if "image" in service and "build" not in service})


def wanted():
    """Every stand-in the project's files need, by the full name they are looked up under."""
    return [python_base(), *compose_images()]


def qualify(name):
    """`postgres:16` -> `docker.io/library/postgres:16`, as podman resolves a short name on docker.io."""
    if "/" not in name:
        name = "library/" + name
    if name.split("/")[0].count(".") == 0 and name.split("/")[0] != "localhost":
        name = "docker.io/" + name
    return name


def recipe(name):
    repository = name.rsplit("/", 1)[-1].split(":")[0]
    if repository not in RECIPES:
        raise ValueError(f"no stand-in recipe for {name} (deploy/containers/standins has {', '.join(RECIPES)})")
    return STANDINS / RECIPES[repository]


def ensure(engine, log=print):
    """Build every stand-in that is missing or out of date; returns {name: seconds spent building (0: cached)}."""
    spent = {}
    for name in wanted():
        context_files = _context_files(recipe(name))
        fingerprint = _fingerprint(context_files, _sources())
        if engine.image_label(name, LABEL) == fingerprint:
            spent[name] = 0.0
            continue
        began = time.monotonic()
        _ensure_debian(engine, log)
        log(f"containers: building the stand-in {name} from Debian packages")
        with tempfile.TemporaryDirectory(dir=engine.home / "tmp") as context:
            (Path(context) / "ca-certificates").mkdir()  # the python stand-in's, even with no extra certificate
            for path, relative in context_files:
                target = Path(context) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            engine.podman("build", "--pull=never", "--network=host", "--label", f"{LABEL}={fingerprint}",
                          "-t", name, "-f", str(Path(context) / recipe(name).name), context)
        spent[name] = time.monotonic() - began
    return spent


# --- the Debian base ---------------------------------------------------------------------------------

def _ensure_debian(engine, log):
    fingerprint = _fingerprint([], _sources())
    if engine.image_label(DEBIAN, LABEL) == fingerprint:
        return
    mirror = _sources()[0].split()[1]
    rootfs = engine.home / "tmp" / "debian-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    log(f"containers: debootstrap {SUITE} from {mirror} (once; about 30 s)")
    engine.run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror], timeout=900)
    try:
        (rootfs / "etc/apt/sources.list").write_text("\n".join(_sources()) + "\n")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / cache).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "--change", f"LABEL {LABEL}={fingerprint}", "--change", 'CMD ["bash"]',
                        "-", DEBIAN], stdin=tar.stdout, env=engine.env, check=True, capture_output=True)
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError(f"tar of {rootfs} failed")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def _sources():
    """The stand-ins' apt sources: the Debian mirror (and security mirror) this host's apt uses."""
    mirror, security = DEFAULT_MIRROR, DEFAULT_SECURITY
    texts = [path.read_text() for path in Path("/etc/apt").glob("sources.list*") if path.is_file()]
    texts += [path.read_text() for path in Path("/etc/apt/sources.list.d").glob("*") if path.is_file()]
    for uri in re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", "\n".join(texts), re.M):
        if uri.rstrip("/").endswith("/debian-security"):
            security = uri.rstrip("/")
        elif uri.rstrip("/").endswith("/debian"):
            mirror = uri.rstrip("/")
    return [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main",
            f"deb {security} {SUITE}-security main"]


def _context_files(containerfile):
    """(path, path in the build context) of a stand-in's Containerfile, the files it copies, and for the
    python stand-in the host's extra CA certificates."""
    files = [(containerfile, containerfile.name)]
    for source in re.findall(r"^COPY\s+(\S+)\s", containerfile.read_text(), re.M):
        if source.rstrip("/") == "ca-certificates":
            files += [(path, f"ca-certificates/{path.name}") for path in sorted(HOST_CA_FOLDER.glob("*.crt"))]
        else:
            files.append((STANDINS / source, source))
    return files


def _fingerprint(files, sources):
    digest = hashlib.sha256("\n".join(sources).encode())
    for path, relative in files:
        digest.update(relative.encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()[:16]
