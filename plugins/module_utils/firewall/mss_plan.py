# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""TCP MSS clamping rules: what mss_clamp wants, what is there, and the commands between. Pure.

A clamp is one (family, chain, interface direction, interface, MSS) tuple; MSS ``None`` means
"clamp to the route's path MTU". For iptables (-nft and -legacy) each clamp is one rule in the mangle
table (``-p tcp --tcp-flags SYN,RST SYN -j TCPMSS ...``); for nftables this collection keeps its
clamps in a table of its own, ``inet netpath_mtu``, whose base chains hook at the mangle priority
(a clamp does not need to override anything, unlike an ICMP accept). Rules that already do the same
thing elsewhere count as present, so nothing is ever duplicated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import MSS_COMMENT, XTABLES_WAIT, merge_save
from ansible_collections.netpath.mtu.plugins.module_utils.host import validate
from ansible_collections.netpath.mtu.plugins.module_utils.links.overhead import mss as mss_for_mtu
from ansible_collections.netpath.mtu.plugins.module_utils.links.overhead import normalize_family, to_int

CHAINS = ("forward", "output", "postrouting")
DIRECTIONS = ("out", "in", "both")
NFT_TABLE = "netpath_mtu"
NFT_FAMILY = "inet"
MANGLE_PRIORITY = -150
TERMINAL_TARGETS = frozenset({"ACCEPT", "DROP", "REJECT", "RETURN"})
IPV6_MIN_MSS = 1220  # 1280 - 60
MIN_MSS = 88  # 128 - 40: below this nothing useful fits
MAX_MSS = 65495


@dataclass(frozen=True)
class Clamp:
    family: str
    chain: str
    direction: str | None  # "out" (-o / oifname), "in" (-i / iifname) or None (no interface)
    interface: str | None
    mss: int | None  # None: clamp to path MTU

    def key(self) -> tuple:
        return (self.family, CHAINS.index(self.chain), self.direction or "", self.interface or "",
                -1 if self.mss is None else self.mss)

    def slot(self) -> tuple:
        """Where a clamp lives; a different MSS in the same slot is stale."""
        return (self.family, self.chain, self.direction, self.interface)

    def describe(self) -> str:
        where = f" {'to' if self.direction == 'out' else 'from'} {self.interface}" if self.interface else ""
        value = "to path MTU" if self.mss is None else f"to {self.mss}"
        return f"{self.family} {self.chain}{where}: clamp {value}"


def validate_interface(name: Any) -> str | None:
    """The interface name, None when none is given; ValueError naming ``interface`` when it is no Linux name."""
    if name is None or name == "":
        return None
    return validate.interface("interface", name)


def desired(*, families: Iterable[str], chains: Iterable[str], interface: Any = None, direction: str = "out",
            mss: Any = None, mtu: Any = None) -> list:
    """The clamps a task asks for. Raises ValueError with a message that says what to do."""
    fams = []
    for family in families:
        fam = normalize_family(family)
        if fam not in fams:
            fams.append(fam)
    if not fams:
        raise ValueError("family must name ipv4, ipv6 or both")
    chain_list = []
    for chain in chains:
        name = str(chain).lower()
        if name not in CHAINS:
            raise ValueError(f"chain {chain!r} must be one of {', '.join(CHAINS)}")
        if name not in chain_list:
            chain_list.append(name)
    if not chain_list:
        raise ValueError(f"chains must name at least one of {', '.join(CHAINS)}")
    iface = validate_interface(interface)
    if direction not in DIRECTIONS:
        raise ValueError(f"interface_direction must be one of {', '.join(DIRECTIONS)}")
    if mss is not None and mtu is not None:
        raise ValueError("give either mss or mtu (or neither, to clamp to the path MTU), not both")
    values: dict = {}
    for fam in fams:
        if mtu is not None:
            values[fam] = mss_for_mtu(mtu, fam)
        elif mss is not None:
            value = to_int(mss, "mss") - (20 if fam == "ipv6" else 0)
            low = IPV6_MIN_MSS if fam == "ipv6" else MIN_MSS
            if not low <= value <= MAX_MSS:
                raise ValueError(f"mss {mss} gives an {fam} MSS of {value}, outside {low}..{MAX_MSS} "
                                 "(IPv6 uses mss - 20); use mtu instead or a larger mss")
            values[fam] = value
        else:
            values[fam] = None
    clamps = []
    for fam in fams:
        for chain in chain_list:
            if iface is None:
                dirs: list = [None]
            elif chain != "forward":
                dirs = ["out"]  # OUTPUT and POSTROUTING have no input interface
            else:
                dirs = ["out", "in"] if direction == "both" else [direction]
            for dirn in dirs:
                clamps.append(Clamp(fam, chain, dirn, iface if dirn else None, values[fam]))
    return clamps


# --- iptables -------------------------------------------------------------------------------

def iptables_args(clamp: Clamp) -> list:
    args = []
    if clamp.interface:
        args += ["-o" if clamp.direction == "out" else "-i", clamp.interface]
    args += ["-p", "tcp", "-m", "tcp", "--tcp-flags", "SYN,RST", "SYN", "-m", "comment", "--comment", MSS_COMMENT,
             "-j", "TCPMSS"]
    args += ["--clamp-mss-to-pmtu"] if clamp.mss is None else ["--set-mss", str(clamp.mss)]
    return args


def iptables_line(clamp: Clamp) -> str:
    args = iptables_args(clamp)
    out = ["-A", clamp.chain.upper()]
    for i, arg in enumerate(args):
        out.append(f'"{arg}"' if i and args[i - 1] == "--comment" else arg)
    return " ".join(out)


def parse_iptables_clamp(line: str, family: str) -> dict | None:
    """A TCPMSS rule line -> {clamp, ours, pure}; None for other rules. ``pure``: nothing but SYN matching."""
    toks = iptables_eval.tokens(line)
    if "TCPMSS" not in toks:
        return None
    chain = toks[1] if len(toks) > 1 else ""
    direction = interface = None
    mss: int | None = None
    clamp_pmtu = False
    ours = pure = True
    syn = proto = False
    i = 2
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok in ("-o", "--out-interface", "-i", "--in-interface") and nxt:
            direction, interface = ("out" if tok in ("-o", "--out-interface") else "in"), nxt
            i += 2
        elif tok in ("-p", "--protocol") and nxt:
            proto = nxt in ("tcp", "6")
            i += 2
        elif tok in ("-m", "--match") and nxt in ("tcp", "comment"):
            i += 2
        elif tok == "--tcp-flags" and i + 2 < len(toks):
            syn = toks[i + 1] == "SYN,RST" and toks[i + 2] == "SYN"
            i += 3
        elif tok == "--syn":
            syn = False  # --syn means SYN,RST,ACK,FIN SYN: close, but not what we write
            pure = False
            i += 1
        elif tok == "--comment" and nxt is not None:
            ours = nxt == MSS_COMMENT
            i += 2
        elif tok in ("-j", "--jump") and nxt == "TCPMSS":
            i += 2
        elif tok == "--clamp-mss-to-pmtu":
            clamp_pmtu = True
            i += 1
        elif tok == "--set-mss" and nxt is not None:
            try:
                mss = int(nxt)
            except ValueError:
                pure = False
            i += 2
        else:
            pure = False
            i += 1
    if "--comment" not in toks:
        ours = False
    pure = pure and proto and syn and (clamp_pmtu or mss is not None)
    return {
        "clamp": Clamp(family, chain.lower(), direction, interface, None if clamp_pmtu else mss),
        "ours": ours,
        "pure": pure,
    }


def _reachable(lines: list, index: int) -> bool:
    """No rule before it ends the chain for some packets (then some SYNs would skip the clamp)."""
    for line in lines[:index]:
        toks = iptables_eval.tokens(line)
        for i, tok in enumerate(toks[:-1]):
            if (tok in ("-j", "--jump") and toks[i + 1] in TERMINAL_TARGETS) or tok in ("-g", "--goto"):
                return False
    return True


def plan_iptables(save_text: str | None, *, family: str, clamps: list, state: str,
                  binary: str | None) -> dict[str, Any]:
    """Commands (argv lists, when ``binary`` is given) and the resulting save text for one family."""
    tables = iptables_eval.parse_save(save_text)
    before = {c: list(tables.get("mangle", {}).get("rules", {}).get(c.chain.upper(), [])) for c in clamps}
    commands: list = []
    report: dict = {"present": [], "added": [], "removed": [], "misplaced": []}

    def delete(table: str, line: str, why: str) -> None:
        chain = line.split()[1]
        tables[table]["rules"][chain].remove(line)
        if binary:
            commands.append([binary, *XTABLES_WAIT, "-t", table, "-D", chain] + iptables_eval.tokens(line)[2:])
        report["removed" if why != "misplaced" else "misplaced"].append(f"{table} {line}")

    for clamp in clamps:
        chain = clamp.chain.upper()
        mangle = iptables_eval.ensure_table(tables, "mangle") if state == "present" else tables.get("mangle")
        lines = list((mangle or {"rules": {}})["rules"].get(chain, []))
        parsed = [(i, line, parse_iptables_clamp(line, family)) for i, line in enumerate(lines)]
        same = [(i, line) for i, line, p in parsed if p and p["pure"] and p["clamp"] == clamp]
        stale = [(i, line) for i, line, p in parsed
                 if p and p["ours"] and p["clamp"].slot() == clamp.slot() and p["clamp"] != clamp]
        elsewhere = []
        for table in ("filter",):
            for line in tables.get(table, {}).get("rules", {}).get(chain, []):
                p = parse_iptables_clamp(line, family)
                if p and p["pure"] and p["clamp"] == clamp:
                    elsewhere.append((table, line))
        if state == "present":
            good = [(i, line) for i, line in same if _reachable(lines, i)]
            keep = good[0] if good else None
            for i, line in stale:
                delete("mangle", line, "stale")
            for i, line in same:
                if keep and (i, line) != keep:
                    if parse_iptables_clamp(line, family)["ours"] or (i, line) not in good:
                        delete("mangle", line, "misplaced" if (i, line) not in good else "duplicate")
                elif not keep:
                    delete("mangle", line, "misplaced")
            for table, line in elsewhere:
                delete(table, line, "misplaced")
            if keep:
                report["present"].append(clamp.describe())
            else:
                rules = iptables_eval.ensure_chain(mangle, chain, builtin=True)
                rules.insert(0, iptables_line(clamp))
                if binary:
                    commands.append([binary, *XTABLES_WAIT, "-t", "mangle", "-I", chain, "1"] + iptables_args(clamp))
                report["added"].append(clamp.describe())
        else:
            for i, line in same + stale:
                delete("mangle", line, "absent")
            for i, line, p in parsed:
                if p and p["ours"] and p["clamp"].slot() == clamp.slot() and (i, line) not in same + stale:
                    delete("mangle", line, "absent")
            for table, line in elsewhere:
                delete(table, line, "absent")
    after = {c: list(tables.get("mangle", {}).get("rules", {}).get(c.chain.upper(), [])) for c in clamps}
    diffs = []
    for chain in sorted({c.chain.upper() for c in clamps}):
        first = next(c for c in clamps if c.chain.upper() == chain)
        if before[first] != after[first]:
            diffs.append({"chain": f"{family} mangle {chain}", "before": before[first], "after": after[first]})
    return {
        "commands": commands,
        "text": iptables_eval.render_save(tables) if tables else "",
        "tables": tables,
        "changed": bool(commands) or any(report[k] for k in ("added", "removed", "misplaced")),
        "report": report,
        "diffs": diffs,
    }


def plan_iptables_file(text: str | None, *, family: str, clamps: list, state: str) -> str | None:
    """New content for a persisted rules file, or None when it already says the right thing."""
    if text is None and state == "absent":
        return None
    plan = plan_iptables(text or "", family=family, clamps=clamps, state=state, binary=None)
    if not plan["changed"]:
        return None
    if text is None or not text.strip():
        return plan["text"]
    new = merge_save(text, plan["text"])
    return new if new != text else None


# --- nftables -------------------------------------------------------------------------------

def _nfproto(family: str) -> dict:
    return {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": family}}


def nft_expr(clamp: Clamp, both_families: bool) -> list:
    expr = [] if both_families else [_nfproto(clamp.family)]
    if clamp.interface:
        key = "oifname" if clamp.direction == "out" else "iifname"
        expr.append({"match": {"op": "==", "left": {"meta": {"key": key}}, "right": clamp.interface}})
    expr.append({"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "rst"]]},
                           "right": "syn"}})
    value: Any = {"rt": {"key": "mtu"}} if clamp.mss is None else clamp.mss
    expr.append({"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": value}})
    return expr


def nft_text(clamp: Clamp, both_families: bool) -> str:
    parts = [] if both_families else [f"meta nfproto {clamp.family}"]
    if clamp.interface:
        parts.append(f'{"oifname" if clamp.direction == "out" else "iifname"} {json.dumps(clamp.interface)}')
    parts.append("tcp flags syn / syn,rst tcp option maxseg size set")
    parts.append("rt mtu" if clamp.mss is None else str(clamp.mss))
    return " ".join(parts) + f' comment "{MSS_COMMENT}"'


def _rules_for(clamps: Iterable[Clamp]) -> dict:
    """Chain -> [(clamp, both_families)] in a stable order; one inet rule serves both families when it can."""
    grouped: dict = {}
    for clamp in sorted(set(clamps), key=lambda c: (c.key()[1:4], c.family, c.key()[4])):
        twin = Clamp("ipv6" if clamp.family == "ipv4" else "ipv4", clamp.chain, clamp.direction, clamp.interface,
                     clamp.mss)
        rules = grouped.setdefault(clamp.chain, [])
        if clamp.mss is None and twin in clamps:
            if clamp.family == "ipv4":
                rules.append((clamp, True))
            continue
        rules.append((clamp, False))
    return grouped


def parse_nft_clamp(exprs: list) -> dict | None:
    """A rule's expressions -> {families, direction, interface, mss}; None unless it is only an MSS clamp."""
    families = {"ipv4", "ipv6"}
    direction = interface = None
    mss: Any = "none"
    for stmt in exprs:
        if not isinstance(stmt, dict) or not stmt:
            return None
        key, val = next(iter(stmt.items()))
        if key == "counter":
            continue
        if key == "mangle":
            target = val.get("key") or {}
            option = target.get("tcp option") if isinstance(target, dict) else None
            if not option or option.get("name") != "maxseg":
                return None
            value = val.get("value")
            if isinstance(value, dict) and value.get("rt", {}).get("key") == "mtu":
                mss = None
            elif isinstance(value, int):
                mss = value
            else:
                return None
            continue
        if key != "match":
            return None
        left, right, op = val.get("left"), val.get("right"), val.get("op", "==")
        if isinstance(left, dict) and "meta" in left and op == "==":
            meta = left["meta"].get("key")
            if meta == "nfproto" and right in ("ipv4", "ipv6"):
                families &= {right}
                continue
            if meta in ("oifname", "iifname", "oif", "iif") and isinstance(right, str):
                direction, interface = ("out" if meta.startswith("o") else "in"), right
                continue
            if meta == "l4proto" and right in ("tcp", 6):
                continue
            return None
        flags = None
        if isinstance(left, dict) and "payload" in left and left["payload"] == {"protocol": "tcp", "field": "flags"}:
            flags = (op, right, None)
        elif isinstance(left, dict) and "&" in left and isinstance(left["&"], list) and \
                left["&"][0] == {"payload": {"protocol": "tcp", "field": "flags"}}:
            flags = (op, right, left["&"][1])
        if flags is None or flags[1] != "syn":
            return None
    if mss == "none":
        return None
    return {"families": families, "direction": direction, "interface": interface, "mss": mss}


def nft_state(rules: list, bases: list) -> tuple[dict, list]:
    """Clamps in our table ({chain: [(clamp, rule)]}) and clamps elsewhere (set of Clamp) from nft_eval.parse."""
    hooks = {}
    for base in bases:
        hooks[(base.ref["family"], base.ref["table"], base.chain)] = (base.hook, base.families)
    ours: dict = {}
    elsewhere = set()
    for rule in rules:
        spec = parse_nft_clamp(rule.get("expr") or [])
        key = (rule["family"], rule["table"], rule["chain"])
        if rule["family"] == NFT_FAMILY and rule["table"] == NFT_TABLE:
            ours.setdefault(rule["chain"], []).append((spec, rule))
            continue
        if spec is None or key not in hooks or hooks[key][0] not in CHAINS:
            continue
        hook, scope = hooks[key]
        for family in spec["families"] & set(scope):
            elsewhere.add(Clamp(family, hook, spec["direction"], spec["interface"], spec["mss"]))
    return ours, sorted(elsewhere, key=Clamp.key)


def _our_clamps(ours: dict) -> set:
    found = set()
    for chain, entries in ours.items():
        for spec, dummy in entries:
            if spec is None:
                continue
            for family in spec["families"]:
                found.add(Clamp(family, chain, spec["direction"], spec["interface"], spec["mss"]))
    return found


def plan_nft(rules: list, bases: list, *, clamps: list, state: str, table_exists: bool = False) -> dict[str, Any]:
    """The transaction that makes table inet netpath_mtu hold the wanted clamps (and the config block)."""
    ours, elsewhere = nft_state(rules, bases)
    current = _our_clamps(ours)
    wanted = set(current)
    report: dict = {"present": [], "added": [], "removed": [], "misplaced": []}
    for clamp in clamps:
        stale = {c for c in wanted if c.slot() == clamp.slot() and c != clamp}
        if state == "present":
            if clamp in elsewhere:
                report["present"].append(clamp.describe() + " (by a rule outside netpath_mtu)")
                if clamp in wanted:
                    wanted.discard(clamp)
                    report["removed"].append(clamp.describe() + " (duplicate)")
            elif clamp in wanted:
                report["present"].append(clamp.describe())
            else:
                wanted.add(clamp)
                report["added"].append(clamp.describe())
            for old in stale:
                wanted.discard(old)
                report["removed"].append(old.describe())
        else:
            for old in stale | ({clamp} & wanted):
                wanted.discard(old)
                report["removed"].append(old.describe())
    layout = _rules_for(wanted)

    def spec(clamp: Clamp, both: bool) -> tuple:
        fams = ("ipv4", "ipv6") if both else (clamp.family,)
        return (fams, clamp.direction, clamp.interface, clamp.mss, MSS_COMMENT)

    want_rules = {chain: [spec(c, both) for c, both in entries] for chain, entries in layout.items()}
    have_rules = {}
    for chain, entries in ours.items():
        have_rules[chain] = [(tuple(sorted(p["families"])), p["direction"], p["interface"], p["mss"], r.get("comment"))
                             if p else ("unknown", r.get("text")) for p, r in entries]
    have_rules = {chain: rules for chain, rules in have_rules.items() if rules}
    hooked = {b.chain: (b.hook, b.priority) for b in bases
              if b.ref.get("family") == NFT_FAMILY and b.ref.get("table") == NFT_TABLE}
    chains_ok = all(hooked.get(chain) == (chain, MANGLE_PRIORITY) for chain in want_rules)
    table_exists = table_exists or bool(hooked) or any(r["family"] == NFT_FAMILY and r["table"] == NFT_TABLE for r in rules)
    changed = want_rules != have_rules or not chains_ok or (not want_rules and table_exists)
    commands: list = []
    table = {"family": NFT_FAMILY, "name": NFT_TABLE}
    if changed:
        commands = [{"add": {"table": table}}, {"delete": {"table": table}}]
        if want_rules:
            commands.append({"add": {"table": table}})
            for chain in sorted(want_rules, key=CHAINS.index):
                commands.append({"add": {"chain": dict(table=NFT_TABLE, family=NFT_FAMILY, name=chain, type="filter",
                                                       hook=chain, prio=MANGLE_PRIORITY, policy="accept")}})
                for clamp, both in layout[chain]:
                    commands.append({"add": {"rule": {"family": NFT_FAMILY, "table": NFT_TABLE, "chain": chain,
                                                      "expr": nft_expr(clamp, both), "comment": MSS_COMMENT}}})
    before = [f"{chain}: {rule.get('text')}" for chain, entries in sorted(ours.items()) for dummy, rule in entries]
    after = [f"{chain}: {nft_text(c, both)}" for chain in sorted(layout, key=CHAINS.index) for c, both in layout[chain]]
    return {
        "commands": commands,
        "changed": changed,
        "report": report,
        "block": nft_block(layout),
        "diffs": [{"chain": f"nftables {NFT_FAMILY} {NFT_TABLE}", "before": before, "after": after}] if changed else [],
    }


def nft_block(layout: dict) -> list:
    """nft -f text for the configuration: recreate table inet netpath_mtu with its clamps."""
    if not layout:
        return []
    lines = [f"table {NFT_FAMILY} {NFT_TABLE}", f"delete table {NFT_FAMILY} {NFT_TABLE}", f"table {NFT_FAMILY} {NFT_TABLE} {{"]
    for chain in sorted(layout, key=CHAINS.index):
        lines += [f"\tchain {chain} {{", f"\t\ttype filter hook {chain} priority mangle; policy accept;"]
        lines += [f"\t\t{nft_text(c, both)}" for c, both in layout[chain]]
        lines.append("\t}")
    lines.append("}")
    return lines


def nft_block_for(clamps: Iterable[Clamp]) -> list:
    return nft_block(_rules_for(set(clamps)))


# --- which framework ------------------------------------------------------------------------

def native_rule_count(doc: dict | None, skip_xtables: bool) -> int:
    """Rules and dropping policies in nftables tables that are not iptables-nft's, firewalld's or ours."""
    count = 0
    for obj in (doc or {}).get("nftables", []):
        if not isinstance(obj, dict) or not obj:
            continue
        kind, val = next(iter(obj.items()))
        if kind not in ("rule", "chain") or not isinstance(val, dict):
            continue
        table = val.get("table")
        xtables = skip_xtables and val.get("family") in ("ip", "ip6") and table in iptables_eval.TABLE_HOOKS
        if table in (NFT_TABLE, "firewalld") or xtables:
            continue
        if kind == "rule" or val.get("policy") == "drop":
            count += 1
    return count


def choose_backend(requested: str, info: dict, snap: Any, tools: dict) -> str:
    """The framework to write to: the one requested, or the one the host uses (see the module's backend option)."""
    if requested != "auto":
        if not tools.get(requested):
            raise ValueError(f"backend {requested} is not installed on this host; install it or use backend=auto")
        if requested == "firewalld" and not info.get("firewalld"):
            raise ValueError("backend firewalld: firewalld is not running; start it or choose another backend")
        return requested
    if info.get("firewalld") and tools.get("firewalld"):
        return "firewalld"
    has_nft_save = any(fw == "iptables-nft" for fw, dummy in snap.iptables)
    if native_rule_count(snap.nft_doc(), has_nft_save) and tools.get("nftables"):
        return "nftables"
    for backend in ("iptables-nft", "iptables-legacy"):
        text = "\n".join(t for (fw, dummy), t in snap.iptables.items() if fw == backend)
        if tools.get(backend) and _rule_count(text):
            return backend
    if any(n == NFT_TABLE for n in _tables(snap.nft_doc())) and tools.get("nftables"):
        return "nftables"
    for backend in ("nftables", "iptables-nft", "iptables-legacy"):
        if tools.get(backend):
            return backend
    raise ValueError("no firewall framework is installed (nftables or iptables); install nftables")


def _rule_count(save_text: str) -> int:
    return sum(1 for line in save_text.splitlines() if line.startswith("-A ")) + sum(
        1 for line in save_text.splitlines() if line.startswith(":") and line.split()[1:2] == ["DROP"])


def _tables(doc: dict | None) -> list:
    return [obj["table"]["name"] for obj in (doc or {}).get("nftables", []) if isinstance(obj, dict) and "table" in obj]
