# netpath.mtu: `make demo` and `make test` work on a fresh Debian machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV ?= $(ROOT)/.venv
BUILD := $(ROOT)/build
COLLECTION := $(BUILD)/ansible_collections/netpath/mtu
PYTHON_VERSION = $(shell $(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
LAB_NAME ?= seed
LAB_INVENTORY := /var/lib/netpath-mtu-lab/$(LAB_NAME)/inventory.yml

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)
export ANSIBLE_HOST_KEY_CHECKING := False
export ANSIBLE_NOCOLOR := $(if $(CI),1,)
export VENV

.PHONY: help deps tree demo demo-down test static sanity units integration lint bench clean

help:
	@echo "make demo       build the seeds' outage as a lab fleet, audit it, fix it, prove the fix"
	@echo "make demo-down  remove the demo lab"
	@echo "make test       sanity, unit, integration and lint checks"
	@echo "make bench      benchmarks (bench/)"

deps: $(VENV)/.deps-stamp

$(VENV)/.deps-stamp: tests/requirements.txt tests/utils/apt-deps.sh
	tests/utils/apt-deps.sh
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# ansible-test and ansible-playbook use a copy of the tree under build/ansible_collections/netpath/mtu.
tree: deps
	tests/utils/collection-tree.sh >/dev/null

# The lab's hosts are probed on their underlay addresses (ansible_host is the management network).
DEMO_AUDIT_VARS := -e '{"netpath_mtu_audit_address_vars": ["netpath_mtu_lab_address4", "netpath_mtu_lab_address6"]}'

# The seeds' story end to end: a fresh lab, the symptoms, the audit (check mode), the remediation
# (fails unless the re-audit is clean and every tunnel transfer completes), the symptoms again, and a
# final audit that fails on any finding.
REPORTS := $(ROOT)/mtu-report
demo: tree demo-down
	ansible-playbook netpath.mtu.lab -e netpath_mtu_lab_name=$(LAB_NAME)
	ansible-playbook -i $(LAB_INVENTORY) demo/symptoms.yml
	ansible-playbook -i $(LAB_INVENTORY) netpath.mtu.audit --check $(DEMO_AUDIT_VARS) -e netpath_mtu_audit_report_dir=$(REPORTS)/audit
	@sed -n '1,40p' $(REPORTS)/audit/report.md
	ansible-playbook -i $(LAB_INVENTORY) netpath.mtu.remediate --diff $(DEMO_AUDIT_VARS) \
		-e netpath_mtu_remediate_report_dir=$(REPORTS)/remediation -e netpath_mtu_remediate_fail_on_remaining=true
	@cat $(REPORTS)/remediation/remediation.md
	ansible-playbook -i $(LAB_INVENTORY) demo/symptoms.yml
	ansible-playbook -i $(LAB_INVENTORY) netpath.mtu.audit --check $(DEMO_AUDIT_VARS) -e netpath_mtu_audit_report_dir=$(REPORTS)/reaudit \
		-e netpath_mtu_audit_fail_on_findings=true -e netpath_mtu_audit_fail_severity=info
	@echo "Audit before:  $(REPORTS)/audit/report.{md,html,json}"
	@echo "Remediation:   $(REPORTS)/remediation/remediation.{md,json} (audits before/ and after/ the changes)"
	@echo "Audit after:   $(REPORTS)/reaudit/report.{md,html,json} (no findings)"
	@echo "Lab inventory: $(LAB_INVENTORY)   (remove the lab with: make demo-down)"

demo-down: tree
	ansible-playbook netpath.mtu.lab -e netpath_mtu_lab_name=$(LAB_NAME) -e netpath_mtu_lab_state=absent

# The integration targets spend most of their time waiting on probe, PTB and transfer timeouts, so the
# static checks and unit tests run beside them (two lanes); each lane runs to its end.
test: tree
	$(MAKE) --no-print-directory -j2 static integration

# sanity.sh and lint.sh copy the tree afresh: into a copy of their own, not the one the integration
# lane runs from.
static:
	COLLECTION_TREE_DEST=$(BUILD)/static/ansible_collections/netpath/mtu $(MAKE) --no-print-directory sanity units lint

sanity:
	tests/utils/sanity.sh

units:
	cd $(COLLECTION) && PYTHONPATH=$(BUILD) $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit

# Three ansible-test processes side by side (tests/utils/integration.sh); INTEGRATION_JOBS=1 for one.
integration:
	cd $(COLLECTION) && tests/utils/integration.sh --python $(PYTHON_VERSION) --allow-destructive --color no

lint:
	tests/utils/lint.sh

# Every benchmark runs even when an earlier one misses a target; the exit status says whether all were met.
bench: tree
	cd $(COLLECTION) && rc=0; \
	PYTHONPATH=$(BUILD) $(VENV)/bin/python bench/pmtu_bench.py --repo $(ROOT) --json $(ROOT)/bench/results/pmtu.json || rc=1; \
	$(VENV)/bin/python bench/audit_mesh_bench.py --json $(ROOT)/bench/results/audit_mesh.json || rc=1; \
	$(VENV)/bin/python bench/audit_floor_bench.py --json $(ROOT)/bench/results/audit_floor.json || rc=1; \
	exit $$rc

clean:
	rm -rf $(BUILD)
