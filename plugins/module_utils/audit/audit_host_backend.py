# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""audit_host's work: a host's MTU facts and the audit's read-only firewall checks, in one process.

An operator waits for round trips: the audit asked each host three times (mtu_facts, icmp_policy
state=evaluate, mss_clamp in check mode) for things that do not depend on each other's answers
on the host. Here they run one after the other in one module run, with the same backends and
parameters the modules use, so the results are the modules' own. A check that fails is reported
in its place (``failed``, ``msg``) and does not fail the facts.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import icmp_policy_backend, mss_clamp_backend
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.icmp_policy_backend import IcmpPolicyParams
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.mss_clamp_backend import MssClampParams
from ansible_collections.netpath.mtu.plugins.module_utils.host.gather import gather
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure

# The modules' defaults (their argument specs), for the two read-only runs.
FILES = {"persist": True, "nftables_config": None, "iptables_rules_v4": None, "iptables_rules_v6": None, "backup": False}
ICMP_EVALUATE = {"state": "evaluate", "hooks": ["input", "forward", "output"], "fix_untracked": False,
                 "interfaces": None, **FILES}
MSS_CHECK = {"state": "present", "mtu": None, "mss": None, "family": "both", "chains": ["forward"], "interface": None,
             "interface_direction": "out", "backend": "auto", "firewalld_zone": None, "firewalld_policy": None, **FILES}


def forwards_into_a_tunnel(facts: dict) -> bool:
    """Whether MSS clamping matters here: the host has a tunnel and forwards (either family)."""
    sysctls = facts.get("sysctls") or {}
    return bool(facts.get("tunnels")) and bool(sysctls.get("ipv4_forwarding") or sysctls.get("ipv6_forwarding"))


def guarded(work: Callable[[], dict]) -> dict:
    """``work``'s result, or ``failed`` and ``msg`` in its place."""
    try:
        return work()
    except ModuleFailure as exc:
        return {**exc.result, "failed": True, "msg": exc.msg}
    except (ValueError, OSError) as exc:
        return {"failed": True, "msg": str(exc)}


def run(families: list[str], firewall_checks: bool, host: Any, warn: Callable[[str], None]) -> dict:
    """The module's result: facts, then icmp_policy's evaluation and mss_clamp's check (or null when not run)."""
    if not families:
        raise ModuleFailure("families must name at least one of ipv4, ipv6")
    facts = gather(host, ["all"], warn)
    result: dict[str, Any] = {"changed": False, "ansible_facts": {"netpath_mtu_facts": facts},
                              "icmp_policy": None, "mss_clamp": None}
    if not firewall_checks:
        return result
    icmp = IcmpPolicyParams.from_params({**ICMP_EVALUATE, "families": families})
    result["icmp_policy"] = guarded(lambda: icmp_policy_backend.run(icmp, host, warn))
    if forwards_into_a_tunnel(facts):
        mss = MssClampParams.from_params(MSS_CHECK, check_mode=True)
        result["mss_clamp"] = guarded(lambda: mss_clamp_backend.run(mss, host, warn))
    return result
