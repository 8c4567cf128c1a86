#!/usr/bin/env bash
# A gateway that drops non-first fragments under a tunnel whose outer packets fragment (topology.yml):
# the fragment drop is a finding related to the tunnel and the black holes; the printed commands, run
# as printed (tunnel MTU, a narrow accept for the tunnel's fragments), clear them.
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab_scenario scfrag 198.19.237.0/24
