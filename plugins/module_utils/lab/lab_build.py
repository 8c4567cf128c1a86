# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Builds and removes a lab from its plan (see lab_topology.plan_lab).

Everything the lab creates is named from the plan and recorded in ``state.json`` before it is
created, so teardown removes exactly that: namespaces (after stopping the processes inside
them by PID), the management bridge, ``/etc/netns/<namespace>`` trees, WireGuard sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandRunner
from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_topology import (
    networkd_vxlan_files,
    wg_quick_config,
)

NETNS_ETC = "/etc/netns"
MACHINE_ETC = "/etc"
WIREGUARD_RUN = "/var/run/wireguard"
SSHD_PRIVSEP_DIR = "/run/sshd"
SYSCTLS = (
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
)
FORWARD_SYSCTLS = ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")


def sshd_pidfile(namespace: str) -> str:
    return f"/run/netpath-mtu-lab-{namespace}-sshd.pid"


def sshd_config(address: str, namespace: str) -> str:
    return "\n".join([
        "# sshd of a netpath.mtu lab host; reached on the lab's management network only.",
        f"ListenAddress {address}",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AuthorizedKeysFile /etc/ssh/authorized_keys",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        f"PidFile {sshd_pidfile(namespace)}",
        "Subsystem sftp internal-sftp",
        "",
    ])


# What a lab keeps in its workdir: the state, the SSH key, the inventory the lab role writes.
LAB_FILES = ("state.json", "id_ed25519", "id_ed25519.pub", "inventory.yml")


class LabBuilder:
    def __init__(self, module, workdir: str):
        self.module = module
        self.cmd = CommandRunner(module)
        self.workdir = workdir
        self.state_file = os.path.join(workdir, "state.json")
        self.key_file = os.path.join(workdir, "id_ed25519")

    # -- state ------------------------------------------------------------------------------

    def read_state(self) -> dict | None:
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError:
            return {}

    def write_state(self, plan: dict) -> None:
        state = {
            "fingerprint": plan["fingerprint"],
            "name": plan["name"],
            "namespaces": [h["namespace"] for h in plan["hosts"]],
            "bridge": plan["mgmt_bridge"],
            "mgmt_veths": [h["mgmt_veth"] for h in plan["hosts"]],
            "wireguard_interfaces": [t[s]["interface"] for t in plan["tunnels"]
                                     if t["type"] == "wireguard" for s in ("a", "b")],
            "tunnel_interfaces": {t[s]["interface"]: t[s]["host"] for t in plan["tunnels"] for s in ("a", "b")},
        }
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        self._write(self.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def existing_namespaces(self) -> set[str]:
        out = self.cmd.run(["ip", "netns", "list"])[1]
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def healthy(self, plan: dict) -> bool:
        """True when everything the plan describes is up: namespaces, sshd, tunnels."""
        state = self.read_state()
        if not state or state.get("fingerprint") != plan["fingerprint"]:
            return False
        if not os.path.exists(self.key_file):
            return False
        present = self.existing_namespaces()
        for host in plan["hosts"]:
            if host["namespace"] not in present or not self._pid_alive(sshd_pidfile(host["namespace"])):
                return False
        for tunnel in plan["tunnels"]:
            for side in ("a", "b"):
                end = tunnel[side]
                if not self.cmd.ok(["ip", "-n", end["namespace"], "link", "show", "dev", end["interface"]]):
                    return False
        return True

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self, state: dict | None) -> bool:
        """Remove what state.json recorded. Returns whether anything was there."""
        if not state:
            return False
        present = self.existing_namespaces()
        for ns in state.get("namespaces", []):
            if ns in present:
                self._stop_processes(ns)
                self.cmd.run(["ip", "netns", "delete", ns])
            shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)
            self._remove(sshd_pidfile(ns))
        for iface in state.get("wireguard_interfaces", []):
            self._remove(os.path.join(WIREGUARD_RUN, f"{iface}.sock"))
        # A deleted namespace lives on in the kernel while orphaned TCP sockets (the SSH sessions
        # just killed) time out; delete our ends of its links now so no name is left behind.
        for dev in state.get("mgmt_veths", []) + [state.get("bridge")]:
            # The kernel may free the namespace, and with it the veth, at any moment: only a device
            # that is still there after a failed delete is an error.
            if dev and not self.cmd.ok(["ip", "link", "delete", dev]) and self.cmd.ok(["ip", "link", "show", "dev", dev]):
                raise OSError(f"cannot delete {dev}")
        self._remove(self.state_file)
        return True

    def remove_workdir(self) -> None:
        """Remove the files the lab put there, then the directory if nothing else is left in it."""
        for name in LAB_FILES:
            try:
                self._remove(os.path.join(self.workdir, name))
            except OSError:
                pass  # a directory of that name is not the lab's
        try:
            os.rmdir(self.workdir)
        except OSError:
            pass  # missing, or holding someone else's files: those stay

    def _stop_processes(self, namespace: str) -> None:
        """SIGTERM, then SIGKILL, every process inside our namespace (by PID, never by name)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._pids(namespace)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and self._pids(namespace):
                time.sleep(0.05)

    def _pids(self, namespace: str) -> list[int]:
        rc, out, _err = self.cmd.run(["ip", "netns", "pids", namespace], check=False)
        pids = [int(p) for p in out.split() if p.isdigit()] if rc == 0 else []
        return [p for p in pids if not _is_zombie(p)]

    # -- build ------------------------------------------------------------------------------

    def build(self, plan: dict) -> None:
        self.write_state(plan)
        self._ensure_key()
        os.makedirs(SSHD_PRIVSEP_DIR, mode=0o755, exist_ok=True)
        self._mgmt_bridge(plan)
        for host in plan["hosts"]:
            self._namespace(plan, host)
        for link in plan["links"]:
            self._link(plan, link)
        for host in plan["hosts"]:
            self._etc(plan, host)
            self._firewall(host)
        keys = self._wireguard_keys(plan)
        for tunnel in plan["tunnels"]:
            self._tunnel(plan, tunnel, keys)
        for host in plan["hosts"]:
            self._routes(host)
            self.cmd.run(["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config"], netns=host["namespace"])

    def _ensure_key(self) -> None:
        if not os.path.exists(self.key_file):
            self.cmd.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                          f"netpath-mtu-lab@{os.path.basename(self.workdir)}", "-f", self.key_file])

    def _mgmt_bridge(self, plan: dict) -> None:
        bridge = plan["mgmt_bridge"]
        prefix = plan["mgmt_subnet"].split("/")[1]
        self.cmd.run(["ip", "link", "add", bridge, "type", "bridge"])
        self.cmd.run(["ip", "addr", "add", f"{plan['mgmt_gateway']}/{prefix}", "dev", bridge])
        self.cmd.run(["ip", "link", "set", bridge, "up"])

    def _namespace(self, plan: dict, host: dict) -> None:
        ns = host["namespace"]
        prefix = plan["mgmt_subnet"].split("/")[1]
        self.cmd.run(["ip", "netns", "add", ns])
        self.cmd.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        sysctls = SYSCTLS + (FORWARD_SYSCTLS if host["forward"] else ())
        self.cmd.run(["sysctl", "-q", "-w", *sysctls], netns=ns)
        self.cmd.run(["ip", "link", "add", host["mgmt_veth"], "type", "veth", "peer", "name", "mgmt0",
                      "netns", ns])
        self.cmd.run(["ip", "link", "set", host["mgmt_veth"], "master", plan["mgmt_bridge"], "up"])
        self.cmd.run(["ip", "-n", ns, "addr", "add", f"{host['mgmt_address']}/{prefix}", "dev", "mgmt0"])
        self.cmd.run(["ip", "-n", ns, "link", "set", "mgmt0", "up"])

    def _link(self, plan: dict, link: dict) -> None:
        ends = {}
        for host in plan["hosts"]:
            for iface in host["interfaces"]:
                if iface["link"] == link["name"]:
                    ends[host["name"]] = (host["namespace"], iface)
        (ns_a, if_a), (ns_b, if_b) = ends[link["a"]], ends[link["b"]]
        self.cmd.run(["ip", "link", "add", if_a["name"], "netns", ns_a, "mtu", str(link["mtu"]), "type", "veth",
                      "peer", "name", if_b["name"], "netns", ns_b, "mtu", str(link["mtu"])])
        for ns, iface in ((ns_a, if_a), (ns_b, if_b)):
            self._address(ns, iface["name"], iface["ipv4"], iface["net4"], iface.get("ipv6"), iface.get("net6"))
            self.cmd.run(["ip", "-n", ns, "link", "set", iface["name"], "up"])

    def _address(self, ns: str, dev: str, ip4: str | None, net4: str | None, ip6: str | None, net6: str | None) -> None:
        if ip4 and net4:  # None on an IPv6-only segment
            self.cmd.run(["ip", "-n", ns, "addr", "add", f"{ip4}/{net4.split('/')[1]}", "dev", dev])
        if ip6 and net6:
            self.cmd.run(["ip", "-n", ns, "-6", "addr", "add", f"{ip6}/{net6.split('/')[1]}", "dev", dev, "nodad"])

    def _etc(self, plan: dict, host: dict) -> None:
        """The host's own /etc entries: `ip netns exec` bind-mounts each over /etc/<entry>."""
        etc = os.path.join(NETNS_ETC, host["namespace"])
        for sub in ("ssh", "wireguard", "systemd/network"):
            os.makedirs(os.path.join(etc, sub), mode=0o755, exist_ok=True)
        for sub in host.get("etc_dirs", ()):
            # ip netns exec bind-mounts an entry only over something that exists: the machine needs
            # the (empty) directory too. It is left in place; other labs may use it.
            os.makedirs(os.path.join(MACHINE_ETC, sub), mode=0o755, exist_ok=True)
            os.makedirs(os.path.join(etc, sub), mode=0o755, exist_ok=True)
        os.chmod(os.path.join(etc, "wireguard"), 0o700)
        host_key = os.path.join(etc, "ssh", "ssh_host_ed25519_key")
        if not os.path.exists(host_key):
            self.cmd.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host["name"], "-f", host_key])
        with open(self.key_file + ".pub", encoding="utf-8") as handle:
            self._write(os.path.join(etc, "ssh", "authorized_keys"), handle.read(), 0o600)
        self._write(os.path.join(etc, "ssh", "sshd_config"), sshd_config(host["mgmt_address"], host["namespace"]))
        self._write(os.path.join(etc, "nftables.conf"), host["nftables_conf"], 0o755)
        self._write(os.path.join(etc, "hostname"), host["name"] + "\n")

    def _firewall(self, host: dict) -> None:
        self.cmd.run(["nft", "-f", "/etc/nftables.conf"], netns=host["namespace"])
        for argv in host["iptables_commands"]:
            self.cmd.run(argv, netns=host["namespace"])

    def _wireguard_keys(self, plan: dict) -> dict[str, tuple[str, str]]:
        keys = {}
        for tunnel in plan["tunnels"]:
            if tunnel["type"] != "wireguard":
                continue
            for side in ("a", "b"):
                private = self.cmd.run(["wg", "genkey"])[1].strip()
                public = self.cmd.run(["wg", "pubkey"], data=private + "\n")[1].strip()
                keys[tunnel[side]["interface"]] = (private, public)
        return keys

    def _tunnel(self, plan: dict, tunnel: dict, keys: dict[str, tuple[str, str]]) -> None:
        for near, far in (("a", "b"), ("b", "a")):
            end, peer = tunnel[near], tunnel[far]
            ns = end["namespace"]
            etc = os.path.join(NETNS_ETC, ns)
            if tunnel["type"] == "wireguard":
                conf = wg_quick_config(end, peer, tunnel, keys[end["interface"]][0], keys[peer["interface"]][1])
                self._write(os.path.join(etc, "wireguard", f"{end['interface']}.conf"), conf, 0o600)
                # wg-quick falls back to wireguard-go when the kernel has no WireGuard.
                self.cmd.run(["wg-quick", "up", end["interface"]], netns=ns)
            else:
                for name, text in networkd_vxlan_files(end, peer, tunnel).items():
                    self._write(os.path.join(etc, "systemd", "network", name), text)
                self.cmd.run(["ip", "-n", ns, "link", "add", end["interface"], "mtu", str(tunnel["mtu"]),
                              "type", "vxlan", "id", str(tunnel["vni"]), "remote", peer["endpoint"],
                              "local", end["endpoint"], "dstport", str(tunnel["port"])])
                self._address(ns, end["interface"], end["ipv4"], tunnel["net4"], end["ipv6"], tunnel["net6"])
                self.cmd.run(["ip", "-n", ns, "link", "set", end["interface"], "up"])

    def _routes(self, host: dict) -> None:
        for route in host["routes"]:
            argv = ["ip", "-n", host["namespace"]] + (["-6"] if ":" in route["to"] else [])
            argv += ["route", "replace", route["to"]]
            if "via" in route:
                argv += ["via", route["via"]]
            self.cmd.run(argv + ["dev", route["dev"]])

    # -- files ------------------------------------------------------------------------------

    def _write(self, path: str, text: str, mode: int = 0o644) -> None:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    @staticmethod
    def _pid_alive(pidfile: str) -> bool:
        try:
            with open(pidfile, encoding="utf-8") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return False
        return os.path.exists(f"/proc/{pid}") and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
