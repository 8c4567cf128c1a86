#!/usr/bin/env bash
# A custom topology: VXLAN and IPv6-outer WireGuard, an iptables-legacy router, a fragment-dropping gateway.
source ../setup_lab/lab.sh "$@"

lab_up ittopo 198.19.202.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory ittopo)" paths.yml "$@"
