#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mss_clamp
short_description: Clamp the TCP MSS of forwarded connections so they fit a tunnel
version_added: 0.1.0
description:
  - Makes sure (or makes sure no longer) that TCP SYN packets get their maximum segment size lowered to what
    the path can carry, on the box that terminates a tunnel - the rewrite of the MSS option in the handshake
    that makes large transfers work even when ICMP fragmentation-needed is lost.
  - Clamps to the route's path MTU (C(--clamp-mss-to-pmtu), nftables C(rt mtu)) by default, or to a fixed
    value from O(mtu) or O(mss); IPv4 and IPv6; in FORWARD by default and optionally OUTPUT and POSTROUTING;
    optionally only for traffic to (or from) one interface, such as the tunnel. Only SYN packets are touched
    (C(--tcp-flags SYN,RST SYN)).
  - Works in the framework the host uses. nftables - the clamps live in the table C(inet netpath_mtu) (base
    chains at the mangle priority), changed in one atomic C(nft -j -f -) transaction and persisted as a
    managed block in the nftables configuration. iptables-nft and iptables-legacy - rules at the top of the
    mangle table's chains, inserted with C(-w) (waiting for the xtables lock), persisted in the saved rules
    (C(/etc/iptables/rules.v4) and C(rules.v6), or C(/etc/sysconfig/iptables) and C(ip6tables)). firewalld -
    a C(tcp-mss-clamp) rich rule in a zone or policy, runtime and permanent.
  - A rule elsewhere that already clamps the same traffic the same way counts as present, so nothing is
    duplicated. This module's own rules for the same chain and interface with another value are replaced;
    an identical TCPMSS rule in the filter table or behind a rule that ends the chain (where some SYNs skip
    it) is reported in RV(report.misplaced) and moved to the right place.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
    details:
      - Nothing is changed in check mode; the commands, the same as by-hand shell lines (RV(fix)), and the diff are
        returned.
  diff_mode:
    support: full
    details:
      - Rule text of the changed chains before and after, and each changed configuration file.
  idempotent:
    support: full
options:
  state:
    description: Whether the clamp should be there.
    type: str
    choices: [present, absent]
    default: present
  mtu:
    description:
      - Clamp to a fixed MSS that fits this MTU - MTU - 40 for IPv4, MTU - 60 for IPv6 (e.g. the tunnel MTU).
      - Mutually exclusive with O(mss). With neither, the MSS is clamped to the path MTU of the route the
        packet takes, which is only right when that route's MTU (the tunnel MTU) is right.
    type: int
  mss:
    description:
      - Clamp to this fixed IPv4 MSS; IPv6 gets O(mss) - 20. Mutually exclusive with O(mtu).
    type: int
  family:
    description: Address families to clamp.
    type: str
    choices: [ipv4, ipv6, both]
    default: both
  chains:
    description:
      - Where to clamp. V(forward) - traffic routed through this host (a tunnel gateway); V(output) - connections
        this host opens; V(postrouting) - both, after routing.
    type: list
    elements: str
    choices: [forward, output, postrouting]
    default: [forward]
  interface:
    description:
      - Only clamp SYNs that leave by (or arrive on, see O(interface_direction)) this interface, for example
        the tunnel. Default all interfaces.
    type: str
  interface_direction:
    description:
      - With O(interface) - V(out) matches SYNs sent out of it (C(-o), C(oifname)), which also covers the
        SYN-ACKs answering connections that came in through it; V(in) matches SYNs that arrive on it;
        V(both) adds both rules. OUTPUT and POSTROUTING only have V(out).
    type: str
    choices: [out, in, both]
    default: out
  backend:
    description:
      - Firewall framework to write to. V(auto) picks firewalld when it runs, else the framework that holds
        rules (native nftables, iptables-nft, iptables-legacy, in that order; an nftables ruleset without any
        rule does not count), else nftables when C(nft) is installed.
    type: str
    choices: [auto, nftables, iptables-nft, iptables-legacy, firewalld]
    default: auto
  firewalld_zone:
    description: With the firewalld backend, the zone for the rich rule (default the default zone).
    type: str
  firewalld_policy:
    description:
      - With the firewalld backend, the policy for the rich rule instead of a zone (firewalld >= 1.0), for
        example one whose egress zone holds the tunnel.
    type: str
  persist:
    description:
      - Also change the configuration that rebuilds the firewall at boot - a managed block at the end of
        O(nftables_config) (checked with C(nft -c) before writing), or the saved iptables rules, created
        with just the mangle table when missing. firewalld rules are always made permanent too.
    type: bool
    default: true
  nftables_config:
    description:
      - The nftables configuration loaded at boot. Default C(/etc/nftables.conf), or
        C(/etc/sysconfig/nftables.conf) where only that exists.
    type: path
  iptables_rules_v4:
    description:
      - Saved IPv4 iptables rules. Default C(/etc/iptables/rules.v4) (Debian, iptables-persistent), or
        C(/etc/sysconfig/iptables) on hosts with C(/etc/sysconfig) and no C(/etc/iptables).
    type: path
  iptables_rules_v6:
    description: Saved IPv6 rules. Default C(/etc/iptables/rules.v6) or C(/etc/sysconfig/ip6tables).
    type: path
  backup:
    description: Keep a backup of each configuration file before changing it.
    type: bool
    default: false
requirements:
  - nftables (C(nft)), iptables (C(iptables-nft) or C(iptables-legacy)) or firewalld (C(firewall-cmd)) on the managed host
notes:
  - A run that changes the host holds the lock C(/run/lock/netpath-mtu/firewall.lock) (one per network namespace),
    shared by M(netpath.mtu.icmp_policy) and M(netpath.mtu.mss_clamp), from reading the host to writing its
    configuration, so tasks on one host at once queue instead of losing each other's changes; a run waits up to
    120 seconds for it, then fails without changing anything.
  - Needs root.
  - Clamping only changes the MSS option of SYN packets, so it cannot cut off the SSH connection Ansible uses.
  - The firewalld backend renders and runs C(firewall-cmd) commands; it is unit-tested but could not be
    integration-tested on the collection's lab machines (firewalld needs D-Bus and systemd there).
seealso:
  - module: netpath.mtu.icmp_policy
  - module: netpath.mtu.link_mtu
"""

EXAMPLES = r"""
- name: Clamp forwarded connections to the path MTU (the seeds' fix)
  netpath.mtu.mss_clamp:

- name: Clamp SYNs into a WireGuard tunnel to fit its MTU
  netpath.mtu.mss_clamp:
    interface: wg0
    mtu: 1420

- name: Use iptables-legacy even though nftables is installed
  netpath.mtu.mss_clamp:
    backend: iptables-legacy
    chains: [forward, output]

- name: Remove the clamp
  netpath.mtu.mss_clamp:
    interface: wg0
    mtu: 1420
    state: absent
"""

RETURN = r"""
backend:
  description: The framework written to.
  returned: always
  type: str
  sample: nftables
clamps:
  description: The clamps the task describes, one per family, chain and interface direction.
  returned: always
  type: list
  elements: dict
  sample:
    - {family: ipv4, chain: forward, direction: out, interface: wg0, mss: 1380}
    - {family: ipv6, chain: forward, direction: out, interface: wg0, mss: 1360}
report:
  description: What the task found and did, as text.
  returned: always
  type: dict
  sample: {present: [], added: ["ipv4 forward to wg0: clamp to 1380"], removed: [], misplaced: []}
  contains:
    present:
      description: Clamps that were already there (also those done by a rule outside this module's own).
      type: list
      elements: str
    added:
      description: Clamps added.
      type: list
      elements: str
    removed:
      description: Clamps or rules removed (O(state=absent), this module's stale rules, duplicates).
      type: list
      elements: str
    misplaced:
      description:
        - Identical TCPMSS rules found where some SYNs skip them (the filter table, or behind a rule that ends
          the chain); removed, and the clamp added at the top of the mangle chain instead.
      type: list
      elements: str
commands:
  description: What was (or in check mode would be) run - C(nft) (a JSON transaction), C(iptables) and C(firewalld) (argv lists).
  returned: always
  type: dict
fix:
  description:
    - The same live change as by-hand shell commands, in every mode (in check mode, what the task would run; the
      audit prints them). Rendered from the plan - the nftables transaction as one C(nft) command per step (add,
      delete and add table C(inet netpath_mtu), each base chain, each rule), the C(iptables) or C(ip6tables)
      argv of the host's variant, the C(firewall-cmd) argv for the zone or policy - each argv element quoted for
      a POSIX shell. Run in order they change the live ruleset, not the persisted configuration (see
      RV(persisted)). Empty when the clamp is already there.
    - C(backend) - the framework; C(commands) - the shell lines, in order; C(argv) - the same as argv lists;
      C(changes) - C(action) (V(added), V(removed) or V(misplaced)) and C(clamp), as in RV(report);
      C(unresolved) - always empty (kept so that both firewall modules return the same shape).
  returned: always
  type: dict
  sample:
    backend: iptables-nft
    commands:
      - iptables-nft -w 60 -t mangle -I FORWARD 1 -o wg0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment
        --comment 'netpath.mtu mss_clamp' -j TCPMSS --set-mss 1380
    argv:
      - [iptables-nft, "-w", "60", "-t", mangle, "-I", FORWARD, "1", "-o", wg0, "-p", tcp, "-m", tcp, "--tcp-flags",
         "SYN,RST", SYN, "-m", comment, "--comment", netpath.mtu mss_clamp, "-j", TCPMSS, "--set-mss", "1380"]
    changes:
      - {action: added, clamp: "ipv4 forward to wg0: clamp to 1380"}
    unresolved: []
persisted:
  description:
    - Configuration files changed (or that would be). That a file was written does not mean it is loaded at boot;
      see RV(persistence).
  returned: always
  type: list
  elements: str
  sample: [/etc/iptables/rules.v4, /etc/iptables/rules.v6]
persistence:
  description:
    - Whether the clamp survives a reboot - it is in the configuration files B(and) a unit that loads them at boot
      is enabled (C(nftables.service) for C(/etc/nftables.conf), or for a file it includes; C(netfilter-persistent)
      for C(/etc/iptables/rules.v4) and C(rules.v6); C(iptables.service) and C(ip6tables.service) for
      C(/etc/sysconfig/iptables) and C(ip6tables); C(firewalld.service) for firewalld's permanent rules).
    - C(state) is V(boot), V(runtime_only) (lost at reboot - O(persist=false), or the unit is disabled or not
      installed) or V(unknown) (cannot tell, for example a file no known unit loads, or no systemd; never
      counted as persisted). C(files) are the files that hold the clamp (whether or not this run changed them),
      C(loaded_by) the unit that loads them, C(reason) says how this was decided.
  returned: always
  type: dict
  sample:
    state: boot
    files: [/etc/nftables.conf]
    loaded_by: nftables.service
    reason: nftables.service is enabled and loads /etc/nftables.conf at boot
framework:
  description: Firewall frameworks found (as in P(netpath.mtu.mtu_facts#module)'s C(firewall) facts).
  returned: always
  type: dict
backup_files:
  description: Backups written with O(backup=true).
  returned: when O(backup=true) and a file changed
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import mss_clamp_backend
from ansible_collections.netpath.mtu.plugins.module_utils.firewall import mss_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FirewallHost
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.mss_clamp_backend import MssClampParams
from ansible_collections.netpath.mtu.plugins.module_utils.host.lock import FIREWALL_LOCK
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "mtu": {"type": "int"},
    "mss": {"type": "int"},
    "family": {"type": "str", "choices": ["ipv4", "ipv6", "both"], "default": "both"},
    "chains": {"type": "list", "elements": "str", "choices": list(mss_plan.CHAINS), "default": ["forward"]},
    "interface": {"type": "str"},
    "interface_direction": {"type": "str", "choices": list(mss_plan.DIRECTIONS), "default": "out"},
    "backend": {"type": "str", "choices": list(mss_clamp_backend.BACKENDS), "default": "auto"},
    "firewalld_zone": {"type": "str"},
    "firewalld_policy": {"type": "str"},
    "persist": {"type": "bool", "default": True},
    "nftables_config": {"type": "path"},
    "iptables_rules_v4": {"type": "path"},
    "iptables_rules_v6": {"type": "path"},
    "backup": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("mtu", "mss"), ("firewalld_zone", "firewalld_policy")],
        supports_check_mode=True,
    )
    params = MssClampParams.from_params(module.params, check_mode=module.check_mode, diff=module._diff)
    host = FirewallHost(module)
    finish(module, lambda: mss_clamp_backend.run(params, host, module.warn),
           lock=None if params.check_mode else host.lock(FIREWALL_LOCK))


if __name__ == "__main__":
    main()
