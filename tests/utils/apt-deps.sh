#!/usr/bin/env bash
# Install the Debian packages that the lab, the modules and the tests need, if any is missing.
# Runs unattended (CI has no stdin); --no-install-recommends keeps wireguard-tools from pulling a kernel.
set -euo pipefail

packages=(
    iproute2 nftables iptables kmod procps
    wireguard-go wireguard-tools
    openssh-server openssh-client
    iputils-ping iputils-tracepath scamper tcpdump
    python3 python3-venv git make tar shellcheck
    chromium curl openssl systemd
    prometheus prometheus-node-exporter prometheus-pushgateway
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("${pkg}")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "apt-deps: missing packages ${missing[*]}; run as root (or install them) and retry" >&2
    exit 1
fi
echo "apt-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
