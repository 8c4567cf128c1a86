# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Probe plan: which paths an audit probes. Fixtures are shaped like real mtu_facts output.

``REAL_GW_A`` is mtu_facts as captured on gw-a of the ``seed`` lab; the builders below make facts of
the same shape (a test checks that), and ``SEED_FACTS`` is the whole seed lab built with them.
test_findings.py and test_report.py reuse these fixtures.
"""

from __future__ import annotations

import copy
import random

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import probe_plan

# mtu_facts on gw-a of the seed lab (netpath_mtu_lab_name=seed), as the module returned it.
REAL_GW_A = (
    {'firewall': {'firewalld': False,
                  'framework': 'nftables',
                  'frameworks': ['nftables'],
                  'iptables_legacy_rules': 0,
                  'iptables_variant': 'nf_tables',
                  'nft_tables': ['inet filter']},
     'interfaces': {'eth0': {'addresses': [{'address': '198.18.0.2',
                                            'family': 'ipv4',
                                            'prefixlen': 24,
                                            'scope': 'global'},
                                           {'address': 'fd00:198:18::2',
                                            'family': 'ipv6',
                                            'prefixlen': 64,
                                            'scope': 'global'},
                                           {'address': 'fe80::8eb:67ff:fe8d:1940',
                                            'family': 'ipv6',
                                            'prefixlen': 64,
                                            'scope': 'link'}],
                             'index': 3,
                             'ipv6': True,
                             'kind': 'veth',
                             'link_kind': 'veth',
                             'mac': '0a:eb:67:8d:19:40',
                             'manager': 'none',
                             'manager_files': [],
                             'managers': [],
                             'master': None,
                             'max_mtu': 65535,
                             'min_mtu': 68,
                             'mtu': 1500,
                             'name': 'eth0',
                             'parent': None,
                             'state': 'up',
                             'up': True},
                    'eth1': {'addresses': [{'address': '198.18.1.1',
                                            'family': 'ipv4',
                                            'prefixlen': 24,
                                            'scope': 'global'},
                                           {'address': 'fd00:198:18:1::1',
                                            'family': 'ipv6',
                                            'prefixlen': 64,
                                            'scope': 'global'},
                                           {'address': 'fe80::6801:2bff:fe43:6fc9',
                                            'family': 'ipv6',
                                            'prefixlen': 64,
                                            'scope': 'link'}],
                             'index': 4,
                             'ipv6': True,
                             'kind': 'veth',
                             'link_kind': 'veth',
                             'mac': '6a:01:2b:43:6f:c9',
                             'manager': 'none',
                             'manager_files': [],
                             'managers': [],
                             'master': None,
                             'max_mtu': 65535,
                             'min_mtu': 68,
                             'mtu': 1500,
                             'name': 'eth1',
                             'parent': None,
                             'state': 'up',
                             'up': True},
                    'lo': {'addresses': [{'address': '127.0.0.1', 'family': 'ipv4', 'prefixlen': 8, 'scope': 'host'},
                                         {'address': '::1', 'family': 'ipv6', 'prefixlen': 128, 'scope': 'host'}],
                           'index': 1,
                           'ipv6': True,
                           'kind': 'loopback',
                           'link_kind': None,
                           'mac': '00:00:00:00:00:00',
                           'manager': 'none',
                           'manager_files': [],
                           'managers': [],
                           'master': None,
                           'max_mtu': None,
                           'min_mtu': None,
                           'mtu': 65536,
                           'name': 'lo',
                           'parent': None,
                           'state': 'unknown',
                           'up': True},
                    'mgmt0': {'addresses': [{'address': '198.19.200.3',
                                             'family': 'ipv4',
                                             'prefixlen': 24,
                                             'scope': 'global'},
                                            {'address': 'fe80::8ba:8fff:fec8:3190',
                                             'family': 'ipv6',
                                             'prefixlen': 64,
                                             'scope': 'link'}],
                              'index': 2,
                              'ipv6': True,
                              'kind': 'veth',
                              'link_kind': 'veth',
                              'mac': '0a:ba:8f:c8:31:90',
                              'manager': 'none',
                              'manager_files': [],
                              'managers': [],
                              'master': None,
                              'max_mtu': 65535,
                              'min_mtu': 68,
                              'mtu': 1500,
                              'name': 'mgmt0',
                              'parent': None,
                              'state': 'up',
                              'up': True},
                    'seed-wg0a': {'addresses': [{'address': '198.19.0.1',
                                                 'family': 'ipv4',
                                                 'prefixlen': 24,
                                                 'scope': 'global'},
                                                {'address': 'fd00:198:19::1',
                                                 'family': 'ipv6',
                                                 'prefixlen': 64,
                                                 'scope': 'global'},
                                                {'address': 'fe80::c6e6:16cf:478:fa09',
                                                 'family': 'ipv6',
                                                 'prefixlen': 64,
                                                 'scope': 'link'}],
                                  'index': 5,
                                  'ipv6': True,
                                  'kind': 'wireguard',
                                  'link_kind': 'tun',
                                  'mac': None,
                                  'manager': 'wg-quick',
                                  'manager_files': ['/etc/wireguard/seed-wg0a.conf'],
                                  'managers': ['wg-quick'],
                                  'master': None,
                                  'max_mtu': 65535,
                                  'min_mtu': 68,
                                  'mtu': 1420,
                                  'name': 'seed-wg0a',
                                  'parent': None,
                                  'state': 'unknown',
                                  'up': True}},
     'pmtu_exceptions': [],
     'sysctls': {'ip_forward_use_pmtu': 0,
                 'ip_no_pmtu_disc': 0,
                 'ipv4_forwarding': 1,
                 'ipv4_mtu_expires': 600,
                 'ipv6_forwarding': 1,
                 'ipv6_mtu_expires': 600,
                 'min_pmtu': 552,
                 'tcp_base_mss': 1024,
                 'tcp_mtu_probe_floor': 48,
                 'tcp_mtu_probing': 0},
     'tunnels': {'seed-wg0a': {'endpoints': [{'address': '198.18.2.2',
                                              'family': 'ipv4',
                                              'gateway': '198.18.1.2',
                                              'max_tunnel_mtu': 1440,
                                              'overhead': 60,
                                              'peer': '81YvEeJ5CtL/HK1UFRGDB9wD3dIeUHqCtbSIsUpUVXA=',
                                              'port': 51820,
                                              'route_mtu': None,
                                              'underlay_device': 'eth1',
                                              'underlay_device_mtu': 1500,
                                              'underlay_mtu': 1500}],
                               'fwmark': None,
                               'implementation': 'userspace',
                               'kind': 'wireguard',
                               'listen_port': 51820,
                               'local': None,
                               'max_tunnel_mtu': 1440,
                               'mtu': 1420,
                               'mtu_fits_underlay': True,
                               'name': 'seed-wg0a',
                               'outer_family': 'ipv4',
                               'overhead': 60,
                               'overhead_options': {},
                               'peers': [{'allowed_ips': ['198.19.0.2/32',
                                                          'fd00:198:19::2/128',
                                                          '198.18.3.0/24',
                                                          'fd00:198:18:3::/64'],
                                          'endpoint': {'address': '198.18.2.2', 'family': 'ipv4', 'port': 51820},
                                          'latest_handshake': 0,
                                          'persistent_keepalive': None,
                                          'preshared_key': False,
                                          'public_key': '81YvEeJ5CtL/HK1UFRGDB9wD3dIeUHqCtbSIsUpUVXA=',
                                          'rx_bytes': 0,
                                          'tx_bytes': 0}],
                               'public_key': '3hEoMsh+cWp6Uop+hFWu5HiahHs2cb2bCzL1in0ZjXs=',
                               'underlay_device': 'eth1',
                               'underlay_mtu': 1500}}}
)


# --- builders: facts of the same shape as mtu_facts returns ----------------------------------------

def addr(address: str, prefixlen: int | None = None, scope: str = "global") -> dict:
    family = "ipv6" if ":" in address else "ipv4"
    return {"address": address, "family": family, "prefixlen": prefixlen or (64 if family == "ipv6" else 24),
            "scope": scope}


def iface(name: str, mtu: int = 1500, addresses: tuple = (), kind: str = "veth", index: int = 2,
          manager: str = "none") -> dict:
    link_kind = {"wireguard": "tun", "ethernet": None, "loopback": None}.get(kind, kind)
    return {
        "addresses": [addr(a) if isinstance(a, str) else a for a in addresses],
        "index": index, "ipv6": kind == "loopback" or any(":" in (a if isinstance(a, str) else a["address"]) for a in addresses),
        "kind": kind, "link_kind": link_kind, "mac": None if kind in ("wireguard", "loopback") else "0a:00:00:00:00:01",
        "manager": manager, "manager_files": [f"/etc/wireguard/{name}.conf"] if manager == "wg-quick" else [],
        "managers": [] if manager == "none" else [manager], "master": None,
        "max_mtu": None if kind == "loopback" else 65535, "min_mtu": None if kind == "loopback" else 68,
        "mtu": mtu, "name": name, "parent": None, "state": "unknown" if kind in ("wireguard", "loopback") else "up",
        "up": True,
    }


def loopback() -> dict:
    return iface("lo", 65536, [addr("127.0.0.1", 8, "host"), addr("::1", 128, "host")], kind="loopback", index=1)


def endpoint(address: str, underlay_device: str, underlay_mtu: int, overhead: int, peer: str | None = None,
             port: int | None = 51820, gateway: str | None = None, route_mtu: int | None = None) -> dict:
    result = {
        "address": address, "family": "ipv6" if ":" in address else "ipv4", "gateway": gateway,
        "max_tunnel_mtu": underlay_mtu - overhead, "overhead": overhead, "port": port, "route_mtu": route_mtu,
        "underlay_device": underlay_device, "underlay_device_mtu": underlay_mtu, "underlay_mtu": underlay_mtu,
    }
    if peer is not None:
        result["peer"] = peer
    return result


def wireguard(name: str, mtu: int, endpoints: list, allowed_ips: list, underlay_device: str = "eth1",
              underlay_mtu: int = 1500, outer_family: str = "ipv4") -> dict:
    overhead = 60 if outer_family == "ipv4" else 80
    peers = []
    for n, (end, allowed) in enumerate(zip(endpoints, allowed_ips)):
        peers.append({
            "allowed_ips": allowed,
            "endpoint": {"address": end["address"], "family": end["family"], "port": end["port"]} if end else None,
            "latest_handshake": 0, "persistent_keepalive": None, "preshared_key": False,
            "public_key": end["peer"] if end else f"peer{n}key=", "rx_bytes": 0, "tx_bytes": 0,
        })
    ends = [e for e in endpoints if e]
    best = min((e["max_tunnel_mtu"] for e in ends), default=None)
    return {
        "endpoints": ends, "fwmark": None, "implementation": "userspace", "kind": "wireguard", "listen_port": 51820,
        "local": None, "max_tunnel_mtu": best, "mtu": mtu, "mtu_fits_underlay": None if best is None else mtu <= best,
        "name": name, "outer_family": outer_family if ends else None, "overhead": overhead, "overhead_options": {},
        "peers": peers, "public_key": f"{name}pub=", "underlay_device": underlay_device if ends else None,
        "underlay_mtu": underlay_mtu if ends else None,
    }


def vxlan(name: str, mtu: int, remote: str, underlay_device: str, underlay_mtu: int, local: str | None = None) -> dict:
    family = "ipv6" if ":" in remote else "ipv4"
    overhead = 50 if family == "ipv4" else 70
    end = endpoint(remote, underlay_device, underlay_mtu, overhead, port=4789)
    return {
        "endpoints": [end], "kind": "vxlan", "local": local, "max_tunnel_mtu": end["max_tunnel_mtu"], "mtu": mtu,
        "mtu_fits_underlay": mtu <= end["max_tunnel_mtu"], "name": name, "outer_family": family, "overhead": overhead,
        "overhead_options": {}, "port": 4789, "underlay_device": underlay_device, "underlay_mtu": underlay_mtu,
        "vni": 100,
    }


def host_facts(interfaces: list, tunnels: tuple = (), forwarding: int = 0, tcp_mtu_probing: int = 0,
               ip_no_pmtu_disc: int = 0, firewall: dict | None = None) -> dict:
    return {
        "firewall": firewall or {"firewalld": False, "framework": "nftables", "frameworks": ["nftables"],
                                 "iptables_legacy_rules": 0, "iptables_variant": "nf_tables",
                                 "nft_tables": ["inet filter"]},
        "interfaces": {i["name"]: i for i in [loopback()] + list(interfaces)},
        "pmtu_exceptions": [],
        "sysctls": {"ip_forward_use_pmtu": 0, "ip_no_pmtu_disc": ip_no_pmtu_disc, "ipv4_forwarding": forwarding,
                    "ipv4_mtu_expires": 600, "ipv6_forwarding": forwarding, "ipv6_mtu_expires": 600, "min_pmtu": 552,
                    "tcp_base_mss": 1024, "tcp_mtu_probe_floor": 48, "tcp_mtu_probing": tcp_mtu_probing},
        "tunnels": {t["name"]: t for t in tunnels},
    }


def mgmt(n: int) -> dict:
    return iface("mgmt0", 1500, [f"198.19.200.{n}", addr(f"fe80::{n}", 64, "link")], index=2)


# --- the seed lab -------------------------------------------------------------------------------
#   client-a --lan-a (198.18.0.0/24)-- gw-a --wan-a (.1)-- rtr --wan-b (.2, MTU 1400)-- gw-b --lan-b (.3)-- server-b
#   WireGuard seed-wg0a (198.19.0.1) <-> seed-wg0b (198.19.0.2), MTU 1420, endpoints 198.18.1.1 / 198.18.2.2

def seed_facts() -> dict:
    wg_a = wireguard("seed-wg0a", 1420,
                     [endpoint("198.18.2.2", "eth1", 1500, 60, peer="gw-b-key=", gateway="198.18.1.2")],
                     [["198.19.0.2/32", "fd00:198:19::2/128", "198.18.3.0/24", "fd00:198:18:3::/64"]])
    wg_b = wireguard("seed-wg0b", 1420,
                     [endpoint("198.18.1.1", "eth0", 1400, 60, peer="gw-a-key=", gateway="198.18.2.1")],
                     [["198.19.0.1/32", "fd00:198:19::1/128", "198.18.0.0/24", "fd00:198:18::/64"]],
                     underlay_device="eth0", underlay_mtu=1400)
    return {
        "client-a": host_facts([mgmt(2), iface("eth0", 1500, ["198.18.0.1", "fd00:198:18::1"], index=3)]),
        "gw-a": host_facts([mgmt(3), iface("eth0", 1500, ["198.18.0.2", "fd00:198:18::2"], index=3),
                            iface("eth1", 1500, ["198.18.1.1", "fd00:198:18:1::1"], index=4),
                            iface("seed-wg0a", 1420, ["198.19.0.1", "fd00:198:19::1"], kind="wireguard", index=5,
                                  manager="wg-quick")],
                           [wg_a], forwarding=1),
        "rtr": host_facts([mgmt(4), iface("eth0", 1500, ["198.18.1.2", "fd00:198:18:1::2"], index=3),
                           iface("eth1", 1400, ["198.18.2.1", "fd00:198:18:2::1"], index=4)], forwarding=1),
        "gw-b": host_facts([mgmt(5), iface("eth0", 1400, ["198.18.2.2", "fd00:198:18:2::2"], index=3),
                            iface("eth1", 1500, ["198.18.3.1", "fd00:198:18:3::1"], index=4),
                            iface("seed-wg0b", 1420, ["198.19.0.2", "fd00:198:19::2"], kind="wireguard", index=5,
                                  manager="wg-quick")],
                           [wg_b], forwarding=1),
        "server-b": host_facts([mgmt(6), iface("eth0", 1500, ["198.18.3.2", "fd00:198:18:3::2"], index=3)]),
    }


# The lab inventory's netpath_mtu_lab_address4/6 of each host (its first underlay address).
SEED_INVENTORY = {
    "client-a": ["198.18.0.1", "fd00:198:18::1"],
    "gw-a": ["198.18.0.2", "fd00:198:18::2"],
    "rtr": ["198.18.1.2", "fd00:198:18:1::2"],
    "gw-b": ["198.18.2.2", "fd00:198:18:2::2"],
    "server-b": ["198.18.3.2", "fd00:198:18:3::2"],
}
SEED_FACTS = seed_facts()


def keys(value):
    """The key structure of nested dicts and lists, for comparing shapes."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = []
        for item in value:
            shape = keys(item)
            if shape not in shapes:
                shapes.append(shape)
        return shapes
    return None


def rows(plan_entries: list) -> list:
    return [(e["target"], e["peer"], tuple(e["roles"]), tuple(e["tunnels"])) for e in plan_entries]


# --- tests ----------------------------------------------------------------------------------------

def test_builders_match_real_mtu_facts():
    real = REAL_GW_A
    built = SEED_FACTS["gw-a"]
    assert keys(built["sysctls"]) == keys(real["sysctls"])
    assert keys(built["firewall"]) == keys(real["firewall"])
    for name in real["interfaces"]:
        assert keys(built["interfaces"][name]) == keys(real["interfaces"][name]), name
    assert keys(built["tunnels"]) == keys(real["tunnels"])
    assert set(built) == set(real)


def test_plan_from_real_facts_alone():
    """gw-a's own facts are enough for its underlay and in-tunnel targets."""
    plan = probe_plan.plan({"gw-a": REAL_GW_A})
    assert rows(plan["gw-a"]) == [
        ("198.18.2.2", None, ("underlay",), ("seed-wg0a",)),
        ("198.19.0.2", None, ("tunnel",), ("seed-wg0a",)),
        ("fd00:198:19::2", None, ("tunnel",), ("seed-wg0a",)),
    ]


SEED_PLAN = {
    "client-a": [
        ("198.18.0.2", "gw-a", ("host",), ()),
        ("fd00:198:18::2", "gw-a", ("host",), ()),
        ("198.18.2.2", "gw-b", ("host",), ()),
        ("fd00:198:18:2::2", "gw-b", ("host",), ()),
        ("198.18.1.2", "rtr", ("host",), ()),
        ("fd00:198:18:1::2", "rtr", ("host",), ()),
        ("198.18.3.2", "server-b", ("host",), ()),
        ("fd00:198:18:3::2", "server-b", ("host",), ()),
    ],
    "gw-a": [
        ("198.18.2.2", "gw-b", ("underlay", "host"), ("seed-wg0a",)),
        ("198.19.0.2", "gw-b", ("tunnel",), ("seed-wg0a",)),
        ("fd00:198:19::2", "gw-b", ("tunnel",), ("seed-wg0a",)),
        ("198.18.0.1", "client-a", ("host",), ()),
        ("fd00:198:18::1", "client-a", ("host",), ()),
        ("fd00:198:18:2::2", "gw-b", ("host",), ()),
        ("198.18.1.2", "rtr", ("host",), ()),
        ("fd00:198:18:1::2", "rtr", ("host",), ()),
        ("198.18.3.2", "server-b", ("host",), ()),
        ("fd00:198:18:3::2", "server-b", ("host",), ()),
    ],
    "gw-b": [
        ("198.18.1.1", "gw-a", ("underlay",), ("seed-wg0b",)),
        ("198.19.0.1", "gw-a", ("tunnel",), ("seed-wg0b",)),
        ("fd00:198:19::1", "gw-a", ("tunnel",), ("seed-wg0b",)),
        ("198.18.0.1", "client-a", ("host",), ()),
        ("fd00:198:18::1", "client-a", ("host",), ()),
        ("198.18.0.2", "gw-a", ("host",), ()),
        ("fd00:198:18::2", "gw-a", ("host",), ()),
        ("198.18.1.2", "rtr", ("host",), ()),
        ("fd00:198:18:1::2", "rtr", ("host",), ()),
        ("198.18.3.2", "server-b", ("host",), ()),
        ("fd00:198:18:3::2", "server-b", ("host",), ()),
    ],
}


@pytest.mark.parametrize("source", sorted(SEED_PLAN))
def test_seed_plan(source):
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY)
    assert sorted(plan) == sorted(SEED_FACTS)
    assert rows(plan[source]) == SEED_PLAN[source]


def test_plan_is_deterministic_and_does_not_change_its_input():
    before = copy.deepcopy(SEED_FACTS)
    first = probe_plan.plan(SEED_FACTS, SEED_INVENTORY)
    names = list(SEED_FACTS)
    random.Random(7).shuffle(names)
    shuffled = {name: SEED_FACTS[name] for name in names}
    inventory = {name: list(reversed(SEED_INVENTORY[name])) for name in reversed(list(SEED_INVENTORY))}
    second = probe_plan.plan(shuffled, inventory)
    assert [rows(first[h]) for h in sorted(first)] == [rows(second[h]) for h in sorted(second)]
    assert SEED_FACTS == before


# (options, source, targets expected) - narrowing and filtering
NARROWING = [
    ({"tunnels_only": True}, "gw-a", ["198.18.2.2", "198.19.0.2", "fd00:198:19::2"]),
    ({"tunnels_only": True}, "client-a", []),
    ({"families": ["ipv4"], "tunnels_only": True}, "gw-b", ["198.18.1.1", "198.19.0.1"]),
    ({"families": ["ipv6"], "host_paths": ["client-a", "rtr"]}, "client-a", ["fd00:198:18:1::2"]),
    ({"host_paths": ["client-a", "rtr"]}, "gw-a", ["198.18.2.2", "198.19.0.2", "fd00:198:19::2"]),
    ({"host_paths": ["client-a", "rtr"]}, "rtr", ["198.18.0.1", "fd00:198:18::1"]),
    ({"sources": ["rtr"], "host_paths": ["rtr", "server-b"]}, "rtr", ["198.18.3.2", "fd00:198:18:3::2"]),
    ({"extra_targets": {"rtr": ["198.51.100.7", "backend.internal"]}, "tunnels_only": True}, "rtr",
     ["198.51.100.7", "backend.internal"]),
]


@pytest.mark.parametrize("options, source, expected", NARROWING)
def test_narrowing(options, source, expected):
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, **options)
    assert [e["target"] for e in plan[source]] == expected
    if "sources" in options:
        assert sorted(plan) == sorted(options["sources"])


# Targets that must never be probed, whatever the inventory says.
NEVER = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("fe80::1", "link-local needs a zone"),
    ("fe80::1%eth0", "link-local with a zone"),
    ("169.254.1.1", "IPv4 link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "IPv6 multicast"),
    ("0.0.0.0", "unspecified"),
    ("localhost", "a name for this host"),
    ("198.18.0.1", "the source's own address"),
    ("198.19.200.2", "the source's management address"),
    ("", "empty"),
    ("two words", "not a name"),
]


@pytest.mark.parametrize("target, why", NEVER)
def test_never_probed(target, why):
    plan = probe_plan.plan(SEED_FACTS, {"other": [target]}, host_paths=["client-a", "other"],
                           extra_targets={"client-a": [target]})
    assert plan["client-a"] == [], why


def test_names_are_probed_in_any_family_and_named_after_their_host():
    plan = probe_plan.plan({"client-a": SEED_FACTS["client-a"]}, {"web": ["web.example.internal"]},
                           families=["ipv6"], host_paths=["client-a", "web"])
    assert plan["client-a"] == [{"target": "web.example.internal", "family": None, "peer": "web",
                                 "roles": ["host"], "tunnels": [], "port": None}]


def test_slice_without_peer_facts_names_tunnel_peers_from_the_endpoint():
    """AWX job slicing: only gw-a's facts; the other hosts are known from the inventory only."""
    plan = probe_plan.plan({"gw-a": SEED_FACTS["gw-a"]}, SEED_INVENTORY, tunnels_only=True)
    assert rows(plan["gw-a"]) == [
        ("198.18.2.2", "gw-b", ("underlay",), ("seed-wg0a",)),
        ("198.19.0.2", "gw-b", ("tunnel",), ("seed-wg0a",)),
        ("fd00:198:19::2", "gw-b", ("tunnel",), ("seed-wg0a",)),
    ]


def test_allowed_ips_outside_the_tunnel_subnet_are_not_tunnel_targets():
    """198.18.3.0/24 and a /32 of a remote server are routed through the tunnel, but are not the peer."""
    facts = copy.deepcopy(SEED_FACTS["gw-a"])
    facts["tunnels"]["seed-wg0a"]["peers"][0]["allowed_ips"].append("203.0.113.9/32")
    plan = probe_plan.plan({"gw-a": facts})
    assert [e["target"] for e in plan["gw-a"]] == ["198.18.2.2", "198.19.0.2", "fd00:198:19::2"]


def test_unnumbered_tunnel_takes_any_host_route_of_the_peer():
    facts = copy.deepcopy(SEED_FACTS["gw-a"])
    facts["interfaces"]["seed-wg0a"]["addresses"] = []
    facts["tunnels"]["seed-wg0a"]["peers"][0]["allowed_ips"] = ["10.9.9.2/32", "10.8.0.0/16"]
    plan = probe_plan.plan({"gw-a": facts})
    assert [e["target"] for e in plan["gw-a"]] == ["198.18.2.2", "10.9.9.2"]


def test_roaming_wireguard_peer_without_endpoint():
    facts = copy.deepcopy(SEED_FACTS["gw-a"])
    tunnel = facts["tunnels"]["seed-wg0a"]
    tunnel["endpoints"] = []
    tunnel["peers"][0]["endpoint"] = None
    plan = probe_plan.plan({"gw-a": facts}, SEED_INVENTORY, tunnels_only=True)
    assert rows(plan["gw-a"]) == [("198.19.0.2", None, ("tunnel",), ("seed-wg0a",)),
                                  ("fd00:198:19::2", None, ("tunnel",), ("seed-wg0a",))]


def vxlan_pair() -> dict:
    """Two hosts with a VXLAN tunnel between them: the inner peer address is only in the peer's facts."""
    a = host_facts([iface("eth0", 1500, ["198.18.1.1"]),
                    iface("vx0a", 1450, ["198.19.5.1", "fd00:198:19:5::1", addr("fe80::5", 64, "link")], kind="vxlan")],
                   [vxlan("vx0a", 1450, "198.18.2.2", "eth0", 1500)], forwarding=1)
    b = host_facts([iface("eth0", 1400, ["198.18.2.2"]),
                    iface("vx0b", 1450, ["198.19.5.2", "fd00:198:19:5::2"], kind="vxlan"),
                    iface("vx9", 1450, ["198.19.9.2"], kind="vxlan")],
                   [vxlan("vx0b", 1450, "198.18.1.1", "eth0", 1400), vxlan("vx9", 1450, "198.18.7.7", "eth0", 1400)],
                   forwarding=1)
    return {"a": a, "b": b}


def test_vxlan_peer_address_from_the_peer_hosts_facts():
    plan = probe_plan.plan(vxlan_pair(), tunnels_only=True)
    assert rows(plan["a"]) == [
        ("198.18.2.2", "b", ("underlay",), ("vx0a",)),
        ("198.19.5.2", "b", ("tunnel",), ("vx0a",)),
        ("fd00:198:19:5::2", "b", ("tunnel",), ("vx0a",)),
    ]
    # b's second tunnel goes to a host outside the inventory: its underlay only.
    assert rows(plan["b"]) == [
        ("198.18.1.1", "a", ("underlay",), ("vx0b",)),
        ("198.18.7.7", None, ("underlay",), ("vx9",)),
        ("198.19.5.1", "a", ("tunnel",), ("vx0b",)),
        ("fd00:198:19:5::1", "a", ("tunnel",), ("vx0b",)),
    ]


def test_vxlan_peer_unknown_without_its_facts():
    plan = probe_plan.plan({"a": vxlan_pair()["a"]}, {"b": ["198.18.2.2"]}, tunnels_only=True)
    assert rows(plan["a"]) == [("198.18.2.2", "b", ("underlay",), ("vx0a",))]


def test_targets_helper():
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, tunnels_only=True)
    assert probe_plan.targets(plan["gw-b"]) == ["198.18.1.1", "198.19.0.1", "fd00:198:19::1"]


ERRORS = [
    (([],), {}, "facts must be a dict"),
    (({"a": {"tunnels": {}}},), {}, "facts of host 'a' are not netpath_mtu_facts"),
    (({"a": "x"},), {}, "facts of host 'a' are not netpath_mtu_facts"),
    ((SEED_FACTS, ["x"]), {}, "inventory must be a dict"),
    ((SEED_FACTS, {"a": 5}), {}, "inventory addresses of host 'a'"),
    ((SEED_FACTS,), {"families": ["ipv5"]}, "families must be a list of ipv4, ipv6"),
    ((SEED_FACTS,), {"families": []}, "at least one"),
    ((SEED_FACTS,), {"sources": ["nowhere"]}, "no facts for source host(s) nowhere"),
]


@pytest.mark.parametrize("args, kwargs, message", ERRORS)
def test_errors(args, kwargs, message):
    with pytest.raises(ValueError) as err:
        probe_plan.plan(*args, **kwargs)
    assert message in str(err.value)


def test_hosts_without_facts_are_targets_not_sources():
    facts = dict(SEED_FACTS, rtr=None)
    plan = probe_plan.plan(facts, SEED_INVENTORY)
    assert "rtr" not in plan
    assert "198.18.1.2" in probe_plan.targets(plan["client-a"])


# -- ports: each target's TCP port, for probe_method tcp and auto ---------------------------------------------

SSH = {"client-a": 22, "gw-a": 2222, "rtr": "22", "gw-b": None, "server-b": 22}

# (extra targets of client-a, target, port expected): the port an extra target names beats the SSH port of
# the host the address belongs to; the target string never carries the port (results are matched by it).
PORTS = [
    ([], "198.18.0.2", 2222),  # gw-a's ansible_port
    ([], "fd00:198:18::2", 2222),
    ([], "198.18.1.2", 22),  # a string from the inventory
    ([], "198.18.2.2", None),  # gw-b: no port known
    (["198.18.0.2:443"], "198.18.0.2", 443),  # named by the extra target
    (["[fd00:198:18::2]:8443"], "fd00:198:18::2", 8443),
    (["[fd00:198:18:3::2]"], "fd00:198:18:3::2", 22),
    (["api.partner.example:443"], "api.partner.example", 443),
    (["api.partner.example"], "api.partner.example", None),
    (["198.51.100.7:443", "198.51.100.7:8443"], "198.51.100.7", 443),  # one target: the first port
    (["198.51.100.7", "198.51.100.7:8443"], "198.51.100.7", 8443),
]


@pytest.mark.parametrize("extra, target, port", PORTS)
def test_each_target_carries_a_port_it_answers_on(extra, target, port):
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, extra_targets={"client-a": extra}, ports=SSH)
    entries = {e["target"]: e for e in plan["client-a"]}
    assert entries[target]["port"] == port
    assert all(":" not in e["target"] or e["family"] == "ipv6" for e in plan["client-a"])


def test_without_ports_no_target_has_one_and_extra_ports_still_count():
    plan = probe_plan.plan(SEED_FACTS, SEED_INVENTORY, extra_targets={"rtr": ["backend.internal:443"]})
    assert {e["target"]: e["port"] for e in plan["rtr"] if e["port"]} == {"backend.internal": 443}
    assert [e["roles"] for e in plan["rtr"] if e["target"] == "backend.internal"] == [["extra"]]


@pytest.mark.parametrize("kwargs, message", [
    ({"extra_targets": {"rtr": ["198.51.100.7:0"]}},
     "extra targets of rtr: '198.51.100.7:0' has a port that is not a number between 1 and 65535"),
    ({"extra_targets": {"rtr": ["[198.51.100.7]:443"]}},
     "extra targets of rtr: '[198.51.100.7]:443' has brackets around something that is no IPv6 address"),
    ({"ports": {"rtr": "ssh"}}, "the port of host 'rtr' must be a number between 1 and 65535, got 'ssh'"),
    ({"ports": {"rtr": 70000}}, "the port of host 'rtr' must be a number between 1 and 65535, got 70000"),
    ({"ports": ["rtr"]}, "ports must be a dict of host name -> TCP port (its ansible_port)"),
])
def test_bad_ports_say_which(kwargs, message):
    with pytest.raises(ValueError) as exc:
        probe_plan.plan(SEED_FACTS, SEED_INVENTORY, **kwargs)
    assert str(exc.value) == message
