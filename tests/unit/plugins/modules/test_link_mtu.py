# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run link_mtu end to end against a fake ``System`` seam that keeps state (links, files, commands)."""

from __future__ import annotations

import contextlib
import copy
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.module_utils.links import link_mtu_backend
from ansible_collections.netpath.mtu.plugins.modules import link_mtu

PRIVATE_KEY = "UAvBDBr9zX9/m6PUq3LZ7omjCLFYJTpvw5lE7NNerWw="
PUB_A = "G1M+Z7UiwLDIyLAEhosvziPkmCgZhXIczvGI3gDmIjk="
PUB_B = "Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8="


def _link(index, name, mtu, kind, data=None, ifi_type=1, max_mtu=65535):
    return {"index": index, "name": name, "ifi_type": ifi_type, "flags": 0x1, "mtu": mtu, "min_mtu": 68,
            "max_mtu": max_mtu, "operstate": "UP", "address": None, "link": None, "link_netnsid": None,
            "master": None, "kind": kind, "data": data or {}}


LINKS = [
    _link(1, "lo", 65536, None, ifi_type=772, max_mtu=0),
    _link(2, "mgmt0", 1500, "veth"),
    _link(3, "eth0", 1400, "veth"),
    _link(4, "wg0", 1420, "tun", {"type": 1}, ifi_type=65534),
    _link(5, "vx0", 1450, "vxlan", {"id": 101, "remote": "198.18.0.2", "local": "198.18.0.1", "port": 4789}),
    _link(6, "vx6", 1450, "vxlan", {"id": 102, "remote6": "fd00:198:18::2", "local6": "fd00:198:18::1", "port": 4789}),
    _link(7, "eth1", 1500, "veth", max_mtu=9000),
    _link(8, "eth2", 1500, "veth"),
    _link(9, "en1", 1500, "veth"),
    _link(10, "br0", 1500, "bridge"),
    _link(11, "ppp0", 1492, None, ifi_type=512),
]
ADDRESSES = [
    {"index": 1, "family": "ipv4", "address": "127.0.0.1", "prefixlen": 8, "scope": 254},
    {"index": 2, "family": "ipv4", "address": "198.19.204.2", "prefixlen": 24, "scope": 0},
    {"index": 2, "family": "ipv6", "address": "fe80::1", "prefixlen": 64, "scope": 253},
    {"index": 3, "family": "ipv4", "address": "198.18.0.1", "prefixlen": 24, "scope": 0},
    {"index": 3, "family": "ipv6", "address": "fd00:198:18::1", "prefixlen": 64, "scope": 0},
    {"index": 4, "family": "ipv4", "address": "198.19.0.1", "prefixlen": 24, "scope": 0},
    {"index": 5, "family": "ipv4", "address": "198.19.1.1", "prefixlen": 24, "scope": 0},
]
ROUTES = {
    "198.18.0.2": {"oif": 3, "gateway": None, "prefsrc": "198.18.0.1", "mtu": None},
    "fd00:198:18::2": {"oif": 3, "gateway": None, "prefsrc": "fd00:198:18::1", "mtu": None},
    "198.19.204.1": {"oif": 2, "gateway": None, "prefsrc": "198.19.204.2", "mtu": None},
}
WG_DUMP = (f"{PRIVATE_KEY}\t{PUB_A}\t51820\toff\n"
           f"{PUB_B}\t(none)\t198.18.0.2:51820\t198.19.0.2/32\t0\t0\t0\toff\n")
WG_CONF = f"""[Interface]
PrivateKey = {PRIVATE_KEY}
Address = 198.19.0.1/24
ListenPort = 51820
MTU = 1420

[Peer]
PublicKey = {PUB_B}
Endpoint = 198.18.0.2:51820
AllowedIPs = 198.19.0.2/32
"""
NETDEV = "[NetDev]\nName=vx0\nKind=vxlan\nMTUBytes=1450\n\n[VXLAN]\nVNI=101\n"
NETWORK = "[Match]\nName=vx0\n\n[Network]\nAddress=198.19.1.1/24\n\n[Link]\nMTUBytes=1450\n"
GLOB = "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n"
NETPLAN = "network:\n  version: 2\n  ethernets:\n    eth1:\n      dhcp4: true  # lab\n"
INTERFACES = "auto eth2\niface eth2 inet static\n    address 192.0.2.2/24\n"
IFCFG = 'DEVICE="br0"\nTYPE="Bridge"\nONBOOT="yes"\n'
FILES = {
    "/etc/wireguard/wg0.conf": WG_CONF,
    "/etc/systemd/network/30-vx0.netdev": NETDEV,
    "/etc/systemd/network/30-vx0.network": NETWORK,
    "/etc/systemd/network/99-en.network": GLOB,
    "/etc/netplan/50-lab.yaml": NETPLAN,
    "/etc/network/interfaces": INTERFACES,
    "/etc/sysconfig/network-scripts/ifcfg-br0": IFCFG,
}
DIRS = {
    "/etc/wireguard": ["wg0.conf"],
    "/etc/systemd/network": ["30-vx0.netdev", "30-vx0.network", "99-en.network"],
    "/etc/netplan": ["50-lab.yaml"],
    "/etc/sysconfig/network-scripts": ["ifcfg-br0"],
}
BINARIES = {"wg": "/usr/bin/wg", "ping": "/usr/bin/ping", "nmcli": "/usr/bin/nmcli"}
NM_UUID = "3b5e4a9e-5d38-4a4b-9d61-1a2b3c4d5e6f"
COMMANDS = {
    ("/usr/bin/wg", "show", "wg0", "dump"): (0, WG_DUMP, ""),
    ("/usr/bin/nmcli", "-t", "-f", "DEVICE,STATE,CONNECTION", "device"):
        (0, "ppp0:connected:dsl\\:home\nmgmt0:unmanaged:\n", ""),
    ("/usr/bin/nmcli", "-g", "GENERAL.CON-UUID", "device", "show", "ppp0"): (0, NM_UUID + "\n", ""),
    ("/usr/bin/nmcli", "-g", "connection.type", "connection", "show", "uuid", NM_UUID): (0, "pppoe\n", ""),
}
SSH = {"SSH_CONNECTION": "198.19.204.1 40522 198.19.204.2 22"}
UNITS = {"wg-quick@wg0.service": "enabled", "systemd-networkd.service": "enabled", "NetworkManager.service": "enabled",
         "networking.service": "enabled", "network.service": "enabled"}


class FakeSystem:
    """A host in memory: set_mtu and replace_file change it, so runs can be chained."""

    def __init__(self, module, state):
        self.module = module
        self.state = state

    # reads
    def links(self):
        return copy.deepcopy(self.state["links"])

    def link(self, name):
        return next((copy.deepcopy(link) for link in self.state["links"] if link["name"] == name), None)

    def addresses(self):
        return list(self.state["addresses"])

    def route_get(self, dst, mark=None):
        self.state["lookups"].append(dst)
        return ROUTES.get(dst)

    def which(self, name):
        return self.state["binaries"].get(name)

    def run(self, argv):
        argv = list(argv)
        self.state["ran"].append(argv)
        if argv[1:3] == ["connection", "modify"]:
            self.state["nm_mtu"] = int(argv[5])
            return 0, "", ""
        if argv[1:3] == ["device", "reapply"]:
            return self.state.get("reapply", (0, "", ""))
        if argv[:2] == ["/usr/bin/nmcli", "-g"] and argv[2] == "ppp.mtu":
            return 0, f"{self.state.get('nm_mtu') or 'auto'}\n", ""
        if argv[0] == "/usr/bin/ping":
            return self.state["ping"](argv)
        return self.state["commands"].get(tuple(argv), (1, "", f"unexpected command {argv}"))

    def exists(self, path):
        return path == "/var/run/wireguard/wg0.sock" or path in self.state["files"]

    def listdir(self, path):
        return DIRS.get(path, []) + self.state["extra_dirs"].get(path, [])

    def read_text(self, path):
        self.state["read"].append(path)
        return self.state["files"].get(path)

    def read_config(self, path):
        self.state["read"].append(path)
        return self.state["files"].get(path)

    def environ(self, name):
        return self.state["environ"].get(name)

    def unit_state(self, unit):
        self.state["unit_queries"].append(unit)
        return self.state["units"].get(unit, "not-found")

    # writes
    def set_mtu(self, index, mtu):
        self.state.setdefault("set_mtu_locked", []).append(self.state.get("locked", False))
        self.state["set_mtu"].append((index, mtu))
        if self.state.get("refuse_mtu"):
            raise OSError(22, "Invalid argument")
        for link in self.state["links"]:
            if link["index"] == index:
                link["mtu"] = self.state.get("clamp", {}).get(mtu, mtu)

    def replace_file(self, path, text, backup=False):
        self.state["writes"].append((path, backup))
        if path in self.state.get("unwritable", ()):
            raise OSError(30, f"Read-only file system: {path!r}")
        self.state["files"][path] = text
        return f"{path}.1.2026-01-01@00:00:00~" if backup else None

    def close(self):
        self.state["closed"] = True

    @contextlib.contextmanager
    def lock(self, name):
        self.state.setdefault("locks", []).append(name)
        self.state["locked"] = True
        try:
            yield name
        finally:
            self.state["locked"] = False


def fresh_state(**overrides):
    state = {
        "links": copy.deepcopy(LINKS), "addresses": list(ADDRESSES), "files": dict(FILES), "binaries": dict(BINARIES), "commands": dict(COMMANDS),
        "environ": dict(SSH), "units": dict(UNITS), "unit_queries": [], "extra_dirs": {}, "ran": [], "read": [], "lookups": [], "set_mtu": [], "writes": [],
        "ping": lambda argv: (0, "3 packets transmitted, 3 received", ""),
    }
    state.update(overrides)
    return state


@pytest.fixture
def host(monkeypatch):
    state = fresh_state()
    monkeypatch.setattr(link_mtu, "System", lambda module: FakeSystem(module, state))
    monkeypatch.setattr(link_mtu, "require_pyroute2", lambda module: None)
    state["warnings"] = []
    monkeypatch.setattr(link_mtu.AnsibleModule, "warn", lambda self, msg, *a, **k: state["warnings"].append(msg))
    return state


def run_module(args, capsys, check=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit):
            link_mtu.main()
    return json.loads(capsys.readouterr().out)


def mtu_of(state, name):
    return next(link["mtu"] for link in state["links"] if link["name"] == name)


# --- check -> real -> check -> real, per backend --------------------------------------------------

SEQUENCES = [
    # (args, manager, {path: text after})
    ({"name": "wg0", "mtu": 1340}, "wg-quick", {"/etc/wireguard/wg0.conf": WG_CONF.replace("MTU = 1420", "MTU = 1340")}),
    ({"name": "vx0", "mtu": 1350}, "systemd-networkd", {
        "/etc/systemd/network/30-vx0.netdev": NETDEV.replace("MTUBytes=1450", "MTUBytes=1350"),
        "/etc/systemd/network/30-vx0.network": NETWORK.replace("MTUBytes=1450", "MTUBytes=1350"),
    }),
    ({"name": "eth1", "mtu": 9000}, "netplan",
     {"/etc/netplan/50-lab.yaml": NETPLAN.replace("    eth1:\n", "    eth1:\n      mtu: 9000\n")}),
    ({"name": "eth2", "mtu": 1400}, "ifupdown", {"/etc/network/interfaces": INTERFACES + "    mtu 1400\n"}),
    ({"name": "br0", "mtu": 1400}, "ifcfg", {"/etc/sysconfig/network-scripts/ifcfg-br0": IFCFG + 'MTU="1400"\n'}),
]


LOADERS = {"wg-quick": "wg-quick@wg0.service", "systemd-networkd": "systemd-networkd.service",
           "netplan": "systemd-networkd.service", "ifupdown": "networking.service", "ifcfg": "network.service"}


@pytest.mark.parametrize("args, manager, expected", SEQUENCES)
def test_check_real_check_real(host, capsys, args, manager, expected):
    name, mtu = args["name"], args["mtu"]
    before_mtu = mtu_of(host, name)
    before_files = dict(host["files"])

    first = run_module(args, capsys, check=True, diff=True)
    assert (first["changed"], first["mtu"], first["previous_mtu"], first["runtime_changed"]) == (True, mtu, before_mtu, True)
    assert first["persist"]["manager"] == manager and first["persist"]["status"] == "persisted"
    assert sorted(f["path"] for f in first["persist"]["files"] if f["changed"]) == sorted(expected)
    assert first["persistence"]["state"] == "boot" and first["persistence"]["files"] == list(expected)
    assert first["persistence"]["loaded_by"] == LOADERS[manager]
    # check mode touched nothing
    assert host["set_mtu"] == [] and host["writes"] == [] and host["files"] == before_files
    assert mtu_of(host, name) == before_mtu
    assert [d["before_header"] for d in first["diff"]] == [f"{name} (runtime)"] + list(expected)
    assert first["diff"][0]["before"] == f"mtu: {before_mtu}\n" and first["diff"][0]["after"] == f"mtu: {mtu}\n"

    second = run_module(args, capsys)
    assert second["changed"] is True and second["mtu"] == mtu
    assert host["set_mtu"] == [(next(link["index"] for link in LINKS if link["name"] == name), mtu)]
    assert mtu_of(host, name) == mtu
    for path, text in expected.items():
        assert host["files"][path] == text
    assert sorted(path for path, backup in host["writes"]) == sorted(expected)

    third = run_module(args, capsys, check=True, diff=True)
    fourth = run_module(args, capsys)
    for result in (third, fourth):
        assert result["changed"] is False and result["runtime_changed"] is False
        assert result["persist"]["status"] == "unchanged"
    assert third["diff"] == []
    assert len(host["set_mtu"]) == 1 and len(host["writes"]) == len(expected)


def test_networkmanager_uses_nmcli_modify_and_reapply(host, capsys):
    args = {"name": "ppp0", "mtu": 1452}
    first = run_module(args, capsys, check=True, diff=True)
    assert first["changed"] and first["persist"]["manager"] == "NetworkManager"
    assert first["persist"]["commands"] == [
        ["/usr/bin/nmcli", "connection", "modify", NM_UUID, "ppp.mtu", "1452"],
        ["/usr/bin/nmcli", "device", "reapply", "ppp0"],
    ]
    assert first["diff"][1] == {"before_header": f"nmcli connection {NM_UUID} ppp.mtu",
                                "after_header": f"nmcli connection {NM_UUID} ppp.mtu", "before": "auto\n", "after": "1452\n"}
    assert not any(argv[1:3] in (["connection", "modify"], ["device", "reapply"]) for argv in host["ran"])
    second = run_module(args, capsys)
    assert second["changed"] and host["nm_mtu"] == 1452
    assert ["/usr/bin/nmcli", "device", "reapply", "ppp0"] in host["ran"]
    third = run_module(args, capsys)
    assert third["changed"] is False and third["persist"]["status"] == "unchanged" and third["persist"]["commands"] == []


def test_only_persistence_differs(host, capsys):
    host["files"]["/etc/wireguard/wg0.conf"] = WG_CONF.replace("MTU = 1420", "MTU = 1500")
    result = run_module({"name": "wg0", "mtu": 1420}, capsys)
    assert result["changed"] is True and result["runtime_changed"] is False
    assert host["set_mtu"] == []
    assert "MTU = 1420" in host["files"]["/etc/wireguard/wg0.conf"]


def test_backup(host, capsys):
    result = run_module({"name": "wg0", "mtu": 1340, "backup": True}, capsys)
    assert result["persist"]["files"][0]["backup_file"] == "/etc/wireguard/wg0.conf.1.2026-01-01@00:00:00~"
    assert host["writes"] == [("/etc/wireguard/wg0.conf", True)]


def test_secrets_never_leave_the_host(host, capsys):
    result = run_module({"name": "wg0", "mtu": 1340}, capsys, check=True, diff=True)
    out = json.dumps(result)
    assert PRIVATE_KEY not in out
    assert "PrivateKey = <redacted>" in result["diff"][1]["before"]
    assert PUB_B in result["diff"][1]["before"]


# --- computing from path_mtu ---------------------------------------------------------------------

@pytest.mark.parametrize("args, binaries, expected_mtu, computed", [
    # the seeds' numbers: WireGuard over IPv4 on a 1400-byte path
    ({"name": "wg0", "path_mtu": 1400}, BINARIES, 1340,
     {"encapsulation": "wireguard", "outer_family": "ipv4", "overhead": 60, "source": "discovered"}),
    ({"name": "vx0", "path_mtu": 1400}, BINARIES, 1350,
     {"encapsulation": "vxlan", "outer_family": "ipv4", "overhead": 50, "source": "discovered"}),
    ({"name": "vx6", "path_mtu": 1400}, BINARIES, 1330,
     {"encapsulation": "vxlan", "outer_family": "ipv6", "overhead": 70, "source": "discovered"}),
    # no wg: endpoints unknown, so the larger IPv6 overhead
    ({"name": "wg0", "path_mtu": 1400}, {}, 1320,
     {"encapsulation": "wireguard", "outer_family": "ipv6", "overhead": 80, "source": "discovered"}),
    # pinned family wins over discovery
    ({"name": "wg0", "path_mtu": 1400, "outer_family": "ipv6"}, BINARIES, 1320,
     {"encapsulation": "wireguard", "outer_family": "ipv6", "overhead": 80}),
    # given encapsulation on a plain interface: worst case family unless pinned
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "gre", "overhead_options": {"key": True}}, BINARIES, 1444,
     {"encapsulation": "gre", "outer_family": "ipv6", "overhead": 56, "source": "given", "options": {"key": True}}),
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "gre", "outer_family": "ipv4"}, BINARIES, 1476,
     {"encapsulation": "gre", "outer_family": "ipv4", "overhead": 24}),
    ({"name": "ppp0", "path_mtu": 1500, "encapsulation": "pppoe"}, BINARIES, 1492,
     {"encapsulation": "pppoe", "outer_family": None, "overhead": 8}),
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "vlan", "overhead_options": {"count": 2}}, BINARIES, 1492,
     {"overhead": 8}),
])
def test_path_mtu(host, capsys, args, binaries, expected_mtu, computed):
    host["binaries"] = dict(binaries)
    result = run_module(args, capsys, check=True)
    assert "failed" not in result, result
    assert result["mtu"] == expected_mtu
    assert {key: result["computed"][key] for key in computed} == computed
    assert result["computed"]["path_mtu"] == args["path_mtu"]


def test_path_mtu_looks_up_the_endpoint_route(host, capsys):
    run_module({"name": "wg0", "path_mtu": 1400}, capsys, check=True)
    assert ["/usr/bin/wg", "show", "wg0", "dump"] in host["ran"]
    assert "198.18.0.2" in host["lookups"]
    assert "/etc/wireguard/wg0.conf" not in host["read"][:-1]  # only read to edit it, last


def test_path_mtu_without_wg_warns(host, capsys):
    host["binaries"] = {}
    run_module({"name": "wg0", "path_mtu": 1400}, capsys, check=True)
    assert any("'wg' (wireguard-tools) is not installed" in w for w in host["warnings"])


@pytest.mark.parametrize("args, message", [
    ({"name": "eth2", "path_mtu": 1400}, "not a tunnel whose encapsulation can be discovered; give encapsulation"),
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "quic"}, "unknown encapsulation kind 'quic'"),
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "ipip", "outer_family": "ipv6"}, "always has an outer ipv4"),
    ({"name": "eth2", "path_mtu": 1500, "encapsulation": "vxlan", "overhead_options": {"key": True}}, "does not apply to vxlan"),
    ({"name": "eth2", "mtu": 1400, "encapsulation": "gre"}, "missing parameter(s) required by 'encapsulation': path_mtu"),
    ({"name": "eth2", "mtu": 1400, "path_mtu": 1500}, "mutually exclusive"),
    ({"name": "eth2"}, "one of the following is required: mtu, path_mtu"),
])
def test_path_mtu_errors(host, capsys, args, message):
    result = run_module(args, capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert host["set_mtu"] == [] and host["writes"] == []


def test_ipv6_inside_tunnel_floor(host, capsys):
    # eth0 carries IPv6, so whatever runs over it must keep 1280 (wg0 has IPv4 only and may go lower)
    result = run_module({"name": "eth0", "path_mtu": 1320, "encapsulation": "wireguard", "outer_family": "ipv4"}, capsys)
    assert result["failed"] is True and "IPv6 inside the tunnel needs 1280" in result["msg"]


# --- safety -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"name": "nope0", "mtu": 1400}, "no interface named 'nope0' in this host's network namespace (interfaces here: br0, en1"),
    ({"name": "eth2", "mtu": 67}, "below 68"),
    ({"name": "eth0", "mtu": 1200}, "below 1280, the IPv6 minimum"),  # eth0 carries IPv6
    ({"name": "eth2", "mtu": 70000}, "above 65535"),
    ({"name": "eth1", "mtu": 9216}, "above this device's maximum MTU 9000"),
    ({"name": "../etc", "mtu": 1400}, "not a valid interface name"),
    ({"name": "a" * 16, "mtu": 1400}, "longer than 15 characters"),
    ({"name": "eth0 ; reboot", "mtu": 1400}, "not a valid interface name"),
    ({"name": "", "mtu": 1400}, "non-empty"),
])
@pytest.mark.parametrize("check", [True, False])
def test_refused_inputs_change_nothing(host, capsys, args, message, check):
    files = dict(host["files"])
    links = copy.deepcopy(host["links"])
    result = run_module(args, capsys, check=check)
    assert result["failed"] is True
    assert message in result["msg"]
    assert result["changed"] is False
    assert host["set_mtu"] == [] and host["writes"] == []
    assert host["files"] == files and host["links"] == links


def test_ipv4_only_interface_may_go_below_1280(host, capsys):
    result = run_module({"name": "eth2", "mtu": 1200, "persist": "none"}, capsys)
    assert result["changed"] is True and result["mtu"] == 1200


def test_control_interface_needs_consent(host, capsys):
    for check in (True, False):
        result = run_module({"name": "mgmt0", "mtu": 1400}, capsys, check=check)
        assert result["failed"] is True and result["changed"] is False
        assert "mgmt0 carries this run's control connection (SSH from 198.19.204.1 to 198.19.204.2)" in result["msg"]
        assert "allow_control_interface: true" in result["msg"]
        assert result["control_interface"] is True
        assert result["control_connection"] == {"client": "198.19.204.1", "server": "198.19.204.2", "interfaces": ["mgmt0"]}
    assert host["set_mtu"] == [] and host["writes"] == []


def test_control_interface_unchanged_mtu_needs_no_consent(host, capsys):
    result = run_module({"name": "mgmt0", "mtu": 1500}, capsys)
    assert result["changed"] is False and result["control_interface"] is True


def test_control_interface_with_consent_is_verified(host, capsys):
    result = run_module({"name": "mgmt0", "mtu": 1400, "allow_control_interface": True}, capsys)
    assert result["changed"] is True and result["verified"] is True
    assert result["verification"] == "198.19.204.1 answered don't-fragment pings of 1400 bytes"
    assert host["ran"][-1] == ["/usr/bin/ping", "-4", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1372",
                               "198.19.204.1"]
    assert result["persist"]["status"] == "not_persisted"
    assert "no network configuration on this host defines mgmt0" in result["persist"]["reason"]
    assert any("not persisted" in w for w in host["warnings"])


def test_control_interface_rolled_back_when_the_controller_stops_answering(host, capsys):
    host["ping"] = lambda argv: (1, "3 packets transmitted, 0 received, 100% packet loss", "")
    result = run_module({"name": "mgmt0", "mtu": 9000, "allow_control_interface": True}, capsys)
    assert result["failed"] is True and result["rolled_back"] is True and result["changed"] is False
    assert "did not answer don't-fragment pings of 9000 bytes" in result["msg"]
    assert "restored the previous MTU 1500 on mgmt0" in result["msg"]
    assert host["set_mtu"] == [(2, 9000), (2, 1500)] and mtu_of(host, "mgmt0") == 1500
    assert host["writes"] == []


def test_control_interface_path_limited_beyond_the_link(host, capsys):
    def ping(argv):
        size = int(argv[argv.index("-s") + 1])
        if size + 28 > 1500:
            return 1, "From 198.19.204.254 icmp_seq=1 Frag needed and DF set (mtu = 1500)\n", ""
        return 0, "1 received", ""
    host["ping"] = ping
    result = run_module({"name": "mgmt0", "mtu": 9000, "allow_control_interface": True}, capsys)
    assert result["changed"] is True and result["verified"] is True
    assert "pings of 1500 bytes, the path MTU reported for 9000-byte packets" in result["verification"]


def test_control_interface_needs_ping(host, capsys):
    host["binaries"].pop("ping")
    result = run_module({"name": "mgmt0", "mtu": 1400, "allow_control_interface": True}, capsys)
    assert result["failed"] is True and "needs 'ping'" in result["msg"] and host["set_mtu"] == []


def test_control_interface_found_by_route_from_ssh_client(host, capsys):
    host["environ"] = {"SSH_CLIENT": "198.19.204.1 40522 22"}
    result = run_module({"name": "mgmt0", "mtu": 1400}, capsys)
    assert result["failed"] is True and result["control_connection"]["server"] is None
    assert "198.19.204.1" in host["lookups"]


@pytest.mark.parametrize("holder, change, related", [
    # SSH arrives on br0, whose port eth2 is: lowering eth2 cuts br0 off too
    (10, {"eth2": {"master": 10}}, "eth2"),
    # SSH arrives on a VLAN of eth1: eth1 carries it
    (12, {}, "eth1"),
])
def test_devices_under_the_control_interface_are_guarded(host, capsys, holder, change, related):
    host["links"].append(_link(12, "eth1.100", 1500, "vlan", {"id": 100}))
    host["links"][-1]["link"] = 7
    for link in host["links"]:
        link.update(change.get(link["name"], {}))
    host["addresses"] = [a for a in ADDRESSES if a["address"] != "198.19.204.2"] + [
        {"index": holder, "family": "ipv4", "address": "198.19.204.2", "prefixlen": 24, "scope": 0}]
    host["environ"] = {"SSH_CONNECTION": "198.19.204.1 40522 198.19.204.2 22"}
    result = run_module({"name": related, "mtu": 1400}, capsys)
    assert result["failed"] is True and f"{related} carries this run's control connection" in result["msg"]
    assert related in result["control_connection"]["interfaces"]
    assert host["set_mtu"] == []


def test_no_ssh_no_control_interface(host, capsys):
    host["environ"] = {}
    result = run_module({"name": "mgmt0", "mtu": 1400, "persist": "none"}, capsys)
    assert result["changed"] is True and result["control_connection"] is None and result["control_interface"] is False


def test_kernel_refusal_is_reported(host, capsys):
    host["refuse_mtu"] = True
    result = run_module({"name": "eth2", "mtu": 1400}, capsys)
    assert result["failed"] is True and "the kernel refused MTU 1400 on eth2" in result["msg"]
    assert host["writes"] == []


def test_kernel_clamping_is_detected_and_undone(host, capsys):
    host["clamp"] = {1400: 1300}  # the device takes another value than asked for
    result = run_module({"name": "eth2", "mtu": 1400, "persist": "none"}, capsys)
    assert result["failed"] is True and "eth2 reports MTU 1300 after setting 1400" in result["msg"]
    assert result["rolled_back"] is True and mtu_of(host, "eth2") == 1500


def test_write_failure_restores_runtime(host, capsys):
    host["unwritable"] = {"/etc/systemd/network/30-vx0.network"}
    result = run_module({"name": "vx0", "mtu": 1350}, capsys)
    assert result["failed"] is True and result["rolled_back"] is True
    assert "writing /etc/systemd/network/30-vx0.network failed" in result["msg"]
    assert host["files"]["/etc/systemd/network/30-vx0.netdev"] == NETDEV  # the first file was restored
    assert mtu_of(host, "vx0") == 1450


def test_reapply_failure_restores_profile_and_runtime(host, capsys):
    host["reapply"] = (1, "", "Error: Reapplying connection failed")
    result = run_module({"name": "ppp0", "mtu": 1452}, capsys)
    assert result["failed"] is True and "Reapplying connection failed" in result["msg"]
    assert host["ran"][-1] == ["/usr/bin/nmcli", "connection", "modify", NM_UUID, "ppp.mtu", "0"]
    assert mtu_of(host, "ppp0") == 1492


# --- persistence choices ------------------------------------------------------------------------

@pytest.mark.parametrize("state, survives, loaded_by", [
    ("enabled", "boot", "wg-quick@wg0.service"),
    ("disabled", "runtime_only", None),
    ("not-found", "runtime_only", None),
    ("unknown", "unknown", None),
])
def test_wg_quick_counts_only_when_its_unit_is_enabled(host, capsys, state, survives, loaded_by):
    host["units"]["wg-quick@wg0.service"] = state
    result = run_module({"name": "wg0", "mtu": 1340}, capsys, check=True)
    assert result["persist"]["status"] == "persisted"  # the file would be written either way
    assert result["persistence"]["state"] == survives and result["persistence"]["loaded_by"] == loaded_by
    assert result["persistence"]["files"] == ["/etc/wireguard/wg0.conf"]
    assert host["unit_queries"] == ["wg-quick@wg0.service"]
    assert any("may not survive a reboot" in w for w in host["warnings"]) is (survives != "boot")


def test_interface_no_configuration_defines_is_runtime_only(host, capsys):
    result = run_module({"name": "vx6", "mtu": 1400}, capsys, check=True)
    assert result["persistence"]["state"] == "runtime_only" and result["persistence"]["files"] == []
    assert "no network configuration on this host defines vx6" in result["persistence"]["reason"]
    assert host["unit_queries"] == []
    result = run_module({"name": "wg0", "mtu": 1340, "persist": "none"}, capsys, check=True)
    assert result["persistence"] == {"state": "runtime_only", "files": [], "loaded_by": None,
                                     "reason": "persist=none: the MTU is set at runtime only"}


def test_ifupdown_without_auto_is_runtime_only(host, capsys):
    host["files"]["/etc/network/interfaces"] = INTERFACES.replace("auto eth2\n", "")
    result = run_module({"name": "eth2", "mtu": 1400}, capsys, check=True)
    assert result["persist"]["status"] == "persisted" and result["persistence"]["state"] == "runtime_only"
    assert "no 'auto eth2' or 'allow-hotplug eth2' line" in result["persistence"]["reason"]


def test_networkmanager_profile_is_loaded_by_networkmanager(host, capsys):
    host["units"]["NetworkManager.service"] = "disabled"
    result = run_module({"name": "ppp0", "mtu": 1452}, capsys, check=True)
    assert result["persistence"]["state"] == "runtime_only" and result["persistence"]["files"] == []
    assert f"NetworkManager profile {NM_UUID} is not loaded at boot" in result["persistence"]["reason"]


def test_persist_none_reads_no_configuration(host, capsys):
    result = run_module({"name": "wg0", "mtu": 1340, "persist": "none"}, capsys)
    assert result["changed"] is True
    assert result["persist"] == {"manager": None, "status": "disabled", "reason": "persist=none: the MTU is set at runtime only",
                                 "files": [], "commands": []}
    assert host["read"] == [] and host["writes"] == []


def test_persist_to_a_manager_that_does_not_own_it(host, capsys):
    result = run_module({"name": "wg0", "mtu": 1340, "persist": "ifcfg"}, capsys)
    assert result["persist"]["status"] == "not_persisted"
    assert result["persist"]["reason"] == "ifcfg does not configure wg0 on this host (owners found: wg-quick)"
    assert host["writes"] == []


def test_networkd_glob_file_is_not_edited(host, capsys):
    result = run_module({"name": "en1", "mtu": 1400}, capsys)
    assert result["persist"]["status"] == "not_persisted"
    assert "Name=en*, which covers more than en1" in result["persist"]["reason"]
    assert host["writes"] == [] and result["changed"] is True  # runtime only


def test_networkd_dropin_that_sets_the_mtu_is_edited(host, capsys):
    dropin = "/etc/systemd/network/30-vx0.network.d/mtu.conf"
    host["files"][dropin] = "[Link]\nMTUBytes=9000\n"
    host["files"]["/etc/systemd/network/30-vx0.network.d/dns.conf"] = "[Network]\nDNS=192.0.2.53\n"
    host["extra_dirs"]["/etc/systemd/network/30-vx0.network.d"] = ["dns.conf", "mtu.conf"]
    result = run_module({"name": "vx0", "mtu": 1350}, capsys)
    paths = [f["path"] for f in result["persist"]["files"]]
    assert dropin in paths and "/etc/systemd/network/30-vx0.network.d/dns.conf" not in paths
    assert host["files"][dropin] == "[Link]\nMTUBytes=1350\n"


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("args", [{"name": "wg0", "mtu": 1340}, {"name": "wg0", "path_mtu": 1400}])
def test_wg_quick_file_with_a_key_twice_is_refused_before_any_change(host, capsys, check, args):
    conf = "/etc/wireguard/wg0.conf"
    host["files"][conf] = host["files"][conf].replace("MTU = 1420\n", "MTU = 1420\nMTU = 9000\n")
    files, links = dict(host["files"]), copy.deepcopy(host["links"])
    result = run_module(args, capsys, check=check)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"{conf} has MTU twice in [Interface]; fix it by hand first; nothing was changed"
    assert host["set_mtu"] == [] and host["writes"] == []
    assert host["files"] == files and host["links"] == links


@pytest.mark.parametrize("options, message", [
    ({"bogus;id": 1}, "overhead_options: option bogus;id does not apply to gre, which accepts only"),
    ({"extra": -5000}, "overhead_options: extra overhead must not be negative, got -5000"),
    ({"extra": "lots"}, "overhead_options: extra must be a whole number of bytes"),
    ({f"k{i}": i for i in range(5000)}, "overhead_options: options k0, k1, k10, k100, k1000 and 4995 more do not apply"),
])
def test_bad_overhead_options_are_named(host, capsys, options, message):
    result = run_module({"name": "eth2", "path_mtu": 1500, "encapsulation": "gre", "overhead_options": options}, capsys)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(message)
    assert len(result["msg"]) < 300
    assert host["set_mtu"] == [] and host["writes"] == []


def test_unparseable_file_is_reported(host, capsys):
    host["files"]["/etc/wireguard/wg0.conf"] = "[Peer]\nPublicKey = x\n"
    result = run_module({"name": "wg0", "mtu": 1340}, capsys)
    assert result["persist"]["status"] == "not_persisted"
    assert result["persist"]["reason"] == "/etc/wireguard/wg0.conf: it has no [Interface] section, so it is not a wg-quick configuration"


# --- pure helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize("connection, client, expected", [
    ("198.19.204.1 40522 198.19.204.2 22", None, {"client": "198.19.204.1", "server": "198.19.204.2"}),
    ("fd00::1 40522 fd00::2 22", None, {"client": "fd00::1", "server": "fd00::2"}),
    ("::ffff:192.0.2.1 5 ::ffff:192.0.2.2 22", None, {"client": "192.0.2.1", "server": "192.0.2.2"}),
    ("fe80::1%eth0 5 fe80::2%eth0 22", None, {"client": "fe80::1", "server": "fe80::2"}),
    (None, "192.0.2.1 5 22", {"client": "192.0.2.1", "server": None}),
    ("garbage", "192.0.2.1 5 22", {"client": "192.0.2.1", "server": None}),
    ("", "", None),
    (None, None, None),
    ("x 1 y 2", None, None),
])
def test_parse_ssh_connection(connection, client, expected):
    assert link_mtu_backend.parse_ssh_connection(connection, client) == expected


@pytest.mark.parametrize("kind, family", [
    ("wireguard", "ipv6"), ("vxlan", "ipv6"), ("ipip", "ipv4"), ("sit", "ipv4"), ("ip6tnl", "ipv6"),
    ("ip6gre", "ipv6"), ("pppoe", None), ("vlan", None), ("WG", "ipv6"),
])
def test_worst_family(kind, family):
    assert link_mtu_backend.worst_family(kind) == family


@pytest.mark.parametrize("out, err, limit", [
    ("From 192.0.2.254 icmp_seq=1 Frag needed and DF set (mtu = 1400)\n", "", 1400),
    ("From fd00::1 icmp_seq=1 Packet too big: mtu=1280\n", "", 1280),
    ("", "ping: local error: message too long, mtu=1420", 1420),
    ("", "ping: local error: message too long, mtu: 1400", 1400),
    ("3 packets transmitted, 0 received", "", None),
])
def test_ping_limit(out, err, limit):
    assert link_mtu_backend.ping_limit(out, err) == limit


@pytest.mark.parametrize("address, mtu, tail", [
    ("192.0.2.1", 1500, ["-s", "1472", "192.0.2.1"]),
    ("2001:db8::1", 1500, ["-s", "1452", "2001:db8::1"]),
])
def test_ping_argv(address, mtu, tail):
    argv = link_mtu_backend.ping_argv("/usr/bin/ping", address, mtu)
    assert argv[-3:] == tail and argv[argv.index("-M") + 1] == "do"
    assert argv[1] == ("-6" if ":" in address else "-4")


@pytest.mark.parametrize("name", ["eth0", "wg-site.b", "a" * 15, "en0_1=+"])
def test_validate_ifname_ok(name):
    assert link_mtu_backend.validate_ifname(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "eth0:1", "a b", "a\tb", "a\nb", "a" * 16, None, 7])
def test_validate_ifname_rejects(name):
    with pytest.raises(ValueError):
        link_mtu_backend.validate_ifname(name)


# --- the seam's file access (real files in a temporary directory) -------------------------------

@pytest.fixture
def real_system(tmp_path):
    from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System

    with patch_module_args({}):
        module = link_mtu.AnsibleModule(argument_spec={})
    return System(module)


def test_replace_file_is_atomic_keeps_mode_and_backs_up(real_system, tmp_path):
    path = tmp_path / "wg0.conf"
    path.write_text(WG_CONF)
    path.chmod(0o600)
    backup = real_system.replace_file(str(path), WG_CONF.replace("MTU = 1420", "MTU = 1340"), backup=True)
    assert path.read_text() == WG_CONF.replace("MTU = 1420", "MTU = 1340")
    assert path.stat().st_mode & 0o777 == 0o600
    assert backup and backup.startswith(str(path) + ".") and backup.endswith("~")
    assert open(backup, encoding="utf-8").read() == WG_CONF
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["wg0.conf", backup.rsplit("/", 1)[1]])  # no temp left
    assert real_system.replace_file(str(path), "x\n") is None


@pytest.mark.parametrize("data, expected", [
    (b"[Interface]\nMTU = 1420\n", "[Interface]\nMTU = 1420\n"),
    (b"caf\xc3\xa9\r\n", "caf\u00e9\r\n"),
    (b"\xff\xfe binary", ValueError("not UTF-8")),
    (b"#" * (256 * 1024 + 1), ValueError("too large")),
    (None, None),
])
def test_read_config(real_system, tmp_path, data, expected):
    path = tmp_path / "f.conf"
    if data is not None:
        path.write_bytes(data)
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError, match=str(expected)):
            real_system.read_config(str(path))
    else:
        assert real_system.read_config(str(path)) == expected


def test_a_change_is_made_under_the_links_lock(host, capsys):
    run_module({"name": "wg0", "mtu": 1340}, capsys, check=True)
    assert host.get("locks", []) == []
    run_module({"name": "wg0", "mtu": 1340}, capsys)
    assert host["locks"] == ["links"] and host["set_mtu_locked"] == [True] and host["locked"] is False
