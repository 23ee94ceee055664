"""python -m deploy.containers check | clean | podman ARGS...

    check     podman can run here (as root, installs podman, runc and debootstrap with apt-get when missing);
              otherwise one line saying why, exit status 2
    clean     remove podman's storage folder (stand-ins, images, containers) and what is left of its state
    podman    podman with this project's settings, e.g. `python -m deploy.containers podman ps -a`
"""
import shutil
import subprocess
import sys

from deploy.containers.engine import Engine, EngineMissing


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    engine = Engine()
    if command == "check":
        try:
            engine.require()
        except EngineMissing as exc:
            print(f"containers: {exc}", file=sys.stderr)
            return 2
        print(f"containers: podman with runc, its state in {engine.home}")
        return 0
    if command == "clean":
        if shutil.which("podman") and engine.home.exists():
            engine.podman("system", "reset", "--force", check=False)
        subprocess.run(["umount", str(engine.home / "storage" / "overlay")], capture_output=True)
        shutil.rmtree(engine.home, ignore_errors=True)
        print(f"containers: removed {engine.home}")
        return 0
    if command == "podman":
        return subprocess.run(["podman", *args], env=engine.env).returncode
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
