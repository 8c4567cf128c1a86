#!/usr/bin/env bash
# Faults during a change and concurrent changes (tests/reliability/faults.py): a failing nft transaction, a
# second iptables command failing, read-only and full configuration file systems, the module killed between
# persisting and the live change, reboots before persisting, the SSH session killed mid-task, nine runs on one
# host at once. Afterwards each host's live state and boot configuration must be both old or both new,
# changed must say which, backups must exist, and the next run must converge. Prints the summary.
source ../setup_lab/lab.sh "$@"

lab_up flt 198.19.249.0/24 -e @topology.yml
work="$(lab_work_dir flt)"
# ansible-test runs this from a copy of the targets inside the collection: the collection root is the
# nearest directory above holding tests/reliability.
collection="$(pwd -P)"
while [ ! -f "${collection}/tests/reliability/faults.py" ]; do
    test "${collection}" != / || { echo "reliability_faults: no tests/reliability above $(pwd)" >&2; exit 1; }
    collection="$(dirname "${collection}")"
done
python="$(awk '/ansible_python_interpreter:/ {print $2; exit}' "$(lab_inventory flt)")"

summary="${NETPATH_MTU_RELIABILITY_FAULTS_JSON:-${collection}/tests/output/reliability/faults.json}"
mkdir -p "$(dirname "${summary}")"
PYTHONPATH="$(cd "${collection}/../../.." && pwd -P)" "${python}" "${collection}/tests/reliability/faults.py" \
    --lab flt --work "${work}" --json "${summary}"
