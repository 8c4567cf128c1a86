#!/usr/bin/env bash
# Bad input to every module (tests/reliability): hundreds of generated and hand-written cases, each run
# directly on a lab host (no playbook per case); each must fail with one sentence naming the parameter,
# without a traceback, and leave the host unchanged. Prints the summary; fails on any defect.
source ../setup_lab/lab.sh "$@"

lab_up rel 198.19.240.0/24 -e @topology.yml
work="$(lab_work_dir rel)"
# ansible-test runs this from a copy of the targets inside the collection (tests/output/.tmp/...): the
# collection root is the nearest directory above holding tests/reliability.
collection="$(pwd -P)"
while [ ! -f "${collection}/tests/reliability/runner.py" ]; do
    test "${collection}" != / || { echo "reliability_inputs: no tests/reliability above $(pwd)" >&2; exit 1; }
    collection="$(dirname "${collection}")"
done
python="$(awk '/ansible_python_interpreter:/ {print $2; exit}' "$(lab_inventory rel)")"

# The broken configuration files of host "bad": nftables.conf cut off mid-table, and the wg-quick file
# of its tunnel with its MTU and ListenPort keys twice.
etc=/etc/netns/rel-bad
"${python}" - "${etc}/nftables.conf" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[1], "w").write(text[: len(text) * 2 // 3])
PY
sed -i -e 's/^\(MTU *=.*\)$/\1\nMTU = 9000/' -e 's/^\(ListenPort *=.*\)$/\1\nListenPort = 1/' "${etc}/wireguard/rel-wg0a.conf"
test "$(grep -c '^MTU' "${etc}/wireguard/rel-wg0a.conf")" = 2

summary="${NETPATH_MTU_RELIABILITY_JSON:-${collection}/tests/output/reliability/bad_inputs.json}"
mkdir -p "$(dirname "${summary}")"
PYTHONPATH="$(cd "${collection}/../../.." && pwd -P)" "${python}" "${collection}/tests/reliability/runner.py" \
    --lab rel --work "${work}" --json "${summary}"
