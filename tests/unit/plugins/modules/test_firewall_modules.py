# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""icmp_policy and mss_clamp end to end against a fake firewall seam serving fixtures."""

from __future__ import annotations

import contextlib
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpath.mtu.plugins.module_utils.firewall import fw_plan
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_plan import ICMP_COMMENT, MSS_COMMENT, Snapshot
from ansible_collections.netpath.mtu.plugins.modules import icmp_policy, mss_clamp

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "firewall", "fixtures")
NFT_CONF = "#!/usr/sbin/nft -f\nflush ruleset\n"
INFO = {"framework": "nftables", "frameworks": ["nftables"], "firewalld": False}
UNITS = {"nftables.service": "enabled", "netfilter-persistent.service": "enabled", "firewalld.service": "enabled"}


def read(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


class FakeHost:
    """Serves snapshots in turn (the last one repeats) and records every change instead of making it."""

    def __init__(self, snapshots, files=None, tools=("nft", "iptables-nft", "iptables-legacy"), info=None,
                 outputs=None, nft_error=None, units=None, nft_error_files=False):
        self.snapshots = list(snapshots)
        self.files = dict(files or {})
        self.tools = set(tools)
        self.info = info or INFO
        self.outputs = outputs or {}
        self.nft_error = nft_error
        self.nft_error_files = nft_error_files
        self.units = dict(UNITS if units is None else units)
        self.applied: list = []
        self.iptables_run: list = []
        self.ran: list = []
        self.written: dict = {}
        self.checked: list = []
        self.locks: list = []
        self.locked = False
        self.applied_locked: list = []

    def snapshot(self, warn):
        snap = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        return snap.copy(), dict(self.info)

    def which(self, name):
        return f"/usr/sbin/{name}" if name in self.tools else None

    def exists(self, path):
        return path in self.files or path in ("/etc/iptables", "/etc/nftables.conf")

    def read_text(self, path):
        return self.files.get(path)

    def unit_state(self, unit):
        return self.units.get(unit, "not-found")

    def nft_check(self, text):
        # nft_error is for the changed configuration; a file as it is on disk parses unless nft_error_files.
        self.checked.append(text)
        if text in self.files.values() and not self.nft_error_files:
            return None
        return self.nft_error

    def nft_apply(self, transaction):
        self.applied.append(json.loads(transaction))
        self.applied_locked.append(self.locked)

    def iptables(self, argv):
        self.iptables_run.append(list(argv))

    def run(self, argv, data=None):
        self.ran.append(list(argv))
        return self.outputs.get(tuple(argv), (1, "", "not faked"))

    def must(self, argv, data=None):
        self.ran.append(list(argv))
        rc, out, err = self.outputs.get(tuple(argv), (0, "", ""))
        return out

    def write(self, path, text, mode=0o640):
        self.written[path] = text
        self.files[path] = text

    def backup(self, path):
        return path + ".bak" if path in self.files else None

    def remove(self, path):
        self.files.pop(path, None)

    @contextlib.contextmanager
    def lock(self, name):
        self.locks.append(name)
        self.locked = True
        try:
            yield name
        finally:
            self.locked = False

    def path_kind(self, path):
        # Every fixture file is a file, every directory above one (and /etc, /srv) a directory.
        if path in self.files:
            return "file"
        if path in ("/", "/etc", "/srv") or any(f.startswith(path.rstrip("/") + "/") for f in self.files):
            return "directory"
        return "missing"


@pytest.fixture
def host(monkeypatch):
    holder = {}

    def factory(module):
        holder["host"].module = module
        return holder["host"]

    monkeypatch.setattr(icmp_policy, "FirewallHost", factory)
    monkeypatch.setattr(mss_clamp, "FirewallHost", factory)
    return holder


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def rtr() -> Snapshot:
    return Snapshot(nft=read("rtr.nft.json"), listing=read("rtr.nft.txt"), interfaces=["lo", "eth0", "eth1"])


# --- icmp_policy ----------------------------------------------------------------------------

def test_evaluate_changes_nothing(host, capsys):
    host["host"] = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    result = run(icmp_policy, {}, capsys)
    assert result["changed"] is False and result["accepted"] is False
    out = {(r["family"], r["hook"]): r for r in result["results"]}
    assert out[("ipv4", "output")]["verdict"] == "dropped"
    assert out[("ipv4", "output")]["rule"]["handle"] == 4
    assert "_fixable" not in json.dumps(result)
    assert host["host"].applied == [] and host["host"].written == {}
    # what state=present would run, as by-hand commands before the deciding drops (handles 4 and 5)
    assert result["fix"]["commands"] == [
        "nft insert rule inet filter output handle 4 icmp type destination-unreachable icmp code frag-needed accept "
        "comment '\"netpath.mtu icmp_policy\"'",
        "nft insert rule inet filter output handle 5 icmpv6 type packet-too-big accept comment '\"netpath.mtu icmp_policy\"'",
    ]
    assert result["fix"]["unresolved"] == [] and [c["hook"] for c in result["fix"]["changes"]] == ["output", "output"]


@pytest.mark.parametrize("check_mode", [True, False])
def test_present_on_the_router(host, capsys, check_mode):
    fixed = fw_plan.plan_icmp(rtr())["snapshot"]
    host["host"] = fake = FakeHost([rtr(), fixed], files={"/etc/nftables.conf": NFT_CONF})
    result = run(icmp_policy, {"state": "present", "_ansible_check_mode": check_mode, "_ansible_diff": True}, capsys)
    assert result["changed"] is True and result["accepted"] is True and "failed" not in result
    assert result["persisted"] == ["/etc/nftables.conf"]
    assert [c["hook"] for c in result["changes"]] == ["output", "output"]
    assert json.loads(result["commands"]["nft"])["nftables"][0]["insert"]["rule"]["handle"] == 4
    assert result["diff"][0]["before_header"] == "nftables inet filter output"
    assert ICMP_COMMENT in result["diff"][0]["after"] and ICMP_COMMENT not in result["diff"][0]["before"]
    assert result["diff"][1]["before_header"] == "/etc/nftables.conf"
    block = fw_plan.get_block(result["diff"][1]["after"], "icmp_policy")
    assert block[0].startswith("insert rule inet filter output index 0 icmp type destination-unreachable")
    assert len(fake.checked) == 1  # the new configuration was checked with nft -c either way
    if check_mode:
        assert fake.applied == [] and fake.written == {} and fake.iptables_run == []
    else:
        assert len(fake.applied) == 1 and fake.applied[0]["nftables"] == json.loads(result["commands"]["nft"])["nftables"]
        assert fw_plan.get_block(fake.written["/etc/nftables.conf"], "icmp_policy") == block
    # the same change, as the lines a person would type
    assert [c.split()[:7] for c in result["fix"]["commands"]] == [
        ["nft", "insert", "rule", "inet", "filter", "output", "handle"]] * 2


@pytest.mark.parametrize("module, args", [(icmp_policy, {"state": "present"}), (mss_clamp, {})])
def test_a_change_is_made_under_the_firewall_lock(host, capsys, module, args):
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    run(module, args, capsys)
    # icmp_policy and mss_clamp share one lock: both edit the same ruleset and nftables.conf
    assert fake.locks == ["firewall"] and fake.applied_locked == [True] and fake.locked is False
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    run(module, dict(args, _ansible_check_mode=True), capsys)
    assert fake.locks == []


def test_evaluate_takes_no_lock(host, capsys):
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    run(icmp_policy, {}, capsys)
    assert fake.locks == []


def test_present_twice_is_not_changed(host, capsys):
    fixed = fw_plan.plan_icmp(rtr())["snapshot"]
    conf = fw_plan.replace_block(NFT_CONF, "icmp_policy", fw_plan.icmp_block(fixed))
    host["host"] = fake = FakeHost([fixed], files={"/etc/nftables.conf": conf})
    result = run(icmp_policy, {"state": "present"}, capsys)
    assert result["changed"] is False and result["accepted"] is True
    assert fake.applied == [] and fake.written == {}
    # Nothing written this time, and still the file that holds the fix is named and judged.
    assert result["persisted"] == [] and result["persistence"]["files"] == ["/etc/nftables.conf"]
    assert result["persistence"]["state"] == "boot"


def test_persistence_refused_by_nft_fails_before_changing_anything(host, capsys):
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF}, nft_error="No such file or directory")
    result = run(icmp_policy, {"state": "present"}, capsys)
    assert result["failed"] and "nft -c -f" in result["msg"] and "persist=false" in result["msg"]
    assert fake.applied == []
    result = run(icmp_policy, {"state": "present", "persist": False}, capsys)
    assert result["changed"] and result["persisted"] == []


def test_iptables_host(host, capsys):
    saved = read("leg-pol.v4.save")
    snap = Snapshot(nft='{"nftables": []}', iptables={("iptables-legacy", "ipv4"): saved,
                                                      ("iptables-legacy", "ipv6"): read("leg-pol.v6.save")})
    fixed = fw_plan.plan_icmp(snap)["snapshot"]
    host["host"] = fake = FakeHost([snap, fixed], files={"/etc/iptables/rules.v4": saved})
    result = run(icmp_policy, {"state": "present"}, capsys)
    assert result["changed"] and result["accepted"]
    binaries = [argv[0] for argv in fake.iptables_run]
    assert binaries == ["iptables-legacy", "iptables-legacy", "ip6tables-legacy", "ip6tables-legacy"]
    assert result["persisted"] == ["/etc/iptables/rules.v4"]  # rules.v6 does not exist: nothing persisted there
    assert fake.written["/etc/iptables/rules.v4"].count(ICMP_COMMENT) == 2
    assert result["fix"]["argv"] == fake.iptables_run


def test_unresolved_fails_with_the_reason(host, capsys):
    snap = Snapshot(nft=read("cases/queue.json"))
    host["host"] = FakeHost([snap])
    result = run(icmp_policy, {"state": "present", "hooks": ["forward"]}, capsys)
    assert result["failed"]
    assert result["msg"] == ("could not make ipv4 forward accepted: decided by queue to userspace, which cannot be "
                             "evaluated statically")
    assert result["unresolved"] == [{"family": "ipv4", "hook": "forward",
                                     "reason": "decided by queue to userspace, which cannot be evaluated statically"}]


def firewalld_snapshot(related: bool) -> Snapshot:
    """firewalld's table; without its "ct state established,related accept" the zone's icmp-block decides."""
    doc = json.loads(read("cases/firewalld_like.json"))
    if not related:
        doc["nftables"] = [o for o in doc["nftables"] if o.get("rule", {}).get("handle") not in (6, 7)]
    return Snapshot(nft=doc, listing=read("cases/firewalld_like.txt"))


def test_firewalld_drop_is_fixed_with_firewall_cmd(host, capsys):
    info = dict(INFO, firewalld=True, framework="firewalld", frameworks=["firewalld"])
    host["host"] = fake = FakeHost([firewalld_snapshot(related=False)], tools=("nft", "firewall-cmd"), info=info)
    result = run(icmp_policy, {"state": "present", "hooks": ["input"], "_ansible_check_mode": True}, capsys)
    assert result["changed"] and "failed" not in result
    assert result["commands"]["nft"] is None  # firewalld's own table is never edited
    assert result["commands"]["firewalld"] == [
        ["firewall-cmd", "--zone=public", "--remove-icmp-block=fragmentation-needed"],
        ["firewall-cmd", "--permanent", "--zone=public", "--remove-icmp-block=fragmentation-needed"],
        ["firewall-cmd", "--zone=public", "--remove-icmp-block=packet-too-big"],
        ["firewall-cmd", "--permanent", "--zone=public", "--remove-icmp-block=packet-too-big"],
    ]
    # asked once per zone, not once per family
    assert fake.ran == [["firewall-cmd", "--zone=public", "--query-icmp-block-inversion"]]
    assert result["fix"]["commands"] == [" ".join(argv) for argv in result["commands"]["firewalld"]]


def test_firewalld_evaluate_prints_firewall_cmd_and_runs_only_the_query(host, capsys):
    info = dict(INFO, firewalld=True, framework="firewalld", frameworks=["firewalld"])
    host["host"] = fake = FakeHost([firewalld_snapshot(related=False)], tools=("nft", "firewall-cmd"), info=info,
                                   outputs={("firewall-cmd", "--zone=public", "--query-icmp-block-inversion"): (0, "yes", "")})
    result = run(icmp_policy, {"hooks": ["input"]}, capsys)
    assert result["changed"] is False and result["fix"]["unresolved"] == []
    assert result["fix"]["commands"][0] == "firewall-cmd --zone=public --add-icmp-block=fragmentation-needed"
    assert fake.ran == [["firewall-cmd", "--zone=public", "--query-icmp-block-inversion"]]


def test_firewalld_invalid_drop_cannot_be_fixed(host, capsys):
    info = dict(INFO, firewalld=True)
    host["host"] = FakeHost([firewalld_snapshot(related=True)], tools=("nft", "firewall-cmd"), info=info)
    result = run(icmp_policy, {"state": "present", "hooks": ["input"]}, capsys)
    assert result["changed"] is False  # tracked errors are accepted (related)
    result = run(icmp_policy, {"state": "present", "hooks": ["input"], "fix_untracked": True}, capsys)
    assert result["failed"] and "firewalld" in result["msg"] and "ct state invalid drop" in result["msg"]


# --- mss_clamp ------------------------------------------------------------------------------

def test_mss_clamp_nftables(host, capsys):
    snap = rtr()
    snap.interfaces.append("wg0")
    host["host"] = fake = FakeHost([snap], files={"/etc/nftables.conf": NFT_CONF})
    args = {"interface": "wg0", "mtu": 1420, "_ansible_diff": True}
    result = run(mss_clamp, dict(args, _ansible_check_mode=True), capsys)
    assert result["changed"] and result["backend"] == "nftables"
    assert fake.applied == [] and fake.written == {}
    assert result["clamps"] == [{"family": "ipv4", "chain": "forward", "direction": "out", "interface": "wg0", "mss": 1380},
                                {"family": "ipv6", "chain": "forward", "direction": "out", "interface": "wg0", "mss": 1360}]
    assert result["diff"][0]["after"].count(MSS_COMMENT) == 2
    # Check mode (as the audit runs it) prints the transaction's commands one by one, shell-quoted.
    rule = "tcp flags syn / syn,rst tcp option maxseg size set {} comment '\"netpath.mtu mss_clamp\"'"
    assert result["fix"]["commands"] == [
        "nft add table inet netpath_mtu", "nft delete table inet netpath_mtu", "nft add table inet netpath_mtu",
        "nft add chain inet netpath_mtu forward '{ type filter hook forward priority -150; policy accept; }'",
        "nft add rule inet netpath_mtu forward meta nfproto ipv4 oifname '\"wg0\"' " + rule.format(1380),
        "nft add rule inet netpath_mtu forward meta nfproto ipv6 oifname '\"wg0\"' " + rule.format(1360),
    ]
    assert result["fix"]["backend"] == "nftables" and result["fix"]["unresolved"] == []
    assert [c["action"] for c in result["fix"]["changes"]] == ["added", "added"]
    result = run(mss_clamp, args, capsys)
    assert len(fake.applied) == 1 and fake.applied[0]["nftables"][0] == {"add": {"table": {"family": "inet", "name": "netpath_mtu"}}}
    assert fw_plan.get_block(fake.written["/etc/nftables.conf"], "mss_clamp")[0] == "table inet netpath_mtu"


def test_mss_clamp_iptables_legacy(host, capsys):
    snap = Snapshot(nft='{"nftables": []}')
    host["host"] = fake = FakeHost([snap], outputs={("/usr/sbin/iptables-legacy-save",): (0, "", ""),
                                                    ("/usr/sbin/ip6tables-legacy-save",): (0, "", "")})
    result = run(mss_clamp, {"backend": "iptables-legacy", "chains": ["forward", "output"]}, capsys)
    assert result["changed"] and result["backend"] == "iptables-legacy"
    assert [argv[:8] for argv in fake.iptables_run] == [
        ["iptables-legacy", "-w", "60", "-t", "mangle", "-I", "FORWARD", "1"],
        ["iptables-legacy", "-w", "60", "-t", "mangle", "-I", "OUTPUT", "1"],
        ["ip6tables-legacy", "-w", "60", "-t", "mangle", "-I", "FORWARD", "1"],
        ["ip6tables-legacy", "-w", "60", "-t", "mangle", "-I", "OUTPUT", "1"],
    ]
    assert sorted(fake.written) == ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"]
    assert fake.written["/etc/iptables/rules.v4"].startswith("*mangle\n")
    # What was run is what is printed: the same argv, each family with its own binary.
    assert result["fix"]["argv"] == fake.iptables_run
    assert result["fix"]["commands"][2] == (
        "ip6tables-legacy -w 60 -t mangle -I FORWARD 1 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment "
        "--comment 'netpath.mtu mss_clamp' -j TCPMSS --clamp-mss-to-pmtu")


def test_mss_clamp_firewalld(host, capsys):
    info = dict(INFO, firewalld=True)
    listed = 'rule family="ipv4" tcp-mss-clamp value="pmtu"\n'
    host["host"] = fake = FakeHost([Snapshot()], tools=("firewall-cmd",), info=info, outputs={
        ("firewall-cmd", "--get-default-zone"): (0, "public\n", ""),
        ("firewall-cmd", "--zone=public", "--list-rich-rules"): (0, listed, ""),
        ("firewall-cmd", "--permanent", "--zone=public", "--list-rich-rules"): (0, listed, ""),
    })
    result = run(mss_clamp, {}, capsys)
    assert result["backend"] == "firewalld" and result["changed"]
    assert result["commands"]["firewalld"] == [
        ["firewall-cmd", "--zone=public", '--add-rich-rule=rule family="ipv6" tcp-mss-clamp value="pmtu"'],
        ["firewall-cmd", "--permanent", "--zone=public", '--add-rich-rule=rule family="ipv6" tcp-mss-clamp value="pmtu"'],
    ]
    assert fake.ran[-2:] == result["commands"]["firewalld"]
    assert result["fix"]["commands"] == [
        "firewall-cmd --zone=public '--add-rich-rule=rule family=\"ipv6\" tcp-mss-clamp value=\"pmtu\"'",
        "firewall-cmd --permanent --zone=public '--add-rich-rule=rule family=\"ipv6\" tcp-mss-clamp value=\"pmtu\"'",
    ]


def test_mss_clamp_firewalld_policy_check_mode_prints_the_policy(host, capsys):
    info = dict(INFO, firewalld=True)
    host["host"] = fake = FakeHost([Snapshot()], tools=("firewall-cmd",), info=info, outputs={
        ("firewall-cmd", "--policy=to-tunnel", "--list-rich-rules"): (0, "", ""),
        ("firewall-cmd", "--permanent", "--policy=to-tunnel", "--list-rich-rules"): (0, "", ""),
    })
    result = run(mss_clamp, {"firewalld_policy": "to-tunnel", "mtu": 1420, "family": "ipv4", "_ansible_check_mode": True},
                 capsys)
    assert result["changed"] and not [argv for argv in fake.ran if "--add-rich-rule" in " ".join(argv)]
    assert result["fix"]["commands"] == [
        "firewall-cmd --policy=to-tunnel '--add-rich-rule=rule family=\"ipv4\" tcp-mss-clamp value=\"1380\"'",
        "firewall-cmd --permanent --policy=to-tunnel '--add-rich-rule=rule family=\"ipv4\" tcp-mss-clamp value=\"1380\"'",
    ]


@pytest.mark.parametrize("args, message", [
    ({"mtu": 1420, "mss": 1380}, "mutually exclusive"),
    ({"mtu": 1000}, "IPv6 minimum"),
    ({"interface": "bad name"}, "not a valid Linux interface name"),
])
def test_mss_clamp_rejects(host, capsys, args, message):
    host["host"] = FakeHost([Snapshot()])
    result = run(mss_clamp, args, capsys)
    assert result["failed"] and message in result["msg"]


# --- persistence: written is not enough, something must load it at boot ------------------------

@pytest.mark.parametrize("units, state, loaded_by, reason", [
    (None, "boot", "nftables.service", "nftables.service is enabled and loads /etc/nftables.conf at boot"),
    ({"nftables.service": "disabled"}, "runtime_only", None, "'systemctl enable nftables.service' to keep it"),
    ({"nftables.service": "static"}, "unknown", None, "cannot tell"),
])
def test_mss_clamp_nftables_persistence(host, capsys, units, state, loaded_by, reason):
    host["host"] = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF}, units=units)
    result = run(mss_clamp, {"mtu": 1420}, capsys)
    assert result["persisted"] == ["/etc/nftables.conf"]  # written either way: the file alone proves nothing
    survives = result["persistence"]
    assert (survives["state"], survives["loaded_by"], survives["files"]) == (state, loaded_by, ["/etc/nftables.conf"])
    assert reason in survives["reason"]


def test_mss_clamp_persist_false_is_runtime_only(host, capsys):
    host["host"] = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    result = run(mss_clamp, {"mtu": 1420, "persist": False}, capsys)
    assert result["persistence"] == {"state": "runtime_only", "files": [], "loaded_by": None,
                                     "reason": "persist=false: the clamp is in the live ruleset only"}


def test_mss_clamp_iptables_needs_netfilter_persistent(host, capsys):
    snap = Snapshot(nft='{"nftables": []}')
    outputs = {("/usr/sbin/iptables-legacy-save",): (0, "", ""), ("/usr/sbin/ip6tables-legacy-save",): (0, "", "")}
    host["host"] = FakeHost([snap], outputs=outputs, units={})
    result = run(mss_clamp, {"backend": "iptables-legacy"}, capsys)
    survives = result["persistence"]
    assert survives["state"] == "runtime_only"
    assert survives["files"] == ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"]
    assert "netfilter-persistent.service is not-found" in survives["reason"]
    host["host"] = FakeHost([snap], outputs=outputs)
    result = run(mss_clamp, {"backend": "iptables-legacy"}, capsys)
    assert (result["persistence"]["state"], result["persistence"]["loaded_by"]) == ("boot", "netfilter-persistent.service")


def test_mss_clamp_firewalld_is_loaded_by_firewalld(host, capsys):
    listed = 'rule family="ipv4" tcp-mss-clamp value="pmtu"\nrule family="ipv6" tcp-mss-clamp value="pmtu"\n'
    host["host"] = FakeHost([Snapshot()], tools=("firewall-cmd",), info=dict(INFO, firewalld=True), outputs={
        ("firewall-cmd", "--get-default-zone"): (0, "public\n", ""),
        ("firewall-cmd", "--zone=public", "--list-rich-rules"): (0, listed, ""),
        ("firewall-cmd", "--permanent", "--zone=public", "--list-rich-rules"): (0, listed, ""),
    }, units={"firewalld.service": "disabled"})
    result = run(mss_clamp, {}, capsys)
    assert result["changed"] is False and result["persistence"]["state"] == "runtime_only"
    assert "firewalld's permanent configuration is not loaded at boot" in result["persistence"]["reason"]


def test_icmp_policy_persistence(host, capsys):
    fixed = fw_plan.plan_icmp(rtr())["snapshot"]
    host["host"] = FakeHost([rtr(), fixed], files={"/etc/nftables.conf": NFT_CONF}, units={"nftables.service": "masked"})
    result = run(icmp_policy, {"state": "present"}, capsys)
    assert result["persisted"] == ["/etc/nftables.conf"]
    assert result["persistence"]["state"] == "runtime_only" and "nftables.service is masked" in result["persistence"]["reason"]


def test_icmp_policy_file_included_by_the_main_configuration(host, capsys):
    fixed = fw_plan.plan_icmp(rtr())["snapshot"]
    main = NFT_CONF + 'include "/etc/nftables.d/*.nft"\n'
    files = {"/etc/nftables.conf": main, "/etc/nftables.d/mtu.nft": ""}
    host["host"] = FakeHost([rtr(), fixed], files=files)
    result = run(icmp_policy, {"state": "present", "nftables_config": "/etc/nftables.d/mtu.nft"}, capsys)
    assert result["persistence"]["state"] == "boot"
    assert result["persistence"]["reason"] == ("nftables.service is enabled and loads /etc/nftables.d/mtu.nft "
                                               "(included by /etc/nftables.conf) at boot")
    host["host"] = FakeHost([rtr(), fixed], files={"/etc/nftables.conf": NFT_CONF, "/srv/fw.nft": ""})
    result = run(icmp_policy, {"state": "present", "nftables_config": "/srv/fw.nft"}, capsys)
    assert result["persistence"]["state"] == "unknown"
    assert "nothing this module knows loads /srv/fw.nft at boot" in result["persistence"]["reason"]


@pytest.mark.parametrize("args, message", [
    ({"nftables_config": "/etc"}, "nftables_config '/etc' is a directory; give the configuration file"),
    ({"nftables_config": "/nonexistent/x.conf"}, "nftables_config '/nonexistent/x.conf': its directory '/nonexistent' "
                                                 "does not exist"),
    ({"nftables_config": "/etc/a\nb.conf"}, "nftables_config '/etc/a\\nb.conf' contains control characters; give the "
                                            "configuration file"),
    ({"iptables_rules_v4": "/dev/null/x"}, "iptables_rules_v4 '/dev/null/x' is in a kernel pseudo file system; give "
                                           "the configuration file"),
    ({"interfaces": ["eth0", "nonexist0"]}, "interfaces: no interface named 'nonexist0' on this host"),
    ({"interfaces": ["x;reboot"]}, "interfaces: 'x;reboot' is not a valid Linux interface name (ASCII letters, digits "
                                   "and _ . : @ + -, not starting with '-' or ending with '.')"),
    ({"families": []}, "families must name at least one of ipv4, ipv6"),
    ({"hooks": []}, "hooks must name at least one of input, forward, output"),
])
def test_icmp_policy_refuses_before_changing_anything(host, capsys, args, message):
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    result = run(icmp_policy, dict(args, state="present"), capsys)
    assert result["failed"] and result["msg"] == message
    assert fake.applied == [] and fake.written == {}


def test_icmp_policy_unparsable_configuration_names_the_first_error(host, capsys):
    error = ("/tmp/netpath-mtu-x.nft:13:20-30: Error: syntax error, expecting priority\n"
             "        type filter hook input prio 0;\n                               ^^^^\n"
             "/tmp/netpath-mtu-x.nft:20:1-1: Error: syntax error, unexpected end of file")
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF}, nft_error=error,
                                   nft_error_files=True)
    result = run(icmp_policy, {"state": "present"}, capsys)
    assert result["msg"] == ("nftables_config /etc/nftables.conf does not parse (line 13: syntax error, expecting "
                             "priority); fix it first")
    assert fake.applied == [] and fake.written == {}


def test_icmp_policy_iptables_file_that_is_no_save_output(host, capsys):
    snap = Snapshot(nft='{"nftables": []}', iptables={("iptables-legacy", "ipv4"): read("leg-pol.v4.save")})
    host["host"] = fake = FakeHost([snap], files={"/srv/v4": "table inet x {\n}\n"})
    result = run(icmp_policy, {"state": "present", "families": ["ipv4"], "iptables_rules_v4": "/srv/v4"}, capsys)
    assert result["msg"].startswith("iptables_rules_v4 /srv/v4 is not iptables-save output (line 1: ")
    assert fake.iptables_run == [] and fake.written == {}


@pytest.mark.parametrize("args, message", [
    ({"interface": "nonexist0"}, "interface: no interface named 'nonexist0' on this host"),
    ({"interface": "$(reboot)"}, "interface: '$(reboot)' is not a valid Linux interface name"),
    ({"firewalld_zone": "public"}, "firewalld_zone is for backend firewalld; this host's backend is nftables"),
    ({"firewalld_policy": "p"}, "firewalld_policy is for backend firewalld; this host's backend is nftables"),
    ({"nftables_config": "/etc"}, "nftables_config '/etc' is a directory"),
    ({"iptables_rules_v6": "[1]"}, "iptables_rules_v6 '[1]' is not an absolute path"),
])
def test_mss_clamp_refuses_before_changing_anything(host, capsys, args, message):
    host["host"] = fake = FakeHost([rtr()], files={"/etc/nftables.conf": NFT_CONF})
    result = run(mss_clamp, dict(args, mss=1360), capsys)
    assert result["failed"] and result["msg"].startswith(message)
    assert fake.applied == [] and fake.written == {}
