#!/usr/bin/env bash
# Run every integration target in two ansible-test processes side by side. The targets that build a
# lab use their own lab names, management subnets and /etc/netns trees, and spend much of their time
# waiting on probe, PTB and transfer timeouts, so two at a time finish sooner even on two cores.
# Each output line is prefixed with its process ([1] or [2]); the exit code is non-zero when either
# process failed, and both always run to the end.
#
# Usage: cd build/ansible_collections/netpath/mtu && tests/utils/integration.sh ANSIBLE-TEST-ARGS...
#        e.g. --python 3.11 --allow-destructive --color no
# Env:   INTEGRATION_JOBS=1  everything in one ansible-test process, as before
set -euo pipefail

# The longest targets, about half of the total time; every other target runs in the second process,
# so a new target needs no entry here.
first=(audit_fleet remediate ptb_check transfer_check path_mtu_info)

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

if [ "${INTEGRATION_JOBS:-2}" = 1 ]; then
    exec ansible-test integration "$@"
fi

second=()
for dir in tests/integration/targets/*/; do
    target="$(basename "${dir}")"
    if grep -qx hidden "${dir}aliases" 2>/dev/null || [[ " ${first[*]} " == *" ${target} "* ]]; then
        continue
    fi
    second+=("${target}")
done

run() {
    local tag="$1"
    shift
    # sed -u: lines reach the log as they come, not when a buffer fills.
    ansible-test integration "$@" 2>&1 | sed -u "s/^/[${tag}] /"
}

run 1 "$@" "${first[@]}" &
pid_first=$!
run 2 "$@" "${second[@]}" &
pid_second=$!

rc=0
wait "${pid_first}" || rc=1
wait "${pid_second}" || rc=1
if [ "${rc}" -ne 0 ]; then
    echo "integration: a process failed; see the lines above marked [1] or [2]" >&2
fi
exit "${rc}"
