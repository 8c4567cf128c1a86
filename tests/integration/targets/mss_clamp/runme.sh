#!/usr/bin/env bash
# mss_clamp on a tunnel gateway of the seeds' outage, over SSH, with each backend in turn (nftables
# picked automatically, iptables-nft and iptables-legacy forced): check/real/check/real, check mode
# changes nothing, the server behind the far gateway receives SYNs with the clamped MSS, the rules
# survive flushing and reloading the persisted configuration, and removing them restores the MSS.
source ../setup_lab/lab.sh "$@"
export ANSIBLE_FORKS=8

lab_up itmss 198.19.206.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory itmss)" -e @topology.yml mss.yml "$@"
