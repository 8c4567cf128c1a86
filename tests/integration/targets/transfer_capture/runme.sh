#!/usr/bin/env bash
# transfer_check with capture on both ends: the black hole (IPv4 and IPv6), a path that loses every
# non-first fragment, and a clean path; the pcaps come back to the controller and open in scapy.
source ../setup_lab/lab.sh "$@"

lab_up capxfer 198.19.247.0/24 -e @topology.yml
work="$(lab_work_dir capxfer)"
ansible-playbook -i "$(lab_inventory capxfer)" captures.yml -e "capture_report_dir=${work}" "$@"

# The remediate role keeps both ends' pcaps of each verification transfer: the seed lab, fixed, so every
# transfer through the tunnel completes and its captures show nothing missing.
lab_down capxfer
lab_up capseed 198.19.247.0/24
ansible-playbook -i "$(lab_inventory capseed)" netpath.mtu.remediate -e "$(lab_audit_vars)" \
    -e netpath_mtu_audit_ptb_check=false -e netpath_mtu_remediate_capture=true \
    -e netpath_mtu_remediate_fail_on_remaining=true -e netpath_mtu_remediate_report_dir="${work}/remediate" "$@"
ansible-playbook remediate_captures.yml -e "report_dir=${work}/remediate" "$@"
