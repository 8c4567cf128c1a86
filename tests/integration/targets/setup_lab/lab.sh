# shellcheck shell=bash
# Sourced by integration targets that need a lab (alias needs/target/setup_lab):
#
#   source ../setup_lab/lab.sh "$@"           # "$@": the arguments ansible-test gave runme.sh
#   lab_up NAME MGMT_SUBNET [-e @topology.yml] # builds it (seed scenario without a topology)
#   ansible-playbook -i "$(lab_inventory NAME)" plays.yml "$@"
#   lab_down NAME                              # also done for every lab at exit, pass or fail
set -eux

lab_playbook="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab.yml"
lab_ansible_args=("$@")
lab_names=()
# One SSH round trip per task instead of four.
export ANSIBLE_PIPELINING=true

lab_inventory() {
    echo "/var/lib/netpath-mtu-lab/$1/inventory.yml"
}

lab_up() {
    local name="$1" subnet="$2"
    shift 2
    lab_names+=("${name}")
    ansible-playbook "${lab_playbook}" -e "netpath_mtu_lab_name=${name}" \
        -e "netpath_mtu_lab_mgmt_subnet=${subnet}" "$@" "${lab_ansible_args[@]}"
}

lab_down() {
    ansible-playbook "${lab_playbook}" -e "netpath_mtu_lab_name=$1" -e netpath_mtu_lab_state=absent \
        "${lab_ansible_args[@]}"
}

lab_down_all() {
    local rc=$? name
    for name in "${lab_names[@]}"; do
        lab_down "${name}" || rc=1
    done
    exit "${rc}"
}
trap lab_down_all EXIT
