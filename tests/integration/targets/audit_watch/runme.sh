#!/usr/bin/env bash
# Watch and prove (issue 18): the seed lab audited with metrics for a real Prometheus (a controller
# file and one host's file through node_exporter's textfile collector, and a Pushgateway), read back
# and compared with report.json; then a person edits the tunnels, and the light "watch" audit of the
# previous report's paths reports the drift: what was resolved and changed, nothing new.
source ../setup_lab/lab.sh "$@"
set -o pipefail

work="$(lab_work_dir watch)"
inventory="$(lab_inventory watch)"
# Prometheus, node_exporter and the Pushgateway run in server-b's namespace: nothing listens outside the lab.
ns=watch-server-b
host=gw-a

lab_up watch 198.19.241.0/24
mgmt="$(ansible-inventory -i "${inventory}" --host server-b | python3 -c 'import json, sys; print(json.load(sys.stdin)["ansible_host"])')"

pids=()
stop_services() {
    local pid
    for pid in "${pids[@]}"; do
        kill "${pid}" 2>/dev/null || true
    done
}
lab_at_exit stop_services

start() {
    # ip netns exec replaces itself with the command: $! is the daemon's own PID.
    ip netns exec "${ns}" "$@" >"${work}/$(basename "$1").$$.log" 2>&1 &
    pids+=("$!")
}

mkdir -p "${work}/prom" "${work}/textfile/fleet"
for name in client-a gw-a rtr gw-b server-b; do
    mkdir -p "${work}/textfile/${name}"
done
start prometheus-node-exporter --web.listen-address=127.0.0.1:9100 --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="${work}/textfile/fleet"
start prometheus-node-exporter --web.listen-address=127.0.0.1:9101 --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="${work}/textfile/${host}"
start prometheus-pushgateway --web.listen-address="${mgmt}:9091"
cat >"${work}/prom/prometheus.yml" <<PROM
global: {scrape_interval: 1s}
scrape_configs:
  - {job_name: fleet, static_configs: [{targets: ["127.0.0.1:9100"]}]}
  - {job_name: host, static_configs: [{targets: ["127.0.0.1:9101"]}]}
  - {job_name: push, static_configs: [{targets: ["${mgmt}:9091"]}]}
PROM
start prometheus --config.file="${work}/prom/prometheus.yml" --storage.tsdb.path="${work}/prom/data" \
    --web.listen-address=127.0.0.1:9090

# The full audit, with every metrics output.
ansible-playbook -i "${inventory}" netpath.mtu.audit --check -e "$(lab_audit_vars)" \
    -e netpath_mtu_audit_report_dir="${work}/full" \
    -e netpath_mtu_audit_metrics_file="${work}/textfile/fleet/netpath_mtu.prom" \
    -e "netpath_mtu_audit_metrics_host_file=${work}/textfile/{{ inventory_hostname }}/netpath_mtu.prom" \
    -e netpath_mtu_audit_pushgateway_url="http://${mgmt}:9091" "$@" | tee "${work}/full.log"
promtool check metrics <"${work}/textfile/fleet/netpath_mtu.prom"
promtool check metrics <"${work}/textfile/${host}/netpath_mtu.prom"
ip netns exec "${ns}" python3 check_metrics.py "${work}/full/report.json" http://127.0.0.1:9090 "${host}" \
    | tee "${work}/check.log"

# A person fixes the tunnels by hand, to what the report says fits.
python3 - "${work}/full/report.json" >"${work}/tunnel_edits" <<'PY'
import json, sys
for tunnel in json.load(open(sys.argv[1]))["tunnels"]:
    if tunnel["status"] == "too_large":
        print(tunnel["host"], tunnel["name"], tunnel["max_tunnel_mtu"])
PY
test -s "${work}/tunnel_edits"
while read -r name tunnel mtu; do
    ip netns exec "watch-${name}" ip link set dev "${tunnel}" mtu "${mtu}"
done <"${work}/tunnel_edits"

# The light audit between full ones: the tunnels and the paths the last report singled out.
ANSIBLE_SHOW_CUSTOM_STATS=true ansible-playbook -i "${inventory}" netpath.mtu.audit --check -e "$(lab_audit_vars)" \
    -e netpath_mtu_audit_report_dir="${work}/watch" -e netpath_mtu_audit_scope=watch \
    -e netpath_mtu_audit_previous_report="${work}/full/report.json" \
    -e netpath_mtu_audit_metrics_file="${work}/watch.prom" "$@" | tee "${work}/watch.log"
grep -q "netpath_mtu_audit_drift" "${work}/watch.log"
ansible-playbook assert.yml -e work="${work}" "$@"
