#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: link_mtu
short_description: Set an interface's MTU, or a tunnel's MTU from a measured path MTU, and persist it
version_added: 0.1.0
description:
  - Sets the MTU of a network interface at runtime through netlink (pyroute2), like C(ip link set dev NAME mtu N),
    and writes it to the configuration of the network manager that owns the interface, so that a reboot or
    C(wg-quick down/up) keeps it.
  - The MTU is either given (O(mtu)), or computed (O(path_mtu)) from the underlay path MTU a probe measured
    (for example P(netpath.mtu.path_mtu_info#module)) minus the tunnel's encapsulation overhead. The
    encapsulation and its outer address family are discovered from the interface as
    P(netpath.mtu.mtu_facts#module) does (WireGuard peers' endpoints, VXLAN/GENEVE/GRE/IPIP link data), or
    given. The overhead table is the one of the P(netpath.mtu.tunnel_mtu#filter) filter.
  - "Persistence, by owner: C(wg-quick) - C(MTU =) in the C([Interface]) section of C(/etc/wireguard/NAME.conf);
    C(systemd-networkd) - C(MTUBytes=) in C([NetDev]) of the interface's C(.netdev) and in C([Link]) of its
    C(.network) file (and in drop-ins that already set it); C(NetworkManager) - C(nmcli connection modify)
    of the active profile, applied with C(nmcli device reapply) (no connection bounce); C(netplan) - C(mtu:)
    in the device's definition under C(/etc/netplan); C(ifupdown) - the C(mtu) option of its C(iface) stanza;
    C(ifcfg) - C(MTU=) in its C(ifcfg-*) file."
  - Files are edited in place, changing only the MTU line (or adding one) and keeping comments, formatting and
    everything else; they are written atomically. The result says where the MTU was persisted, or why it could
    not be.
  - "Safety: refuses an MTU below 68, below 1280 on an interface with IPv6 addresses, or outside the device's
    own limits. When the interface carries the connection Ansible runs over (found from C(SSH_CONNECTION):
    the interface that holds the server address or routes to the client, and the devices under it - a VLAN's
    parent, a bridge's or bond's ports), a runtime change needs
    O(allow_control_interface=true); the module then checks that the controller still answers full-size
    don't-fragment pings and otherwise restores the previous MTU and fails."
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
  - netpath.mtu.attributes.LINUX
attributes:
  check_mode:
    support: full
    details:
      - Reports the MTU it would set and the file or profile changes it would make, without changing any.
  diff_mode:
    support: full
    details:
      - The runtime MTU, each configuration file (secrets such as WireGuard private keys are redacted) and
        each NetworkManager property, before and after.
  idempotent:
    support: full
options:
  name:
    description:
      - The interface, as named in this host's network namespace. Data only, never passed to a shell.
    type: str
    required: true
    aliases: [interface]
  mtu:
    description:
      - The MTU to set, in bytes (layer 3, as C(ip link) shows it).
      - Exactly one of O(mtu) and O(path_mtu) is required.
    type: int
  path_mtu:
    description:
      - The path MTU measured (or known) on the tunnel's underlay, between its endpoints. The module sets
        the tunnel MTU to O(path_mtu) minus the encapsulation overhead, so encapsulated packets fit the path.
      - Exactly one of O(mtu) and O(path_mtu) is required.
    type: int
  encapsulation:
    description:
      - The tunnel's encapsulation, one of the kinds of the P(netpath.mtu.tunnel_mtu#filter) filter
        (V(wireguard), V(vxlan), V(geneve), V(gre), V(gretap), V(ip6gre), V(ipip), V(sit), V(ip6tnl),
        V(esp), V(pppoe), V(vlan), V(mpls)).
      - Default is discovered from the interface; required when the interface is not a tunnel the module
        recognises (for example an ESP or PPPoE path behind an ordinary interface).
    type: str
  outer_family:
    description:
      - Address family of the outer (underlay) header.
      - Default is discovered from the tunnel's endpoints; when they are unknown or of both families, the
        worst case (V(ipv6), the larger header) is assumed.
    type: str
    choices: [ipv4, ipv6]
  overhead_options:
    description:
      - Options of the overhead computation, as for the P(netpath.mtu.tunnel_mtu#filter) filter, for example
        C(key), C(seq), C(csum) for GRE, C(cipher) and C(nat_t) for ESP, C(count) for VLAN tags or MPLS labels,
        C(extra) for further bytes.
      - Merged over the options discovered from the interface (GRE flags, encapsulation limit, FOU/GUE).
    type: dict
  persist:
    description:
      - Where to persist the MTU. V(auto) uses the network manager that owns the interface (netplan,
        wg-quick, systemd-networkd, NetworkManager, ifupdown, ifcfg, in this order of precedence, judged as
        P(netpath.mtu.mtu_facts#module) does); a manager's name uses that one; V(none) sets the runtime MTU only.
    type: str
    choices: [auto, none, wg-quick, systemd-networkd, NetworkManager, netplan, ifupdown, ifcfg]
    default: auto
  backup:
    description:
      - Keep a copy of each configuration file it changes, named C(FILE.PID.TIMESTAMP~) next to it.
    type: bool
    default: false
  allow_control_interface:
    description:
      - Allow changing the runtime MTU of the interface that carries this run's control connection.
      - Without it, such a change fails before anything is touched.
      - With it, after the change the module sends full-size don't-fragment pings (C(ping) from iputils) to the
        controller's address and restores the previous MTU when none is answered.
    type: bool
    default: false
requirements:
  - pyroute2 (Python library on the managed host)
  - wireguard-tools (C(wg)) to discover WireGuard endpoints for O(path_mtu)
  - iputils C(ping) when changing the control interface
  - C(nmcli) for interfaces NetworkManager owns
notes:
  - A run that changes the host holds the lock C(/run/lock/netpath-mtu/links.lock) (one per network namespace)
    from reading the host to writing its configuration, so tasks on one host at once queue instead of losing each
    other's changes; a run waits up to 120 seconds for it, then fails without changing anything.
  - Works in the network namespace the module runs in.
  - The module does not run C(netplan apply), C(networkctl reload), C(ifup) or C(wg-quick) itself; it sets the
    runtime MTU directly and makes the configuration agree, so the next start of the interface uses it.
  - A C(.network) file that matches more than this interface (C(Name=en*)) is not edited, since that would
    change the other interfaces too; the result says so. Netplan files outside C(/etc/netplan) are not edited.
  - The control connection is found from the C(SSH_CONNECTION) or C(SSH_CLIENT) environment variables, which
    C(become) methods that reset the environment (C(sudo) by default) remove; without them the module cannot
    tell that an interface carries the connection. Connections already open keep the TCP MSS they negotiated,
    so after lowering the MTU of the control interface, run the C(reset_connection) meta task before the next task.
  - With O(backup=true) and ifupdown, a backup in C(/etc/network/interfaces.d) is read by a
    C(source /etc/network/interfaces.d/*) line; C(source-directory) ignores it.
seealso:
  - module: netpath.mtu.mtu_facts
    description: Discover tunnels, their overhead and the largest MTU their underlay allows.
  - ref: netpath.mtu.tunnel_mtu filter <ansible_collections.netpath.mtu.tunnel_mtu_filter>
    description: The same computation as a filter.
"""

EXAMPLES = r"""
- name: Set a WireGuard tunnel's MTU from the measured underlay path MTU (1400 - 60 = 1340 over IPv4)
  netpath.mtu.link_mtu:
    name: wg0
    path_mtu: 1400

- name: Set an MTU and keep a backup of the file it edits
  netpath.mtu.link_mtu:
    name: eth1
    mtu: 9000
    backup: true

- name: GRE with a key over IPv6, declared rather than discovered
  netpath.mtu.link_mtu:
    name: gre-dc2
    path_mtu: 1500
    encapsulation: gre
    outer_family: ipv6
    overhead_options:
      key: true

- name: Fix every tunnel whose MTU does not fit its underlay (after netpath.mtu.mtu_facts)
  netpath.mtu.link_mtu:
    name: "{{ item.key }}"
    mtu: "{{ item.value.max_tunnel_mtu }}"
  loop: "{{ netpath_mtu_facts.tunnels | dict2items | selectattr('value.mtu_fits_underlay', 'false') }}"
  loop_control:
    label: "{{ item.key }}"

- name: Change the interface Ansible connects through (verified, rolled back when the controller stops answering)
  netpath.mtu.link_mtu:
    name: eth0
    mtu: 1400
    allow_control_interface: true

- name: Reconnect, so the SSH connection negotiates the smaller MSS
  ansible.builtin.meta: reset_connection
"""

RETURN = r"""
interface:
  description: The interface.
  returned: always
  type: str
  sample: wg0
mtu:
  description: The MTU the interface has now (in check mode, would have).
  returned: success
  type: int
  sample: 1340
previous_mtu:
  description: The runtime MTU before the module ran.
  returned: when the interface exists
  type: int
  sample: 1420
runtime_changed:
  description: Whether the runtime MTU was (in check mode, would be) changed.
  returned: success
  type: bool
  sample: true
computed:
  description:
    - How the MTU was computed from O(path_mtu); null when O(mtu) was given.
    - C(source) is V(discovered) when the encapsulation came from the interface, V(given) otherwise.
  returned: success
  type: dict
  sample:
    path_mtu: 1400
    encapsulation: wireguard
    outer_family: ipv4
    overhead: 60
    options: {}
    source: discovered
control_connection:
  description:
    - The SSH connection Ansible runs over, as this host sees it (C(client) is the controller's address,
      C(server) this host's), and C(interfaces), those that carry it. Null when there is none (local
      connection, or the environment was reset).
  returned: always
  type: dict
  sample: {client: 198.19.204.1, server: 198.19.204.2, interfaces: [mgmt0]}
control_interface:
  description: Whether the interface carries the control connection.
  returned: when the interface exists
  type: bool
  sample: false
verified:
  description:
    - For a change of the control interface, whether the controller answered full-size pings afterwards
      (C(verification) tells how); null when no verification was needed or in check mode.
  returned: success
  type: bool
  sample: null
verification:
  description: What the verification after a change of the control interface found.
  returned: when the control interface was changed
  type: str
  sample: 198.19.204.1 answered don't-fragment pings of 1400 bytes
rolled_back:
  description: Whether the previous MTU was restored because a step after the change failed.
  returned: always
  type: bool
  sample: false
persist:
  description:
    - Where the MTU was (in check mode, would be) persisted.
    - C(manager) is the network manager used (null with O(persist=none)); C(status) is V(persisted) (something
      was changed), V(unchanged) (already there), V(not_persisted) (C(reason) says why) or V(disabled).
    - C(files) lists the files looked at, each with C(path), C(changed), C(backup_file) and C(skipped) (why
      it was not edited, or null); C(commands) lists the C(nmcli) argv lists run (or to run).
  returned: success
  type: dict
  sample:
    manager: wg-quick
    status: persisted
    reason: null
    files:
      - path: /etc/wireguard/wg0.conf
        changed: true
        backup_file: null
        skipped: null
    commands: []
persistence:
  description:
    - Whether the MTU survives a reboot - the configuration holds it B(and) something loads that configuration at
      boot. RV(persist) C(status=persisted) only says a file was written; this says whether that counts.
    - C(state) is V(boot) (written, and C(loaded_by) - the unit that applies it, for example C(wg-quick@wg0.service)
      or C(systemd-networkd.service) - is enabled), V(runtime_only) (lost at reboot - nothing persisted, for
      example a tunnel no configuration defines or O(persist=none), or the unit that would load it is
      disabled or not installed, or ifupdown has no C(auto) line for it) or V(unknown) (cannot tell, for
      example without systemd; never counted as persisted). C(files) are the files that hold the MTU,
      C(reason) says how this was decided.
    - Units are read with C(systemctl is-enabled) (which reads the unit files even where systemd does not run), or
      from the C(*.wants/) links under C(/etc/systemd/system) without systemctl.
  returned: success
  type: dict
  sample:
    state: runtime_only
    files: [/etc/wireguard/wg0.conf]
    loaded_by: null
    reason: "/etc/wireguard/wg0.conf is not loaded at boot (wg-quick@wg0.service is disabled): lost at reboot;
      'systemctl enable wg-quick@wg0.service' to keep it"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host.deps import require_pyroute2
from ansible_collections.netpath.mtu.plugins.module_utils.host.lock import LINKS_LOCK
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import finish
from ansible_collections.netpath.mtu.plugins.module_utils.host.persist_dispatch import PERSIST_CHOICES
from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System
from ansible_collections.netpath.mtu.plugins.module_utils.links import link_mtu_backend
from ansible_collections.netpath.mtu.plugins.module_utils.links.link_mtu_backend import LinkMtuParams

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True, "aliases": ["interface"]},
    "mtu": {"type": "int"},
    "path_mtu": {"type": "int"},
    "encapsulation": {"type": "str"},
    "outer_family": {"type": "str", "choices": ["ipv4", "ipv6"]},
    "overhead_options": {"type": "dict"},
    "persist": {"type": "str", "default": "auto", "choices": PERSIST_CHOICES},
    "backup": {"type": "bool", "default": False},
    "allow_control_interface": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("mtu", "path_mtu")],
        required_one_of=[("mtu", "path_mtu")],
        required_by={"encapsulation": "path_mtu", "outer_family": "path_mtu", "overhead_options": "path_mtu"},
        supports_check_mode=True,
    )
    require_pyroute2(module)
    params = LinkMtuParams.from_params(module.params, check_mode=module.check_mode, diff=module._diff)
    system = System(module)
    try:
        finish(module, lambda: link_mtu_backend.run(params, system, module.warn),
               lock=None if params.check_mode else system.lock(LINKS_LOCK))
    finally:
        system.close()


if __name__ == "__main__":
    main()
