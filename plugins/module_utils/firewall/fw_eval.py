# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Walk netfilter hooks with a symbolic packet: the engine behind nft_eval and iptables_eval.

Pure: no system access. The front ends (``nft_eval`` for ``nft -j list ruleset``, ``iptables_eval``
for ``iptables-save`` text) compile their rules into the small intermediate form below; this module
orders the base chains of every framework on each packet path by hook and priority, walks them
(jumps, gotos, returns, verdict maps, policies) and returns what happens to the packet.

The packet is one ICMP "fragmentation needed" (IPv4 type 3 code 4) or ICMPv6 "packet too big"
(type 2), or a non-first IP fragment. What a ruleset may ask about it that is not fixed (which
interface, which source address, a random number, ...) forks the walk; every outcome carries the
conditions it assumed, so the verdict can say "dropped when it arrives on eth1".

Semantics that matter (see docs/firewall.md):

- An ``accept`` ends only the base chain it happens in; the packet goes on to the next base chain of
  the hook (any table, any framework), where a ``drop`` still drops it.
- An ICMP error about a flow that conntrack tracks is ``ct state related``; about a flow it does not
  know, it has no conntrack entry and matches ``ct state invalid``. Both are evaluated.
- Chains before conntrack (priority < -200 at prerouting/output, ingress) see every packet as
  ``invalid``; chains before defragmentation (< -400) and rulesets without conntrack see fragments.
- nat chains never see ICMP errors (they only see the first packet of a connection).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

FAMILIES = ("ipv4", "ipv6")
HOOKS = ("input", "forward", "output")
# The hooks a packet passes, in order, on its way to a socket (input), through the host (forward) or
# out of it (output). ``egress`` needs Linux 5.16+ netdev chains.
PATH_HOOKS = {
    "input": ("ingress", "prerouting", "input"),
    "forward": ("ingress", "prerouting", "forward", "postrouting", "egress"),
    "output": ("output", "postrouting", "egress"),
}
CONNTRACK_PRIORITY = -200  # NF_IP_PRI_CONNTRACK
DEFRAG_PRIORITY = -400  # NF_IP_PRI_CONNTRACK_DEFRAG
MAX_JUMP_DEPTH = 16  # nf_tables refuses deeper jump stacks too
MAX_STEPS = 20000
MAX_OUTCOMES = 256
OTHER_INTERFACE = "(other)"  # stands for every interface the ruleset does not name

PROBES = {
    "ptb": {
        "ipv4": {"l4": 1, "type": 3, "code": 4, "name": "ICMP fragmentation-needed (type 3 code 4)"},
        "ipv6": {"l4": 58, "type": 2, "code": 0, "name": "ICMPv6 packet-too-big (type 2)"},
    },
    # A non-first fragment of a UDP datagram (a tunnel's outer packet): no transport header.
    "fragment": {
        "ipv4": {"l4": 17, "type": None, "code": None, "name": "non-first IPv4 fragment"},
        "ipv6": {"l4": 17, "type": None, "code": None, "name": "non-first IPv6 fragment"},
    },
}

# Condition kinds: where the answer depends on the packet's path (interface, address, ...), or on
# something a static reading cannot know (``unevaluable``: ct mark, sockets, sets updated at run time).
INTERFACE, ADDRESS, ENV, UNEVALUABLE = "interface", "address", "env", "unevaluable"


class Absent(Exception):
    """The expression reads a header the packet does not have: the rule cannot match."""


class Unknown(Exception):
    """The expression's value is not fixed for this packet; ``kind`` says why."""

    def __init__(self, kind: str, text: str):
        super().__init__(text)
        self.kind, self.text = kind, text


@dataclass(frozen=True)
class Pkt:
    """The symbolic packet. Immutable: forks and statements return changed copies."""

    family: str
    probe: str = "ptb"
    tracked: bool = True
    hook: str = ""
    priority: int = 0
    conntrack: bool = True  # the ruleset uses conntrack (so defragmentation happens too)
    notrack: bool = False
    mark: int = 0
    iif: frozenset | None = None  # candidate input interfaces; None: the packet has none (locally generated)
    oif: frozenset | None = None  # candidate output interfaces; None: local delivery
    conds: tuple = ()  # (kind, text, positive)
    notes: tuple = ()
    trail: tuple = ()  # accept decisions of earlier base chains: (label, ref)

    @property
    def info(self) -> dict[str, Any]:
        return PROBES[self.probe][self.family]

    @property
    def l4(self) -> int:
        return self.info["l4"]

    @property
    def fragment(self) -> bool:
        return self.probe == "fragment"

    def before_conntrack(self) -> bool:
        return self.hook == "ingress" or (self.hook in ("prerouting", "output") and self.priority < CONNTRACK_PRIORITY)

    def ct_state(self) -> str:
        if self.notrack:
            return "untracked"
        if self.fragment or not self.tracked or not self.conntrack or self.before_conntrack():
            return "invalid"  # no conntrack entry attached (yet)
        return "related"

    def has_ct(self) -> bool:
        return self.ct_state() == "related"

    def assume(self, kind: str, text: str, positive: bool) -> "Pkt":
        return replace(self, conds=self.conds + ((kind, text, positive),))

    def note(self, text: str) -> "Pkt":
        return self if text in self.notes else replace(self, notes=self.notes + (text,))


Cond = Callable[[Pkt], list]  # Pkt -> [(matched: bool, Pkt)]


def fork(kind: str, text: str, negate: bool = False) -> Cond:
    """A condition whose truth is not fixed: both outcomes, each remembering what it assumed."""

    def cond(pkt: Pkt) -> list:
        return [(not negate, pkt.assume(kind, text, True)), (negate, pkt.assume(kind, text, False))]

    return cond


def const(value: bool, note: str | None = None) -> Cond:
    def cond(pkt: Pkt) -> list:
        return [(value, pkt.note(note) if note else pkt)]

    return cond


def iface_match(name: str, patterns: Iterable[str]) -> bool:
    """Interface name patterns: exact, or a prefix with a trailing '*' (nft) or '+' (iptables)."""
    if name == OTHER_INTERFACE:
        return False
    for pattern in patterns:
        if pattern.endswith(("*", "+")) and not pattern.endswith("\\*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern.replace("\\", ""):
            return True
    return False


def interface_cond(direction: str, patterns: Iterable[str], negate: bool = False) -> Cond:
    """Split the candidate interfaces into those that match and those that do not."""
    wanted = list(patterns)

    def cond(pkt: Pkt) -> list:
        domain = getattr(pkt, direction)
        if domain is None:
            # No such interface (input interface of a locally generated packet): the name is "".
            hit = iface_match("", wanted)
            return [(hit != negate, pkt)]
        yes = frozenset(n for n in domain if iface_match(n, wanted))
        no = domain - yes
        out = []
        if yes:
            out.append((not negate, replace(pkt, **{direction: yes})))
        if no:
            out.append((negate, replace(pkt, **{direction: no})))
        return out

    return cond


# --- the intermediate form ------------------------------------------------------------------

@dataclass
class Rule:
    """Items run in order: ("match", cond), ("stmt", fn), ("verdict", kind, target), ("vmap", [(cond, verdict)])."""

    ref: dict[str, Any]
    items: list


@dataclass
class Chain:
    name: str
    rules: list = field(default_factory=list)
    policy: str | None = None  # base chains only: "accept" or "drop"


@dataclass
class BaseChain:
    """One base chain: where it hooks, with what priority, and the program its jumps resolve in."""

    framework: str
    label: str  # e.g. "nftables inet filter input", "iptables-legacy ipv4 filter INPUT"
    families: tuple
    hook: str
    priority: int
    chains: dict  # name -> Chain (the table: jumps and gotos resolve here)
    chain: str
    ref: dict  # table coordinates, for the policy "rule"
    devices: tuple = ()  # netdev/inet ingress and egress chains hook one or more devices
    skip: str | None = None  # why this chain never sees the packet (nat chains)
    order: int = 0


@dataclass
class Outcome:
    verdict: str  # accept, drop, unknown
    pkt: Pkt
    ref: dict | None
    why: str
    label: str = ""


def _policy_ref(base: BaseChain) -> dict:
    policy = base.chains[base.chain].policy or "accept"
    return dict(base.ref, chain=base.chain, policy=policy, text=f"policy {policy}")


def run_items(items: list, pkt: Pkt) -> list:
    """One rule: [(pkt, verdict or None)]; None means 'go on with the next rule'."""
    states = [pkt]
    results: list = []
    for item in items:
        kind = item[0]
        if kind == "match":
            survivors = []
            for state in states:
                for matched, forked in item[1](state):
                    (survivors if matched else results).append(forked if matched else (forked, None))
            states = survivors
        elif kind == "stmt":
            states = [item[1](state) for state in states]
        elif kind == "verdict":
            results.extend((state, item[1:]) for state in states)
            return results
        elif kind == "vmap":
            for state in states:
                rest = [state]
                for cond, verdict in item[1]:
                    left = []
                    for candidate in rest:
                        for matched, forked in cond(candidate):
                            if matched:
                                results.append((forked, verdict))
                            else:
                                left.append(forked)
                    rest = left
                results.extend((candidate, None) for candidate in rest)
            return results
        if not states:
            break
    results.extend((state, None) for state in states)
    return results


def run_base_chain(base: BaseChain, pkt: Pkt) -> list:
    """Walk one base chain; every outcome is accept (go on to the next base chain), drop or unknown."""
    outcomes: list = []
    start = pkt
    work = [(base.chain, 0, pkt, ())]
    steps = 0
    while work:
        steps += 1
        if steps > MAX_STEPS or len(outcomes) > MAX_OUTCOMES:
            outcomes.append(Outcome("unknown", start, None, f"{base.label}: too many paths to follow", base.label))
            break
        name, index, pkt, stack = work.pop()
        chain = base.chains.get(name)
        if chain is None:
            outcomes.append(Outcome("unknown", pkt, None, f"{base.label}: jump to missing chain {name}", base.label))
            continue
        if index >= len(chain.rules):
            if stack:
                back, at = stack[-1]
                work.append((back, at, pkt, stack[:-1]))
                continue
            policy = base.chains[base.chain].policy or "accept"
            outcomes.append(Outcome("accept" if policy == "accept" else "drop", pkt, _policy_ref(base),
                                    f"policy {policy} of {base.label}", base.label))
            continue
        rule = chain.rules[index]
        pending = []
        for state, verdict in run_items(rule.items, pkt):
            what = verdict[0] if verdict else "continue"
            if what == "continue":
                pending.append((name, index + 1, state, stack))
            elif what == "accept":
                outcomes.append(Outcome("accept", state, rule.ref, "accepted", base.label))
            elif what in ("drop", "reject"):
                outcomes.append(Outcome("drop", state, rule.ref, "rejected" if what == "reject" else "dropped", base.label))
            elif what == "return":
                if stack:
                    back, at = stack[-1]
                    pending.append((back, at, state, stack[:-1]))
                else:
                    pending.append((base.chain, len(base.chains[base.chain].rules), state, ()))
            elif what == "jump":
                if len(stack) >= MAX_JUMP_DEPTH:
                    outcomes.append(Outcome("unknown", state, rule.ref, "jumps nest too deep", base.label))
                else:
                    pending.append((verdict[1], 0, state, stack + ((name, index + 1),)))
            elif what == "goto":
                pending.append((verdict[1], 0, state, stack))
            else:  # queue, unknown targets: userspace or something we cannot read decides
                detail = verdict[1] if len(verdict) > 1 and verdict[1] else what
                outcomes.append(Outcome("unknown", state, rule.ref, f"decided by {detail}, which cannot be evaluated statically",
                                        base.label))
        work.extend(reversed(pending))  # first branch first
    return outcomes


@dataclass
class Ruleset:
    """Base chains of one or more frameworks, ready to walk."""

    bases: list = field(default_factory=list)
    conntrack: bool = False  # some rule uses conntrack, so it (and defragmentation) runs
    warnings: list = field(default_factory=list)


def merge(*rulesets: Ruleset) -> Ruleset:
    merged = Ruleset()
    for ruleset in rulesets:
        for base in ruleset.bases:
            base.order = len(merged.bases)
            merged.bases.append(base)
        merged.conntrack = merged.conntrack or ruleset.conntrack
        merged.warnings.extend(ruleset.warnings)
    return merged


def _domain(interfaces: Iterable[str]) -> frozenset:
    return frozenset(i for i in interfaces if i != "lo") | frozenset({OTHER_INTERFACE})


def interface_names(interfaces: Iterable[str] | None, mentioned: Iterable[str]) -> frozenset:
    """Candidate interfaces: the host's (when known) or the names the ruleset mentions, plus 'any other'."""
    if interfaces:
        return frozenset(i for i in interfaces if i != "lo")
    # A wildcard ("wg*", "eth+") stands for the interfaces it matches.
    return _domain(mentioned)


def initial_packet(family: str, hook: str, *, probe: str, tracked: bool, conntrack: bool,
                   interfaces: frozenset) -> Pkt:
    return Pkt(
        family=family, probe=probe, tracked=tracked, conntrack=conntrack,
        iif=interfaces if hook in ("input", "forward") else None,
        oif=interfaces if hook in ("forward", "output") else None,
    )


def chains_on_path(bases: list, family: str, hook: str) -> list:
    hooks = PATH_HOOKS[hook]
    found = [b for b in bases if b.hook in hooks and family in b.families]
    return sorted(found, key=lambda b: (hooks.index(b.hook), b.priority, b.order))


def _sees(base: BaseChain, pkt: Pkt) -> bool:
    if base.skip:
        return False
    if pkt.fragment:
        if base.hook == "input" and pkt.family == "ipv4":
            return False  # IPv4 reassembles before local delivery (ip_local_deliver), hooks or not
        if pkt.conntrack:
            # Conntrack's defragmentation (priority -400) reassembles before anything later sees it.
            return base.hook == "ingress" or (base.hook == "prerouting" and base.priority < DEFRAG_PRIORITY)
    return True


def walk(ruleset: Ruleset, start: Pkt, hook: str) -> tuple[list, list]:
    """All outcomes of one packet on one path, and the labels of the base chains it passes."""
    states = [start]
    finals: list = []
    passed = []
    for base in chains_on_path(ruleset.bases, start.family, hook):
        if not _sees(base, start):
            continue
        passed.append(base.label)
        following = []
        for state in states:
            state = replace(state, hook=base.hook, priority=base.priority)
            inside = [state]
            if base.devices:
                split = interface_cond("oif" if base.hook == "egress" else "iif", base.devices)(state)
                inside = [s for hit, s in split if hit]
                following.extend(s for hit, s in split if not hit)
            policy = base.chains[base.chain].policy or "accept"
            for entering in inside:
                for out in run_base_chain(base, entering):
                    if out.verdict == "accept":
                        following.append(replace(out.pkt, trail=out.pkt.trail + ((base.label, out.ref, policy),)))
                    else:
                        finals.append(out)
        states = following
        if len(states) + len(finals) > MAX_OUTCOMES:
            finals.append(Outcome("unknown", start, None, "too many paths to follow"))
            states = []
            break
    finals.extend(Outcome("accept", s, None, "accepted") for s in states)
    return finals, passed


# --- describing outcomes --------------------------------------------------------------------

def describe_ref(ref: dict | None) -> str:
    if not ref:
        return "nothing"
    where = " ".join(str(ref[k]) for k in ("framework", "family", "table") if ref.get(k))
    chain = ref.get("chain")
    if "policy" in ref:
        return f"the policy {ref['policy']} of chain {chain} ({where})"
    pos = f"handle {ref['handle']}" if ref.get("handle") is not None else f"rule {ref.get('position')}"
    return f"'{ref.get('text', '?')}' ({where} chain {chain}, {pos})"


def conditions(pkt: Pkt, start: Pkt) -> list:
    """(kind, text, positive) an outcome depends on, its interfaces included."""
    found = list(pkt.conds)
    for direction, word in (("iif", "arriving on"), ("oif", "leaving by")):
        now, then = getattr(pkt, direction), getattr(start, direction)
        if now is not None and then is not None and now != then:
            if OTHER_INTERFACE in now:
                text = f"{word} any interface but {', '.join(sorted(then - now))}"
            else:
                text = f"{word} {' or '.join(sorted(now))}"
            found.append((INTERFACE, text, True))
    return found


def _cond_text(cond: tuple) -> str:
    kind, text, positive = cond
    return text if positive or kind == INTERFACE else f"not {text}"


def _scope(conds: list) -> str:
    if any(c[0] == UNEVALUABLE for c in conds):
        return "unevaluable"
    if any(c[0] in (ADDRESS, ENV) and c[2] for c in conds):
        return "narrow"  # only a particular source, destination, random share, ...
    return "broad"


def _accepting(pkt: Pkt) -> dict | None:
    """The accept that matters: a rule in a base chain whose policy would drop, else the first accept rule."""
    rules = [(ref, policy) for dummy, ref, policy in pkt.trail if ref and "policy" not in ref]
    for ref, policy in rules:
        if policy != "accept":
            return ref
    return rules[0][0] if rules else None


def _ref_key(ref: dict | None) -> tuple:
    if not ref:
        return ()
    return tuple(str(ref.get(k)) for k in ("framework", "family", "table", "chain", "handle", "position", "policy"))


def merge_outcomes(outcomes: list) -> list:
    """Outcomes that differ only in their interfaces, merged: a fork that changed nothing is no condition."""
    merged: dict = {}
    for out in outcomes:
        key = (out.verdict, _ref_key(out.ref), out.why, out.pkt.conds, out.pkt.notes,
               tuple(_ref_key(r) for dummy, r, dummy2 in out.pkt.trail))
        if key not in merged:
            merged[key] = out
            continue
        seen = merged[key]
        union = {}
        for direction in ("iif", "oif"):
            a, b = getattr(seen.pkt, direction), getattr(out.pkt, direction)
            union[direction] = a | b if a is not None and b is not None else (a if a is not None else b)
        merged[key] = Outcome(seen.verdict, replace(seen.pkt, **union), seen.ref, seen.why, seen.label)
    return list(merged.values())


def summarize(outcomes: list, start: Pkt) -> dict[str, Any]:
    """One verdict from all outcomes: accepted, dropped or unknown, the deciding rule and why.

    A drop counts when it applies broadly (unconditionally, per interface, or to every address but
    some); a drop limited to particular addresses or a random share leaves the verdict accepted (and
    ``conditional``); a drop or verdict that hangs on something unreadable makes it unknown.
    """
    branches = []
    for out in merge_outcomes(outcomes):
        conds = conditions(out.pkt, start)
        verdict = {"accept": "accepted", "drop": "dropped"}.get(out.verdict, "unknown")
        branches.append({
            "verdict": verdict,
            "rule": _accepting(out.pkt) if out.verdict == "accept" else out.ref,
            "chain": out.label or None,
            "when": [_cond_text(c) for c in conds],
            "hidden": [_cond_text(c) for c in conds if c[0] == UNEVALUABLE],
            "notes": list(out.pkt.notes),
            "scope": _scope(conds),
            "why": out.why,
        })
    drops = [b for b in branches if b["verdict"] == "dropped"]
    broad = [b for b in drops if b["scope"] == "broad"]
    unknown = [b for b in branches if b["verdict"] == "unknown"] + [b for b in drops if b["scope"] == "unevaluable"]
    if broad:
        deciding, verdict = broad[0], "dropped"
        reason = f"{'rejected' if deciding['why'] == 'rejected' else 'dropped'} by {describe_ref(deciding['rule'])}"
        if deciding["when"]:
            reason += " when " + " and ".join(deciding["when"])
    elif unknown:
        deciding, verdict = unknown[0], "unknown"
        if deciding["verdict"] == "unknown":
            reason = deciding["why"]
        else:
            reason = (f"dropped by {describe_ref(deciding['rule'])} only if {' and '.join(deciding['hidden'])}, "
                      "which cannot be evaluated statically")
    else:
        accepted = [b for b in branches if b["verdict"] == "accepted"]
        deciding, verdict = (accepted[0] if accepted else None), "accepted"
        if deciding and deciding["rule"]:
            reason = f"accepted by {describe_ref(deciding['rule'])}"
        else:
            reason = "accepted: no base chain on the path drops it"
        if drops:
            reason += "; dropped only when " + "; or ".join(" and ".join(b["when"]) for b in drops)
    return {
        "verdict": verdict,
        "reason": reason,
        "rule": deciding["rule"] if deciding else None,
        "conditional": len({b["verdict"] for b in branches}) > 1,
        "branches": [{k: v for k, v in b.items() if k not in ("scope", "hidden")} for b in branches[:20]],
        "notes": sorted({n for b in branches for n in b["notes"]}),
        "_fixable": [b["rule"] for b in broad],
    }


def evaluate(ruleset: Ruleset, *, families: Iterable[str] = FAMILIES, hooks: Iterable[str] = HOOKS,
             interfaces: Iterable[str] | None = None, mentioned: Iterable[str] = ()) -> list:
    """Verdicts for frag-needed / packet-too-big per family and hook, tracked (RELATED) and untracked.

    ``interfaces``: the host's interfaces (loopback is left out: PTBs do not arrive on it); when
    unknown, the names the ruleset mentions plus "any other" stand in for them.
    """
    domain = interface_names(interfaces, mentioned)
    results = []
    for family in families:
        for hook in hooks:
            entry: dict[str, Any] = {"family": family, "hook": hook, "message": PROBES["ptb"][family]["name"]}
            for tracked in (True, False):
                start = initial_packet(family, hook, probe="ptb", tracked=tracked, conntrack=ruleset.conntrack,
                                       interfaces=domain)
                outcomes, passed = walk(ruleset, start, hook)
                summary = summarize(outcomes, start)
                if tracked:
                    entry.update(summary)
                    entry["chains"] = passed
                else:
                    entry["untracked"] = {k: summary[k] for k in ("verdict", "reason", "rule", "conditional", "_fixable")}
            results.append(entry)
    return results


def fragment_drops(ruleset: Ruleset, *, interfaces: Iterable[str] | None = None, mentioned: Iterable[str] = ()) -> list:
    """Where a non-first fragment (of a tunnel's outer packet, say) is dropped, per family and hook."""
    domain = interface_names(interfaces, mentioned)
    found = []
    for family in FAMILIES:
        # Locally generated packets are fragmented after the last hook: only received fragments count.
        for hook in ("input", "forward"):
            start = initial_packet(family, hook, probe="fragment", tracked=False, conntrack=ruleset.conntrack,
                                   interfaces=domain)
            outcomes, dummy = walk(ruleset, start, hook)
            summary = summarize(outcomes, start)
            if summary["verdict"] != "accepted" or summary["conditional"]:
                found.append({"family": family, "hook": hook, "verdict": summary["verdict"],
                              "rule": summary["rule"] if summary["verdict"] != "accepted" else
                              next((b["rule"] for b in summary["branches"] if b["verdict"] == "dropped"), None),
                              "reason": summary["reason"]})
    return found


def public(results: list) -> list:
    """Results without the planner's private keys."""
    clean = []
    for entry in results:
        entry = {k: v for k, v in entry.items() if not k.startswith("_")}
        if "untracked" in entry:
            entry["untracked"] = {k: v for k, v in entry["untracked"].items() if not k.startswith("_")}
        clean.append(entry)
    return clean
