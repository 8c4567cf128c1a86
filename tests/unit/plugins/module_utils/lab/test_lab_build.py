# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""LabBuilder against a recording command seam: the exact command lines are the contract."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.lab import lab_build
from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_build import LabBuilder
from ansible_collections.netpath.mtu.plugins.module_utils.lab.lab_topology import plan_lab

TOPOLOGY = {
    "hosts": [{"name": "a", "role": "gateway"}, {"name": "r", "role": "router", "drop_icmp_ptb": ["output"]},
              {"name": "b", "role": "gateway", "firewall": "iptables-legacy", "drop_icmp_ptb": ["input"]}],
    "links": [{"a": "a", "b": "r"}, {"a": "r", "b": "b", "mtu": 1400}],
    "tunnels": [{"type": "wireguard", "a": "a", "b": "b"}, {"type": "vxlan", "a": "a", "b": "b"}],
}


class FakeModule:
    def __init__(self):
        self.calls: list[list[str]] = []

    def run_command(self, argv, data=None, binary_data=False, environ_update=None):
        assert environ_update["LC_ALL"] == "C"
        self.calls.append(list(argv))
        if argv[:2] == ["wg", "genkey"]:
            return 0, f"PRIV{len(self.calls)}\n", ""
        if argv[:2] == ["wg", "pubkey"]:
            return 0, data.replace("PRIV", "PUB"), ""
        if argv[:2] == ["ssh-keygen", "-q"]:
            path = argv[-1]
            for suffix in ("", ".pub"):
                with open(path + suffix, "w", encoding="utf-8") as handle:
                    handle.write("ssh-ed25519 KEY lab\n")
        return 0, "", ""


@pytest.fixture
def builder(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_build, "NETNS_ETC", str(tmp_path / "netns"))
    monkeypatch.setattr(lab_build, "WIREGUARD_RUN", str(tmp_path / "wg"))
    monkeypatch.setattr(lab_build, "SSHD_PRIVSEP_DIR", str(tmp_path / "sshd"))
    return LabBuilder(FakeModule(), str(tmp_path / "work"))


def test_build_runs_these_commands(builder, tmp_path):
    plan = plan_lab("t", TOPOLOGY)
    builder.build(plan)
    calls = builder.module.calls
    expected = [
        ["ip", "link", "add", "t-mgmt", "type", "bridge"],
        ["ip", "addr", "add", "198.19.200.1/24", "dev", "t-mgmt"],
        ["ip", "netns", "add", "t-a"],
        ["ip", "netns", "exec", "t-r", "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
         "net.ipv6.conf.default.accept_dad=0", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
        ["ip", "link", "add", "t-m1", "type", "veth", "peer", "name", "mgmt0", "netns", "t-r"],
        ["ip", "link", "add", "eth1", "netns", "t-r", "mtu", "1400", "type", "veth",
         "peer", "name", "eth0", "netns", "t-b", "mtu", "1400"],
        ["ip", "-n", "t-b", "-6", "addr", "add", "fd00:198:18:1::2/64", "dev", "eth0", "nodad"],
        ["ip", "netns", "exec", "t-r", "nft", "-f", "/etc/nftables.conf"],
        ["ip", "netns", "exec", "t-b", "iptables-legacy", "-w", "-A", "INPUT", "-p", "icmp",
         "--icmp-type", "fragmentation-needed", "-j", "DROP"],
        ["ip", "netns", "exec", "t-a", "wg-quick", "up", "t-wg0a"],
        ["ip", "-n", "t-a", "link", "add", "t-vx1a", "mtu", "1450", "type", "vxlan", "id", "101",
         "remote", "198.18.1.2", "local", "198.18.0.1", "dstport", "4789"],
        ["ip", "-n", "t-a", "route", "replace", "198.18.1.0/24", "via", "198.18.0.2", "dev", "eth0"],
        ["ip", "netns", "exec", "t-b", "/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config"],
    ]
    for argv in expected:
        assert argv in calls, argv
    # order matters where one step needs another
    assert calls.index(expected[0]) < calls.index(expected[4]) < calls.index(expected[-1])
    assert calls.index(expected[7]) < calls.index(expected[9])


def test_build_writes_each_hosts_etc(builder, tmp_path):
    plan = plan_lab("t", TOPOLOGY)
    builder.build(plan)
    etc_a = tmp_path / "netns" / "t-a"
    sshd = (etc_a / "ssh" / "sshd_config").read_text()
    assert "ListenAddress 198.19.200.2" in sshd and "PidFile /run/netpath-mtu-lab-t-a-sshd.pid" in sshd
    wg = (etc_a / "wireguard" / "t-wg0a.conf").read_text()
    assert "MTU = 1420" in wg and "Endpoint = 198.18.1.2:51820" in wg
    private = wg.split("PrivateKey = ")[1].split()[0]
    peer_public = wg.split("PublicKey = ")[1].split()[0]
    assert private.startswith("PRIV") and peer_public.startswith("PUB") and private[4:] != peer_public[3:]
    assert oct(os.stat(etc_a / "wireguard" / "t-wg0a.conf").st_mode & 0o777) == "0o600"
    assert (etc_a / "systemd" / "network" / "30-t-vx1a.netdev").read_text().count("VNI=101") == 1
    assert "frag-needed drop" in (tmp_path / "netns" / "t-r" / "nftables.conf").read_text()
    assert (tmp_path / "netns" / "t-b" / "hostname").read_text() == "b\n"


def test_state_is_recorded_before_anything_is_created(builder):
    plan = plan_lab("t", TOPOLOGY)

    def fail(argv, **_kwargs):
        raise RuntimeError("stop")

    builder.module.run_command = fail
    with pytest.raises(RuntimeError):
        builder.build(plan)
    state = builder.read_state()
    assert state["namespaces"] == ["t-a", "t-r", "t-b"]
    assert state["wireguard_interfaces"] == ["t-wg0a", "t-wg0b"]
    assert state["mgmt_veths"] == ["t-m0", "t-m1", "t-m2"]


def test_teardown_removes_what_state_recorded(builder, tmp_path):
    plan = plan_lab("t", TOPOLOGY)
    builder.write_state(plan)
    (tmp_path / "netns" / "t-a").mkdir(parents=True)
    (tmp_path / "wg").mkdir()
    (tmp_path / "wg" / "t-wg0a.sock").write_text("")
    module = builder.module

    def run_command(argv, **_kwargs):
        module.calls.append(list(argv))
        if argv[:3] == ["ip", "netns", "list"]:
            return 0, "t-a (id: 0)\nt-b (id: 2)\nother (id: 3)\n", ""
        return 0, "", ""

    module.run_command = run_command
    assert builder.teardown(builder.read_state()) is True
    assert ["ip", "netns", "delete", "t-a"] in module.calls
    assert ["ip", "netns", "delete", "t-b"] in module.calls
    assert ["ip", "netns", "delete", "t-r"] not in module.calls  # already gone
    assert not any("other" in argv for argv in module.calls)
    assert ["ip", "link", "delete", "t-mgmt"] in module.calls
    assert not (tmp_path / "netns" / "t-a").exists()
    assert not (tmp_path / "wg" / "t-wg0a.sock").exists()
    assert builder.read_state() is None


def test_remove_workdir_removes_only_the_labs_files(builder, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("state.json", "id_ed25519", "id_ed25519.pub", "inventory.yml"):
        (work / name).write_text("x")
    (work / "notes.txt").write_text("someone else's")
    builder.remove_workdir()
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"]
    (work / "notes.txt").unlink()
    (work / "state.json").write_text("{}")
    builder.remove_workdir()
    assert not work.exists()
    builder.remove_workdir()  # already gone: nothing to do


def test_healthy_needs_the_same_fingerprint(builder):
    plan = plan_lab("t", TOPOLOGY)
    assert builder.healthy(plan) is False
    builder.write_state(plan)
    with open(builder.state_file, encoding="utf-8") as handle:
        assert json.load(handle)["fingerprint"] == plan["fingerprint"]


def test_etc_dirs_give_a_host_its_own_directory(builder, tmp_path, monkeypatch):
    monkeypatch.setattr(lab_build, "MACHINE_ETC", str(tmp_path / "etc"))
    topology = dict(TOPOLOGY, hosts=[dict(TOPOLOGY["hosts"][0], etc_dirs=["iptables", "sysconfig"])] + TOPOLOGY["hosts"][1:])
    builder.build(plan_lab("t", topology))
    # ip netns exec only bind-mounts over what exists: the machine gets the (empty) directory too
    assert sorted(os.listdir(tmp_path / "etc")) == ["iptables", "sysconfig"]
    assert (tmp_path / "netns" / "t-a" / "iptables").is_dir() and (tmp_path / "netns" / "t-a" / "sysconfig").is_dir()
    assert not (tmp_path / "netns" / "t-r" / "iptables").exists()
