# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load the diagnostic page in headless Chromium and print what the page shows, as JSON.

    python3 browse.py URL [SECONDS]

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on fd 3,
answers on fd 4, NUL-separated JSON), standard library only. Waits until the page marks itself done
(body data-state), at most SECONDS of wall-clock time (real time: a stalled download has to stall),
then prints the page's own record (window.netpathDiag), each row's text and the verdict's text.
Run it inside the client's network namespace (ip netns exec).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
EXTRACT = """JSON.stringify({
  state: document.body.dataset.state,
  diag: window.netpathDiag,
  rows: Array.from(document.querySelectorAll('#rows tr')).map(tr => ({id: tr.id, state: tr.className,
    text: tr.innerText})),
  verdict: document.getElementById('verdict').innerText,
  external: Array.from(document.querySelectorAll('[src],[href]')).map(e => e.src || e.href),
  resources: performance.getEntriesByType('resource').map(e => e.name)
})"""


class Pipe:
    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.buffer, self.next_id = write_fd, read_fd, b"", 0
        self.deadline = deadline

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                if not select.select([self.read_fd], [], [], max(0.0, self.deadline - time.monotonic()))[0]:
                    raise RuntimeError(f"{method}: no answer from chromium in time")
                chunk = os.read(self.read_fd, 65536)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})


def high_fd(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def browse(url: str, seconds: float) -> dict:
    profile = tempfile.mkdtemp(prefix="netpath-diag-chromium.")
    # Above fd 4 first, so that placing Chromium's ends at 3 and 4 overwrites none of them.
    to_chrome_r, to_chrome_w, from_chrome_r, from_chrome_w = (high_fd(fd) for pair in (os.pipe(), os.pipe())
                                                              for fd in pair)
    # Chromium reads fd 3 and writes fd 4.
    os.dup2(to_chrome_r, 3, inheritable=True)
    os.dup2(from_chrome_w, 4, inheritable=True)
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-sync", "--disable-component-update",
         "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
        pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for fd in (3, 4, to_chrome_r, from_chrome_w):
        os.close(fd)
    pipe = Pipe(to_chrome_w, from_chrome_r, time.monotonic() + seconds + 30)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        pipe.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + seconds
        page: dict = {}
        while time.monotonic() < deadline:
            result = pipe.call("Runtime.evaluate", {"expression": EXTRACT, "returnByValue": True}, session)
            value = result.get("result", {}).get("value")
            page = json.loads(value) if value else {}
            if page.get("state") == "done":
                break
            time.sleep(0.5)
        page["elapsed"] = round(seconds - (deadline - time.monotonic()), 1)
        return page
    finally:
        try:
            pipe.call("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    url = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    print(json.dumps(browse(url, seconds), indent=1))


if __name__ == "__main__":
    main()
