#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: icmp_policy
short_description: Check, and make sure, that ICMP fragmentation-needed and packet-too-big get through the firewall
version_added: 0.1.0
description:
  - Path MTU discovery needs ICMP "fragmentation needed" (IPv4 type 3 code 4) and ICMPv6 "packet too big"
    (type 2). A firewall that drops them turns every too-large packet into silence, the PMTUD black hole.
  - By default (O(state=evaluate)) the module only reads the host's live ruleset and says, per address family
    and per hook (C(input), C(forward), C(output)), whether such a message would be V(accepted), V(dropped) or
    V(unknown), with the rule that decides it and why. It walks every base chain of every nftables table on
    the packet's path in priority order (prerouting and postrouting included), follows jumps and gotos, and
    includes iptables-nft and iptables-legacy rules, whose chains hook into the same places. An C(accept)
    ends only the base chain it is in; a C(drop) in any other base chain on the same hook still drops.
  - Conntrack matters - an ICMP error about a flow that conntrack tracks is C(related); about a flow it does
    not know it has no conntrack entry and matches C(ct state invalid). The main verdict is for a tracked
    flow, RV(results[].untracked) for an untracked one.
  - Also reports rules that drop non-first IP fragments (RV(fragment_drops)); with a tunnel whose outer
    packets get fragmented they turn a too-high tunnel MTU into a black hole.
  - With O(state=present) it inserts an accept for exactly these ICMP messages right before the rule that
    drops them, in the chain where that rule lives (or at the end of a base chain whose policy drops them),
    in the framework that owns the chain, and repeats until every requested family and hook accepts them.
    It never adds a table of its own for this (an accept there could not undo a drop elsewhere) and never
    accepts anything else. The change is persisted (see O(persist)).
  - In both states RV(fix) holds the same change as the shell commands a person would run by hand
    (C(nft insert rule ... handle N) before the deciding drop, C(nft add rule) for a chain policy,
    C(iptables-legacy -w 60 -t filter -I INPUT 3 ...), C(firewall-cmd ...)), generated from the deciding
    rules; with O(state=evaluate) nothing is changed to compute them. They change the live ruleset only;
    O(state=present) also persists.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
    details:
      - Nothing is changed in check mode; the plan, the predicted verdicts and the diff are returned.
  diff_mode:
    support: full
    details:
      - Rule text of each changed chain before and after, and each changed configuration file.
  idempotent:
    support: full
options:
  state:
    description:
      - V(evaluate) only reads and reports; V(present) makes the messages accepted where they are dropped.
    type: str
    choices: [evaluate, present]
    default: evaluate
  families:
    description: Address families to look at (V(ipv4) - fragmentation-needed, V(ipv6) - packet-too-big).
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  hooks:
    description:
      - Paths to look at. V(input) - to this host; V(forward) - through it (routers, gateways); V(output) -
        sent by it (a router sends fragmentation-needed itself).
    type: list
    elements: str
    choices: [input, forward, output]
    default: [input, forward, output]
  fix_untracked:
    description:
      - With O(state=present), also make the messages accepted when they belong to a flow conntrack does not
        track (usually dropped by C(ct state invalid drop)). Off by default, since accepting untracked ICMP
        errors is a deliberate choice; RFC 4890 says packet-too-big must never be dropped.
    type: bool
    default: false
  interfaces:
    description:
      - Interfaces the messages may arrive on or leave by, for rules that match interfaces.
      - Default all interfaces of the host except C(lo).
    type: list
    elements: str
  persist:
    description:
      - With O(state=present), also change the configuration that rebuilds the firewall at boot - a block
        managed by this module at the end of the nftables configuration (O(nftables_config)), which
        re-inserts each accept at its position (the configuration must build the same tables and chains as
        the live ruleset; it is checked with C(nft -c) before it is written), and, for iptables, the saved
        rules (O(iptables_rules_v4), O(iptables_rules_v6)), where the same fix is applied to the saved
        ruleset.
      - Saved iptables rules are only edited when the file exists.
    type: bool
    default: true
  nftables_config:
    description:
      - The nftables configuration loaded at boot. Default C(/etc/nftables.conf), or
        C(/etc/sysconfig/nftables.conf) where only that exists.
    type: path
  iptables_rules_v4:
    description:
      - Saved IPv4 iptables rules (C(iptables-save) format). Default C(/etc/iptables/rules.v4) (Debian,
        iptables-persistent), or C(/etc/sysconfig/iptables) on hosts with C(/etc/sysconfig) and no
        C(/etc/iptables).
    type: path
  iptables_rules_v6:
    description:
      - Saved IPv6 rules. Default C(/etc/iptables/rules.v6) or C(/etc/sysconfig/ip6tables), as for
        O(iptables_rules_v4).
    type: path
  backup:
    description: Keep a backup of each configuration file before changing it.
    type: bool
    default: false
requirements:
  - nftables (C(nft)) and/or iptables (C(iptables-nft-save), C(iptables-legacy-save)) on the managed host
notes:
  - A run that changes the host holds the lock C(/run/lock/netpath-mtu/firewall.lock) (one per network namespace),
    shared by M(netpath.mtu.icmp_policy) and M(netpath.mtu.mss_clamp), from reading the host to writing its
    configuration, so tasks on one host at once queue instead of losing each other's changes; a run waits up to
    120 seconds for it, then fails without changing anything.
  - Needs root (reading rulesets needs CAP_NET_ADMIN).
  - Evaluation is static. Conditions that depend on the packet's path (interfaces, addresses, random numbers)
    are reported as conditions of the verdict; a drop limited to particular source or destination addresses
    does not count as dropped. Where a rule cannot be evaluated (C(ct mark), sockets, C(queue) to userspace,
    iptables extensions it does not know) the verdict is V(unknown) with the reason. Reverse path filters
    (C(fib), C(rpfilter)) are assumed to pass.
  - firewalld rewrites its own table on reload. When the drop is in firewalld's table the module does not
    edit it; it reports the C(firewall-cmd) commands (C(--remove-icmp-block)) that fix it, and runs them when
    firewalld is running and O(state=present).
  - The change only adds accepts for these ICMP messages, so it cannot cut off the SSH connection Ansible uses.
seealso:
  - module: netpath.mtu.mss_clamp
  - module: netpath.mtu.mtu_facts
"""

EXAMPLES = r"""
- name: Is frag-needed / packet-too-big accepted on this host?
  netpath.mtu.icmp_policy:
  register: icmp

- name: Show what drops them
  ansible.builtin.debug:
    msg: "{{ item.family }} {{ item.hook }}: {{ item.verdict }} - {{ item.reason }}"
  loop: "{{ icmp.results }}"
  loop_control:
    label: "{{ item.family }} {{ item.hook }}"

- name: Let PMTU discovery work on a router, persistently
  netpath.mtu.icmp_policy:
    state: present
    hooks: [forward, output]

- name: Print what a person would run by hand to fix it (nothing is changed)
  ansible.builtin.debug:
    msg: "{{ icmp.fix.commands }}"

- name: Preview the change
  netpath.mtu.icmp_policy:
    state: present
  check_mode: true
  diff: true
"""

RETURN = r"""
results:
  description: One entry per family and hook, after the change with O(state=present) (predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: V(ipv4) (fragmentation-needed) or V(ipv6) (packet-too-big).
      type: str
      sample: ipv4
    hook:
      description: V(input), V(forward) or V(output).
      type: str
      sample: output
    message:
      description: The ICMP message evaluated.
      type: str
      sample: ICMP fragmentation-needed (type 3 code 4)
    verdict:
      description: V(accepted), V(dropped) or V(unknown), for an ICMP error about a tracked flow.
      type: str
      sample: dropped
    reason:
      description: Why, naming the deciding rule.
      type: str
      sample: "dropped by 'icmp type destination-unreachable icmp code frag-needed drop' (nftables inet filter chain output, handle 3)"
    rule:
      description:
        - The deciding rule - C(framework), C(family) (nftables table family or iptables address family),
          C(table), C(chain), C(handle) (nftables) or C(position) (iptables, 1-based), C(index) (nftables,
          0-based) and C(text); a chain policy has C(policy) instead of a handle. Null when nothing decides.
      type: dict
      sample: {framework: nftables, family: inet, table: filter, chain: output, handle: 3, index: 0,
               text: icmp type destination-unreachable icmp code frag-needed drop}
    conditional:
      description: The outcome differs by interface, address or other packet property (see C(branches)).
      type: bool
      sample: false
    branches:
      description: Each distinct outcome - C(verdict), C(rule), C(chain), C(when) (conditions), C(notes), C(why).
      type: list
      elements: dict
    chains:
      description: Base chains on the path, in the order the packet meets them.
      type: list
      elements: str
      sample: [nftables inet filter output]
    notes:
      description: Assumptions made (rate limits assumed not exceeded, reverse path checks assumed to pass).
      type: list
      elements: str
    untracked:
      description: C(verdict), C(reason), C(rule) and C(conditional) for an ICMP error about an untracked flow.
      type: dict
      sample: {verdict: dropped, reason: "dropped by 'ct state invalid drop' (nftables inet filter chain input, handle 5)",
               rule: null, conditional: false}
fragment_drops:
  description: Where a non-first IP fragment is dropped (C(family), C(hook), C(verdict), C(rule), C(reason)).
  returned: always
  type: list
  elements: dict
accepted:
  description: Every requested family and hook accepts the messages (for tracked flows; untracked too with O(fix_untracked)).
  returned: always
  type: bool
  sample: true
framework:
  description: Firewall frameworks found (as in P(netpath.mtu.mtu_facts#module)'s C(firewall) facts).
  returned: always
  type: dict
  sample: {framework: nftables, frameworks: [nftables], firewalld: false}
changes:
  description:
    - Each accept inserted - C(family), C(hook), C(framework), C(table_family), C(table), C(chain), C(rule),
      C(before) (the rule it precedes, null for a policy) and C(reason).
  returned: when O(state=present)
  type: list
  elements: dict
commands:
  description: What was (or in check mode would be) run - C(nft) (one JSON transaction for C(nft -j -f -)), C(iptables) and C(firewalld) (argv lists).
  returned: when O(state=present)
  type: dict
fix:
  description:
    - The change that makes the messages accepted where they are decided (what O(state=present) runs, before it
      runs), as by-hand shell commands. Generated from the deciding rules (the rule's chain, table and framework;
      the chain's end for a policy), each argv element quoted for a POSIX shell; run in order they change the
      live ruleset (not the persisted configuration). Covers untracked flows only with O(fix_untracked).
    - C(commands) - the shell lines, in order; C(argv) - the same as argv lists; C(changes) - each change (keys
      as in RV(changes), plus C(commands), its lines; a firewalld change has C(zone) and C(framework=firewalld));
      C(unresolved) - C(family), C(hook), C(reason) for what no command can fix (empty when the commands fix all).
  returned: always
  type: dict
  sample:
    commands:
      - nft insert rule inet hardening input handle 7 icmp type destination-unreachable icmp code frag-needed accept
        comment '"netpath.mtu icmp_policy"'
      - iptables-legacy -w 60 -t filter -I INPUT 1 -p icmp -m icmp --icmp-type 3/4 -m comment
        --comment 'netpath.mtu icmp_policy' -j ACCEPT
    argv:
      - [nft, insert, rule, inet, hardening, input, handle, "7", icmp, type, destination-unreachable, icmp, code,
         frag-needed, accept, comment, '"netpath.mtu icmp_policy"']
      - [iptables-legacy, "-w", "60", "-t", filter, "-I", INPUT, "1", "-p", icmp, "-m", icmp, "--icmp-type", 3/4,
         "-m", comment, "--comment", netpath.mtu icmp_policy, "-j", ACCEPT]
    changes:
      - {family: ipv4, hook: input, framework: nftables, table_family: inet, table: hardening, chain: input,
         rule: 'icmp type destination-unreachable icmp code frag-needed accept comment "netpath.mtu icmp_policy"',
         before: icmp type destination-unreachable icmp code frag-needed drop,
         reason: "dropped by 'icmp type destination-unreachable icmp code frag-needed drop' (nftables inet hardening chain input, handle 7)",
         commands: ["nft insert rule inet hardening input handle 7 icmp type destination-unreachable icmp code frag-needed accept
                     comment '\"netpath.mtu icmp_policy\"'"]}
    unresolved: []
persisted:
  description:
    - Configuration files changed (or that would be). That a file was written does not mean it is loaded at boot;
      see RV(persistence).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [/etc/nftables.conf]
persistence:
  description:
    - Whether the accept rules survive a reboot - they are in the configuration files B(and) a unit that loads them
      at boot is enabled (C(nftables.service) for C(/etc/nftables.conf), or for a file it includes;
      C(netfilter-persistent) for C(/etc/iptables/rules.v4) and C(rules.v6); C(iptables.service) and
      C(ip6tables.service) for C(/etc/sysconfig/iptables) and C(ip6tables); C(firewalld.service) for firewalld's
      permanent configuration).
    - C(state) is V(boot), V(runtime_only) (lost at reboot - O(persist=false), or the unit is disabled or not
      installed) or V(unknown) (cannot tell; never counted as persisted). C(files) are the files that hold the
      rules (whether or not this run changed them), C(loaded_by) the unit, C(reason) how this was decided.
  returned: when O(state=present)
  type: dict
  sample:
    state: runtime_only
    files: [/etc/iptables/rules.v4]
    loaded_by: null
    reason: "/etc/iptables/rules.v4 is not loaded at boot (netfilter-persistent.service is not-found): lost at reboot;
      install and enable the service that loads it to keep it"
unresolved:
  description: Families and hooks that could not be made to accept the messages, with the reason.
  returned: when O(state=present)
  type: list
  elements: dict
backup_files:
  description: Backups written with O(backup=true).
  returned: when O(backup=true) and a file changed
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import icmp_policy_backend
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FirewallHost
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.icmp_policy_backend import IcmpPolicyParams
from ansible_collections.netpath.mtu.plugins.module_utils.host.lock import FIREWALL_LOCK
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["evaluate", "present"], "default": "evaluate"},
    "families": {"type": "list", "elements": "str", "choices": ["ipv4", "ipv6"], "default": ["ipv4", "ipv6"]},
    "hooks": {"type": "list", "elements": "str", "choices": ["input", "forward", "output"],
              "default": ["input", "forward", "output"]},
    "fix_untracked": {"type": "bool", "default": False},
    "interfaces": {"type": "list", "elements": "str"},
    "persist": {"type": "bool", "default": True},
    "nftables_config": {"type": "path"},
    "iptables_rules_v4": {"type": "path"},
    "iptables_rules_v6": {"type": "path"},
    "backup": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = IcmpPolicyParams.from_params(module.params, check_mode=module.check_mode, diff=module._diff)
    host = FirewallHost(module)
    changing = params.state == "present" and not params.check_mode
    finish(module, lambda: icmp_policy_backend.run(params, host, module.warn),
           lock=host.lock(FIREWALL_LOCK) if changing else None)


if __name__ == "__main__":
    main()
