# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading a host's MTU-related state through the System seam; shared by mtu_facts and link_mtu.

The parsing and derivation are pure (module_utils/links/facts.py); this module only decides what to
read and hands it over. ``warn`` is the module's warn callable.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.links import facts

SUBSETS = ("tunnels", "sysctls", "pmtu_exceptions", "firewall", "managers")
WG_SOCKET_DIR = "/var/run/wireguard"
MAX_FILES_PER_DIR = 200

Warn = Callable[[str], None]


def is_wireguard(system, link: dict[str, Any]) -> bool:
    # wireguard-go is a plain tun device; its control socket gives it away.
    return link.get("kind") == "wireguard" or (
        link.get("kind") == "tun" and system.exists(f"{WG_SOCKET_DIR}/{link['name']}.sock"))


def wireguard_dump(system, name: str, warn: Warn) -> dict[str, Any] | None:
    """Parsed ``wg show NAME dump``; None (with a warning) when it cannot be read."""
    wg = system.which("wg")
    if not wg:
        warn(f"{name} is a WireGuard interface but 'wg' (wireguard-tools) is not installed: "
             "peers and endpoints are unknown")
        return None
    rc, out, err = system.run([wg, "show", name, "dump"])
    if rc != 0:
        warn(f"'wg show {name} dump' failed (rc={rc}): {err.strip()}; peers and endpoints are unknown")
        return None
    try:
        return facts.parse_wg_dump(out)
    except ValueError as exc:
        warn(f"{name}: {exc}")
        return None


def wireguard(system, links: list[dict[str, Any]], warn: Warn) -> dict[str, dict[str, Any] | None]:
    """WireGuard interfaces of this namespace -> parsed ``wg show IF dump`` (None when unreadable)."""
    here = {link["name"] for link in links}
    names = {link["name"] for link in links if is_wireguard(system, link)}
    wg = system.which("wg")
    if wg:
        rc, out, dummy = system.run([wg, "show", "interfaces"])
        if rc == 0:
            names |= set(facts.parse_wg_interfaces(out)) & here  # the socket directory is not per namespace
    return {name: wireguard_dump(system, name, warn) for name in sorted(names)}


def tunnel(system, link: dict[str, Any], kind: str, dump: dict[str, Any] | None,
           by_index: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """One tunnel's facts: endpoints, the routes to them (cached PMTU included), overhead."""
    plan = facts.tunnel_plan(link, kind, dump)
    if plan is None:
        return None
    routes = {key: system.route_get(*key) for key in facts.route_lookups({link["name"]: plan})}
    return facts.build_tunnel(link["name"], plan, by_index, routes, link["mtu"])


def tunnels(system, links: list[dict[str, Any]], interfaces: dict[str, dict[str, Any]],
            dumps: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    by_index = {link["index"]: link for link in links}
    found = {}
    for link in links:
        kind = interfaces[link["name"]]["kind"]
        if kind in facts.TUNNEL_KINDS:
            built = tunnel(system, link, kind, dumps.get(link["name"]), by_index)
            if built is not None:
                found[link["name"]] = built
    return dict(sorted(found.items()))


def sysctls(system) -> dict[str, int | None]:
    return facts.sysctl_facts({key: system.read_text(f"/proc/sys/{path}") for key, path in facts.SYSCTLS.items()})


def pmtu_exceptions(system, warn: Warn) -> list[dict[str, Any]]:
    ip = system.which("ip")
    if not ip:
        warn("'ip' (iproute2) is not installed: cached PMTU exceptions are unknown")
        return []
    result = []
    for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
        rc, out, err = system.run([ip, "-j", flag, "route", "show", "cache"])
        if rc == 0:
            try:
                result.extend(facts.parse_route_cache_json(out, family))
                continue
            except ValueError:
                pass  # iproute2 before JSON support prints text even with -j
        rc, out, err = system.run([ip, flag, "route", "show", "cache"])
        if rc == 0:
            result.extend(facts.parse_route_cache_text(out, family))
        else:
            warn(f"'ip {flag} route show cache' failed (rc={rc}): {err.strip()}")
    return result


def output(system, argv: list[str]) -> str | None:
    """stdout of a command found on PATH, or None when it is missing or fails."""
    path = system.which(argv[0])
    if not path:
        return None
    rc, out, dummy = system.run([path] + argv[1:])
    return out if rc == 0 or argv[0] == "firewall-cmd" else None  # firewall-cmd --state: rc 252 = not running


def firewall(system) -> dict[str, Any]:
    legacy = None
    # Only look at legacy tables the kernel already has: iptables-legacy-save would load x_tables.
    if any((system.read_text(f"/proc/net/{name}") or "").strip() for name in ("ip_tables_names", "ip6_tables_names")):
        legacy = "\n".join(filter(None, (output(system, [cmd]) for cmd in ("iptables-legacy-save", "ip6tables-legacy-save"))))
    return facts.firewall_facts(
        firewalld_state=output(system, ["firewall-cmd", "--state"]),
        nft_tables=output(system, ["nft", "list", "tables"]),
        iptables_version=output(system, ["iptables", "-V"]),
        legacy_save=legacy,
    )


def manager_files(system) -> dict[str, str]:
    """Network configuration files by path (WireGuard configs by name only: never read private keys)."""
    paths = list(facts.MANAGER_FILES)
    for directory in (d for dirs in facts.MANAGER_DIRS.values() for d in dirs):
        paths.extend(f"{directory}/{entry}" for entry in system.listdir(directory)[:MAX_FILES_PER_DIR])
    files = {}
    for path in paths:
        if path.startswith("/etc/wireguard/"):
            if path.endswith(".conf"):
                files[path] = ""  # existence is the evidence
            continue
        text = system.read_text(path)
        if text is not None:
            files[path] = text
    return files


def nm_devices(system) -> dict[str, dict[str, str]] | None:
    out = output(system, ["nmcli", "-t", "-f", "DEVICE,STATE,CONNECTION", "device"])
    return facts.parse_nmcli_devices(out) if out is not None else None


def managers(system, names: list[str]) -> dict[str, dict[str, Any]]:
    return facts.network_managers(names, manager_files(system), nm_devices(system))


def validate_subset(subset: Any) -> list[str]:
    """An empty list is a mistake (a list emptied by a template), not a request for nothing."""
    if not subset:
        raise ValueError("gather_subset must name at least one subset (all, " + ", ".join(SUBSETS) + ")")
    return list(subset)


def gather(system, subset: list[str], warn: Warn) -> dict[str, Any]:
    wanted = set(SUBSETS) if "all" in subset else set(subset)
    links = system.links()
    dumps = wireguard(system, links, warn)
    interfaces = facts.interface_facts(links, system.addresses(), dumps)
    result: dict[str, Any] = {"interfaces": interfaces}
    if "tunnels" in wanted:
        result["tunnels"] = tunnels(system, links, interfaces, dumps)
    if "sysctls" in wanted:
        result["sysctls"] = sysctls(system)
    if "pmtu_exceptions" in wanted:
        result["pmtu_exceptions"] = pmtu_exceptions(system, warn)
    if "firewall" in wanted:
        result["firewall"] = firewall(system)
    if "managers" in wanted:
        for name, owner in managers(system, sorted(interfaces)).items():
            interfaces[name].update(owner)
    return result
