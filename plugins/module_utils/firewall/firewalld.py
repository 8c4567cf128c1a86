# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""firewalld: its own mechanisms for what icmp_policy and mss_clamp change, as pure functions.

firewalld owns its nftables table and rewrites it on every reload, so changing that table directly
would not last: frag-needed / packet-too-big are unblocked with ``--remove-icmp-block`` (or, in a
zone with ``icmp-block-inversion``, ``--add-icmp-block``), and MSS clamping is a rich rule
``rule family="ipv4" tcp-mss-clamp value="pmtu"`` in a zone or a policy (firewalld >= 0.9 for zones,
>= 1.0 for policies). Everything here renders ``firewall-cmd`` argv lists or reads firewalld's XML;
the modules run the commands through the command seam.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable

PTB_ICMPTYPES = {"ipv4": "fragmentation-needed", "ipv6": "packet-too-big"}
CHAIN_RE = re.compile(r"^filter_(?P<dir>IN|FWD|FWDI|FWDO|FWD_IN|FWD_OUT|OUT)_(?P<zone>.+?)(?:_(?:pre|log|deny|allow|post))?$")
NAME_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}$")


def validate_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"firewalld {what} {name!r} must be 1-64 letters, digits, '_', '-', '+' or '.'")
    return name


def parse_zone(xml_text: str) -> dict[str, Any]:
    """A zone or policy XML file (/etc/firewalld/zones/NAME.xml, .../policies/NAME.xml)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not firewalld XML: {exc}") from exc
    rich = []
    for rule in root.findall("rule"):
        family = rule.get("family")
        for child in rule:
            if child.tag == "icmp-block":
                rich.append({"family": family, "icmp_block": child.get("name")})
            elif child.tag == "icmp-type":
                action = next((c.tag for c in rule if c.tag in ("accept", "drop", "reject")), None)
                rich.append({"family": family, "icmp_type": child.get("name"), "action": action})
            elif child.tag == "tcp-mss-clamp":
                rich.append({"family": family, "tcp_mss_clamp": child.get("value") or "pmtu"})
    return {
        "kind": root.tag,
        "target": root.get("target", "default"),
        "icmp_blocks": [e.get("name") for e in root.findall("icmp-block")],
        "icmp_block_inversion": root.find("icmp-block-inversion") is not None,
        "rich_rules": rich,
    }


def ptb_blocked(zone: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per family: does this zone's configuration block frag-needed / packet-too-big, and why.

    firewalld accepts ``ct state established,related`` before any zone rule, so a block only hits
    ICMP errors for flows that conntrack does not track (``untracked``).
    """
    result = {}
    for family, name in PTB_ICMPTYPES.items():
        blocked, why = False, "not blocked"
        listed = name in zone["icmp_blocks"]
        if zone["icmp_block_inversion"] and not listed:
            blocked, why = True, f"icmp-block-inversion is on and {name} is not listed (listed types are allowed)"
        elif not zone["icmp_block_inversion"] and listed:
            blocked, why = True, f"icmp-block {name}"
        for rule in zone["rich_rules"]:
            if rule.get("family") not in (None, family):
                continue
            if rule.get("icmp_block") == name:
                blocked, why = True, f'rich rule icmp-block name="{name}"'
            elif rule.get("icmp_type") == name and rule.get("action") in ("drop", "reject"):
                blocked, why = True, f'rich rule icmp-type name="{name}" {rule["action"]}'
        result[family] = {"blocked": blocked, "why": why, "tracked_flows": "accepted (related)"}
    return result


def zone_of_chain(chain: str) -> str | None:
    """firewalld's nftables chain name -> the zone or policy it implements."""
    match = CHAIN_RE.match(chain or "")
    return match.group("zone") if match else None


def icmp_fix_commands(zone: str, family: str, *, inversion: bool, permanent: bool = True) -> list:
    """firewall-cmd argv lists that stop blocking PTB of ``family`` in ``zone`` (runtime, then permanent)."""
    validate_name(zone, "zone")
    name = PTB_ICMPTYPES[family]
    option = f"--add-icmp-block={name}" if inversion else f"--remove-icmp-block={name}"
    commands = [["firewall-cmd", f"--zone={zone}", option]]
    if permanent:
        commands.append(["firewall-cmd", "--permanent", f"--zone={zone}", option])
    return commands


def mss_rich_rule(family: str, mss: int | None) -> str:
    value = "pmtu" if mss is None else str(int(mss))
    return f'rule family="{family}" tcp-mss-clamp value="{value}"'


def parse_rich_rules(text: str | None) -> list:
    """``firewall-cmd --list-rich-rules`` output: one rule per line, normalised spacing."""
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


def plan_mss(*, kind: str, name: str, clamps: Iterable[Any], state: str, runtime: list, permanent: list) -> dict:
    """Commands that add (or remove) one tcp-mss-clamp rich rule per family in a zone or policy.

    Rich rules cannot name an interface; the zone or policy (e.g. one whose egress zone holds the
    tunnel) is the scope. ``runtime`` / ``permanent``: the rich rules listed now.
    """
    if kind not in ("zone", "policy"):
        raise ValueError("firewalld scope must be a zone or a policy")
    validate_name(name, kind)
    wanted = []
    for clamp in clamps:
        rule = mss_rich_rule(clamp.family, clamp.mss)
        if rule not in wanted:
            wanted.append(rule)
    commands = []
    for rule in wanted:
        for config, flag in ((runtime, []), (permanent, ["--permanent"])):
            present = rule in config
            if state == "present" and not present:
                commands.append(["firewall-cmd"] + flag + [f"--{kind}={name}", f"--add-rich-rule={rule}"])
            elif state == "absent" and present:
                commands.append(["firewall-cmd"] + flag + [f"--{kind}={name}", f"--remove-rich-rule={rule}"])
    return {"commands": commands, "changed": bool(commands), "rules": wanted}
