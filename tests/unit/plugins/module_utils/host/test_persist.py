# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Config-file editing for every backend: fixtures of real-looking files, edited text stated in full."""

from __future__ import annotations

import difflib

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.host import persist

KEY = "UAvBDBr9zX9/m6PUq3LZ7omjCLFYJTpvw5lE7NNerWw="
PUB = "Le6QUNnPcqkQtHLT+jMgTndNJ18ccU2vZJox/i/stn8="
PSK = "8cW8dE4y8l2ynaWBuZkF5kJqCSz/ayVqZyHDaGxKzrE="


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines between two texts, line endings included."""
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


# --- wg-quick ------------------------------------------------------------------------------------

WG_LAB = f"""[Interface]
PrivateKey = {KEY}
Address = 198.19.0.1/24, fd00:198:19::1/64
ListenPort = 51820
MTU = 1420

[Peer]
PublicKey = {PUB}
Endpoint = 198.18.0.2:51820
AllowedIPs = 198.19.0.2/32, fd00:198:19::2/128
"""

WG_NO_MTU = f"""# /etc/wireguard/wg0.conf - site B link, managed by hand
[Interface]   # this host
# the private key never leaves this box
PrivateKey={KEY}
Address=10.20.0.1/24
ListenPort=51820
PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo "up=1" # count=2

# [Interface] of the peer below is on the far side
[Peer]
# MTU = 1280   (not here: wg-quick reads MTU from [Interface] only)
PublicKey={PUB}
PresharedKey={PSK}
AllowedIPs=10.20.0.0/16
"""

WG_ODD = f"""[Interface]
\tPrivateKey\t=\t{KEY}
\tMTU   =1500    # was the default, see ticket 4411
\tAddress = 10.0.0.1/32
[Peer]
PublicKey = {PUB}
"""

WG_CRLF_NO_EOL = f"[Interface]\r\nPrivateKey = {KEY}\r\nAddress = 10.0.0.1/32"

WG_CASES = [
    # (fixture, mtu, removed lines, added lines)
    (WG_LAB, 1340, ["MTU = 1420\n"], ["MTU = 1340\n"]),
    (WG_NO_MTU, 1340, [], ["MTU=1340\n"]),  # spaced like the section's keys, after its last setting
    (WG_ODD, 1340, ["\tMTU   =1500    # was the default, see ticket 4411\n"],
     ["\tMTU   =1340    # was the default, see ticket 4411\n"]),
    (WG_CRLF_NO_EOL, 1340, ["Address = 10.0.0.1/32"], ["Address = 10.0.0.1/32\r\n", "MTU = 1340\r\n"]),
]


@pytest.mark.parametrize("text, mtu, removed, added", WG_CASES)
def test_wg_quick(text, mtu, removed, added):
    new = persist.wg_quick(text, mtu)
    assert changed_lines(text, new) == (removed, added)
    assert persist.wg_quick(new, mtu) == new  # idempotent


def test_wg_quick_inserts_inside_interface_before_blank_and_peer():
    new = persist.wg_quick(WG_NO_MTU, 1380)
    lines = new.splitlines()
    assert lines.index("MTU=1380") == lines.index('PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo "up=1" # count=2') + 1
    assert "# MTU = 1280   (not here: wg-quick reads MTU from [Interface] only)" in lines  # comment untouched


def test_wg_quick_same_value_keeps_the_text():
    assert persist.wg_quick(WG_LAB, 1420) == WG_LAB


def test_wg_quick_sets_every_interface_section():
    text = "[Interface]\nMTU = 1500\n[Peer]\nPublicKey = x\n[Interface]\nMTU=1450\n"
    assert persist.wg_quick(text, 1400) == "[Interface]\nMTU = 1400\n[Peer]\nPublicKey = x\n[Interface]\nMTU=1400\n"


@pytest.mark.parametrize("text, keys", [
    ("[Interface]\nMTU = 1420\nMTU = 9000\n", "MTU"),
    ("[Interface]\nMTU = 1420\nListenPort = 5\nMTU=1420 # same value, still twice\nListenPort = 1\n", "MTU and ListenPort"),
    ("[Interface]\nListenPort = 5\n[Peer]\nPublicKey = x\n[Interface]\nMTU = 1\nListenPort = 6\nListenPort = 7\n",
     "ListenPort"),
    ("[Interface]\nPrivateKey = a\nPrivateKey = b\n", "PrivateKey"),
    ("[Interface]\nMTU = 1420\r\n  MTU = 1300\r\n", "MTU"),
])
def test_wg_quick_refuses_a_key_given_twice(text, keys):
    with pytest.raises(persist.AmbiguousConfig) as error:
        persist.wg_quick(text, 1400)
    assert str(error.value) == f"has {keys} twice in [Interface]; fix it by hand first"


@pytest.mark.parametrize("text", [
    "[Interface]\nAddress = 10.0.0.1/32\nAddress = fd00::1/128\nDNS = 1.1.1.1\nDNS = 9.9.9.9\nMTU = 1420\n",
    "[Interface]\nPostUp = a\nPostUp = b\nMTU = 1420\n",
    "[Interface]\nMTU = 1420\n# MTU = 9000\n[Peer]\nMTU = 1\nMTU = 2\n",  # comments and [Peer] do not count
    "[Interface]\nMTU = 1500\n[Peer]\nPublicKey = x\n[Interface]\nMTU=1450\n",  # once per section
])
def test_wg_quick_repeatable_keys_are_not_duplicates(text):
    assert persist.wg_quick_duplicates(text) == []
    persist.wg_quick(text, 1400)


@pytest.mark.parametrize("text", ["", "[Peer]\nPublicKey = x\n", "# just a comment\n", "[interface]\nMTU = 1\n"])
def test_wg_quick_needs_an_interface_section(text):
    with pytest.raises(ValueError, match=r"no \[Interface\] section"):
        persist.wg_quick(text, 1400)


# --- systemd-networkd ----------------------------------------------------------------------------

NETDEV_LAB = """[NetDev]
Name=itlink-vx1a
Kind=vxlan
MTUBytes=1450

[VXLAN]
VNI=101
Remote=198.18.0.2
Local=198.18.0.1
DestinationPort=4789
"""

NETDEV_WG = f"""# WireGuard to the branch office
[NetDev]
Name = wg-branch
Kind = wireguard
Description = branch tunnel ; not a comment here

[WireGuard]
PrivateKey = {KEY}
ListenPort = 51820

[WireGuardPeer]
PublicKey = {PUB}
AllowedIPs = 10.9.0.0/16
"""

NETDEV_SUFFIX = "[NetDev]\nName=jumbo0\nKind=dummy\nMTUBytes=9K\n"

NETWORK_NO_LINK = """[Match]
Name=itlink-vx1a

[Network]
Address=198.19.1.1/24
Address=fd00:198:19:1::1/64
"""

NETWORK_LINK = """# uplink
[Match]
Name=enp3s0
MACAddress=52:54:00:12:34:56

[Link]
RequiredForOnline=no
;MTUBytes=9000

[Network]
DHCP=yes
"""

NETWORK_MTU = "[Match]\nName=eth0\n\n[Link]\nMTUBytes = 1500\n\n[Network]\nDHCP=ipv4"

NETWORKD_CASES = [
    # (path, fixture, mtu, removed, added)
    ("/etc/systemd/network/30-itlink-vx1a.netdev", NETDEV_LAB, 1350, ["MTUBytes=1450\n"], ["MTUBytes=1350\n"]),
    ("/etc/systemd/network/90-wg.netdev", NETDEV_WG, 1380, [], ["MTUBytes = 1380\n"]),
    ("/etc/systemd/network/10-jumbo.netdev", NETDEV_SUFFIX, 9000, ["MTUBytes=9K\n"], ["MTUBytes=9000\n"]),
    ("/etc/systemd/network/30-itlink-vx1a.network", NETWORK_NO_LINK, 1350, [], ["\n", "[Link]\n", "MTUBytes=1350\n"]),
    ("/etc/systemd/network/10-uplink.network", NETWORK_LINK, 9000, [], ["MTUBytes=9000\n"]),
    ("/etc/systemd/network/20-eth0.network", NETWORK_MTU, 1400, ["MTUBytes = 1500\n"], ["MTUBytes = 1400\n"]),
]


@pytest.mark.parametrize("path, text, mtu, removed, added", NETWORKD_CASES)
def test_networkd(path, text, mtu, removed, added):
    new = persist.networkd(text, path, mtu)
    assert changed_lines(text, new) == (removed, added)
    assert persist.networkd(new, path, mtu) == new


def test_networkd_places_the_setting_in_its_section():
    new = persist.networkd(NETDEV_WG, "/x/90-wg.netdev", 1380)
    assert "Description = branch tunnel ; not a comment here\nMTUBytes = 1380\n\n[WireGuard]" in new
    new = persist.networkd(NETWORK_LINK, "/x/10-uplink.network", 9000)
    assert "[Link]\nRequiredForOnline=no\nMTUBytes=9000\n;MTUBytes=9000\n\n[Network]" in new


def test_networkd_new_link_section_goes_at_the_end():
    assert persist.networkd_network(NETWORK_NO_LINK, 1350).endswith(
        "Address=fd00:198:19:1::1/64\n\n[Link]\nMTUBytes=1350\n")
    assert persist.networkd_network("[Match]\nName=x", 1400) == "[Match]\nName=x\n\n[Link]\nMTUBytes=1400\n"


def test_networkd_suffixed_value_that_matches_is_kept():
    assert persist.networkd(NETDEV_SUFFIX, "/x/10-jumbo.netdev", 9216) == NETDEV_SUFFIX


def test_networkd_netdev_without_netdev_section_fails():
    with pytest.raises(ValueError, match=r"no \[NetDev\] section"):
        persist.networkd("[Match]\nName=x\n", "/x/a.netdev", 1400)


@pytest.mark.parametrize("path", ["/etc/systemd/network/x.link", "/etc/systemd/network/x.conf"])
def test_networkd_other_files_fail(path):
    with pytest.raises(ValueError, match="only .netdev and .network"):
        persist.networkd("[Link]\nMTUBytes=1\n", path, 1400)


@pytest.mark.parametrize("path, text, expected", [
    ("/e/10-mtu.network.d/mtu.conf", "[Link]\nMTUBytes=1500\n", "[Link]\nMTUBytes=1400\n"),
    ("/e/10-mtu.network.d/other.conf", "[Network]\nDNS=1.1.1.1\n", "[Network]\nDNS=1.1.1.1\n"),  # not added there
    ("/e/30-vx.netdev.d/mtu.conf", "[NetDev]\nMTUBytes=1450\n", "[NetDev]\nMTUBytes=1400\n"),
])
def test_networkd_dropins_are_only_replaced(path, text, expected):
    assert persist.networkd(text, path, 1400, insert=False) == expected


def test_networkd_continuation_lines_are_not_keys():
    text = "[Link]\nDescription=a \\\nMTUBytes=1\nMTUBytes=1500\n"
    assert persist.networkd(text, "/x/a.network", 1400) == "[Link]\nDescription=a \\\nMTUBytes=1\nMTUBytes=1400\n"


@pytest.mark.parametrize("path, text, name, shared", [
    ("/e/30-vx.netdev", NETDEV_LAB, "itlink-vx1a", None),
    ("/e/30-vx.netdev", NETDEV_LAB, "itlink-vx1b", "defines itlink-vx1a device, not itlink-vx1b"),
    ("/e/20-eth0.network", NETWORK_MTU, "eth0", None),
    ("/e/10-en.network", "[Match]\nName=en*\n", "enp3s0", "Name=en*, which covers more than enp3s0"),
    ("/e/10-two.network", "[Match]\nName=eth0 eth1\n", "eth0", "Name=eth0 eth1"),
    ("/e/10-not.network", "[Match]\nName=!eth1\n", "eth0", "Name=!eth1"),
])
def test_networkd_unshared(path, text, name, shared):
    result = persist.networkd_unshared(text, path, name)
    if shared is None:
        assert result is None
    else:
        assert shared in result


# --- netplan -------------------------------------------------------------------------------------

NETPLAN = """# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.
network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:            # uplink
      dhcp4: true
      routes:
        - to: 10.0.0.0/8
          via: 192.0.2.1
          mtu: 1300  # route MTU, not the link's
    "eth1":
      mtu: 9000 # jumbo for storage
      addresses: [192.0.2.10/24]
    eth2: {dhcp4: false, addresses: [192.0.2.11/24]}  # flow
    eth3: {}
    lan0:
      match:
        macaddress: "52:54:00:12:34:56"
      set-name: eth4
      dhcp4: yes
  vlans:
    eth0.100:
      id: 100
      link: eth0
  tunnels:
    wg0:
      mode: wireguard
      port: 51820
      mtu: "1420"
"""

NETPLAN_4 = "network:\n    ethernets:\n        ens3:\n            dhcp4: true\n"

NETPLAN_CASES = [
    # (fixture, interface, mtu, removed, added)
    (NETPLAN, "eth0", 1400, [], ["      mtu: 1400\n"]),
    (NETPLAN, "eth1", 1500, ["      mtu: 9000 # jumbo for storage\n"], ["      mtu: 1500 # jumbo for storage\n"]),
    (NETPLAN, "eth2", 1400, ["    eth2: {dhcp4: false, addresses: [192.0.2.11/24]}  # flow\n"],
     ["    eth2: {dhcp4: false, addresses: [192.0.2.11/24], mtu: 1400}  # flow\n"]),
    (NETPLAN, "eth3", 1400, ["    eth3: {}\n"], ["    eth3: {mtu: 1400}\n"]),
    (NETPLAN, "eth4", 1400, [], ["      mtu: 1400\n"]),  # by set-name, in the lan0 block
    (NETPLAN, "eth0.100", 1400, [], ["      mtu: 1400\n"]),
    (NETPLAN, "wg0", 1340, ['      mtu: "1420"\n'], ["      mtu: 1340\n"]),
    (NETPLAN_4, "ens3", 1400, [], ["            mtu: 1400\n"]),
]


@pytest.mark.parametrize("text, name, mtu, removed, added", NETPLAN_CASES)
def test_netplan(text, name, mtu, removed, added):
    new = persist.netplan(text, name, mtu)
    assert changed_lines(text, new) == (removed, added)
    assert persist.netplan(new, name, mtu) == new


def test_netplan_inserts_in_the_right_block():
    new = persist.netplan(NETPLAN, "eth0", 1400)
    assert "    eth0:            # uplink\n      mtu: 1400\n      dhcp4: true\n" in new
    assert "          mtu: 1300  # route MTU, not the link's\n" in new
    new = persist.netplan(NETPLAN, "eth4", 1400)
    assert "    lan0:\n      mtu: 1400\n      match:\n" in new


def test_netplan_result_is_still_the_same_yaml_plus_mtu():
    yaml = pytest.importorskip("yaml")
    for name, path in (("eth0", ("ethernets", "eth0")), ("eth2", ("ethernets", "eth2")),
                       ("eth4", ("ethernets", "lan0")), ("wg0", ("tunnels", "wg0"))):
        before = yaml.safe_load(NETPLAN)["network"]
        after = yaml.safe_load(persist.netplan(NETPLAN, name, 1400))["network"]
        assert after[path[0]][path[1]].pop("mtu") == 1400
        before[path[0]][path[1]].pop("mtu", None)
        assert after == before


def test_netplan_same_value_keeps_quotes():
    assert persist.netplan(NETPLAN, "wg0", 1420) == NETPLAN


@pytest.mark.parametrize("text, name, message", [
    (NETPLAN, "eth9", "does not define eth9"),
    ("network:\n  ethernets:\n\teth0:\n", "eth0", "tabs"),
    ("network:\n  ethernets:\n    eth0: {dhcp4: true,\n      mtu: 1}\n", "eth0", "several lines"),
    ("network:\n  bridges:\n    br0: null\n", "br0", "not a mapping"),
    ("ethernets:\n  eth0:\n    dhcp4: true\n", "eth0", "does not define"),  # not under network:
])
def test_netplan_errors(text, name, message):
    with pytest.raises(ValueError, match=message):
        persist.netplan(text, name, 1400)


# --- ifupdown ------------------------------------------------------------------------------------

INTERFACES = """# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eth0
iface eth0 inet static
\taddress 192.0.2.10/24
\t# gateway via the lab router
\tgateway 192.0.2.1
\t# mtu 9000  (storage VLAN only)

iface eth0 inet6 auto

auto eth0.100
iface eth0.100 inet manual
        vlan-raw-device eth0
        mtu 1500
"""

INTERFACES_V6 = "auto ens3\niface ens3 inet dhcp\niface ens3 inet6 static\n  address 2001:db8::2/64\n  mtu 1480\n"
INTERFACES_BARE = "auto wg0\niface wg0 inet manual\n  pre-up ip link add wg0 type wireguard\n\niface eth1 inet dhcp"

IFUPDOWN_CASES = [
    (INTERFACES, "eth0", 1400, [], ["\tmtu 1400\n"]),
    (INTERFACES, "eth0.100", 1400, ["        mtu 1500\n"], ["        mtu 1400\n"]),
    (INTERFACES_V6, "ens3", 1400, ["  mtu 1480\n"], ["  mtu 1400\n"]),  # the stanza that has it
    (INTERFACES_BARE, "eth1", 1400, ["iface eth1 inet dhcp"], ["iface eth1 inet dhcp\n", "  mtu 1400\n"]),
    (INTERFACES_BARE, "wg0", 1340, [], ["  mtu 1340\n"]),
]


@pytest.mark.parametrize("text, name, mtu, removed, added", IFUPDOWN_CASES)
def test_ifupdown(text, name, mtu, removed, added):
    new = persist.ifupdown(text, name, mtu)
    assert changed_lines(text, new) == (removed, added)
    assert persist.ifupdown(new, name, mtu) == new


def test_ifupdown_adds_to_the_inet_stanza_after_its_last_option():
    new = persist.ifupdown(INTERFACES, "eth0", 1400)
    assert "\tgateway 192.0.2.1\n\tmtu 1400\n\t# mtu 9000  (storage VLAN only)\n\niface eth0 inet6 auto\n" in new
    assert new.count("mtu 1500") == 1  # eth0.100 untouched


def test_ifupdown_continuation_lines():
    text = "iface br0 inet static\n    bridge_ports eth0 \\\n     mtu 1\n    address 10.0.0.1/24\n"
    assert persist.ifupdown(text, "br0", 1400).endswith("    address 10.0.0.1/24\n    mtu 1400\n")


@pytest.mark.parametrize("text", [INTERFACES, "auto eth9\n", ""])
def test_ifupdown_unknown_interface(text):
    with pytest.raises(ValueError, match="no 'iface eth9' stanza"):
        persist.ifupdown(text, "eth9", 1400)


# --- ifcfg ---------------------------------------------------------------------------------------

IFCFG_QUOTED = '''# Generated by parse-kickstart
TYPE="Ethernet"
BOOTPROTO="none"
DEVICE="eth0"
ONBOOT="yes"
IPADDR="192.0.2.10"
PREFIX="24"
#MTU="9000"
'''

IFCFG_CASES = [
    (IFCFG_QUOTED, 1400, [], ['MTU="1400"\n']),
    ("DEVICE=eth1\nONBOOT=yes\nMTU=1500\nNM_CONTROLLED=no\n", 1400, ["MTU=1500\n"], ["MTU=1400\n"]),
    ("DEVICE=eth2\nMTU='9000' # jumbo\n", 1500, ["MTU='9000' # jumbo\n"], ["MTU='1500' # jumbo\n"]),
    ("DEVICE=eth3\r\nONBOOT=yes", 1400, ["ONBOOT=yes"], ["ONBOOT=yes\r\n", "MTU=1400\r\n"]),
    ("", 1400, [], ["MTU=1400\n"]),
]


@pytest.mark.parametrize("text, mtu, removed, added", IFCFG_CASES)
def test_ifcfg(text, mtu, removed, added):
    new = persist.ifcfg(text, mtu)
    assert changed_lines(text, new) == (removed, added)
    assert persist.ifcfg(new, mtu) == new


def test_ifcfg_same_value_keeps_quotes():
    text = 'DEVICE="eth0"\nMTU="1400"\n'
    assert persist.ifcfg(text, 1400) == text


# --- NetworkManager ------------------------------------------------------------------------------

@pytest.mark.parametrize("connection_type, setting", [
    ("802-3-ethernet", "802-3-ethernet.mtu"),
    ("vlan", "802-3-ethernet.mtu"),
    ("bond", "802-3-ethernet.mtu"),
    ("wireguard", "wireguard.mtu"),
    ("ip-tunnel", "ip-tunnel.mtu"),
    ("802-11-wireless", "802-11-wireless.mtu"),
    ("pppoe", "ppp.mtu"),
    ("wireguard\n", "wireguard.mtu"),
])
def test_nm_mtu_setting(connection_type, setting):
    assert persist.nm_mtu_setting(connection_type) == setting


@pytest.mark.parametrize("connection_type", ["loopback", "", "vpn"])
def test_nm_mtu_setting_unknown(connection_type):
    with pytest.raises(ValueError, match="no MTU property"):
        persist.nm_mtu_setting(connection_type)


@pytest.mark.parametrize("text, expected", [("1400\n", 1400), ("auto\n", None), ("0\n", None), ("", None), (None, None)])
def test_nm_mtu_value(text, expected):
    assert persist.nm_mtu_value(text) == expected


def test_nm_commands_modify_then_reapply():
    assert persist.nm_commands("/usr/bin/nmcli", "5e7c-uuid", "eth0", "802-3-ethernet.mtu", 1400) == [
        ["/usr/bin/nmcli", "connection", "modify", "5e7c-uuid", "802-3-ethernet.mtu", "1400"],
        ["/usr/bin/nmcli", "device", "reapply", "eth0"],
    ]


# --- shared ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (f"PrivateKey = {KEY}\n", "PrivateKey = <redacted>\n"),
    (f"PresharedKey={PSK}\r\n", "PresharedKey=<redacted>\r\n"),
    (f"PublicKey = {PUB}\n", f"PublicKey = {PUB}\n"),
    ("      private-key: abc\n", "      private-key: <redacted>\n"),
    ("psk=secret123\n", "psk=<redacted>\n"),
    ('WPA_PSK="x"\n', "WPA_PSK=<redacted>\n"),
    ("MTU = 1420\n", "MTU = 1420\n"),
])
def test_redact(text, expected):
    assert persist.redact(text) == expected


def test_redact_whole_wg_file():
    redacted = persist.redact(WG_NO_MTU)
    assert KEY not in redacted and PSK not in redacted and PUB in redacted
    assert len(redacted.splitlines()) == len(WG_NO_MTU.splitlines())


@pytest.mark.parametrize("value, expected", [("1400", 1400), (' "1400" ', 1400), ("'9000'", 9000), ("9K", 9216),
                                             ("1M", 1048576), ("auto", None), ("", None), (None, None), ("1.5K", None)])
def test_parse_size(value, expected):
    assert persist.parse_size(value) == expected


@pytest.mark.parametrize("editor", [
    lambda mtu: persist.wg_quick(WG_LAB, mtu),
    lambda mtu: persist.networkd_netdev(NETDEV_LAB, mtu),
    lambda mtu: persist.netplan(NETPLAN, "eth0", mtu),
    lambda mtu: persist.ifupdown(INTERFACES, "eth0", mtu),
    lambda mtu: persist.ifcfg(IFCFG_QUOTED, mtu),
])
@pytest.mark.parametrize("mtu", [0, -1, True, "1400", 1400.0])
def test_editors_reject_non_mtu(editor, mtu):
    with pytest.raises(ValueError, match="positive integer"):
        editor(mtu)
