# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The by-hand commands for an icmp_policy or mss_clamp plan, as shell text. Pure.

``fw_plan.plan_icmp`` decides where each accept goes: right before the deciding drop, in the chain,
table and framework where that drop lives, or at the end of a base chain whose policy drops. This
module renders the same changes as the commands a person types, in the order the plan made them,
every argv element quoted for a POSIX shell, so that running the printed lines one after the other
has exactly the effect the plan predicts. Nothing here is a template: each command comes from the
deciding rule.

nft CLI semantics (nftables 1.0): ``nft insert rule FAMILY TABLE CHAIN handle N RULE`` puts the rule
before the rule with handle N, ``nft add rule FAMILY TABLE CHAIN RULE`` at the end of the chain.

mss_clamp's nftables plan rebuilds its own table (``inet netpath_mtu``) in one JSON transaction; its
lines are the same commands one by one (add, delete and add the table, each base chain, each rule),
which leave the same ruleset (without the transaction's atomicity).
"""

from __future__ import annotations

import shlex
from typing import Any, Iterable

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import firewalld
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import nft_eval

FIREWALLD = "firewalld"


def shell(argv: Iterable[Any]) -> str:
    """One command line: every element quoted for a POSIX shell (names and comments are data)."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def nft_argv(command: dict) -> list[str]:
    """The nft CLI argv for one JSON command of the plan (``{"insert"|"add": {"rule": {...}}}``)."""
    verb, body = next(iter(command.items()))
    if verb not in ("insert", "add") or not isinstance(body, dict) or "rule" not in body:
        raise ValueError(f"not a rule insert or add: {command!r}")
    rule = body["rule"]
    argv = ["nft", verb, "rule", rule["family"], fw_plan.nft_name(rule["table"]), fw_plan.nft_name(rule["chain"])]
    if rule.get("handle") is not None:
        # insert ... handle N: before rule N (the deciding drop); add without a handle: at the end (a policy)
        argv += ["handle", str(int(rule["handle"]))]
    # nft joins its arguments with spaces before parsing; the comment stays one quoted nft string.
    argv += nft_eval.render_rule(rule.get("expr") or []).split()
    if rule.get("comment"):
        argv += ["comment", '"' + rule["comment"].replace('"', "") + '"']
    return argv


def nft_cli_argv(command: dict) -> list[str]:
    """The nft CLI argv for one JSON command of a table-level plan (mss_clamp's): add or delete a table,
    add a base chain, or add or insert a rule. Anything else is refused rather than guessed."""
    verb, body = next(iter(command.items()))
    if isinstance(body, dict) and "rule" in body:
        return nft_argv(command)
    if verb in ("add", "delete") and isinstance(body, dict) and "table" in body:
        table = body["table"]
        return ["nft", verb, "table", table["family"], fw_plan.nft_name(table["name"])]
    if verb == "add" and isinstance(body, dict) and "chain" in body:
        chain = body["chain"]
        argv = ["nft", "add", "chain", chain["family"], fw_plan.nft_name(chain["table"]), fw_plan.nft_name(chain["name"])]
        if chain.get("hook"):
            # One argument: the shell passes the braces and semicolons through to nft untouched.
            argv.append(f"{{ type {chain['type']} hook {chain['hook']} priority {int(chain['prio'])}; "
                        f"policy {chain.get('policy', 'accept')}; }}")
        return argv
    raise ValueError(f"no nft command line for {command!r}")


def mss_fix(backend: str, commands: dict[str, Any], report: dict[str, list]) -> dict[str, Any]:
    """What a person runs to do what mss_clamp's plan does on the live ruleset, in the plan's order.

    ``commands``: the plan's ``nft`` JSON commands (the transaction's, one line each), ``iptables`` and
    ``firewalld`` argv lists. ``changes``: the report's added, removed and misplaced clamps.
    """
    argvs = [nft_cli_argv(c) for c in commands.get("nft") or []]
    argvs += [[str(a) for a in argv] for key in ("iptables", "firewalld") for argv in commands.get(key) or []]
    changes = [{"action": action, "clamp": text} for action in ("added", "removed", "misplaced")
               for text in report.get(action) or []]
    return {"backend": backend, "commands": [shell(argv) for argv in argvs], "argv": argvs, "changes": changes,
            "unresolved": []}


def firewalld_zones(results: list, fix_untracked: bool) -> list[tuple[dict, str]]:
    """(result entry, zone) for each family and hook whose deciding drop is in one of firewalld's zones."""
    found = []
    for entry in results:
        refs = [entry.get("rule")] if entry["verdict"] == "dropped" else []
        if fix_untracked and entry["untracked"]["verdict"] == "dropped":
            refs.append(entry["untracked"].get("rule"))
        for ref in refs:
            if not ref or ref.get("framework") != nft_eval.FRAMEWORK or ref.get("table") != fw_plan.FIREWALLD_TABLE:
                continue
            zone = firewalld.zone_of_chain(ref.get("chain", ""))
            if zone and (entry, zone) not in found:
                found.append((entry, zone))
    return found


def firewalld_fixes(results: list, fix_untracked: bool, inversion: dict) -> list[dict]:
    """firewall-cmd changes for drops in firewalld's zones; ``inversion``: zone -> icmp-block-inversion is on."""
    return [{
        "family": entry["family"], "hook": entry["hook"], "framework": FIREWALLD, "zone": zone,
        "argv": firewalld.icmp_fix_commands(zone, entry["family"], inversion=bool(inversion.get(zone))),
        "reason": entry["reason"] if entry["verdict"] == "dropped" else f"untracked: {entry['untracked']['reason']}",
    } for entry, zone in firewalld_zones(results, fix_untracked)]


def icmp_fix(plan: dict, firewalld_changes: Iterable[dict] = ()) -> dict[str, Any]:
    """What a person runs to do what the plan does: ``commands`` (shell lines, in order), ``argv``,
    ``changes`` (the plan's, each with its ``commands``) and ``unresolved``.

    Drops in firewalld's zones are the plan's unresolved entries that ``firewalld_changes`` fixes with
    firewall-cmd; they move from ``unresolved`` to ``changes``.
    """
    nft = iter(plan["nft_commands"])
    ipt = iter(plan["iptables_commands"])
    argvs: list = []
    changes: list = []
    for change in plan["changes"]:
        argv = nft_argv(next(nft)) if change["framework"] == nft_eval.FRAMEWORK else [str(a) for a in next(ipt)]
        argvs.append(argv)
        changes.append(dict(change, commands=[shell(argv)]))
    covered = set()
    for change in firewalld_changes:
        new = [list(a) for a in change["argv"] if list(a) not in argvs]
        argvs += new
        covered.add((change["family"], change["hook"]))
        changes.append(dict({k: v for k, v in change.items() if k != "argv"}, commands=[shell(a) for a in change["argv"]]))
    return {
        "commands": [shell(argv) for argv in argvs],
        "argv": argvs,
        "changes": changes,
        "unresolved": [u for u in plan["unresolved"] if (u["family"], u["hook"]) not in covered],
    }
