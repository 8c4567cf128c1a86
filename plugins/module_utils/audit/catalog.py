# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit -> remediate contract: every finding type and every fix kind, in one table. No system access.

``findings.py`` (severity, report order, the module a fix names), ``remediation.py`` (steps, their
order, module -> step), ``report.py`` (counts per type) and the roles (through the
``netpath.mtu.audit_catalog`` filter) read this table; nothing else lists finding types or fix
kinds by hand. Unit tests check the few literal copies YAML needs (argument_specs, the docs
table, the remediate role's task files) against it.

Adding a finding type: a row in ``FINDING_TYPES`` here, its producer in ``findings.py``, its row in
the table of ``docs/audit.md`` (test_catalog.py checks its type, severity and subject).
"""

from __future__ import annotations

from typing import Any, NamedTuple

SEVERITIES = ("critical", "warning", "info")


class FixKind(NamedTuple):
    """A kind of fix: the module a finding's ``fix.module`` names, and how the remediate role applies it."""
    module: str  # what findings name (the audit names the module users know)
    tasks: str  # roles/remediate/tasks/<tasks>: the step that applies it
    switch: str  # the remediate role's boolean that enables the step
    verify: str  # how the remediation shows it worked


class FindingType(NamedTuple):
    severity: str  # the default severity (a producer may lower it, see fragments_dropped)
    subject: str  # what the third part of the finding id names
    fixes: tuple[str, ...]  # the fix kinds its fix may name; empty: by hand or advice only
    remediate: bool  # in netpath_mtu_remediate_types by default
    doc: str  # one line for the docs tables


# In the order the remediate role applies them: MSS clamping to the path MTU is only right once the
# tunnel MTU is right, and the ICMP fix lets PMTUD report the new limits.
FIX_KINDS: dict[str, FixKind] = {
    "link_mtu": FixKind("netpath.mtu.link_mtu", "link_mtu.yml", "netpath_mtu_remediate_link_mtu",
                        "the audit after finds the tunnel fits; transfers through it complete"),
    "icmp_policy": FixKind("netpath.mtu.icmp_policy", "icmp_policy.yml", "netpath_mtu_remediate_icmp_policy",
                           "the audit after (icmp_policy evaluate, ptb_check) finds the ICMP accepted"),
    "mss_clamp": FixKind("netpath.mtu.mss_clamp", "mss_clamp.yml", "netpath_mtu_remediate_mss_clamp",
                         "the audit after (mss_clamp in check mode) finds the clamp"),
    # The role applies it with builtin modules, so the collection needs no other collection.
    "sysctl": FixKind("ansible.posix.sysctl", "sysctls.yml", "netpath_mtu_remediate_sysctls",
                      "the audit after reads the sysctl from the facts"),
}

# In report order (severity first, then this order).
FINDING_TYPES: dict[str, FindingType] = {
    "tunnel_mtu_too_large": FindingType(
        "critical", "tunnel", ("link_mtu",), True,
        "the tunnel's MTU is above what its measured underlay path (or its underlay MTU) carries"),
    "pmtud_black_hole": FindingType(
        "critical", "target/family", ("link_mtu", "icmp_policy"), True,
        "large packets vanish without an ICMP error while small ones pass; with the hop and the cause"),
    "fragments_dropped": FindingType(
        "critical", "fragments", (), False,
        "a host drops non-first IP fragments; critical when a too-large tunnel's outer packets reach or cross it, "
        "else warning"),
    "icmp_blocked": FindingType(
        "warning", "firewall", ("icmp_policy",), True,
        "a host's firewall drops ICMP frag-needed / packet-too-big, or it did not accept a real one from a peer "
        "on its own link"),
    "ptb_lost_in_transit": FindingType(
        "warning", "address/family", ("icmp_policy",), False,
        "a packet-too-big from a peer behind routers was lost while the checked host's own rules accept it"),
    "path_mtu_below_interface": FindingType(
        "warning", "target/family", (), False,
        "a path below the interface MTU whose ICMP error announces a wrong MTU"),
    "mss_clamp_missing": FindingType(
        "warning", "forward", ("mss_clamp",), True,
        "a host forwards into a tunnel without TCP MSS clamping"),
    "pmtud_disabled": FindingType(
        "warning", "net.ipv4.ip_no_pmtu_disc", ("sysctl",), True,
        "net.ipv4.ip_no_pmtu_disc is not 0"),
    "tcp_mtu_probing_off": FindingType(
        "info", "net.ipv4.tcp_mtu_probing", ("sysctl",), True,
        "a host with black-holed paths has net.ipv4.tcp_mtu_probing 0 (advice)"),
}

SEVERITY = {name: t.severity for name, t in FINDING_TYPES.items()}
STEPS = tuple(FIX_KINDS)
MODULES = {kind: fix.module for kind, fix in FIX_KINDS.items()}
STEP_OF = {module: kind for kind, module in MODULES.items()}
REMEDIATE_TYPES = tuple(name for name, t in FINDING_TYPES.items() if t.remediate)


def module(kind: str) -> str:
    """The module a finding's fix names for a fix kind."""
    return FIX_KINDS[kind].module


def as_data() -> dict[str, Any]:
    """The table as plain data, for the roles (the ``audit_catalog`` filter) and the docs."""
    return {
        "severities": list(SEVERITIES),
        "finding_types": {name: {"severity": t.severity, "subject": t.subject, "fixes": list(t.fixes),
                                 "remediate": t.remediate, "doc": t.doc} for name, t in FINDING_TYPES.items()},
        "fix_kinds": {kind: {"module": f.module, "tasks": f.tasks, "switch": f.switch, "verify": f.verify}
                      for kind, f in FIX_KINDS.items()},
        "types": list(FINDING_TYPES),
        "remediate_types": list(REMEDIATE_TYPES),
        "steps": list(STEPS),
    }
