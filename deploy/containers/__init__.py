"""`make containers-test`'s tooling: the Dockerfile and docker-compose.yml built and run on rootful podman.

    engine.py      podman's settings for this kind of machine, its state under one folder; prerequisites
    standins.py    the official base images' stand-ins, built from Debian packages (standins/)
    stack.py       docker-compose.yml run by podman-compose, and its containers
    host.py        what netavark changes on the host (iptables, ip_forward), and putting it back
    __main__.py    check | clean | podman ARGS...

The checks themselves are tests/containers.
"""
