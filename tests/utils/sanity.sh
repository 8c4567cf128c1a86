#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the collection, offline, with the ansible-core of $VENV.
#
# Usage: tests/utils/sanity.sh [ANSIBLE-TEST SANITY ARGS...]   e.g. --test pylint, or a target path
# Env:
#   VENV                  venv holding ansible-core (default: .venv in the repository root)
#   SANITY_EXTRA_PYTHONS  also run the multi-version tests (compile, import) on these interpreters:
#                         "auto" (default: every other Python ansible-test supports that is on PATH
#                         and has venv support), "none", or a space-separated list of interpreter paths
#
# ansible-test runs the tests from the venv's Python (--controller origin) and keeps one venv per
# sanity test in ~/.ansible/test/venv (pinned requirements, reused by later runs). It bootstraps
# those venvs with a get-pip.py it downloads from a host this machine cannot reach; the script
# installs an offline stand-in instead (the venv's pip installs pip into the new venv from the
# package index; ensurepip as fallback). Cold run about 45-60 s, warm about 10-20 s.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
venv="${VENV:-${repo_root}/.venv}"
case "${venv}" in
    /*) ;;
    *) venv="${PWD}/${venv}" ;;
esac
python="${venv}/bin/python"
ansible_test="${venv}/bin/ansible-test"
extra_pythons="${SANITY_EXTRA_PYTHONS:-auto}"

if [ ! -x "${ansible_test}" ]; then
    echo "sanity: ${ansible_test} not found; create the venv first (python3 -m venv ${venv} && ${venv}/bin/pip install 'ansible-core>=2.19,<2.20')" >&2
    exit 2
fi

# The collection's policy: fix the code, never ignore a sanity error.
for ignore in "${repo_root}"/tests/sanity/ignore-*.txt; do
    if [ -s "${ignore}" ]; then
        echo "sanity: ${ignore#"${repo_root}"/} must stay empty; fix the reported problems instead" >&2
        exit 1
    fi
done

if ! command -v shellcheck >/dev/null 2>&1; then
    echo "sanity: shellcheck is not installed, the shellcheck sanity test will be skipped (apt-get install shellcheck)" >&2
fi

controller_version="$("${python}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# Offline stand-in for https://ci-files.testing.ansible.com/ansible-test/get-pip-VERSION.py.
# ansible-test runs it with the new venv's Python and pip install arguments (pip==VERSION plus
# --no-setuptools / --no-wheel); it filters the environment, but pip still reads /etc/pip.conf.
# The stand-in names the venv's Python, so it is rewritten when VENV changes.
install_get_pip() {
    local pip_version="$1"
    local cache="${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py"
    local marker="# netpath.mtu offline get-pip stand-in"

    if [ -f "${cache}" ] && ! grep -qxF "${marker}" "${cache}"; then
        echo "sanity: using existing pip bootstrap script ${cache}" >&2
        return
    fi
    mkdir -p "$(dirname "${cache}")"
    cat >"${cache}.new" <<EOF
${marker}
import os
import subprocess
import sys

# The venv's own pip can install into another interpreter (pip --python, pip >= 22.3), which is
# much faster than ensurepip; fall back to ensurepip when it cannot (e.g. a Python it dropped).
HOST_PYTHON = "${python}"

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
env = dict(os.environ)
env.pop("PIP_CONFIG_FILE", None)
try:
    subprocess.run([HOST_PYTHON, "-m", "pip", "--python", sys.executable, "install", "--quiet", *args], check=True, env=env)
except (OSError, subprocess.CalledProcessError):
    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], check=True, env=env)
    if "--no-setuptools" in sys.argv:
        # ensurepip before Python 3.12 also installs setuptools; get-pip.py would not.
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], check=True, env=env, stderr=subprocess.DEVNULL)
EOF
    if cmp -s "${cache}.new" "${cache}"; then
        rm -f -- "${cache}.new"
    else
        mv -- "${cache}.new" "${cache}"
        echo "sanity: wrote offline pip ${pip_version} bootstrap script ${cache}" >&2
    fi
}

# ansible-test's own data: the pip version it bootstraps for a Python, and the Pythons it supports.
ansible_test_info() {
    "${python}" - "$@" <<'EOF'
import sys
import types

from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS
from ansible_test._internal.python_requirements import get_venv_packages

if sys.argv[1] == "pip":
    print(get_venv_packages(types.SimpleNamespace(version=sys.argv[2]))["pip"])
else:
    print(" ".join(SUPPORTED_PYTHON_VERSIONS))
EOF
}

target_args=(--target-python "${controller_version}@${python}")
versions=("${controller_version}")

# Extra interpreters are exposed to ansible-test as pythonX.Y on PATH (it looks them up there when
# it creates the import test's venvs), through a private directory of symlinks.
python_bin="$(mktemp -d)"
trap 'rm -rf -- "${python_bin}"' EXIT

add_python() {
    local interpreter="$1" explicit="$2" version
    if ! version="$("${interpreter}" -c 'import ensurepip, sys, venv; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
        # pyenv shims and the like exist on PATH without a usable Python behind them.
        if [ "${explicit}" = yes ]; then
            echo "sanity: skipping ${interpreter}: not a Python with venv and ensurepip" >&2
        fi
        return
    fi
    case " ${versions[*]} " in
        *" ${version} "*) return ;;
    esac
    if [[ " $(ansible_test_info versions) " != *" ${version} "* ]]; then
        echo "sanity: skipping ${interpreter}: ansible-test does not support Python ${version}" >&2
        return
    fi
    interpreter="$("${interpreter}" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
    ln -sf "${interpreter}" "${python_bin}/python${version}"
    target_args+=(--target-python "${version}@${interpreter}")
    versions+=("${version}")
}

case "${extra_pythons}" in
    none | "") ;;
    auto)
        for version in $(ansible_test_info versions); do
            if [ "${version}" != "${controller_version}" ] && command -v "python${version}" >/dev/null 2>&1; then
                add_python "python${version}" no
            fi
        done
        ;;
    *)
        for interpreter in ${extra_pythons}; do
            add_python "${interpreter}" yes
        done
        ;;
esac

for version in "${versions[@]}"; do
    install_get_pip "$(ansible_test_info pip "${version}")"
done

tree="$("${repo_root}/tests/utils/collection-tree.sh")"
cd "${tree}"

cmd=("${ansible_test}" sanity --controller "origin:python=${controller_version}@${python}" "${target_args[@]}" "$@")
echo "sanity: Pythons ${versions[*]} (compile and import run on each; the rest on ${controller_version})" >&2
echo "sanity: (cd ${tree} && ${cmd[*]})" >&2
PATH="${python_bin}:${PATH}" "${cmd[@]}"
