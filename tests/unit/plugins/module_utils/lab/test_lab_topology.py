# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy
import os

import pytest
import yaml

from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_topology import (
    TopologyError,
    fingerprint,
    inventory,
    iptables_commands,
    mgmt_overlap,
    nftables_ruleset,
    plan_lab,
    validate_lab_name,
    validate_mgmt_subnet,
    validate_topology,
    validate_workdir,
    wg_quick_config,
)

ROLE_VARS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles", "lab", "vars", "main.yml")


def seed() -> dict:
    with open(ROLE_VARS, encoding="utf-8") as handle:
        return copy.deepcopy(yaml.safe_load(handle)["__netpath_mtu_lab_scenarios"]["seed"])


def small(**overrides) -> dict:
    topo = {
        "hosts": [{"name": "a"}, {"name": "r", "role": "router"}, {"name": "b"}],
        "links": [{"a": "a", "b": "r"}, {"a": "r", "b": "b", "mtu": 1400}],
    }
    topo.update(overrides)
    return topo


@pytest.mark.parametrize("topology, message", [
    ("nope", "must be a mapping"),
    ({"hosts": []}, "no hosts"),
    ({"hosts": [{"name": "a"}], "bogus": 1}, "unknown key(s) bogus"),
    ({"hosts": [{"name": "A"}]}, "must match"),
    ({"hosts": [{"name": "a"}, {"name": "a"}]}, "duplicate host 'a'"),
    ({"hosts": [{"name": "a", "role": "switch"}]}, "role 'switch'"),
    ({"hosts": [{"name": "a", "firewall": "pf"}]}, "firewall 'pf'"),
    ({"hosts": [{"name": "a", "drop_icmp_ptb": ["prerouting"]}]}, "hook 'prerouting'"),
    ({"hosts": [{"name": "a", "loss_percent": 101}]}, "between 0 and 100"),
    ({"hosts": [{"name": "a", "groups": ["Bad-Group"]}]}, "valid inventory group"),
    (small(links=[{"a": "a", "b": "ghost"}]), "unknown host 'ghost'"),
    (small(links=[{"a": "a", "b": "a"}]), "two different hosts"),
    (small(links=[{"a": "a", "b": "r", "mtu": 1200}]), "between 1280 and 65535"),
    (small(links=[{"a": "a", "b": "r", "mtu": 70000}]), "between 1280 and 65535"),
    (small(links=[{"a": "a", "b": "r", "mtu": "big"}]), "must be an integer"),
    (small(links=[{"name": "x", "a": "a", "b": "r"}, {"name": "x", "a": "r", "b": "b"}]), "duplicate link 'x'"),
    (small(tunnels=[{"type": "gre", "a": "a", "b": "b"}]), "type 'gre'"),
    (small(tunnels=[{"a": "a", "b": "nobody"}]), "unknown host 'nobody'"),
    (small(tunnels=[{"a": "a", "b": "b", "networks_a": ["r--b"]}]), "must name a link of host a"),
    (small(tunnels=[{"a": "a", "b": "b", "outer_family": "ipx"}]), "outer_family 'ipx'"),
    (small(tunnels=[{"a": "a", "b": "b", "mtu": 100}]), "between 1280 and 65535"),
    (small(tunnels=[{"name": "t", "a": "a", "b": "b"}, {"name": "t", "a": "a", "b": "b"}]), "duplicate tunnel 't'"),
    (small(tunnels=[{"a": "a", "b": "b", "networks_a": ["a--r"]}]), "no underlay link outside networks_a"),
])
def test_invalid_topologies_name_the_problem(topology, message):
    with pytest.raises(TopologyError) as err:
        validate_topology(topology)
    assert message in str(err.value)


@pytest.mark.parametrize("name, ok", [
    ("seed", True), ("lab1", True), ("abcdefgh", True),
    ("abcdefghi", False), ("Seed", False), ("1lab", False), ("a-b", False), ("", False), (None, False),
])
def test_lab_names_fit_interface_names(name, ok):
    if ok:
        assert validate_lab_name(name) == name
    else:
        with pytest.raises(TopologyError):
            validate_lab_name(name)


def test_defaults_are_filled_in():
    topo = validate_topology(small(tunnels=[{"a": "a", "b": "b"}, {"type": "vxlan", "a": "a", "b": "b"}]))
    router = topo["hosts"][1]
    assert router["forward"] is True and topo["hosts"][0]["forward"] is False
    assert [lk["name"] for lk in topo["links"]] == ["a--r", "r--b"]
    assert topo["links"][0]["mtu"] == 1500 and topo["links"][0]["ipv6"] is True
    assert [t["mtu"] for t in topo["tunnels"]] == [1420, 1450]
    assert topo["tunnels"][0]["endpoint_a"] == "a--r"


def test_seed_plan_addresses_and_names():
    plan = plan_lab("seed", seed())
    hosts = {h["name"]: h for h in plan["hosts"]}
    assert [h["namespace"] for h in plan["hosts"]] == [
        "seed-client-a", "seed-gw-a", "seed-rtr", "seed-gw-b", "seed-server-b"]
    assert hosts["client-a"]["mgmt_address"] == "198.19.200.2"
    assert plan["mgmt_gateway"] == "198.19.200.1"
    gw_b = {i["name"]: i for i in hosts["gw-b"]["interfaces"]}
    assert gw_b["eth0"]["ipv4"] == "198.18.2.2" and gw_b["eth0"]["mtu"] == 1400
    assert gw_b["eth0"]["ipv6"] == "fd00:198:18:2::2"
    assert gw_b["eth1"]["link"] == "lan-b"
    tunnel = plan["tunnels"][0]
    assert tunnel["a"]["interface"] == "seed-wg0a" and tunnel["b"]["interface"] == "seed-wg0b"
    assert tunnel["a"]["endpoint"] == "198.18.1.1" and tunnel["b"]["endpoint"] == "198.18.2.2"
    assert all(len(t[s]["interface"]) <= 15 for t in plan["tunnels"] for s in "ab")


def test_seed_routes_send_site_traffic_through_the_tunnel():
    plan = plan_lab("seed", seed())
    routes = {h["name"]: h["routes"] for h in plan["hosts"]}
    # client-a reaches everything through its gateway
    assert {"to": "198.18.3.0/24", "via": "198.18.0.2", "dev": "eth0"} in routes["client-a"]
    # gw-a leaves lan-b to wg-quick (AllowedIPs) and routes the far WAN via the router
    assert not any(r["to"] == "198.18.3.0/24" for r in routes["gw-a"])
    assert {"to": "198.18.2.0/24", "via": "198.18.1.2", "dev": "eth1"} in routes["gw-a"]
    assert {"to": "fd00:198:18:2::/64", "via": "fd00:198:18:1::2", "dev": "eth1"} in routes["gw-a"]
    # the router knows both LANs over the underlay
    assert {"to": "198.18.0.0/24", "via": "198.18.1.1", "dev": "eth0"} in routes["rtr"]


def test_hosts_do_not_route_through_non_forwarding_hosts():
    topo = {
        "hosts": [{"name": "a"}, {"name": "m"}, {"name": "b", "role": "router"}, {"name": "c"}],
        "links": [{"a": "a", "b": "m"}, {"a": "m", "b": "b"}, {"a": "b", "b": "c"}],
    }
    routes = {h["name"]: [r["to"] for r in h["routes"]] for h in plan_lab("t", topo)["hosts"]}
    # m's own far address is reachable through m, but nothing behind m: m does not forward
    assert routes["a"] == ["198.18.1.0/24", "fd00:198:18:1::/64"]
    # c reaches past the router b, up to m's link, not beyond m
    assert routes["c"] == ["198.18.0.0/24", "fd00:198:18::/64", "198.18.1.0/24", "fd00:198:18:1::/64"]


def test_vxlan_networks_route_via_peer_tunnel_address():
    topo = small(
        hosts=[{"name": "a", "role": "gateway"}, {"name": "r", "role": "router"}, {"name": "b", "role": "gateway"},
               {"name": "lan"}],
        links=[{"a": "a", "b": "r"}, {"a": "r", "b": "b"}, {"name": "blan", "a": "b", "b": "lan"}],
        tunnels=[{"type": "vxlan", "a": "a", "b": "b", "networks_b": ["blan"]}],
    )
    plan = plan_lab("vx", topo)
    a_routes = plan["hosts"][0]["routes"]
    assert {"to": "198.18.2.0/24", "via": "198.19.0.2", "dev": "vx-vx0a"} in a_routes
    assert {"to": "fd00:198:18:2::/64", "via": "fd00:198:19::2", "dev": "vx-vx0a"} in a_routes


def test_ipv6_outer_tunnel_uses_ipv6_endpoints():
    plan = plan_lab("v6", small(tunnels=[{"a": "a", "b": "b", "outer_family": "ipv6"}]))
    assert plan["tunnels"][0]["a"]["endpoint"] == "fd00:198:18::1"
    conf = wg_quick_config(plan["tunnels"][0]["a"], plan["tunnels"][0]["b"], plan["tunnels"][0], "PRIV", "PUB")
    assert "Endpoint = [fd00:198:18:1::2]:51820" in conf


def test_ipv6_outer_tunnel_needs_ipv6_on_its_link():
    topo = small(links=[{"a": "a", "b": "r", "ipv6": False}, {"a": "r", "b": "b"}],
                 tunnels=[{"a": "a", "b": "b", "outer_family": "ipv6"}])
    with pytest.raises(TopologyError, match="needs IPv6 on link a--r"):
        validate_topology(topo)


def test_wg_quick_config_carries_mtu_and_networks():
    plan = plan_lab("seed", seed())
    tunnel = plan["tunnels"][0]
    conf = wg_quick_config(tunnel["a"], tunnel["b"], tunnel, "PRIV", "PUB")
    assert "MTU = 1420" in conf
    assert "Endpoint = 198.18.2.2:51820" in conf
    assert "AllowedIPs = 198.19.0.2/32, fd00:198:19::2/128, 198.18.3.0/24, fd00:198:18:3::/64" in conf


@pytest.mark.parametrize("host, present, absent", [
    ({"drop_icmp_ptb": ["output"]}, ["chain output {\n\t\ttype filter hook output priority filter; policy accept;\n"
                                     "\t\ticmp type destination-unreachable icmp code frag-needed drop"],
     ["chain prerouting", "numgen"]),
    ({"drop_icmp_ptb": ["forward", "input"]}, ["icmpv6 type packet-too-big drop"], ["hook prerouting"]),
    ({"drop_fragments": True}, ["priority -450", "ip frag-off & 0x1fff != 0 drop"], ["frag-needed"]),
    ({"loss_percent": 1}, ["numgen random mod 100 < 1 drop"], ["frag-needed"]),
    ({"drop_icmp_ptb": ["output"], "firewall": "iptables-nft"}, ["flush ruleset"], ["frag-needed"]),
    ({"nftables_extra": "table ip extra {}"}, ["table ip extra {}"], []),
])
def test_nftables_ruleset(host, present, absent):
    host = validate_topology({"hosts": [{"name": "x", **host}]})["hosts"][0]
    text = nftables_ruleset(host)
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text


@pytest.mark.parametrize("firewall, expected", [
    ("nftables", []),
    ("iptables-nft", [
        ["iptables-nft", "-w", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"],
        ["ip6tables-nft", "-w", "-A", "OUTPUT", "-p", "ipv6-icmp", "--icmpv6-type", "packet-too-big", "-j", "DROP"],
    ]),
    ("iptables-legacy", [
        ["iptables-legacy", "-w", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"],
        ["ip6tables-legacy", "-w", "-A", "OUTPUT", "-p", "ipv6-icmp", "--icmpv6-type", "packet-too-big", "-j",
         "DROP"],
    ]),
])
def test_iptables_commands(firewall, expected):
    host = validate_topology({"hosts": [{"name": "x", "firewall": firewall, "drop_icmp_ptb": ["output"]}]})["hosts"][0]
    assert iptables_commands(host) == expected


def test_fingerprint_follows_the_topology():
    base = plan_lab("seed", seed())
    assert base["fingerprint"] == plan_lab("seed", seed())["fingerprint"] == fingerprint(base)
    changed = seed()
    changed["links"][2]["mtu"] = 1380
    assert plan_lab("seed", changed)["fingerprint"] != base["fingerprint"]


def test_mgmt_subnet_must_hold_every_host():
    topology = seed()
    topology["hosts"].append({"name": "extra"})
    hosts = len(topology["hosts"])
    with pytest.raises(TopologyError, match=f"too small for {hosts} hosts"):
        plan_lab("seed", topology, mgmt_subnet="198.19.200.0/29")
    with pytest.raises(TopologyError, match="not an IPv4 network"):
        plan_lab("seed", seed(), mgmt_subnet="fd00::/64")


@pytest.mark.parametrize("subnet, message", [
    ("0.0.0.0/0", "mgmt_subnet 0.0.0.0/0: use a /16 to /29 prefix"),
    ("10.0.0.0/8", "mgmt_subnet 10.0.0.0/8: use a /16 to /29 prefix"),
    ("198.19.241.0/31", "mgmt_subnet 198.19.241.0/31: use a /16 to /29 prefix"),
    ("198.19.241.0/30", "mgmt_subnet 198.19.241.0/30: use a /16 to /29 prefix"),
    ("198.19.241.5/24", "mgmt_subnet '198.19.241.5/24' is not an IPv4 network"),
    ("::/0", "mgmt_subnet '::/0' is not an IPv4 network"),
    ("x;id", "mgmt_subnet 'x;id' is not an IPv4 network"),
    ("", "mgmt_subnet '' is not an IPv4 network"),
    (None, "mgmt_subnet None is not an IPv4 network"),
])
def test_mgmt_subnet_is_rejected_under_its_name(subnet, message):
    with pytest.raises(TopologyError) as error:
        validate_mgmt_subnet(subnet)
    assert str(error.value).startswith(message)
    with pytest.raises(TopologyError, match="^mgmt_subnet "):
        plan_lab("seed", seed(), mgmt_subnet=subnet)


@pytest.mark.parametrize("subnet", ["198.19.200.0/24", "10.20.0.0/16", "198.19.241.0/29"])
def test_mgmt_subnet_prefixes_the_lab_supports(subnet):
    assert str(validate_mgmt_subnet(subnet)) == subnet


@pytest.mark.parametrize("subnet, used, owner", [
    ("198.19.240.0/24", {"eth0": "10.0.0.5/8", "lab rel": "198.19.240.1/24"}, "lab rel"),
    ("198.19.240.128/25", {"lab rel": "198.19.240.1/24"}, "lab rel"),
    ("198.19.0.0/16", {"lab rel": "198.19.240.1/24"}, "lab rel"),
    ("198.19.241.0/24", {"lab rel": "198.19.240.1/24", "eth0": "10.0.0.5/8"}, None),
    ("198.19.241.0/24", {"junk": "not an address"}, None),
])
def test_mgmt_overlap_names_the_owner(subnet, used, owner):
    assert mgmt_overlap(subnet, used) == owner


@pytest.mark.parametrize("path, message", [
    ("relative/dir", "must be an absolute path"),
    ("", "must be an absolute directory path"),
    (None, "must be an absolute directory path"),
    ({"a": 1}, "must be an absolute directory path"),
    ("/var/lib/x\nb", "control characters"),
    ("/var/lib/x\x00", "control characters"),
    ("/", "is a system directory"),
    ("//", "is a system directory"),
    ("/etc", "is a system directory"),
    ("/etc/", "is a system directory"),
    ("/etc/netns/x", "is a system directory"),
    ("/usr/../etc", "is a system directory"),
    ("/var", "is a system directory"),
    ("/var/lib", "is a system directory"),
    ("/var/lib/netpath-mtu-lab", "is a system directory"),
    ("/root", "is a system directory"),
    ("/home", "is a system directory"),
    ("/tmp", "is a system directory"),
    ("/tmp/.", "is a system directory"),
    ("/dev/null", "is a system directory"),
    ("/proc/self", "is a system directory"),
])
def test_workdir_must_be_the_labs_own(path, message):
    with pytest.raises(TopologyError, match=message) as error:
        validate_workdir(path)
    assert str(error.value).startswith("workdir ")


@pytest.mark.parametrize("path, clean", [
    ("/var/lib/netpath-mtu-lab/rel", "/var/lib/netpath-mtu-lab/rel"),
    ("/tmp/lab-x/", "/tmp/lab-x"),
    ("/srv/labs/a", "/srv/labs/a"),
])
def test_workdir_accepted(path, clean):
    assert validate_workdir(path) == clean


@pytest.mark.parametrize("name", ["rel\n", "rel\n\n", "a\nb", "Rel", "rel-x", "x" * 9, "r\u00e9l", ""])
def test_lab_name_is_matched_whole(name):
    with pytest.raises(TopologyError, match="lab name"):
        validate_lab_name(name)


@pytest.mark.parametrize("change, message", [
    ({"hosts": [{"name": "a\n"}, {"name": "b"}]}, "must match"),
    ({"hosts": [{"name": "a", "groups": ["g\n"]}, {"name": "b"}]}, "valid inventory group"),
    ({"links": [{"name": "l;id", "a": "a", "b": "b"}]}, "links[0]: name 'l;id' must match"),
    ({"links": [{"name": "l1\n", "a": "a", "b": "b"}]}, "links[0]: name 'l1\\n' must match"),
    ({"links": [{"name": "L1", "a": "a", "b": "b"}]}, "links[0]: name 'L1' must match"),
    ({"links": [{"name": 5, "a": "a", "b": "b"}]}, "links[0]: name 5 must match"),
    ({"tunnels": [{"name": "t;id", "a": "a", "b": "b"}]}, "tunnels[0]: name 't;id' must match"),
    ({"tunnels": [{"name": "x" * 40, "a": "a", "b": "b"}]}, "tunnels[0]: name '" + "x" * 40 + "' must match"),
])
def test_names_are_matched_whole(change, message):
    topology = {"hosts": [{"name": "a"}, {"name": "b"}], "links": [{"name": "l1", "a": "a", "b": "b"}]}
    topology.update(change)
    with pytest.raises(TopologyError) as error:
        validate_topology(topology)
    assert message in str(error.value)


def test_explicit_link_and_tunnel_names_are_kept():
    topology = validate_topology({"hosts": [{"name": "a"}, {"name": "b"}],
                                  "links": [{"name": "lan-1", "a": "a", "b": "b"}],
                                  "tunnels": [{"name": "wg-1", "a": "a", "b": "b"}]})
    assert [lk["name"] for lk in topology["links"]] == ["lan-1"]
    assert [t["name"] for t in topology["tunnels"]] == ["wg-1"]


def test_thousands_of_unknown_keys_are_not_all_listed():
    topology = {"hosts": [{"name": "a"}], **{f"k{i}": i for i in range(5000)}}
    with pytest.raises(TopologyError) as error:
        validate_topology(topology)
    message = str(error.value)
    assert "unknown key(s) k0, k1, k10, k100, k1000 and 4995 more" in message
    assert len(message) < 200


def test_inventory_groups_hosts_and_carries_tunnels():
    inv = inventory(plan_lab("seed", seed()), "/k/id", "/usr/bin/python3")["all"]
    assert set(inv["children"]) == {"hosts", "gateways", "routers", "site_a", "site_b"}
    assert set(inv["children"]["gateways"]["hosts"]) == {"gw-a", "gw-b"}
    gw_a = inv["hosts"]["gw-a"]
    assert gw_a["ansible_host"] == "198.19.200.3"
    tunnel = gw_a["netpath_mtu_lab_tunnels"][0]
    assert tunnel["peer"] == "gw-b" and tunnel["peer_address4"] == "198.19.0.2" and tunnel["mtu"] == 1420
    assert inv["vars"]["ansible_ssh_private_key_file"] == "/k/id"


def test_etc_dirs_are_optional_and_checked():
    host = validate_topology({"hosts": [{"name": "x", "etc_dirs": ["sysconfig", "iptables", "iptables"]}]})["hosts"][0]
    assert host["etc_dirs"] == ["iptables", "sysconfig"]
    # Not asked for, not in the plan: existing topologies keep their plans and fingerprints.
    assert "etc_dirs" not in validate_topology({"hosts": [{"name": "x"}]})["hosts"][0]
    with pytest.raises(TopologyError, match="etc_dirs entry 'ssh' must be one of"):
        validate_topology({"hosts": [{"name": "x", "etc_dirs": ["ssh"]}]})
    with pytest.raises(TopologyError, match="etc_dirs must be a list"):
        validate_topology({"hosts": [{"name": "x", "etc_dirs": "iptables"}]})
    topo = seed()
    topo["hosts"][2]["etc_dirs"] = ["iptables"]
    assert plan_lab("seed", topo)["fingerprint"] != plan_lab("seed", seed())["fingerprint"]


def test_a_host_can_be_left_out_of_the_inventory():
    topo = seed()
    rtr = next(h for h in topo["hosts"] if h["name"] == "rtr")
    rtr["inventory"] = False
    plan = plan_lab("seed", topo)
    # Built and routed through like any router, but nobody audits it.
    assert any(h["name"] == "rtr" and h["inventory"] is False for h in plan["hosts"])
    assert plan["hosts"][0]["routes"] == plan_lab("seed", seed())["hosts"][0]["routes"]
    inv = inventory(plan, "/k/id", "/usr/bin/python3")["all"]
    assert "rtr" not in inv["hosts"] and "routers" not in inv["children"]
    assert "inventory" not in validate_topology({"hosts": [{"name": "x"}]})["hosts"][0]


def test_an_ipv6_only_segment():
    topo = {"hosts": [{"name": "h1"}, {"name": "r", "role": "router"}, {"name": "h2"}],
            "links": [{"name": "l1", "a": "h1", "b": "r"}, {"name": "l2", "a": "r", "b": "h2", "ipv4": False}]}
    plan = plan_lab("six", topo)
    h1, r, h2 = plan["hosts"]
    assert h2["interfaces"][0]["ipv4"] is None and h2["interfaces"][0]["ipv6"] == "fd00:198:18:1::2"
    assert r["interfaces"][1]["net4"] is None
    # h1 reaches l2 over IPv6 only; h2 has no IPv4 route at all.
    assert [route["to"] for route in h1["routes"]] == ["fd00:198:18:1::/64"]
    assert [route["to"] for route in h2["routes"]] == ["fd00:198:18::/64"]
    hostvars = inventory(plan, "/k/id", "/usr/bin/python3")["all"]["hosts"]
    assert hostvars["h2"]["netpath_mtu_lab_address4"] is None
    assert "ipv4" not in validate_topology(seed())["links"][0]
    with pytest.raises(TopologyError, match="a link needs IPv4 or IPv6"):
        validate_topology({"hosts": topo["hosts"], "links": [{"a": "h1", "b": "r", "ipv4": False, "ipv6": False}]})
    with pytest.raises(TopologyError, match="outer_family ipv4 needs IPv4 on link l2"):
        validate_topology(dict(topo, tunnels=[{"type": "vxlan", "a": "r", "b": "h2", "endpoint_a": "l2", "endpoint_b": "l2"}]))
