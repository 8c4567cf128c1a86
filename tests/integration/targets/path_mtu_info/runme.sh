#!/usr/bin/env bash
# path_mtu_info on real paths: clean, PTB, black hole, lossy, unreachable (IPv4 and IPv6), then
# inside the seed lab's WireGuard tunnel.
set -eux

paths_lab=(-e netpath_mtu_lab_name=itpmtu -e netpath_mtu_lab_mgmt_subnet=198.19.209.0/24 -e @topology.yml)
seed_lab=(-e netpath_mtu_lab_name=itpseed -e netpath_mtu_lab_mgmt_subnet=198.19.210.0/24)

cleanup() {
    ansible-playbook lab.yml "${paths_lab[@]}" -e netpath_mtu_lab_state=absent "$@" || true
    ansible-playbook lab.yml "${seed_lab[@]}" -e netpath_mtu_lab_state=absent "$@" || true
}
trap 'cleanup "$@"' EXIT

ansible-playbook lab.yml "${paths_lab[@]}" "$@"
ansible-playbook -i /var/lib/netpath-mtu-lab/itpmtu/inventory.yml paths.yml "$@"
ansible-playbook lab.yml "${paths_lab[@]}" -e netpath_mtu_lab_state=absent "$@"

ansible-playbook lab.yml "${seed_lab[@]}" "$@"
ansible-playbook -i /var/lib/netpath-mtu-lab/itpseed/inventory.yml tunnel.yml "$@"
trap - EXIT
ansible-playbook lab.yml "${seed_lab[@]}" -e netpath_mtu_lab_state=absent "$@"
