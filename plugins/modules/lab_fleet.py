#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lab_fleet
short_description: Build a fleet of lab hosts in network namespaces on this machine
version_added: 0.1.0
description:
  - Builds, from a topology described as data, a fleet of hosts as Linux network namespaces joined
    by veth links, with routers that forward and can drop ICMP fragmentation-needed / packet-too-big
    or IP fragments, WireGuard (C(wg-quick), falling back to C(wireguard-go)) and VXLAN tunnels,
    IPv4 and IPv6 addressing, and a real C(sshd) per host on a management bridge.
  - Each host gets its own C(/etc/netns/<namespace>) subtree (C(ssh), C(wireguard), C(systemd/network),
    C(nftables.conf), C(hostname)), which C(ip netns exec) and the host's C(sshd) see as C(/etc).
  - Returns an Ansible inventory for the lab, which the P(netpath.mtu.lab#role) role writes to a file.
  - Everything created is recorded in C(state.json) in O(workdir) before it is created; O(state=absent)
    removes exactly that. No traffic leaves the lab's namespaces.
  - Meant for tests, demos and training, on a disposable machine, as root.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - An unchanged topology on a healthy lab reports no change; a changed topology or a broken lab
        is rebuilt from scratch.
options:
  name:
    description:
      - Lab name, 1 to 8 lowercase letters or digits. It prefixes every namespace
        (C(<name>-<host>)), the management bridge (C(<name>-mgmt)) and tunnel interface names,
        so two labs with different names coexist.
    type: str
    required: true
  state:
    description: Whether the lab should exist.
    type: str
    choices: [present, absent]
    default: present
  topology:
    description:
      - The fleet. Required with O(state=present). See the role README for a full example.
      - C(hosts) - list of hosts; each has C(name), C(role) (V(host), V(gateway) or V(router); gateways
        and routers forward), C(forward), C(groups), C(firewall) (V(nftables), V(iptables-nft),
        V(iptables-legacy)), C(drop_icmp_ptb) (hooks among V(input), V(forward), V(output) where ICMP
        frag-needed and ICMPv6 packet-too-big are dropped), C(drop_fragments), C(loss_percent)
        (random drop of forwarded packets), C(nftables_extra) (more nftables text for that host) and
        C(etc_dirs) (further C(/etc) directories the host gets its own copy of, among V(iptables), V(sysconfig),
        V(nftables.d), V(firewalld), V(network), V(NetworkManager), V(netplan)), and C(inventory) (default true;
        false leaves the host out of the inventory, like a router someone else runs).
      - C(links) - list of veth links; each has C(a), C(b) (host names), C(mtu) (default 1500),
        C(ipv6) (default true) and an optional C(name) (lowercase letters, digits and C(-), starting with a letter).
      - C(tunnels) - list of tunnels; each has C(type) (V(wireguard) or V(vxlan)), C(a), C(b), C(mtu)
        (default 1420 for WireGuard, 1450 for VXLAN), C(outer_family) (V(ipv4) or V(ipv6)),
        C(networks_a) / C(networks_b) (links behind each end that are routed through the tunnel) and
        C(endpoint_a) / C(endpoint_b) (the link that carries it; default the end's first other link), and
        an optional C(name) (the rules of link names).
    type: dict
  mgmt_subnet:
    description:
      - IPv4 subnet of the management bridge that the controller uses to reach each host's sshd.
        The bridge takes the first address, hosts the following ones.
      - A network address with a /16 to /29 prefix.
      - Must not overlap an address in use on this machine (another lab's bridge included), also checked in
        check mode; give each coexisting lab its own.
    type: str
    default: 198.19.200.0/24
  workdir:
    description:
      - Directory for the lab's state, SSH key and inventory. Default C(/var/lib/netpath-mtu-lab/<name>).
      - An absolute path, a directory if it exists, and not a system directory such as C(/), C(/etc), C(/var) or
        C(/tmp) itself. O(state=absent) removes the lab's files there, then the directory if it is empty.
    type: path
notes:
  - Needs root, C(iproute2), C(nftables), C(iptables), C(openssh-server), C(wireguard-tools) and
    C(wireguard-go).
  - Underlay links use 198.18.<link>.0/24 and fd00:198:18:<link>::/64, tunnels 198.19.<tunnel>.0/24
    and fd00:198:19:<tunnel>::/64 (benchmarking and unique-local ranges), inside the namespaces only.
"""

EXAMPLES = r"""
- name: Build the seeds' outage - two sites joined by WireGuard across a router that eats ICMP
  netpath.mtu.lab_fleet:
    name: demo
    topology:
      hosts:
        - {name: client-a}
        - {name: gw-a, role: gateway}
        - {name: rtr, role: router, drop_icmp_ptb: [output]}
        - {name: gw-b, role: gateway}
        - {name: server-b}
      links:
        - {name: lan-a, a: client-a, b: gw-a}
        - {name: wan-a, a: gw-a, b: rtr}
        - {name: wan-b, a: rtr, b: gw-b, mtu: 1400}
        - {name: lan-b, a: gw-b, b: server-b}
      tunnels:
        - {type: wireguard, a: gw-a, b: gw-b, mtu: 1420, networks_a: [lan-a], networks_b: [lan-b]}
  register: lab

- name: Remove it
  netpath.mtu.lab_fleet:
    name: demo
    state: absent
"""

RETURN = r"""
inventory:
  description: Ansible inventory (YAML structure) that reaches every lab host over SSH.
  returned: state is present
  type: dict
  sample:
    all:
      vars: {ansible_user: root, ansible_ssh_private_key_file: /var/lib/netpath-mtu-lab/demo/id_ed25519}
      hosts:
        gw-a: {ansible_host: 198.19.200.3, netpath_mtu_lab_namespace: demo-gw-a}
      children:
        gateways: {hosts: {gw-a: {}}}
plan:
  description: The normalised lab - hosts with namespaces, interfaces, addresses and routes; links; tunnels.
  returned: state is present
  type: dict
namespaces:
  description: Network namespaces of the lab.
  returned: always
  type: list
  elements: str
  sample: [demo-client-a, demo-gw-a]
key_file:
  description: Private SSH key that the inventory uses.
  returned: state is present
  type: str
  sample: /var/lib/netpath-mtu-lab/demo/id_ed25519
"""

import os
import stat
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandError
from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_build import LabBuilder
from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_topology import (
    DEFAULT_MGMT_SUBNET,
    TopologyError,
    inventory,
    mgmt_overlap,
    plan_lab,
    validate_lab_name,
    validate_workdir,
)


def mgmt_subnet_in_use(builder: LabBuilder, subnet: str, bridge: str) -> str | None:
    """What on this machine already has an address in subnet: "lab NAME" for another lab's bridge, else the interface."""
    out = builder.cmd.run(["ip", "-o", "-4", "addr", "show"])[1]
    used = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1] != bridge:
            owner = f"lab {fields[1][:-len('-mgmt')]}" if fields[1].endswith("-mgmt") else fields[1]
            used.setdefault(owner, fields[3])
    return mgmt_overlap(subnet, used)


def checked_workdir(path: str) -> str:
    """validate_workdir's rules, and a directory (or nothing yet) on this machine."""
    clean = validate_workdir(path)
    try:
        mode = os.stat(clean).st_mode
    except FileNotFoundError:
        return clean
    except OSError as exc:  # ENOTDIR (a parent is a file), ELOOP, EACCES
        raise TopologyError(f"workdir {path} cannot be used: {exc.strerror}") from exc
    if not stat.S_ISDIR(mode):
        raise TopologyError(f"workdir {path} exists and is not a directory; give a directory of the lab's own")
    return clean


def present(module: AnsibleModule, builder: LabBuilder, name: str) -> dict:
    try:
        plan = plan_lab(name, module.params["topology"], module.params["mgmt_subnet"])
    except TopologyError as exc:
        what = "" if str(exc).startswith("mgmt_subnet") else "invalid lab topology: "
        module.fail_json(msg=f"{what}{exc}")
    # Before anything else, also in check mode: a second lab on the same addresses breaks both.
    clash = mgmt_subnet_in_use(builder, plan["mgmt_subnet"], plan["mgmt_bridge"])
    if clash:
        module.fail_json(msg=f"mgmt_subnet {plan['mgmt_subnet']} overlaps {clash}; choose another mgmt_subnet "
                             "for this lab")
    result = {
        "changed": False,
        "plan": plan,
        "namespaces": [h["namespace"] for h in plan["hosts"]],
        "key_file": builder.key_file,
        "inventory": inventory(plan, builder.key_file, sys.executable),
    }
    if builder.healthy(plan):
        return result
    result["changed"] = True
    if module.check_mode:
        return result
    builder.teardown(builder.read_state())
    try:
        builder.build(plan)
    except (CommandError, OSError):
        # A half-built lab is worse than none: remove what was created, then report.
        builder.teardown(builder.read_state())
        raise
    return result


def absent(module: AnsibleModule, builder: LabBuilder) -> dict:
    state = builder.read_state()
    result = {"changed": bool(state is not None), "namespaces": (state or {}).get("namespaces", [])}
    if state is not None and not module.check_mode:
        builder.teardown(state)
        builder.remove_workdir()
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "topology": {"type": "dict"},
            "mgmt_subnet": {"type": "str", "default": DEFAULT_MGMT_SUBNET},
            "workdir": {"type": "path"},
        },
        required_if=[("state", "present", ["topology"])],
        supports_check_mode=True,
    )
    try:
        name = validate_lab_name(module.params["name"])
        workdir = checked_workdir(module.params["workdir"] or f"/var/lib/netpath-mtu-lab/{name}")
    except TopologyError as exc:
        module.fail_json(msg=str(exc))
    if os.geteuid() != 0:
        module.fail_json(msg="lab_fleet creates network namespaces and needs root; run it with become: true")
    builder = LabBuilder(module, workdir)
    try:
        if module.params["state"] == "present":
            result = present(module, builder, name)
        else:
            result = absent(module, builder)
    except (CommandError, OSError) as exc:
        module.fail_json(msg=f"lab {name}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
