#!/usr/bin/env bash
# Attribution and proven commands where the drop is in another table than the accept (topology.yml):
# the audit names r's hardening table; its printed commands, run as printed, fix it (re-audit clean).
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab=sctables
work="$(lab_work_dir tables)"

lab_up "${lab}" 198.19.236.0/24 -e @topology.yml
lab_audit_expect "${lab}" "${work}" audit expected_findings.yml
lab_run_printed_fixes "${lab}" "${work}" audit
lab_audit_expect "${lab}" "${work}" after after_fixes.yml
