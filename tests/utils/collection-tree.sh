#!/usr/bin/env bash
# Copy the working tree to build/ansible_collections/netpath/mtu and print that path.
#
# ansible-test only runs from a real directory ending in ansible_collections/NAMESPACE/NAME
# (symlinks are resolved and rejected), and antsibull-docs needs the same layout, so the
# static checks run against this copy. Needs tar and git (Debian packages tar, git); not rsync.
#
# Usage: tests/utils/collection-tree.sh            (from anywhere; prints the copy's path on stdout)
# Env:   COLLECTION_TREE_DEST  override the destination (must end in ansible_collections/netpath/mtu)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
dest="${COLLECTION_TREE_DEST:-${repo_root}/build/ansible_collections/netpath/mtu}"

case "${dest}" in
    */ansible_collections/netpath/mtu) ;;
    *)
        echo "collection-tree: destination must end in ansible_collections/netpath/mtu: ${dest}" >&2
        exit 2
        ;;
esac

echo "collection-tree: copying ${repo_root} -> ${dest}" >&2

mkdir -p "${dest}"
# Start from an empty copy so files deleted or renamed in the working tree do not linger,
# but keep tests/output: ansible-test keeps its delegation venv and results there.
find "${dest}" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf -- {} +
if [ -d "${dest}/tests" ]; then
    find "${dest}/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf -- {} +
fi

# Members are named ./PATH, so the anchored patterns only match at the repository root;
# the unanchored ones match at any depth.
tar -C "${repo_root}" -cf - \
    --anchored \
    --exclude=./.git \
    --exclude=./.venv \
    --exclude=./.ci \
    --exclude=./.ansible \
    --exclude=./build \
    --exclude=./collections \
    --exclude=./mtu-report \
    --exclude=./tests/output \
    --exclude=./bench/results \
    --no-anchored \
    --exclude=__pycache__ \
    --exclude=.pytest_cache \
    --exclude=.mypy_cache \
    --exclude=.ruff_cache \
    --exclude='*.pyc' \
    . | tar -C "${dest}" -xf -

# ansible-test looks for version control by walking up from the collection root; without a
# repository of its own the copy would be taken for ignored files of the outer repository (build/
# is gitignored) and every sanity target would be skipped. An empty repository makes ansible-test
# and ansible-lint list the copy's files with git ls-files --others --exclude-standard instead.
git -c init.defaultBranch=main init --quiet "${dest}"

printf '%s\n' "${dest}"
