"""The bad-input case table: generated per module from its argument spec, plus hand-written cases.

Each case changes one parameter of a valid base invocation (or, for hand-written cases, sets up what a
generator cannot know: a host with a truncated nftables.conf, a wg-quick file with duplicate keys, the
issue's sample). Every case is bad input: the module must fail with one clear sentence naming the
parameter, print no traceback and leave the host as it was.

A case is a dict:
  id      unique, "<module>/<param>/<label>"
  module  the module's name under plugins/modules
  host    the lab host it runs on ("root": the machine itself, for lab_fleet)
  args    the module arguments (ANSIBLE_MODULE_ARGS, including _ansible_check_mode when set)
  names   words of which the failure message must contain one (the parameter and its aliases)
  param   the parameter under test
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

MODULES = ("mtu_facts", "audit_host", "path_mtu_info", "link_mtu", "icmp_policy", "mss_clamp", "ptb_check",
           "transfer_check", "lab_fleet")
PACKAGE = "ansible_collections.netpath.mtu.plugins.modules"

# The lab (tests/integration/targets/reliability_inputs/topology.yml): link n (from 0) is 198.18.n.0/24
# and fd00:198:18:n::/64, end a .1/::1, end b .2/::2; tunnel interfaces are <lab>-wg<n><a|b>.
NFT4, NFT6 = "198.18.0.1", "fd00:198:18::1"          # nft: nftables router dropping frag-needed / PTB
PEER4, PEER6 = "198.18.0.2", "fd00:198:18::2"      # peer: a plain host on every link
IPT4 = "198.18.1.1"                                # ipt: iptables-nft router dropping frag-needed / PTB
BAD4 = "198.18.2.1"                                # bad: truncated nftables.conf, broken wg-quick file
BAD_WG = "rel-wg0a"                                # bad: its wg-quick file gets duplicate keys
NOT_HERE4 = "198.51.100.7"                         # TEST-NET-2: an address no lab host has

# A topology lab_fleet accepts, mutated by the lab_fleet cases (which run in check mode).
VALID_TOPOLOGY = {"hosts": [{"name": "a"}, {"name": "b"}], "links": [{"name": "l1", "a": "a", "b": "b"}]}


class SpecCaptured(Exception):
    """Raised by the stand-in AnsibleModule once it has seen the module's argument spec."""


def argument_spec(name: str) -> dict[str, Any]:
    """The module's ARGUMENT_SPEC, or the argument_spec its main() hands to AnsibleModule."""
    module = importlib.import_module(f"{PACKAGE}.{name}")
    spec = getattr(module, "ARGUMENT_SPEC", None)
    if spec is not None:
        return spec
    seen: dict[str, Any] = {}

    def capture(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs.get("argument_spec") or args[0])
        raise SpecCaptured()

    real = module.AnsibleModule
    module.AnsibleModule = capture
    try:
        module.main()
    except SpecCaptured:
        pass
    finally:
        module.AnsibleModule = real
    if not seen:
        raise RuntimeError(f"{name}: no argument spec found")
    return seen


# Valid base invocations: (host, args). Each generated case changes one parameter of its base.
BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "mtu_facts": ("bad", {}),
    "audit_host": ("nft", {}),
    "path_mtu_info": ("peer", {"targets": [NFT4], "timeout": 0.2, "retries": 0, "locate_hop": False,
                               "max_rounds": 2}),
    "link_mtu": ("ipt", {"name": "eth0", "mtu": 1500, "persist": "none"}),
    "icmp_policy": ("nft", {"state": "present"}),
    "mss_clamp": ("nft", {"state": "present", "mss": 1360}),
    "ptb_check": ("peer", {"peer": NFT4, "token": "reltoken1", "timeout": 0.3}),
    "transfer_check": ("bad", {"peer": PEER4, "token": "reltoken1", "timeout": 0.3}),
    "lab_fleet": ("root", {"name": "relq", "state": "present", "topology": VALID_TOPOLOGY,
                           "_ansible_check_mode": True}),
}
# Responders listen on an address of the host the module's cases run on.
RESPONDER = {"mode": "responder", "address": PEER4, "token": "reltoken1", "timeout": 0.3}
RESPONDER_ADDRESS = {"ptb_check": PEER4, "transfer_check": BAD4}
# ptb_check mode=both: a host's responders and checks in one run.
BOTH = {"mode": "both", "token": "reltoken1", "timeout": 0.3, "lifetime": 0.3, "responders": [{"address": PEER4}]}
BOTH_PARAMS = ("checks", "responders", "lifetime")
RESPONDER_PARAMS = {"ptb_check": ("address", "announce_mtu", "clients", "max_replies", "rate"),
                    "transfer_check": ("address", "clients", "max_bytes", "max_exchanges", "rate")}
LINK_PATH_MTU = ("path_mtu", "encapsulation", "outer_family", "overhead_options")
# Parameters whose cases need another host than the module's base one.
PARAM_HOSTS = {("icmp_policy", "iptables_rules_v4"): "ipt", ("icmp_policy", "iptables_rules_v6"): "ipt",
               ("mss_clamp", "iptables_rules_v4"): "ipt", ("mss_clamp", "iptables_rules_v6"): "ipt"}


def base_for(module: str, param: str) -> tuple[str, dict[str, Any]]:
    """The host and the valid arguments a case of this parameter starts from."""
    host, args = BASES[module]
    args = dict(args)
    if param in RESPONDER_PARAMS.get(module, ()):
        args = dict(RESPONDER, address=RESPONDER_ADDRESS[module])
    if module == "ptb_check" and param in BOTH_PARAMS:
        args = dict(BOTH)
    if (module, param) == ("transfer_check", "capture_dir"):
        args["capture"] = True
    if module == "link_mtu" and param in LINK_PATH_MTU:
        args.pop("mtu")
        args["path_mtu"] = 1500
    if module == "link_mtu" and param == "overhead_options":
        args["encapsulation"] = "gre"  # eth0 is no tunnel: without it the encapsulation would be at fault
    if module == "mss_clamp" and param == "mtu":
        args.pop("mss")
    if module == "mss_clamp" and param.startswith("iptables_rules"):
        args["backend"] = "iptables-nft"
    return PARAM_HOSTS.get((module, param), host), args


# Out-of-range values per integer/float parameter: what the spec's type cannot say. Every int and float
# parameter of every spec must be listed (the unit test checks it).
RANGES: dict[tuple[str, str], list[Any]] = {
    ("link_mtu", "mtu"): [0, 67, 65536, -1, 2 ** 31],
    ("link_mtu", "path_mtu"): [0, 67, 65536, -1, 2 ** 31],
    ("mss_clamp", "mtu"): [0, 67, 65536, -1],
    ("mss_clamp", "mss"): [0, -1, 65536, 2 ** 31],
    ("path_mtu_info", "port"): [0, 65536, -1],
    ("path_mtu_info", "timeout"): [0, -1, 61, "nan", "inf"],
    ("path_mtu_info", "retries"): [-1, 11, 1000],
    ("path_mtu_info", "min_size"): [0, 67, 65536, -1],
    ("path_mtu_info", "max_size"): [0, 67, 65536, -1],
    ("path_mtu_info", "max_hops"): [0, 65, -1],
    ("path_mtu_info", "rate_limit"): [-1, -1000],
    ("path_mtu_info", "max_rounds"): [0, 21, -1],
    ("ptb_check", "port"): [0, 65536, -1],
    ("ptb_check", "timeout"): [0, -1, 601, "nan", "inf"],
    ("ptb_check", "probe_size"): [0, 255, 65536, -1],
    ("ptb_check", "announce_mtu"): [0, 67, 65536, -1],
    ("ptb_check", "clients"): [0, -1],
    ("ptb_check", "max_replies"): [0, 10001, -1],
    ("ptb_check", "rate"): [0, -1, 1001, "nan"],
    ("ptb_check", "lifetime"): [0, -1, 601, "nan", "inf"],
    ("transfer_check", "port"): [0, 65536, -1],
    ("transfer_check", "timeout"): [0, -1, 601, "nan", "inf"],
    ("transfer_check", "small_size"): [0, 63, -1, 2 ** 31],
    ("transfer_check", "large_size"): [0, 63, -1, 2 ** 31],
    ("transfer_check", "clients"): [0, -1],
    ("transfer_check", "max_bytes"): [0, 63, -1, 2 ** 40],
    ("transfer_check", "max_exchanges"): [0, 10001, -1],
    ("transfer_check", "rate"): [0, -1, 1001, "nan"],
}

SHELL = ["x;reboot", "$(reboot)", "`id`", "x|cat", "x&&id", "x>y", "'x'", "\"x\"", "x y", "-x", "*"]
ODD = ["", "a/b", "../../etc", "x\ny", "x\x00y", "\u00e9th0", "\u0435th0", "\U0001f4a5", "x" * 16, "x" * 300,
       " eth0", "eth0 ", "\t"]

# Values per kind of free-form string parameter (the spec says only "str").
KIND_VALUES: dict[str, list[Any]] = {
    "interface": ODD + SHELL + ["nonexist0", "eth0.", "."],
    "word": ODD + SHELL + ["x" * 1000],
    "token": ["", "with space", "x" * 1000, "x" * 129, "short", "tok\nen123", "t\u00f6k\u00e9n123", "$(id)aaaa bb",
              "\x00" * 10],
    "remote_address": ["", "not an address", "300.1.1.1", "198.18.0", "1.2.3.4;id", "1.2.3.4\n", "x" * 300,
                       "fe80::1", "169.254.1.1", "224.0.0.1", "ff02::1", "239.1.1.1", "127.0.0.1", "::1",
                       "0.0.0.0", "::", "255.255.255.255", "nonexistent.invalid", "198.18.1.1/24",
                       "\u0661\u0669\u0668.18.1.1"],
    "local_address": ["", "not an address", "300.1.1.1", "1.2.3.4;id", NOT_HERE4, "fe80::1", "224.0.0.1",
                      "ff02::1", "0.0.0.0", "::", "255.255.255.255", "nonexistent.invalid", "x" * 300],
    "lab_name": ["", "Rel", "rel-x", "rel_x", "x" * 9, "a;b", "a/b", "r\u00e9l", "rel\n", "..", "$(id)"],
    "subnet": ["", "not a subnet", "10.0.0.0/33", "::/0", "fd00::/64", "198.19.241.5/24", "198.19.241.0/31",
               "198.19.240.0/24", "0.0.0.0/0", "x;id"],
}
# Kinds of the free-form string parameters (and of the elements of free-form lists).
KINDS: dict[tuple[str, str], str] = {
    ("link_mtu", "name"): "interface", ("link_mtu", "encapsulation"): "word",
    ("mss_clamp", "interface"): "interface", ("mss_clamp", "firewalld_zone"): "word",
    ("mss_clamp", "firewalld_policy"): "word",
    ("icmp_policy", "interfaces"): "interface",
    ("path_mtu_info", "targets"): "remote_address", ("path_mtu_info", "source"): "local_address",
    ("path_mtu_info", "interface"): "interface",
    ("ptb_check", "peer"): "remote_address", ("ptb_check", "address"): "local_address",
    ("ptb_check", "source"): "local_address", ("ptb_check", "token"): "token",
    ("transfer_check", "peer"): "remote_address", ("transfer_check", "address"): "local_address",
    ("transfer_check", "source"): "local_address", ("transfer_check", "token"): "token",
    ("lab_fleet", "name"): "lab_name", ("lab_fleet", "mgmt_subnet"): "subnet",
}

WRONG_TYPES: dict[str, list[Any]] = {
    "int": ["abc", "1.5", 1.5, [1], {"a": 1}, "0x10", ""],
    "float": ["abc", [1.0], {"a": 1}, ""],
    "bool": ["maybe", 2, [True], {"a": 1}, "yes please"],
    "str": [{"a": 1}, [["x"]]],
    "list": [{"a": 1}, [["x"], ["y"]], [{"a": 1}]],
    "dict": ["not a dict", [1, 2], 5, "a=1 b"],
    "path": [{"a": 1}, [1]],
}
CHOICE_BAD = ["bogus", "", "IPV4", "present;id", "\u00e9", "x" * 1000]


# Fixture paths: "@FX@" is replaced by the worker with the host's own fixture directory. "missing" is
# never created: under the fixture directory, a module that creates it anyway shows as a state change
# (a directory at / would not, and would make the case pass wrongly on every later run).
FIXTURES = {"dir": "@FX@/dir", "loop": "@FX@/loop", "garbage": "@FX@/garbage.bin",
            "truncated_nft": "@FX@/truncated-nftables.conf", "missing_parent": "@FX@/missing/x.conf"}


def path_values(fixtures: dict[str, str]) -> list[tuple[str, str]]:
    """(label, path) of files a module cannot use: directories, missing parents, loops, garbage."""
    return [("dir_etc", "/etc"), ("dir", fixtures["dir"]), ("missing_parent", fixtures["missing_parent"]),
            ("parent_is_file", "/etc/hostname/x.conf"), ("symlink_loop", fixtures["loop"]),
            ("device", "/dev/null/x"), ("newline", fixtures["dir"] + "/a\nb.conf"),
            ("proc", "/proc/self/status")]


def case(module: str, param: str, label: str, host: str, args: dict[str, Any],
         names: list[str] | None = None) -> dict[str, Any]:
    return {"id": f"{module}/{param}/{label}", "module": module, "host": host, "args": args, "param": param,
            "names": names or [param]}


def param_values(module: str, param: str, spec: dict[str, Any], fixtures: dict[str, str]) -> list[tuple[str, Any]]:
    """(label, value) of the bad values of one parameter, from its spec entry and the tables above."""
    kind = spec.get("type", "str")
    values: list[tuple[str, Any]] = [(f"type{i}", v) for i, v in enumerate(WRONG_TYPES.get(kind, []))]
    choices = spec.get("choices")
    if kind == "list":
        values.append(("huge", ["bogus-\u00e9;id"] * 5000))
        if spec.get("default"):
            values.append(("empty", []))
        if choices:
            values += [(f"choice{i}", [v]) for i, v in enumerate(CHOICE_BAD)]
            values.append(("mixed", [choices[0], "bogus"]))
        elif (module, param) in KINDS:
            values += [(f"{KINDS[module, param]}{i}", [v])
                       for i, v in enumerate(KIND_VALUES[KINDS[module, param]])]
    elif choices:
        values += [(f"choice{i}", v) for i, v in enumerate(CHOICE_BAD)]
    elif kind in ("int", "float"):
        values += [(f"range{i}", v) for i, v in enumerate(RANGES[module, param])]
    elif kind == "path" and (module, param) == ("lab_fleet", "workdir"):
        # A workdir is a directory lab_fleet owns (state=absent removes it): never a system one or a file.
        values += [("dir_etc", "/etc"), ("root", "/"), ("file", fixtures["garbage"]), ("device", "/dev/null"),
                   ("parent_is_file", "/etc/hostname/x"), ("newline", fixtures["dir"] + "/a\nb")]
    elif kind == "path" and (module, param) == ("transfer_check", "capture_dir"):
        # A directory the pcap goes into (created if missing): a file, a pseudo file system or a loop is not one.
        values += [("file", fixtures["garbage"]), ("device", "/dev/null/x"), ("proc", "/proc/self"),
                   ("parent_is_file", "/etc/hostname/x"), ("newline", fixtures["dir"] + "/a\nb"),
                   ("relative", "captures"), ("symlink_loop", fixtures["loop"])]
    elif kind == "path":
        values += path_values(fixtures)
    elif kind == "str" and (module, param) in KINDS:
        # An empty string for an optional parameter without a default means "not set" in Ansible.
        optional = not spec.get("required") and spec.get("default") is None
        values += [(f"{KINDS[module, param]}{i}", v) for i, v in enumerate(KIND_VALUES[KINDS[module, param]])
                   if not (optional and v == "")]
    elif kind == "dict":
        values += [("unknown_key", {"bogus\u00e9;id": 1}), ("huge", {f"k{i}": i for i in range(5000)})]
    return values


def generated(module: str, spec: dict[str, Any], fixtures: dict[str, str]) -> list[dict[str, Any]]:
    """One case per bad value of every parameter of the module's spec."""
    cases = []
    for param, entry in spec.items():
        names = [param] + list(entry.get("aliases", []))
        if entry.get("type") == "list" and param.endswith("s"):
            names.append(param[:-1])  # "target 'x' does not resolve" names targets
        for label, value in param_values(module, param, entry, fixtures):
            host, args = base_for(module, param)
            args[param] = value
            cases.append(case(module, param, label, host, args, names))
    return cases


def topology(**change: Any) -> dict[str, Any]:
    """VALID_TOPOLOGY with some top-level keys replaced."""
    return dict(VALID_TOPOLOGY, **change)


def lab_fleet_cases() -> list[dict[str, Any]]:
    """Plans that fail validation: lab_fleet validates the whole topology before it builds anything."""
    bad = {
        "no_hosts": topology(hosts=[]),
        "host_no_name": topology(hosts=[{}, {"name": "b"}]),
        "host_name_shell": topology(hosts=[{"name": "a;reboot"}, {"name": "b"}]),
        "host_name_long": topology(hosts=[{"name": "x" * 40}, {"name": "b"}]),
        "host_name_unicode": topology(hosts=[{"name": "\u00e9"}, {"name": "b"}]),
        "host_duplicate": topology(hosts=[{"name": "a"}, {"name": "a"}, {"name": "b"}]),
        "host_role_bogus": topology(hosts=[{"name": "a", "role": "bogus"}, {"name": "b"}]),
        "host_firewall_bogus": topology(hosts=[{"name": "a", "firewall": "pf"}, {"name": "b"}]),
        "host_loss_negative": topology(hosts=[{"name": "a", "loss_percent": -5}, {"name": "b"}]),
        "host_loss_over": topology(hosts=[{"name": "a", "loss_percent": 101}, {"name": "b"}]),
        "host_drop_bogus": topology(hosts=[{"name": "a", "drop_icmp_ptb": ["sideways"]}, {"name": "b"}]),
        "host_etc_dir_escape": topology(hosts=[{"name": "a", "etc_dirs": ["../../root"]}, {"name": "b"}]),
        "host_unknown_key": topology(hosts=[{"name": "a", "colour": "red"}, {"name": "b"}]),
        "host_not_dict": topology(hosts=["a", "b"]),
        "link_unknown_host": topology(links=[{"name": "l1", "a": "a", "b": "zz"}]),
        "link_self": topology(links=[{"name": "l1", "a": "a", "b": "a"}]),
        "link_mtu_0": topology(links=[{"name": "l1", "a": "a", "b": "b", "mtu": 0}]),
        "link_mtu_67": topology(links=[{"name": "l1", "a": "a", "b": "b", "mtu": 67}]),
        "link_mtu_65536": topology(links=[{"name": "l1", "a": "a", "b": "b", "mtu": 65536}]),
        "link_mtu_str": topology(links=[{"name": "l1", "a": "a", "b": "b", "mtu": "big"}]),
        "link_name_shell": topology(links=[{"name": "l;id", "a": "a", "b": "b"}]),
        "link_duplicate": topology(links=[{"name": "l1", "a": "a", "b": "b"}, {"name": "l1", "a": "a", "b": "b"}]),
        "links_not_list": topology(links="l1"),
        "tunnel_type_bogus": topology(tunnels=[{"type": "ipsec", "a": "a", "b": "b"}]),
        "tunnel_unknown_host": topology(tunnels=[{"type": "wireguard", "a": "a", "b": "zz"}]),
        "tunnel_mtu_0": topology(tunnels=[{"type": "wireguard", "a": "a", "b": "b", "mtu": 0}]),
        "tunnel_mtu_65536": topology(tunnels=[{"type": "wireguard", "a": "a", "b": "b", "mtu": 65536}]),
        "tunnel_family_bogus": topology(tunnels=[{"type": "wireguard", "a": "a", "b": "b", "outer_family": "ipx"}]),
        "tunnel_network_unknown": topology(tunnels=[{"type": "wireguard", "a": "a", "b": "b",
                                                     "networks_a": ["nowhere"]}]),
        "unknown_top_key": topology(routers=[]),
        "huge_hosts": topology(hosts=[{"name": f"h{i}"} for i in range(2000)]),
    }
    return [case("lab_fleet", "topology", label, "root",
                 dict(BASES["lab_fleet"][1], topology=value), ["topology", "host", "link", "tunnel"])
            for label, value in bad.items()]


def hand_written(fixtures: dict[str, str]) -> list[dict[str, Any]]:
    """Cases that need a prepared host or knowledge of the module (the generator cannot know)."""
    check = {"_ansible_check_mode": True}
    cases = [
        # The issue's sample: live rules changed, then the rename failed, reported changed=false.
        case("icmp_policy", "nftables_config", "issue16_sample_dir_etc", "nft",
             {"state": "present", "nftables_config": "/etc"}),
        case("icmp_policy", "nftables_config", "truncated_file", "nft",
             {"state": "present", "nftables_config": fixtures["truncated_nft"]}),
        case("icmp_policy", "nftables_config", "garbage_file", "nft",
             {"state": "present", "nftables_config": fixtures["garbage"]}),
        case("icmp_policy", "nftables_config", "truncated_etc_nftables_conf", "bad", {"state": "present"},
             ["nftables_config", "/etc/nftables.conf"]),
        case("icmp_policy", "nftables_config", "truncated_etc_nftables_conf_check", "bad",
             dict(check, state="present"), ["nftables_config", "/etc/nftables.conf"]),
        case("icmp_policy", "iptables_rules_v4", "garbage_file", "ipt",
             {"state": "present", "iptables_rules_v4": fixtures["garbage"]}),
        case("icmp_policy", "iptables_rules_v4", "nftables_file", "ipt",
             {"state": "present", "iptables_rules_v4": fixtures["truncated_nft"]}),
        case("icmp_policy", "interfaces", "missing_present", "nft",
             {"state": "present", "interfaces": ["nonexist0"]}),
        case("icmp_policy", "interfaces", "mgmt_and_missing", "nft",
             {"state": "present", "interfaces": ["eth0", "nonexist0"]}),
        case("mss_clamp", "nftables_config", "truncated_etc_nftables_conf", "bad", {"state": "present", "mss": 1360},
             ["nftables_config", "/etc/nftables.conf"]),
        case("mss_clamp", "nftables_config", "truncated_file", "nft",
             {"state": "present", "mss": 1360, "nftables_config": fixtures["truncated_nft"]}),
        case("mss_clamp", "nftables_config", "issue16_dir_etc", "nft",
             {"state": "present", "mss": 1360, "nftables_config": "/etc"}),
        case("mss_clamp", "mss", "with_mtu", "nft", {"state": "present", "mss": 1360, "mtu": 1400}, ["mss", "mtu"]),
        case("mss_clamp", "interface", "missing", "nft", {"state": "present", "mss": 1360, "interface": "nonexist0"}),
        case("mss_clamp", "firewalld_zone", "without_firewalld", "nft",
             {"state": "present", "mss": 1360, "firewalld_zone": "public"}, ["firewalld_zone", "firewalld"]),
        case("mss_clamp", "backend", "firewalld_not_running", "nft",
             {"state": "present", "mss": 1360, "backend": "firewalld"}, ["backend", "firewalld"]),
        case("link_mtu", "name", "wg_duplicate_keys", "bad", {"name": BAD_WG, "mtu": 1380},
             ["name", "interface", f"/etc/wireguard/{BAD_WG}.conf"]),
        case("link_mtu", "name", "wg_duplicate_keys_check", "bad", dict(check, name=BAD_WG, mtu=1380),
             ["name", "interface", f"/etc/wireguard/{BAD_WG}.conf"]),
        case("link_mtu", "name", "control_interface", "peer", {"name": "mgmt0", "mtu": 1400},
             ["name", "interface", "allow_control_interface"]),
        case("link_mtu", "mtu", "with_path_mtu", "peer", {"name": "eth0", "mtu": 1400, "path_mtu": 1400},
             ["mtu", "path_mtu"]),
        case("link_mtu", "encapsulation", "without_path_mtu", "peer", {"name": "eth0", "mtu": 1400,
                                                                       "encapsulation": "gre"}),
        case("link_mtu", "encapsulation", "plain_interface", "peer", {"name": "eth0", "path_mtu": 1500}),
        case("link_mtu", "overhead_options", "negative_extra", "peer",
             {"name": "eth0", "path_mtu": 1500, "encapsulation": "vlan", "overhead_options": {"extra": -5000}}),
        case("link_mtu", "path_mtu", "below_overhead", "bad", {"name": BAD_WG, "path_mtu": 100}),
        case("link_mtu", "persist", "networkd_without_files", "peer",
             {"name": "eth0", "mtu": 1400, "persist": "networkd"}),
        case("path_mtu_info", "source", "wrong_family", "peer", {"targets": [NFT4], "source": PEER6, "timeout": 0.2,
                                                                 "retries": 0, "locate_hop": False}),
        case("path_mtu_info", "family", "v6_for_v4_target", "peer",
             {"targets": [NFT4], "family": "ipv6", "timeout": 0.2, "retries": 0, "locate_hop": False}, ["family"]),
        case("path_mtu_info", "min_size", "above_max", "peer",
             {"targets": [NFT4], "min_size": 1400, "max_size": 1300}, ["min_size", "max_size"]),
        case("path_mtu_info", "targets", "missing_required", "peer", {}),
        case("ptb_check", "source", "wrong_family", "peer", {"peer": NFT4, "source": PEER6, "token": "reltoken1"},
             ["source", "peer"]),
        case("ptb_check", "address", "in_check_mode", "peer",
             {"peer": NFT4, "address": PEER4, "token": "reltoken1"}),
        case("ptb_check", "address", "not_local", "peer", dict(RESPONDER, address=NOT_HERE4)),
        case("ptb_check", "token", "missing", "peer", {"peer": NFT4}),
        case("ptb_check", "checks", "bad_peer", "peer", dict(BOTH, checks=[{"peer": "224.0.0.1", "name": "x"}])),
        case("ptb_check", "checks", "peer_at_top", "peer", dict(BOTH, peer=NFT4)),
        case("ptb_check", "responders", "not_local", "peer", dict(BOTH, responders=[{"address": NOT_HERE4}])),
        case("ptb_check", "responders", "clients_zero", "peer", dict(BOTH, responders=[{"address": PEER4, "clients": 0}])),
        case("ptb_check", "responders", "none_at_all", "peer", dict(BOTH, responders=[])),
        case("ptb_check", "lifetime", "in_check_mode", "peer", {"peer": NFT4, "token": "reltoken1", "lifetime": 5}),
        case("transfer_check", "source", "wrong_family", "bad",
             {"peer": PEER4, "source": "fd00:198:18:2::1", "token": "reltoken1"}, ["source", "peer"]),
        case("transfer_check", "small_size", "above_large", "bad",
             {"peer": PEER4, "token": "reltoken1", "small_size": 5000, "large_size": 1000},
             ["small_size", "large_size"]),
        case("transfer_check", "address", "not_local", "bad", dict(RESPONDER, address=NOT_HERE4)),
        case("transfer_check", "peer", "in_responder_mode", "bad", dict(RESPONDER, address=BAD4, peer=PEER4)),
        case("mtu_facts", "gather_subset", "all_and_bogus", "bad", {"gather_subset": ["all", "bogus"]}),
        case("lab_fleet", "workdir", "is_a_file", "root",
             dict(BASES["lab_fleet"][1], workdir=fixtures["garbage"])),
        case("lab_fleet", "topology", "missing", "root", dict(check, name="relq", state="present")),
    ]
    return cases


def all_cases(fixtures: dict[str, str], modules: tuple[str, ...] = MODULES,
              spec_of: Callable[[str], dict[str, Any]] = argument_spec) -> list[dict[str, Any]]:
    """Every case of every module, generated and hand-written, with unique ids."""
    cases = []
    for module in modules:
        cases += generated(module, spec_of(module), fixtures)
    cases += [c for c in lab_fleet_cases() + hand_written(fixtures) if c["module"] in modules]
    ids = [c["id"] for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    return cases
