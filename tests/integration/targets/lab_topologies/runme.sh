#!/usr/bin/env bash
# A custom topology: VXLAN and IPv6-outer WireGuard, an iptables-legacy router, a fragment-dropping gateway.
set -eux

lab_vars=(-e netpath_mtu_lab_name=ittopo -e netpath_mtu_lab_mgmt_subnet=198.19.202.0/24 -e @topology.yml)
inventory=/var/lib/netpath-mtu-lab/ittopo/inventory.yml

cleanup() {
    ansible-playbook teardown.yml "${lab_vars[@]}" "$@" || true
}
trap 'cleanup "$@"' EXIT

ansible-playbook build.yml "${lab_vars[@]}" "$@"
ansible-playbook -i "$inventory" paths.yml "$@"
trap - EXIT
ansible-playbook teardown.yml "${lab_vars[@]}" "$@"
