#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: report_files
short_description: Write rendered report files on the controller in one task
version_added: 0.1.0
description:
  - Writes each entry of O(files) into the directory O(dest) on the B(controller), creating the directory, each
    file atomically (a temporary file in the same directory, then a rename). Files whose content and mode are
    already those are left alone.
  - An action that runs in the controller's own process - no module run, no connection - so writing the three
    files of an audit report costs milliseconds, not a task per file. The roles P(netpath.mtu.audit#role) and
    P(netpath.mtu.remediate#role) write their reports with it.
author:
  - netpath.mtu contributors (@netpath)
extends_documentation_fragment:
  - netpath.mtu.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written in check mode; RV(written) says what would be. A report is output, so the roles run it
        with C(check_mode=false).
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    description: Runs on the controller as an action plugin, not as a module on the target.
    support: full
  platform:
    support: full
    platforms: posix
    details:
      - The files are written on the controller, whatever the host of the task.
options:
  dest:
    description: The directory on the controller.
    type: path
    required: true
  files:
    description: File name (no directories) to its content.
    type: dict
    required: true
  mode:
    description: Permissions of the files, an octal string.
    type: raw
    default: "0644"
"""

EXAMPLES = r"""
- name: Write the report
  netpath.mtu.report_files:
    dest: ./mtu-report
    files:
      report.json: "{{ netpath_mtu_audit_result | netpath.mtu.audit_report('json') }}"
      report.md: "{{ netpath_mtu_audit_result | netpath.mtu.audit_report('markdown') }}"
  run_once: true
"""

RETURN = r"""
dest:
  description: The directory, as an absolute path.
  returned: always
  type: str
  sample: /home/ops/mtu-report
files:
  description: Every file of O(files), as absolute paths.
  returned: always
  type: list
  elements: str
  sample: [/home/ops/mtu-report/report.json, /home/ops/mtu-report/report.md]
written:
  description: The files whose content or mode changed (written, or in check mode to be written).
  returned: always
  type: list
  elements: str
  sample: [/home/ops/mtu-report/report.json]
"""
