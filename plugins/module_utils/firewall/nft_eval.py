# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""nftables front end of the ruleset evaluator: ``nft -j list ruleset`` -> fw_eval base chains.

Pure: the JSON document (and optionally the text of ``nft -a list ruleset``, for rule text as the
user wrote it) come in as strings or data. Tables that iptables-nft manages (``ip filter``,
``ip6 mangle``, ...) hold ``xt`` expressions that the JSON does not describe; pass
``skip_xtables`` to leave them to iptables_eval, which reads ``iptables-nft-save``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_eval import (
    ADDRESS,
    ENV,
    UNEVALUABLE,
    Absent,
    BaseChain,
    Chain,
    Pkt,
    Rule,
    Ruleset,
    Unknown,
    fork,
    interface_cond,
)

FRAMEWORK = "nftables"
XTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
FAMILY_SCOPE = {"ip": ("ipv4",), "ip6": ("ipv6",), "inet": ("ipv4", "ipv6"), "netdev": ("ipv4", "ipv6")}
NAMED_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

ICMP_TYPES = {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
    "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
    "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
    "address-mask-request": 17, "address-mask-reply": 18,
}
ICMP_CODES = {
    "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3,
    "frag-needed": 4, "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13,
}
ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
    "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
    "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
    "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
    "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
}
ICMPV6_CODES = {"no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4,
                "policy-fail": 5, "reject-route": 6}
L4_PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
    "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132,
    "mobility-header": 135, "udplite": 136, "dccp": 33, "comp": 108, "ipcomp": 108,
}
NFPROTO = {"ipv4": 2, "ipv6": 10}
ETHERTYPES = {"ip": 0x0800, "ip6": 0x86DD, "arp": 0x0806, "vlan": 0x8100, "8021q": 0x8100, "8021ad": 0x88A8}
PKTTYPES = {"host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3}
CT_STATES = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}

# Symbol tables per value-producing expression.
SYMBOLS = {
    ("payload", "icmp", "type"): ICMP_TYPES,
    ("payload", "icmp", "code"): ICMP_CODES,
    ("payload", "icmpv6", "type"): ICMPV6_TYPES,
    ("payload", "icmpv6", "code"): ICMPV6_CODES,
    ("payload", "ip", "protocol"): L4_PROTOCOLS,
    ("payload", "ip6", "nexthdr"): L4_PROTOCOLS,
    ("meta", "l4proto"): L4_PROTOCOLS,
    ("meta", "nfproto"): NFPROTO,
    ("meta", "protocol"): ETHERTYPES,
    ("meta", "pkttype"): PKTTYPES,
}
INTERFACE_KEYS = {"iif": "iif", "iifname": "iif", "oif": "oif", "oifname": "oif"}
L4_HEADERS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp", "ah", "esp", "comp", "igmp", "gre", "geneve",
                        "vxlan", "th"})
NON_TERMINAL_XT = frozenset({
    "LOG", "NFLOG", "ULOG", "TRACE", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "DSCP", "TOS", "CLASSIFY",
    "TEE", "CHECKSUM", "TTL", "HL", "SET", "AUDIT", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "TCPOPTSTRIP",
})


class RulesetError(ValueError):
    """The document is not an nft JSON ruleset."""


def load(document: Any) -> list:
    """The ``nftables`` array of a JSON document (text or already parsed)."""
    if isinstance(document, (str, bytes)):
        try:
            text = document.decode() if isinstance(document, bytes) else document
            if not text.strip():
                return []
            document = json.loads(text)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise RulesetError(f"not JSON from 'nft -j list ruleset': {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        raise RulesetError("expected a JSON object with an 'nftables' array, as 'nft -j list ruleset' prints")
    return document["nftables"]


def priority(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).replace(" ", "")
    match = re.fullmatch(r"([a-z]+)?([+-]\d+)?", text)
    if match and (match.group(1) in NAMED_PRIORITIES or match.group(1) is None):
        return NAMED_PRIORITIES.get(match.group(1), 0) + int(match.group(2) or 0)
    try:
        return int(text)
    except ValueError:
        return 0


# --- rule text ------------------------------------------------------------------------------

def parse_listing(text: str | None) -> dict[tuple, str]:
    """``nft -a list ruleset`` -> {(family, table, chain, handle): rule text as nft prints it}."""
    texts: dict[tuple, str] = {}
    table = chain = None
    depth = 0
    for raw in (text or "").splitlines():
        line = raw.strip()
        code, dummy, comment = line.partition(" # handle ")
        words = code.split()
        if depth == 0 and len(words) >= 3 and words[0] == "table" and code.endswith("{"):
            table = (words[1], words[2])
        elif depth == 1 and len(words) >= 2 and words[0] == "chain" and code.endswith("{"):
            chain = words[1].strip('"')
        elif depth == 2 and chain and table and comment.strip().isdigit():
            texts[(table[0], table[1], chain, int(comment.strip()))] = code.strip()
        depth += _braces(code)
        if depth <= 1:
            chain = None
        if depth <= 0:
            table, depth = None, 0
    return texts


def parse_devices(text: str | None) -> dict[tuple, tuple]:
    """Devices of netdev / ingress base chains from ``nft -a list ruleset`` (nft 1.0.6 JSON omits them)."""
    devices: dict[tuple, tuple] = {}
    table = chain = None
    depth = 0
    for raw in (text or "").splitlines():
        code = raw.strip().partition(" # handle ")[0]
        words = code.split()
        if depth == 0 and len(words) >= 3 and words[0] == "table" and code.endswith("{"):
            table = (words[1], words[2])
        elif depth == 1 and len(words) >= 2 and words[0] == "chain" and code.endswith("{"):
            chain = words[1].strip('"')
        elif depth == 2 and table and chain and code.startswith("type ") and (" device " in code or " devices " in code):
            found = re.findall(r'"([^"]+)"', code.split(" priority ")[0])
            if found:
                devices[(table[0], table[1], chain)] = tuple(found)
        depth += _braces(code)
        if depth <= 1:
            chain = None
        if depth <= 0:
            table, depth = None, 0
    return devices


def _braces(code: str) -> int:
    depth, quoted = 0, False
    for char in code:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "{":
            depth += 1
        elif not quoted and char == "}":
            depth -= 1
    return depth


def render_expr(expr: Any) -> str:
    if isinstance(expr, bool):
        return "exists" if expr else "missing"
    if isinstance(expr, (int, float)):
        return str(expr)
    if isinstance(expr, str):
        return expr
    if isinstance(expr, list):
        return ",".join(render_expr(e) for e in expr)
    if not isinstance(expr, dict) or not expr:
        return str(expr)
    key, val = next(iter(expr.items()))
    if key == "set":
        return "{ " + ", ".join(render_expr(e) for e in (val if isinstance(val, list) else [val])) + " }"
    if key == "range":
        return f"{render_expr(val[0])}-{render_expr(val[1])}"
    if key == "prefix":
        return f"{val['addr']}/{val['len']}"
    if key == "payload":
        if "protocol" in val:
            return f"{val['protocol']} {val['field']}"
        return f"@{val.get('base')},{val.get('offset')},{val.get('len')}"
    if key == "meta":
        name = val["key"]
        return name if name in INTERFACE_KEYS else f"meta {name}"
    if key == "ct":
        return " ".join(filter(None, ["ct", val.get("dir"), val.get("family"), val.get("key")]))
    if key == "exthdr":
        return " ".join(filter(None, ["exthdr", val.get("name"), val.get("field")]))
    if key in ("&", "|", "^", "<<", ">>"):
        return f"{render_expr(val[0])} {key} {render_expr(val[1])}"
    if key == "concat":
        return " . ".join(render_expr(e) for e in val)
    if key == "fib":
        flags = val.get("flags") or []
        return f"fib {' . '.join(flags if isinstance(flags, list) else [flags])} {val.get('result')}"
    if key == "rt":
        return f"rt {val.get('key')}"
    if key == "numgen":
        return f"numgen {val.get('mode')} mod {val.get('mod')}"
    if key == "elem":
        return render_expr(val.get("val"))
    if key == "tcp option":
        return f"tcp option {val.get('name')} {val.get('field', '')}".strip()
    return key


def render_stmt(stmt: dict) -> str:
    key, val = next(iter(stmt.items()))
    if key == "match":
        op = val.get("op", "==")
        left, right = render_expr(val["left"]), render_expr(val["right"])
        if isinstance(val["left"], dict) and "meta" in val["left"] and isinstance(val["right"], str) \
                and val["left"]["meta"]["key"] in ("iifname", "oifname"):
            right = f'"{right}"'
        masked = val["left"].get("&") if isinstance(val["left"], dict) else None
        if op == "==" and isinstance(masked, list) and len(masked) == 2 and isinstance(masked[1], list):
            # A flag mask: nft reads "tcp flags syn / syn,rst" (a bare "& syn,rst" does not parse).
            return f"{render_expr(masked[0])} {right} / {render_expr(masked[1])}"
        return f"{left} {right}" if op in ("==", "in") else f"{left} {op} {right}"
    if key in ("accept", "drop", "return", "continue", "notrack"):
        return key
    if key in ("jump", "goto"):
        return f"{key} {val['target']}"
    if key == "reject":
        return "reject"
    if key == "queue":
        return "queue"
    if key == "counter":
        return "counter"
    if key == "log":
        return "log" + (f" prefix \"{val['prefix']}\"" if isinstance(val, dict) and val.get("prefix") else "")
    if key == "limit":
        return f"limit rate {val.get('rate')}/{val.get('per')}"
    if key == "mangle":
        return f"{render_expr(val['key'])} set {render_expr(val['value'])}"
    if key == "vmap":
        data = val["data"]
        if isinstance(data, dict) and "set" in data:
            data = "{ " + ", ".join(f"{render_expr(k)} : {render_stmt(v)}" for k, v in data["set"]) + " }"
        return f"{render_expr(val['key'])} vmap {render_expr(data)}"
    if key == "xt":
        return f"xt {val.get('type')} {val.get('name')}"
    return key


def render_rule(exprs: list, comment: str | None = None) -> str:
    text = " ".join(render_stmt(s) for s in exprs if isinstance(s, dict) and s)
    if comment:
        text += f' comment "{comment}"'
    return text


# --- values of expressions for the symbolic packet ------------------------------------------

def _symbolic(key: tuple, value: Any) -> Any:
    """Right-hand constants as numbers where a symbol table exists; Unknown for names we do not know."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    table = SYMBOLS.get(key)
    if isinstance(value, str):
        if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", value):
            return int(value, 0)
        if table is not None:
            if value in table:
                return table[value]
            raise Unknown(UNEVALUABLE, f"unknown constant {value!r}")
    return value


def _payload(val: dict, pkt: Pkt) -> tuple:
    proto, fld = val.get("protocol"), val.get("field")
    if proto is None:
        raise Unknown(UNEVALUABLE, "raw payload expression")
    key = ("payload", proto, fld)
    if proto == "ip":
        if pkt.family != "ipv4":
            raise Absent()
        if fld in ("saddr", "daddr"):
            raise Unknown(ADDRESS, f"ip {fld}")
        fixed = {"protocol": pkt.l4, "version": 4, "frag-off": 185 if pkt.fragment else 0, "hdrlength": 5}
    elif proto == "ip6":
        if pkt.family != "ipv6":
            raise Absent()
        if fld in ("saddr", "daddr"):
            raise Unknown(ADDRESS, f"ip6 {fld}")
        fixed = {"nexthdr": 44 if pkt.fragment else pkt.l4, "version": 6}
    elif proto == "icmp":
        if pkt.family != "ipv4" or pkt.fragment:
            raise Absent()
        fixed = {"type": pkt.info["type"], "code": pkt.info["code"]}
    elif proto == "icmpv6":
        if pkt.family != "ipv6" or pkt.fragment:
            raise Absent()
        fixed = {"type": pkt.info["type"], "code": pkt.info["code"]}
    elif proto in L4_HEADERS:
        raise Absent()  # an ICMP error has no TCP/UDP header, a non-first fragment none at all
    elif proto in ("arp",):
        raise Absent()
    else:  # ether, vlan, ...: link layer, differs per path
        raise Unknown(ENV, f"{proto} {fld}")
    if fld not in fixed:
        raise Unknown(ENV, f"{proto} {fld}")
    return key, fixed[fld]


def _meta(name: str, pkt: Pkt) -> tuple:
    key = ("meta", name)
    if name == "l4proto":
        return key, pkt.l4
    if name == "nfproto":
        return key, NFPROTO[pkt.family]
    if name == "protocol":
        return key, ETHERTYPES["ip" if pkt.family == "ipv4" else "ip6"]
    if name == "pkttype":
        return key, 0
    if name == "mark":
        if pkt.mark is None:
            raise Unknown(UNEVALUABLE, "meta mark (set earlier from something unknown)")
        return key, pkt.mark
    if name == "nftrace":
        return key, 0
    if name in ("ibrname", "obrname", "ibrvproto", "ibrpvid", "ibriport", "obriport"):
        raise Absent()  # not a bridged packet
    if name in ("skuid", "skgid", "cgroup"):
        raise Unknown(UNEVALUABLE, f"meta {name}")
    raise Unknown(ENV, f"meta {name}")


def _ct(val: dict, pkt: Pkt) -> tuple:
    name = val.get("key")
    if name == "state":
        return ("ct", "state"), pkt.ct_state()
    if not pkt.has_ct():
        raise Absent()  # every other ct key fails to match a packet without a conntrack entry
    if name == "l3proto":
        return ("meta", "nfproto"), NFPROTO[pkt.family]
    if name == "direction":
        raise Unknown(ENV, "ct direction")
    raise Unknown(UNEVALUABLE, f"ct {name}")


def value_of(expr: Any, pkt: Pkt) -> tuple:
    """(symbol-table key, concrete value) of a left-hand expression, or Absent / Unknown."""
    if not isinstance(expr, dict) or not expr:
        raise Unknown(UNEVALUABLE, render_expr(expr))
    key, val = next(iter(expr.items()))
    if key == "payload":
        return _payload(val, pkt)
    if key == "meta":
        return _meta(val.get("key"), pkt)
    if key == "ct":
        return _ct(val, pkt)
    if key == "exthdr":
        if pkt.family != "ipv6":
            raise Absent()
        present = pkt.fragment and val.get("name") == "frag"
        if val.get("field"):
            if not present:
                raise Absent()
            raise Unknown(UNEVALUABLE, render_expr(expr))
        return ("exthdr",), present
    if key in ("ip option", "tcp option", "sctp chunk", "dccp option"):
        if key == "ip option" and pkt.family == "ipv4" and not val.get("field"):
            return ("exthdr",), False
        raise Absent()
    if key in ("&", "|", "^", "<<", ">>"):
        inner_key, inner = value_of(val[0], pkt)
        operand = val[1]
        if not isinstance(inner, int) or not isinstance(operand, int):
            raise Unknown(UNEVALUABLE, render_expr(expr))
        result = {"&": inner & operand, "|": inner | operand, "^": inner ^ operand,
                  "<<": inner << operand, ">>": inner >> operand}[key]
        return (None,), result
    if key in ("numgen", "jhash", "symhash", "rt"):
        raise Unknown(ENV, render_expr(expr))
    if key == "fib":
        raise Unknown(UNEVALUABLE, render_expr(expr))
    raise Unknown(UNEVALUABLE, render_expr(expr))


def _elements(right: Any, sets: dict) -> list | None:
    """Members of a set on the right-hand side, or None when the right side is one value."""
    if isinstance(right, str) and right.startswith("@"):
        named = sets.get(right[1:])
        if named is None:
            raise Unknown(UNEVALUABLE, f"set {right} not in the ruleset")
        return named
    if isinstance(right, dict) and "set" in right:
        members = right["set"]
        return members if isinstance(members, list) else [members]
    return None


def _member(value: Any, element: Any, key: tuple) -> bool:
    if isinstance(element, dict) and "elem" in element:
        element = element["elem"].get("val")
    if isinstance(element, dict) and "range" in element:
        low, high = (_symbolic(key, v) for v in element["range"])
        return isinstance(value, int) and isinstance(low, int) and isinstance(high, int) and low <= value <= high
    if isinstance(element, (dict, list)):
        raise Unknown(UNEVALUABLE, f"set element {render_expr(element)}")
    return _symbolic(key, element) == value


def _compare(op: str, key: tuple, value: Any, right: Any, sets: dict) -> bool:
    if key == ("ct", "state"):
        members = _elements(right, sets)
        wanted = members if members is not None else (right if isinstance(right, list) else [right])
        bits = 0
        for name in wanted:
            name = name["elem"]["val"] if isinstance(name, dict) and "elem" in name else name
            if isinstance(name, int):
                bits |= name
            elif name in CT_STATES:
                bits |= CT_STATES[name]
            else:
                raise Unknown(UNEVALUABLE, f"ct state {name}")
        hit = bool(bits & CT_STATES[value])
        if op == "==" and members is None and not isinstance(right, list):
            hit = bits == CT_STATES[value]
        return not hit if op == "!=" else hit
    members = _elements(right, sets)
    if members is not None:
        hit = any(_member(value, element, key) for element in members)
        return not hit if op == "!=" else hit
    if isinstance(right, dict) and "range" in right:
        hit = _member(value, right, key)
        return not hit if op == "!=" else hit
    if isinstance(right, list):  # flags
        bits = 0
        for flag in right:
            flag = _symbolic(key, flag)
            if not isinstance(flag, int):
                raise Unknown(UNEVALUABLE, f"flag {flag}")
            bits |= flag
        hit = isinstance(value, int) and bool(value & bits)
        return not hit if op == "!=" else hit
    target = _symbolic(key, right)
    if op in ("==", "in"):
        return value == target
    if op == "!=":
        return value != target
    if not isinstance(value, int) or not isinstance(target, int):
        raise Unknown(UNEVALUABLE, f"{op} on {value!r}")
    return {"<": value < target, ">": value > target, "<=": value <= target, ">=": value >= target}[op]


def _interface_names(right: Any, sets: dict) -> list | None:
    members = _elements(right, sets) if not isinstance(right, str) or right.startswith("@") else [right]
    if members is None:
        return None
    names = []
    for member in members:
        member = member["elem"]["val"] if isinstance(member, dict) and "elem" in member else member
        if not isinstance(member, str):
            return None
        names.append(member)
    return names


def compile_match(match: dict, sets: dict, text: str) -> Any:
    op = match.get("op", "==")
    left, right = match.get("left"), match.get("right")
    if isinstance(left, dict) and "meta" in left and left["meta"].get("key") in INTERFACE_KEYS and op in ("==", "!=", "in"):
        names = _interface_names(right, sets)
        if names is not None:
            return interface_cond(INTERFACE_KEYS[left["meta"]["key"]], names, negate=op == "!=")
    if isinstance(left, dict) and "fib" in left and left["fib"].get("result") in ("oif", "oifname") \
            and isinstance(right, bool):
        # The reverse-path filter idiom (fib saddr . iif oif missing drop): assume the path is symmetric.
        hit = (right is True) if op == "==" else (right is False)

        def rpfilter(pkt: Pkt) -> list:
            return [(hit, pkt.note("assumed the reverse path check (fib) passes"))]

        return rpfilter

    def cond(pkt: Pkt) -> list:
        try:
            key, value = value_of(left, pkt)
            return [(_compare(op, key, value, right, sets), pkt)]
        except Absent:
            return [(False, pkt)]
        except Unknown as exc:
            return fork(exc.kind, text if exc.kind != UNEVALUABLE else f"{text} (cannot be evaluated)")(pkt)

    return cond


def _verdict(stmt: dict) -> tuple | None:
    key, val = next(iter(stmt.items()))
    if key in ("accept", "drop", "return", "continue"):
        return (key,)
    if key == "reject":
        return ("reject",)
    if key in ("jump", "goto"):
        return (key, val["target"])
    if key == "queue":
        return ("queue", "queue to userspace")
    return None


def _set_mark(value: Any):
    def stmt(pkt: Pkt) -> Pkt:
        return replace(pkt, mark=value if isinstance(value, int) else None)

    return stmt


def _notrack(pkt: Pkt) -> Pkt:
    return replace(pkt, notrack=True)


def compile_rule(exprs: list, sets: dict, maps: dict) -> tuple[list, bool]:
    """Rule expressions -> fw_eval items, and whether the rule uses conntrack."""
    items: list = []
    uses_ct = False
    for stmt in exprs:
        if not isinstance(stmt, dict) or not stmt:
            continue
        key, val = next(iter(stmt.items()))
        text = render_stmt(stmt)
        if key == "match":
            if isinstance(val.get("left"), dict) and "ct" in val["left"]:
                uses_ct = True
            items.append(("match", compile_match(val, sets, text)))
            continue
        verdict = _verdict(stmt)
        if verdict is not None:
            items.append(("verdict",) + verdict)
            break
        if key == "vmap":
            if isinstance(val.get("key"), dict) and "ct" in val["key"]:
                uses_ct = True
            data = val.get("data")
            if isinstance(data, str) and data.startswith("@"):
                entries = maps.get(data[1:])
                if entries is None:
                    items.append(("match", fork(UNEVALUABLE, f"{text} (map not in the ruleset)")))
                    items.append(("verdict", "unknown", text))
                    break
            else:
                entries = (data or {}).get("set", []) if isinstance(data, dict) else []
            choices = []
            for entry in entries:
                if not isinstance(entry, list) or len(entry) != 2:
                    continue
                k, v = entry
                verdict = _verdict(v) if isinstance(v, dict) and v else None
                match = {"op": "==", "left": val["key"], "right": k}
                choices.append((compile_match(match, sets, f"{render_expr(val['key'])} {render_expr(k)}"),
                                verdict or ("unknown", text)))
            items.append(("vmap", choices))
            break
        if key == "notrack":
            uses_ct = True
            items.append(("stmt", _notrack))
        elif key == "mangle":
            target = val.get("key")
            if isinstance(target, dict) and target.get("meta", {}).get("key") == "mark":
                items.append(("stmt", _set_mark(val.get("value"))))
        elif key in ("limit", "quota"):
            note = f"{text}: assumed under the limit"
            items.append(("match", lambda pkt, note=note: [(True, pkt.note(note))]))
        elif key == "xt":
            kind, name = val.get("type"), val.get("name")
            if name in ("conntrack", "state"):
                uses_ct = True
            if kind == "match":
                items.append(("match", fork(UNEVALUABLE, f"xt match {name} (iptables-nft extension)")))
            elif kind == "target" and name == "REJECT":
                items.append(("verdict", "reject"))
                break
            elif kind == "target" and name not in NON_TERMINAL_XT:
                items.append(("verdict", "unknown", f"xt target {name}"))
                break
        elif key in ("fwd", "tproxy", "synproxy"):
            items.append(("verdict", "unknown", key))
            break
        elif key in ("counter", "log", "set", "map", "meter", "flow", "dup", "snat", "dnat", "masquerade", "redirect",
                     "ct helper", "ct timeout", "ct expectation", "secmark", "last", "counter_ref", "objref"):
            continue
        else:
            items.append(("match", fork(UNEVALUABLE, f"{text} (not understood)")))
    return items, uses_ct


def _collect_names(exprs: list, names: set) -> None:
    for stmt in exprs:
        match = stmt.get("match") if isinstance(stmt, dict) else None
        if match and isinstance(match.get("left"), dict) and match["left"].get("meta", {}).get("key") in INTERFACE_KEYS:
            right = match.get("right")
            values = right.get("set", []) if isinstance(right, dict) else [right]
            names.update(v for v in (values if isinstance(values, list) else [values]) if isinstance(v, str))


def parse(document: Any, listing: str | None = None, *, skip_xtables: tuple = ()) -> tuple[Ruleset, set, list]:
    """Base chains of every table, the interface names the rules mention, and the raw rules.

    ``skip_xtables``: families ('ip', 'ip6') whose xtables-named tables iptables_eval evaluates.
    The third value lists every rule as ``{family, table, chain, handle, index, expr, comment, text}``
    in chain order, for the planners.
    """
    objects = load(document)
    texts = parse_listing(listing)
    listed_devices = parse_devices(listing)
    tables: dict[tuple, dict] = {}
    for obj in objects:
        if not isinstance(obj, dict) or not obj:
            continue
        kind, val = next(iter(obj.items()))
        if kind in ("table", "chain", "rule", "set", "map") and isinstance(val, dict):
            needed = "chain" if kind == "rule" else "name"
            if not isinstance(val.get(needed), str):
                raise RulesetError(f"a {kind} object without a {needed!r} string: {repr(val)[:200]}")
            ident = (val.get("family"), val.get("table") if kind != "table" else val.get("name"))
            table = tables.setdefault(ident, {"chains": {}, "order": [], "rules": {}, "sets": {}, "maps": {},
                                              "handle": val.get("handle") if kind == "table" else None})
            if kind == "chain":
                table["chains"][val["name"]] = val
                table["order"].append(val["name"])
                table["rules"].setdefault(val["name"], [])
            elif kind == "rule":
                table["rules"].setdefault(val["chain"], []).append(val)
            elif kind == "set":
                table["sets"][val["name"]] = val.get("elem") or []
            elif kind == "map":
                table["maps"][val["name"]] = val.get("elem") or []
    ruleset = Ruleset()
    names: set = set()
    rules_out: list = []
    for (family, tname), table in tables.items():
        if family not in FAMILY_SCOPE:
            continue  # bridge, arp: not on the IP path
        if family in skip_xtables and tname in XTABLES_TABLES:
            continue
        chains = {}
        for cname in table["order"]:
            spec = table["chains"][cname]
            chain = Chain(cname, policy=spec.get("policy") if spec.get("hook") else None)
            for index, raw in enumerate(table["rules"].get(cname, [])):
                exprs = raw.get("expr") or []
                items, uses_ct = compile_rule(exprs, table["sets"], table["maps"])
                ruleset.conntrack = ruleset.conntrack or uses_ct
                _collect_names(exprs, names)
                text = texts.get((family, tname, cname, raw.get("handle"))) or render_rule(exprs, raw.get("comment"))
                ref = {"framework": FRAMEWORK, "family": family, "table": tname, "chain": cname,
                       "handle": raw.get("handle"), "index": index, "text": text}
                chain.rules.append(Rule(ref, items))
                rules_out.append(dict(ref, expr=exprs, comment=raw.get("comment")))
            chains[cname] = chain
        for cname in table["order"]:
            spec = table["chains"][cname]
            if not spec.get("hook"):
                continue
            devices = spec.get("dev") or listed_devices.get((family, tname, cname)) or ()
            devices = tuple([devices] if isinstance(devices, str) else devices)
            names.update(devices)
            skip = None
            if spec.get("type") == "nat":
                skip = "nat chains only see the first packet of a connection"
                ruleset.conntrack = True
            ruleset.bases.append(BaseChain(
                framework=FRAMEWORK, label=f"{FRAMEWORK} {family} {tname} {cname}", families=FAMILY_SCOPE[family],
                hook=spec["hook"], priority=priority(spec.get("prio", 0)), chains=chains, chain=cname,
                ref={"framework": FRAMEWORK, "family": family, "table": tname}, devices=devices, skip=skip,
            ))
    return ruleset, names, rules_out


def xtables_tables(document: Any) -> set:
    """(family, name) of tables named like iptables-nft's."""
    found = set()
    for obj in load(document):
        table = obj.get("table") if isinstance(obj, dict) else None
        if table and table.get("family") in ("ip", "ip6") and table.get("name") in XTABLES_TABLES:
            found.add((table["family"], table["name"]))
    return found
