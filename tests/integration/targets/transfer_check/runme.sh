#!/usr/bin/env bash
# The seed lab: through the tunnel a small TCP exchange works and a large one stalls; clean paths work.
source ../setup_lab/lab.sh "$@"

ansible-playbook invalid.yml "$@"
lab_up itxfer 198.19.208.0/24
ansible-playbook -i "$(lab_inventory itxfer)" transfers.yml "$@"
ansible-playbook -i "$(lab_inventory itxfer)" after_fix.yml "$@"
