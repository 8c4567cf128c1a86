# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Persist an interface MTU in the files of the network manager that owns it. Pure: text in, text out.

Every editor takes a file's text and returns the new text, changing only the line that holds the
MTU (or inserting one line, or one section where the format needs it); comments, blank lines,
indentation, quoting, key spacing and line endings are left as they were. A value that already
means the wanted MTU is left alone (``MTU="1400"`` stays quoted), so a second run changes nothing.
A file that cannot be edited safely raises ``ValueError`` with the reason, which the module reports.

NetworkManager is not edited as a file: ``nm_*`` helpers build the ``nmcli`` argv lists instead.
"""

from __future__ import annotations

import re
from typing import Iterator

IFNAME_MAX = 15  # IFNAMSIZ - 1

# --- shared helpers ----------------------------------------------------------------------------

_EOL = re.compile(r"(\r?\n)$")
_SIZE = re.compile(r"^\s*([\"']?)\s*(\d+)\s*([KMG]?)\s*\1\s*$", re.I)


def _check_mtu(mtu: int) -> int:
    if isinstance(mtu, bool) or not isinstance(mtu, int) or mtu <= 0:
        raise ValueError(f"MTU must be a positive integer, got {mtu!r}")
    return mtu


def newline(text: str) -> str:
    """The file's line ending (CRLF when it has any), for lines we add."""
    return "\r\n" if "\r\n" in text else "\n"


def _split(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _body(line: str) -> tuple[str, str]:
    match = _EOL.search(line)
    return (line[:match.start()], match.group(1)) if match else (line, "")


def _terminated(lines: list[str], index: int, nl: str) -> None:
    """Make sure lines[index] ends with a newline before something is inserted after it."""
    if index >= 0 and lines and not _EOL.search(lines[index]):
        lines[index] += nl


def parse_size(value: str | None) -> int | None:
    """'1400', '"1400"', '9K' (systemd's 1024-based suffixes) -> bytes; None when not a size."""
    match = _SIZE.match(value or "")
    if not match:
        return None
    return int(match.group(2)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[match.group(3).upper()]


def _insert(lines: list[str], after: int, line: str, nl: str) -> None:
    _terminated(lines, after, nl)
    lines.insert(after + 1, line)


_SECRET = re.compile(
    r"^(?P<pre>\s*[-\w.]*(?:private[-_]?key|preshared[-_]?key|shared[-_]?key|psk|passw(?:or)?d|secret)[-\w.]*"
    r"\s*[=:]\s*)(?P<value>[^\r\n]*?)(?P<eol>\s*)$",
    re.I,
)


def redact(text: str) -> str:
    """Hide secrets (WireGuard private/preshared keys, PSKs, passwords) in text shown in a diff."""
    out = []
    for line in _split(text):
        match = _SECRET.match(line)
        if match and match.group("value").strip():
            line = match.group("pre") + "<redacted>" + match.group("eol")
        out.append(line)
    return "".join(out)


# --- wg-quick ----------------------------------------------------------------------------------

_WG_VALUE = re.compile(r"^(?P<pre>[^=]*=[ \t]*)(?P<value>[^#]*?)(?P<post>[ \t]*(?:#.*)?)$")
_KEY_STYLE = re.compile(r"^\s*[A-Za-z][\w-]*([ \t]*)=([ \t]*)\S")


# [Interface] keys wg-quick (or wg setconf) takes one value of; Address, DNS and the hooks may repeat.
WG_SINGLE_KEYS = ("MTU", "ListenPort", "PrivateKey", "FwMark", "Table", "SaveConfig")


class AmbiguousConfig(ValueError):
    """The file says one thing twice: editing one copy would guess at what its author meant."""


def wg_quick_duplicates(text: str) -> list[str]:
    """Single-valued keys that appear more than once in one ``[Interface]`` section."""
    section, seen, twice = None, set(), []
    for line in _split(text):
        code = _body(line)[0].split("#", 1)[0]
        key = code.split("=", 1)[0].strip()
        if key.startswith("["):
            section, seen = key, set()
            continue
        if section == "[Interface]" and "=" in code and key in WG_SINGLE_KEYS:
            if key in seen and key not in twice:
                twice.append(key)
            seen.add(key)
    return twice


def wg_quick(text: str, mtu: int) -> str:
    """Set ``MTU =`` in the ``[Interface]`` section of a wg-quick configuration.

    Follows wg-quick's own parser: ``#`` starts a comment anywhere, keys are case-sensitive, a line
    whose key starts with ``[`` opens a section. A key such as ``MTU`` or ``ListenPort`` twice in one
    ``[Interface]`` raises ``AmbiguousConfig`` (wg-quick takes the last, but which one its author meant
    is a guess). Every ``MTU`` in an ``[Interface]`` section is set; without one, a line is added after the section's last setting,
    spaced like the section's other keys.
    """
    _check_mtu(mtu)
    twice = wg_quick_duplicates(text)
    if twice:
        raise AmbiguousConfig(f"has {' and '.join(twice)} twice in [Interface]; fix it by hand first")
    lines = _split(text)
    nl = newline(text)
    section = None
    first_interface = None  # index of the last setting (or header) of the first [Interface]
    in_first = False
    replaced = False
    style = None
    for index, line in enumerate(lines):
        body, eol = _body(line)
        code = body.split("#", 1)[0]
        key = code.split("=", 1)[0].strip()
        if key.startswith("["):
            section = key
            in_first = key == "[Interface]" and first_interface is None
            if in_first:
                first_interface = index
            continue
        if section != "[Interface]" or not code.strip():
            continue
        if in_first:
            first_interface = index
        if style is None:
            match = _KEY_STYLE.match(code)
            if match:
                style = (match.group(1), match.group(2))
        if key == "MTU" and "=" in code:
            replaced = True
            match = _WG_VALUE.match(body)
            if match and parse_size(match.group("value")) != mtu:
                lines[index] = f"{match.group('pre')}{mtu}{match.group('post')}{eol}"
    if not replaced:
        if first_interface is None:
            raise ValueError("it has no [Interface] section, so it is not a wg-quick configuration")
        before, after = style or (" ", " ")
        _insert(lines, first_interface, f"MTU{before}={after}{mtu}{nl}", nl)
    return "".join(lines)


# --- systemd-networkd --------------------------------------------------------------------------

_INI_VALUE = re.compile(r"^(?P<pre>\s*[^=\s]+\s*=\s*)(?P<value>.*?)(?P<post>\s*)$")


def _ini_set(text: str, sections: tuple[str, ...], key: str, mtu: int, *, insert_into: str | None,
             create: bool) -> str:
    """Set ``key`` in every given section of a systemd unit-style file; insert or create if asked."""
    _check_mtu(mtu)
    lines = _split(text)
    nl = newline(text)
    section = None
    continued = False
    replaced = False
    last_of = {}  # section name -> index of its last setting (or header), latest occurrence
    style = None
    for index, line in enumerate(lines):
        body, eol = _body(line)
        stripped = body.strip()
        if continued:
            continued = body.endswith("\\")
            last_of[section] = index
            continue
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
            last_of[section] = index
            continue
        continued = body.endswith("\\")
        if section is None or "=" not in stripped:
            continue
        last_of[section] = index
        name = stripped.split("=", 1)[0].strip()
        if style is None:
            match = _KEY_STYLE.match(body)
            if match:
                style = (match.group(1), match.group(2))
        if section in sections and name == key:
            replaced = True
            match = _INI_VALUE.match(body)
            if match and not continued and parse_size(match.group("value")) != mtu:
                lines[index] = f"{match.group('pre')}{mtu}{match.group('post')}{eol}"
    if replaced or insert_into is None:
        return "".join(lines)
    before, after = style or ("", "")
    setting = f"{key}{before}={after}{mtu}{nl}"
    if insert_into in last_of:
        _insert(lines, last_of[insert_into], setting, nl)
    elif create:
        if lines:
            _terminated(lines, len(lines) - 1, nl)
            if lines[-1].strip():
                lines.append(nl)
        lines += [f"[{insert_into}]{nl}", setting]
    else:
        raise ValueError(f"it has no [{insert_into}] section")
    return "".join(lines)


def networkd_netdev(text: str, mtu: int, *, insert: bool = True) -> str:
    """``MTUBytes=`` in ``[NetDev]`` of a ``.netdev`` file (used when networkd creates the device)."""
    return _ini_set(text, ("NetDev",), "MTUBytes", mtu, insert_into="NetDev" if insert else None, create=False)


def networkd_network(text: str, mtu: int, *, insert: bool = True) -> str:
    """``MTUBytes=`` in ``[Link]`` of a ``.network`` file; adds a ``[Link]`` section when there is none."""
    return _ini_set(text, ("Link",), "MTUBytes", mtu, insert_into="Link" if insert else None, create=True)


def networkd(text: str, path: str, mtu: int, *, insert: bool = True) -> str:
    """Dispatch on the file type; drop-ins (``X.network.d/*.conf``) take the type of their directory."""
    kind = path.rsplit("/", 2)[-2] if path.endswith(".conf") and "/" in path else path
    if kind.endswith((".netdev", ".netdev.d")):
        return networkd_netdev(text, mtu, insert=insert)
    if kind.endswith((".network", ".network.d")):
        return networkd_network(text, mtu, insert=insert)
    raise ValueError("only .netdev and .network files (and their drop-ins) hold an MTU")


def _ini_values(text: str, section: str, key: str) -> list[str]:
    current, values = None, []
    for line in _split(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == section and "=" in stripped:
            name, value = stripped.split("=", 1)
            if name.strip() == key:
                if value.strip():
                    values.extend(value.split())
                else:
                    values.clear()  # an empty assignment resets the list
    return values


def networkd_unshared(text: str, path: str, name: str) -> str | None:
    """None when the file configures ``name`` alone; else why editing it would change other links too."""
    if path.endswith(".netdev"):
        names = _ini_values(text, "NetDev", "Name")
        return None if names[-1:] == [name] else f"it defines {names[-1] if names else 'no'} device, not {name}"
    patterns = _ini_values(text, "Match", "Name")
    if patterns == [name]:
        return None
    return (f"it matches [Match] Name={' '.join(patterns)}, which covers more than {name}; "
            f"give {name} a .network file of its own")


# --- netplan -----------------------------------------------------------------------------------

NETPLAN_DEVICE_TYPES = ("ethernets", "bonds", "bridges", "vlans", "tunnels", "wifis", "modems", "vrfs",
                        "dummy-devices", "virtual-ethernets", "nm-devices")
_YAML_KEY = re.compile(
    r"^(?P<indent> *)(?P<q>[\"']?)(?P<key>[^\s\"'#:{}\[\],-][^\"'#:{}\[\],]*?|-[^\s\"'#:{}\[\],][^\"'#:{}\[\],]*?)"
    r"(?P=q)\s*:(?:[ \t]+(?P<rest>.*?))?\s*$"
)
_YAML_MTU = re.compile(r"^(?P<pre> *mtu\s*:[ \t]*)(?P<value>[^#]*?)(?P<post>[ \t]*(?:#.*)?)$")


def _yaml_scalar(rest: str | None) -> str:
    value = (rest or "").split(" #", 1)[0].strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


def _netplan_devices(lines: list[str], name: str) -> list[int]:
    """Indexes of device-id lines (``network: <type>: <id>:``) whose id or set-name is ``name``."""
    stack: list[tuple[int, str, int]] = []  # (indent, key, line index)
    found: list[int] = []
    for index, line in enumerate(lines):
        body, dummy = _body(line)
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        if "\t" in body[:len(body) - len(body.lstrip())]:
            raise ValueError("it indents with tabs, which YAML does not allow")
        match = _YAML_KEY.match(body)
        if not match:
            continue
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group("key"), index))
        path = [key for dummy_indent, key, dummy_index in stack]
        if len(path) == 3 and path[0] == "network" and path[1] in NETPLAN_DEVICE_TYPES and path[2] == name:
            found.append(index)
        elif (len(path) == 4 and path[0] == "network" and path[1] in NETPLAN_DEVICE_TYPES
              and path[3] == "set-name" and _yaml_scalar(match.group("rest")) == name):
            found.append(stack[2][2])
    return sorted(set(found))


def _structure(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth) of each bracket and comma of ``text`` from ``start`` outside quotes; ``depth``
    is the number of brackets open after that character."""
    depth, quote = 0, None
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "{[]},":
            depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(char, 0)
            yield index, char, depth


def _entries(inner: str) -> list[tuple[int, int]]:
    """Spans of the top-level entries of a flow mapping's inside (split on commas at depth 0)."""
    spans, start = [], 0
    for index, char, depth in _structure(inner):
        if char == "," and depth == 0:
            spans.append((start, index))
            start = index + 1
    spans.append((start, len(inner)))
    return spans


def _flow_mtu(rest: str, mtu: int) -> str:
    """Set mtu inside a one-line flow mapping ``{dhcp4: true}`` (possibly followed by a comment)."""
    start = rest.index("{")
    end = next((index for index, char, depth in _structure(rest, start) if char in "}]" and depth == 0), None)
    if end is None:
        raise ValueError("its device mapping is a flow mapping spread over several lines; write it in block style")
    inner = rest[start + 1:end]
    for first, last in _entries(inner):
        match = re.match(r"\s*mtu\s*:\s*(.*?)\s*$", inner[first:last])
        if match:
            if parse_size(match.group(1)) == mtu:
                return rest
            value_start = first + match.start(1)
            new_inner = inner[:value_start] + str(mtu) + inner[value_start + len(match.group(1)):]
            return rest[:start + 1] + new_inner + rest[end:]
    if not inner.strip():
        new_inner = f"mtu: {mtu}"
    else:
        new_inner = f"{inner.rstrip()}, mtu: {mtu}{inner[len(inner.rstrip()):]}"
    return rest[:start + 1] + new_inner + rest[end:]


def _yaml_step(lines: list[str]) -> int:
    """The file's indentation step: the smallest indent of any key (2 when nothing is indented)."""
    indents = [len(m.group("indent")) for m in (_YAML_KEY.match(_body(line)[0]) for line in lines) if m]
    return min([i for i in indents if i > 0] or [2])


def netplan(text: str, name: str, mtu: int) -> str:
    """Set ``mtu:`` in the netplan definition of ``name`` (by id or ``set-name``), block or flow style."""
    _check_mtu(mtu)
    lines = _split(text)
    nl = newline(text)
    devices = _netplan_devices(lines, name)
    if not devices:
        raise ValueError(f"it does not define {name} (by id or set-name) under network: <device type>")
    for device in reversed(devices):  # from the bottom, so insertions do not shift later devices
        body, eol = _body(lines[device])
        match = _YAML_KEY.match(body)
        indent = len(match.group("indent"))
        rest = match.group("rest") or ""
        if rest.startswith("{"):
            lines[device] = body[:len(body) - len(rest)] + _flow_mtu(rest, mtu) + eol
            continue
        if rest and not rest.startswith("#"):
            raise ValueError(f"{name} is not a mapping in it ({rest!r})")
        child_indent = None
        mtu_lines = []
        index = device + 1
        while index < len(lines):
            child, dummy = _body(lines[index])
            if child.strip() and not child.lstrip().startswith("#"):
                child_level = len(child) - len(child.lstrip(" "))
                if child_level <= indent:
                    break
                if child_indent is None:
                    child_indent = child_level
                if child_level == child_indent and _YAML_MTU.match(child):
                    mtu_lines.append(index)
            index += 1
        for index in mtu_lines:
            child, child_eol = _body(lines[index])
            found = _YAML_MTU.match(child)
            if parse_size(found.group("value")) != mtu:
                lines[index] = f"{found.group('pre')}{mtu}{found.group('post')}{child_eol}"
        if not mtu_lines:
            if child_indent is None:
                child_indent = indent + _yaml_step(lines)
            _insert(lines, device, f"{' ' * child_indent}mtu: {mtu}{nl}", nl)
    return "".join(lines)


# --- ifupdown ----------------------------------------------------------------------------------

_STANZA = re.compile(r"^\s*(iface|mapping|auto|allow-[\w-]+|source|source-directory|source-dir|rename|"
                     r"no-auto-down|no-scripts|template)(\s|$)")
_IFUPDOWN_MTU = re.compile(r"^(?P<pre>\s*mtu\s+)(?P<value>\S+)(?P<post>.*)$")


def ifupdown(text: str, name: str, mtu: int) -> str:
    """Set the ``mtu`` option of ``iface NAME ...`` stanzas in an interfaces(5) file.

    Every ``mtu`` option of NAME's stanzas is set; without any, one is added to the ``inet`` stanza
    (else the first), after its last option, indented like the stanza's options.
    """
    _check_mtu(mtu)
    lines = _split(text)
    nl = newline(text)
    stanzas = []  # dicts: family, start, last (index of last option or the iface line), options
    current = None
    continued = False
    indents = []
    for index, line in enumerate(lines):
        body, dummy = _body(line)
        if continued:
            continued = body.endswith("\\")
            continue
        stripped = body.strip()
        if not stripped or stripped.startswith("#"):
            continue
        continued = body.endswith("\\")
        match = _STANZA.match(body)
        if match:
            current = None
            words = stripped.split()
            if words[0] == "iface" and len(words) >= 2:
                current = {"name": words[1], "family": words[2] if len(words) > 2 else "", "start": index,
                           "last": index, "mtu": [], "indent": None}
                stanzas.append(current)
            continue
        if current is None:
            continue
        current["last"] = index
        indent = body[:len(body) - len(body.lstrip())]
        indents.append(indent)
        if current["indent"] is None:
            current["indent"] = indent
        if stripped.split()[0] == "mtu":
            current["mtu"].append(index)
    mine = [s for s in stanzas if s["name"] == name]
    if not mine:
        raise ValueError(f"it has no 'iface {name}' stanza")
    found = [index for stanza in mine for index in stanza["mtu"]]
    for index in found:
        body, eol = _body(lines[index])
        match = _IFUPDOWN_MTU.match(body)
        if match and parse_size(match.group("value")) != mtu:
            lines[index] = f"{match.group('pre')}{mtu}{match.group('post')}{eol}"
    if not found:
        target = next((s for s in mine if s["family"] == "inet"), mine[0])
        indent = target["indent"] if target["indent"] is not None else (indents[0] if indents else "    ")
        _insert(lines, target["last"], f"{indent or '    '}mtu {mtu}{nl}", nl)
    return "".join(lines)


# --- RHEL ifcfg --------------------------------------------------------------------------------

_IFCFG_MTU = re.compile(r"^(?P<pre>\s*(?:export\s+)?MTU=)(?P<q>[\"']?)(?P<value>[^\"'\s#;]*)(?P=q)(?P<post>.*)$")
_IFCFG_ASSIGN = re.compile(r"^\s*[A-Z][A-Z0-9_]*=(.)")


def ifcfg(text: str, mtu: int) -> str:
    """Set ``MTU=`` in an ifcfg-* file (shell syntax); a new line is quoted like the file's other values."""
    _check_mtu(mtu)
    lines = _split(text)
    nl = newline(text)
    found = False
    quoted = unquoted = 0
    for index, line in enumerate(lines):
        body, eol = _body(line)
        assign = _IFCFG_ASSIGN.match(body)
        if assign:
            if assign.group(1) == '"':
                quoted += 1
            else:
                unquoted += 1
        match = _IFCFG_MTU.match(body)
        if match:
            found = True
            if parse_size(match.group("value")) != mtu:
                lines[index] = f"{match.group('pre')}{match.group('q')}{mtu}{match.group('q')}{match.group('post')}{eol}"
    if not found:
        value = f'"{mtu}"' if quoted > unquoted else str(mtu)
        _insert(lines, len(lines) - 1, f"MTU={value}{nl}", nl)
    return "".join(lines)


# --- NetworkManager (nmcli, not files) ---------------------------------------------------------

# Connection type -> the property that holds the MTU. Virtual devices without a setting of their
# own take the wired one (802-3-ethernet), as nmcli documents for VLAN, bond, bridge, team, ...
NM_MTU_SETTINGS = {
    "802-3-ethernet": "802-3-ethernet.mtu",
    "ethernet": "802-3-ethernet.mtu",
    "vlan": "802-3-ethernet.mtu",
    "bond": "802-3-ethernet.mtu",
    "bridge": "802-3-ethernet.mtu",
    "team": "802-3-ethernet.mtu",
    "vxlan": "802-3-ethernet.mtu",
    "macvlan": "802-3-ethernet.mtu",
    "veth": "802-3-ethernet.mtu",
    "tun": "802-3-ethernet.mtu",
    "wireguard": "wireguard.mtu",
    "ip-tunnel": "ip-tunnel.mtu",
    "802-11-wireless": "802-11-wireless.mtu",
    "wifi": "802-11-wireless.mtu",
    "infiniband": "infiniband.mtu",
    "pppoe": "ppp.mtu",
    "gsm": "gsm.mtu",
    "cdma": "cdma.mtu",
}


def nm_mtu_setting(connection_type: str) -> str:
    setting = NM_MTU_SETTINGS.get((connection_type or "").strip())
    if setting is None:
        raise ValueError(f"NetworkManager connections of type {connection_type!r} have no MTU property this module knows")
    return setting


def nm_mtu_value(text: str | None) -> int | None:
    """``nmcli -g SETTING.mtu connection show`` output: a number, or 'auto'/0/empty for automatic (None)."""
    value = parse_size((text or "").strip().splitlines()[0] if (text or "").strip() else "")
    return value or None


def nm_commands(nmcli: str, uuid: str, device: str, setting: str, mtu: int) -> list[list[str]]:
    """Change the connection profile, then reapply it to the device (no connection bounce)."""
    _check_mtu(mtu)
    return [[nmcli, "connection", "modify", uuid, setting, str(mtu)], [nmcli, "device", "reapply", device]]
