# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The sentence a black-hole finding says about where large packets die: only what the probes showed."""

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.audit import findings


def path(hop: dict | None, ptb_seen: bool = False) -> dict:
    return {"hop": hop, "interface": "eth0", "ptb_seen": ptb_seen, "ptb_source": None, "ptb_source_host": None,
            "ptb_mtu": None}


@pytest.mark.parametrize("hop, expected", [
    ({"ttl": 0, "address": None, "located": True, "method": "ttl"},
     "large packets die before the first hop, on eth0 (its link, or a tunnel's underlay)"),
    # ttl 0 without located is an old engine's "nothing answered": never the first hop
    ({"ttl": 0, "address": None, "located": False, "method": "ttl"}, "the hop was not located"),
    ({"ttl": None, "address": None, "located": False, "method": "ttl", "silent_ttls": [1, 2]},
     "the hop was not located"),
    ({"ttl": 2, "address": "198.18.4.2", "located": True, "method": "ttl"}, "large packets die after 198.18.4.2, hop 2"),
    ({"ttl": 1, "address": "198.18.0.1", "located": False, "method": "ttl"},
     "large packets die after 198.18.0.1, hop 1 (not pinned down: they die somewhere after it)"),
    ({"ttl": None, "address": None, "located": False, "method": "fragments"},
     "the requests arrive; the replies' non-first fragments are lost on the way back"),
    (None, "the hop was not located"),
])
def test_hop_text(hop, expected):
    assert findings._hop_text(path(hop)) == expected  # pylint: disable=protected-access
