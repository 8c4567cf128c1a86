# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The link_mtu module's work: decide an interface's MTU, guard the control connection, set, verify, persist.

The module hands in ``LinkMtuParams`` and the ``System`` seam (host/system.py); every host access
goes through that seam, and which network manager file keeps the MTU is host/persist_dispatch.py's
business. A failure raises ``ModuleFailure`` with the result so far (what was rolled back, what stays).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ansible_collections.netpath.mtu.plugins.module_utils.host import gather
from ansible_collections.netpath.mtu.plugins.module_utils.host import persist
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.host.persist_dispatch import MtuPersistence, PersistError, diff_items
from ansible_collections.netpath.mtu.plugins.module_utils.links import facts
from ansible_collections.netpath.mtu.plugins.module_utils.links import overhead

PING_HEADERS = {"ipv4": 28, "ipv6": 48}  # IP + ICMP echo header: ping -s N sends N + this


class LinkMtuError(Exception):
    """Fails the module with ``msg`` and the result gathered so far."""


@dataclass(frozen=True)
class LinkMtuParams:
    """The task's arguments, typed; ``mtu`` and ``path_mtu`` exclude each other (the argument spec says so)."""

    name: str
    mtu: int | None = None
    path_mtu: int | None = None
    encapsulation: str | None = None
    outer_family: str | None = None
    overhead_options: dict[str, Any] = field(default_factory=dict)
    persist: str = "auto"
    backup: bool = False
    allow_control_interface: bool = False
    check_mode: bool = False
    diff: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, check_mode: bool = False, diff: bool = False) -> LinkMtuParams:
        return cls(name=params["name"], mtu=params.get("mtu"), path_mtu=params.get("path_mtu"),
                   encapsulation=params.get("encapsulation"), outer_family=params.get("outer_family"),
                   overhead_options=dict(params.get("overhead_options") or {}),
                   persist=params.get("persist") or "auto", backup=bool(params.get("backup")),
                   allow_control_interface=bool(params.get("allow_control_interface")),
                   check_mode=check_mode, diff=diff)


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


class Diff:
    """Before/after per item; the changed flag and the diff output come from the same records."""

    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def add(self, header: str, before: str, after: str) -> bool:
        if before == after:
            return False
        self.entries.append({"before_header": header, "after_header": header, "before": before, "after": after})
        return True


# --- the backend -------------------------------------------------------------------------------

class LinkMtu:
    def __init__(self, params: LinkMtuParams, system: Any, warn: Callable[[str], None]):
        self.params = params
        self.system = system
        self.warn = warn
        self.persistence = MtuPersistence(system, warn)
        self.diff = Diff()
        self.result: dict[str, Any] = {"changed": False, "interface": params.name, "rolled_back": False,
                                       "control_connection": None}

    # -- discovery --

    def discover_tunnel(self, link: dict[str, Any], kind: str) -> dict[str, Any] | None:
        dump = gather.wireguard_dump(self.system, link["name"], self.warn) if kind == "wireguard" else None
        by_index = {item["index"]: item for item in self.system.links()}
        return gather.tunnel(self.system, link, kind, dump, by_index)

    def check_overhead_options(self, kind: str) -> None:
        """The task's own overhead_options, alone, so a bad one is reported under its name."""
        options = self.params.overhead_options
        if not options:
            return
        try:
            overhead.normalize_kind(kind, self.params.outer_family)
        except ValueError:
            return  # the encapsulation is at fault: compute() reports it
        try:
            overhead.encap_overhead(kind, self.params.outer_family or worst_family(kind), **options)
        except ValueError as exc:
            raise LinkMtuError(f"overhead_options: {exc}; nothing was changed") from exc
        except TypeError as exc:  # keys that are not identifiers cannot be keyword arguments
            raise LinkMtuError(f"overhead_options: {exc}; nothing was changed") from exc

    def compute(self, link: dict[str, Any], iface: dict[str, Any]) -> dict[str, Any]:
        params = self.params
        tunnel = self.discover_tunnel(link, iface["kind"]) if iface["kind"] in facts.TUNNEL_KINDS else None
        given = params.encapsulation
        if not given and tunnel is None:
            raise LinkMtuError(f"{link['name']} is a {iface['kind']} interface, not a tunnel whose encapsulation can be "
                               "discovered; give encapsulation (for example wireguard, vxlan, gre, esp) with path_mtu, "
                               "or set mtu directly")
        kind = given or tunnel["kind"]
        self.check_overhead_options(kind)
        try:
            same = tunnel is not None and (not given or overhead.normalize_kind(given)[0] == overhead.normalize_kind(tunnel["kind"])[0])
            options: dict[str, Any] = dict(tunnel["overhead_options"]) if same else {}
            options.update(params.overhead_options)
            family = params.outer_family
            if family is None and same and tunnel["outer_family"] in ("ipv4", "ipv6"):
                family = tunnel["outer_family"]
            if family is None:
                family = worst_family(kind)
            mtu = overhead.tunnel_mtu(params.path_mtu, kind, family, inner_ipv6=iface["ipv6"], **options)
            size = overhead.encap_overhead(kind, family, **options)
        except ValueError as exc:
            raise LinkMtuError(f"{link['name']}: cannot compute the tunnel MTU from path_mtu {params.path_mtu}: {exc}") from exc
        return {"mtu": mtu, "path_mtu": params.path_mtu, "encapsulation": kind, "outer_family": family,
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

    def apply(self, link: dict[str, Any], mtu: int, runtime: bool, control: dict[str, Any] | None,
              plan: dict[str, Any]) -> None:
        """Set the MTU (rolled back when the kernel or the controller disagrees), then persist it."""
        name, previous, is_control = link["name"], link["mtu"], self.result["control_interface"]
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
                self.result["verified"], self.result["verification"] = ok, how
                if not ok:
                    self.rollback(link["index"], name, previous, how)
        try:
            self.persistence.apply_files(plan["files"], self.params.backup)
            self.persistence.apply_commands(plan)
        except PersistError as exc:
            if runtime:
                self.rollback(link["index"], name, previous, str(exc))
            raise LinkMtuError(str(exc)) from exc

    # -- main flow --

    def decide(self, name: str, link: dict[str, Any], control: dict[str, Any] | None) -> int:
        """The MTU to set (given or computed), checked against the interface's limits and the control connection."""
        result = self.result
        iface = facts.interface_facts([link], self.system.addresses(), [name] if gather.is_wireguard(self.system, link) else [])[name]
        previous = link["mtu"]
        computed = self.compute(link, iface) if self.params.path_mtu is not None else None
        wanted = computed.pop("mtu") if computed else self.params.mtu
        try:
            mtu = overhead.validate_mtu(wanted, iface["ipv6"], min_mtu=iface["min_mtu"], max_mtu=iface["max_mtu"])
        except ValueError as exc:
            extra = f" (computed from path_mtu {computed['path_mtu']} - {computed['overhead']} bytes of {computed['encapsulation']})" if computed else ""
            raise LinkMtuError(f"{name}: {exc}{extra}; nothing was changed") from exc
        result["computed"] = computed
        result["runtime_changed"] = mtu != previous
        if mtu != previous and result["control_interface"]:
            if not self.params.allow_control_interface:
                raise LinkMtuError(
                    f"{name} carries this run's control connection (SSH from {control['client']} to "
                    f"{control['server'] or 'this host'}); changing its MTU from {previous} to {mtu} can cut the run off. "
                    "Nothing was changed. Set allow_control_interface: true to change it anyway: the module then checks "
                    "that the controller still answers full-size packets and restores the MTU if not")
            if not self.system.which("ping"):
                raise LinkMtuError(f"{name} carries the control connection and changing it needs 'ping' (iputils-ping) to "
                                   "verify the controller still answers; install it. Nothing was changed")
        return mtu

    def run(self) -> dict[str, Any]:
        result = self.result
        try:
            name = validate_ifname(self.params.name)
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
        previous = link["mtu"]
        result["previous_mtu"] = previous
        result["control_interface"] = control is not None and link["index"] in control["indexes"]
        mtu = self.decide(name, link, control)
        runtime = mtu != previous

        self.diff.add(f"{name} (runtime)", f"mtu: {previous}\n", f"mtu: {mtu}\n")
        plan = self.persistence.plan(name, mtu, self.params.persist)
        refused = [entry["refused"] for entry in plan["files"] if entry.get("refused")]
        if refused:
            raise LinkMtuError(f"{'; '.join(refused)}; nothing was changed")
        for header, before, after in diff_items(plan, mtu):
            self.diff.add(header, before, after)
        result["changed"] = runtime or plan["status"] == "persisted"
        result["mtu"] = mtu
        result["verified"] = None
        if plan["status"] == "not_persisted":
            self.warn(f"MTU of {name} not persisted: {plan['reason']}")
        survives = self.persistence.boot_persistence(name, plan)
        if survives["state"] != "boot" and plan["status"] in ("persisted", "unchanged"):
            self.warn(f"MTU of {name} may not survive a reboot: {survives['reason']}")
        if not self.params.check_mode:
            self.apply(link, mtu, runtime, control, plan)
        result["persist"] = {
            "manager": plan["manager"], "status": plan["status"], "reason": plan["reason"],
            "files": [{k: e.get(k) for k in ("path", "changed", "backup_file", "skipped")} for e in plan["files"]],
            "commands": plan["commands"],
        }
        result["persistence"] = survives
        return result


def run(params: LinkMtuParams, system: Any, warn: Callable[[str], None]) -> dict[str, Any]:
    """The module's result; ``ModuleFailure`` with the result so far when the task fails."""
    backend = LinkMtu(params, system, warn)
    try:
        result = backend.run()
    except LinkMtuError as exc:
        raise ModuleFailure(str(exc), **backend.result) from exc
    if params.diff:
        result["diff"] = backend.diff.entries
    return result
