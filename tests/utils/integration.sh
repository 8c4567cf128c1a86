#!/usr/bin/env bash
# Run every integration target in four ansible-test processes side by side. The targets that build a
# lab use their own lab names, management subnets and /etc/netns trees. Each output line is prefixed
# with its process ([1] to [4]); the exit code is non-zero when any process failed, and all of them
# always run to the end.
#
# Usage: cd build/ansible_collections/netpath/mtu && tests/utils/integration.sh ANSIBLE-TEST-ARGS...
#        e.g. --python 3.11 --allow-destructive --color no
# Env:   INTEGRATION_JOBS=1  everything in one ansible-test process, as before
set -euo pipefail

# Four groups of about equal length (from the run times ansible-test records in tests/output/data);
# every target not named here runs in the last group, so a new target needs no entry. The lab targets
# spend most of their time waiting on probe, PTB and transfer timeouts, so four at a time finish
# sooner even on two cores.
first=(audit_fleet remediate ptb_check transfer_check path_mtu_info path_mtu_tcp)
second=(audit_transit audit_tables audit_fragments audit_ipv6only icmp_commands path_mtu_fragments audit_merge audit_tcp)
third=(audit awx_runner icmp_policy diag_endpoint transfer_capture)

# State that every ansible-test process creates on first use, made once before they start: each
# process otherwise finds the other's half-written SSH key and ssh-keygen stops to ask whether to
# overwrite it (no terminal in CI). Same command and PEM header fix as ansible-test's SshKey.
ssh_key_pair() {
    local key="${HOME}/.ansible/test/id_rsa"
    if [ -f "${key}" ] && [ -f "${key}.pub" ]; then
        return
    fi
    mkdir -p -- "$(dirname "${key}")"
    rm -f -- "${key}" "${key}.pub"
    ssh-keygen -m PEM -q -t rsa -N '' -f "${key}"
    sed -i -E 's/(BEGIN|END) PRIVATE KEY/\1 RSA PRIVATE KEY/' "${key}"
}
ssh_key_pair

if [ "${INTEGRATION_JOBS:-3}" = 1 ]; then
    exec ansible-test integration "$@"
fi

rest=()
for dir in tests/integration/targets/*/; do
    target="$(basename "${dir}")"
    if grep -qxE 'hidden|disabled' "${dir}aliases" 2>/dev/null \
            || [[ " ${first[*]} ${second[*]} ${third[*]} " == *" ${target} "* ]]; then
        continue
    fi
    rest+=("${target}")
done

run() {
    local tag="$1"
    shift
    # sed -u: lines reach the log as they come, not when a buffer fills.
    ansible-test integration "$@" 2>&1 | sed -u "s/^/[${tag}] /"
}

pids=()
run 1 "$@" "${first[@]}" &
pids+=($!)
run 2 "$@" "${second[@]}" &
pids+=($!)
run 3 "$@" "${third[@]}" &
pids+=($!)
run 4 "$@" "${rest[@]}" &
pids+=($!)

rc=0
for pid in "${pids[@]}"; do
    wait "${pid}" || rc=1
done
if [ "${rc}" -ne 0 ]; then
    echo "integration: a process failed; see the lines above marked [1] to [4]" >&2
fi
exit "${rc}"
