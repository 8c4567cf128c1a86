"""Reads the audit's metrics back through a real Prometheus and compares them with report.json.

Runs inside the lab namespace where Prometheus listens on 127.0.0.1 (ip netns exec NS python3 ...).
Usage: check_metrics.py REPORT_JSON PROMETHEUS_URL HOST [--timeout S]
Prometheus scrapes three jobs (prometheus.yml): "fleet" (node_exporter on the controller-written file),
"host" (node_exporter on HOST's own file) and "push" (the Pushgateway, honor_labels).
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request


def query(base: str, expr: str) -> list:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = json.load(reply)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def wait_for(base: str, expr: str, timeout: float) -> list:
    """The series of expr once Prometheus has scraped them (it scrapes every second)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = query(base, expr)
        except OSError:
            result = []
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def values(result: list, *labels: str) -> dict:
    return {tuple(series["metric"].get(label, "") for label in labels): float(series["value"][1]) for series in result}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("prometheus")
    parser.add_argument("host")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as handle:
        report = json.load(handle)
    base = args.prometheus.rstrip("/")
    failures = []

    def expect(what: str, got, want) -> None:
        print(f"{'ok  ' if got == want else 'FAIL'} {what}: {got!r}" + ("" if got == want else f" (want {want!r})"))
        if got != want:
            failures.append(what)

    for job in ("fleet", "push"):
        wait_for(base, f'netpath_mtu_audit_findings{{job="{job}"}}', args.timeout)
    wait_for(base, 'netpath_mtu_host_findings{job="host"}', args.timeout)

    # Fleet file: every path's MTU and black-hole state as the report has them.
    mtus = values(query(base, 'netpath_mtu_path_mtu_bytes{job="fleet"}'), "source", "target", "family")
    want = {(p["source"], p["target"], p["family"]): float(p["path_mtu"]) for p in report["paths"]
            if isinstance(p["path_mtu"], int)}
    expect("path MTUs (fleet file)", mtus, want)
    holes = values(query(base, 'netpath_mtu_path_black_hole{job="fleet"} == 1'), "source", "target", "family")
    expect("black holes (fleet file)", sorted(holes),
           sorted((p["source"], p["target"], p["family"]) for p in report["paths"] if p["status"] == "black_hole"))
    severities = values(query(base, 'netpath_mtu_audit_findings{job="fleet"}'), "severity")
    expect("findings by severity (fleet file)", severities,
           {(s,): float(n) for s, n in report["summary"]["findings_by_severity"].items()})
    too_large = values(query(base, 'netpath_mtu_tunnel_too_large{job="fleet"} == 1'), "host", "tunnel")
    expect("tunnels too large (fleet file)", sorted(too_large),
           sorted((t["host"], t["name"]) for t in report["tunnels"] if t["status"] == "too_large"))
    duration = values(query(base, 'netpath_mtu_audit_duration_seconds{job="fleet"}'))
    expect("audit duration written", len(duration) == 1 and list(duration.values())[0] > 0, True)

    # The host's own file: its findings only, and no fleet-wide families.
    own = values(query(base, 'netpath_mtu_host_findings{job="host"}'), "host", "type")
    expect("hosts in the host file", sorted({h for h, dummy in own}), [args.host])
    expect("findings fixed on the host", sum(own.values()),
           float(sum(1 for f in report["findings"] if (f["fix"]["host"] or f["host"]) == args.host)))
    expect("no fleet families in the host file", query(base, 'netpath_mtu_audit_findings{job="host"}'), [])

    # Pushgateway: the same numbers as the fleet file.
    pushed = values(query(base, 'netpath_mtu_audit_findings{job="push"}'), "severity")
    expect("findings by severity (pushed)", pushed, severities)
    print(json.dumps({"duration_seconds": list(duration.values())[0] if duration else None}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
