#!/usr/bin/env bash
# Lint the collection the way Galaxy / Automation Hub see it, on a copy of the tree:
#   ansible-lint (production profile, .ansible-lint), antsibull-docs lint-collection-docs --plugin-docs,
#   antsibull-changelog lint, ansible-galaxy collection build (artifact in build/, overwritten), and
#   tests/utils/ee_context.py (ansible-builder create turns execution-environment.yml into a build context).
# Every check runs; the script exits non-zero when any of them failed.
#
# Usage: tests/utils/lint.sh
# Env:   VENV  venv holding ansible-core, ansible-lint, antsibull-docs, antsibull-changelog, ansible-builder
#              (default: .venv in the repository root)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
venv="${VENV:-${repo_root}/.venv}"
case "${venv}" in
    /*) ;;
    *) venv="${PWD}/${venv}" ;;
esac

for tool in ansible-lint antsibull-docs antsibull-changelog ansible-galaxy ansible-builder; do
    if [ ! -x "${venv}/bin/${tool}" ]; then
        echo "lint: ${venv}/bin/${tool} not found; install tests/requirements.txt into ${venv}" >&2
        exit 2
    fi
done
# ansible-lint runs ansible-playbook and ansible-galaxy from PATH and warns unless they are its own.
export PATH="${venv}/bin:${PATH}"

tree="$("${repo_root}/tests/utils/collection-tree.sh")"
cd "${tree}"
# Let ansible-lint's syntax check resolve netpath.mtu.* modules and roles from the copy itself.
export ANSIBLE_COLLECTIONS_PATH="${tree%/ansible_collections/netpath/mtu}${ANSIBLE_COLLECTIONS_PATH:+:${ANSIBLE_COLLECTIONS_PATH}}"

failed=()
run() {
    echo "lint: (cd ${tree} && $*)" >&2
    if ! "$@"; then
        failed+=("$1")
    fi
}

lint_args=()
if [ ! -t 1 ]; then
    lint_args+=(--nocolor)
fi
run ansible-lint "${lint_args[@]}"
run antsibull-docs lint-collection-docs --plugin-docs .
run antsibull-changelog lint
run ansible-galaxy collection build --force --output-path "${repo_root}/build" .
run tests/utils/ee_context.py .

if [ ${#failed[@]} -gt 0 ]; then
    echo "lint: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "lint: all checks passed" >&2
