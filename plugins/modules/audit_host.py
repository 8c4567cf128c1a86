#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: audit_host
short_description: MTU facts and the read-only firewall checks of an audit, in one call
version_added: 0.1.0
description:
  - What the P(netpath.mtu.audit#role) role asks each host before probing, in one module run instead of three -
    the facts of M(netpath.mtu.mtu_facts) (all subsets), the firewall evaluation of M(netpath.mtu.icmp_policy)
    with O(netpath.mtu.icmp_policy#module:state=evaluate), and, on a host that forwards and has a tunnel, the
    check of M(netpath.mtu.mss_clamp) in check mode (its defaults - clamp to the path MTU in FORWARD).
  - The three are independent, so one round trip serves them; the results are those of the modules themselves
    (the same code and defaults). Nothing is changed, also outside check mode.
  - A check that cannot run (no firewall tool, a ruleset that does not parse) is returned with C(failed) and
    C(msg) in its place; the facts and the other check are still returned.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.INFO_MODULE
  - netpath.mtu.attributes.LINUX
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
options:
  families:
    description: Address families whose ICMP errors the firewall evaluation covers.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  firewall_checks:
    description: Run the two firewall checks; with V(false) only the facts are gathered.
    type: bool
    default: true
requirements:
  - pyroute2 (Python library on the managed host)
notes:
  - Needs root to read the firewall and WireGuard state.
seealso:
  - module: netpath.mtu.mtu_facts
  - module: netpath.mtu.icmp_policy
  - module: netpath.mtu.mss_clamp
"""

EXAMPLES = r"""
- name: Facts, ICMP evaluation and MSS clamp check in one round trip
  netpath.mtu.audit_host:
  become: true
  register: host_audit

- name: Hosts whose firewall drops ICMP frag-needed or packet-too-big
  ansible.builtin.debug:
    msg: "{{ host_audit.icmp_policy.results | selectattr('verdict', 'eq', 'dropped') | list }}"
  when: host_audit.icmp_policy.results is defined
"""

RETURN = r"""
ansible_facts:
  description: C(netpath_mtu_facts), as M(netpath.mtu.mtu_facts) returns it.
  returned: always
  type: dict
icmp_policy:
  description:
    - The result of M(netpath.mtu.icmp_policy) with O(netpath.mtu.icmp_policy#module:state=evaluate) and these
      O(families) (C(results), C(framework), ...), or C(failed) and C(msg). Null with O(firewall_checks=false).
  returned: always
  type: dict
mss_clamp:
  description:
    - The result of M(netpath.mtu.mss_clamp) in check mode with its defaults (C(report), C(fix), ...), or
      C(failed) and C(msg). Null on a host without a tunnel or without forwarding, and with O(firewall_checks=false).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.audit import audit_host_backend
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FirewallHost
from ansible_collections.netpath.mtu.plugins.module_utils.host.deps import require_pyroute2
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "families": {"type": "list", "elements": "str", "choices": ["ipv4", "ipv6"], "default": ["ipv4", "ipv6"]},
            "firewall_checks": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    require_pyroute2(module)
    host = FirewallHost(module)

    def run() -> dict:
        try:
            return audit_host_backend.run(module.params["families"], module.params["firewall_checks"], host, module.warn)
        finally:
            host.close()

    finish(module, run)


if __name__ == "__main__":
    main()
