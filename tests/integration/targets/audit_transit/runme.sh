#!/usr/bin/env bash
# Attribution with a router outside the inventory (topology.yml): the black holes name its address and
# no inventory host; the host whose PTB peers all sit behind it gets a path finding, not a firewall one.
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab=sctrans
work="$(lab_work_dir transit)"
export ANSIBLE_FORKS=10

lab_up "${lab}" 198.19.235.0/24 -e @topology.yml
lab_audit_expect "${lab}" "${work}" audit expected_findings.yml
