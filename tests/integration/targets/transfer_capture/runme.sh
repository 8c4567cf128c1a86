#!/usr/bin/env bash
# transfer_check with capture on both ends: the black hole (IPv4 and IPv6), a path that loses every
# non-first fragment, and a clean path; the pcaps come back to the controller and open in scapy.
source ../setup_lab/lab.sh "$@"

lab_up capxfer 198.19.247.0/24 -e @topology.yml
work="$(lab_work_dir capxfer)"
ansible-playbook -i "$(lab_inventory capxfer)" captures.yml -e "capture_report_dir=${work}" "$@"
