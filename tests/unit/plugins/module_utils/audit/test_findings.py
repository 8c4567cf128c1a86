# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Findings as a pure function of facts and probe results.

The probe results are those of a real audit of the ``seed`` lab (``SEED_PATHS``), in the exact shape
of path_mtu_info's results (``REAL_RESULT`` is one as the module returned it); the facts come from
test_probe_plan.py.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import findings
from ansible_collections.netpath.mtu.plugins.module_utils.audit import probe_plan
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import (
    SEED_FACTS,
    SEED_INVENTORY,
    addr,
    host_facts,
    iface,
    keys,
    vxlan,
)

# path_mtu_info's result for gw-a -> gw-b's tunnel endpoint in the seed lab, as the module returned it.
REAL_RESULT = {
    "address": "198.18.2.2", "black_hole": True, "duration_s": 2.038, "exact": True, "family": "ipv4",
    "hop": {"address": "198.18.1.2", "located": True, "method": "ttl", "ttl": 1},
    "interface": "eth1", "interface_mtu": 1500, "mss": 1360, "path_mtu": 1400, "probes_sent": 104,
    "ptb_mismatch": False, "ptb_mtu": None, "ptb_seen": False, "ptb_source": None,
    "reason": "1401-byte packets vanish without an ICMP error while 1400-byte packets pass: PMTUD is broken on this path",
    "rounds": 2, "source": "198.18.1.1", "status": "black_hole", "target": "198.18.2.2",
}


def result(target: str, interface: str, interface_mtu: int, status: str, path_mtu: int | None,
           ptb_source: str | None = None, ptb_mtu: int | None = None, hop: tuple | None = None,
           exact: bool = True) -> dict:
    """A path_mtu_info result with every key the module returns."""
    family = "ipv6" if ":" in target else "ipv4"
    hop_dict = None
    if hop is not None:
        ttl, address = hop
        hop_dict = {"address": address, "located": True, "method": "ptb" if ttl is None else "ttl", "ttl": ttl}
    return {
        "address": target, "black_hole": status == "black_hole", "duration_s": 1.0, "exact": exact, "family": family,
        "hop": hop_dict, "interface": interface, "interface_mtu": interface_mtu,
        "mss": None if path_mtu is None else path_mtu - (60 if family == "ipv6" else 40), "path_mtu": path_mtu,
        "probes_sent": 40, "ptb_mismatch": ptb_mtu is not None and ptb_mtu != path_mtu, "ptb_mtu": ptb_mtu,
        "ptb_seen": ptb_source is not None, "ptb_source": ptb_source, "reason": f"{status} at {path_mtu}",
        "rounds": 2, "source": None, "status": status, "target": target,
    }


# (source, target, interface, interface MTU, status, path MTU, PTB source, PTB MTU, hop (ttl, address))
SEED_PATHS = [
    ("client-a", "198.18.0.2", "eth0", 1500, "ok", 1500, None, None, None),
    ("client-a", "fd00:198:18::2", "eth0", 1500, "ok", 1500, None, None, None),
    ("client-a", "198.18.2.2", "eth0", 1500, "unreachable", None, None, None, None),
    ("client-a", "fd00:198:18:2::2", "eth0", 1500, "unreachable", None, None, None, None),
    ("client-a", "198.18.1.2", "eth0", 1500, "ok", 1500, None, None, None),
    ("client-a", "fd00:198:18:1::2", "eth0", 1500, "ok", 1500, None, None, None),
    ("client-a", "198.18.3.2", "eth0", 1500, "black_hole", 1328, "198.18.0.2", 1420, None),
    ("client-a", "fd00:198:18:3::2", "eth0", 1500, "black_hole", 1328, "fd00:198:18::2", 1420, None),
    ("gw-a", "198.18.0.1", "eth0", 1500, "ok", 1500, None, None, None),
    ("gw-a", "fd00:198:18::1", "eth0", 1500, "ok", 1500, None, None, None),
    ("gw-a", "198.18.2.2", "eth1", 1500, "black_hole", 1400, None, None, (1, "198.18.1.2")),
    ("gw-a", "198.19.0.2", "seed-wg0a", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-a", "fd00:198:18:2::2", "eth1", 1500, "black_hole", 1400, None, None, (1, "fd00:198:18:1::2")),
    ("gw-a", "fd00:198:19::2", "seed-wg0a", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-a", "198.18.1.2", "eth1", 1500, "ok", 1500, None, None, None),
    ("gw-a", "fd00:198:18:1::2", "eth1", 1500, "ok", 1500, None, None, None),
    ("gw-a", "198.18.3.2", "seed-wg0a", 1420, "unreachable", None, None, None, None),
    ("gw-a", "fd00:198:18:3::2", "seed-wg0a", 1420, "unreachable", None, None, None, None),
    ("gw-b", "198.18.0.1", "seed-wg0b", 1420, "unreachable", None, None, None, None),
    ("gw-b", "fd00:198:18::1", "seed-wg0b", 1420, "unreachable", None, None, None, None),
    ("gw-b", "198.18.0.2", "seed-wg0b", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-b", "198.18.1.1", "eth0", 1400, "ok", 1400, None, None, None),
    ("gw-b", "198.19.0.1", "seed-wg0b", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-b", "fd00:198:18::2", "seed-wg0b", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-b", "fd00:198:19::1", "seed-wg0b", 1420, "black_hole", 1328, None, None, (0, None)),
    ("gw-b", "198.18.1.2", "eth0", 1400, "ok", 1400, None, None, None),
    ("gw-b", "fd00:198:18:1::2", "eth0", 1400, "ok", 1400, None, None, None),
    ("gw-b", "198.18.3.2", "eth1", 1500, "ok", 1500, None, None, None),
    ("gw-b", "fd00:198:18:3::2", "eth1", 1500, "ok", 1500, None, None, None),
    ("rtr", "198.18.0.1", "eth0", 1500, "ok", 1500, None, None, None),
    ("rtr", "fd00:198:18::1", "eth0", 1500, "ok", 1500, None, None, None),
    ("rtr", "198.18.0.2", "eth0", 1500, "ok", 1500, None, None, None),
    ("rtr", "fd00:198:18::2", "eth0", 1500, "ok", 1500, None, None, None),
    ("rtr", "198.18.2.2", "eth1", 1400, "ok", 1400, None, None, None),
    ("rtr", "fd00:198:18:2::2", "eth1", 1400, "ok", 1400, None, None, None),
    ("rtr", "198.18.3.2", "eth1", 1400, "ok", 1400, None, None, None),
    ("rtr", "fd00:198:18:3::2", "eth1", 1400, "ok", 1400, None, None, None),
    ("server-b", "198.18.0.1", "eth0", 1500, "black_hole", 1328, "198.18.3.1", 1420, None),
    ("server-b", "fd00:198:18::1", "eth0", 1500, "black_hole", 1328, "fd00:198:18:3::1", 1420, None),
    ("server-b", "198.18.0.2", "eth0", 1500, "black_hole", 1328, "198.18.3.1", 1420, None),
    ("server-b", "fd00:198:18::2", "eth0", 1500, "black_hole", 1328, "fd00:198:18:3::1", 1420, None),
    ("server-b", "198.18.2.2", "eth0", 1500, "ok", 1500, None, None, None),
    ("server-b", "fd00:198:18:2::2", "eth0", 1500, "ok", 1500, None, None, None),
    ("server-b", "198.18.1.2", "eth0", 1500, "ptb", 1400, "198.18.3.1", 1400, (None, "198.18.3.1")),
    ("server-b", "fd00:198:18:1::2", "eth0", 1500, "ptb", 1400, "fd00:198:18:3::1", 1400, (None, "fd00:198:18:3::1")),
]

# What the seed lab really has wrong, and nothing else.
SEED_FINDINGS = [
    "tunnel_mtu_too_large/gw-a/seed-wg0a",
    "tunnel_mtu_too_large/gw-b/seed-wg0b",
    "pmtud_black_hole/client-a/198.18.3.2/ipv4",
    "pmtud_black_hole/client-a/fd00:198:18:3::2/ipv6",
    "pmtud_black_hole/gw-a/198.18.2.2/ipv4",
    "pmtud_black_hole/gw-a/198.19.0.2/ipv4",
    "pmtud_black_hole/gw-a/fd00:198:18:2::2/ipv6",
    "pmtud_black_hole/gw-a/fd00:198:19::2/ipv6",
    "pmtud_black_hole/gw-b/198.18.0.2/ipv4",
    "pmtud_black_hole/gw-b/198.19.0.1/ipv4",
    "pmtud_black_hole/gw-b/fd00:198:18::2/ipv6",
    "pmtud_black_hole/gw-b/fd00:198:19::1/ipv6",
    "pmtud_black_hole/server-b/198.18.0.1/ipv4",
    "pmtud_black_hole/server-b/198.18.0.2/ipv4",
    "pmtud_black_hole/server-b/fd00:198:18::1/ipv6",
    "pmtud_black_hole/server-b/fd00:198:18::2/ipv6",
    "mss_clamp_missing/gw-a/forward",
    "mss_clamp_missing/gw-b/forward",
    "tcp_mtu_probing_off/client-a/net.ipv4.tcp_mtu_probing",
    "tcp_mtu_probing_off/gw-a/net.ipv4.tcp_mtu_probing",
    "tcp_mtu_probing_off/gw-b/net.ipv4.tcp_mtu_probing",
    "tcp_mtu_probing_off/server-b/net.ipv4.tcp_mtu_probing",
]


def seed_data(facts: dict | None = None, paths: list | None = None) -> dict:
    """The audit data of the seed lab, as the audit role collects it."""
    facts = copy.deepcopy(SEED_FACTS) if facts is None else facts
    plan = probe_plan.plan(facts, SEED_INVENTORY)
    hosts = {}
    for name in facts:
        probes = [result(*row[1:]) for row in (SEED_PATHS if paths is None else paths) if row[0] == name]
        hosts[name] = {"facts": facts[name], "targets": plan.get(name, []), "probes": probes, "error": None,
                       "deps": "present"}
    return {"hosts": hosts, "inventory": copy.deepcopy(SEED_INVENTORY)}


def by_id(data: dict) -> dict:
    return {f["id"]: f for f in findings.findings(data)}


def replace_path(source: str, target: str, **changes) -> list:
    rows = []
    for row in SEED_PATHS:
        if row[0] == source and row[1] == target:
            names = ("source", "target", "interface", "interface_mtu", "status", "path_mtu", "ptb_source", "ptb_mtu", "hop")
            values = dict(zip(names, row))
            values.update(changes)
            row = tuple(values[n] for n in names)
        rows.append(row)
    return rows


# --- the seed lab -------------------------------------------------------------------------------

def test_result_builder_matches_real_path_mtu_info_output():
    assert keys(result("198.18.2.2", "eth1", 1500, "black_hole", 1400, hop=(1, "198.18.1.2"))) == keys(REAL_RESULT)


def test_seed_lab_findings_are_exactly_its_faults():
    found = findings.findings(seed_data())
    assert sorted(f["id"] for f in found) == sorted(SEED_FINDINGS)
    assert [f["severity"] for f in found] == ["critical"] * 16 + ["warning"] * 2 + ["info"] * 4
    for finding in found:
        assert set(finding) == {"id", "type", "severity", "host", "subject", "path", "message", "evidence", "fix", "related"}
        assert set(finding["fix"]) == {"host", "module", "args", "command", "note"}
        assert finding["id"] == f"{finding['type']}/{finding['host']}/{finding['subject']}"


def test_findings_are_sorted_and_deterministic():
    first = findings.findings(seed_data())
    second = findings.findings(seed_data())
    assert first == second
    order = [(findings.SEVERITIES.index(f["severity"]), list(findings.TYPES).index(f["type"]), f["host"], f["id"]) for f in first]
    assert order == sorted(order)


def test_tunnel_mtu_from_the_measured_underlay():
    """gw-a's own link is 1500, so its facts say the tunnel fits; the probe of the underlay says 1400."""
    found = by_id(seed_data())["tunnel_mtu_too_large/gw-a/seed-wg0a"]
    assert found["evidence"]["underlay_mtu"] == 1500
    assert found["evidence"]["underlay_path_mtu"] == 1400
    assert found["evidence"]["max_tunnel_mtu"] == 1340
    assert found["evidence"]["basis"] == "probe"
    assert found["path"]["target"] == "198.18.2.2"
    assert found["fix"] == {
        "host": "gw-a", "module": "netpath.mtu.link_mtu", "args": {"name": "seed-wg0a", "mtu": 1340},
        "command": "ip link set dev seed-wg0a mtu 1340",
        "note": ("link_mtu sets it now and persists it where the interface is configured "
                 "(MTU = 1340 in [Interface] of /etc/wireguard/seed-wg0a.conf)"),
    }
    assert "pmtud_black_hole/client-a/198.18.3.2/ipv4" in found["related"]


def test_underlay_black_hole_is_located_at_the_router():
    found = by_id(seed_data())["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert found["evidence"]["hop"] == {"address": "198.18.1.2", "located": True, "method": "ttl", "ttl": 1, "host": "rtr"}
    assert found["fix"]["host"] == "rtr"
    assert found["fix"]["module"] == "netpath.mtu.icmp_policy"
    assert found["fix"]["args"] == {"state": "present"}
    # Its ruleset was not evaluated here: rtr is named by its 1400-byte link, and no command is made up.
    assert found["fix"]["command"] is None
    assert found["evidence"]["cause"].startswith("probably rtr: rtr has the link that stops them (eth1, MTU 1400)")
    assert found["path"]["roles"] == ["underlay", "host"]
    assert found["related"] == []
    assert "after 198.18.1.2 (rtr), hop 1" in found["message"]


# (finding id, host whose tunnel is blamed) - in-tunnel and through-tunnel black holes point at the tunnel
CAUSES = [
    ("pmtud_black_hole/gw-a/198.19.0.2/ipv4", "gw-a"),  # egress is the tunnel itself
    ("pmtud_black_hole/client-a/198.18.3.2/ipv4", "gw-a"),  # gw-a announced 1420, its tunnel's MTU
    ("pmtud_black_hole/server-b/198.18.0.1/ipv4", "gw-b"),
    ("pmtud_black_hole/gw-b/fd00:198:19::1/ipv6", "gw-b"),
]


@pytest.mark.parametrize("finding_id, tunnel_host", CAUSES)
def test_black_holes_point_at_the_tunnel(finding_id, tunnel_host):
    found = by_id(seed_data())[finding_id]
    tunnel = "seed-wg0a" if tunnel_host == "gw-a" else "seed-wg0b"
    assert found["related"] == [f"tunnel_mtu_too_large/{tunnel_host}/{tunnel}"]
    assert found["fix"]["module"] == "netpath.mtu.link_mtu"
    assert found["fix"]["args"] == {"name": tunnel, "mtu": 1340}


def test_clean_and_healthy_paths_are_not_findings():
    ids = set(by_id(seed_data()))
    for row in SEED_PATHS:
        if row[4] in ("ok", "ptb", "unreachable"):
            assert not any(f"/{row[0]}/{row[1]}/" in i for i in ids), row


# --- one change at a time ------------------------------------------------------------------------

def facts_with(**changes) -> dict:
    facts = copy.deepcopy(SEED_FACTS)
    for host, change in changes.items():
        change(facts[host])
    return facts


def _set(path: tuple, value):
    def change(facts):
        node = facts
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def remediated(row: tuple) -> tuple:
    """A seed path once the tunnels are 1340 and the router sends its ICMP: PMTUD works everywhere."""
    source, target, interface, mtu, status, path_mtu, ptb_source, ptb_mtu, hop = row
    if "wg" in interface:
        return (source, target, interface, 1340, "ok" if status == "black_hole" else status,
                1340 if status == "black_hole" else path_mtu, None, None, None)
    if status != "black_hole":
        return row
    if ptb_source:  # through a tunnel: its gateway says 1340
        return (source, target, interface, mtu, "ptb", 1340, ptb_source, 1340, (None, ptb_source))
    return (source, target, interface, mtu, "ptb", path_mtu, hop[1], path_mtu, (None, hop[1]))  # the router says 1400


FIXED_PATHS = [remediated(row) for row in SEED_PATHS]

# (what changes, facts, paths, ids that appear, ids that disappear)
SCENARIOS = [
    ("ip_no_pmtu_disc on rtr", facts_with(rtr=_set(("sysctls", "ip_no_pmtu_disc"), 1)), None,
     ["pmtud_disabled/rtr/net.ipv4.ip_no_pmtu_disc"], []),
    ("tcp_mtu_probing already on client-a", facts_with(**{"client-a": _set(("sysctls", "tcp_mtu_probing"), 1)}), None,
     [], ["tcp_mtu_probing_off/client-a/net.ipv4.tcp_mtu_probing"]),
    ("gw-a has a mangle table that may clamp",
     facts_with(**{"gw-a": _set(("firewall", "nft_tables"), ["inet filter", "ip mangle"])}), None,
     [], ["mss_clamp_missing/gw-a/forward"]),
    ("gw-a has our own clamp table", facts_with(**{"gw-a": _set(("firewall", "nft_tables"), ["inet netpath_mtu"])}), None,
     [], ["mss_clamp_missing/gw-a/forward"]),
    ("gw-a runs firewalld", facts_with(**{"gw-a": _set(("firewall", "firewalld"), True)}), None,
     [], ["mss_clamp_missing/gw-a/forward"]),
    ("gw-a has iptables-legacy rules", facts_with(**{"gw-a": _set(("firewall", "iptables_legacy_rules"), 3)}), None,
     [], ["mss_clamp_missing/gw-a/forward"]),
    ("gw-a does not forward", facts_with(**{"gw-a": lambda f: f["sysctls"].update(ipv4_forwarding=0, ipv6_forwarding=0)}), None,
     [], ["mss_clamp_missing/gw-a/forward"]),
    ("the seed lab, remediated: tunnels at 1340, PTB passes", facts_with(
        **{"gw-a": lambda f: (f["tunnels"]["seed-wg0a"].update(mtu=1340), f["interfaces"]["seed-wg0a"].update(mtu=1340)),
           "gw-b": lambda f: (f["tunnels"]["seed-wg0b"].update(mtu=1340), f["interfaces"]["seed-wg0b"].update(mtu=1340))}),
     FIXED_PATHS, [], [i for i in SEED_FINDINGS if not i.startswith("mss_clamp_missing")]),
    ("a router announces a wrong MTU", None,
     replace_path("server-b", "198.18.1.2", path_mtu=1380),
     ["path_mtu_below_interface/server-b/198.18.1.2/ipv4"], []),
]


@pytest.mark.parametrize("what, facts, paths, appear, disappear", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenarios(what, facts, paths, appear, disappear):
    ids = set(by_id(seed_data(facts, paths)))
    assert ids - set(SEED_FINDINGS) == set(appear), what
    assert set(SEED_FINDINGS) - ids == set(disappear), what


def test_mss_clamp_section_overrides_the_facts():
    data = seed_data()
    data["hosts"]["gw-a"]["mss_clamp"] = {"report": {"present": ["ipv4 forward: clamp to pmtu"], "added": []}}
    data["hosts"]["gw-b"]["mss_clamp"] = {"report": {"present": [], "added": ["ipv4 forward: clamp to pmtu"]}}
    data["hosts"]["gw-b"]["facts"]["firewall"]["nft_tables"] = ["ip mangle"]
    ids = set(by_id(data))
    assert "mss_clamp_missing/gw-a/forward" not in ids
    found = by_id(data)["mss_clamp_missing/gw-b/forward"]
    assert found["evidence"]["basis"] == "mss_clamp (check mode) would add: ipv4 forward: clamp to pmtu"


RTR_OUTPUT_DROP = [
    {"family": "ipv4", "hook": "input", "verdict": "accepted", "reason": "no rule matches", "conditional": False},
    {"family": "ipv4", "hook": "output", "verdict": "dropped", "conditional": False,
     "reason": "dropped by 'icmp type destination-unreachable icmp code frag-needed drop' (nftables inet filter chain output, handle 3)"},
    {"family": "ipv6", "hook": "forward", "verdict": "unknown", "reason": "a set the ruleset names is missing", "conditional": False},
    {"family": "ipv6", "hook": "output", "verdict": "dropped", "conditional": True,
     "reason": "dropped by 'icmpv6 type packet-too-big drop' (nftables inet filter chain output, handle 4)"},
]


def test_icmp_policy_drop_on_the_router_is_a_finding_linked_to_its_black_holes():
    data = seed_data()
    data["hosts"]["rtr"]["icmp_policy"] = {"changed": False, "results": RTR_OUTPUT_DROP}
    data["hosts"]["gw-a"]["icmp_policy"] = {"results": [dict(r, verdict="accepted") for r in RTR_OUTPUT_DROP]}
    found = by_id(data)
    assert set(found) - set(SEED_FINDINGS) == {"icmp_blocked/rtr/firewall"}
    icmp = found["icmp_blocked/rtr/firewall"]
    assert icmp["severity"] == "warning" and icmp["fix"]["host"] == "rtr"
    assert icmp["fix"]["module"] == "netpath.mtu.icmp_policy" and icmp["fix"]["args"] == {"state": "present"}
    assert [(d["family"], d["hook"], d["conditional"]) for d in icmp["evidence"]["dropped"]] == [
        ("ipv4", "output", False), ("ipv6", "output", True)]
    assert "ipv6 output (for some packets): dropped by 'icmpv6 type packet-too-big drop'" in icmp["message"]
    # The router's drop explains the gateways' underlay black holes, and they say so.
    holes = ["pmtud_black_hole/gw-a/198.18.2.2/ipv4", "pmtud_black_hole/gw-a/fd00:198:18:2::2/ipv6"]
    assert icmp["related"] == holes
    assert all("icmp_blocked/rtr/firewall" in found[h]["related"] for h in holes)


@pytest.mark.parametrize("host, results, expected", [
    # FORWARD counts only where the host forwards that family (client-a does not).
    ("client-a", [{"family": "ipv4", "hook": "forward", "verdict": "dropped", "reason": "policy drop"}], False),
    ("rtr", [{"family": "ipv4", "hook": "forward", "verdict": "dropped", "reason": "policy drop"}], True),
    ("client-a", [{"family": "ipv4", "hook": "input", "verdict": "dropped", "reason": "policy drop"}], True),
    ("client-a", [{"family": "ipv4", "hook": "input", "verdict": "unknown", "reason": "?"}], False),
    ("client-a", "not a list", False),
])
def test_which_icmp_policy_verdicts_count(host, results, expected):
    data = seed_data()
    data["hosts"][host]["icmp_policy"] = {"results": results}
    assert (f"icmp_blocked/{host}/firewall" in by_id(data)) is expected


@pytest.mark.parametrize("checks, expected_note", [
    ([{"name": "gw-a", "peer": "198.18.0.2", "family": "ipv4", "status": "dropped",
       "reason": "no EMSGSIZE: the PTB did not reach the socket"},
      {"name": "gw-a", "peer": "fd00:198:18::2", "family": "ipv6", "status": "accepted"}], True),
    ([{"name": "gw-a", "peer": "198.18.0.2", "family": "ipv4", "status": "inconclusive"}], None),
])
def test_ptb_check_that_was_not_accepted_is_a_finding(checks, expected_note):
    data = seed_data()
    data["hosts"]["client-a"]["ptb_check"] = checks
    found = by_id(data).get("icmp_blocked/client-a/firewall")
    if expected_note is None:
        assert found is None
        return
    assert found["evidence"]["ptb_check"] == [{"peer": "gw-a", "address": "198.18.0.2", "family": "ipv4",
                                               "reason": "no EMSGSIZE: the PTB did not reach the socket"}]
    assert "a packet-too-big from 198.18.0.2 (gw-a) (ipv4), on the same link, was not accepted" in found["message"]
    assert "look at conntrack" in found["fix"]["note"]


# The printed command is icmp_policy's, generated from the deciding rule on that host; none is made up.
@pytest.mark.parametrize("commands, expected", [
    (["nft insert rule inet hardening output handle 7 icmp type destination-unreachable icmp code frag-needed accept"],
     "nft insert rule inet hardening output handle 7 icmp type destination-unreachable icmp code frag-needed accept"),
    (["iptables-legacy -w 60 -t filter -I INPUT 2 -p icmp --icmp-type fragmentation-needed -j ACCEPT", "nft add rule x"],
     "iptables-legacy -w 60 -t filter -I INPUT 2 -p icmp --icmp-type fragmentation-needed -j ACCEPT && nft add rule x"),
    ([], None),
])
def test_icmp_fix_command_is_the_one_icmp_policy_generated(commands, expected):
    data = seed_data()
    data["hosts"]["rtr"]["icmp_policy"] = {"results": RTR_OUTPUT_DROP, "fix": {"commands": commands}}
    found = by_id(data)
    for finding_id in ("pmtud_black_hole/gw-a/198.18.2.2/ipv4", "icmp_blocked/rtr/firewall"):
        assert found[finding_id]["fix"]["host"] == "rtr"
        assert found[finding_id]["fix"]["command"] == expected


# The printed MSS command is mss_clamp's (check mode, its ``fix``), made from its plan on that host;
# without that check none is made up, whatever framework the facts name.
MSS_PRINTED = [
    "nft add table inet netpath_mtu",
    "nft add chain inet netpath_mtu forward '{ type filter hook forward priority -150; policy accept; }'",
    "nft add rule inet netpath_mtu forward tcp flags syn / syn,rst tcp option maxseg size set rt mtu",
]


@pytest.mark.parametrize("commands, expected", [
    (MSS_PRINTED, " && ".join(MSS_PRINTED)),
    (["ip6tables-legacy -w 60 -t mangle -I FORWARD 1 -p tcp -j TCPMSS --clamp-mss-to-pmtu"],
     "ip6tables-legacy -w 60 -t mangle -I FORWARD 1 -p tcp -j TCPMSS --clamp-mss-to-pmtu"),
])
def test_mss_clamp_command_is_the_one_mss_clamp_generated(commands, expected):
    data = seed_data()
    data["hosts"]["gw-a"]["mss_clamp"] = {"report": {"present": [], "added": ["ipv4 forward: clamp to path MTU"]},
                                          "fix": {"commands": commands}}
    fix = by_id(data)["mss_clamp_missing/gw-a/forward"]["fix"]
    assert fix["command"] == expected
    assert fix["module"] == "netpath.mtu.mss_clamp" and fix["args"] == {"state": "present"}
    assert "mss_clamp also persists" in fix["note"]


@pytest.mark.parametrize("framework", ["nftables", "none", "iptables-nft", "iptables-legacy", "firewalld"])
def test_mss_clamp_without_its_check_prints_no_command(framework):
    facts = facts_with(**{"gw-a": lambda f: f["firewall"].update(framework=framework, nft_tables=[], firewalld=False)})
    fix = by_id(seed_data(facts))["mss_clamp_missing/gw-a/forward"]["fix"]
    assert fix["command"] is None
    assert fix["module"] == "netpath.mtu.mss_clamp" and fix["args"] == {"state": "present"}
    assert "mss_clamp did not check gw-a: run it with --check --diff" in fix["note"]


def test_hop_outside_the_inventory():
    paths = replace_path("gw-a", "198.18.2.2", hop=(3, "203.0.113.1"))
    found = by_id(seed_data(None, paths))["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert found["fix"]["host"] is None
    assert found["fix"]["module"] is None
    assert "203.0.113.1: not an inventory host" in found["fix"]["note"]
    assert found["evidence"]["cause"].startswith("the ICMP error is lost outside the inventory")


def test_hop_not_located():
    paths = replace_path("gw-a", "198.18.2.2", hop=None)
    found = by_id(seed_data(None, paths))["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert found["evidence"]["cause"].startswith("unknown")
    assert found["fix"]["host"] is None
    assert "locate_hop" in found["fix"]["note"]


def test_facts_alone_show_the_tunnel_too_large_on_the_small_side():
    data = seed_data()
    for host in data["hosts"].values():
        host["probes"] = []
    ids = set(by_id(data))
    assert ids == {"tunnel_mtu_too_large/gw-b/seed-wg0b", "mss_clamp_missing/gw-a/forward", "mss_clamp_missing/gw-b/forward"}
    found = by_id(data)["tunnel_mtu_too_large/gw-b/seed-wg0b"]
    assert found["evidence"]["basis"] == "facts"
    assert found["evidence"]["underlay_path_status"] == "not_probed"


# (kind, outer family, options, underlay path MTU, tunnel MTU, MTU that fits) - the overhead table applies
TUNNEL_KINDS = [
    ("vxlan", "ipv4", {}, 1400, 1450, 1350),
    ("vxlan", "ipv6", {}, 1500, 1450, 1430),
    ("gre", "ipv4", {"key": True, "seq": False, "csum": False, "udp_encap": "none"}, 1500, 1476, 1472),
    ("geneve", "ipv4", {}, 1400, 1400, 1350),
    ("ipip", "ipv4", {"udp_encap": "none"}, 1400, 1480, 1380),
]


@pytest.mark.parametrize("kind, family, options, path_mtu, mtu, fits", TUNNEL_KINDS)
def test_tunnel_kinds(kind, family, options, path_mtu, mtu, fits):
    remote = "fd00::2" if family == "ipv6" else "192.0.2.2"
    tunnel = vxlan("t0", mtu, remote, "eth0", 1500)
    tunnel.update(kind=kind, overhead_options=options)
    facts = {"a": host_facts([iface("eth0", 1500, ["192.0.2.1", "fd00::1"]), iface("t0", mtu, ["10.0.0.1"], kind=kind)], [tunnel])}
    plan = probe_plan.plan(facts)
    probes = [result(remote, "eth0", 1500, "ptb", path_mtu, ptb_source="192.0.2.254", ptb_mtu=path_mtu)]
    data = {"hosts": {"a": {"facts": facts["a"], "targets": plan["a"], "probes": probes, "error": None}}}
    found = {f["id"]: f for f in findings.findings(data)}
    if mtu > fits:
        assert found["tunnel_mtu_too_large/a/t0"]["evidence"]["max_tunnel_mtu"] == fits
    else:
        assert "tunnel_mtu_too_large/a/t0" not in found


def test_ipv6_inside_a_tunnel_too_small_for_it():
    tunnel = vxlan("t0", 1400, "fd00::2", "eth0", 1500)
    tunnel.update(kind="wireguard", overhead=80)
    facts = {"a": host_facts([iface("eth0", 1500, ["fd00::1"]), iface("t0", 1400, ["10.0.0.1", "fd10::1"], kind="wireguard")],
                             [tunnel])}
    plan = probe_plan.plan(facts)
    probes = [result("fd00::2", "eth0", 1500, "black_hole", 1350, hop=(2, "fd00::fe"))]
    data = {"hosts": {"a": {"facts": facts["a"], "targets": plan["a"], "probes": probes, "error": None}}}
    found = {f["id"]: f for f in findings.findings(data)}["tunnel_mtu_too_large/a/t0"]
    assert found["evidence"]["max_tunnel_mtu"] == 1270
    assert found["fix"]["module"] is None
    assert "raise the underlay path to at least 1360 bytes" in found["fix"]["note"]


def test_hosts_without_facts_and_unprobed_targets():
    data = seed_data()
    data["hosts"]["rtr"] = {"facts": None, "targets": [], "probes": [], "error": "mtu_facts failed: pyroute2 missing"}
    data["hosts"]["client-a"]["probes"] = []
    audit = findings.Audit(data)
    assert "rtr" not in audit.facts
    statuses = {p["status"] for p in audit.paths_from("client-a")}
    assert statuses == {"not_probed"}
    # The router is still named as the hop: the inventory knows its address.
    assert by_id(data)["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]["evidence"]["hop"]["host"] == "rtr"


BAD_DATA = [
    ([], "audit data must be a dict with 'hosts'"),
    ({"hosts": []}, "audit data must be a dict with 'hosts'"),
    ({"hosts": {"a": "x"}}, "host 'a': expected a dict"),
    ({"hosts": {"a": {"facts": {}, "colour": 1}}}, "unknown key(s) colour"),
    ({"hosts": {"a": {"facts": {"tunnels": {}}}}}, "'facts' must be netpath_mtu_facts"),
    ({"hosts": {"a": {"facts": None, "probes": "x"}}}, "'probes' must be a list of dicts"),
    ({"hosts": {}, "inventory": []}, "'inventory' must be a dict"),
]


@pytest.mark.parametrize("data, message", BAD_DATA)
def test_bad_data(data, message):
    with pytest.raises(ValueError) as err:
        findings.findings(data)
    assert message in str(err.value)


def test_optional_sections_are_accepted():
    data = seed_data()
    data["hosts"]["gw-a"].update(icmp_policy={"ipv4": {}}, ptb_check=[], transfer=[])
    assert sorted(by_id(data)) == sorted(SEED_FINDINGS)


def test_vxlan_and_ipv4_only():
    data = {"hosts": {"h": {"facts": host_facts([iface("eth0", 1500, [addr("192.0.2.1")])]), "targets": [], "probes": []}}}
    assert findings.findings(data) == []


def test_an_unresolved_name_is_not_probed_and_says_why():
    data = seed_data()
    facts = {name: host["facts"] for name, host in data["hosts"].items()}
    data["hosts"]["client-a"]["targets"] = probe_plan.plan(facts, extra_targets={"client-a": ["backend.invalid"]})["client-a"]
    data["hosts"]["client-a"]["probes"].append(dict(
        result("backend.invalid", None, None, "unresolved", None), address=None, family=None,
        reason="target 'backend.invalid' does not resolve: Name or service not known"))
    (path,) = [p for p in findings.Audit(data).paths_from("client-a") if p["target"] == "backend.invalid"]
    assert (path["status"], path["roles"]) == ("not_probed", ["extra"])
    assert "does not resolve" in path["reason"]
    assert not [f for f in findings.findings(data) if "backend.invalid" in f["id"]]


# --- attribution: a finding names a host only on evidence about that host --------------------------

def evaluated(verdicts: dict | None = None, **extra) -> dict:
    """An icmp_policy section: every family and hook accepted, except ``verdicts`` {(family, hook): reason}."""
    results = []
    for family in ("ipv4", "ipv6"):
        for hook in ("input", "forward", "output"):
            reason = (verdicts or {}).get((family, hook))
            results.append({"family": family, "hook": hook, "verdict": "dropped" if reason else "accepted",
                            "reason": reason or "accepted: no base chain on the path drops it", "conditional": False})
    return dict({"results": results}, **extra)


def all_evaluated(data: dict, **sections) -> dict:
    for name, host in data["hosts"].items():
        host["icmp_policy"] = sections.get(name.replace("-", "_"), evaluated())
    return data


def test_clean_router_with_the_small_link_is_not_blamed():
    found = by_id(all_evaluated(seed_data()))
    hole = found["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert not any(i.startswith("icmp_blocked/") for i in found)
    assert hole["fix"]["host"] is None and hole["fix"]["command"] is None
    assert hole["evidence"]["cause"].startswith("unknown: rtr has the small link and its ruleset lets the ICMP error out")


def test_router_whose_output_drops_is_blamed_with_its_rule():
    data = all_evaluated(seed_data(), rtr=evaluated({("ipv4", "output"): "dropped by 'x' (nftables inet hardening chain output, handle 7)"},
                                                    fix={"commands": ["nft insert rule inet hardening output handle 7 accept"]}))
    found = by_id(data)
    hole = found["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert hole["fix"]["host"] == "rtr"
    assert hole["fix"]["command"] == "nft insert rule inet hardening output handle 7 accept"
    assert hole["related"] == ["icmp_blocked/rtr/firewall"]
    assert "rtr drops it in OUTPUT (the router whose link is too small" in hole["evidence"]["cause"]
    # IPv6 is accepted there: its black hole names no one.
    assert found["pmtud_black_hole/gw-a/fd00:198:18:2::2/ipv6"]["fix"]["host"] is None


def test_sender_whose_input_drops_is_blamed():
    data = all_evaluated(seed_data(), gw_a=evaluated({("ipv4", "input"): "dropped by the policy drop of chain input"}))
    hole = by_id(data)["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert hole["fix"]["host"] == "gw-a"
    assert hole["related"] == ["icmp_blocked/gw-a/firewall"]


def test_hop_before_the_last_that_is_outside_the_inventory_is_named():
    paths = replace_path("gw-a", "198.18.2.2", hop=(2, "198.18.1.2"))
    data = all_evaluated(seed_data(None, paths))
    data["hosts"]["gw-a"]["probes"][[p["target"] for p in data["hosts"]["gw-a"]["probes"]].index("198.18.2.2")]["hop"]["route"] = [
        {"ttl": 1, "address": "203.0.113.7"}, {"ttl": 2, "address": "198.18.1.2"}]
    hole = by_id(data)["pmtud_black_hole/gw-a/198.18.2.2/ipv4"]
    assert hole["fix"]["host"] is None
    assert hole["fix"]["note"].startswith("203.0.113.7: not an inventory host")


def test_ptb_check_across_routers_blames_the_path_not_the_checked_host():
    data = all_evaluated(seed_data())
    data["hosts"]["client-a"]["ptb_check"] = [{"name": "gw-b", "peer": "198.18.2.2", "family": "ipv4",
                                               "status": "dropped", "reason": "acks came back, no PTB"}]
    found = by_id(data)
    assert "icmp_blocked/client-a/firewall" not in found
    transit = found["ptb_lost_in_transit/client-a/198.18.2.2/ipv4"]
    assert transit["severity"] == "warning"
    assert transit["fix"]["host"] is None and "not an inventory host" in transit["fix"]["note"]
    assert "they are not on one link, and client-a's own ruleset accepts it" in transit["message"]
    # An inventory router whose ruleset drops it in FORWARD is only a suspect while no probe traced the way...
    data["hosts"]["rtr"]["icmp_policy"] = evaluated({("ipv4", "forward"): "dropped by 'icmp type 3 drop'"})
    found = by_id(data)
    transit = found["ptb_lost_in_transit/client-a/198.18.2.2/ipv4"]
    assert transit["fix"]["host"] is None and transit["related"] == []
    assert "if the way crosses them: rtr (no probe traced the way)" in transit["message"]
    # ... and is named, linked both ways, once a traced route crosses it.
    probes = data["hosts"]["client-a"]["probes"]
    probes[[p["target"] for p in probes].index("198.18.2.2")]["hop"] = {
        "ttl": 2, "address": "198.18.1.2", "located": False, "method": "ttl",
        "route": [{"ttl": 1, "address": "198.18.0.2"}, {"ttl": 2, "address": "198.18.1.2"}]}
    found = by_id(data)
    transit = found["ptb_lost_in_transit/client-a/198.18.2.2/ipv4"]
    assert transit["fix"]["host"] == "rtr" and transit["related"] == ["icmp_blocked/rtr/firewall"]
    assert "ptb_lost_in_transit/client-a/198.18.2.2/ipv4" in found["icmp_blocked/rtr/firewall"]["related"]
    # The checked host's own INPUT drop explains it: no transit finding, the check is evidence on its finding.
    data["hosts"]["client-a"]["icmp_policy"] = evaluated({("ipv4", "input"): "dropped by the policy drop of chain input"})
    found = by_id(data)
    assert "ptb_lost_in_transit/client-a/198.18.2.2/ipv4" not in found
    assert found["icmp_blocked/client-a/firewall"]["evidence"]["ptb_check"][0]["address"] == "198.18.2.2"


FRAGMENT_DROP = {"family": "ipv4", "hook": "input", "verdict": "dropped",
                 "rule": {"framework": "nftables", "family": "inet", "table": "filter", "chain": "prerouting", "handle": 5,
                          "text": "ip frag-off & 0x1fff != 0 drop"},
                 "reason": "dropped by 'ip frag-off & 0x1fff != 0 drop' (nftables inet filter chain prerouting, handle 5)"}


def test_fragment_drop_under_a_tunnel_whose_outer_packets_fragment_is_critical():
    data = all_evaluated(seed_data(), gw_b=evaluated(fragment_drops=[FRAGMENT_DROP]))
    probes = data["hosts"]["gw-a"]["probes"]
    probes[[p["target"] for p in probes].index("198.18.2.2")]["source"] = "198.18.1.1"
    found = by_id(data)["fragments_dropped/gw-b/fragments"]
    assert found["severity"] == "critical"
    assert found["evidence"]["tunnels"] == ["gw-a/seed-wg0a"]
    assert found["fix"]["command"] == ("nft insert rule inet filter prerouting handle 5 'ip saddr 198.18.1.1 "
                                       "ip frag-off & 0x1fff != 0 accept'")
    assert "tunnel_mtu_too_large/gw-a/seed-wg0a" in found["related"]
    assert "fragments_dropped/gw-b/fragments" in by_id(data)["tunnel_mtu_too_large/gw-a/seed-wg0a"]["related"]


def test_fragment_drop_that_nothing_crosses_is_a_warning_without_a_command():
    data = all_evaluated(seed_data(), server_b=evaluated(fragment_drops=[FRAGMENT_DROP]))
    found = by_id(data)["fragments_dropped/server-b/fragments"]
    assert found["severity"] == "warning" and found["fix"]["command"] is None and found["related"] == []


def test_replies_that_lose_their_fragments_point_at_the_host_that_drops_them():
    paths = replace_path("client-a", "198.18.0.2", status="black_hole", path_mtu=1400, hop=None)
    data = all_evaluated(seed_data(None, paths), client_a=evaluated(fragment_drops=[dict(FRAGMENT_DROP, family="ipv4")]))
    probe = next(p for p in data["hosts"]["client-a"]["probes"] if p["target"] == "198.18.0.2")
    probe["hop"] = {"ttl": None, "address": None, "located": False, "method": "fragments", "last_answered": None,
                    "silent_ttls": []}
    probe["fragments_lost"] = {"sizes": [1401, 1500], "smallest": 1401, "from": "198.18.0.2"}
    found = by_id(data)
    hole = found["pmtud_black_hole/client-a/198.18.0.2/ipv4"]
    assert hole["fix"]["host"] == "client-a" and hole["related"] == ["fragments_dropped/client-a/fragments"]
    assert hole["evidence"]["cause"].startswith("replies of 1401 bytes and more arrive only as first fragments")
    assert hole["evidence"]["fragments_lost"]["smallest"] == 1401
    dropper = found["fragments_dropped/client-a/fragments"]
    assert dropper["severity"] == "critical" and hole["id"] in dropper["related"]
    # The same drop on a router that forwards is only a suspect: named in the note, related, not the fix host.
    data = all_evaluated(seed_data(None, paths), rtr=evaluated(fragment_drops=[dict(FRAGMENT_DROP, hook="forward")]))
    probe = next(p for p in data["hosts"]["client-a"]["probes"] if p["target"] == "198.18.0.2")
    probe["hop"] = {"ttl": None, "address": None, "located": False, "method": "fragments"}
    probe["fragments_lost"] = {"sizes": [1401], "smallest": 1401, "from": "198.18.0.2"}
    hole = by_id(data)["pmtud_black_hole/client-a/198.18.0.2/ipv4"]
    assert hole["fix"]["host"] is None and "if the way back crosses them: rtr" in hole["fix"]["note"]
    assert hole["related"] == ["fragments_dropped/rtr/fragments"]
