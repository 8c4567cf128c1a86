#!/usr/bin/env bash
# Hosts with and without PTB-dropping firewalls check whether they accept a PTB from a responder.
source ../setup_lab/lab.sh "$@"

ansible-playbook invalid.yml "$@"
lab_up itptb 198.19.207.0/24 -e @topology.yml
ansible-playbook -i "$(lab_inventory itptb)" checks.yml "$@"
