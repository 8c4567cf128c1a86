"""What a bad-input case could change on a lab host, read from inside its namespace; and putting it back.

snapshot() returns a dict of comparable parts: links and MTUs (ip -j link), addresses (ip -j addr),
routes, the nftables ruleset (nft -j), iptables-save/ip6tables-save (nft and legacy), a few sysctls,
listening sockets, the content, mode and mtime of every file of the host's own /etc tree and of its
fixture directory. temporary_names() is for the machine as a whole (its / and /etc are every lab host's
too): names where a module replacing "/etc" would leave its temporary file. Traffic counters and address lifetimes are left out: they change
without anyone changing the host.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from typing import Any, Callable

SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.tcp_mtu_probing",
           "net.ipv4.ip_no_pmtu_disc")
LAB_WORKDIRS = "/var/lib/netpath-mtu-lab"
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")
VOLATILE_KEYS = {"valid_life_time", "preferred_life_time", "expires", "packets", "bytes", "handle"}


def run(argv: list[str], stdin: str | None = None) -> str:
    """A command's output; "" (with the error noted) when the tool is missing or fails."""
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, LC_ALL="C"), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<{argv[0]}: {exc}>"
    return proc.stdout if proc.returncode == 0 else f"<{argv[0]} rc={proc.returncode}: {proc.stderr.strip()}>"


def stable(value: Any) -> Any:
    """JSON without the parts traffic and time change (counters, lifetimes, rule handles)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def parse_json(out: str) -> Any:
    try:
        return stable(json.loads(out))
    except ValueError:
        return out


def by_table(doc: Any) -> Any:
    """nft -j output with its tables in a fixed order (a restored ruleset lists them in load order);
    the order of chains and rules inside a table is kept: it matters."""
    if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
        return doc

    def table(item: dict[str, Any]) -> tuple[str, str]:
        body = next(iter(item.values()))
        if not isinstance(body, dict) or "family" not in body:
            return ("", "")
        return (body["family"], body.get("name", "") if "table" in item else body.get("table", ""))

    return {"nftables": sorted(doc["nftables"], key=table)}


def without_counters(out: str) -> str:
    """iptables-save output without its dated comments and chain counters."""
    return "".join(re.sub(r" \[\d+:\d+\]$", "", line) + "\n" for line in out.splitlines() if not line.startswith("#"))


# part -> (command, how its output is made comparable)
COMMANDS: dict[str, tuple[list[str], Callable[[str], Any]]] = {
    "links": (["ip", "-j", "-d", "link", "show"], parse_json),
    "addresses": (["ip", "-j", "addr", "show"], parse_json),
    "routes4": (["ip", "-j", "-4", "route", "show", "table", "all"], parse_json),
    "routes6": (["ip", "-j", "-6", "route", "show", "table", "all"], parse_json),
    "nft": (["nft", "-j", "list", "ruleset"], lambda out: by_table(parse_json(out))),
    "iptables": (["iptables-save"], without_counters),
    "ip6tables": (["ip6tables-save"], without_counters),
    "iptables_legacy": (["iptables-legacy-save"], without_counters),
    "ip6tables_legacy": (["ip6tables-legacy-save"], without_counters),
    "sysctls": (["sysctl"] + list(SYSCTLS), str),
    "listening": (["ss", "-Hltun"], str),
}


def run_all(commands: dict[str, list[str]]) -> dict[str, str]:
    """Several commands side by side (a snapshot per case: wall time matters); outputs as run() gives them."""
    procs = {}
    for part, argv in commands.items():
        try:
            procs[part] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                           env=dict(os.environ, LC_ALL="C"))
        except OSError as exc:
            procs[part] = exc
    outputs = {}
    for part, proc in procs.items():
        if isinstance(proc, OSError):
            outputs[part] = f"<{commands[part][0]}: {proc}>"
            continue
        out, err = proc.communicate(timeout=30)
        outputs[part] = out if proc.returncode == 0 else f"<{commands[part][0]} rc={proc.returncode}: {err.strip()}>"
    return outputs


def files(root: str) -> dict[str, list[Any]]:
    """path -> [sha256, mode, mtime_ns] of every file under root; directories too (no hash)."""
    found: dict[str, list[Any]] = {}
    for top, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(dirs):
            st = os.lstat(os.path.join(top, name))
            found[os.path.join(top, name) + "/"] = ["dir", st.st_mode, None]
        for name in sorted(names):
            path = os.path.join(top, name)
            st = os.lstat(path)
            digest = "link:" + os.readlink(path) if os.path.islink(path) else ""
            if not digest:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            found[path] = [digest, st.st_mode, st.st_mtime_ns]
    return found


def temporary_names() -> list[str]:
    """Names at the top of / and /etc that look like a module's leftover temporary file."""
    names = []
    for top in ("/", "/etc"):
        names += [os.path.join(top, n) for n in os.listdir(top)
                  if n.startswith((".", "tmp", "ansible")) and n not in (".dockerenv",)]
    return sorted(names)


def snapshot(namespace: str | None, fixture_dir: str) -> dict[str, Any]:
    """The host's state as comparable parts (namespace None: only the lab_fleet view of the machine)."""
    state: dict[str, Any] = {"fixtures": files(fixture_dir)}
    if namespace is None:
        # lab_fleet's cases (check mode, lab "relq"): no namespace, interface or workdir of that lab.
        state["lab"] = [line for line in run(["ip", "netns", "list"]).splitlines() + run(["ip", "-o", "link"]).splitlines()
                        + os.listdir(LAB_WORKDIRS) if "relq" in line]
        return state
    outputs = run_all({part: argv for part, (argv, dummy) in COMMANDS.items()})
    state.update({part: COMMANDS[part][1](outputs[part]) for part in COMMANDS})
    state["etc"] = files(os.path.join("/etc/netns", namespace))
    return state


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed, one short line per part (per file for file trees)."""
    changes = []
    for part in sorted(set(before) | set(after)):
        old, new = before.get(part), after.get(part)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and part in ("etc", "fixtures"):
            for path in sorted(set(old) | set(new)):
                if old.get(path) != new.get(path):
                    what = "created" if path not in old else "removed" if path not in new else "modified"
                    changes.append(f"{part}: {path!r} {what}")
        else:
            changes.append(f"{part} changed")
    return changes


class Baseline:
    """The host's state before the cases, kept so that a case that changed it can be undone."""

    def __init__(self, namespace: str | None, fixture_dir: str) -> None:
        self.namespace, self.fixture_dir = namespace, fixture_dir
        self.state = snapshot(namespace, fixture_dir)
        self.nft_text = run(["nft", "list", "ruleset"]) if namespace else ""
        self.nft_json = run(["nft", "-j", "list", "ruleset"]) if namespace else ""
        self.ipt = {tool: run([f"{tool}-save"]) for tool in ("iptables", "ip6tables")} if namespace else {}
        self.contents = self._contents()
        self.mtus = self._mtus()

    def _contents(self) -> dict[str, bytes]:
        roots = [self.fixture_dir] + ([os.path.join("/etc/netns", self.namespace)] if self.namespace else [])
        contents = {}
        for root in roots:
            for path, (digest, dummy, dummy2) in files(root).items():
                if digest != "dir" and not digest.startswith("link:"):
                    with open(path, "rb") as handle:
                        contents[path] = handle.read()
        return contents

    def _mtus(self) -> dict[str, int]:
        links = self.state.get("links")
        return {link["ifname"]: link["mtu"] for link in links} if isinstance(links, list) else {}

    def _native_tables(self) -> dict[str, Any]:
        """The baseline ruleset (nft -j) without the tables iptables-nft owns."""
        try:
            items = json.loads(self.nft_json).get("nftables", [])
        except (ValueError, AttributeError):
            return {"nftables": []}

        def owned(item: dict[str, Any]) -> bool:
            body = next(iter(item.values()))
            table = body.get("name") if "table" in item else body.get("table")
            return body.get("family") in ("ip", "ip6") and table in IPTABLES_TABLES

        return {"nftables": [i for i in items if "metainfo" not in i and not owned(i)]}

    def _prune_chains(self) -> None:
        """iptables-restore creates every built-in chain of a table; drop those the host did not have."""
        def chains(doc: Any) -> set[tuple[str, str, str]]:
            items = doc.get("nftables", []) if isinstance(doc, dict) else []
            return {(c["chain"]["family"], c["chain"]["table"], c["chain"]["name"]) for c in items if "chain" in c}

        extra = chains(parse_json(run(["nft", "-j", "list", "ruleset"]))) - chains(self.state.get("nft"))
        for family, table, name in sorted(extra):
            run(["nft", "delete", "chain", family, table, name])

    def restore(self) -> list[str]:
        """Put back files, MTUs and rulesets; what could not be put back."""
        problems = []
        for path, content in self.contents.items():
            try:
                with open(path, "r+b" if os.path.exists(path) else "wb") as handle:  # in place: bind mounts
                    handle.write(content)
                    handle.truncate()
            except OSError as exc:
                problems.append(f"{path}: {exc}")
        for ifname, mtu in self.mtus.items():
            run(["ip", "link", "set", "dev", ifname, "mtu", str(mtu)])
        if self.namespace:
            run(["nft", "flush", "ruleset"])
            if any(line.startswith("-A") for text in self.ipt.values() for line in text.splitlines()):
                # nft cannot load iptables-nft's xt expressions: its own tables back from JSON, the
                # iptables tables with iptables-restore.
                run(["nft", "-j", "-f", "-"], stdin=json.dumps(self._native_tables()))
                for tool, text in self.ipt.items():
                    run([f"{tool}-restore"], stdin=text)
                self._prune_chains()
            else:
                run(["nft", "-f", "-"], stdin=self.nft_text)
        after = snapshot(self.namespace, self.fixture_dir)
        problems += [f"not restored: {line}" for line in diff(self.state, after)
                     if not line.startswith(("fixtures:", "etc:"))]
        return problems
