#!/usr/bin/env bash
# link_mtu on real lab hosts over SSH: runtime change, wg-quick and systemd-networkd persistence, whether a
# unit loads it at boot, check mode, bad input and the control-interface guard. Tears the lab down whatever happens.
source ../setup_lab/lab.sh "$@"

lab_up itlink 198.19.204.0/24 -e @topology.yml
for play in wireguard networkd boot refused control; do
    ansible-playbook -i "$(lab_inventory itlink)" "${play}.yml" "$@"
done
