"""The bad-input case table (tests/reliability/cases.py): every argument of every module gets cases."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reliability"))

import cases  # noqa: E402  pylint: disable=wrong-import-position
import summary  # noqa: E402  pylint: disable=wrong-import-position

SPECS = {name: cases.argument_spec(name) for name in cases.MODULES}
TABLE = cases.all_cases(cases.FIXTURES)


@pytest.mark.parametrize("module", cases.MODULES)
def test_every_argument_of_every_spec_gets_cases(module):
    tried = {c["param"] for c in TABLE if c["module"] == module}
    assert set(SPECS[module]) <= tried


@pytest.mark.parametrize("module", cases.MODULES)
def test_spec_found_whether_constant_or_inline(module):
    # A module that builds its spec inside main(): the stand-in AnsibleModule captures it.
    assert SPECS[module] and all(isinstance(entry, dict) for entry in SPECS[module].values())


def test_every_number_has_out_of_range_values():
    numbers = {(m, p) for m, spec in SPECS.items() for p, e in spec.items() if e.get("type") in ("int", "float")}
    assert numbers == set(cases.RANGES)


def test_mtu_edges_are_tried():
    values = {c["args"]["mtu"] for c in TABLE if c["id"].startswith("link_mtu/mtu/range")}
    assert {0, 67, 65536, -1} <= values


def test_issue_sample_is_a_case():
    sample = next(c for c in TABLE if c["id"] == "icmp_policy/nftables_config/issue16_sample_dir_etc")
    assert sample["args"] == {"state": "present", "nftables_config": "/etc"}


def test_hundreds_of_cases_unique_ids_and_hosts():
    assert len(TABLE) >= 500
    assert len({c["id"] for c in TABLE}) == len(TABLE)
    assert {c["host"] for c in TABLE} <= {"nft", "ipt", "bad", "peer", "root"}


def test_lab_fleet_only_in_check_mode():
    assert all(c["args"].get("_ansible_check_mode") for c in TABLE if c["module"] == "lab_fleet")


def test_one_parameter_changed_from_a_valid_base():
    case = next(c for c in TABLE if c["id"] == "ptb_check/clients/range0")
    assert case["args"] == dict(cases.RESPONDER, clients=0)


def test_duplicate_ids_are_refused(monkeypatch):
    again = cases.case("mtu_facts", "gather_subset", "type0", "bad", {})  # a generated case's id
    monkeypatch.setattr(cases, "hand_written", lambda fixtures: [again])
    with pytest.raises(ValueError, match="duplicate"):
        cases.all_cases(cases.FIXTURES, ("mtu_facts",))


OUTCOME = {"rc": 1, "stdout": "", "stderr": "", "seconds": 0.1, "timed_out": False, "state_changes": []}
CASE = {"id": "m/mtu/x", "module": "m", "host": "peer", "args": {"mtu": "x" * 50}, "param": "mtu", "names": ["mtu"]}


def judged(**change):
    return summary.problems(CASE, dict(OUTCOME, **change))


def test_clean_rejection_has_no_problems():
    assert not judged(result={"failed": True, "msg": "mtu 0 must be between 68 and 65535"})


@pytest.mark.parametrize("change, expected", [
    ({"result": {"changed": False}, "rc": 0}, "accepted"),
    ({"result": {"failed": True, "msg": "bad value"}}, "does not name mtu"),
    ({"result": {"failed": True, "msg": "mtu\nbad"}}, "not one sentence"),
    ({"result": None, "stderr": "Traceback (most recent call last):\nValueError: x"}, "traceback"),
    ({"result": {"failed": True, "msg": "mtu bad"}, "state_changes": ["nft changed"]}, "changed=false"),
    ({"result": None, "timed_out": True}, "did not finish"),
])
def test_defects_are_named(change, expected):
    assert any(expected in p for p in judged(**change))


def test_quoted_value_does_not_count_against_the_message():
    assert not judged(result={"failed": True, "msg": f"value of mtu must be an integer, got {'x' * 50}"})
