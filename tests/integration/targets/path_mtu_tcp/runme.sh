#!/usr/bin/env bash
# path_mtu_info method=tcp on real paths to web servers that drop ICMP echo: a PTB path, a black hole,
# an open port (443), a closed one (22), a dropped one (8443); IPv4 and IPv6.
source ../setup_lab/lab.sh "$@"

listeners=()
stop_listeners() {
    local pid
    for pid in "${listeners[@]}"; do
        kill "${pid}" 2>/dev/null || true
    done
}
lab_at_exit stop_listeners

lab_up tcp 198.19.246.0/24 -e @topology.yml
for host in web-ptb web-bh; do
    ip netns exec "tcp-${host}" nft -f web.nft
    ip netns exec "tcp-${host}" python3 listener.py 443 600 &
    listeners+=("$!")
done
ansible-playbook -i "$(lab_inventory tcp)" tcp.yml "$@"
stop_listeners
lab_down tcp
