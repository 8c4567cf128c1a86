#!/usr/bin/env bash
# An IPv6-only segment (topology.yml): the black holes are IPv6 only, blamed on the router whose OUTPUT
# drops its packet-too-big; the printed commands, run as printed, fix it (re-audit clean).
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab_scenario scsix 198.19.238.0/24
