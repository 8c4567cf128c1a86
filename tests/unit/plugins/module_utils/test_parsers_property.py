# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property tests for every parser of what hosts send or print.

Packets (probe_io, ptb_packets, transfer_proto) on arbitrary, truncated and mutated bytes never
raise; ``nft -j`` JSON and iptables-save text raise nothing but the module's own error
(``nft_eval.RulesetError``, ``iptables_eval.SaveError``, both ValueError); configuration file
editors (persist) raise nothing but ValueError. Round trips where the code has both directions.

A few examples per test by default; ``NETPATH_MTU_FUZZ=1`` runs a long fuzz (thousands each).
"""

from __future__ import annotations

import json
import os
import struct

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval
from ansible_collections.netpath.mtu.plugins.module_utils.host import persist
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.ptb import ptb_packets as pp
from ansible_collections.netpath.mtu.plugins.module_utils.transfer import transfer_proto as tp
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.probe_io import FragmentTracker, PathKey, Parsed, fragment_of
from ansible_collections.netpath.mtu.plugins.module_utils.wire.token import token_digest

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given, settings, HealthCheck = hypothesis.given, hypothesis.settings, hypothesis.HealthCheck

settings.register_profile("netpath-unit", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("netpath-fuzz", max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("netpath-fuzz" if os.environ.get("NETPATH_MTU_FUZZ") == "1" else "netpath-unit")


# -- packets ----------------------------------------------------------------------------------------

def valid_packets():
    """Well-formed probes and answers (built with struct), the seeds the mutations start from."""
    out = []
    for fam, src, dst in ((4, "198.18.3.2", "198.18.0.2"), (6, "fd00::2", "fd00::1")):
        key = PathKey(dst, fam, src)
        for method in ("icmp", "udp"):
            probe = probe_io.build_probe(key, 600, 5, method, 77, 0x1234, 45000, 33434)
            out.append(probe)
            out.append(pp.build_ptb(probe, dst, 1400 if fam == 4 else 1300))
        out.append(pp.build_probe(src, dst, 1, 2, 200, token_digest("0123456789abcdef"), 3, 1400))
    # a fragment: IPv4 with MF, IPv6 with a fragment header after hop-by-hop options
    v4 = bytearray(out[0])
    v4[6] = 0x20
    out.append(bytes(v4))
    v6 = out[5]
    out.append(v6[:6] + b"\x00" + v6[7:40] + b"\x2c\x00\x00\x00\x00\x00\x00\x00" + bytes([v6[6], 0, 0, 9, 0, 0, 0, 1]) + v6[40:])
    return out


SEEDS = valid_packets()


@st.composite
def mutated(draw):
    """A seed packet, cut short and with a few bytes overwritten, or plain random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for dummy in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(0, len(data)))])


def check_parsed(got):
    assert got is None or isinstance(got, Parsed)
    if got is not None:
        assert isinstance(got.seq, int) and isinstance(got.target, str)


@given(mutated(), st.sampled_from(["icmp", "udp"]))
def test_probe_io_parse_never_raises(data, method):
    check_parsed(probe_io.parse(data, method))
    check_parsed(probe_io.parse(data[:probe_io.SNAPLEN], method))
    frag = fragment_of(data)
    if frag is not None:
        FragmentTracker(limit=2, max_pieces=2).add(frag, None)


@given(st.lists(mutated(), max_size=12))
def test_fragment_tracker_takes_any_sequence(packets):
    tracker = FragmentTracker(limit=4, max_pieces=4)
    for data in packets:
        frag = fragment_of(data)
        if frag is not None:
            check_parsed(tracker.add(frag, probe_io.parse(data, "icmp")))
    assert len(tracker) <= 4


@given(mutated())
def test_ptb_packets_parsers_never_raise(data):
    got = pp.parse_udp(data)
    assert got is None or got.family in (4, 6)
    assert pp.decode_message(data, b"\0" * 8) is None or len(data) >= pp.MESSAGE.size
    try:
        pp.parse_extended_err(data)
    except ValueError:
        assert len(data) < pp.EXTENDED_ERR.size


@given(st.binary(max_size=120))
def test_transfer_proto_decoders_never_raise(data):
    assert tp.decode_request(data, b"\0" * 8) is None or len(data) >= tp.REQUEST.size
    reply = tp.decode_reply(data)
    assert reply is None or isinstance(reply, dict)
    assert isinstance(tp.parse_tcp_info(data), dict)


@given(st.integers(0, 0xFFFFFFFF), st.integers(552, 65535), st.sampled_from([pp.KIND_PROBE, pp.KIND_ACK, pp.KIND_BYE]),
       st.integers(0, 255), st.integers(0, 300))
def test_ptb_message_round_trip(seq, mtu, kind, status, size):
    digest = token_digest("0123456789abcdef")
    data = pp.encode_message(kind, digest, seq, mtu=mtu, status=status, size=size)
    assert pp.decode_message(data, digest) == pp.Message(kind, status, seq, mtu)
    assert pp.decode_message(data, b"x" * 8) is None


# -- nft -j JSON --------------------------------------------------------------------------------------

JSON_STR = st.one_of(st.text(max_size=8),
                     st.sampled_from(["ip", "ip6", "inet", "filter", "input", "accept", "drop", "icmp", "type", "saddr",
                                      "iifname", "l4proto", "state", "established", "@s", "ct", "meta", "payload"]))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), JSON_STR)
JSON_ANY = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(JSON_STR, inner, max_size=3)),
                        max_leaves=12)
FAMILY = st.sampled_from(["ip", "ip6", "inet", "bridge", "arp", "netdev"])
MATCH = st.fixed_dictionaries({"match": st.fixed_dictionaries({
    "op": st.sampled_from(["==", "!=", "in", "<", ">=", "&"]),
    "left": st.one_of(
        st.fixed_dictionaries({"payload": st.fixed_dictionaries({
            "protocol": st.sampled_from(["ip", "ip6", "icmp", "icmpv6", "tcp", "udp", "th"]),
            "field": st.sampled_from(["type", "code", "saddr", "daddr", "dport", "protocol", "nexthdr"])})}),
        st.fixed_dictionaries({"meta": st.fixed_dictionaries({
            "key": st.sampled_from(["l4proto", "iifname", "oifname", "nfproto", "mark", "pkttype", "iif"])})}),
        st.fixed_dictionaries({"ct": st.fixed_dictionaries({"key": st.sampled_from(["state", "status", "direction", "mark"])})}),
        JSON_ANY),
    "right": st.one_of(JSON_ANY, st.fixed_dictionaries({"set": st.lists(JSON_LEAF, max_size=3)}),
                       st.sampled_from(["established", "related", "destination-unreachable", "packet-too-big", "@s", "eth0"])),
})})
VERDICT = st.one_of(st.sampled_from([{"accept": None}, {"drop": None}, {"return": None}, {"reject": None},
                                     {"counter": None}, {"notrack": None}, {"log": {"prefix": "x"}}]),
                    st.fixed_dictionaries({"jump": st.fixed_dictionaries({"target": st.sampled_from(["c0", "c1", "nope"])})}),
                    st.fixed_dictionaries({"goto": st.fixed_dictionaries({"target": st.sampled_from(["c0", "c1"])})}),
                    st.fixed_dictionaries({"mangle": st.fixed_dictionaries({"key": JSON_ANY, "value": JSON_ANY})}),
                    st.fixed_dictionaries({"vmap": st.fixed_dictionaries({"key": JSON_ANY, "data": JSON_ANY})}))
TABLE_NAME = st.sampled_from(["t", "filter", "firewalld"])
CHAIN_NAME = st.sampled_from(["c0", "c1", "INPUT"])
NFT_OBJECT = st.one_of(
    st.fixed_dictionaries({"table": st.fixed_dictionaries({"family": FAMILY, "name": TABLE_NAME, "handle": st.integers(0, 9)})}),
    st.fixed_dictionaries({"chain": st.fixed_dictionaries(
        {"family": FAMILY, "table": TABLE_NAME, "name": CHAIN_NAME},
        optional={"hook": st.sampled_from(["input", "forward", "output", "prerouting", "postrouting", "ingress"]),
                  "prio": st.one_of(st.integers(-400, 400), st.sampled_from(["filter", "raw + 1", "mangle-5", "bogus"])),
                  "policy": st.sampled_from(["accept", "drop"]), "type": st.sampled_from(["filter", "nat", "route"]),
                  "dev": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=2))})}),
    st.fixed_dictionaries({"rule": st.fixed_dictionaries(
        {"family": FAMILY, "table": TABLE_NAME, "chain": CHAIN_NAME,
         "expr": st.lists(st.one_of(MATCH, VERDICT, st.dictionaries(st.text(max_size=4), JSON_ANY, max_size=1)), max_size=4)},
        optional={"handle": st.integers(0, 99), "comment": st.text(max_size=6)})}),
    st.fixed_dictionaries({"set": st.fixed_dictionaries({"family": FAMILY, "table": TABLE_NAME, "name": st.just("s")},
                                                        optional={"elem": st.lists(JSON_ANY, max_size=3)})}),
    st.fixed_dictionaries({"map": st.fixed_dictionaries({"family": FAMILY, "table": TABLE_NAME, "name": st.just("m")},
                                                        optional={"elem": JSON_ANY})}),
    st.dictionaries(st.sampled_from(["metainfo", "table", "chain", "rule", "set", "map", "x"]), JSON_ANY, max_size=2),
    JSON_ANY,
)


def nft_outcome(document):
    """Parse and evaluate; return the results, or the RulesetError raised."""
    try:
        ruleset, dummy, dummy2 = nft_eval.parse(document)
    except nft_eval.RulesetError as exc:
        return exc
    return fw_eval.evaluate(ruleset)


@given(st.lists(NFT_OBJECT, max_size=8))
def test_nft_parse_and_evaluate_raise_only_ruleset_error(objects):
    result = nft_outcome({"nftables": objects})
    assert isinstance(result, (list, nft_eval.RulesetError))
    nft_outcome(json.dumps({"nftables": objects}))


@given(st.one_of(JSON_ANY, st.text(max_size=30), st.binary(max_size=30)))
def test_nft_load_raises_only_ruleset_error(document):
    try:
        assert isinstance(nft_eval.load(document), list)
    except nft_eval.RulesetError:
        pass


# -- iptables-save text -------------------------------------------------------------------------------

WORD = st.sampled_from(["-A", "INPUT", "FORWARD", "c0", "-p", "icmp", "ipv6-icmp", "udp", "-m", "icmp", "icmp6", "conntrack",
                        "--ctstate", "RELATED,ESTABLISHED", "--icmp-type", "fragmentation-needed", "3/4", "--icmpv6-type",
                        "packet-too-big", "-j", "ACCEPT", "DROP", "REJECT", "MARK", "--set-xmark", "0x1/0xff", "-i", "eth+",
                        "-s", "10.0.0.0/8", "!", "-f", "comment", "--comment", '"a b"', "-g", "mark", "--mark", "0x2",
                        "limit", "--limit", "1/s", "state", "--state", "NEW", "-o", "lo", "-d", "-4", "CT", "--notrack",
                        "'", '"', "\\", "[0:0]", "é", "\t"])
RULE_LINE = st.lists(WORD, min_size=0, max_size=10).map(lambda words: " ".join(["-A"] + words))
SAVE_LINE = st.one_of(
    RULE_LINE,
    st.builds(lambda c, p: f":{c} {p} [0:0]", st.sampled_from(["INPUT", "FORWARD", "OUTPUT", "c0", "c1", ""]),
              st.sampled_from(["ACCEPT", "DROP", "-", "QUEUE"])),
    st.sampled_from(["*filter", "*raw", "*mangle", "*nat", "*security", "*", "COMMIT", "", "# Generated", ":"]),
    st.text(max_size=20),
)


def iptables_outcome(text, family):
    try:
        return iptables_eval.parse(text, family=family, framework="iptables-nft")
    except iptables_eval.SaveError as exc:
        return exc


@given(st.lists(SAVE_LINE, max_size=12), st.sampled_from(["ipv4", "ipv6"]))
def test_iptables_parse_and_evaluate_raise_only_save_error(lines, family):
    result = iptables_outcome("\n".join(lines), family)
    if not isinstance(result, iptables_eval.SaveError):
        fw_eval.evaluate(result[0], families=(family,))


TABLES = st.dictionaries(
    st.sampled_from(["filter", "raw", "mangle", "nat"]),
    st.fixed_dictionaries({"chains": st.dictionaries(st.sampled_from(["INPUT", "FORWARD", "OUTPUT", "c0", "c-1"]),
                                                     st.sampled_from([None, "ACCEPT", "DROP"]), max_size=4)}),
    max_size=3,
)


@st.composite
def save_tables(draw):
    tables = draw(TABLES)
    for table in tables.values():
        table["rules"] = {chain: [f"-A {chain} " + " ".join(draw(st.lists(WORD.filter(lambda w: w.strip() == w and w), min_size=1, max_size=5)))
                                  for dummy in range(draw(st.integers(0, 2)))]
                          for chain in table["chains"]}
    return tables


@given(save_tables())
def test_iptables_render_parse_round_trip(tables):
    text = iptables_eval.render_save(tables, header="# Generated by test")
    assert iptables_eval.parse_save(text) == tables
    assert iptables_eval.render_save(iptables_eval.parse_save(text), header="# Generated by test") == text


# -- managed blocks -----------------------------------------------------------------------------------

BLOCK_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                     max_size=20).filter(lambda line: not line.startswith("# BEGIN netpath.mtu") and line.strip() != "# END netpath.mtu icmp")


@given(st.one_of(st.none(), st.text(max_size=60)), st.lists(BLOCK_LINE, max_size=5))
def test_managed_block_round_trip(text, body):
    changed = fw_plan.replace_block(text, "icmp", body)
    assert fw_plan.get_block(changed, "icmp") == body
    assert fw_plan.replace_block(changed, "icmp", body) == changed  # idempotent
    removed = fw_plan.replace_block(changed, "icmp", [])
    assert fw_plan.get_block(removed, "icmp") == []


# -- configuration files ------------------------------------------------------------------------------

CONF_LINE = st.one_of(
    st.sampled_from(["[Interface]", "[Peer]", "[Link]", "[NetDev]", "[Network]", "[Match]", "[ipv4]", "[ethernet]", "[",
                     "MTU = 1420", "MTU=1420", "MTU = ", "MTU = abc", "MTUBytes=1400", "MTUBytes=1.5K", "mtu=1400",
                     "PrivateKey = abc=", "PostUp = ip link set mtu 1400 dev %i", "# MTU = 1", "Address = 10.0.0.1/24",
                     "iface eth0 inet static", "iface eth0 inet6 auto", "  mtu 1400", "auto eth0", "allow-hotplug eth0",
                     "MTU=\"1400\"", "DEVICE=eth0", "network:", "  ethernets:", "    eth0:", "      mtu: 1400",
                     "    eth0: {mtu: 1400}", "    eth0: {dhcp4: true,", "  version: 2", "\tmtu: 1", "      set-name: eth0",
                     "    id0:", "      match: {name: eth0}", "  bonds:", "    eth0: []", "ü = ü", "\ufeff[Interface]"]),
    st.text(max_size=15),
)
CONF_TEXT = st.builds(lambda lines, nl, end: nl.join(lines) + (nl if end else ""), st.lists(CONF_LINE, max_size=10),
                      st.sampled_from(["\n", "\r\n"]), st.booleans())
MTU = st.integers(68, 65535)


def only_value_error(func, *args, **kwargs):
    try:
        out = func(*args, **kwargs)
    except ValueError:
        return None
    assert isinstance(out, str)
    return out


@given(CONF_TEXT, MTU)
def test_wg_quick(text, mtu):
    out = only_value_error(persist.wg_quick, text, mtu)
    if out is not None:
        assert only_value_error(persist.wg_quick, out, mtu) == out  # applying it again changes nothing
    assert isinstance(persist.redact(text), str)


@given(CONF_TEXT, MTU, st.sampled_from(["a.netdev", "a.network", "a.network.d/mtu.conf", "a.link"]), st.booleans())
def test_networkd(text, mtu, path, insert):
    out = only_value_error(persist.networkd, text, path, mtu, insert=insert)
    if out is not None:
        assert only_value_error(persist.networkd, out, path, mtu, insert=insert) == out
    if path.endswith((".netdev", ".network")):
        unshared = persist.networkd_unshared(text, path, "eth0")
        assert unshared is None or isinstance(unshared, str)


@given(CONF_TEXT, MTU)
def test_netplan(text, mtu):
    out = only_value_error(persist.netplan, text, "eth0", mtu)
    if out is not None:
        assert only_value_error(persist.netplan, out, "eth0", mtu) == out


@given(CONF_TEXT, MTU)
def test_ifupdown(text, mtu):
    out = only_value_error(persist.ifupdown, text, "eth0", mtu)
    if out is not None:
        assert only_value_error(persist.ifupdown, out, "eth0", mtu) == out


@given(CONF_TEXT, MTU)
def test_ifcfg(text, mtu):
    out = only_value_error(persist.ifcfg, text, mtu)
    if out is not None:
        assert only_value_error(persist.ifcfg, out, mtu) == out


@given(st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["1400", "auto", "1400 (default)", "0", "-1"])))
def test_size_values(value):
    for func in (persist.parse_size, persist.nm_mtu_value):
        got = func(value)
        assert got is None or isinstance(got, int)


def test_struct_layouts_are_what_the_decoders_expect():
    """The reply the decoders read is the size the encoders write (a cheap guard for the fuzz above)."""
    assert len(tp.encode_reply(1, {}, 0.5)) == tp.REPLY.size
    assert struct.calcsize(pp.EXTENDED_ERR.format) == pp.EXTENDED_ERR.size


# -- the defects the properties found, pinned ---------------------------------------------------------

@pytest.mark.parametrize("obj", [{"chain": {}}, {"rule": {"family": "ip", "table": "t"}}, {"set": {}}, {"map": {"name": 3}}])
def test_nft_object_without_its_name_is_a_ruleset_error(obj):
    with pytest.raises(nft_eval.RulesetError, match="without a"):
        nft_eval.parse({"nftables": [obj]})


def test_nft_output_that_is_not_utf8_is_a_ruleset_error():
    with pytest.raises(nft_eval.RulesetError, match="not JSON"):
        nft_eval.load(b"\x80")


@pytest.mark.parametrize("rule", ["-A INPUT -p", "-A INPUT -m", "-A INPUT -j", "-A INPUT ! -s", "-A -A -i", "-A INPUT -p icmp -g"])
def test_iptables_option_without_its_value_is_a_save_error(rule):
    with pytest.raises(iptables_eval.SaveError, match="without its value"):
        iptables_eval.parse(f"*filter\n:INPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n", family="ipv4", framework="iptables-legacy")


def test_iptables_comment_that_looks_like_an_option_is_still_a_comment():
    ruleset, dummy = iptables_eval.parse('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "-j" -j ACCEPT\nCOMMIT\n',
                                         family="ipv4", framework="iptables-legacy")
    assert ruleset.bases
