# shellcheck shell=bash
# Sourced by integration targets that need a lab (alias needs/target/setup_lab):
#
#   source ../setup_lab/lab.sh "$@"           # "$@": the arguments ansible-test gave runme.sh
#   lab_up NAME MGMT_SUBNET [-e @topology.yml] # builds it (seed scenario without a topology)
#   ansible-playbook -i "$(lab_inventory NAME)" plays.yml "$@"
#   lab_snapshot NAME DIR LABEL                # hosts' state as text in DIR/LABEL/ (diff -r two labels)
#   lab_changed_hosts LOG                      # hosts whose PLAY RECAP line in LOG says changed != 0
#   lab_remediate_twice NAME DIR "HOSTS " ARGS # remediate (must change exactly HOSTS, prove the fix),
#                                              # then again (must change nothing); reports in DIR/real, DIR/again
#   lab_down NAME                              # also done for every lab at exit, pass or fail
#   -e "$(lab_audit_vars)"                     # audit the lab hosts on their underlay addresses
#   work="$(lab_work_dir NAME)"                # a scratch directory, removed at exit
#                                              # unless NETPATH_MTU_KEEP_WORK is set
#   lab_at_exit FUNCTION                       # runs FUNCTION at exit, before the labs come down
#   lab_audit_expect NAME DIR LABEL EXPECTED   # audit (--check) into DIR/LABEL; findings exactly EXPECTED's
#   lab_run_printed_fixes NAME DIR LABEL       # run DIR/LABEL's printed fix commands as printed
#   lab_scenario NAME MGMT_SUBNET              # the audit scenario in the target's directory (see below)
set -eux

lab_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lab_playbook="${lab_dir}/lab.yml"
lab_ansible_args=("$@")
lab_names=()
lab_exit_functions=()
# One SSH round trip per task instead of four.
export ANSIBLE_PIPELINING=true

lab_inventory() {
    echo "/var/lib/netpath-mtu-lab/$1/inventory.yml"
}

lab_up() {
    local name="$1" subnet="$2"
    shift 2
    lab_names+=("${name}")
    # A lab left over from an interrupted run would keep what that run changed: start from scratch.
    lab_down "${name}" >/dev/null
    ansible-playbook "${lab_playbook}" -e "netpath_mtu_lab_name=${name}" \
        -e "netpath_mtu_lab_mgmt_subnet=${subnet}" "$@" "${lab_ansible_args[@]}"
}

# Read here with ip netns exec (files/snapshot.py): a second, where a playbook over SSH takes ten or more.
lab_snapshot() {
    python3 "${lab_dir}/files/snapshot.py" "$1" "$2/$3"
}

# Sorted, one line: "gw-a gw-b " (empty when no host changed anything).
lab_changed_hosts() {
    grep -E '^\S+ +: ok=' "$1" | grep -v 'changed=0 ' | awk '{print $1}' | sort | tr '\n' ' '
}

# The real remediation must change exactly the hosts expected and leave a clean, proven re-audit; the
# second changes nothing and leaves the hosts as the first did (it skips the proof on the wire).
lab_remediate_twice() {
    local name="$1" work="$2" expected="$3"
    shift 3
    ansible-playbook -i "$(lab_inventory "${name}")" netpath.mtu.remediate --diff "$@" \
        -e netpath_mtu_remediate_fail_on_remaining=true -e netpath_mtu_remediate_report_dir="${work}/real" \
        "${lab_ansible_args[@]}" | tee "${work}/real.log"
    test "$(lab_changed_hosts "${work}/real.log")" = "${expected}"
    lab_snapshot "${name}" "${work}" after_real
    if diff -r "${work}/before" "${work}/after_real" >/dev/null; then
        echo "${name}: the remediation changed nothing on the hosts" >&2
        return 1
    fi
    ansible-playbook -i "$(lab_inventory "${name}")" netpath.mtu.remediate --diff "$@" \
        -e netpath_mtu_remediate_verify=false -e netpath_mtu_remediate_report_dir="${work}/again" \
        "${lab_ansible_args[@]}" | tee "${work}/again.log"
    test -z "$(lab_changed_hosts "${work}/again.log")"
    lab_snapshot "${name}" "${work}" after_again
    diff -r "${work}/after_real" "${work}/after_again"
}

lab_down() {
    ansible-playbook "${lab_playbook}" -e "netpath_mtu_lab_name=$1" -e netpath_mtu_lab_state=absent \
        "${lab_ansible_args[@]}"
}

# The lab's ansible_host is the management network; the paths worth auditing are the underlay's.
lab_audit_vars() {
    echo '{"netpath_mtu_audit_address_vars": ["netpath_mtu_lab_address4", "netpath_mtu_lab_address6"]}'
}

lab_audit_expect() {
    local name="$1" work="$2" label="$3" expected="$4"
    ansible-playbook -i "$(lab_inventory "${name}")" netpath.mtu.audit --check -e "$(lab_audit_vars)" \
        -e netpath_mtu_audit_report_dir="${work}/${label}" "${lab_ansible_args[@]}" | tee "${work}/${label}.log"
    ansible-playbook "${lab_dir}/expect.yml" -e report_file="${work}/${label}/report.json" -e "@${expected}" \
        "${lab_ansible_args[@]}"
}

lab_run_printed_fixes() {
    ansible-playbook -i "$(lab_inventory "$1")" "${lab_dir}/run_fixes.yml" -e report_file="$2/$3/report.json" \
        "${lab_ansible_args[@]}"
}

# An audit scenario: topology.yml built as lab NAME, audited, the findings exactly expected_findings.yml;
# with after_fixes.yml, the report's printed commands are then run as printed and the re-audit's
# findings must be exactly those of after_fixes.yml.
lab_scenario() {
    local name="$1" subnet="$2" work
    work="$(lab_work_dir "${name}")"
    # Every host probes at once (Ansible's default of 5 forks would make two rounds).
    export ANSIBLE_FORKS="${ANSIBLE_FORKS:-10}"
    lab_up "${name}" "${subnet}" -e @topology.yml
    lab_audit_expect "${name}" "${work}" audit expected_findings.yml
    if [ -f after_fixes.yml ]; then
        lab_run_printed_fixes "${name}" "${work}" audit
        lab_audit_expect "${name}" "${work}" after after_fixes.yml
    fi
}

# Named after this script's PID ($$ is the script's also inside "$(...)"), so the exit trap finds it.
lab_work_dir() {
    local dir="/tmp/netpath-mtu-$1.$$"
    rm -rf -- "${dir}"
    mkdir -m 0700 -- "${dir}"
    echo "${dir}"
}

lab_at_exit() {
    lab_exit_functions+=("$1")
}

lab_down_all() {
    local rc=$? name function work
    # Whatever fails here, every lab still comes down and the script keeps its exit status.
    set +e
    for function in "${lab_exit_functions[@]}"; do
        "${function}"
    done
    for work in /tmp/netpath-mtu-*."$$"; do
        if [ ! -d "${work}" ]; then
            continue
        elif [ -n "${NETPATH_MTU_KEEP_WORK:-}" ]; then
            echo "reports and snapshots kept in ${work}" >&2
        else
            rm -rf -- "${work}"
        fi
    done
    for name in "${lab_names[@]}"; do
        lab_down "${name}" || rc=1
    done
    exit "${rc}"
}
trap lab_down_all EXIT
