#!/usr/bin/env bash
# Attribution with a router outside the inventory (topology.yml): the black holes name its address and
# no inventory host; the host whose PTB peers all sit behind it gets a path finding, not a firewall one.
source ../setup_lab/lab.sh "$@"
set -o pipefail

lab_scenario sctrans 198.19.235.0/24
