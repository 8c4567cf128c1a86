#!/usr/bin/env bash
# The by-hand commands icmp_policy prints (fix.commands) are run exactly as printed on lab hosts, one
# firewall layout per host, and proven: before, a real PTB is dropped (ptb_check on each host; the
# router's own frag-needed never reaches the sender, path_mtu_info says black_hole); after running the
# printed lines, icmp_policy says accepted with nothing left to print, and the same PTBs get through.
source ../setup_lab/lab.sh "$@"
export ANSIBLE_FORKS=10

lab_up cmd1 198.19.225.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory cmd1)" -e @topology.yml commands.yml "$@"
