# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mss_clamp module's work: TCPMSS clamp rules in the framework the host uses, live and persisted.

The module hands in ``MssClampParams`` and the ``FirewallHost`` seam; the plans are mss_plan's and
firewalld's (pure), the shared apply skeleton is fw_backend's. A failure raises ``ModuleFailure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import firewalld
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_commands
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import mss_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import (
    SAVE_COMMANDS,
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

BACKENDS = ("auto", "nftables", "iptables-nft", "iptables-legacy", "firewalld")
TOOLS = {"nftables": "nft", "iptables-nft": "iptables-nft", "iptables-legacy": "iptables-legacy",
         "firewalld": "firewall-cmd"}


@dataclass(frozen=True)
class MssClampParams:
    state: str = "present"
    mtu: int | None = None
    mss: int | None = None
    families: tuple[str, ...] = ("ipv4", "ipv6")
    chains: tuple[str, ...] = ("forward",)
    interface: str | None = None
    interface_direction: str = "out"
    backend: str = "auto"
    firewalld_zone: str | None = None
    firewalld_policy: str | None = None
    files: FirewallFiles = field(default_factory=FirewallFiles)
    check_mode: bool = False
    diff: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, check_mode: bool = False, diff: bool = False) -> MssClampParams:
        family = params["family"]
        return cls(state=params["state"], mtu=params.get("mtu"), mss=params.get("mss"),
                   families=("ipv4", "ipv6") if family == "both" else (family,), chains=tuple(params["chains"]),
                   interface=params.get("interface"), interface_direction=params["interface_direction"],
                   backend=params["backend"], firewalld_zone=params.get("firewalld_zone"),
                   firewalld_policy=params.get("firewalld_policy"), files=FirewallFiles.from_params(params),
                   check_mode=check_mode, diff=diff)

    def clamps(self) -> list[mss_plan.Clamp]:
        """The clamps asked for; ValueError with what to do when the arguments do not make one."""
        return mss_plan.desired(families=list(self.families), chains=list(self.chains), interface=self.interface,
                                direction=self.interface_direction, mss=self.mss, mtu=self.mtu)


def empty_report() -> dict[str, list]:
    return {"present": [], "added": [], "removed": [], "misplaced": []}


def plan_nftables(host: Any, params: MssClampParams, snap: fw_plan.Snapshot, clamps: list) -> tuple[RulesetChange, dict, list]:
    rs, dummy, rules = fw_plan.ruleset(fw_plan.Snapshot(nft=snap.nft, listing=snap.listing))
    plan = mss_plan.plan_nft(rules, rs.bases, clamps=clamps, state=params.state)
    change = RulesetChange(nft=plan["commands"], chains=plan["diffs"])
    targets = []
    if params.files.persist:
        path = params.files.nft_path(host.exists)
        targets.append(path)
        file_change = nft_block_change(host, path, "mss_clamp", plan["block"])
        if file_change:
            change.files.append(file_change)
    return change, plan["report"], targets


def plan_iptables(host: Any, params: MssClampParams, snap: fw_plan.Snapshot, backend: str,
                  clamps: list) -> tuple[RulesetChange, dict, list]:
    change = RulesetChange()
    report = empty_report()
    targets: list = []
    for family in ("ipv4", "ipv6"):
        mine = [c for c in clamps if c.family == family]
        if not mine:
            continue
        text = snap.iptables.get((backend, family))
        if text is None:
            out = host.run([host.which(SAVE_COMMANDS[(backend, family)]) or SAVE_COMMANDS[(backend, family)]])
            text = out[1] if out[0] == 0 else ""
        plan = mss_plan.plan_iptables(text, family=family, clamps=mine, state=params.state,
                                      binary=fw_plan.BINARIES[(backend, family)])
        change.iptables += plan["commands"]
        for key in report:
            report[key] += plan["report"][key]
        change.chains += [dict(d, chain=f"{backend} {d['chain']}") for d in plan["diffs"]]
        if params.files.persist:
            path = params.files.iptables_path(family, host.exists)
            targets.append(path)
            file_change = saved_rules_change(host, family, path, lambda text, fam=family, cl=mine: mss_plan.plan_iptables_file(
                text, family=fam, clamps=cl, state=params.state))
            if file_change:
                change.files.append(file_change)
    return change, report, targets


def plan_firewalld(host: Any, params: MssClampParams, clamps: list) -> tuple[RulesetChange, dict, list]:
    if params.firewalld_policy:
        kind, name = "policy", params.firewalld_policy
    else:
        kind, name = "zone", params.firewalld_zone or host.must(["firewall-cmd", "--get-default-zone"]).strip()
    runtime = firewalld.parse_rich_rules(host.must(["firewall-cmd", f"--{kind}={name}", "--list-rich-rules"]))
    permanent = firewalld.parse_rich_rules(host.must(["firewall-cmd", "--permanent", f"--{kind}={name}",
                                                      "--list-rich-rules"]))
    plan = firewalld.plan_mss(kind=kind, name=name, clamps=clamps, state=params.state, runtime=runtime,
                              permanent=permanent)
    report = empty_report()
    wanted = params.state == "present"
    for rule in plan["rules"]:
        here = rule in runtime and rule in permanent
        key = "present" if wanted and here else "added" if wanted else "removed" if (rule in runtime or rule in permanent) else None
        if key:
            report[key].append(f"{kind} {name}: {rule}")
    chains = [{"chain": f"firewalld {kind} {name}", "before": runtime,
               "after": [r for r in runtime if r not in plan["rules"]] + (plan["rules"] if wanted else [])}]
    return RulesetChange(firewalld=plan["commands"], chains=chains if plan["changed"] else []), report, []


def check_firewalld_names(params: MssClampParams, backend: str) -> None:
    """firewalld_zone / firewalld_policy: valid names, and only where firewalld is the backend."""
    for param in ("firewalld_zone", "firewalld_policy"):
        name = getattr(params, param)
        if name is None:
            continue
        if backend != "firewalld":
            raise ValueError(f"{param} is for backend firewalld; this host's backend is {backend}")
        validate.firewalld_name(param, name)


def run(params: MssClampParams, host: Any, warn: Callable[[str], None]) -> dict:
    """The module's result; ``ModuleFailure`` when the arguments, the plan or applying it fails."""
    with planning():
        clamps = params.clamps()
        params.files.check(host)
        snap, info = host.snapshot(warn)
        if params.interface and snap.interfaces:
            validate.interface("interface", params.interface, snap.interfaces)
        backend = mss_plan.choose_backend(params.backend, info, snap,
                                          {name: bool(host.which(tool)) for name, tool in TOOLS.items()})
        check_firewalld_names(params, backend)
        if backend == "nftables":
            change, report, targets = plan_nftables(host, params, snap, clamps)
        elif backend == "firewalld":
            change, report, targets = plan_firewalld(host, params, clamps)
        else:
            change, report, targets = plan_iptables(host, params, snap, backend, clamps)
        if backend == "firewalld":
            persistence = boot_persistence(host, [], firewalld=True)  # --permanent rules, always written
        elif params.files.persist:
            persistence = boot_persistence(host, targets)
        else:
            persistence = boot.runtime_only("persist=false: the clamp is in the live ruleset only")
    result: dict[str, Any] = {
        "changed": change.changed,
        "backend": backend,
        "clamps": [{"family": c.family, "chain": c.chain, "direction": c.direction, "interface": c.interface,
                    "mss": c.mss} for c in clamps],
        "report": report,
        "persistence": persistence,
        "framework": framework_facts(info),
        # The same live change as by-hand lines, in every mode: the audit prints them (check mode).
        "fix": fw_commands.mss_fix(backend, {"nft": change.nft, "iptables": change.iptables,
                                             "firewalld": change.firewalld}, report),
    }
    carry_out(host, change, result, check_mode=params.check_mode, diff=params.diff, backup=params.files.backup)
    return result
