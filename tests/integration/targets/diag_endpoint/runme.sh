#!/usr/bin/env bash
# The diagnostic page of seed 003 on a lab server: a black-holed client's browser and curl see the
# stall and the 1400-byte bound, a clean client's see every size pass; state absent leaves nothing.
source ../setup_lab/lab.sh "$@"
ansible_args=("$@")

ansible-playbook invalid.yml "$@"
lab_up diag 198.19.239.0/24 -e @topology.yml
inventory="$(lab_inventory diag)"
work="$(lab_work_dir diag)"

# deploy LABEL STATE CHANGED [ARGS]: the role on srv; CHANGED is the PLAY RECAP's changed hosts ("srv " or "").
deploy() {
    local label="$1" state="$2" changed="$3"
    shift 3
    ansible-playbook -i "${inventory}" deploy.yml -e "diag_state=${state}" "$@" "${ansible_args[@]}" \
        | tee "${work}/${label}.log"
    test "$(lab_changed_hosts "${work}/${label}.log")" = "${changed}"
}
state() {
    ansible-playbook -i "${inventory}" state.yml -e "expect=$1" "${ansible_args[@]}"
}

deploy check present "srv " --check
state absent
deploy real present "srv "
deploy again present ""
deploy check-again present "" --check
state present
ansible-playbook -i "${inventory}" pages.yml "$@"
deploy remove-check absent "srv " --check
state present
deploy remove absent "srv "
deploy remove-again absent ""
state absent
