#!/usr/bin/env bash
# probe_method auto where a host drops ICMP echo (topology.yml): icmp alone sees h2 unreachable; the
# audit's tcp fallback to h2's SSH port (and to the port of an extra target) finds the exact black hole
# behind r, one path per target, and the report says tcp answered.
source ../setup_lab/lab.sh "$@"
set -o pipefail

export ANSIBLE_FORKS="${ANSIBLE_FORKS:-10}"
work="$(lab_work_dir tca)"
lab_up tca 198.19.250.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory tca)" icmp_alone.yml "$@"
ansible-playbook -i "$(lab_inventory tca)" netpath.mtu.audit --check -e "$(lab_audit_vars)" \
    -e netpath_mtu_audit_probe_method=auto -e netpath_mtu_audit_report_dir="${work}/auto" \
    -e @extra_targets.yml "$@" | tee "${work}/auto.log"
ansible-playbook ../setup_lab/expect.yml -e report_file="${work}/auto/report.json" -e @expected_findings.yml "$@"
ansible-playbook paths.yml -e report_file="${work}/auto/report.json" "$@"
