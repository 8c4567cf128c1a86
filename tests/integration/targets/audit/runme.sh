#!/usr/bin/env bash
# The audit on the seed lab: --check and normal runs find exactly the lab's faults and change
# nothing on the managed hosts; the report files parse and the HTML loads in headless Chromium;
# the fail gate fails; a sliced inventory (AWX job slicing) and a host without pyroute2 work.
source ../setup_lab/lab.sh "$@"
set -o pipefail

work="$(lab_work_dir audit)"
inventory="$(lab_inventory itaudit)"

if ! command -v chromium >/dev/null 2>&1; then
    echo "audit: chromium is needed for the HTML check (apt-get install -y --no-install-recommends chromium)" >&2
    exit 1
fi

lab_up itaudit 198.19.211.0/24
lab_snapshot itaudit "${work}" before

# --check, from another directory: the report goes to the default ./mtu-report relative to it.
mkdir -p "${work}/cwd"
(cd "${work}/cwd" && ansible-playbook -i "${inventory}" netpath.mtu.audit --check -e "$(lab_audit_vars)" "$@") | tee "${work}/check.log"
lab_snapshot itaudit "${work}" after_check

# Normal run with the fail gate: the report is written, then the play fails on the findings.
set +e
ansible-playbook -i "${inventory}" netpath.mtu.audit -e "$(lab_audit_vars)" -e netpath_mtu_audit_report_dir="${work}/real" \
    -e netpath_mtu_audit_fail_on_findings=true -e netpath_mtu_audit_fail_severity=critical "$@" | tee "${work}/real.log"
rc=${PIPESTATUS[0]}
set -e
test "${rc}" -ne 0
grep -q 'finding(s) of severity critical or worse' "${work}/real.log"
lab_snapshot itaudit "${work}" after_real

# Nothing changed on any managed host, and no task said it did.
diff -r "${work}/before" "${work}/after_check"
diff -r "${work}/before" "${work}/after_real"
for log in check real; do
    grep -E '^\S+ +: ok=' "${work}/${log}.log" | grep -v 'changed=0' && exit 1
done

# AWX job slicing: a slice of two hosts, the others known only through netpath_mtu_audit_peers.
ansible-playbook slice.yml -e inventory_path="${inventory}" -e slice_path="${work}/slice.yml" "$@"
# (No PTB checks: the full runs above cover them.)
# result.yml runs the role, then reads netpath_mtu_audit_result on every host of the slice.
ansible-playbook -i "${work}/slice.yml" result.yml --check -e '{"netpath_mtu_audit_address_vars": []}' \
    -e netpath_mtu_audit_ptb_check=false -e netpath_mtu_audit_report_dir="${work}/slice" "$@"

# A host whose Python lacks pyroute2: recorded as not audited; check mode installs nothing.
# The deprecated name netpath_mtu_report_dir still works, with a deprecation warning.
ansible-playbook -i "${inventory}" netpath.mtu.audit --check --limit server-b -e ansible_python_interpreter=/usr/bin/python3 \
    -e netpath_mtu_report_dir="${work}/nodeps" "$@" 2>&1 | tee "${work}/nodeps.log"
grep -q 'netpath_mtu_report_dir is deprecated, use netpath_mtu_audit_report_dir' "${work}/nodeps.log"

ansible-playbook -i "${inventory}" assert.yml -e check_dir="${work}/cwd/mtu-report" -e real_dir="${work}/real" \
    -e slice_dir="${work}/slice" -e nodeps_dir="${work}/nodeps" "$@"
ansible-playbook html.yml -e real_dir="${work}/real" "$@"

