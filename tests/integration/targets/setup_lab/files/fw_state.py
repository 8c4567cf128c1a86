"""Print, as JSON, what a firewall module could change on lab hosts: live rulesets and persisted files.

Usage: fw_state.py LAB HOST[:VARIANT[,VARIANT]] ...   (VARIANT: nft or legacy; run as root on the lab machine)
Counters (traffic changes them) and iptables-save's timestamp comments are left out.
"""
import json
import re
import subprocess
import sys

lab, specs = sys.argv[1], sys.argv[2:]
state = {}
for spec in specs:
    host, _sep, variants = spec.partition(":")
    namespace = f"{lab}-{host}"
    commands = [["nft", "-s", "list", "ruleset"]]
    files = ["nftables.conf"]
    for variant in filter(None, variants.split(",")):
        commands += [[f"iptables-{variant}-save"], [f"ip6tables-{variant}-save"]]
    if variants:
        files += ["iptables/rules.v4", "iptables/rules.v6"]
    rulesets = []
    for argv in commands:
        out = subprocess.run(["ip", "netns", "exec", namespace] + argv, check=True, capture_output=True, text=True).stdout
        out = re.sub(r"\[\d+:\d+\]", "[0:0]", out)
        rulesets.append([line for line in out.splitlines() if not line.startswith("#")])
    contents = []
    for name in files:
        try:
            with open(f"/etc/netns/{namespace}/{name}", encoding="utf-8") as handle:
                contents.append(handle.read())
        except FileNotFoundError:
            contents.append(None)
    state[host] = {"rulesets": rulesets, "files": contents}
json.dump(state, sys.stdout, sort_keys=True)
