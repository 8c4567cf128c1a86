# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The firewall modules' shared skeleton: file options, the change record, planning errors, carry_out."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.firewall.firewall_io import FileChange, nft_error_line
from ansible_collections.netpath.mtu.plugins.module_utils.firewall.fw_backend import (
    FirewallFiles,
    RulesetChange,
    carry_out,
    framework_facts,
    planning,
    undo_argv,
)
from ansible_collections.netpath.mtu.plugins.module_utils.host.command import CommandError
from ansible_collections.netpath.mtu.plugins.module_utils.host.module_run import ModuleFailure

FILE_PARAMS = {"persist": True, "nftables_config": None, "iptables_rules_v4": None, "iptables_rules_v6": "/srv/v6",
               "backup": True, "state": "present"}


class Recorder:
    """Records what is applied, in order; ``fail_on`` makes that step raise."""

    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.done: list = []

    def _step(self, kind, what):
        if kind == self.fail_on:
            raise CommandError([kind], 1, "", f"{kind} refused")
        self.done.append((kind, what))

    def nft_apply(self, transaction):
        self._step("nft", json.loads(transaction))

    def iptables(self, argv):
        self._step("iptables", argv)

    def must(self, argv, data=None):
        self._step("firewalld", argv)
        return ""

    def backup(self, path):
        return path + ".bak"

    def write(self, path, text, mode=0o640):
        if self.fail_on == "write":
            raise OSError(30, "Read-only file system")
        self.done.append(("write", path, text))

    def remove(self, path):
        self.done.append(("remove", path))


def test_files_from_params_and_paths():
    files = FirewallFiles.from_params(FILE_PARAMS)
    assert files == FirewallFiles(persist=True, iptables_rules_v6="/srv/v6", backup=True)
    debian = {"/etc/iptables"}.__contains__
    assert files.nft_path(lambda path: False) == "/etc/nftables.conf"
    assert files.iptables_path("ipv4", debian) == "/etc/iptables/rules.v4"
    assert files.iptables_path("ipv6", debian) == "/srv/v6"  # the one given wins
    given = FirewallFiles(nftables_config="/etc/nftables.d/mtu.nft", iptables_rules_v4="/srv/v4")
    assert given.nft_path(debian) == "/etc/nftables.d/mtu.nft" and given.iptables_path("ipv4", debian) == "/srv/v4"
    assert given.iptables_path("ipv6", {"/etc/sysconfig"}.__contains__) == "/etc/sysconfig/ip6tables"


def test_change_record():
    assert not RulesetChange().changed and RulesetChange().commands() == {"nft": None, "iptables": [], "firewalld": []}
    for field in ("nft", "iptables", "firewalld", "files"):
        assert RulesetChange(**{field: [object()]}).changed
    change = RulesetChange(nft=[{"add": {"table": {"family": "inet", "name": "t"}}}],
                           chains=[{"chain": "inet t c", "before": [], "after": ["rule a", "rule b"]}],
                           files=[FileChange("/etc/nftables.conf", None, "new\n")])
    assert json.loads(change.commands()["nft"]) == {"nftables": change.nft}
    assert change.diff() == [
        {"before_header": "inet t c", "after_header": "inet t c", "before": "", "after": "rule a\nrule b\n"},
        {"before_header": "/etc/nftables.conf", "after_header": "/etc/nftables.conf", "before": "", "after": "new\n"},
    ]


@pytest.mark.parametrize("error", [ValueError("no firewall framework is installed"), CommandError(["nft"], 1, "", "boom")])
def test_planning_turns_errors_into_a_bare_failure(error):
    with pytest.raises(ModuleFailure) as failure:
        with planning():
            raise error
    assert failure.value.msg == str(error) and failure.value.result == {}


def test_planning_leaves_other_errors_alone():
    with pytest.raises(KeyError):
        with planning():
            raise KeyError("bug")


def test_framework_facts():
    info = {"framework": "nftables", "frameworks": ["nftables"], "firewalld": False, "nft_tables": ["inet t"]}
    assert framework_facts(info) == {"framework": "nftables", "frameworks": ["nftables"], "firewalld": False}


def change_of_each_kind() -> RulesetChange:
    return RulesetChange(nft=[{"flush": {"ruleset": None}}], iptables=[["iptables", "-A", "X"]],
                         firewalld=[["firewall-cmd", "--reload"]], files=[FileChange("/etc/f", "a\n", "b\n")],
                         chains=[{"chain": "c", "before": ["a"], "after": ["b"]}])


@pytest.mark.parametrize("check_mode", [True, False])
def test_carry_out_applies_in_order_unless_check_mode(check_mode):
    host, result = Recorder(), {"changed": False}
    verified = carry_out(host, change_of_each_kind(), result, check_mode=check_mode, diff=True, backup=True,
                         verify=lambda: "live")
    assert result["changed"] and result["persisted"] == ["/etc/f"] and len(result["diff"]) == 2
    assert result["commands"]["iptables"] == [["iptables", "-A", "X"]]
    if check_mode:
        assert host.done == [] and verified is None and "backup_files" not in result
    else:
        # Files first: a file that cannot be written then changes nothing live.
        assert [step[0] for step in host.done] == ["write", "nft", "iptables", "firewalld"]
        assert verified == "live" and result["backup_files"] == ["/etc/f.bak"]


def test_carry_out_unchanged_applies_and_verifies_nothing():
    host, result = Recorder(), {}
    assert carry_out(host, RulesetChange(), result, check_mode=False, diff=False, backup=False,
                     verify=lambda: pytest.fail("verified without a change")) is None
    assert result == {"changed": False, "commands": {"nft": None, "iptables": [], "firewalld": []}, "persisted": []}
    assert host.done == []


def test_carry_out_live_failure_restores_the_files():
    host, result = Recorder(fail_on="iptables"), {"backend": "nftables"}
    change = change_of_each_kind()
    change.files.append(FileChange("/etc/new", None, "c\n"))
    with pytest.raises(ModuleFailure) as failure:
        carry_out(host, change, result, check_mode=False, diff=False, backup=False)
    assert failure.value.msg == ("applying the change failed: iptables failed (rc=1): iptables refused; these live "
                                 "changes stay applied: the nft transaction")
    assert failure.value.result["changed"] is True and failure.value.result["backend"] == "nftables"
    # Written, nft applied, then iptables failed: the new file removed, the old one's text back.
    assert host.done[-2:] == [("remove", "/etc/new"), ("write", "/etc/f", "a\n")]


def test_carry_out_failed_nft_transaction_changes_nothing():
    # nft -f is one transaction: when it fails nothing is live, the files go back, and changed says so.
    host, result = Recorder(fail_on="nft"), {}
    change = RulesetChange(nft=[{"add": {"table": {"family": "inet", "name": "t"}}}],
                           files=[FileChange("/etc/nftables.conf", "old\n", "new\n")])
    with pytest.raises(ModuleFailure) as failure:
        carry_out(host, change, result, check_mode=False, diff=False, backup=False)
    assert failure.value.result["changed"] is False
    assert failure.value.msg.endswith("nothing was changed (the live steps that ran were taken back and the files "
                                      "restored)")
    assert host.done == [("write", "/etc/nftables.conf", "new\n"), ("write", "/etc/nftables.conf", "old\n")]


class FailsSecondIptables(Recorder):
    def iptables(self, argv):
        if argv[0] == "ip6tables" and "-I" in argv:
            raise CommandError(argv, 2, "", "ip6tables: Invalid argument")
        self.done.append(("iptables", argv))


def test_carry_out_half_applied_iptables_is_taken_back():
    rule = ["-t", "mangle", "-I", "FORWARD", "1", "-p", "tcp", "-j", "TCPMSS", "--clamp-mss-to-pmtu"]
    change = RulesetChange(iptables=[["iptables"] + rule, ["ip6tables"] + rule],
                           files=[FileChange("/etc/iptables/rules.v4", "old4\n", "new4\n"),
                                  FileChange("/etc/iptables/rules.v6", "old6\n", "new6\n")])
    host = FailsSecondIptables()
    with pytest.raises(ModuleFailure) as failure:
        carry_out(host, change, {}, check_mode=False, diff=False, backup=False)
    assert failure.value.result["changed"] is False and "nothing was changed" in failure.value.msg
    undo = ["iptables", "-t", "mangle", "-D", "FORWARD", "-p", "tcp", "-j", "TCPMSS", "--clamp-mss-to-pmtu"]
    assert host.done[2:] == [("iptables", ["iptables"] + rule), ("iptables", undo),
                             ("write", "/etc/iptables/rules.v6", "old6\n"), ("write", "/etc/iptables/rules.v4", "old4\n")]


def test_carry_out_says_which_live_step_stays_when_it_cannot_be_taken_back():
    change = RulesetChange(iptables=[["iptables", "-t", "mangle", "-D", "FORWARD", "1"], ["ip6tables", "-I", "X"]])
    with pytest.raises(ModuleFailure) as failure:
        carry_out(FailsSecondIptables(), change, {}, check_mode=False, diff=False, backup=False)
    assert failure.value.result["changed"] is True
    assert failure.value.msg.endswith("these live changes stay applied: iptables -t mangle -D FORWARD 1")


@pytest.mark.parametrize("argv, inverse", [
    (["iptables", "-w", "60", "-t", "mangle", "-I", "FORWARD", "1", "-o", "wg0", "-j", "X"],
     ["iptables", "-w", "60", "-t", "mangle", "-D", "FORWARD", "-o", "wg0", "-j", "X"]),
    (["iptables", "-I", "OUTPUT", "-p", "icmp"], ["iptables", "-D", "OUTPUT", "-p", "icmp"]),
    (["iptables", "-A", "INPUT", "-j", "ACCEPT"], ["iptables", "-D", "INPUT", "-j", "ACCEPT"]),
    (["iptables", "-D", "INPUT", "3"], None),
    (["iptables", "-I"], None),
])
def test_undo_argv(argv, inverse):
    assert undo_argv(argv) == inverse


def test_carry_out_write_failure_changes_nothing():
    host, result = Recorder(fail_on="write"), {"backend": "nftables"}
    with pytest.raises(ModuleFailure) as failure:
        carry_out(host, change_of_each_kind(), result, check_mode=False, diff=False, backup=False)
    assert failure.value.msg == "file /etc/f could not be written (Read-only file system); nothing was changed"
    assert failure.value.result["changed"] is False and host.done == []


def test_carry_out_failed_verification_fails_the_task():
    def verify():
        raise ValueError("nft -j list ruleset: no JSON")

    with pytest.raises(ModuleFailure, match="applying the change failed: nft -j list ruleset: no JSON"):
        carry_out(Recorder(), change_of_each_kind(), {}, check_mode=False, diff=False, backup=False, verify=verify)


@pytest.mark.parametrize("error, line", [
    ("/tmp/netpath-mtu-x.nft:13:20-30: Error: syntax error, expecting priority\n  x\n  ^^^", "line 13: syntax error, "
     "expecting priority"),
    ("<config>:4:1-5: Error: No such file or directory; did you mean table 'filter'?\nadd rule ...",
     "line 4: No such file or directory; did you mean table 'filter'?"),
    ("Error: Could not process rule: Operation not permitted", "Could not process rule: Operation not permitted"),
    ("something odd", "something odd"),
    ("", "rejected"),
])
def test_nft_error_line_keeps_the_first_error(error, line):
    assert nft_error_line(error) == line
