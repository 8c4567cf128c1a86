#!/usr/bin/env bash
# path_mtu_info on real paths: clean, PTB, black hole, lossy, unreachable (IPv4 and IPv6), then
# inside the seed lab's WireGuard tunnel.
source ../setup_lab/lab.sh "$@"

lab_up itpmtu 198.19.209.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory itpmtu)" paths.yml "$@"
lab_down itpmtu

lab_up itpseed 198.19.210.0/24
ansible-playbook -i "$(lab_inventory itpseed)" tunnel.yml "$@"
