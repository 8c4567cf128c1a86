#!/usr/bin/env bash
# The audit as AWX jobs: ansible-runner runs private data dirs laid out as AWX lays them out (project
# playbook importing netpath.mtu.audit, inventory, credential key, extravars, envvars, --check) on the
# seed lab. The set_stats summary must be in the playbook_on_stats event's artifact_data with the seed
# lab's counts and the job successful; with netpath_mtu_audit_fail_on_findings the job fails and still
# publishes it. Then the workflow's gate (project/remediation_gate.yml, docs/awx.md) gets the artifacts
# as extra vars, as AWX passes them on, and lets the workflow go on to the approval; after a clean
# audit it stops it.
source ../setup_lab/lab.sh "$@"

if ! command -v ansible-runner >/dev/null 2>&1; then
    echo "awx_runner: ansible-runner is needed (pip install -r tests/requirements.txt)" >&2
    exit 1
fi

work="$(lab_work_dir awx)"
inventory="$(lab_inventory itawx)"

# Run one job with runner, which finds the collection only through env/envvars (as in an EE), and check
# how it ended. Args: job (its private data dir is written by jobs.yml), playbook, expected status.
run_job() {
    local job="$1" playbook="$2" expected="$3" rc=0 status
    env -u ANSIBLE_COLLECTIONS_PATH ansible-runner run "${work}/${job}" --playbook "${playbook}" --ident "${job}" || rc=$?
    status="$(cat "${work}/${job}/artifacts/${job}/status")"
    echo "awx_runner: job ${job} exited ${rc}, status ${status}" >&2
    test "${status}" = "${expected}"
}

lab_up itawx 198.19.214.0/24
ansible-playbook jobs.yml -e inventory_path="${inventory}" -e work="${work}" -e "{\"audit_vars\": $(lab_audit_vars)}" \
    "$@"
run_job audit audit.yml successful
run_job audit_fail audit.yml failed
ansible-playbook assert.yml -e work="${work}" -e next_job=gate "$@"
# The workflow's gate: on to the approval after this audit, not after a clean one.
run_job gate remediation_gate.yml successful
run_job gate_clean remediation_gate.yml failed
