#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mtu_facts
short_description: Gather MTU, tunnel, PMTU and firewall facts from a Linux host
version_added: 0.1.0
description:
  - Reads, without changing anything, what decides the path MTU of a Linux host and returns it as
    the fact C(netpath_mtu_facts).
  - Interfaces with their kind (V(ethernet), V(veth), V(bridge), V(vlan), V(wireguard), V(vxlan),
    V(geneve), V(gre), V(gretap), V(ipip), V(sit), V(ip6tnl), ...), MTU and limits, state and
    addresses, from netlink.
  - Tunnels with their endpoints, the underlay device and MTU that carry each endpoint (the kernel's
    route lookup, including any cached PMTU), the encapsulation overhead for the outer address
    family and the largest tunnel MTU that underlay allows. WireGuard is read with C(wg show IF dump),
    which works for the kernel module and for C(wireguard-go) alike; private and preshared keys are
    never returned.
  - Host-wide IP forwarding and PMTU sysctls, cached PMTU exceptions, the firewall framework in use and
    which network manager configures each interface (from its configuration files).
  - The overhead figures are the ones of the P(netpath.mtu.tunnel_mtu#filter) filter; see
    C(docs/overhead.md) in the collection.
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
  gather_subset:
    description:
      - What to gather besides interfaces, which are always read. At least one subset (an empty list fails).
      - V(tunnels) needs route lookups, V(pmtu_exceptions) runs C(ip route show cache), V(firewall) runs
        C(nft), C(iptables) and C(firewall-cmd) where installed, V(managers) reads network configuration
        files and runs C(nmcli) where installed.
    type: list
    elements: str
    choices: [all, tunnels, sysctls, pmtu_exceptions, firewall, managers]
    default: [all]
requirements:
  - pyroute2 (Python library on the managed host)
  - iproute2 (C(ip)) for PMTU exceptions
  - wireguard-tools (C(wg)) for WireGuard peers and endpoints
notes:
  - Facts describe the network namespace the module runs in.
  - GENEVE options are negotiated per packet and not visible in the link; the overhead assumes none.
  - Owners are judged from files only; systemd-networkd C(.network) files that match on anything other
    than C(Name=) are not attributed.
  - Reading firewall rules and WireGuard state needs root.
seealso:
  - ref: netpath.mtu.tunnel_mtu filter <ansible_collections.netpath.mtu.tunnel_mtu_filter>
    description: Compute a tunnel MTU from a path MTU with the same overhead table.
"""

EXAMPLES = r"""
- name: Gather MTU facts
  netpath.mtu.mtu_facts:

- name: Show each tunnel's MTU against what its underlay allows
  ansible.builtin.debug:
    msg: "{{ item.key }}: mtu {{ item.value.mtu }}, underlay allows {{ item.value.max_tunnel_mtu }}"
  loop: "{{ netpath_mtu_facts.tunnels | dict2items }}"

- name: Only interfaces and tunnels (no firewall or file reads)
  netpath.mtu.mtu_facts:
    gather_subset: [tunnels]

- name: Fail when a tunnel MTU is larger than its underlay can carry
  ansible.builtin.assert:
    that: netpath_mtu_facts.tunnels | dict2items | selectattr('value.mtu_fits_underlay', 'false') | list | length == 0
    fail_msg: A tunnel MTU is too large for its underlay; large packets will black-hole if ICMP is filtered.
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    netpath_mtu_facts:
      description: MTU-related facts of this host (its current network namespace).
      returned: always
      type: dict
      contains:
        interfaces:
          description:
            - Interfaces by name. Each has C(name), C(index), C(kind) (logical, so V(wireguard) also for a
              C(wireguard-go) tun device), C(link_kind) (netlink kind, or null for physical devices), C(mtu),
              C(min_mtu), C(max_mtu) (null when the kernel reports no limit), C(state) (operational state,
              lower case), C(up) (administratively up), C(mac), C(parent), C(master), C(addresses)
              (list of C(address), C(prefixlen), C(family), C(scope)) and C(ipv6) (has an IPv6 address, so
              its MTU must stay at or above 1280).
            - With O(gather_subset=managers) also C(manager) (V(netplan), V(wg-quick), V(systemd-networkd),
              V(NetworkManager), V(ifupdown), V(ifcfg) or V(none)), C(manager_files) (that manager's
              files naming the interface) and C(managers) (every manager that claims it, in precedence order).
          returned: always
          type: dict
          sample:
            eth0:
              name: eth0
              index: 2
              kind: veth
              link_kind: veth
              mtu: 1500
              min_mtu: 68
              max_mtu: 65535
              state: up
              up: true
              mac: d2:8a:d8:ca:0a:e6
              parent: null
              master: null
              addresses:
                - {address: 198.18.200.1, prefixlen: 30, family: ipv4, scope: global}
              ipv6: false
              manager: systemd-networkd
              manager_files: [/etc/systemd/network/10-eth0.network]
              managers: [systemd-networkd]
        tunnels:
          description:
            - Tunnels by name (WireGuard, VXLAN, GENEVE, GRE, gretap, ip6gre, ip6gretap, IPIP, SIT, ip6tnl).
            - Each has C(name), C(kind), C(mtu), C(outer_family) (V(ipv4), V(ipv6), V(mixed) or null when no
              endpoint is known), C(local), C(overhead) (bytes, the largest over its endpoints; IPv6 is assumed
              when no endpoint is known), C(overhead_options), C(underlay_device), C(underlay_mtu) and
              C(max_tunnel_mtu) (of the most limiting endpoint), C(mtu_fits_underlay) (null when unknown) and
              C(endpoints).
            - Each endpoint has C(address), C(port), C(family), C(underlay_device), C(underlay_device_mtu),
              C(route_mtu) (route metric or cached PMTU), C(gateway), C(underlay_mtu) (the smaller of the two),
              C(overhead) and C(max_tunnel_mtu); WireGuard endpoints also name their C(peer).
            - VXLAN and GENEVE add C(vni) and C(port); GRE kinds C(ikey) and C(okey); WireGuard
              C(implementation) (V(kernel) or V(userspace)), C(public_key), C(listen_port), C(fwmark) and
              C(peers) (C(public_key), C(preshared_key) (whether one is set), C(endpoint), C(allowed_ips),
              C(latest_handshake), C(rx_bytes), C(tx_bytes), C(persistent_keepalive)).
          returned: when O(gather_subset) includes V(tunnels) or V(all)
          type: dict
          sample:
            wg0:
              name: wg0
              kind: wireguard
              mtu: 1420
              outer_family: ipv4
              local: null
              overhead: 60
              overhead_options: {}
              underlay_device: eth0
              underlay_mtu: 1400
              max_tunnel_mtu: 1340
              mtu_fits_underlay: false
              endpoints:
                - address: 198.18.200.2
                  port: 51821
                  family: ipv4
                  peer: Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8=
                  underlay_device: eth0
                  underlay_device_mtu: 1500
                  route_mtu: 1400
                  gateway: null
                  underlay_mtu: 1400
                  overhead: 60
                  max_tunnel_mtu: 1340
              implementation: userspace
              public_key: G1M+Z7UiwLDIyLAEhosvziPkmCgZhXIczvGI3gDmIjk=
              listen_port: 51820
              fwmark: null
              peers:
                - public_key: Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8=
                  preshared_key: false
                  endpoint: {address: 198.18.200.2, port: 51821, family: ipv4}
                  allowed_ips: [198.18.210.2/32]
                  latest_handshake: 1763921848
                  rx_bytes: 92
                  tx_bytes: 148
                  persistent_keepalive: 25
        sysctls:
          description:
            - Host-wide sysctls, as integers (null when the kernel does not have them) -
              C(ipv4_forwarding) (net.ipv4.ip_forward), C(ipv6_forwarding) (net.ipv6.conf.all.forwarding),
              C(tcp_mtu_probing), C(tcp_base_mss), C(tcp_mtu_probe_floor), C(ip_no_pmtu_disc),
              C(ip_forward_use_pmtu), C(min_pmtu) (net.ipv4.route.min_pmtu), C(ipv4_mtu_expires) and
              C(ipv6_mtu_expires) (net.ipv4/ipv6.route.mtu_expires).
          returned: when O(gather_subset) includes V(sysctls) or V(all)
          type: dict
          sample: {ipv4_forwarding: 0, ipv6_forwarding: 0, tcp_mtu_probing: 0, tcp_base_mss: 1024,
                   tcp_mtu_probe_floor: 48, ip_no_pmtu_disc: 0, ip_forward_use_pmtu: 0, min_pmtu: 552,
                   ipv4_mtu_expires: 600, ipv6_mtu_expires: 600}
        pmtu_exceptions:
          description:
            - PMTU exceptions the kernel has cached (learnt from ICMP frag-needed / packet-too-big), from
              C(ip route show cache); each has C(dst), C(family), C(mtu), C(dev), C(gateway) and C(expires)
              (seconds).
          returned: when O(gather_subset) includes V(pmtu_exceptions) or V(all)
          type: list
          elements: dict
          sample:
            - {dst: 198.18.201.2, family: ipv4, mtu: 1400, dev: eth0, gateway: 198.18.200.2, expires: 599}
        firewall:
          description:
            - C(framework) in use (V(firewalld), V(nftables), V(iptables-nft), V(iptables-legacy) or V(none);
              the first of C(frameworks), which lists every one holding rules), C(firewalld) (running),
              C(nft_tables) (C(family name) of each nftables table), C(iptables_variant) (what the plain
              C(iptables) command drives - V(nf_tables) or V(legacy)) and C(iptables_legacy_rules) (rules and
              non-ACCEPT policies in the legacy tables).
          returned: when O(gather_subset) includes V(firewall) or V(all)
          type: dict
          sample: {framework: iptables-nft, frameworks: [iptables-nft], firewalld: false,
                   nft_tables: [ip mangle], iptables_variant: nf_tables, iptables_legacy_rules: 0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.deps import require_pyroute2
from ansible_collections.netpath.mtu.plugins.module_utils.host.gather import SUBSETS, gather, validate_subset
from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "gather_subset": {"type": "list", "elements": "str", "default": ["all"], "choices": ["all"] + list(SUBSETS)},
        },
        supports_check_mode=True,
    )
    try:
        subset = validate_subset(module.params["gather_subset"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    require_pyroute2(module)
    system = System(module)
    try:
        result = gather(system, subset, module.warn)
    finally:
        system.close()
    module.exit_json(changed=False, ansible_facts={"netpath_mtu_facts": result})


if __name__ == "__main__":
    main()
