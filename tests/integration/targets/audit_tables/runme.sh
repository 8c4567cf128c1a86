#!/usr/bin/env bash
# Attribution and proven commands where the drop is in another table than the accept (topology.yml):
# the audit names r's hardening table; its printed commands, run as printed, fix it (re-audit clean).
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab_scenario sctables 198.19.236.0/24
