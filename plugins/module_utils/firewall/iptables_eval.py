# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""iptables front end of the ruleset evaluator: ``iptables-save`` / ``ip6tables-save`` text -> base chains.

Pure. Works for both variants: iptables-nft (whose tables nft shows with opaque ``xt`` expressions)
and iptables-legacy (which nft cannot see at all). The built-in chains hook where the kernel's
xtables tables do: raw -300, mangle -150, nat (never sees ICMP errors), filter 0, security 50.
Also parses and edits the save format for persistence (``/etc/iptables/rules.v4``, ...).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_eval import (
    ADDRESS,
    ENV,
    UNEVALUABLE,
    BaseChain,
    Chain,
    Pkt,
    Rule,
    Ruleset,
    fork,
    interface_cond,
)

TABLE_HOOKS = {
    "raw": (-300, ("PREROUTING", "OUTPUT")),
    "mangle": (-150, ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")),
    "nat": (-100, ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
    "filter": (0, ("INPUT", "FORWARD", "OUTPUT")),
    "security": (50, ("INPUT", "FORWARD", "OUTPUT")),
}
ICMP_NAMES = {
    "any": None, "echo-reply": (0, None), "pong": (0, None), "destination-unreachable": (3, None),
    "network-unreachable": (3, 0), "host-unreachable": (3, 1), "protocol-unreachable": (3, 2),
    "port-unreachable": (3, 3), "fragmentation-needed": (3, 4), "source-route-failed": (3, 5),
    "network-unknown": (3, 6), "host-unknown": (3, 7), "network-prohibited": (3, 9), "host-prohibited": (3, 10),
    "TOS-network-unreachable": (3, 11), "TOS-host-unreachable": (3, 12), "communication-prohibited": (3, 13),
    "host-precedence-violation": (3, 14), "precedence-cutoff": (3, 15), "source-quench": (4, None),
    "redirect": (5, None), "echo-request": (8, None), "ping": (8, None), "router-advertisement": (9, None),
    "router-solicitation": (10, None), "time-exceeded": (11, None), "ttl-exceeded": (11, None),
    "ttl-zero-during-transit": (11, 0), "ttl-zero-during-reassembly": (11, 1), "parameter-problem": (12, None),
    "ip-header-bad": (12, 0), "required-option-missing": (12, 1), "timestamp-request": (13, None),
    "timestamp-reply": (14, None), "address-mask-request": (17, None), "address-mask-reply": (18, None),
}
ICMPV6_NAMES = {
    "destination-unreachable": (1, None), "no-route": (1, 0), "communication-prohibited": (1, 1),
    "beyond-scope": (1, 2), "address-unreachable": (1, 3), "port-unreachable": (1, 4), "failed-policy": (1, 5),
    "reject-route": (1, 6), "packet-too-big": (2, None), "time-exceeded": (3, None), "ttl-exceeded": (3, None),
    "ttl-zero-during-transit": (3, 0), "ttl-zero-during-reassembly": (3, 1), "parameter-problem": (4, None),
    "bad-header": (4, 0), "unknown-header-type": (4, 1), "unknown-option": (4, 2), "echo-request": (128, None),
    "ping": (128, None), "echo-reply": (129, None), "pong": (129, None), "router-solicitation": (133, None),
    "router-advertisement": (134, None), "neighbour-solicitation": (135, None), "neighbor-solicitation": (135, None),
    "neighbour-advertisement": (136, None), "neighbor-advertisement": (136, None), "redirect": (137, None),
}
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "esp": 50, "ah": 51, "gre": 47,
             "sctp": 132, "udplite": 136, "dccp": 33, "ipip": 4, "ipv6": 41, "igmp": 2, "ospf": 89, "vrrp": 112,
             "mh": 135, "ipv6-mh": 135}
CT_STATES = {"INVALID", "ESTABLISHED", "RELATED", "NEW", "UNTRACKED", "SNAT", "DNAT"}
# Modules whose options only exist in TCP/UDP/... headers: never true for an ICMP error or a fragment.
L4_MODULES = frozenset({"tcp", "udp", "sctp", "dccp", "udplite", "multiport", "tcpmss", "ah", "esp", "mh"})
IPV6_EXT_MODULES = frozenset({"hbh", "dst", "rt", "ipv6header"})
ADDRESS_MODULES = frozenset({"iprange", "set"})
ENV_MODULES = frozenset({"addrtype", "length", "ttl", "hl", "tos", "dscp", "mac", "physdev", "policy", "devgroup",
                         "cpu", "statistic", "time", "realm", "ecn", "nfacct", "rateest", "pkttype"})
LIMIT_MODULES = frozenset({"limit", "hashlimit", "quota"})
TERMINAL = {"ACCEPT": ("accept",), "DROP": ("drop",), "REJECT": ("reject",), "RETURN": ("return",)}
NON_TERMINAL = frozenset({
    "LOG", "NFLOG", "ULOG", "TRACE", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "DSCP", "TOS", "CLASSIFY",
    "TEE", "CHECKSUM", "TTL", "HL", "SET", "AUDIT", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "TCPOPTSTRIP",
    "CONNLIMIT",
})
NAT_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"})
CORE_OPTIONS = frozenset({"-s", "--source", "--src", "-d", "--destination", "--dst", "-i", "--in-interface",
                          "-o", "--out-interface", "-p", "--protocol", "-f", "--fragment", "-m", "--match",
                          "-j", "--jump", "-g", "--goto", "-A", "--append", "-4", "-6", "--ipv4", "--ipv6"})


# Core options that take a value (the next token).
VALUE_OPTIONS = frozenset({"-A", "--append", "-s", "--source", "--src", "-d", "--destination", "--dst", "-i", "--in-interface",
                           "-o", "--out-interface", "-p", "--protocol", "-m", "--match", "-j", "--jump", "-g", "--goto"})


class SaveError(ValueError):
    """Text that is not iptables-save output."""


# --- the save format ------------------------------------------------------------------------

def parse_save(text: str | None) -> dict[str, dict[str, Any]]:
    """``iptables-save`` -> {table: {"chains": {name: policy or None}, "rules": {chain: [rule line]}}}.

    Rule lines keep their ``-A CHAIN ...`` form without packet counters.
    """
    tables: dict[str, dict[str, Any]] = {}
    current = None
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), {"chains": {}, "rules": {}})
        elif line == "COMMIT":
            current = None
        elif current is None:
            raise SaveError(f"line {number}: {line!r} is outside a table (*filter ... COMMIT)")
        elif line.startswith(":"):
            parts = line[1:].split()
            if not parts:
                raise SaveError(f"line {number}: empty chain declaration")
            policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
            current["chains"][parts[0]] = policy
            current["rules"].setdefault(parts[0], [])
        else:
            line = re.sub(r"^\[\d+:\d+\]\s+", "", line)
            if not line.startswith("-A "):
                raise SaveError(f"line {number}: {line!r} is not a rule (-A CHAIN ...)")
            chain = line.split()[1]
            current["chains"].setdefault(chain, None)
            current["rules"].setdefault(chain, []).append(line)
    return tables


def tokens(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise SaveError(f"cannot split {line!r}: {exc}") from exc


def normalize_rule(line: str) -> str:
    """A rule line as comparable text: tokens re-joined with single spaces, comment quoting unified."""
    return " ".join(shlex.quote(t) if re.search(r"\s", t) else t for t in tokens(line))


# --- compiling rules ------------------------------------------------------------------------

def _icmp_cond(spec: str, negate: bool, ipv6: bool, text: str):
    names = ICMPV6_NAMES if ipv6 else ICMP_NAMES
    if spec in names:
        wanted = names[spec]
    else:
        match = re.fullmatch(r"(\d+)(?:/(\d+))?", spec)
        if not match:
            return fork(UNEVALUABLE, f"{text} (unknown ICMP type)")
        wanted = (int(match.group(1)), int(match.group(2)) if match.group(2) else None)

    def cond(pkt: Pkt) -> list:
        if pkt.fragment or pkt.family != ("ipv6" if ipv6 else "ipv4"):
            return [(False, pkt)]  # the icmp match needs an ICMP header
        hit = wanted is None or (pkt.info["type"] == wanted[0] and wanted[1] in (None, pkt.info["code"]))
        return [(hit != negate, pkt)]

    return cond


def _protocol_cond(value: str, negate: bool, text: str):
    value = value.lower()
    if value in ("all", "0"):
        number = None
    elif value.isdigit():
        number = int(value)
    elif value in PROTOCOLS:
        number = PROTOCOLS[value]
    else:
        return fork(UNEVALUABLE, f"{text} (unknown protocol)")

    def cond(pkt: Pkt) -> list:
        hit = number is None or pkt.l4 == number
        return [(hit != negate, pkt)]

    return cond


def _ctstate_cond(states: str, negate: bool, text: str):
    wanted = {s.strip().upper() for s in states.split(",") if s.strip()}
    if not wanted <= CT_STATES:
        return fork(UNEVALUABLE, f"{text} (unknown state)")

    def cond(pkt: Pkt) -> list:
        hit = pkt.ct_state().upper() in wanted
        return [(hit != negate, pkt)]

    return cond


def _mark_cond(spec: str, negate: bool, text: str):
    value, dummy, mask = spec.partition("/")
    try:
        want, bits = int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF
    except ValueError:
        return fork(UNEVALUABLE, text)

    def cond(pkt: Pkt) -> list:
        if pkt.mark is None:
            return fork(UNEVALUABLE, f"{text} (mark set from something unknown)")(pkt)
        return [(((pkt.mark & bits) == want) != negate, pkt)]

    return cond


def _set_mark(option: str, spec: str):
    value, dummy, mask = spec.partition("/")
    try:
        val = int(value, 0)
        bits = int(mask, 0) if mask else (0xFFFFFFFF if option in ("--set-mark", "--set-xmark") else 0)
    except ValueError:
        val, bits = None, 0

    def stmt(pkt: Pkt) -> Pkt:
        if val is None or pkt.mark is None:
            return replace(pkt, mark=None)
        mark = pkt.mark
        if option == "--set-xmark":
            mark = (mark & ~bits) ^ val
        elif option == "--set-mark":
            mark = (mark & ~bits) | val
        elif option == "--and-mark":
            mark &= val
        elif option == "--or-mark":
            mark |= val
        elif option == "--xor-mark":
            mark ^= val
        return replace(pkt, mark=mark & 0xFFFFFFFF)

    return stmt


def _notrack(pkt: Pkt) -> Pkt:
    return replace(pkt, notrack=True)


def _module_items(module: str, options: list, ipv6: bool) -> tuple[list, bool]:
    """Items for one ``-m MODULE [!] --opt value ...`` group; and whether it needs conntrack."""
    text = " ".join(["-m", module] + [" ".join(o[1:]) if not o[0] else "! " + " ".join(o[1:]) for o in options])
    items: list = []
    if module == "comment":
        return items, False
    if module in ("icmp", "icmp6"):
        for negate, opt, *values in options:
            if opt in ("--icmp-type", "--icmpv6-type") and values:
                items.append(("match", _icmp_cond(values[0], negate, module == "icmp6", text)))
        return items, False
    if module in ("conntrack", "state"):
        for negate, opt, *values in options:
            if opt in ("--ctstate", "--state") and values:
                items.append(("match", _ctstate_cond(values[0], negate, text)))
            else:
                items.append(("match", fork(UNEVALUABLE, f"{'! ' if negate else ''}{opt} {' '.join(values)} (conntrack)")))
        return items, True
    if module == "mark":
        for negate, opt, *values in options:
            if opt == "--mark" and values:
                items.append(("match", _mark_cond(values[0], negate, text)))
        return items, False
    if module in L4_MODULES:
        return [("match", lambda pkt: [(False, pkt)])], False
    if module in IPV6_EXT_MODULES:
        return [("match", lambda pkt: [(False, pkt)])], False
    if module == "frag":
        return [("match", lambda pkt: [(pkt.fragment and pkt.family == "ipv6", pkt)])], False
    if module == "pkttype":
        for negate, opt, *values in options:
            if opt == "--pkt-type" and values:
                hit = values[0].lower() in ("unicast", "host")
                items.append(("match", lambda pkt, hit=hit, negate=negate: [(hit != negate, pkt)]))
        return items, False
    if module in LIMIT_MODULES:
        note = f"{text}: assumed under the limit"
        return [("match", lambda pkt: [(True, pkt.note(note))])], False
    if module == "rpfilter":
        invert = any(opt == "--invert" for dummy, opt, *rest in options)
        return [("match", lambda pkt: [(not invert, pkt.note("assumed the reverse path check (rpfilter) passes"))])], False
    if module == "connmark":
        def connmark(pkt: Pkt) -> list:
            if not pkt.has_ct():
                return [(False, pkt)]
            return fork(UNEVALUABLE, f"{text} (cannot be evaluated)")(pkt)
        return [("match", connmark)], True
    if module in ADDRESS_MODULES:
        return [("match", fork(ADDRESS, text))], False
    if module in ENV_MODULES:
        return [("match", fork(ENV, text))], False
    return [("match", fork(UNEVALUABLE, f"{text} (cannot be evaluated)"))], False


def compile_rule(line: str, chains: set, ipv6: bool) -> tuple[list, bool, set]:
    """One ``-A CHAIN ...`` line -> fw_eval items, whether it uses conntrack, interface names it names."""
    toks = tokens(line)
    items: list = []
    uses_ct = False
    names: set = set()
    i = 0
    negate = False
    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in VALUE_OPTIONS and i + 1 == len(toks):
            raise SaveError(f"{line!r}: {tok} without its value")
        if tok in ("-A", "--append"):
            i += 2
        elif tok in ("-4", "-6", "--ipv4", "--ipv6"):
            i += 1
        elif tok in ("-s", "--source", "--src", "-d", "--destination", "--dst"):
            items.append(("match", fork(ADDRESS, f"{tok} {toks[i + 1]}", negate)))
            i += 2
        elif tok in ("-i", "--in-interface", "-o", "--out-interface"):
            name = toks[i + 1]
            names.add(name)
            direction = "iif" if tok in ("-i", "--in-interface") else "oif"
            items.append(("match", interface_cond(direction, [name], negate)))
            i += 2
        elif tok in ("-p", "--protocol"):
            items.append(("match", _protocol_cond(toks[i + 1], negate, f"{tok} {toks[i + 1]}")))
            i += 2
        elif tok in ("-f", "--fragment"):
            frag = negate
            items.append(("match", lambda pkt, frag=frag: [((pkt.fragment and pkt.family == "ipv4") != frag, pkt)]))
            i += 1
        elif tok in ("-m", "--match"):
            module = toks[i + 1]
            i += 2
            options = []
            opt_negate = False
            while i < len(toks) and toks[i] not in CORE_OPTIONS:
                if toks[i] == "!":
                    opt_negate = True
                    i += 1
                    continue
                if toks[i].startswith("--"):
                    values = []
                    j = i + 1
                    while j < len(toks) and not toks[j].startswith("-") and toks[j] != "!":
                        values.append(toks[j])
                        j += 1
                    if toks[i] in ("--comment",) and j == i + 1 and j < len(toks):
                        values, j = [toks[j]], j + 1  # a comment may start with '-'
                    options.append((opt_negate, toks[i], *values))
                    opt_negate = False
                    i = j
                else:
                    i += 1
            module_items, module_ct = _module_items(module, options, ipv6)
            items.extend(module_items)
            uses_ct = uses_ct or module_ct
        elif tok in ("-j", "--jump", "-g", "--goto"):
            target = toks[i + 1]
            rest = toks[i + 2:]
            if tok in ("-g", "--goto"):
                items.append(("verdict", "goto", target))
            elif target in TERMINAL:
                items.append(("verdict",) + TERMINAL[target])
            elif target in chains:
                items.append(("verdict", "jump", target))
            elif target in ("QUEUE", "NFQUEUE"):
                items.append(("verdict", "queue", f"-j {target} (userspace)"))
            elif target in ("NOTRACK",) or (target == "CT" and "--notrack" in rest):
                uses_ct = True
                items.append(("stmt", _notrack))
            elif target == "MARK":
                for k, opt in enumerate(rest):
                    if opt in ("--set-mark", "--set-xmark", "--and-mark", "--or-mark", "--xor-mark") and k + 1 < len(rest):
                        items.append(("stmt", _set_mark(opt, rest[k + 1])))
            elif target in NON_TERMINAL or target in NAT_TARGETS:
                uses_ct = uses_ct or target in ("CONNMARK", "CT") or target in NAT_TARGETS
            else:
                items.append(("verdict", "unknown", f"-j {target}"))
            break
        else:
            i += 1
        negate = False
    return items, uses_ct, names


def parse(save_text: str | None, *, family: str, framework: str) -> tuple[Ruleset, set]:
    """Base chains of an ``iptables-save`` (ipv4) or ``ip6tables-save`` (ipv6) dump."""
    ruleset = Ruleset()
    names: set = set()
    ipv6 = family == "ipv6"
    for tname, table in parse_save(save_text).items():
        if tname not in TABLE_HOOKS:
            continue
        prio, builtins = TABLE_HOOKS[tname]
        chains: dict = {}
        declared = set(table["chains"])
        for cname, policy in table["chains"].items():
            chain = Chain(cname, policy=(policy or "ACCEPT").lower() if cname in builtins else None)
            if chain.policy not in (None, "accept", "drop"):
                chain.policy = "drop"  # QUEUE is not a valid policy; be safe
            for position, line in enumerate(table["rules"].get(cname, []), start=1):
                items, uses_ct, found = compile_rule(line, declared, ipv6)
                ruleset.conntrack = ruleset.conntrack or uses_ct
                names |= found
                ref = {"framework": framework, "family": family, "table": tname, "chain": cname,
                       "position": position, "text": line}
                chain.rules.append(Rule(ref, items))
            chains[cname] = chain
        if tname == "nat":
            ruleset.conntrack = True
        for cname in builtins:
            if cname not in chains:
                continue
            hook = cname.lower()
            base_prio = prio
            if tname == "nat" and cname in ("INPUT", "POSTROUTING"):
                base_prio = 100
            ruleset.bases.append(BaseChain(
                framework=framework, label=f"{framework} {family} {tname} {cname}", families=(family,),
                hook=hook, priority=base_prio, chains=chains, chain=cname,
                ref={"framework": framework, "family": family, "table": tname},
                skip="nat chains only see the first packet of a connection" if tname == "nat" else None,
            ))
    return ruleset, names


# --- editing the save format (persistence) --------------------------------------------------

BUILTIN_CHAINS = {table: builtins for table, (dummy, builtins) in TABLE_HOOKS.items()}


def render_save(tables: dict[str, dict[str, Any]], header: str | None = None) -> str:
    lines = [header] if header else []
    for tname, table in tables.items():
        lines.append(f"*{tname}")
        for cname, policy in table["chains"].items():
            lines.append(f":{cname} {policy or '-'} [0:0]")
        for cname in table["chains"]:
            lines.extend(table["rules"].get(cname, []))
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def ensure_table(tables: dict[str, dict[str, Any]], table: str) -> dict[str, Any]:
    if table not in tables:
        tables[table] = {"chains": {c: "ACCEPT" for c in BUILTIN_CHAINS.get(table, ())}, "rules": {}}
    return tables[table]


def ensure_chain(table: dict[str, Any], chain: str, builtin: bool) -> list:
    if chain not in table["chains"]:
        table["chains"][chain] = "ACCEPT" if builtin else None
    return table["rules"].setdefault(chain, [])
