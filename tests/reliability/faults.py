"""Faults during a change, and concurrent changes, on a lab's hosts (issue 16).

Usage (as root, lab "flt" built; tests/integration/targets/reliability_faults/runme.sh does this):
    PYTHONPATH=<build> python tests/reliability/faults.py --lab flt --work DIR [--json FILE] [--only ID ...]

Each case injects one fault while icmp_policy, mss_clamp or link_mtu changes a host (modules run directly
inside the host's namespace, as `python -m ...modules.X args.json`; the SSH cases through ansible-playbook),
then judges the host: its live state (ruleset, MTU) and its boot configuration (the files) must be both
the old or both the new, `changed` must say which, a backup must exist for every file changed with
backup=true, and after the fault is cleared the next run must converge (a run after it changes nothing).

Faults come from the outside only, no hook in the modules: a wrapper `nft`/`ip6tables-nft` earlier on PATH
(fails, or sleeps, or kills the module), a read-only bind mount or a full tmpfs over the configuration,
a "reboot" (the live state rebuilt from the boot configuration), the SSH session killed mid-task.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any, Callable

import summary

FAULT_DIR = "/run/netpath-mtu-faults"  # wrappers, tmpfs mounts, markers (removed at the end)
PACKAGE = "ansible_collections.netpath.mtu.plugins.modules"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONCURRENT = [  # mss_clamp runs on host nft, each its own interface and family, plus icmp_policy
    {"interface": iface, "family": family, "mtu": mtu}
    for iface, mtu in (("eth0", 1400), ("eth1", 1380), ("eth2", 1360), ("{lab}-wg0a", 1340))
    for family in ("ipv4", "ipv6")
]


def sh(argv: list[str], stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: rc={proc.returncode} {proc.stderr.strip()}")
    return proc.stdout


class Host:
    """A lab host seen from the machine: its namespace, its /etc tree, its live state and boot files."""

    def __init__(self, lab: str, name: str, files: list[str]):
        self.lab, self.name, self.ns = lab, name, f"{lab}-{name}"
        self.files = files  # paths as the host sees them (/etc/...)
        self.etc = f"/etc/netns/{self.ns}"
        self.saved_live = self.live()
        self.saved_files = self.boot()
        self.tables = self.run(["nft", "list", "tables"]).splitlines()
        self.backups: set[str] = set()
        self.pids: set[int] = set()  # of the module runs (ip netns exec execs the module: the same PID)
        self.chains = self.chains_now()

    def chains_now(self) -> set[tuple[str, str, str]]:
        items = json.loads(self.run(["nft", "-j", "list", "chains"]))["nftables"]
        return {(c["chain"]["family"], c["chain"]["table"], c["chain"]["name"]) for c in items if "chain" in c}

    def path(self, path: str) -> str:
        """Where a file of the host's /etc is on the machine."""
        return self.etc + path[len("/etc"):] if path.startswith("/etc/") else path

    def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> str:
        return sh(["ip", "netns", "exec", self.ns] + argv, stdin, check)

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists as the host sees it (only some of its /etc is its own: a backup of the
        lab's bind-mounted /etc/nftables.conf lands in the machine's /etc); remembered for restore()."""
        self.backups.add(path)
        return subprocess.run(["ip", "netns", "exec", self.ns, "test", "-e", path], check=False).returncode == 0

    def unreported_backups(self) -> set[str]:
        """Backups (FILE.PID.DATE~) that runs of this suite made without reporting them (killed, or their
        result lost with the SSH session): found by the PIDs of those runs."""
        found = set()
        for path in self.files:
            listing = self.run(["sh", "-c", 'ls -d -- "$1".*~ 2>/dev/null || true', "-", path], check=False)
            for backup in listing.split():
                match = re.fullmatch(re.escape(path) + r"\.(\d+)\..*~", backup)
                if match and int(match.group(1)) in self.pids:
                    found.add(backup)
        return found

    def live(self) -> dict[str, str]:
        ruleset = re.sub(r"counter packets \d+ bytes \d+", "counter", self.run(["nft", "list", "ruleset"]))
        ipt = {tool: re.sub(r"(?m)^#.*\n|\[\d+:\d+\]", "", self.run([tool], check=False))
               for tool in ("iptables-nft-save", "ip6tables-nft-save")}
        mtus = {link["ifname"]: link["mtu"] for link in json.loads(self.run(["ip", "-j", "link"]))}
        return {"nft": ruleset, **ipt, "mtus": json.dumps(mtus, sort_keys=True)}

    def boot(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for path in self.files:
            try:
                with open(self.path(path), encoding="utf-8") as handle:
                    found[path] = handle.read()
            except OSError:
                found[path] = None
        return found

    def restore(self) -> None:
        """Back to the state the host had when the suite started (files, ruleset, MTUs); backups removed."""
        for path, text in self.saved_files.items():
            if text is None:
                if os.path.exists(self.path(path)):
                    os.unlink(self.path(path))
                continue
            with open(self.path(path), "r+" if os.path.exists(self.path(path)) else "w", encoding="utf-8") as handle:
                handle.write(text)  # in place: the lab bind-mounts some of these files
                handle.truncate()
        for path in sorted(self.backups | self.unreported_backups()):
            self.run(["rm", "-f", "--", path])
        self.backups.clear()
        if "*" in self.saved_live["iptables-nft-save"]:
            # nft cannot load iptables-nft's xt expressions: drop what the case added, restore the iptables
            # tables with iptables-restore (which creates every built-in chain: drop the ones not there before).
            for table in set(self.run(["nft", "list", "tables"]).splitlines()) - set(self.tables):
                self.run(["nft", "delete"] + table.split())
            self.run(["iptables-nft-restore"], self.saved_live["iptables-nft-save"])
            self.run(["ip6tables-nft-restore"], self.saved_live["ip6tables-nft-save"])
            for chain in sorted(self.chains_now() - self.chains):
                self.run(["nft", "delete", "chain", *chain])
        else:
            self.run(["nft", "-f", "-"], "flush ruleset\n" + self.saved_live["nft"])
        for ifname, mtu in json.loads(self.saved_live["mtus"]).items():
            self.run(["ip", "link", "set", "dev", ifname, "mtu", str(mtu)], check=False)
        live, files = self.live(), self.boot()
        if live != self.saved_live or files != self.saved_files:
            parts = [k for k in live if live[k] != self.saved_live[k]] + [k for k in files if files[k] != self.saved_files[k]]
            first = parts[0]
            old, new = (self.saved_live, live) if first in live else (self.saved_files, files)
            detail = "".join(difflib.unified_diff(str(old[first]).splitlines(True), str(new[first]).splitlines(True), n=1))
            raise RuntimeError(f"{self.name}: could not restore the host after a case ({parts}):\n{detail[:1500]}")

    def reboot(self) -> None:
        """The host's live state rebuilt from its boot configuration: the ruleset from nftables.conf (or the
        saved iptables rules), the tunnel's MTU from its wg-quick file."""
        if "*" in self.saved_live["iptables-nft-save"]:
            self.run(["nft", "flush", "ruleset"])
            for tool, path in (("iptables-nft-restore", "/etc/iptables/rules.v4"),
                               ("ip6tables-nft-restore", "/etc/iptables/rules.v6")):
                text = self.boot().get(path)
                if text:
                    self.run([tool], text)
        else:
            self.run(["nft", "-f", "/etc/nftables.conf"])
        for path, text in self.boot().items():
            match = re.search(r"(?m)^MTU\s*=\s*(\d+)", text or "") if "/wireguard/" in path else None
            if match:
                ifname = os.path.basename(path)[:-len(".conf")]
                self.run(["ip", "link", "set", "dev", ifname, "mtu", match.group(1)])


def module(host: Host, name: str, args: dict[str, Any], *, check: bool = False, path: str | None = None,
           background: bool = False) -> Any:
    """Run module ``name`` on ``host`` as Ansible would run it there; its JSON result (or the Popen)."""
    work = os.path.join(FAULT_DIR, "args")
    os.makedirs(work, exist_ok=True)
    args_file = os.path.join(work, f"{name}-{os.getpid()}-{time.monotonic_ns()}.json")
    with open(args_file, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=True)}, handle)
    env = dict(os.environ, PATH=f"{path}:{SYSTEM_PATH}" if path else SYSTEM_PATH, LC_ALL="C")
    env.pop("SSH_CONNECTION", None)
    argv = ["ip", "netns", "exec", host.ns, sys.executable, "-m", f"{PACKAGE}.{name}", args_file]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    host.pids.add(proc.pid)
    return proc if background else result_of(proc)


def result_of(proc: subprocess.Popen) -> dict[str, Any]:
    out, err = proc.communicate(timeout=180)
    try:
        result = json.loads(out)
    except ValueError:
        result = {"failed": True, "msg": f"no JSON (rc={proc.returncode}): {out[-300:]} {err[-300:]}",
                  "no_result": True, "rc": proc.returncode}
    result.pop("invocation", None)
    return result


def wrapper(name: str, tool: str, body: str) -> str:
    """A directory holding an executable ``tool`` that runs ``body`` (bash; "$@" are its arguments)."""
    directory = os.path.join(FAULT_DIR, name)
    os.makedirs(directory, exist_ok=True)
    real = sh(["bash", "-c", f"PATH={SYSTEM_PATH} command -v {tool}"]).strip()
    with open(os.path.join(directory, tool), "w", encoding="utf-8") as handle:
        handle.write(f"#!/bin/bash\nREAL={real}\n{body}\nexec \"$REAL\" \"$@\"\n")
    os.chmod(os.path.join(directory, tool), 0o755)
    return directory


def tmpfs(name: str, size: str) -> str:
    where = os.path.join(FAULT_DIR, name)
    os.makedirs(where, exist_ok=True)
    sh(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", f"netpath-{name}", where])
    return where


def fill(directory: str) -> None:
    """Every free block of the tmpfs at ``directory`` taken."""
    sh(["dd", "if=/dev/zero", f"of={directory}/.filler", "bs=4k"], check=False)


def umount(where: str) -> None:
    sh(["umount", where], check=False)


# --- judging ----------------------------------------------------------------------------------------------


def rules(live: dict[str, str]) -> dict[str, Any]:
    """The live state as it filters and rewrites packets: rules and non-accept policies per chain, MTUs. An
    empty accept-all chain (iptables-nft creates its table's built-in chains on first use, and taking the
    rule back leaves them) does nothing to a packet, so it does not count as a change."""
    found = []
    table = chain = ""
    for line in live["nft"].splitlines():
        words = line.split()
        if line.startswith("table "):
            table = line[len("table "):].rstrip(" {")
        elif words[:1] == ["chain"]:
            chain = words[1]
        elif words and words[0] not in ("}", "type") or ("policy" in line and "policy accept" not in line):
            found.append(f"{table} {chain}: {line.strip()}")
    for tool in ("iptables-nft-save", "ip6tables-nft-save"):
        current = ""
        for line in live[tool].splitlines():
            if line.startswith("*"):
                current = line
            elif line.startswith("-A") or (line.startswith(":") and " ACCEPT" not in line):
                found.append(f"{tool} {current} {line}")
    return {"rules": found, "mtus": live["mtus"]}


def judge(case: dict[str, Any], host: Host, before: tuple[dict, dict], result: dict[str, Any], again: Callable[[], dict],
          *, expect: str) -> None:
    """Record in ``case`` how the fault ended: old (nothing changed), new (all of it), or mixed (a defect).

    "new" is proven by the same task in check mode reporting changed=false (the live ruleset or MTU and
    the files both hold it); "old" by the live state and the files being what they were."""
    live, files = host.live(), host.boot()
    if (rules(live), files) == (rules(before[0]), before[1]):
        outcome = "old"
    else:
        probe = again()
        outcome = "new" if not probe.get("failed") and probe.get("changed") is False else "mixed"
        if outcome == "mixed":
            case["problems"].append(f"live and boot configuration disagree (check mode says: changed="
                                    f"{probe.get('changed')}, {probe.get('msg', '')[:160]})")
            changed_live = [k for k in live if rules(live) != rules(before[0]) and live[k] != before[0][k]]
            changed_files = [k for k in files if files[k] != before[1][k]]
            case["problems"].append(f"changed live: {changed_live or 'nothing'}; changed files: {changed_files or 'none'}")
    case["outcome"] = outcome
    case["reported_changed"] = result.get("changed")
    case["failed"] = bool(result.get("failed"))
    case["msg"] = str(result.get("msg", ""))[:300]
    if "no_result" in result:
        case["problems"].append(f"no result: {result['msg'][:200]}")
    elif outcome != "mixed" and bool(result.get("changed")) != (outcome == "new"):
        case["problems"].append(f"reported changed={result.get('changed')} but the host is {outcome}")
    if expect and outcome != expect:
        case["problems"].append(f"expected the host {expect}, found it {outcome}")
    backups(case, host, result)


def backups(case: dict[str, Any], host: Host, result: dict[str, Any]) -> None:
    """backup=true: every file this run changed has a backup on disk holding the text it had before."""
    written = list(result.get("persisted", []) or []) + [
        f["path"] for f in (result.get("persist") or {}).get("files", []) if f.get("changed")]
    listed = list(result.get("backup_files", []) or []) + [
        f["backup_file"] for f in (result.get("persist") or {}).get("files", []) if f.get("backup_file")]
    if result.get("failed") or not result.get("changed"):
        return
    for path in written:
        if host.saved_files.get(path) is None:
            continue  # created by this run: nothing to back up
        found = [b for b in listed if b.startswith(path + ".")]
        if not found or not all(host.exists(b) for b in found):
            case["problems"].append(f"backup=true but no backup of {path} ({listed})")
        else:
            case["backups"] = case.get("backups", 0) + len(found)


def converge(case: dict[str, Any], host: Host, name: str, args: dict[str, Any]) -> None:
    """Fault cleared: the task once more succeeds, and again reports changed=false."""
    first = module(host, name, args)
    second = module(host, name, args)
    case["next_run_changed"] = first.get("changed")
    if first.get("failed") or second.get("failed"):
        case["problems"].append(f"did not converge: {first.get('msg') or second.get('msg')}")
    elif second.get("changed"):
        case["problems"].append("the run after converging still reports changed=true")
    backups(case, host, first)
    case["converged"] = not first.get("failed") and not second.get("failed") and not second.get("changed")


# --- the cases ----------------------------------------------------------------------------------------------


def new_case(case_id: str, module_name: str, fault: str) -> dict[str, Any]:
    return {"id": case_id, "module": module_name, "fault": fault, "problems": []}


def run_fault(case: dict[str, Any], host: Host, name: str, args: dict[str, Any], *, path: str | None = None,
              expect: str = "", clear: Callable[[], None] = lambda: None) -> None:
    before = (host.live(), host.boot())
    result = module(host, name, args, path=path)
    judge(case, host, before, result, lambda: module(host, name, args, check=True), expect=expect)
    clear()
    converge(case, host, name, args)


def nft_fails(lab: dict[str, Host]) -> dict[str, Any]:
    case = new_case("mss_clamp/nft-transaction-fails", "mss_clamp", "nft -j -f (the live transaction) fails")
    bin_dir = wrapper("nft-fails", "nft", 'if [ "$*" = "-j -f -" ]; then echo "Error: injected fault" >&2; exit 1; fi')
    run_fault(case, lab["nft"], "mss_clamp", {"interface": "eth0", "mtu": 1400, "backup": True}, path=bin_dir,
              expect="old")
    return case


def ip6tables_fails(lab: dict[str, Host]) -> dict[str, Any]:
    case = new_case("mss_clamp/second-iptables-command-fails", "mss_clamp",
                    "ip6tables-nft fails after iptables-nft inserted the IPv4 rule (a change half applied)")
    bin_dir = wrapper("ip6tables-fails", "ip6tables-nft",
                      'case " $* " in *" -I "*) echo "ip6tables: injected fault" >&2; exit 2;; esac')
    run_fault(case, lab["ipt"], "mss_clamp", {"interface": "eth0", "mtu": 1400, "backup": True}, path=bin_dir,
              expect="old")
    return case


def read_only_config(lab: dict[str, Host]) -> dict[str, Any]:
    host = lab["nft"]
    case = new_case("icmp_policy/read-only-config", "icmp_policy", "/etc/nftables.conf on a read-only mount")
    target = host.path("/etc/nftables.conf")
    sh(["mount", "--bind", target, target])
    sh(["mount", "-o", "remount,bind,ro", target])
    try:
        run_fault(case, host, "icmp_policy", {"state": "present", "backup": True}, expect="old",
                  clear=lambda: umount(target))
    finally:
        umount(target)
    return case


def full_disk_config(lab: dict[str, Host]) -> dict[str, Any]:
    host = lab["nft"]
    case = new_case("mss_clamp/full-disk-config", "mss_clamp", "nftables_config on a full file system")
    where = tmpfs("full-nft", "64k")
    try:
        config = os.path.join(where, "nftables.conf")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(host.saved_files["/etc/nftables.conf"])
        fill(where)
        host.files.append(config)
        host.saved_files[config] = host.saved_files["/etc/nftables.conf"]
        args = {"interface": "eth1", "mtu": 1380, "backup": True, "nftables_config": config}
        run_fault(case, host, "mss_clamp", args, expect="old", clear=lambda: os.unlink(os.path.join(where, ".filler")))
    finally:
        host.files.remove(config)
        host.saved_files.pop(config)
        umount(where)
    return case


def wg_dir_fault(lab: dict[str, Host], kind: str) -> dict[str, Any]:
    host = lab["nft"]
    wg = f"{host.lab}-wg0a"
    case = new_case(f"link_mtu/{kind}-wireguard-dir", "link_mtu",
                    f"the wg-quick file's directory {'read-only' if kind == 'read-only' else 'on a full file system'}")
    directory = host.path("/etc/wireguard")
    conf = os.path.join(directory, f"{wg}.conf")
    with open(conf, encoding="utf-8") as handle:
        text = handle.read()

    def clear() -> None:
        if kind == "read-only":
            umount(directory)
        else:
            os.unlink(os.path.join(directory, ".filler"))

    if kind == "read-only":
        sh(["mount", "--bind", directory, directory])
        sh(["mount", "-o", "remount,bind,ro", directory])
    else:
        sh(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "netpath-full-wg", directory])
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(text)
        fill(directory)
    try:
        run_fault(case, host, "link_mtu", {"name": wg, "mtu": 1300, "backup": True}, expect="old", clear=clear)
        host.restore()
    finally:
        umount(directory)
    return case


def killed_between(lab: dict[str, Host]) -> dict[str, Any]:
    """The module killed (SIGKILL: nothing can defer it) after writing the files, before the live change; then
    the host reboots: both new. The next run must report changed honestly and converge."""
    host = lab["nft"]
    case = new_case("icmp_policy/killed-then-reboot", "icmp_policy",
                    "module killed between persisting and the live change, then the host reboots")
    bin_dir = wrapper("nft-kills", "nft", 'if [ "$*" = "-j -f -" ]; then kill -KILL "$PPID"; exit 1; fi')
    args = {"state": "present", "backup": True}
    before = (host.live(), host.boot())
    result = module(host, "icmp_policy", args, path=bin_dir)
    case["killed_state"] = "boot ahead of live" if host.boot() != before[1] and host.live() == before[0] else "other"
    host.reboot()
    judge(case, host, before, result, lambda: module(host, "icmp_policy", args, check=True), expect="new")
    # The module never answered (killed): no changed to judge; the problem is only a disagreement.
    case["problems"] = [p for p in case["problems"] if not p.startswith(("reported changed", "no result"))]
    converge(case, host, "icmp_policy", args)
    if case.get("next_run_changed"):
        case["problems"].append("after the reboot the rules were in place, yet the next run reported changed")
    return case


def reboot_before_persist(lab: dict[str, Host], name: str) -> dict[str, Any]:
    """The runtime change made, the host reboots before it is persisted (persist off/none, or for link_mtu the
    MTU set as its first step does), so the change is lost: the next run must see that and redo it."""
    host = lab["nft"]
    case = new_case(f"{name}/reboot-before-persisting", name, "reboot between the runtime change and persistence")
    if name == "link_mtu":
        wg = f"{host.lab}-wg0a"
        host.run(["ip", "link", "set", "dev", wg, "mtu", "1300"])  # what link_mtu does first
        args: dict[str, Any] = {"name": wg, "mtu": 1300, "backup": True}
    else:
        args = {"interface": "eth2", "mtu": 1360, "backup": True}
        first = module(host, name, dict(args, persist=False))
        if first.get("failed") or not first.get("changed"):
            case["problems"].append(f"runtime-only run: {first.get('msg')}")
    host.reboot()
    case["outcome"] = "old" if (host.live(), host.boot()) == (host.saved_live, host.saved_files) else "mixed"
    if case["outcome"] != "old":
        case["problems"].append("the rebuilt host differs from its boot configuration")
    converge(case, host, name, args)
    if not case.get("next_run_changed"):
        case["problems"].append("after the reboot lost the change, the next run reported changed=false")
    # and once persisted, a reboot keeps it: nothing to change afterwards
    host.reboot()
    if module(host, name, args, check=True).get("changed"):
        case["problems"].append("after a reboot the persisted change is not what the module wants")
    return case


def ssh_killed(lab: dict[str, Host], inventory: str, playbook_dir: str) -> dict[str, Any]:
    """The SSH session of an ansible-playbook run killed while icmp_policy applies (the wrapper nft holds the
    transaction for 3 s). Without pipelining Ansible runs the module on a pty, so the hangup reaches it as SIGHUP."""
    host = lab["nft"]
    case = new_case("icmp_policy/ssh-session-killed", "icmp_policy", "control connection killed mid-task")
    marker = os.path.join(FAULT_DIR, "in-apply")
    bin_dir = wrapper("nft-slow", "nft", f'if [ "$*" = "-j -f -" ]; then echo "$PPID" > {marker}; sleep 3; fi')
    play = os.path.join(playbook_dir, "ssh_fault.yml")
    with open(play, "w", encoding="utf-8") as handle:
        handle.write("- hosts: nft\n  gather_facts: false\n  tasks:\n    - netpath.mtu.icmp_policy: {state: present, "
                     f"backup: true}}\n      environment: {{PATH: '{bin_dir}:{SYSTEM_PATH}'}}\n")
    env = dict(os.environ, ANSIBLE_PIPELINING="false", ANSIBLE_SSH_ARGS="-o ControlMaster=no")
    before = (host.live(), host.boot())
    if os.path.exists(marker):
        os.unlink(marker)
    proc = subprocess.Popen(["ansible-playbook", "-i", inventory, play], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    killed = []
    for pid in sh(["ip", "netns", "pids", host.ns]).split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
                ppid = int(re.search(r"PPid:\s+(\d+)", handle.read()).group(1))
        except (OSError, AttributeError):
            continue
        if cmdline.startswith("sshd") and ppid != 1:  # a session's sshd, not the host's listener
            os.kill(int(pid), signal.SIGKILL)
            killed.append(int(pid))
    out = proc.communicate(timeout=120)[0]
    case["sessions_killed"] = len(killed)
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            host.pids.add(int(handle.read().strip() or 0))  # the module's (the wrapper's parent)
    if not killed or not os.path.exists(marker):
        case["problems"].append("the SSH session was not killed while the module applied its change")
    time.sleep(4)  # the module, if it survived the hangup, finishes its change
    result = {"changed": "changed=1" in out, "failed": True, "msg": "connection killed"}
    judge(case, host, before, result, lambda: module(host, "icmp_policy", {"state": "present"}, check=True), expect="")
    case["problems"] = [p for p in case["problems"] if not p.startswith("reported changed")]
    converge(case, host, "icmp_policy", {"state": "present", "backup": True})
    return case


def concurrent(lab: dict[str, Host]) -> dict[str, Any]:
    """Nine changing runs on one host at once: every rule live and in nftables.conf, the file parses."""
    host = lab["nft"]
    case = new_case("concurrent/mss_clamp-x8-icmp_policy", "mss_clamp+icmp_policy",
                    f"{len(CONCURRENT) + 1} runs at once on one host")
    runs = [("mss_clamp", {k: v.format(lab=host.lab) if isinstance(v, str) else v for k, v in a.items()})
            for a in CONCURRENT] + [("icmp_policy", {"state": "present"})]
    procs = [(name, args, module(host, name, args, background=True)) for name, args in runs]
    results = [(name, args, result_of(proc)) for name, args, proc in procs]
    case["runs"] = len(results)
    for name, args, result in results:
        if result.get("failed") or not result.get("changed"):
            case["problems"].append(f"{name} {args}: changed={result.get('changed')} {result.get('msg', '')[:160]}")
    lost = [f"{name} {args}" for name, args, dummy in results if module(host, name, args, check=True).get("changed")]
    if lost:
        case["problems"].append(f"lost (not live or not in the file): {lost}")
    proc = subprocess.run(["ip", "netns", "exec", host.ns, "nft", "-c", "-f", "/etc/nftables.conf"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        case["problems"].append(f"nftables.conf does not parse: {proc.stderr.strip()[:200]}")
    case["lost"] = len(lost)
    case["outcome"] = "new" if not case["problems"] else "mixed"
    case["reported_changed"] = all(r.get("changed") for dummy, dummy2, r in results)
    return case


CASES: dict[str, Callable[..., dict[str, Any]]] = {
    "concurrent": concurrent,
    "nft_fails": nft_fails,
    "ip6tables_fails": ip6tables_fails,
    "read_only_config": read_only_config,
    "full_disk_config": full_disk_config,
    "wg_read_only": lambda lab: wg_dir_fault(lab, "read-only"),
    "wg_full": lambda lab: wg_dir_fault(lab, "full"),
    "killed_between": killed_between,
    "reboot_icmp": lambda lab: reboot_before_persist(lab, "mss_clamp"),
    "reboot_link": lambda lab: reboot_before_persist(lab, "link_mtu"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="flt")
    parser.add_argument("--work", required=True)
    parser.add_argument("--json", help="write the summary here (default WORK/faults.json)")
    parser.add_argument("--only", action="append", help="only this case (repeatable)")
    opts = parser.parse_args()
    lab = opts.lab
    hosts = {"nft": Host(lab, "nft", ["/etc/nftables.conf", f"/etc/wireguard/{lab}-wg0a.conf"]),
             "ipt": Host(lab, "ipt", ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"])}
    inventory = f"/var/lib/netpath-mtu-lab/{lab}/inventory.yml"
    names = opts.only or list(CASES) + ["ssh_killed"]
    start = time.monotonic()
    results = []
    try:
        for name in names:
            case_start = time.monotonic()
            try:
                case = (ssh_killed(hosts, inventory, opts.work) if name == "ssh_killed" else CASES[name](hosts))
            except Exception as exc:  # pylint: disable=broad-except  # a broken case is a failed case, not a stop
                case = new_case(name, "?", "?")
                case["problems"].append(f"the case itself failed: {exc!r}")
            case["seconds"] = round(time.monotonic() - case_start, 1)
            results.append(case)
            for host in hosts.values():
                host.restore()
    finally:
        for where in ("full-nft",):
            umount(os.path.join(FAULT_DIR, where))
        sh(["rm", "-rf", "--one-file-system", FAULT_DIR], check=False)
    result = summary.summarize_faults(results, time.monotonic() - start)
    with open(opts.json or os.path.join(opts.work, "faults.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
    print(summary.render_faults(result))
    if result["totals"]["defects"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
