# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What icmp_policy (and mss_clamp) change, computed without touching the host. Pure.

A ``Snapshot`` holds a host's firewall state as text (``nft -j list ruleset``, ``nft -a list
ruleset``, ``iptables-save`` per variant and family). ``plan_icmp`` evaluates it, inserts an accept
for frag-needed / packet-too-big right before the rule that drops it (in the chain where that rule
lives, in the framework that owns it), applies the insert to an in-memory copy and evaluates again,
until every requested family and hook accepts or nothing more can be done. The result is the list
of commands (one nft JSON transaction, iptables argv lists), the rule text of each changed chain
before and after, and what stays unresolved and why.

Persistence helpers edit configuration text: a managed block in the nftables configuration and the
iptables-save format of ``/etc/iptables/rules.v4`` and friends.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import firewalld
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import iptables_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval

ICMP_COMMENT = "netpath.mtu icmp_policy"
MSS_COMMENT = "netpath.mtu mss_clamp"
IPTABLES_FRAMEWORKS = ("iptables-nft", "iptables-legacy")
BINARIES = {
    ("iptables-nft", "ipv4"): "iptables-nft", ("iptables-nft", "ipv6"): "ip6tables-nft",
    ("iptables-legacy", "ipv4"): "iptables-legacy", ("iptables-legacy", "ipv6"): "ip6tables-legacy",
}
FIREWALLD_TABLE = "firewalld"
XTABLES_WAIT = ("-w", "60")  # wait up to a minute for the xtables lock (legacy); iptables-nft ignores it
SYNTHETIC_HANDLE = 1 << 30  # handles of rules this plan adds, until nft assigns real ones
MAX_ROUNDS = 48


@dataclass
class Snapshot:
    """A host's firewall state as the commands print it."""

    nft: Any = None  # nft -j list ruleset (text or parsed)
    listing: str | None = None  # nft -a list ruleset
    iptables: dict = field(default_factory=dict)  # {(framework, family): iptables-save text}
    interfaces: list | None = None

    def copy(self) -> "Snapshot":
        return Snapshot(copy.deepcopy(self.nft_doc()), self.listing, dict(self.iptables), self.interfaces)

    def nft_doc(self) -> dict | None:
        if self.nft is None or (isinstance(self.nft, str) and not self.nft.strip()):
            return None
        if isinstance(self.nft, (str, bytes)):
            self.nft = {"nftables": nft_eval.load(self.nft)}
        return self.nft


def ruleset(snapshot: Snapshot) -> tuple[fw_eval.Ruleset, set, list]:
    """All frameworks merged; iptables-nft tables come from iptables-save, not from nft's opaque xt view."""
    parts = []
    names: set = set()
    rules: list = []
    skip = tuple(sorted({"ip" if fam == "ipv4" else "ip6" for (fw, fam) in snapshot.iptables if fw == "iptables-nft"}))
    doc = snapshot.nft_doc()
    if doc is not None:
        rs, found, rules = nft_eval.parse(doc, snapshot.listing, skip_xtables=skip)
        parts.append(rs)
        names |= found
    for (framework, family), text in sorted(snapshot.iptables.items()):
        rs, found = iptables_eval.parse(text, family=family, framework=framework)
        parts.append(rs)
        names |= found
    return fw_eval.merge(*parts), names, rules


def evaluate(snapshot: Snapshot, families=fw_eval.FAMILIES, hooks=fw_eval.HOOKS) -> tuple[list, list, fw_eval.Ruleset]:
    rs, names, dummy = ruleset(snapshot)
    results = fw_eval.evaluate(rs, families=families, hooks=hooks, interfaces=snapshot.interfaces, mentioned=names)
    fragments = fw_eval.fragment_drops(rs, interfaces=snapshot.interfaces, mentioned=names)
    return results, fragments, rs


# --- the accept rules -----------------------------------------------------------------------

def ptb_nft_expr(family: str, table_family: str) -> list:
    expr = []
    if table_family == "netdev":
        expr.append({"match": {"op": "==", "left": {"meta": {"key": "protocol"}}, "right": "ip" if family == "ipv4" else "ip6"}})
    if family == "ipv4":
        expr += [
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "destination-unreachable"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "code"}}, "right": "frag-needed"}},
        ]
    else:
        expr.append({"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": "packet-too-big"}})
    return expr + [{"accept": None}]


def ptb_nft_text(family: str, table_family: str = "inet") -> str:
    prefix = ("meta protocol ip " if family == "ipv4" else "meta protocol ip6 ") if table_family == "netdev" else ""
    match = ("icmp type destination-unreachable icmp code frag-needed" if family == "ipv4"
             else "icmpv6 type packet-too-big")
    return f'{prefix}{match} accept comment "{ICMP_COMMENT}"'


def ptb_iptables_args(family: str) -> list:
    match = (["-p", "icmp", "-m", "icmp", "--icmp-type", "3/4"] if family == "ipv4"
             else ["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", "2"])
    return match + ["-m", "comment", "--comment", ICMP_COMMENT, "-j", "ACCEPT"]


def save_line(chain: str, args: list) -> str:
    """A rule as iptables-save prints it (the comment quoted)."""
    out = ["-A", chain]
    for i, arg in enumerate(args):
        out.append(f'"{arg}"' if i and args[i - 1] == "--comment" else arg)
    return " ".join(out)


def _is_ours(rule: dict, comment: str) -> bool:
    return rule.get("comment") == comment


# --- applying a fix to the in-memory snapshot -----------------------------------------------

def _nft_insert(doc: dict, ref: dict, family: str, counter: list) -> dict:
    """Insert the accept before ``ref`` (or at the end of the chain for a policy) in the JSON document."""
    objects = doc["nftables"]
    counter[0] += 1
    handle = SYNTHETIC_HANDLE + counter[0]
    new = {"family": ref["family"], "table": ref["table"], "chain": ref["chain"], "handle": handle,
           "expr": ptb_nft_expr(family, ref["family"]), "comment": ICMP_COMMENT}
    where = None
    last = None
    for i, obj in enumerate(objects):
        rule = obj.get("rule") if isinstance(obj, dict) else None
        chain = obj.get("chain") if isinstance(obj, dict) else None
        if rule and (rule["family"], rule["table"], rule["chain"]) == (ref["family"], ref["table"], ref["chain"]):
            last = i
            if "policy" not in ref and rule.get("handle") == ref.get("handle"):
                where = i
                break
        elif chain and (chain["family"], chain["table"], chain["name"]) == (ref["family"], ref["table"], ref["chain"]):
            last = i if last is None else last
    if where is None:
        where = (last + 1) if last is not None else len(objects)
    objects.insert(where, {"rule": new})
    if "policy" in ref:
        return {"add": {"rule": {k: v for k, v in new.items() if k != "handle"}}}
    return {"insert": {"rule": dict({k: v for k, v in new.items() if k != "handle"}, handle=ref["handle"])}}


def _iptables_insert(snapshot: Snapshot, ref: dict, family: str) -> list:
    key = (ref["framework"], ref["family"])
    tables = iptables_eval.parse_save(snapshot.iptables[key])
    args = ptb_iptables_args(family)
    rules = tables[ref["table"]]["rules"].setdefault(ref["chain"], [])
    binary = BINARIES[key]
    if "policy" in ref:
        rules.append(save_line(ref["chain"], args))
        argv = [binary, *XTABLES_WAIT, "-t", ref["table"], "-A", ref["chain"]] + args
    else:
        rules.insert(ref["position"] - 1, save_line(ref["chain"], args))
        argv = [binary, *XTABLES_WAIT, "-t", ref["table"], "-I", ref["chain"], str(ref["position"])] + args
    snapshot.iptables[key] = iptables_eval.render_save(tables)
    return argv


def _chain_key(ref: dict) -> tuple:
    return (ref["framework"], ref["family"], ref["table"], ref["chain"])


def chain_lines(snapshot: Snapshot, key: tuple) -> list:
    """Rule text of one chain, for diffs."""
    framework, family, table, chain = key
    if framework == nft_eval.FRAMEWORK:
        texts = nft_eval.parse_listing(snapshot.listing)
        doc = snapshot.nft_doc() or {"nftables": []}
        lines = []
        for obj in doc["nftables"]:
            rule = obj.get("rule") if isinstance(obj, dict) else None
            if rule and (rule["family"], rule["table"], rule["chain"]) == (family, table, chain):
                lines.append(texts.get((family, table, chain, rule.get("handle")))
                             or nft_eval.render_rule(rule.get("expr") or [], rule.get("comment")))
            spec = obj.get("chain") if isinstance(obj, dict) else None
            if spec and (spec["family"], spec["table"], spec["name"]) == (family, table, chain) and spec.get("hook"):
                lines.append(f"type {spec.get('type')} hook {spec['hook']} priority {spec.get('prio')}; policy {spec.get('policy')};")
        return lines
    tables = iptables_eval.parse_save(snapshot.iptables.get((framework, family)))
    spec = tables.get(table, {"chains": {}, "rules": {}})
    policy = spec["chains"].get(chain)
    return ([f":{chain} {policy}"] if policy else []) + spec["rules"].get(chain, [])


def _unfixable(ref: dict, snapshot: Snapshot) -> str | None:
    if ref.get("framework") == nft_eval.FRAMEWORK:
        if ref.get("table") == FIREWALLD_TABLE:
            zone = firewalld.zone_of_chain(ref.get("chain", ""))
            if zone:
                return (f"it is in firewalld's table (zone or policy {zone}), which firewalld rewrites; it is changed with "
                        "firewall-cmd instead (commands.firewalld), when firewalld runs")
            return ("it is in firewalld's own base chain, which firewalld rewrites and no zone setting changes "
                    "(firewalld drops untracked ICMP errors as invalid before any zone rule)")
        if ref.get("family") in ("ip", "ip6") and ref.get("table") in nft_eval.XTABLES_TABLES:
            return ("it is in a table that iptables-nft manages, but iptables-nft-save is not available to edit it; "
                    "install iptables (nf_tables variant) or change the rule by hand")
        return None
    if ref.get("framework") in IPTABLES_FRAMEWORKS:
        return None if (ref["framework"], ref["family"]) in snapshot.iptables else "its iptables variant is not readable"
    return "its framework is not supported"


def plan_icmp(snapshot: Snapshot, *, families=fw_eval.FAMILIES, hooks=fw_eval.HOOKS,
              fix_untracked: bool = False) -> dict[str, Any]:
    """Make frag-needed / packet-too-big accepted where it is decided. Returns the plan (see module doc)."""
    work = snapshot.copy()
    before = snapshot.copy()
    nft_commands: list = []
    iptables_commands: list = []
    changes: list = []
    touched: list = []
    tried: set = set()
    counter = [0]
    unresolved: dict = {}
    results: list = []
    for dummy in range(MAX_ROUNDS):
        results, dummy_fragments, dummy_rs = evaluate(work, families, hooks)
        target = None
        for entry in results:
            candidates = [(ref, entry["reason"]) for ref in entry["_fixable"]]
            if fix_untracked:
                candidates += [(ref, f"untracked: {entry['untracked']['reason']}") for ref in entry["untracked"]["_fixable"]]
            for ref, reason in candidates:
                why = _unfixable(ref, work)
                if why:
                    unresolved[(entry["family"], entry["hook"])] = f"{reason}; cannot change it: {why}"
                    continue
                key = (entry["family"], _chain_key(ref), str(ref.get("handle", ref.get("position"))), "policy" in ref)
                if key in tried:
                    unresolved[(entry["family"], entry["hook"])] = f"{reason}; an accept inserted before it did not help"
                    continue
                target = (entry, ref, key)
                break
            if target:
                break
        if target is None:
            break
        entry, ref, key = target
        tried.add(key)
        family = entry["family"]
        if ref["framework"] == nft_eval.FRAMEWORK:
            nft_commands.append(_nft_insert(work.nft_doc(), ref, family, counter))
            text = ptb_nft_text(family, ref["family"])
        else:
            iptables_commands.append(_iptables_insert(work, ref, family))
            text = save_line(ref["chain"], ptb_iptables_args(family))
        changes.append({
            "family": family, "hook": entry["hook"], "framework": ref["framework"], "table_family": ref["family"],
            "table": ref["table"], "chain": ref["chain"], "rule": text,
            "before": ref.get("text") if "policy" not in ref else None,
            "reason": entry["reason"],
        })
        if _chain_key(ref) not in touched:
            touched.append(_chain_key(ref))
    final = []
    for entry in results:
        untracked_bad = fix_untracked and entry["untracked"]["verdict"] != "accepted"
        if entry["verdict"] != "accepted" or untracked_bad:
            unresolved.setdefault((entry["family"], entry["hook"]),
                                  entry["reason"] if entry["verdict"] != "accepted"
                                  else f"untracked: {entry['untracked']['reason']}")
        else:
            unresolved.pop((entry["family"], entry["hook"]), None)
        final.append(entry)
    diffs = [{"chain": " ".join(str(k) for k in key), "before": chain_lines(before, key), "after": chain_lines(work, key)}
             for key in touched]
    return {
        "nft_commands": nft_commands,
        "iptables_commands": iptables_commands,
        "changes": changes,
        "diffs": diffs,
        "results": final,
        "unresolved": [{"family": f, "hook": h, "reason": r} for (f, h), r in sorted(unresolved.items())],
        "snapshot": work,
    }


def nft_transaction(commands: list) -> str:
    return json.dumps({"nftables": commands}, sort_keys=True)


# --- nftables configuration: managed blocks -------------------------------------------------

def block_markers(name: str) -> tuple[str, str]:
    return (f"# BEGIN netpath.mtu {name} -- managed by Ansible (netpath.mtu.{name}), do not edit",
            f"# END netpath.mtu {name}")


def replace_block(text: str | None, name: str, body: list) -> str:
    """The configuration with the block for ``name`` set to ``body``: in its place when there is one (another
    module's block after it must not make this one move, or the two would move each other on every run),
    at the end when there is none; removed when ``body`` is empty."""
    begin, end = block_markers(name)
    lines = (text or "").splitlines()
    kept: list = []
    inside = False
    at = None  # where the old block was, in ``kept``
    for line in lines:
        if line.startswith(f"# BEGIN netpath.mtu {name} "):
            inside = True
            at = len(kept) if at is None else at
            continue
        if inside and line.strip() == end:
            inside = False
            continue
        if not inside:
            kept.append(line)
    if body and at is not None:
        kept[at:at] = [begin] + body + [end]
        return "\n".join(kept) + "\n"
    while kept and not kept[-1].strip():
        kept.pop()
    if body:
        kept += ([""] if kept else []) + [begin] + body + [end]
    return "\n".join(kept) + "\n" if kept else ""


def get_block(text: str | None, name: str) -> list:
    begin, end = block_markers(name)
    body: list = []
    inside = False
    for line in (text or "").splitlines():
        if line.startswith(f"# BEGIN netpath.mtu {name} "):
            inside = True
        elif inside and line.strip() == end:
            break
        elif inside:
            body.append(line)
    return body


def nft_name(name: str) -> str:
    """A table or chain name as nft reads it on a command line (quoted when it is not a plain identifier)."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) and name not in ("table", "chain", "rule") \
        else json.dumps(name)


def icmp_block(snapshot: Snapshot) -> list:
    """nft commands that re-insert this module's accepts where they are now, after the config's own tables.

    Each accept is replayed in chain order at its current index, so the configuration must build the
    chain as it is live (the usual case: it starts with ``flush ruleset`` and defines the tables).
    """
    doc = snapshot.nft_doc()
    if doc is None:
        return []
    chains: dict = {}
    for obj in doc["nftables"]:
        rule = obj.get("rule") if isinstance(obj, dict) else None
        if rule:
            chains.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(rule)
    body = []
    for (family, table, chain), rules in chains.items():
        ours = [_is_ours(rule, ICMP_COMMENT) for rule in rules]
        for index, rule in enumerate(rules):
            if not ours[index]:
                continue
            fam = "ipv6" if any("icmpv6" in json.dumps(e) for e in rule.get("expr") or []) else "ipv4"
            where = f"{family} {nft_name(table)} {nft_name(chain)}"
            if not any(not mine for mine in ours[index + 1:]):
                # Only our own rules follow: at replay time it goes to the end of the chain.
                body.append(f"add rule {where} {ptb_nft_text(fam, family)}")
            else:
                body.append(f"insert rule {where} index {index} {ptb_nft_text(fam, family)}")
    return body


def nft_config_path(exists) -> str:
    """Where the host's nftables service reads its ruleset (Debian, then RHEL)."""
    for path in ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf"):
        if exists(path):
            return path
    return "/etc/nftables.conf"


def iptables_rules_path(family: str, exists) -> str:
    """Where iptables rules persist: Debian's iptables-persistent, else RHEL's iptables-services."""
    debian = {"ipv4": "/etc/iptables/rules.v4", "ipv6": "/etc/iptables/rules.v6"}[family]
    redhat = {"ipv4": "/etc/sysconfig/iptables", "ipv6": "/etc/sysconfig/ip6tables"}[family]
    if exists("/etc/iptables") or exists(debian) or exists("/etc/debian_version"):
        return debian
    if exists("/etc/sysconfig"):
        return redhat
    return debian


def plan_icmp_file(text: str | None, *, framework: str, family: str, hooks=fw_eval.HOOKS,
                   fix_untracked: bool = False) -> tuple[str | None, list]:
    """The same fix applied to a persisted iptables-save file: (new text, or None when it needs none; changes)."""
    if text is None:
        return None, []
    snap = Snapshot(iptables={(framework, family): text})
    plan = plan_icmp(snap, families=(family,), hooks=hooks, fix_untracked=fix_untracked)
    if not plan["iptables_commands"]:
        return None, []
    new = merge_save(text, plan["snapshot"].iptables[(framework, family)])
    return (new if new != text else None), plan["changes"]


def merge_save(original: str, changed: str) -> str:
    """``original`` with each table whose rules differ in ``changed`` replaced; comments and the rest kept."""
    old_tables = iptables_eval.parse_save(original)
    new_tables = iptables_eval.parse_save(changed)
    sections = _sections(changed)
    replace_with = {name: sections[name] for name, table in new_tables.items() if old_tables.get(name) != table}
    out: list = []
    skipping = False
    for line in original.splitlines():
        stripped = line.strip()
        if stripped.startswith("*") and stripped[1:].strip() in replace_with:
            out.extend(replace_with.pop(stripped[1:].strip()))
            skipping = True
            continue
        if skipping:
            skipping = stripped != "COMMIT"
            continue
        out.append(line)
    for lines in replace_with.values():
        out.extend(lines)
    return "\n".join(out) + "\n"


def _sections(text: str) -> dict:
    sections: dict = {}
    current = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
            sections[current] = [line]
        elif current is not None:
            sections[current].append(line)
            if line.strip() == "COMMIT":
                current = None
    return sections


def text_diff(path: str, before: str | None, after: str | None) -> dict:
    return {"before_header": path, "after_header": path, "before": before or "", "after": after or ""}
