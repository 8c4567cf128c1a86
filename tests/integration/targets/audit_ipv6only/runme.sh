#!/usr/bin/env bash
# An IPv6-only segment (topology.yml): the black holes are IPv6 only, blamed on the router whose OUTPUT
# drops its packet-too-big; the printed commands, run as printed, fix it (re-audit clean).
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab=scsix
work="$(lab_work_dir ipv6only)"

lab_up "${lab}" 198.19.238.0/24 -e @topology.yml
lab_audit_expect "${lab}" "${work}" audit expected_findings.yml
lab_run_printed_fixes "${lab}" "${work}" audit
lab_audit_expect "${lab}" "${work}" after after_fixes.yml
