#!/usr/bin/env python
"""Check that execution-environment.yml makes a working EE build context, offline.

Builds the collection tarball, lays it out where execution-environment.yml expects it (build/ beside
the definition, as `ansible-galaxy collection build --output-path build/` does), runs
`ansible-builder create`, and then replays on this machine the two build steps that need no container:
the galaxy stage's collection install from the context's requirements.yml, and the builder stage's
dependency introspection with the arguments the Containerfile gives it. Building the image itself needs
podman or docker, which CI does not have.

Usage: tests/utils/ee_context.py [COLLECTION_DIR]   (default: the repository root; lint.sh passes its copy)
Needs ansible-builder, ansible-galaxy and ansible-runner from the venv (tests/requirements.txt) on PATH.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from ansible.release import __version__ as ansible_core_version
from packaging.specifiers import SpecifierSet
from packaging.version import Version

EE_FILE = "execution-environment.yml"
# What the collection itself ships for the managed hosts; none of it belongs in the EE.
MANAGED_HOST_FILES = ("requirements.txt", "bindep.txt")
# The playbooks the AWX job templates run (docs/awx.md).
JOB_PLAYBOOKS = ("playbooks/audit.yml", "playbooks/remediate.yml")
PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"ee_context: {'ok  ' if ok else 'FAIL'} {what}", file=sys.stderr)
    if not ok:
        failures.append(what)


def run(argv: list[str], cwd: Path | None = None) -> str:
    print(f"ee_context: ({cwd or '.'}) {shlex.join(argv)}", file=sys.stderr)
    # As in the image build: no collection path of the caller (lint.sh sets one, and ansible-galaxy
    # would then find netpath.mtu "already installed" and install nothing).
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_COLLECTIONS_PATH"}
    done = subprocess.run(argv, cwd=cwd, check=False, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"ee_context: FAILED (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def package_names(path: Path) -> set[str]:
    """Package names in a requirements.txt or bindep.txt ('pyroute2>=0.7', 'iproute2 [platform:rpm]')."""
    names = (PACKAGE_NAME.match(line.split("#")[0].strip()) for line in path.read_text().splitlines())
    return {name.group(0).lower() for name in names if name}


def check_pins(definition: dict, collection: Path) -> None:
    deps = definition["dependencies"]
    core = SpecifierSet(deps["ansible_core"]["package_pip"].removeprefix("ansible-core"))
    runner = SpecifierSet(deps["ansible_runner"]["package_pip"].removeprefix("ansible-runner"))
    runtime = yaml.safe_load((collection / "meta/runtime.yml").read_text())
    oldest = Version(runtime["requires_ansible"].removeprefix(">="))
    older = Version(f"{oldest.major}.{oldest.minor - 1}")
    check(oldest in core and older not in core,
          f"ansible-core pin {core} starts at meta/runtime.yml's {runtime['requires_ansible']}")
    check(ansible_core_version in core, f"ansible-core pin {core} admits the tested {ansible_core_version}")
    tested_runner = importlib.metadata.version("ansible-runner")
    check(tested_runner in runner, f"ansible-runner pin {runner} admits the tested {tested_runner}")


def check_containerfile(containerfile: Path, definition: dict) -> list[str]:
    """Check the instructions; return the introspect arguments of the builder stage."""
    text = containerfile.read_text()
    lines = text.splitlines()
    base = definition["images"]["base_image"]["name"]
    check(f'ARG EE_BASE_IMAGE="{base}"' in lines, f"Containerfile builds on {base}")
    refs = [line for line in lines if line.startswith("ARG ANSIBLE_INSTALL_REFS=")]
    check(len(refs) == 1 and all(deps["package_pip"] in refs[0] for deps in
                                 (definition["dependencies"]["ansible_core"], definition["dependencies"]["ansible_runner"])),
          "Containerfile installs the pinned ansible-core and ansible-runner")
    galaxy = text.split("AS galaxy", 1)[-1].split("AS builder", 1)[0]
    check("WORKDIR /build" in galaxy and "ansible-galaxy collection install" in galaxy
          and "-r requirements.yml" in galaxy,
          "the galaxy stage installs the collections of requirements.yml from /build")
    introspect = [line for line in lines if "/output/scripts/introspect.py introspect" in line]
    check(len(introspect) == 1, "the builder stage introspects the installed collections' dependencies")
    # RUN $PYCMD /output/scripts/introspect.py introspect ARGS...: keep the subcommand and its arguments.
    return shlex.split(introspect[0])[3:] if introspect else []


def check_galaxy_stage(build: Path, installed: Path, version: str) -> None:
    """Install requirements.yml the way the galaxy stage does (cwd = the context's _build)."""
    run(["ansible-galaxy", "collection", "install", "-r", "requirements.yml", "-p", str(installed)], cwd=build)
    root = installed / "ansible_collections/netpath/mtu"
    manifest = json.loads((root / "MANIFEST.json").read_text())["collection_info"]
    check((manifest["namespace"], manifest["name"], manifest["version"]) == ("netpath", "mtu", version),
          f"the galaxy stage installs netpath.mtu {version}")
    check(all((root / playbook).is_file() for playbook in JOB_PLAYBOOKS),
          f"the installed collection has the job templates' playbooks {', '.join(JOB_PLAYBOOKS)}")


def check_builder_stage(build: Path, installed: Path, args: list[str], collection: Path, work: Path) -> None:
    """Run the builder stage's introspection on the installed collection, as the Containerfile does."""
    args = [arg for arg in args if not arg.startswith(("--write-bindep=", "--write-pip="))]
    out = {"bindep": work / "bindep.out", "pip": work / "requirements.out"}
    run([sys.executable, "scripts/introspect.py", *args,
         f"--write-bindep={out['bindep']}", f"--write-pip={out['pip']}", str(installed)], cwd=build)
    found = set().union(*(package_names(path) for path in out.values() if path.exists()))
    host_only = set().union(*(package_names(collection / name) for name in MANAGED_HOST_FILES))
    check(not found & host_only, f"no managed-host dependency in the image (found {sorted(found & host_only)})")
    check("openssh-clients" in found, "the image gets openssh-clients for the SSH connection")


def create_context(collection: Path, work: Path, version: str) -> Path:
    """Lay out the definition and the built tarball as a user does, run ansible-builder create."""
    shutil.copy(collection / EE_FILE, work / EE_FILE)
    run(["ansible-galaxy", "collection", "build", "--output-path", str(work / "build"), str(collection)])
    run(["ansible-builder", "create", "--file", str(work / EE_FILE), "--context", str(work / "context"),
         "--output-filename", "Containerfile"])
    context = work / "context"
    check((context / "Containerfile").is_file(), "ansible-builder create writes context/Containerfile")
    # ansible-builder only warns when additional_build_files matches nothing.
    tarball = work / "build" / f"netpath-mtu-{version}.tar.gz"
    copied = context / "_build" / "collections" / tarball.name
    check(copied.is_file() and copied.read_bytes() == tarball.read_bytes(),
          f"the context holds the built {tarball.name} (execution-environment.yml names galaxy.yml's version)")
    return context


def main() -> int:
    collection = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]).resolve()
    version = yaml.safe_load((collection / "galaxy.yml").read_text())["version"]
    definition = yaml.safe_load((collection / EE_FILE).read_text())
    check_pins(definition, collection)
    with tempfile.TemporaryDirectory(prefix="netpath-mtu-ee.") as tmp:
        work = Path(tmp)
        failed_before = len(failures)
        context = create_context(collection, work, version)
        # The replays need the Containerfile and the tarball.
        if len(failures) == failed_before:
            introspect_args = check_containerfile(context / "Containerfile", definition)
            installed = work / "installed"
            check_galaxy_stage(context / "_build", installed, version)
            check_builder_stage(context / "_build", installed, introspect_args, collection, work)
    if failures:
        print(f"ee_context: FAILED: {len(failures)} check(s)", file=sys.stderr)
        return 1
    print("ee_context: the execution environment's build context is complete", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
