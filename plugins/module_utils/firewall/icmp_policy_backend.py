# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The icmp_policy module's work: evaluate whether frag-needed / packet-too-big pass, and make them pass.

The module hands in ``IcmpPolicyParams`` and the ``FirewallHost`` seam; the plan is fw_plan's (pure),
the shared apply/verify skeleton is fw_backend's. A failure raises ``ModuleFailure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_commands
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_eval
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import (
    boot_persistence,
    nft_block_change,
    saved_rules_change,
)
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_backend import (
    FirewallFiles,
    RulesetChange,
    carry_out,
    framework_facts,
    planning,
)
from ansible_collections.netpath.mtu.plugins.module_utils.host import boot
from ansible_collections.netpath.mtu.plugins.module_utils.host import validate
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure


def ordered(values: Iterable[str], order: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` in the evaluator's order, each once."""
    wanted = set(values)
    return tuple(v for v in order if v in wanted)


@dataclass(frozen=True)
class IcmpPolicyParams:
    state: str = "evaluate"
    families: tuple[str, ...] = fw_eval.FAMILIES
    hooks: tuple[str, ...] = fw_eval.HOOKS
    fix_untracked: bool = False
    interfaces: tuple[str, ...] | None = None  # None: the host's own
    files: FirewallFiles = field(default_factory=FirewallFiles)
    check_mode: bool = False
    diff: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, check_mode: bool = False, diff: bool = False) -> IcmpPolicyParams:
        return cls(state=params["state"], families=ordered(params["families"], fw_eval.FAMILIES),
                   hooks=ordered(params["hooks"], fw_eval.HOOKS), fix_untracked=bool(params["fix_untracked"]),
                   interfaces=tuple(params["interfaces"]) if params.get("interfaces") else None,
                   files=FirewallFiles.from_params(params), check_mode=check_mode, diff=diff)


def check_params(params: IcmpPolicyParams) -> None:
    """What the argument spec cannot say (ValueError naming the parameter)."""
    if not params.families:
        raise ValueError(f"families must name at least one of {', '.join(fw_eval.FAMILIES)}")
    if not params.hooks:
        raise ValueError(f"hooks must name at least one of {', '.join(fw_eval.HOOKS)}")
    for name in params.interfaces or ():
        validate.interface("interfaces", name)


def snapshot(host: Any, params: IcmpPolicyParams, warn: Callable[[str], None]) -> tuple[fw_plan.Snapshot, dict]:
    snap, info = host.snapshot(warn)
    for name in params.interfaces or ():
        validate.interface("interfaces", name, snap.interfaces or None)
    if params.interfaces:
        snap.interfaces = list(params.interfaces)
    return snap, info


def firewalld_changes(host: Any, results: list, fix_untracked: bool) -> list:
    """firewall-cmd changes (see fw_commands.firewalld_fixes) for drops that live in firewalld's zones."""
    zones = {zone for dummy, zone in fw_commands.firewalld_zones(results, fix_untracked)}
    usable = host.which("firewall-cmd")
    inversion = {zone: usable and host.run(["firewall-cmd", f"--zone={zone}", "--query-icmp-block-inversion"])[0] == 0
                 for zone in sorted(zones)}
    return fw_commands.firewalld_fixes(results, fix_untracked, inversion)


def flat_argv(changes: list) -> list:
    commands: list = []
    for change in changes:
        commands += [argv for argv in change["argv"] if argv not in commands]
    return commands


def persistence(host: Any, params: IcmpPolicyParams, snap: fw_plan.Snapshot, after: fw_plan.Snapshot) -> tuple[list, list]:
    """File changes that make the boot-time configuration do what the live change does, and the files that hold it."""
    changes: list = []
    targets: list = []
    if after.nft_doc() is not None:
        path = params.files.nft_path(host.exists)
        targets.append(path)
        change = nft_block_change(host, path, "icmp_policy", fw_plan.icmp_block(after))
        if change:
            changes.append(change)
    done = set()
    for (framework, family) in sorted(snap.iptables):
        if family not in params.families:
            continue
        path = params.files.iptables_path(family, host.exists)
        if path in done:
            continue
        done.add(path)
        targets.append(path)
        change = saved_rules_change(host, family, path, lambda text, fw=framework, fam=family: fw_plan.plan_icmp_file(
            text, framework=fw, family=fam, hooks=params.hooks, fix_untracked=params.fix_untracked)[0])
        if change:
            changes.append(change)
    return changes, targets


def boot_state(host: Any, params: IcmpPolicyParams, plan: dict, targets: list, firewalld_fix: bool) -> dict:
    """Whether what this task makes true is also true after a reboot."""
    if not params.files.persist:
        return boot.runtime_only("persist=false: the accept rules are in the live ruleset only")
    if not targets and not firewalld_fix:
        if plan["changes"]:
            return boot.runtime_only("no firewall configuration file to persist the accept rules in")
        return {"state": "boot", "files": [], "loaded_by": None,
                "reason": "nothing to persist: no rule on this host drops the messages"}
    return boot_persistence(host, targets, firewalld=firewalld_fix)


def unresolved_entries(final: list, plan: dict, fix_untracked: bool) -> list:
    """(family, hook) still not accepted after the change, with the plan's reason when it had one."""
    unresolved = []
    for entry in final:
        bad = entry["verdict"] != "accepted" or (fix_untracked and entry["untracked"]["verdict"] != "accepted")
        if bad:
            reason = next((u["reason"] for u in plan["unresolved"]
                           if (u["family"], u["hook"]) == (entry["family"], entry["hook"])),
                          entry["reason"] if entry["verdict"] != "accepted"
                          else f"untracked: {entry['untracked']['reason']}")
            unresolved.append({"family": entry["family"], "hook": entry["hook"], "reason": reason})
    return unresolved


def evaluate(host: Any, params: IcmpPolicyParams, snap: fw_plan.Snapshot, info: dict, result: dict) -> dict:
    """state=evaluate: the verdicts, and what state=present would run, printed for a person; nothing changed."""
    results, fragments, dummy = fw_plan.evaluate(snap, params.families, params.hooks)
    plan = fw_plan.plan_icmp(snap, families=params.families, hooks=params.hooks, fix_untracked=params.fix_untracked)
    fwd = firewalld_changes(host, plan["results"], params.fix_untracked) if info["firewalld"] else []
    result.update(results=fw_eval.public(results), fragment_drops=fragments,
                  accepted=all(r["verdict"] == "accepted" for r in results), fix=fw_commands.icmp_fix(plan, fwd))
    return result


def run(params: IcmpPolicyParams, host: Any, warn: Callable[[str], None]) -> dict:
    """The module's result; ``ModuleFailure`` when planning, applying or the outcome fails."""
    with planning():
        check_params(params)
        if params.state == "present":
            params.files.check(host)
        snap, info = snapshot(host, params, warn)
        result: dict[str, Any] = {"changed": False, "framework": framework_facts(info)}
        if params.state == "evaluate":
            return evaluate(host, params, snap, info, result)
        plan = fw_plan.plan_icmp(snap, families=params.families, hooks=params.hooks, fix_untracked=params.fix_untracked)
        fwd_changes = firewalld_changes(host, plan["results"], params.fix_untracked) if info["firewalld"] else []
        fwd = flat_argv(fwd_changes)
        files, targets = persistence(host, params, snap, plan["snapshot"]) if params.files.persist else ([], [])
        survives = boot_state(host, params, plan, targets, bool(fwd))
    change = RulesetChange(nft=plan["nft_commands"], iptables=plan["iptables_commands"], firewalld=fwd, files=files,
                           chains=plan["diffs"])
    result.update(changes=plan["changes"], persistence=survives, fix=fw_commands.icmp_fix(plan, fwd_changes))

    def verify() -> tuple[list, list]:
        # On the live ruleset, not on the plan.
        live, dummy = snapshot(host, params, warn)
        return fw_plan.evaluate(live, params.families, params.hooks)[:2]

    final, fragments = plan["results"], fw_plan.evaluate(plan["snapshot"], params.families, params.hooks)[1]
    live = carry_out(host, change, result, check_mode=params.check_mode, diff=params.diff,
                     backup=params.files.backup, verify=verify)
    if live is not None:
        final, fragments = live
    unresolved = unresolved_entries(final, plan, params.fix_untracked)
    result.update(results=fw_eval.public(final), fragment_drops=fragments, unresolved=unresolved,
                  accepted=not unresolved)
    # In check mode firewall-cmd has not run yet, so what it would fix still shows as unresolved.
    if unresolved and (not fwd or not params.check_mode):
        raise ModuleFailure("could not make " + "; ".join(f"{u['family']} {u['hook']} accepted: {u['reason']}"
                                                          for u in unresolved), **result)
    return result
