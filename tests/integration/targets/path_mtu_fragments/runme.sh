#!/usr/bin/env bash
# path_mtu_info where the way back differs from the way there: echo replies fragmented on a smaller
# return link and their non-first fragments dropped (the ping -M do bisection is the truth), and
# black-holed paths behind a router that rate-limits time-exceeded.
source ../setup_lab/lab.sh "$@"

lab_up pf1 198.19.220.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory pf1)" fragments.yml "$@"
ansible-playbook -i "$(lab_inventory pf1)" ratelimit.yml "$@"
