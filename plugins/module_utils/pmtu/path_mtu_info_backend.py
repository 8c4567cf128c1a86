# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""path_mtu_info without AnsibleModule: resolve the targets, look up their routes, run the searches.

``run(params, seams)`` returns the module's result or raises ``ModuleFailure``. Every host access
comes through ``Seams`` (routes, source selection, the prober, the PMTU cache guard, name resolution,
interface indexes, the clock), so tests hand in fakes; ``host_seams()`` builds the real ones.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any, Callable

from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu import probe_io
from ansible_collections.netpath.mtu.plugins.module_utils.pmtu.pmtu import (
    HEADER_LEN,
    MIN_MTU,
    PathSearch,
    run_search,
    unclear,
)
from ansible_collections.netpath.mtu.plugins.module_utils.wire import inet, netlink

FAMILIES = {"ipv4": 4, "ipv6": 6}
DEFAULT_PORT = {"udp": 33434, "tcp": 443}
MAX_TARGET_ERRORS = 3


@dataclass(frozen=True)
class Params:
    """The module's options, checked by ``check_params``."""

    targets: list[str]
    family: str
    method: str
    port: int | None  # None: the method's default (DEFAULT_PORT); icmp takes none
    timeout: float
    retries: int
    min_size: int | None
    max_size: int | None
    source: str | None
    interface: str | None
    locate_hop: bool
    max_hops: int
    rate_limit: int
    max_rounds: int
    unresolved: str
    recheck: bool
    ports: dict[str, int] | None = None  # target (as given) -> its tcp port, when it names none itself
    fallback: str | None = None  # "tcp": paths icmp leaves unclear are probed again by tcp to their port

    @classmethod
    def from_module(cls, params: dict[str, Any]) -> Params:
        """From ``module.params``; max_rounds defaults by method (UDP answers are rate-limited)."""
        values = {field.name: params.get(field.name, field.default) for field in fields(cls)}
        if values["port"] is None:
            values["port"] = DEFAULT_PORT.get(values["method"])
        if values["max_rounds"] is None:
            values["max_rounds"] = 12 if values["method"] == "udp" else 5
        if values["ports"]:  # templated values may arrive as strings
            values["ports"] = {str(t): int(v) if str(v).isdigit() else v for t, v in values["ports"].items()}
        return cls(**values)


@dataclass(frozen=True)
class Seams:
    """The host, as the backend reaches it."""

    route: Callable[..., netlink.Route]  # (family, target, source, oif); raises netlink.NoRoute
    source_for: Callable[[int, str, str | None], str]
    prober: Callable[..., probe_io.Prober]
    cache_guard: Callable[[list], probe_io.PmtuCacheGuard]
    getaddrinfo: Callable[..., list]
    if_index: Callable[[str], int]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    is_local: Callable[[str], bool]  # whether an address is this host's (for source)


def host_seams() -> Seams:
    return Seams(route=netlink.route_get, source_for=probe_io.source_for, prober=probe_io.Prober,
                 cache_guard=probe_io.PmtuCacheGuard, getaddrinfo=socket.getaddrinfo, if_index=socket.if_nametoindex,
                 clock=time.monotonic, sleep=time.sleep, is_local=netlink.is_local)


literal = inet.literal
split_port = inet.split_port  # the audit's plan splits its extra targets the same way


def resolve(target: str, family: str, getaddrinfo: Callable[..., list]) -> list[tuple[str, int]]:
    """(address, family) pairs to probe for one target; raises ValueError with a user-facing message."""
    ip = literal(target)
    if ip is not None:
        if family in FAMILIES and FAMILIES[family] != ip.version:
            raise ValueError(f"{target} is an IPv{ip.version} address but family is {family}")
        return [(str(ip), ip.version)]
    af = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(family, socket.AF_UNSPEC)
    try:
        infos = getaddrinfo(target, None, af, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ValueError(f"target {target!r} does not resolve: {exc.strerror}") from exc
    except UnicodeError as exc:  # the IDNA encoding refused the name
        raise ValueError(f"target {target!r} is not a valid host name") from exc
    found: list[tuple[str, int]] = []
    for info in infos:
        fam = 4 if info[0] == socket.AF_INET else 6
        addr = str(info[4][0])
        if (addr, fam) not in found:
            found.append((addr, fam))
    if family == "both":
        picked = []
        for fam in (4, 6):
            first = next((f for f in found if f[1] == fam), None)
            if first:
                picked.append(first)
        return picked
    return found[:1]


def target_errors(targets: list[str], method: str = "tcp") -> list[str]:
    """Targets that can never be probed: addresses without a routed scope, names that are none, ports
    where the method takes none."""
    errors: list[str] = []
    for given in targets:
        try:
            target, port = split_port(given)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if port is not None and method != "tcp":
            errors.append(f"targets: {given!r} names a port, which only method tcp uses")
            continue
        if literal(target) is not None:
            error = inet.check_address(target.split("%")[0], "targets:")
        else:
            error = inet.check_host_name(target, "targets:")
        if error and error not in errors:
            errors.append(error)
    if len(errors) > MAX_TARGET_ERRORS:  # one sentence, not one per target of a long list
        errors[MAX_TARGET_ERRORS:] = [f"targets: {len(errors) - MAX_TARGET_ERRORS} more like these"]
    return errors


def check_params(p: Params, is_local: Callable[[str], bool] | None = None) -> list[str]:
    """Every problem with the parameters; ``is_local`` (when given) says whether source is this host's."""
    errors = []
    if not p.targets:
        errors.append("targets must name at least one address or host")
    errors += target_errors(p.targets, p.method)
    if not 0 < p.timeout <= 60:
        errors.append(f"timeout must be between 0 and 60 seconds, got {p.timeout}")
    if not 0 <= p.retries <= 10:
        errors.append(f"retries must be between 0 and 10, got {p.retries}")
    if not 1 <= p.max_hops <= 64:
        errors.append(f"max_hops must be between 1 and 64, got {p.max_hops}")
    if p.rate_limit < 0:
        errors.append("rate_limit must be 0 (no limit) or a positive number of packets per second")
    if not 1 <= p.max_rounds <= 20:
        errors.append(f"max_rounds must be between 1 and 20, got {p.max_rounds}")
    errors += fallback_errors(p)
    if p.method == "icmp" and p.port is not None:
        errors.append("port applies to method tcp or udp only; remove it or set method")
    elif p.port is not None and not 1 <= p.port <= 65535:
        errors.append(f"port must be between 1 and 65535, got {p.port}")
    for opt in ("min_size", "max_size"):
        value = getattr(p, opt)
        if value is not None and not 68 <= value <= 65535:
            errors.append(f"{opt} must be between 68 and 65535, got {value}")
    if p.min_size and p.max_size and p.min_size > p.max_size:
        errors.append(f"min_size {p.min_size} is larger than max_size {p.max_size}")
    for error in (inet.check_local_address(p.source, "source", is_local) if p.source else None,
                  inet.check_interface_name(p.interface) if p.interface else None):
        if error:
            errors.append(error)
    return errors


def fallback_errors(p: Params) -> list[str]:
    """Problems with ports and fallback: the ports are tcp ports, the fallback follows icmp."""
    errors = []
    if p.fallback is not None and p.method != "icmp":
        errors.append(f"fallback {p.fallback} follows method icmp; with method {p.method} remove it")
    if p.ports and p.method != "tcp" and p.fallback != "tcp":
        errors.append("ports applies to method tcp or fallback tcp only; remove it or set one of them")
    for target, port in sorted((p.ports or {}).items()):
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            errors.append(f"ports: the port of {target!r} must be a number between 1 and 65535, got {port!r}")
    return errors


def base_result(target: str, address: str | None, family: int | None, method: str = "icmp",
                port: int | None = None) -> dict:
    return {
        "target": target, "address": address, "family": f"ipv{family}" if family else None, "source": None,
        "method": method, "port": port,
        "interface": None, "interface_mtu": None, "path_mtu": None, "mss": None,
        "status": "unreachable", "black_hole": False, "ptb_seen": False, "ptb_mtu": None,
        "ptb_source": None, "ptb_mismatch": False, "hop": None, "fragments_lost": None, "hops": None, "exact": False,
        "reason": "",
        "rechecked": False, "fallback_from": None, "rounds": 0, "probes_sent": 0, "duration_s": 0.0,
    }


def resolve_or_report(p: Params, seams: Seams, target: str) -> tuple[list[tuple[str, int]], str | None]:
    """The target's (address, family) pairs, or none and why, when unresolved=report; fails otherwise.
    ``target`` is the host part (without a port)."""
    try:
        pairs = resolve(target, p.family, seams.getaddrinfo)
        why = None if pairs else f"target {target!r} has no {p.family} address"
    except ValueError as exc:
        pairs, why = [], str(exc)
    # A literal of the wrong family is a mistake in the task, not something the resolver did not know.
    if why and (p.unresolved == "fail" or literal(target) is not None):
        raise ModuleFailure(why)
    for address, _family in pairs:
        problem = inet.scope_problem(ipaddress.ip_address(address))
        if problem:  # a name the resolver maps to an address no path leads to
            raise ModuleFailure(f"targets: {target} resolves to {address}, which is {problem}; {inet.UNICAST_HINT}")
    return pairs, why


def iface_index(seams: Seams, name: str | None) -> int | None:
    if not name:
        return None
    try:
        return seams.if_index(name)
    except OSError as exc:
        raise ModuleFailure(f"interface {name!r} does not exist on this host") from exc


def plan_paths(p: Params, seams: Seams) -> tuple[list[dict], dict, dict]:
    """Resolve targets and routes; return result stubs and, keyed by path, its search and a factory
    for a fresh one (a recheck starts over)."""
    results: list[dict] = []
    searches: dict = {}
    factories: dict = {}
    for given in p.targets:
        target, given_port = split_port(given)
        own_port = given_port or (p.ports or {}).get(given) if p.method == "tcp" else None
        port = (own_port or p.port) if p.method in ("tcp", "udp") else None
        pairs, why = resolve_or_report(p, seams, target)
        if why:
            results.append(dict(base_result(given, None, FAMILIES.get(p.family), p.method, port),
                                status="unresolved", reason=why))
        for address, fam in pairs:
            res = base_result(given, address, fam, p.method, port)
            results.append(res)
            if p.source and ipaddress.ip_address(p.source).version != fam:
                raise ModuleFailure(f"source {p.source} and target {target} ({address}) differ in family")
            try:
                route = seams.route(fam, address, p.source, iface_index(seams, p.interface))
                source = p.source or seams.source_for(fam, address, p.interface)
            except (netlink.NoRoute, OSError) as exc:
                res["reason"] = f"no local route: {exc}"
                continue
            res.update(source=source, interface=route.interface, interface_mtu=route.device_mtu)
            top = min(x for x in (p.max_size, route.device_mtu, 65535) if x)
            low = p.min_size or MIN_MTU[fam]
            if low > top:
                raise ModuleFailure(f"min_size {low} is larger than the {top}-byte limit towards {address}")
            key = probe_io.PathKey(address, fam, source, own_port or 0)
            if key not in factories:
                factories[key] = partial(
                    PathSearch, family=fam, min_size=max(low, MIN_MTU[fam]), max_size=top, tries=p.retries + 1,
                    locate_hop=p.locate_hop, max_hops=p.max_hops, max_rounds=p.max_rounds,
                    # Linux answers 6 port unreachables in a burst, then 1 per second, per peer.
                    answer_budget=6 if p.method == "udp" else None,
                )
                try:
                    searches[key] = factories[key]()  # fails on impossible sizes before anything is sent
                except ValueError as exc:
                    raise ModuleFailure(f"{target}: {exc}") from exc
            res["_key"] = key
    return results, searches, factories


def network_of(key: probe_io.PathKey) -> tuple:
    """Paths into one /24 (IPv4) or /64 (IPv6) from one source share a hop search."""
    prefix = 24 if key.family == 4 else 64
    return key.source, str(ipaddress.ip_network(f"{key.target}/{prefix}", strict=False))


def probe(p: Params, seams: Seams, searches: dict) -> tuple[dict, list[str], float]:
    """Run the rounds; return when (seconds from the start) each path was decided, removed exceptions, and
    the run's duration."""
    decided: dict = {}
    if not searches:
        return decided, [], 0.0
    prober = seams.prober(method=p.method, port=p.port, interface=p.interface, rate=p.rate_limit)
    guard = seams.cache_guard(list(searches)) if p.method in ("icmp", "tcp") else None
    try:
        prober.open({key.family for key in searches})
    except probe_io.ProbeError as exc:
        raise ModuleFailure(str(exc)) from exc
    start = seams.clock()

    def send_round(batch, settled):
        outcomes = prober.send_round(batch, settled, p.timeout)
        end = seams.clock()
        for key, path_end in settled.ends.items():
            # A path is decided when its own round could end, even if the round goes on for others.
            decided[key] = (min(path_end, end) if math.isfinite(path_end) else end) - start
        return outcomes

    try:
        run_search(searches, send_round, clock=seams.clock, sleep=seams.sleep, group_of=network_of)
    finally:
        prober.close()
        removed = guard.cleanup() if guard else []
    return decided, removed, seams.clock() - start


def probe_with_recheck(p: Params, seams: Seams, searches: dict, factories: dict) -> tuple[dict, list[str], set]:
    """Run the searches (and, with recheck, fresh ones for the unclear paths; ``searches`` then holds
    those): when each path was decided, the removed PMTU exceptions, and the rechecked paths."""
    decided, removed, elapsed = probe(p, seams, searches)
    again: set = set()
    if p.recheck:
        again = {key for key, search in searches.items() if unclear(search.result())}
    if again:
        second = {key: factories[key]() for key in again}
        decided_again, removed_again, _elapsed = probe(p, seams, second)
        searches.update(second)
        decided.update({key: elapsed + at for key, at in decided_again.items()})
        removed += [addr for addr in removed_again if addr not in removed]
    return decided, removed, again


def tcp_verdict(verdict: dict, search: PathSearch, port: int) -> dict:
    """A TCP path whose SYNs all met silence, the small ones too, is a port a firewall drops: filtered,
    never a black hole (one needs small probes that pass)."""
    if verdict["status"] != "unreachable" or search.reached() or search.errors:
        return verdict
    return dict(verdict, status="filtered",
                reason=f"no SYN-ACK, RST or ICMP error answered any TCP SYN to port {port}, the small ones"
                       " included: a firewall drops them")


def probe_targets(p: Params, seams: Seams) -> tuple[list[dict], list[str]]:
    """One result per probed (or unresolved) target address, and the removed PMTU exceptions."""
    results, searches, factories = plan_paths(p, seams)
    decided, removed, rechecked = probe_with_recheck(p, seams, searches, factories)
    for res in results:
        key = res.pop("_key", None)
        if key is None:
            continue
        verdict = searches[key].result()
        if p.method == "tcp":
            verdict = tcp_verdict(verdict, searches[key], res["port"])
        res.update({k: v for k, v in verdict.items() if k in res})
        if res["path_mtu"] is not None:
            res["mss"] = res["path_mtu"] - HEADER_LEN[key.family] - 20
        res["rechecked"] = key in rechecked
        res["duration_s"] = round(decided.get(key, 0.0), 3)
    return results, removed


UNANSWERED = ("unreachable", "filtered")


def with_fallback(p: Params, seams: Seams, results: list[dict]) -> tuple[list[dict], list[str]]:
    """The icmp results, where icmp got no answer replaced by a tcp probe's answer to the target's port
    (in one more run of the same module call, so an audit costs no extra task). A path without a local
    route, or one tcp gets no answer on either, keeps its icmp result with the tcp reason added."""
    again = [r for r in results if r["status"] in UNANSWERED and r["interface"] and r["target"] in (p.ports or {})]
    if not again:
        return results, []
    targets = list(dict.fromkeys(r["target"] for r in again))
    tcp = replace(p, targets=targets, method="tcp", port=DEFAULT_PORT["tcp"], fallback=None)
    second, removed = probe_targets(tcp, seams)
    answers = {(r["target"], r["address"]): r for r in second}
    unclear_ids = {id(r) for r in again}
    out = []
    for res in results:
        answer = answers.get((res["target"], res["address"])) if id(res) in unclear_ids else None
        if answer is None:
            out.append(res)
        elif answer["status"] in UNANSWERED:
            out.append(dict(res, reason=f"{res['reason']}; by tcp to port {answer['port']}: {answer['reason']}"))
        else:
            out.append(dict(answer, fallback_from={"method": res["method"], "status": res["status"], "reason": res["reason"]}))
    return out, removed


def run(p: Params, seams: Seams) -> dict:
    """The module's result: one entry per probed (or unresolved) target address."""
    errors = check_params(p, seams.is_local)
    if errors:
        raise ModuleFailure("; ".join(errors))
    results, removed = probe_targets(p, seams)
    if p.fallback == "tcp":
        results, removed_again = with_fallback(p, seams, results)
        removed += [addr for addr in removed_again if addr not in removed]
    return {"changed": False, "results": results, "pmtu_exceptions_removed": removed}
