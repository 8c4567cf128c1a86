#!/usr/bin/env bash
# A gateway that drops non-first fragments under a tunnel whose outer packets fragment (topology.yml):
# the fragment drop is a finding related to the tunnel and the black holes; the printed commands, run
# as printed (tunnel MTU, a narrow accept for the tunnel's fragments), clear them.
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab=scfrag
work="$(lab_work_dir fragments)"

lab_up "${lab}" 198.19.237.0/24 -e @topology.yml
lab_audit_expect "${lab}" "${work}" audit expected_findings.yml
lab_run_printed_fixes "${lab}" "${work}" audit
lab_audit_expect "${lab}" "${work}" after after_fixes.yml
