#!/usr/bin/env bash
# mtu_facts on real lab hosts over SSH: WireGuard (wireguard-go) and VXLAN tunnels, IPv4 and IPv6 outer,
# routed through a router whose far link is 1400 bytes. Tears the lab down whatever happens.
source ../setup_lab/lab.sh "$@"

lab_up itfacts 198.19.203.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory itfacts)" facts.yml "$@"
