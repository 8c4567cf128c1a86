# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.links import facts

PRIVATE_KEY = "UAvBDBr9zX9/m6PUq3LZ7omjCLFYJTpvw5lE7NNerWw="
PSK = "8Ws0zLz0wY2y0b6mOg2c0f0NqkZ8R3HcZ2y8n0mJb1E="
PUB_A = "G1M+Z7UiwLDIyLAEhosvziPkmCgZhXIczvGI3gDmIjk="
PUB_B = "Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8="
PUB_C = "aMdKL+VIikWJj4/JR1C8O6KaBndGGYu9BftT4xSwoHw="
PUB_D = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

# `wg show h2wg0 dump` from wireguard-go, plus an IPv6 peer with a preshared key and a roaming peer.
WG_DUMP = "\n".join([
    f"{PRIVATE_KEY}\t{PUB_A}\t51820\t0xca6c",
    f"{PUB_B}\t(none)\t198.18.200.2:51821\t198.18.210.2/32,fd00:4833::2/128\t1795457917\t568\t1212\t25",
    f"{PUB_C}\t{PSK}\t[fd00:4834::2]:51822\t198.18.211.2/32\t0\t0\t0\toff",
    f"{PUB_D}\t(none)\t(none)\t(none)\t0\t0\t0\toff",
]) + "\n"


@pytest.mark.parametrize("text, expected", [
    ("198.18.200.2:51821", {"address": "198.18.200.2", "port": 51821, "family": "ipv4"}),
    ("[fd00::2]:51820", {"address": "fd00::2", "port": 51820, "family": "ipv6"}),
    ("[fe80::1%eth0]:51820", {"address": "fe80::1%eth0", "port": 51820, "family": "ipv6"}),
    ("(none)", None),
    ("", None),
    (None, None),
    ("host.example:51820", None),
    ("fd00::2:51820", None),  # unbracketed IPv6 is ambiguous; wg never prints it
])
def test_parse_endpoint(text, expected):
    assert facts.parse_endpoint(text) == expected


def test_parse_wg_dump():
    parsed = facts.parse_wg_dump(WG_DUMP)
    assert parsed["public_key"] == PUB_A
    assert parsed["listen_port"] == 51820
    assert parsed["fwmark"] == 0xCA6C
    assert [p["public_key"] for p in parsed["peers"]] == [PUB_B, PUB_C, PUB_D]
    first, second, third = parsed["peers"]
    assert first == {
        "public_key": PUB_B, "preshared_key": False,
        "endpoint": {"address": "198.18.200.2", "port": 51821, "family": "ipv4"},
        "allowed_ips": ["198.18.210.2/32", "fd00:4833::2/128"],
        "latest_handshake": 1795457917, "rx_bytes": 568, "tx_bytes": 1212, "persistent_keepalive": 25,
    }
    assert second["preshared_key"] is True
    assert second["endpoint"]["family"] == "ipv6"
    assert second["persistent_keepalive"] is None
    assert third["endpoint"] is None and third["allowed_ips"] == []
    # secrets never leave the parser
    dumped = json.dumps(parsed)
    assert PRIVATE_KEY not in dumped and PSK not in dumped


def test_parse_wg_dump_without_fwmark_and_peers():
    parsed = facts.parse_wg_dump(f"{PRIVATE_KEY}\t{PUB_A}\t0\toff\n")
    assert parsed == {"public_key": PUB_A, "listen_port": None, "fwmark": None, "peers": []}


@pytest.mark.parametrize("text", ["", "garbage", "a\tb\n"])
def test_parse_wg_dump_rejects_garbage(text):
    with pytest.raises(ValueError, match="wg show dump"):
        facts.parse_wg_dump(text)


def test_parse_wg_interfaces():
    assert facts.parse_wg_interfaces("h2wg0 h2wg1\th2wg2\n") == ["h2wg0", "h2wg1", "h2wg2"]
    assert facts.parse_wg_interfaces("\n") == []


def link(index, name, kind=None, mtu=1500, **extra):
    base = {
        "index": index, "name": name, "ifi_type": 1, "flags": 0x1, "mtu": mtu, "min_mtu": 68, "max_mtu": 65535,
        "operstate": "UP", "address": "02:00:00:00:00:%02x" % index, "link": None, "link_netnsid": None,
        "master": None, "kind": kind, "data": {},
    }
    base.update(extra)
    return base


@pytest.mark.parametrize("entry, wg, expected", [
    (link(1, "lo", ifi_type=772), [], "loopback"),
    (link(2, "eth0"), [], "ethernet"),
    (link(3, "wg0", "tun", ifi_type=65534), ["wg0"], "wireguard"),
    (link(3, "tun0", "tun", ifi_type=65534), ["wg0"], "tun"),
    (link(4, "wg1", "wireguard", ifi_type=65534), [], "wireguard"),
    (link(5, "gre0", ifi_type=778), [], "gre"),
    (link(6, "ib0", ifi_type=32), [], "infiniband"),
    (link(7, "odd", ifi_type=4242), [], "other"),
    (link(8, "vx0", "vxlan"), [], "vxlan"),
])
def test_interface_kind(entry, wg, expected):
    assert facts.interface_kind(entry, wg) == expected


def test_interface_facts():
    links = [
        link(8, "eth0", "veth", link=7, link_netnsid=1),
        link(1, "lo", ifi_type=772, mtu=65536, min_mtu=0, max_mtu=0, operstate="UNKNOWN"),
        link(4, "wg0", "tun", mtu=1420, ifi_type=65534, address=None, operstate="UNKNOWN"),
        link(9, "eth0.10", "vlan", link=8),
        link(10, "br0", "bridge", flags=0, operstate="DOWN"),
        link(11, "vx0", "vxlan", master=10, mtu=1450),
    ]
    addresses = [
        {"index": 8, "family": "ipv4", "address": "198.18.200.1", "prefixlen": 30, "scope": 0},
        {"index": 8, "family": "ipv6", "address": "fe80::1", "prefixlen": 64, "scope": 253},
        {"index": 4, "family": "ipv4", "address": "198.18.210.1", "prefixlen": 24, "scope": 0},
        {"index": 1, "family": "ipv6", "address": "::1", "prefixlen": 128, "scope": 254},
    ]
    result = facts.interface_facts(links, addresses, ["wg0"])
    assert list(result) == ["lo", "wg0", "eth0", "eth0.10", "br0", "vx0"]  # by index
    assert result["eth0"]["parent"] is None  # veth peer lives in another namespace
    assert result["eth0"]["ipv6"] is True
    assert result["eth0"]["addresses"][1] == {"address": "fe80::1", "prefixlen": 64, "family": "ipv6", "scope": "link"}
    assert result["eth0.10"]["parent"] == "eth0"
    assert result["vx0"]["master"] == "br0"
    assert result["wg0"] == {
        "name": "wg0", "index": 4, "kind": "wireguard", "link_kind": "tun", "mtu": 1420, "min_mtu": 68,
        "max_mtu": 65535, "state": "unknown", "up": True, "mac": None, "parent": None, "master": None,
        "addresses": [{"address": "198.18.210.1", "prefixlen": 24, "family": "ipv4", "scope": "global"}],
        "ipv6": False,
    }
    assert result["lo"]["min_mtu"] is None and result["lo"]["max_mtu"] is None
    assert result["br0"]["up"] is False and result["br0"]["state"] == "down"


def _tunnel(entry, kind, routes, links, wg=None):
    plan = facts.tunnel_plan(entry, kind, wg)
    by_index = {item["index"]: item for item in links}
    return facts.build_tunnel(entry["name"], plan, by_index, routes, entry["mtu"])


UNDERLAY = link(2, "eth0")
SMALL = link(3, "ppp0", mtu=1492)


def test_wireguard_tunnel_takes_the_most_limiting_peer():
    wg_link = link(4, "wg0", "tun", mtu=1420)
    wg = facts.parse_wg_dump(WG_DUMP)
    routes = {
        ("198.18.200.2", 0xCA6C): {"oif": 2, "mtu": 1400, "gateway": None},  # cached PMTU exception
        ("fd00:4834::2", 0xCA6C): {"oif": 3, "mtu": None, "gateway": "fd00::1"},
    }
    result = _tunnel(wg_link, "wireguard", routes, [UNDERLAY, SMALL, wg_link], wg)
    v4, v6 = result["endpoints"]
    assert (v4["underlay_device"], v4["underlay_mtu"], v4["route_mtu"], v4["overhead"], v4["max_tunnel_mtu"]) == \
        ("eth0", 1400, 1400, 60, 1340)
    assert (v6["underlay_device"], v6["underlay_mtu"], v6["overhead"], v6["max_tunnel_mtu"], v6["peer"]) == \
        ("ppp0", 1492, 80, 1412, PUB_C)
    assert result["outer_family"] == "mixed"
    assert result["overhead"] == 80
    assert (result["underlay_device"], result["underlay_mtu"], result["max_tunnel_mtu"]) == ("eth0", 1400, 1340)
    assert result["mtu_fits_underlay"] is False
    assert result["implementation"] == "userspace"
    assert result["fwmark"] == 0xCA6C
    assert PRIVATE_KEY not in json.dumps(result)


def test_wireguard_without_endpoints_assumes_ipv6():
    wg_link = link(4, "wg0", "wireguard", mtu=1420)
    result = _tunnel(wg_link, "wireguard", {}, [wg_link], facts.parse_wg_dump(f"{PRIVATE_KEY}\t{PUB_A}\t51820\toff\n"))
    assert result["implementation"] == "kernel"
    assert (result["outer_family"], result["overhead"], result["max_tunnel_mtu"], result["mtu_fits_underlay"]) == \
        (None, 80, None, None)
    assert facts.route_lookups({"wg0": facts.tunnel_plan(wg_link, "wireguard", None)}) == []


def test_wireguard_unreachable_endpoint():
    wg_link = link(4, "wg0", "tun", mtu=1420)
    wg = facts.parse_wg_dump(f"{PRIVATE_KEY}\t{PUB_A}\t51820\toff\n{PUB_B}\t(none)\t198.18.9.9:1\t0.0.0.0/0\t0\t0\t0\toff\n")
    result = _tunnel(wg_link, "wireguard", {("198.18.9.9", None): None}, [wg_link], wg)
    assert result["endpoints"][0]["underlay_device"] is None
    assert result["max_tunnel_mtu"] is None and result["outer_family"] == "ipv4" and result["overhead"] == 60


@pytest.mark.parametrize("kind, data, routes, mtu, expected", [
    # VXLAN over IPv6 with no lower device: the kernel left it at 1500, 70 bytes too many.
    ("vxlan", {"id": 43, "group6": "fd00:4832::2", "port": 4790}, {("fd00:4832::2", None): {"oif": 2}}, 1500,
     {"outer_family": "ipv6", "overhead": 70, "underlay_device": "eth0", "max_tunnel_mtu": 1430,
      "mtu_fits_underlay": False, "vni": 43, "port": 4790}),
    ("vxlan", {"id": 42, "group": "198.18.200.2", "local": "198.18.200.1", "link": 3, "port": 4789},
     {("198.18.200.2", None): {"oif": 2}}, 1442,
     {"outer_family": "ipv4", "overhead": 50, "underlay_device": "ppp0", "underlay_mtu": 1492, "max_tunnel_mtu": 1442,
      "mtu_fits_underlay": True, "local": "198.18.200.1"}),
    # EVPN-style VXLAN without a remote: the lower device is all there is.
    ("vxlan", {"id": 7, "link": 3, "group": "0.0.0.0"}, {}, 1450,
     {"endpoints": [], "underlay_device": "ppp0", "underlay_mtu": 1492, "max_tunnel_mtu": 1442, "mtu_fits_underlay": False}),
    ("geneve", {"id": 5, "remote6": "fd00::9", "inner_proto_inherit": True}, {("fd00::9", None): {"oif": 2}}, 1444,
     {"overhead": 56, "max_tunnel_mtu": 1444, "overhead_options": {"inner_ethernet": False}}),
    ("gre", {"remote": "198.18.0.9", "oflags": 0x2000 | 0x8000, "okey": 5}, {("198.18.0.9", None): {"oif": 2}}, 1476,
     {"overhead": 32, "max_tunnel_mtu": 1468, "mtu_fits_underlay": False, "okey": 5,
      "overhead_options": {"udp_encap": "none", "key": True, "seq": False, "csum": True}}),
    ("gretap", {"remote": "198.18.0.9", "oflags": 0}, {("198.18.0.9", None): {"oif": 2}}, 1462,
     {"overhead": 38, "max_tunnel_mtu": 1462, "mtu_fits_underlay": True}),
    ("ip6gre", {"remote": "fd00::9", "flags": 0}, {("fd00::9", None): {"oif": 2}}, 1448,
     {"overhead": 52, "max_tunnel_mtu": 1448}),
    ("ip6gretap", {"remote": "fd00::9", "flags": 1, "oflags": 0x2000}, {("fd00::9", None): {"oif": 2}}, 1500,
     {"overhead": 62, "max_tunnel_mtu": 1438}),
    ("ip6tnl", {"remote": "fd00::9", "flags": 0}, {("fd00::9", None): {"oif": 2}}, 1452,
     {"overhead": 48, "max_tunnel_mtu": 1452, "outer_family": "ipv6"}),
    ("ip6tnl", {"remote": "fd00::9", "flags": 1}, {("fd00::9", None): {"oif": 2}}, 1452,
     {"overhead": 40, "max_tunnel_mtu": 1460}),
    ("ipip", {"remote": "198.18.0.9", "encap_type": 1}, {("198.18.0.9", None): {"oif": 2, "mtu": 1400}}, 1480,
     {"overhead": 28, "underlay_mtu": 1400, "max_tunnel_mtu": 1372, "mtu_fits_underlay": False}),
    ("sit", {"remote": "198.18.0.9", "link": 2}, {("198.18.0.9", None): {"oif": 3}}, 1480,
     {"overhead": 20, "underlay_device": "eth0", "max_tunnel_mtu": 1480}),
    # sit without a remote (6to4 / ISATAP style) and no lower device: nothing to judge by.
    ("sit", {"remote": "0.0.0.0"}, {}, 1480,
     {"endpoints": [], "underlay_device": None, "max_tunnel_mtu": None, "mtu_fits_underlay": None, "overhead": 20}),
])
def test_tunnels(kind, data, routes, mtu, expected):
    entry = link(5, "t0", kind, mtu=mtu, data=data)
    result = _tunnel(entry, kind, routes, [UNDERLAY, SMALL, entry])
    assert {key: result[key] for key in expected} == expected
    assert result["kind"] == kind and result["mtu"] == mtu


def test_tunnel_plan_ignores_non_tunnels():
    assert facts.tunnel_plan(link(2, "eth0", "veth"), "veth") is None


def test_route_lookups_are_deduplicated():
    plans = {
        "a": {"endpoints": [{"address": "198.18.0.1"}, {"address": "198.18.0.2"}], "mark": None},
        "b": {"endpoints": [{"address": "198.18.0.1"}], "mark": None},
        "c": {"endpoints": [{"address": "198.18.0.1"}], "mark": 51820},
    }
    assert facts.route_lookups(plans) == [("198.18.0.1", None), ("198.18.0.2", None), ("198.18.0.1", 51820)]


# Real `ip -j route show cache` output (iproute2 6.1).
CACHE4_JSON = ('[{"dst":"198.18.201.2","gateway":"198.18.200.2","dev":"h2-va","flags":[],"cache":[],'
               '"expires":599,"metrics":[{"mtu":1400}]},'
               '{"dst":"198.18.9.1","gateway":"198.18.200.2","dev":"h2-va","flags":[],"cache":["redirected"]}]')
CACHE6_JSON = ('[{"dst":"fd00:4834::2","gateway":"fd00:4832::2","dev":"h2-va","metric":1024,"flags":[],'
               '"expires":599,"metrics":[{"mtu":1400}],"pref":"medium"}]')
CACHE4_TEXT = (  # iproute2 leaves a blank at the end of each line
    "198.18.201.2 via 198.18.200.2 dev h2-va \n"
    "    cache expires 599sec mtu 1400 \n"
    "198.18.202.2 dev h2-vc \n"
    "    cache expires 12sec mtu lock 552 \n"
    "198.18.9.1 via 198.18.200.2 dev h2-va \n"
    "    cache <redirected> \n"
)
CACHE6_TEXT = "fd00:4834::2 via fd00:4832::2 dev h2-va metric 1024 expires 600sec mtu 1400 pref medium\n"


@pytest.mark.parametrize("parser, text, family, expected", [
    (facts.parse_route_cache_json, CACHE4_JSON, "ipv4",
     [{"dst": "198.18.201.2", "family": "ipv4", "mtu": 1400, "dev": "h2-va", "gateway": "198.18.200.2", "expires": 599}]),
    (facts.parse_route_cache_json, CACHE6_JSON, "ipv6",
     [{"dst": "fd00:4834::2", "family": "ipv6", "mtu": 1400, "dev": "h2-va", "gateway": "fd00:4832::2", "expires": 599}]),
    (facts.parse_route_cache_json, "[]", "ipv6", []),
    (facts.parse_route_cache_text, CACHE4_TEXT, "ipv4",
     [{"dst": "198.18.201.2", "family": "ipv4", "mtu": 1400, "dev": "h2-va", "gateway": "198.18.200.2", "expires": 599},
      {"dst": "198.18.202.2", "family": "ipv4", "mtu": 552, "dev": "h2-vc", "gateway": None, "expires": 12}]),
    (facts.parse_route_cache_text, CACHE6_TEXT, "ipv6",
     [{"dst": "fd00:4834::2", "family": "ipv6", "mtu": 1400, "dev": "h2-va", "gateway": "fd00:4832::2", "expires": 600}]),
    (facts.parse_route_cache_text, "", "ipv4", []),
])
def test_route_cache(parser, text, family, expected):
    assert parser(text, family) == expected


def test_route_cache_json_rejects_text():
    with pytest.raises(ValueError):
        facts.parse_route_cache_json(CACHE4_TEXT, "ipv4")


def test_sysctl_facts():
    raw = {"ipv4_forwarding": "1\n", "ipv6_forwarding": "0\n", "tcp_mtu_probing": "2\n", "min_pmtu": "552\n",
           "tcp_mtu_probe_floor": None, "ip_no_pmtu_disc": "garbage"}
    result = facts.sysctl_facts(raw)
    assert set(result) == set(facts.SYSCTLS)
    assert (result["ipv4_forwarding"], result["ipv6_forwarding"], result["tcp_mtu_probing"], result["min_pmtu"]) == (1, 0, 2, 552)
    assert result["tcp_mtu_probe_floor"] is None and result["ip_no_pmtu_disc"] is None and result["tcp_base_mss"] is None


LEGACY_SAVE = """# Generated by iptables-save v1.8.9 on Mon Nov 23 18:16:40 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p icmp -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""
EMPTY_SAVE = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


@pytest.mark.parametrize("kwargs, expected", [
    ({}, {"framework": "none", "frameworks": [], "firewalld": False, "nft_tables": [], "iptables_variant": None,
          "iptables_legacy_rules": 0}),
    ({"nft_tables": "table ip mangle\n", "iptables_version": "iptables v1.8.9 (nf_tables)\n"},
     {"framework": "iptables-nft", "frameworks": ["iptables-nft"], "nft_tables": ["ip mangle"], "iptables_variant": "nf_tables"}),
    ({"nft_tables": "table ip mangle\ntable inet filter\n"},
     {"framework": "nftables", "frameworks": ["nftables", "iptables-nft"]}),
    ({"nft_tables": "table ip6 nat\ntable bridge filter\n"}, {"framework": "iptables-nft"}),
    ({"nft_tables": "table ip myfilter\n"}, {"framework": "nftables"}),
    ({"firewalld_state": "running\n", "nft_tables": "table inet firewalld\n"},
     {"framework": "firewalld", "frameworks": ["firewalld"], "firewalld": True}),
    ({"firewalld_state": "not running\n", "nft_tables": "table inet filter\n"}, {"framework": "nftables", "firewalld": False}),
    ({"nft_tables": "table inet firewalld\n"}, {"framework": "firewalld"}),  # firewall-cmd missing, its table is not
    ({"legacy_save": LEGACY_SAVE, "iptables_version": "iptables v1.8.9 (legacy)"},
     {"framework": "iptables-legacy", "iptables_legacy_rules": 3, "iptables_variant": "legacy"}),
    ({"legacy_save": EMPTY_SAVE, "iptables_version": "iptables v1.4.21"},
     {"framework": "none", "iptables_legacy_rules": 0, "iptables_variant": "legacy"}),
    ({"legacy_save": LEGACY_SAVE, "nft_tables": "table inet filter\n"},
     {"framework": "nftables", "frameworks": ["nftables", "iptables-legacy"]}),
])
def test_firewall_facts(kwargs, expected):
    args = {"firewalld_state": None, "nft_tables": None, "iptables_version": None, "legacy_save": None}
    args.update(kwargs)
    result = facts.firewall_facts(**args)
    assert {key: result[key] for key in expected} == expected


def test_parse_nmcli_devices():
    text = "eth0:connected:Wired connection 1\nwg0:connected (externally):wg0\nlo:unmanaged:\nvx0:disconnected:a\\:b\n"
    assert facts.parse_nmcli_devices(text) == {
        "eth0": {"state": "connected", "connection": "Wired connection 1"},
        "wg0": {"state": "connected (externally)", "connection": "wg0"},
        "lo": {"state": "unmanaged", "connection": ""},
        "vx0": {"state": "disconnected", "connection": "a:b"},
    }


NETPLAN = """# written by cloud-init
network:
  version: 2
  ethernets:
    ens3:
      dhcp4: true
      mtu: 9000
    lan:
      match: {macaddress: "52:54:00:12:34:56"}
      set-name: "ens4"
  tunnels:
    "wg-site":   # quoted key
      mode: wireguard
"""
NETWORKD_GLOB = "# uplinks\n[Match]\nName=eth[0-1] eno*\n\n[Network]\nDHCP=yes\n"
NETWORKD_MAC = "[Match]\nMACAddress=52:54:00:00:00:01\n[Link]\nMTUBytes=1400\n"
NETDEV = "[NetDev]\nName=vx0\nKind=vxlan\n[VXLAN]\nVNI=42\n"
IFUPDOWN = "auto lo\niface lo inet loopback\n\n# uplink\nauto eth1\niface eth1 inet static\n    mtu 1400\n"
IFCFG = 'TYPE=Ethernet\nDEVICE="ens5"\nMTU=1500\n'
KEYFILE = "[connection]\nid=Wired\ntype=ethernet\ninterface-name=ens6\n"

FILES = {
    "/etc/netplan/50-cloud-init.yaml": NETPLAN,
    "/etc/netplan/README": "ens9:\n",
    "/etc/wireguard/wg0.conf": "",
    "/etc/wireguard/wg-site.conf": "",
    "/etc/systemd/network/10-uplink.network": NETWORKD_GLOB,
    "/etc/systemd/network/30-mac.network": NETWORKD_MAC,
    "/etc/systemd/network/40-vx0.netdev": NETDEV,
    "/etc/network/interfaces": IFUPDOWN,
    "/etc/network/interfaces.d/eth2": "iface eth2 inet6 auto\n",
    "/etc/sysconfig/network-scripts/ifcfg-uplink": IFCFG,
    "/etc/sysconfig/network-scripts/ifcfg-ens7": "BOOTPROTO=dhcp\n",
    "/etc/NetworkManager/system-connections/Wired.nmconnection": KEYFILE,
}
NM_DEVICES = {
    "ens10": {"state": "connected", "connection": "Wired connection 2"},
    "wg0": {"state": "connected (externally)", "connection": "wg0"},
    "lo": {"state": "unmanaged", "connection": ""},
}
NETPLAN_FILE = ["/etc/netplan/50-cloud-init.yaml"]
UPLINK = ["/etc/systemd/network/10-uplink.network"]


@pytest.mark.parametrize("name, manager, files, managers", [
    ("ens3", "netplan", NETPLAN_FILE, ["netplan"]),
    ("ens4", "netplan", NETPLAN_FILE, ["netplan"]),  # set-name
    ("wg-site", "netplan", NETPLAN_FILE, ["netplan", "wg-quick"]),  # netplan generates the rest
    ("wg0", "wg-quick", ["/etc/wireguard/wg0.conf"], ["wg-quick"]),  # NM only watches it
    ("eth1", "systemd-networkd", UPLINK, ["systemd-networkd", "ifupdown"]),
    ("eno1", "systemd-networkd", UPLINK, ["systemd-networkd"]),
    ("vx0", "systemd-networkd", ["/etc/systemd/network/40-vx0.netdev"], ["systemd-networkd"]),
    ("ens10", "NetworkManager", [], ["NetworkManager"]),
    ("ens6", "NetworkManager", ["/etc/NetworkManager/system-connections/Wired.nmconnection"], ["NetworkManager"]),
    ("eth2", "ifupdown", ["/etc/network/interfaces.d/eth2"], ["ifupdown"]),
    ("lo", "ifupdown", ["/etc/network/interfaces"], ["ifupdown"]),
    ("ens5", "ifcfg", ["/etc/sysconfig/network-scripts/ifcfg-uplink"], ["ifcfg"]),
    ("ens7", "ifcfg", ["/etc/sysconfig/network-scripts/ifcfg-ens7"], ["ifcfg"]),
    ("eth9", "none", [], []),
    ("ens9", "none", [], []),  # only a README mentions it
    ("eth", "none", [], []),  # no prefix matches
])
def test_network_managers(name, manager, files, managers):
    result = facts.network_managers([name], FILES, NM_DEVICES)[name]
    assert result == {"manager": manager, "manager_files": files, "managers": managers}


@pytest.mark.parametrize("text, name, expected", [
    ("[Match]\nName=!eth9\n", "eth9", "none"),
    ("[Match]\nName=!eth9\n", "eth1", "systemd-networkd"),
    ("[Match]\nName=eth0\nName=\nName=eth5\n", "eth0", "none"),  # an empty assignment resets the list
    ("[Match]\nName=eth0\nName=\nName=eth5\n", "eth5", "systemd-networkd"),
    ("; comment\n[Match]\n# Name=eth3\nName=eth4\n", "eth3", "none"),
    ("[Link]\nName=eth3\n", "eth3", "none"),
])
def test_networkd_match_rules(text, name, expected):
    result = facts.network_managers([name], {"/etc/systemd/network/50-x.network": text})
    assert result[name]["manager"] == expected
