#!/usr/bin/env bash
# Build the seed lab, prove the outage over real SSH, tear it down and prove nothing is left.
set -eux

export ANSIBLE_ROLES_PATH=../
lab_vars=(-e netpath_mtu_lab_name=itseed -e netpath_mtu_lab_mgmt_subnet=198.19.201.0/24)
inventory=/var/lib/netpath-mtu-lab/itseed/inventory.yml

cleanup() {
    ansible-playbook teardown.yml "${lab_vars[@]}" "$@" || true
}
trap 'cleanup "$@"' EXIT

ansible-playbook invalid.yml "$@"
ansible-playbook build.yml "${lab_vars[@]}" "$@"
ansible-playbook -i "$inventory" outage.yml "$@"
trap - EXIT
ansible-playbook teardown.yml "${lab_vars[@]}" "$@"
