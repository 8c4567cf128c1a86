#!/usr/bin/env bash
# Remediation of the seed lab: --check --diff changes nothing (links, rulesets, /etc diffed), the
# real run fixes the outage (tunnel MTU 1340 persisted, the router's ICMP drop fixed, a 1 MB transfer
# through the tunnel completes), the second run changes nothing, the re-audit is clean.
source ../setup_lab/lab.sh "$@"
set -o pipefail

work="$(lab_work_dir remediate)"
inventory="$(lab_inventory itremed)"

# The remediation audits up to twice a run; those audits skip the two-host PTB checks (the audit
# target covers them, and the router's ICMP drop is found by reading its firewall).
vars=(-e "$(lab_audit_vars)" -e netpath_mtu_audit_ptb_check=false)

lab_up itremed 198.19.212.0/24
lab_snapshot itremed "${work}" before

# --check --diff: shows the changes (the recap says which hosts would change), makes none.
ansible-playbook -i "${inventory}" netpath.mtu.remediate --check --diff "${vars[@]}" \
    -e netpath_mtu_remediate_report_dir="${work}/check" "$@" | tee "${work}/check.log"
lab_snapshot itremed "${work}" after_check
diff -r "${work}/before" "${work}/after_check"
test "$(lab_changed_hosts "${work}/check.log")" = "gw-a gw-b rtr "
grep -q -- '-MTU = 1420' "${work}/check.log"
grep -q -- '+MTU = 1340' "${work}/check.log"

# The real run (fails unless the re-audit is clean and every tunnel transfer completes), then a second
# that changes nothing.
lab_remediate_twice itremed "${work}" "gw-a gw-b rtr " "${vars[@]}"

# The first failure stops the host, with the step and the module's message; nothing after it runs.
set +e
ansible-playbook -i "${inventory}" failure.yml --check "$@" | tee "${work}/failure.log"
rc=${PIPESTATUS[0]}
set -e
test "${rc}" -ne 0
grep -q "Remediation of gw-a stopped at its first failure.*Set and persist the tunnel MTU the audit computed failed: nope0: no interface named 'nope0'" "${work}/failure.log"
grep -q 'rescued=1' "${work}/failure.log"
if grep -q 'Clamp the TCP MSS of forwarded connections' "${work}/failure.log"; then
    echo "remediate: mss_clamp ran after the failed link_mtu" >&2
    exit 1
fi

ansible-playbook -i "${inventory}" assert.yml -e check_dir="${work}/check" -e real_dir="${work}/real" \
    -e again_dir="${work}/again" "$@"
