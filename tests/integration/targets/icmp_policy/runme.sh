#!/usr/bin/env bash
# icmp_policy on real lab hosts over SSH: the evaluator's verdicts on a matrix of nftables, iptables-nft
# and iptables-legacy rulesets, the fix on each (check/real/check/real, check mode changes nothing,
# the fix survives reloading the persisted configuration), and the seeds' router: after the fix a
# too-big DF packet gets "frag needed" back instead of silence.
source ../setup_lab/lab.sh "$@"
export ANSIBLE_FORKS=16

lab_up iticmp 198.19.205.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory iticmp)" -e @topology.yml load_iptables.yml "$@"
ansible-playbook -i "$(lab_inventory iticmp)" -e @topology.yml matrix.yml "$@"
ansible-playbook -i "$(lab_inventory iticmp)" -e @topology.yml fix.yml "$@"
ansible-playbook -i "$(lab_inventory iticmp)" seed.yml "$@"
