"""Write what the audit or a remediation could change on each host of a lab, as text: DIR/HOST.txt.

Usage: snapshot.py LAB DIR   (as root on the lab machine; lab_snapshot in lab.sh calls it)

Per host: links, addresses, routes, rules, nftables (which holds iptables-nft's rules too),
iptables-legacy, sysctls, the listen ports of its own WireGuard interfaces, listening sockets, and a
checksum of every file of its own /etc. Not the neighbour table, counters, WireGuard handshakes or
the PMTU cache: traffic changes those. Read with ip netns exec, as each host's sshd sees it, in one
process instead of a playbook over SSH.
"""
import hashlib
import os
import re
import subprocess
import sys

NETNS_ETC = "/etc/netns"
WIREGUARD_RUN = "/var/run/wireguard"
COMMANDS = (
    ["ip", "-d", "link", "show"],
    ["ip", "addr", "show"],
    ["ip", "-4", "route", "show", "table", "all"],
    ["ip", "-6", "route", "show", "table", "all"],
    ["ip", "-4", "rule", "show"],
    ["nft", "list", "ruleset"],
    # Legacy rules are invisible to nft.
    ["iptables-legacy-save"],
    ["ip6tables-legacy-save"],
    ["sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.tcp_mtu_probing",
     "net.ipv4.ip_no_pmtu_disc"],
    ["ss", "-Hltun"],
)


def run(namespace: str, argv: list) -> str:
    return subprocess.run(["ip", "netns", "exec", namespace] + argv, check=True, capture_output=True,
                          text=True, env=dict(os.environ, LC_ALL="C")).stdout


def without_counters(text: str) -> str:
    """iptables-save output without its dated comments and chain counters."""
    return "".join(re.sub(r" \[\d+:\d+\]$", "", line) + "\n" for line in text.splitlines() if not line.startswith("#"))


def wireguard_ports(namespace: str) -> str:
    """wireguard-go's sockets (and so `wg show all`) are machine-wide: only this host's interfaces."""
    links = [line.split(":")[1].strip().split("@")[0] for line in run(namespace, ["ip", "-o", "link", "show"]).splitlines()]
    ours = [name for name in links if os.path.exists(os.path.join(WIREGUARD_RUN, f"{name}.sock"))]
    return "".join(run(namespace, ["wg", "show", name, "listen-port"]) for name in sorted(ours))


def etc_checksums(namespace: str) -> str:
    """sha256sum of every file of the host's own /etc (ip netns exec bind-mounts /etc/netns/<ns>)."""
    lines = []
    for root, dirs, files in os.walk(os.path.join(NETNS_ETC, namespace)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                lines.append(f"{hashlib.sha256(handle.read()).hexdigest()}  {path}\n")
    return "".join(lines)


def snapshot(namespace: str) -> str:
    parts = []
    for argv in COMMANDS:
        out = run(namespace, argv)
        parts.append(without_counters(out) if argv[0].endswith("-save") else out)
    parts += [wireguard_ports(namespace), "----\n", etc_checksums(namespace)]
    return "".join(parts)


def main() -> None:
    lab, directory = sys.argv[1], sys.argv[2]
    prefix = f"{lab}-"
    namespaces = sorted(line.split()[0] for line in subprocess.run(["ip", "netns", "list"], check=True, capture_output=True,
                                                                   text=True).stdout.splitlines()
                        if line.startswith(prefix))
    if not namespaces:
        sys.exit(f"snapshot: lab {lab} has no namespaces")
    os.makedirs(directory, exist_ok=True)
    for namespace in namespaces:
        with open(os.path.join(directory, namespace[len(prefix):] + ".txt"), "w", encoding="utf-8") as handle:
            handle.write(snapshot(namespace))


if __name__ == "__main__":
    main()
