# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host import validate

GOOD_NAMES = ["eth0", "wg0", "br-lan", "eth0.100", "veth@1", "a:b", "x+y", "e_1", "x" * 15, "0"]
BAD_NAMES = [
    ("", "not a valid Linux interface name"), ("x;reboot", "not a valid"), ("$(reboot)", "not a valid"),
    ("`id`", "not a valid"), ("x|cat", "not a valid"), ("x&&id", "not a valid"), ("x>y", "not a valid"),
    ("-x", "not starting with '-'"), ("x\x00y", "not a valid"), ("x\ny", "not a valid"), ("\u00e9th0", "not a valid"),
    ("\u0435th0", "not a valid"), ("eth0.", "ending with '.'"), (".", "not a valid"), ("..", "not a valid"),
    ("a/b", "not a valid"), ("x y", "not a valid"), (" eth0", "not a valid"), ("*", "not a valid"),
    ("x" * 16, "at most 15 characters"), ({"a": 1}, "is a dict"), (["x"], "is a list"),
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_interface_names(name):
    assert validate.interface_name_problem(name) is None
    assert validate.interface("interface", name) == name


@pytest.mark.parametrize("name, reason", BAD_NAMES)
def test_bad_interface_names_name_the_parameter(name, reason):
    with pytest.raises(ValueError) as error:
        validate.interface("interfaces", name)
    message = str(error.value)
    assert message.startswith("interfaces: ") and reason in message and "\n" not in message


def test_interface_must_exist_when_the_list_is_given():
    assert validate.interface("interface", "eth0", ["lo", "eth0"]) == "eth0"
    with pytest.raises(ValueError, match="^interface: no interface named 'nonexist0' on this host$"):
        validate.interface("interface", "nonexist0", ["lo", "eth0"])


@pytest.mark.parametrize("name, good", [("public", True), ("trusted-2", True), ("x" * 17, True), ("x" * 18, False),
                                        ("-x", False), ("a;b", False), ("a b", False), ("", False), ("\u00e9", False)])
def test_firewalld_names(name, good):
    if good:
        assert validate.firewalld_name("firewalld_zone", name) == name
    else:
        with pytest.raises(ValueError, match="^firewalld_zone: .* is not a valid firewalld name"):
            validate.firewalld_name("firewalld_zone", name)


KINDS = {"/etc": "directory", "/etc/nftables.conf": "file", "/etc/hostname": "file", "/etc/hostname/x.conf": "not_directory",
         "/srv/loop": "loop", "/srv/fifo": "other", "/srv": "directory", "/": "directory", "/root/x": "unreadable"}


def kind(path):
    return KINDS.get(path, "missing")


@pytest.mark.parametrize("path", ["/etc/nftables.conf", "/etc/new.conf", "/srv/rules.v4", "/new"])
def test_usable_config_files(path):
    assert validate.config_file("nftables_config", path, kind) == path


@pytest.mark.parametrize("path, says", [
    ("/etc", "nftables_config '/etc' is a directory; give the configuration file"),
    ("/nonexistent-rel/x.conf", "nftables_config '/nonexistent-rel/x.conf': its directory '/nonexistent-rel' does not exist"),
    ("/etc/hostname/x.conf", "nftables_config '/etc/hostname/x.conf' has a parent that is not a directory"),
    ("/srv/loop", "nftables_config '/srv/loop' is a symbolic link loop"),
    ("/srv/fifo", "nftables_config '/srv/fifo' is not a regular file; give the configuration file"),
    ("/dev/null/x", "nftables_config '/dev/null/x' is in a kernel pseudo file system"),
    ("/proc/self/status", "nftables_config '/proc/self/status' is in a kernel pseudo file system"),
    ("/sys/../sys/x", "nftables_config '/sys/../sys/x' is in a kernel pseudo file system"),
    ("/etc/a\nb.conf", "nftables_config '/etc/a\\nb.conf' contains control characters"),
    ("etc/nftables.conf", "nftables_config 'etc/nftables.conf' is not an absolute path"),
    ("{'a': 1}", "nftables_config \"{'a': 1}\" is not an absolute path"),
    ({"a": 1}, "nftables_config \"{'a': 1}\" is not an absolute path"),
    ("/root/x", "nftables_config '/root/x' cannot be examined"),
])
def test_unusable_config_files(path, says):
    with pytest.raises(ValueError) as error:
        validate.config_file("nftables_config", path, kind)
    assert str(error.value).startswith(says) and "\n" not in str(error.value)


def test_path_kind_asks_the_file_system(tmp_path):
    (tmp_path / "f").write_text("x")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo")
    assert validate.path_kind(str(tmp_path)) == "directory"
    assert validate.path_kind(str(tmp_path / "f")) == "file"
    assert validate.path_kind(str(tmp_path / "f" / "x")) == "not_directory"
    assert validate.path_kind(str(tmp_path / "loop")) == "loop"
    assert validate.path_kind(str(tmp_path / "fifo")) == "other"
    assert validate.path_kind(str(tmp_path / "missing")) == "missing"
