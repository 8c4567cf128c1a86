#!/usr/bin/env bash
# Sliced audits merged into one fleet report (issue 14): the seed lab audited once as a whole and once
# as three slices (--limit per slice, hosts dealt round-robin as AWX job slicing deals them), then the
# slices' reports merged by the netpath.mtu.merge_reports playbook. The merged findings and report.json
# must equal the unsliced run's (but for the timestamp and the merge's own account), although each
# slice alone sees neither the router's firewall nor the other end of the tunnel. The PTB check is off:
# it pairs each host with a peer of its own slice, so its verdicts are the slice's (docs/audit.md).
source ../setup_lab/lab.sh "$@"
set -o pipefail

work="$(lab_work_dir merge)"
inventory="$(lab_inventory slm)"
export ANSIBLE_FORKS="${ANSIBLE_FORKS:-10}"
audit=(-e "$(lab_audit_vars)" -e netpath_mtu_audit_ptb_check=false)

lab_up slm 198.19.248.0/24

ansible-playbook -i "${inventory}" netpath.mtu.audit --check "${audit[@]}" \
    -e netpath_mtu_audit_report_dir="${work}/whole" "$@" | tee "${work}/whole.log"

# AWX deals the hosts, sorted, to the slices in turn.
mapfile -t hosts < <(ansible-inventory -i "${inventory}" --list | python3 -c \
    'import json, sys; print("\n".join(sorted(json.load(sys.stdin)["_meta"]["hostvars"])))')
slices=3
for ((s = 0; s < slices; s++)); do
    limit=""
    for ((i = s; i < ${#hosts[@]}; i += slices)); do
        limit+="${hosts[i]},"
    done
    ansible-playbook -i "${inventory}" netpath.mtu.audit --check "${audit[@]}" --limit "${limit%,}" \
        -e netpath_mtu_audit_report_dir="${work}/slices/job${s}" "$@" | tee "${work}/slice${s}.log"
    test -s "${work}/slices/job${s}/audit_data.json"
done

# The workflow node after the sliced job: every slice below one directory.
ANSIBLE_SHOW_CUSTOM_STATS=true ansible-playbook netpath.mtu.merge_reports \
    -e netpath_mtu_audit_merge_dir="${work}/slices" -e netpath_mtu_audit_report_dir="${work}/merged" "$@" \
    | tee "${work}/merge.log"
grep -q '"netpath_mtu_audit_merge"' "${work}/merge.log"
grep -q '3 slices, 5/5 hosts' "${work}/merge.log"

# The same by a list of report paths (a report.json, a directory), with a slice given again as a
# duplicate: the merge keeps one copy of its hosts and says so.
cp -r "${work}/slices/job1" "${work}/job1-again"
ansible-playbook netpath.mtu.merge_reports -e netpath_mtu_audit_report_dir="${work}/listed" "$@" \
    -e "{\"netpath_mtu_audit_merge_reports\": [\"${work}/slices/job0/report.json\", \"${work}/slices/job1\",
         \"${work}/slices/job2/audit_data.json\", \"${work}/job1-again\"]}" | tee "${work}/listed.log"

# A slice of another collection version is refused with a clear message.
mkdir -p "${work}/mixed/a" "${work}/mixed/b"
cp "${work}/slices/job0/audit_data.json" "${work}/mixed/a/"
sed -E 's/"schema_version": ?1,/"schema_version": 99,/' "${work}/slices/job1/audit_data.json" >"${work}/mixed/b/audit_data.json"
set +e
ansible-playbook netpath.mtu.merge_reports -e netpath_mtu_audit_merge_dir="${work}/mixed" \
    -e netpath_mtu_audit_report_dir="${work}/mixed-out" "$@" >"${work}/mixed.log" 2>&1
rc=$?
set -e
cat "${work}/mixed.log"
test "${rc}" -ne 0
grep -q 'report schema version 99, this collection merges version 1 only' "${work}/mixed.log"
test ! -e "${work}/mixed-out/report.json"

python3 compare.py "${work}"
