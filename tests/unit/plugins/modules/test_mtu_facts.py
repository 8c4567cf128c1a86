# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the mtu_facts module end to end against a fake ``System`` seam serving fixtures."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.modules import mtu_facts

PRIVATE_KEY = "UAvBDBr9zX9/m6PUq3LZ7omjCLFYJTpvw5lE7NNerWw="
PUB_A = "G1M+Z7UiwLDIyLAEhosvziPkmCgZhXIczvGI3gDmIjk="
PUB_B = "Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8="

LINKS = [
    {"index": 1, "name": "lo", "ifi_type": 772, "flags": 0x1, "mtu": 65536, "min_mtu": 0, "max_mtu": 0,
     "operstate": "UNKNOWN", "address": "00:00:00:00:00:00", "link": None, "link_netnsid": None, "master": None,
     "kind": None, "data": {}},
    {"index": 8, "name": "eth0", "ifi_type": 1, "flags": 0x1, "mtu": 1500, "min_mtu": 68, "max_mtu": 65535,
     "operstate": "UP", "address": "d2:8a:d8:ca:0a:e6", "link": 7, "link_netnsid": 1, "master": None,
     "kind": "veth", "data": {}},
    {"index": 4, "name": "wg0", "ifi_type": 65534, "flags": 0x1, "mtu": 1420, "min_mtu": 68, "max_mtu": 65535,
     "operstate": "UNKNOWN", "address": None, "link": None, "link_netnsid": None, "master": None,
     "kind": "tun", "data": {"type": 1, "pi": 1}},
    {"index": 2, "name": "vx0", "ifi_type": 1, "flags": 0x1, "mtu": 1450, "min_mtu": 68, "max_mtu": 65535,
     "operstate": "UNKNOWN", "address": "8a:52:51:0e:fa:49", "link": None, "link_netnsid": None, "master": None,
     "kind": "vxlan", "data": {"id": 42, "group": "198.18.200.2", "local": "198.18.200.1", "link": 8, "port": 4789}},
    {"index": 5, "name": "tap0", "ifi_type": 1, "flags": 0, "mtu": 1500, "min_mtu": 68, "max_mtu": 65535,
     "operstate": "DOWN", "address": "02:00:00:00:00:05", "link": None, "link_netnsid": None, "master": None,
     "kind": "tun", "data": {"type": 2}},
]
ADDRESSES = [
    {"index": 8, "family": "ipv4", "address": "198.18.200.1", "prefixlen": 30, "scope": 0},
    {"index": 8, "family": "ipv6", "address": "fd00:4832::1", "prefixlen": 64, "scope": 0},
    {"index": 4, "family": "ipv4", "address": "198.18.210.1", "prefixlen": 24, "scope": 0},
]
WG_DUMP = (f"{PRIVATE_KEY}\t{PUB_A}\t51820\toff\n"
           f"{PUB_B}\t(none)\t198.18.201.2:51821\t198.18.210.2/32\t1795457917\t568\t1212\t25\n")
ROUTES = {
    ("198.18.201.2", None): {"oif": 8, "gateway": "198.18.200.2", "prefsrc": "198.18.200.1", "mtu": 1400},
    ("198.18.200.2", None): {"oif": 8, "gateway": None, "prefsrc": "198.18.200.1", "mtu": None},
}
CACHE4 = ('[{"dst":"198.18.201.2","gateway":"198.18.200.2","dev":"eth0","flags":[],"cache":[],'
          '"expires":599,"metrics":[{"mtu":1400}]}]')
BINARIES = {"wg": "/usr/bin/wg", "ip": "/usr/sbin/ip", "nft": "/usr/sbin/nft", "iptables": "/usr/sbin/iptables"}
COMMANDS = {
    ("/usr/bin/wg", "show", "interfaces"): (0, "wg0 other-netns-wg\n", ""),
    ("/usr/bin/wg", "show", "wg0", "dump"): (0, WG_DUMP, ""),
    ("/usr/sbin/ip", "-j", "-4", "route", "show", "cache"): (0, CACHE4, ""),
    ("/usr/sbin/ip", "-j", "-6", "route", "show", "cache"): (0, "[]", ""),
    ("/usr/sbin/nft", "list", "tables"): (0, "table ip mangle\n", ""),
    ("/usr/sbin/iptables", "-V"): (0, "iptables v1.8.9 (nf_tables)\n", ""),
}
FILES = {
    "/proc/sys/net/ipv4/ip_forward": "1\n",
    "/proc/sys/net/ipv6/conf/all/forwarding": "0\n",
    "/proc/sys/net/ipv4/tcp_mtu_probing": "1\n",
    "/proc/sys/net/ipv4/route/min_pmtu": "552\n",
    "/proc/net/ip_tables_names": "",
    "/proc/net/ip6_tables_names": "",
    "/etc/wireguard/wg0.conf": f"[Interface]\nPrivateKey = {PRIVATE_KEY}\n",
    "/etc/systemd/network/20-vx0.netdev": "[NetDev]\nName=vx0\nKind=vxlan\n",
}
DIRS = {"/etc/wireguard": ["wg0.conf"], "/etc/systemd/network": ["20-vx0.netdev"]}
SOCKETS = {"/var/run/wireguard/wg0.sock"}


class FakeSystem:
    """Serves fixtures and records every command, route lookup and file read."""

    def __init__(self, module, binaries=None, commands=None, files=None):
        self.module = module
        self.binaries = BINARIES if binaries is None else binaries
        self.commands = COMMANDS if commands is None else commands
        self.files = FILES if files is None else files
        self.ran: list[list[str]] = []
        self.lookups: list[tuple[str, int | None]] = []
        self.read: list[str] = []
        self.closed = False

    def links(self):
        return [dict(link) for link in LINKS]

    def addresses(self):
        return list(ADDRESSES)

    def route_get(self, dst, mark=None):
        self.lookups.append((dst, mark))
        return ROUTES.get((dst, mark))

    def which(self, name):
        return self.binaries.get(name)

    def run(self, argv):
        self.ran.append(list(argv))
        return self.commands.get(tuple(argv), (1, "", f"unexpected command {argv}"))

    def exists(self, path):
        return path in SOCKETS or path in self.files

    def listdir(self, path):
        return DIRS.get(path, [])

    def read_text(self, path):
        self.read.append(path)
        return self.files.get(path)

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    holder = {}

    def factory(module):
        holder["system"] = FakeSystem(module, **holder.get("kwargs", {}))
        return holder["system"]

    monkeypatch.setattr(mtu_facts, "System", factory)
    monkeypatch.setattr(mtu_facts, "require_pyroute2", lambda module: None)
    # Record warnings here: once controller code is imported (other tests), core routes them to Display.
    holder["warnings"] = []
    monkeypatch.setattr(mtu_facts.AnsibleModule, "warn", lambda self, msg, *args, **kwargs: holder["warnings"].append(msg))
    return holder


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mtu_facts.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [False, True])
def test_all_facts(fake, capsys, check_mode):
    result = run_module({"_ansible_check_mode": check_mode}, capsys)
    system = fake["system"]
    assert result["changed"] is False
    assert "failed" not in result
    assert fake["warnings"] == []
    got = result["ansible_facts"]["netpath_mtu_facts"]
    assert sorted(got) == ["firewall", "interfaces", "pmtu_exceptions", "sysctls", "tunnels"]

    interfaces = got["interfaces"]
    assert list(interfaces) == ["lo", "vx0", "wg0", "tap0", "eth0"]
    assert interfaces["wg0"]["kind"] == "wireguard" and interfaces["wg0"]["link_kind"] == "tun"
    assert interfaces["tap0"]["kind"] == "tun"  # no WireGuard socket: an ordinary tap
    assert interfaces["eth0"]["ipv6"] is True and interfaces["wg0"]["ipv6"] is False
    assert (interfaces["wg0"]["manager"], interfaces["wg0"]["manager_files"]) == ("wg-quick", ["/etc/wireguard/wg0.conf"])
    assert interfaces["vx0"]["manager"] == "systemd-networkd"
    assert interfaces["eth0"]["manager"] == "none"

    wg0 = got["tunnels"]["wg0"]
    assert (wg0["implementation"], wg0["overhead"], wg0["underlay_device"], wg0["underlay_mtu"], wg0["max_tunnel_mtu"],
            wg0["mtu_fits_underlay"]) == ("userspace", 60, "eth0", 1400, 1340, False)
    assert wg0["endpoints"][0]["gateway"] == "198.18.200.2"
    vx0 = got["tunnels"]["vx0"]
    assert (vx0["overhead"], vx0["underlay_device"], vx0["max_tunnel_mtu"], vx0["mtu_fits_underlay"], vx0["vni"]) == \
        (50, "eth0", 1450, True, 42)
    assert sorted(got["tunnels"]) == ["vx0", "wg0"]

    assert got["sysctls"]["ipv4_forwarding"] == 1 and got["sysctls"]["tcp_mtu_probing"] == 1
    assert got["sysctls"]["ip_no_pmtu_disc"] is None  # file absent
    assert got["pmtu_exceptions"] == [
        {"dst": "198.18.201.2", "family": "ipv4", "mtu": 1400, "dev": "eth0", "gateway": "198.18.200.2", "expires": 599}]
    assert got["firewall"]["framework"] == "iptables-nft"

    # Exactly these commands, as argv lists; no legacy iptables (no legacy tables loaded), no
    # firewall-cmd or nmcli (not installed).
    assert system.ran == [
        ["/usr/bin/wg", "show", "interfaces"],
        ["/usr/bin/wg", "show", "wg0", "dump"],
        ["/usr/sbin/ip", "-j", "-4", "route", "show", "cache"],
        ["/usr/sbin/ip", "-j", "-6", "route", "show", "cache"],
        ["/usr/sbin/nft", "list", "tables"],
        ["/usr/sbin/iptables", "-V"],
    ]
    assert system.lookups == [("198.18.201.2", None), ("198.18.200.2", None)]
    assert "/etc/wireguard/wg0.conf" not in system.read  # never read a file holding a private key
    assert PRIVATE_KEY not in json.dumps(result)
    assert system.closed


def test_subset_tunnels_only(fake, capsys):
    result = run_module({"gather_subset": ["tunnels"]}, capsys)
    got = result["ansible_facts"]["netpath_mtu_facts"]
    assert sorted(got) == ["interfaces", "tunnels"]
    assert "manager" not in got["interfaces"]["wg0"]
    assert fake["system"].ran == [["/usr/bin/wg", "show", "interfaces"], ["/usr/bin/wg", "show", "wg0", "dump"]]
    assert fake["system"].read == []


def test_without_wg_the_socket_still_identifies_wireguard(fake, capsys):
    fake["kwargs"] = {"binaries": {}}
    result = run_module({"gather_subset": ["tunnels", "pmtu_exceptions"]}, capsys)
    got = result["ansible_facts"]["netpath_mtu_facts"]
    assert got["interfaces"]["wg0"]["kind"] == "wireguard"
    assert got["tunnels"]["wg0"]["peers"] is None
    assert got["tunnels"]["wg0"]["overhead"] == 80  # outer family unknown: worst case
    assert got["pmtu_exceptions"] == []
    warnings = " ".join(fake["warnings"])
    assert "'wg' (wireguard-tools) is not installed" in warnings
    assert "'ip' (iproute2) is not installed" in warnings
    assert fake["system"].ran == []


def test_legacy_iptables_and_text_route_cache(fake, capsys):
    commands = dict(COMMANDS)
    commands[("/usr/sbin/ip", "-j", "-4", "route", "show", "cache")] = (0, "198.18.9.2 dev eth0 \n    cache expires 5sec mtu 1300 \n", "")
    commands[("/usr/sbin/ip", "-4", "route", "show", "cache")] = (0, "198.18.9.2 dev eth0 \n    cache expires 5sec mtu 1300 \n", "")
    commands[("/usr/sbin/iptables-legacy-save",)] = (0, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -j DROP\nCOMMIT\n", "")
    commands[("/usr/sbin/firewall-cmd", "--state")] = (252, "not running\n", "")
    files = dict(FILES)
    files["/proc/net/ip_tables_names"] = "filter\n"
    fake["kwargs"] = {
        "commands": commands, "files": files,
        "binaries": dict(BINARIES, **{"iptables-legacy-save": "/usr/sbin/iptables-legacy-save",
                                      "firewall-cmd": "/usr/sbin/firewall-cmd"}),
    }
    result = run_module({"gather_subset": ["firewall", "pmtu_exceptions"]}, capsys)
    got = result["ansible_facts"]["netpath_mtu_facts"]
    assert got["pmtu_exceptions"] == [
        {"dst": "198.18.9.2", "family": "ipv4", "mtu": 1300, "dev": "eth0", "gateway": None, "expires": 5}]
    assert got["firewall"]["frameworks"] == ["iptables-nft", "iptables-legacy"]
    assert got["firewall"]["iptables_legacy_rules"] == 1
    assert got["firewall"]["firewalld"] is False
    assert ["/usr/sbin/iptables-legacy-save"] in fake["system"].ran


def test_wg_dump_failure_is_a_warning(fake, capsys):
    commands = dict(COMMANDS)
    commands[("/usr/bin/wg", "show", "wg0", "dump")] = (1, "", "Unable to access interface: Permission denied")
    fake["kwargs"] = {"commands": commands}
    result = run_module({"gather_subset": ["tunnels"]}, capsys)
    assert "Permission denied" in " ".join(fake["warnings"])
    assert result["ansible_facts"]["netpath_mtu_facts"]["tunnels"]["wg0"]["endpoints"] == []


def test_bad_subset_fails(fake, capsys):
    result = run_module({"gather_subset": ["everything"]}, capsys)
    assert result["failed"] is True
    assert "gather_subset" in result["msg"]


def _decoded_link(kind: str, data: list[tuple[str, object]]):
    """An ifinfmsg as the kernel would send it: encoded to bytes by pyroute2, then decoded."""
    ifinfmsg = pytest.importorskip("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg
    msg = ifinfmsg()
    msg["index"], msg["ifi_type"], msg["flags"] = 7, 1, 1
    msg["attrs"] = [
        ("IFLA_IFNAME", "t0"), ("IFLA_MTU", 1400), ("IFLA_LINK", 2),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind), ("IFLA_INFO_DATA", {"attrs": data})]}),
    ]
    msg.encode()
    decoded = ifinfmsg(bytes(msg.data))
    decoded.decode()
    return decoded


@pytest.mark.parametrize("kind, data, expected", [
    # GRE_KEY|GRE_CSUM travel as the big-endian bytes 0xa0 0x00; pyroute2 reads gre's right ...
    ("gre", [("IFLA_GRE_OFLAGS", 0xA000), ("IFLA_GRE_REMOTE", "198.18.0.9"), ("IFLA_GRE_LINK", 2)],
     {"oflags": 0xA000, "remote": "198.18.0.9", "link": 2}),
    # ... but ip6gre's as a little-endian uint16 (0x00a0): the seam swaps it back.
    ("ip6gre", [("IFLA_IP6GRE_OFLAGS", 0x00A0), ("IFLA_IP6GRE_REMOTE", "fd00::9"), ("IFLA_IP6GRE_FLAGS", 1)],
     {"oflags": 0xA000, "remote": "fd00::9", "flags": 1}),
    ("vxlan", [("IFLA_VXLAN_ID", 42), ("IFLA_VXLAN_GROUP6", "fd00::2"), ("IFLA_VXLAN_PORT", 4789)],
     {"id": 42, "group6": "fd00::2", "port": 4789}),
])
def test_seam_normalises_linkinfo(kind, data, expected):
    from ansible_collections.netpath.mtu.plugins.module_utils.host.system import link_from_msg

    result = link_from_msg(_decoded_link(kind, data))
    assert (result["name"], result["mtu"], result["kind"], result["link"]) == ("t0", 1400, kind, 2)
    assert {key: result["data"].get(key) for key in expected} == expected


def test_empty_subset_fails(fake, capsys):
    result = run_module({"gather_subset": []}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("gather_subset must name at least one subset")


@pytest.mark.parametrize("subset, expected", [(["all"], ["all"]), (["tunnels", "firewall"], ["tunnels", "firewall"])])
def test_validate_subset_keeps_a_named_subset(subset, expected):
    from ansible_collections.netpath.mtu.plugins.module_utils.host.gather import validate_subset
    assert validate_subset(subset) == expected


@pytest.mark.parametrize("subset", [[], None, ()])
def test_validate_subset_refuses_nothing(subset):
    from ansible_collections.netpath.mtu.plugins.module_utils.host.gather import validate_subset
    with pytest.raises(ValueError, match="^gather_subset must name at least one subset"):
        validate_subset(subset)
