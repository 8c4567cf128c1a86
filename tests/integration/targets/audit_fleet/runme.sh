#!/usr/bin/env bash
# Audit and remediation of a nine-host lab with every kind of path (topology.yml): the audit, with
# and without --check, finds exactly the lab's faults (expected_findings.yml); --check changes nothing;
# remediate --check --diff changes nothing; the real remediation leaves a clean re-audit and working
# tunnels; a second remediation changes nothing on any host.
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab=itfleet
inventory="$(lab_inventory "${lab}")"
work="$(lab_work_dir fleet)"
# Every host probes at once (Ansible's default of 5 forks would make two rounds of nine hosts).
export ANSIBLE_FORKS=10

lab_up "${lab}" 198.19.213.0/24 -e @topology.yml
lab_snapshot "${lab}" "${work}" before

# The audit in check mode changes nothing, and no task says it did. (Without --check it is the same
# audit: the audit target diffs that on the seed lab; here the real remediation's first audit runs
# without --check, and its findings are checked like these.)
ansible-playbook -i "${inventory}" netpath.mtu.audit --check -e "$(lab_audit_vars)" \
    -e netpath_mtu_audit_report_dir="${work}/audit_check" "$@" | tee "${work}/audit_check.log"
lab_snapshot "${lab}" "${work}" after_audit_check
diff -r "${work}/before" "${work}/after_audit_check"
test -z "$(lab_changed_hosts "${work}/audit_check.log")"

# The remediation runs audit four times. Their audits skip the two-host PTB checks (about half an
# audit's time here): the audit above ran them, and in this lab every host accepts PTBs.
remediate_vars=(-e "$(lab_audit_vars)" -e netpath_mtu_audit_ptb_check=false)

# --check --diff shows the fixes on the hosts that carry them (the iptables-legacy one included)
# and makes none.
ansible-playbook -i "${inventory}" netpath.mtu.remediate --check --diff "${remediate_vars[@]}" \
    -e netpath_mtu_remediate_report_dir="${work}/remediate_check" "$@" | tee "${work}/remediate_check.log"
lab_snapshot "${lab}" "${work}" after_remediate_check
diff -r "${work}/before" "${work}/after_remediate_check"
test "$(lab_changed_hosts "${work}/remediate_check.log")" = "gwa gwb rbh "
grep -q -- '+MTU = 1340' "${work}/remediate_check.log"
grep -q -- '+-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 2 .*-j ACCEPT' "${work}/remediate_check.log"

# The real run (fails unless the re-audit has no fixable finding and every tunnel transfer completes),
# then a second that changes nothing.
lab_remediate_twice "${lab}" "${work}" "gwa gwb rbh " "${remediate_vars[@]}"

ansible-playbook -i "${inventory}" assert.yml -e work="${work}" "$@"
