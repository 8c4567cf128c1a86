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

import ipaddress
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netpath.mtu.plugins.module_utils.host import boot
from ansible_collections.netpath.mtu.plugins.module_utils.links import facts
from ansible_collections.netpath.mtu.plugins.module_utils.host import gather
from ansible_collections.netpath.mtu.plugins.module_utils.links import overhead
from ansible_collections.netpath.mtu.plugins.module_utils.host import persist
from ansible_collections.netpath.mtu.plugins.module_utils.host.deps import require_pyroute2
from ansible_collections.netpath.mtu.plugins.module_utils.host.system import System

PERSIST_CHOICES = ["auto", "none"] + list(facts.MANAGERS)
PING_HEADERS = {"ipv4": 28, "ipv6": 48}  # IP + ICMP echo header: ping -s N sends N + this
NETPLAN_EDITABLE = "/etc/netplan/"


class LinkMtuError(Exception):
    """Fails the module with ``msg`` and the result gathered so far."""


# --- pure helpers ------------------------------------------------------------------------------

def validate_ifname(name: Any) -> str:
    """Linux's own rules (dev_valid_name); the name also becomes part of a path, so they matter."""
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty interface name")
    if len(name) > persist.IFNAME_MAX:
        raise ValueError(f"interface name {name!r} is longer than {persist.IFNAME_MAX} characters, so no interface has it")
    if name in (".", "..") or any(c == "/" or c == ":" or c.isspace() or ord(c) < 32 for c in name):
        raise ValueError(f"{name!r} is not a valid interface name (no '/', ':', blanks, '.' or '..')")
    return name


def _plain_address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def parse_ssh_connection(ssh_connection: str | None, ssh_client: str | None = None) -> dict[str, Any] | None:
    """``SSH_CONNECTION`` ('client cport server sport') or else ``SSH_CLIENT`` ('client cport sport')."""
    for text, fields in ((ssh_connection, 4), (ssh_client, 3)):
        parts = (text or "").split()
        if len(parts) != fields:
            continue
        client = _plain_address(parts[0])
        server = _plain_address(parts[2]) if fields == 4 else None
        if client:
            return {"client": client, "server": server}
    return None


def worst_family(kind: str) -> str | None:
    """The outer family to assume when none is known: the kind's own, else IPv6 (the larger header)."""
    name = kind.strip().lower()
    name, implied = overhead.KIND_ALIASES.get(name, (name, None))
    if name in overhead.FAMILY_FREE:
        return None
    return implied or overhead.FIXED_FAMILY.get(name) or "ipv6"


def ping_argv(ping: str, address: str, mtu: int) -> list[str]:
    """Don't-fragment echo requests whose IP packets are exactly ``mtu`` bytes; any reply passes."""
    family = facts.address_family(address) or "ipv4"
    return [ping, "-6" if family == "ipv6" else "-4", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do",
            "-s", str(mtu - PING_HEADERS[family]), address]


def ping_limit(out: str, err: str) -> int | None:
    """The MTU an ICMP frag-needed / packet-too-big (or a cached PMTU: 'message too long') reported."""
    for line in (out + "\n" + err).splitlines():
        lower = line.lower()
        if "frag needed" in lower or "packet too big" in lower or "message too long" in lower:
            digits = lower.rsplit("mtu", 1)[-1].strip(" =)")
            number = "".join(c for c in digits if c.isdigit())
            if number:
                return int(number)
    return None


def owner_files(manager: str, files: dict[str, str]) -> dict[str, str]:
    """The subset of ``files`` that belongs to ``manager``'s directories."""
    dirs = facts.MANAGER_DIRS[manager]
    extra = facts.MANAGER_FILES if manager == "ifupdown" else ()
    return {path: text for path, text in files.items()
            if path in extra or any(path.startswith(d.rstrip("/") + "/") for d in dirs)}


class Diff:
    """Before/after per item; the changed flag and the diff output come from the same records."""

    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def add(self, header: str, before: str, after: str) -> bool:
        if before == after:
            return False
        self.entries.append({"before_header": header, "after_header": header, "before": before, "after": after})
        return True


# --- the module --------------------------------------------------------------------------------

class LinkMtu:
    def __init__(self, module: AnsibleModule, system: System):
        self.module = module
        self.system = system
        self.params = module.params
        self.diff = Diff()
        self.result: dict[str, Any] = {"changed": False, "interface": self.params["name"], "rolled_back": False,
                                       "control_connection": None}
        self.manager_files: dict[str, str] = {}

    # -- discovery --

    def discover_tunnel(self, link: dict[str, Any], kind: str) -> dict[str, Any] | None:
        dump = gather.wireguard_dump(self.system, link["name"], self.module.warn) if kind == "wireguard" else None
        by_index = {item["index"]: item for item in self.system.links()}
        return gather.tunnel(self.system, link, kind, dump, by_index)

    def compute(self, link: dict[str, Any], iface: dict[str, Any]) -> dict[str, Any]:
        params = self.params
        tunnel = self.discover_tunnel(link, iface["kind"]) if iface["kind"] in facts.TUNNEL_KINDS else None
        given = params["encapsulation"]
        if not given and tunnel is None:
            raise LinkMtuError(f"{link['name']} is a {iface['kind']} interface, not a tunnel whose encapsulation can be "
                               "discovered; give encapsulation (for example wireguard, vxlan, gre, esp) with path_mtu, "
                               "or set mtu directly")
        kind = given or tunnel["kind"]
        try:
            same = tunnel is not None and (not given or overhead.normalize_kind(given)[0] == overhead.normalize_kind(tunnel["kind"])[0])
            options: dict[str, Any] = dict(tunnel["overhead_options"]) if same else {}
            options.update(params["overhead_options"] or {})
            family = params["outer_family"]
            if family is None and same and tunnel["outer_family"] in ("ipv4", "ipv6"):
                family = tunnel["outer_family"]
            if family is None:
                family = worst_family(kind)
            mtu = overhead.tunnel_mtu(params["path_mtu"], kind, family, inner_ipv6=iface["ipv6"], **options)
            size = overhead.encap_overhead(kind, family, **options)
        except ValueError as exc:
            raise LinkMtuError(f"{link['name']}: cannot compute the tunnel MTU from path_mtu {params['path_mtu']}: {exc}") from exc
        return {"mtu": mtu, "path_mtu": params["path_mtu"], "encapsulation": kind, "outer_family": family,
                "overhead": size, "options": options, "source": "given" if given else "discovered"}

    def control_connection(self, links: list[dict[str, Any]]) -> dict[str, Any] | None:
        conn = parse_ssh_connection(self.system.environ("SSH_CONNECTION"), self.system.environ("SSH_CLIENT"))
        if conn is None:
            return None
        indexes = set()
        if conn["server"]:
            indexes |= {a["index"] for a in self.system.addresses() if _plain_address(a["address"]) == conn["server"]}
        route = self.system.route_get(conn["client"])
        if route and route.get("oif"):
            indexes.add(route["oif"])
        # The devices under those carry the connection too: a VLAN's parent, a bridge's or bond's ports.
        for link in links:
            if link["index"] in indexes and link.get("link") and link.get("link_netnsid") is None:
                indexes.add(link["link"])
        indexes |= {link["index"] for link in links if link.get("master") in indexes}
        names = {link["index"]: link["name"] for link in links}
        conn["interfaces"] = sorted(names[i] for i in indexes if i in names)
        conn["indexes"] = sorted(indexes)
        return conn

    # -- persistence plan --

    def manager_inputs(self) -> tuple[dict[str, str], dict[str, dict[str, str]] | None, str | None]:
        self.manager_files = gather.manager_files(self.system)
        return self.manager_files, gather.nm_devices(self.system), self.system.which("nmcli")

    def _edit(self, entries: list[dict[str, Any]], path: str, edit, *, optional: bool = False) -> None:
        """Read ``path`` and plan ``edit(text)``; record why when it cannot be edited."""
        entry: dict[str, Any] = {"path": path, "changed": False, "backup_file": None, "skipped": None}
        try:
            text = self.system.read_config(path)
            if text is None:
                raise ValueError("it does not exist")
            new = edit(text)
        except ValueError as exc:
            if optional:
                return
            entry["skipped"] = f"{path}: {exc}"
            entries.append(entry)
            return
        entry.update(changed=new != text, old=text, new=new)
        entries.append(entry)

    def plan_persist(self, name: str, mtu: int) -> dict[str, Any]:
        mode = self.params["persist"]
        result: dict[str, Any] = {"manager": None, "status": "disabled", "reason": None, "files": [], "commands": []}
        if mode == "none":
            result["reason"] = "persist=none: the MTU is set at runtime only"
            return result
        files, devices, nmcli = self.manager_inputs()
        owners = facts.network_managers([name], files, devices)[name]
        manager = owners["manager"] if mode == "auto" else mode
        result["manager"] = None if manager == "none" else manager
        result["status"] = "not_persisted"
        if manager == "none":
            result["reason"] = (f"no network configuration on this host defines {name} (looked for wg-quick, "
                                "systemd-networkd, NetworkManager, netplan, ifupdown and ifcfg configuration); the MTU "
                                "is set at runtime only and is lost when the interface is re-created")
            return result
        if manager not in owners["managers"]:
            found = ", ".join(owners["managers"]) or "none"
            result["reason"] = f"{manager} does not configure {name} on this host (owners found: {found})"
            return result
        claimed = facts.network_managers([name], owner_files(manager, files),
                                         devices if manager == "NetworkManager" else None)[name]["manager_files"]
        entries: list[dict[str, Any]] = result["files"]
        if manager == "wg-quick":
            self._edit(entries, f"/etc/wireguard/{name}.conf", lambda text: persist.wg_quick(text, mtu))
        elif manager == "systemd-networkd":
            for path in claimed:
                shared = persist.networkd_unshared(files[path], path, name)
                if shared:
                    entries.append({"path": path, "changed": False, "backup_file": None, "skipped": f"{path}: {shared}"})
                    continue
                self._edit(entries, path, lambda text, p=path: persist.networkd(text, p, mtu))
                dropins = f"{path}.d"
                for entry in self.system.listdir(dropins):
                    if entry.endswith(".conf"):
                        self._edit(entries, f"{dropins}/{entry}",
                                   lambda text, p=f"{dropins}/{entry}": persist.networkd(text, p, mtu, insert=False),
                                   optional=True)
            entries[:] = [e for e in entries if e["skipped"] or e["changed"] or "MTUBytes" in e["old"]
                          or not e["path"].endswith(".conf")]
        elif manager == "netplan":
            for path in claimed:
                if not path.startswith(NETPLAN_EDITABLE):
                    entries.append({"path": path, "changed": False, "backup_file": None,
                                    "skipped": f"{path}: netplan files outside {NETPLAN_EDITABLE} are generated or "
                                               "shipped by packages; define the MTU in /etc/netplan"})
                    continue
                self._edit(entries, path, lambda text: persist.netplan(text, name, mtu))
        elif manager == "ifupdown":
            for path in claimed:
                self._edit(entries, path, lambda text: persist.ifupdown(text, name, mtu))
        elif manager == "ifcfg":
            for path in claimed:
                self._edit(entries, path, lambda text: persist.ifcfg(text, mtu))
        elif manager == "NetworkManager":
            self.plan_nmcli(result, nmcli, name, mtu)
            return result
        usable = [e for e in entries if not e["skipped"]]
        skipped = [e["skipped"] for e in entries if e["skipped"]]
        if not usable:
            result["reason"] = "; ".join(skipped) or f"{manager} has no file for {name}"
            return result
        if skipped:
            self.module.warn(f"{name}: not persisted in every file of {manager}: " + "; ".join(skipped))
        result["status"] = "persisted" if any(e["changed"] for e in usable) else "unchanged"
        return result

    def plan_nmcli(self, result: dict[str, Any], nmcli: str | None, name: str, mtu: int) -> None:
        if not nmcli:
            result["reason"] = "NetworkManager owns the interface but nmcli is not installed"
            return
        rc, out, err = self.system.run([nmcli, "-g", "GENERAL.CON-UUID", "device", "show", name])
        uuid = out.strip().splitlines()[0] if rc == 0 and out.strip() else ""
        if not uuid:
            result["reason"] = f"NetworkManager has no active connection profile on {name} ({(err or out).strip() or 'none'})"
            return
        rc, out, err = self.system.run([nmcli, "-g", "connection.type", "connection", "show", "uuid", uuid])
        try:
            setting = persist.nm_mtu_setting(out.strip() if rc == 0 else "")
        except ValueError as exc:
            result["reason"] = f"profile {uuid}: {exc}"
            return
        rc, out, err = self.system.run([nmcli, "-g", setting, "connection", "show", "uuid", uuid])
        if rc != 0:
            result["reason"] = f"cannot read {setting} of profile {uuid}: {(err or out).strip()}"
            return
        current = persist.nm_mtu_value(out)
        result["nm"] = {"uuid": uuid, "setting": setting, "previous": current}
        result["status"] = "unchanged"
        if current != mtu:
            result["status"] = "persisted"
            result["commands"] = persist.nm_commands(nmcli, uuid, name, setting, mtu)
            self.diff.add(f"nmcli connection {uuid} {setting}", f"{current or 'auto'}\n", f"{mtu}\n")

    def boot_persistence(self, name: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Whether the MTU is in what the host applies at boot: the files (or profile) and the unit that loads them."""
        if plan["status"] not in ("persisted", "unchanged"):
            return boot.runtime_only(plan["reason"])
        manager = plan["manager"]
        written = [e["path"] for e in plan["files"] if not e["skipped"]]
        texts = [text for path, text in sorted(owner_files(manager, self.manager_files).items())]
        texts += [e["new"] for e in plan["files"] if not e["skipped"]]
        if manager == "ifupdown" and not any(boot.ifupdown_auto(text, name) for text in texts):
            return boot.runtime_only(f"{', '.join(written)} has no 'auto {name}' or 'allow-hotplug {name}' line: ifupdown "
                                     f"does not bring {name} up at boot, only 'ifup {name}' applies the MTU", written)
        what = f"NetworkManager profile {plan['nm']['uuid']}" if manager == "NetworkManager" else None
        units = {unit: self.system.unit_state(unit) for unit in boot.manager_units(manager, name, texts)}
        return boot.decide(written, units, what=what)

    # -- applying --

    def set_and_check(self, index: int, name: str, mtu: int) -> None:
        try:
            self.system.set_mtu(index, mtu)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # pyroute2's NetlinkError carries the kernel's errno; anything else is as unexpected.
            raise LinkMtuError(f"the kernel refused MTU {mtu} on {name}: {exc}") from exc
        link = self.system.link(name)
        if link is None or link["mtu"] != mtu:
            got = link["mtu"] if link else "no interface"
            raise LinkMtuError(f"{name} reports MTU {got} after setting {mtu}")

    def rollback(self, index: int, name: str, previous: int, why: str) -> None:
        try:
            self.set_and_check(index, name, previous)
        except LinkMtuError as exc:
            self.result["changed"] = True
            raise LinkMtuError(f"{why}; restoring MTU {previous} on {name} failed too: {exc}") from exc
        self.result.update(rolled_back=True, changed=False, mtu=previous)
        raise LinkMtuError(f"{why}; restored the previous MTU {previous} on {name}")

    def verify(self, control: dict[str, Any], mtu: int) -> tuple[bool, str]:
        ping = self.system.which("ping")
        address = control["client"]
        rc, out, err = self.system.run(ping_argv(ping, address, mtu))
        if rc == 0:
            return True, f"{address} answered don't-fragment pings of {mtu} bytes"
        limit = ping_limit(out, err)
        if limit and limit < mtu:
            # A router beyond this link (or a cached PMTU) says the path is smaller: the link itself
            # carried the packet; the controller must still answer at the path's size.
            rc, out, err = self.system.run(ping_argv(ping, address, limit))
            if rc == 0:
                return True, (f"{address} answered don't-fragment pings of {limit} bytes, the path MTU "
                              f"reported for {mtu}-byte packets")
        detail = (err or out).strip().splitlines()
        return False, (f"{address} (the controller) did not answer don't-fragment pings of {mtu} bytes after the "
                       f"change ({detail[-1] if detail else 'no reply'})")

    def apply_files(self, entries: list[dict[str, Any]]) -> None:
        written: list[dict[str, Any]] = []
        try:
            for entry in entries:
                if entry.get("changed"):
                    entry["backup_file"] = self.system.replace_file(entry["path"], entry["new"], self.params["backup"])
                    written.append(entry)
        except (OSError, ValueError) as exc:
            for done in reversed(written):
                try:
                    self.system.replace_file(done["path"], done["old"])
                except (OSError, ValueError):
                    pass
            raise LinkMtuError(f"writing {entry['path']} failed: {exc}; files already written were restored") from exc

    def apply_commands(self, plan: dict[str, Any]) -> None:
        for argv in plan["commands"]:
            rc, out, err = self.system.run(argv)
            if rc != 0:
                detail = (err or out).strip()
                nm = plan.get("nm") or {}
                if nm and argv[1:3] != ["connection", "modify"]:
                    self.system.run(argv[:1] + ["connection", "modify", nm["uuid"], nm["setting"], str(nm["previous"] or 0)])
                raise LinkMtuError(f"{' '.join(argv)} failed (rc={rc}): {detail}")

    # -- main flow --

    def run(self) -> dict[str, Any]:
        params = self.params
        result = self.result
        try:
            name = validate_ifname(params["name"])
        except ValueError as exc:
            raise LinkMtuError(str(exc)) from exc
        link = self.system.link(name)
        links = self.system.links()
        control = self.control_connection(links)
        result["control_connection"] = {k: v for k, v in control.items() if k != "indexes"} if control else None
        if link is None:
            here = ", ".join(sorted(item["name"] for item in links))
            raise LinkMtuError(f"no interface named {name!r} in this host's network namespace (interfaces here: {here}); "
                               "check the name, or create the interface first")
        iface = facts.interface_facts([link], self.system.addresses(), [name] if gather.is_wireguard(self.system, link) else [])[name]
        previous = link["mtu"]
        result["previous_mtu"] = previous
        result["control_interface"] = is_control = control is not None and link["index"] in control["indexes"]

        computed = self.compute(link, iface) if params["path_mtu"] is not None else None
        wanted = computed.pop("mtu") if computed else params["mtu"]
        try:
            mtu = overhead.validate_mtu(wanted, iface["ipv6"], min_mtu=iface["min_mtu"], max_mtu=iface["max_mtu"])
        except ValueError as exc:
            extra = f" (computed from path_mtu {computed['path_mtu']} - {computed['overhead']} bytes of {computed['encapsulation']})" if computed else ""
            raise LinkMtuError(f"{name}: {exc}{extra}; nothing was changed") from exc
        result["computed"] = computed
        runtime = mtu != previous
        result["runtime_changed"] = runtime

        if runtime and is_control:
            if not params["allow_control_interface"]:
                raise LinkMtuError(
                    f"{name} carries this run's control connection (SSH from {control['client']} to "
                    f"{control['server'] or 'this host'}); changing its MTU from {previous} to {mtu} can cut the run off. "
                    "Nothing was changed. Set allow_control_interface: true to change it anyway: the module then checks "
                    "that the controller still answers full-size packets and restores the MTU if not")
            if not self.system.which("ping"):
                raise LinkMtuError(f"{name} carries the control connection and changing it needs 'ping' (iputils-ping) to "
                                   "verify the controller still answers; install it. Nothing was changed")

        self.diff.add(f"{name} (runtime)", f"mtu: {previous}\n", f"mtu: {mtu}\n")
        plan = self.plan_persist(name, mtu)
        for entry in plan["files"]:
            if entry.get("changed"):
                self.diff.add(entry["path"], persist.redact(entry["old"]), persist.redact(entry["new"]))
        result["changed"] = runtime or plan["status"] == "persisted"
        result["mtu"] = mtu
        result["verified"] = None
        if plan["status"] == "not_persisted":
            self.module.warn(f"MTU of {name} not persisted: {plan['reason']}")
        survives = self.boot_persistence(name, plan)
        if survives["state"] != "boot" and plan["status"] in ("persisted", "unchanged"):
            self.module.warn(f"MTU of {name} may not survive a reboot: {survives['reason']}")

        if not self.module.check_mode:
            if runtime:
                try:
                    self.set_and_check(link["index"], name, mtu)
                except LinkMtuError as exc:
                    now = self.system.link(name)
                    if now is not None and now["mtu"] != previous:
                        self.rollback(link["index"], name, previous, str(exc))
                    raise
                if is_control:
                    ok, how = self.verify(control, mtu)
                    result["verified"], result["verification"] = ok, how
                    if not ok:
                        self.rollback(link["index"], name, previous, how)
            try:
                self.apply_files(plan["files"])
                self.apply_commands(plan)
            except LinkMtuError as exc:
                if runtime:
                    self.rollback(link["index"], name, previous, str(exc))
                raise
        result["persist"] = {
            "manager": plan["manager"], "status": plan["status"], "reason": plan["reason"],
            "files": [{k: e.get(k) for k in ("path", "changed", "backup_file", "skipped")} for e in plan["files"]],
            "commands": plan["commands"],
        }
        result["persistence"] = survives
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True, "aliases": ["interface"]},
            "mtu": {"type": "int"},
            "path_mtu": {"type": "int"},
            "encapsulation": {"type": "str"},
            "outer_family": {"type": "str", "choices": ["ipv4", "ipv6"]},
            "overhead_options": {"type": "dict"},
            "persist": {"type": "str", "default": "auto", "choices": PERSIST_CHOICES},
            "backup": {"type": "bool", "default": False},
            "allow_control_interface": {"type": "bool", "default": False},
        },
        mutually_exclusive=[("mtu", "path_mtu")],
        required_one_of=[("mtu", "path_mtu")],
        required_by={"encapsulation": "path_mtu", "outer_family": "path_mtu", "overhead_options": "path_mtu"},
        supports_check_mode=True,
    )
    require_pyroute2(module)
    system = System(module)
    runner = LinkMtu(module, system)
    try:
        result = runner.run()
    except LinkMtuError as exc:
        module.fail_json(msg=str(exc), **runner.result)
    finally:
        system.close()
    if module._diff:
        result["diff"] = runner.diff.entries
    module.exit_json(**result)


if __name__ == "__main__":
    main()
