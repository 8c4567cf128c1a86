# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host addresses: which host an address names."""

from __future__ import annotations

from ansible_collections.netpath.mtu.plugins.module_utils.links import addresses
from ansible_collections.netpath.mtu.tests.unit.plugins.module_utils.audit.test_probe_plan import SEED_FACTS


def test_address_claimed_by_two_hosts_names_no_one():
    index = addresses.address_index(SEED_FACTS, {"twin": ["198.18.0.1"], "dns": ["Web.Example"]})
    assert "198.18.0.1" not in index
    assert index["198.18.0.2"] == "gw-a"
    assert index["web.example"] == "dns"
