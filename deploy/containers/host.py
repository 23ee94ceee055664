"""What podman's networking changes on the host, and putting it back.

    before = HostNetwork.snapshot()       # before the first container network is used
    ... build, run, `compose down -v` ...
    before.restore()                      # remove what netavark left, ip_forward as it was
    assert not before.differences()       # nothing left behind

netavark adds iptables chains and rules for a container network (NAT, port forwarding) and switches
net.ipv4.ip_forward on; removing the network removes the network's own rules but leaves its NETAVARK
chains, the jumps to them and ip_forward behind. Only rules and chains that were not there before are
removed: the host's own are never touched.
"""
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
BUILT_IN = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
SAVERS = {"iptables": "iptables-save", "ip6tables": "ip6tables-save"}


@dataclass(frozen=True)
class HostNetwork:
    rules: frozenset          # (tool, table, "-A CHAIN ..." or ":CHAIN"): what iptables-save lists
    ip_forward: str
    links: frozenset          # network interfaces
    netns: frozenset          # named network namespaces

    @classmethod
    def snapshot(cls):
        return cls(frozenset(_rules()), IP_FORWARD.read_text().strip(), frozenset(_links()), frozenset(_netns()))

    def differences(self):
        """What is on the host now that was not before (or was changed), one line each."""
        now = HostNetwork.snapshot()
        found = [f"{tool} -t {table} {line}" for tool, table, line in sorted(now.rules - self.rules)]
        found += [f"{tool} -t {table} {line} (removed)" for tool, table, line in sorted(self.rules - now.rules)]
        if now.ip_forward != self.ip_forward:
            found.append(f"net.ipv4.ip_forward is {now.ip_forward}, was {self.ip_forward}")
        found += [f"network interface {link}" for link in sorted(now.links - self.links)]
        found += [f"network namespace {ns}" for ns in sorted(now.netns - self.netns)]
        return found

    def restore(self):
        """Delete the rules, then the chains, added since the snapshot; write ip_forward back."""
        added = sorted(set(_rules()) - self.rules, key=lambda item: item[2].startswith(":"))
        for tool, table, line in added:
            if line.startswith("-A "):
                subprocess.run([tool, "-w", "-t", table, "-D", *shlex.split(line[3:])], capture_output=True)
        for tool, table, line in added:
            if line.startswith(":"):
                subprocess.run([tool, "-w", "-t", table, "-F", line[1:]], capture_output=True)
                subprocess.run([tool, "-w", "-t", table, "-X", line[1:]], capture_output=True)
        if IP_FORWARD.read_text().strip() != self.ip_forward:
            IP_FORWARD.write_text(self.ip_forward + "\n")


def _rules():
    """(tool, table, line) for every chain and rule; a built-in chain's policy only when it is not ACCEPT."""
    for tool, saver in SAVERS.items():
        try:
            dump = subprocess.run([saver], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        table = None
        for line in dump.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                chain, policy = line[1:].split()[:2]
                if chain not in BUILT_IN:
                    yield tool, table, f":{chain}"
                elif policy != "ACCEPT":
                    yield tool, table, f":{chain} {policy}"
            elif line.startswith("-A "):
                yield tool, table, line


def _links():
    return [path.name for path in Path("/sys/class/net").iterdir()]


def _netns():
    folder = Path("/run/netns")
    return [path.name for path in folder.iterdir()] if folder.is_dir() else []
