"""Fixtures for the supply-chain tests: the built binaries, minisign, and temporary copies of the package.

The dependency gate is exercised only on temporary copies (Package.swift, the lock, the allowlist, the generated
Swift file and a stub Sources tree), resolved against the same package mirror the real build uses; the real tree
is never touched. One copy is resolved per session and put back after each test, and `swift package dump-package`
results are cached by tree hash in a session folder (seeded from the real tree's cache, which CI's gate fills).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from supply_chain_support import GATEHOUSE_BIN, GENERATED, REPO_ROOT, SIGN_BIN, run


@pytest.fixture(scope="session")
def gatehouse() -> Path:
    assert GATEHOUSE_BIN.is_file(), f"{GATEHOUSE_BIN} is missing; run `swift build` first"
    return GATEHOUSE_BIN


@pytest.fixture(scope="session")
def signer() -> Path:
    assert SIGN_BIN.is_file(), f"{SIGN_BIN} is missing; run `swift build` first"
    return SIGN_BIN


@pytest.fixture(scope="session")
def minisign() -> str:
    path = shutil.which("minisign")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("minisign is not installed (.ci/run installs Debian's minisign package)")
        pytest.skip("minisign is not installed (apt-get install minisign)")
    return path


@pytest.fixture(scope="session")
def deps_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("deps-cache")
    seed = REPO_ROOT / ".build" / "gatehouse-deps-cache"
    if seed.is_dir():
        for entry in seed.glob("*.json"):
            shutil.copy2(entry, cache / entry.name)
    return cache


def _stub_sources(root: Path) -> None:
    """Creates one empty Swift file per target the manifest declares, so SwiftPM accepts the copy (a system
    library target gets its module map, which is all it has)."""
    manifest = json.loads(run(["swift", "package", "dump-package"], cwd=REPO_ROOT, check=True).stdout)
    for target in manifest["targets"]:
        relative = Path(target["path"]) if target.get("path") else (
            Path("Tests" if target["type"] == "test" else "Sources") / target["name"])
        folder = root / relative
        folder.mkdir(parents=True, exist_ok=True)
        if target["type"] == "system":
            for entry in (REPO_ROOT / relative).iterdir():
                shutil.copy2(entry, folder / entry.name)
        else:
            (folder / "Stub.swift").write_text("")


TOP_LEVEL = ("Package.swift", "dependencies.lock.json", "dependencies.allowlist.json", str(GENERATED))


@pytest.fixture(scope="session")
def resolved_template(tmp_path_factory, deps_cache) -> Path:
    """A resolved temporary copy of the package (manifest, lock, allowlist, generated file, stub sources)."""
    root = tmp_path_factory.mktemp("package") / "gatehouse"
    root.mkdir()
    for name in ("Package.swift", "dependencies.lock.json", "dependencies.allowlist.json"):
        shutil.copy2(REPO_ROOT / name, root / name)
    (root / "scripts").mkdir()
    for name in ("check-deps", "update-lock", "lib"):
        source = REPO_ROOT / "scripts" / name
        if source.is_dir():
            shutil.copytree(source, root / "scripts" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / "scripts" / name)
    _stub_sources(root)
    (root / GENERATED).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / GENERATED, root / GENERATED)
    run(["swift", "package", "resolve"], cwd=root, check=True)
    return root


@pytest.fixture()
def package_copy(resolved_template) -> Path:
    """The resolved temporary copy, for one test to mutate; put back as it was afterwards.

    Copying the resolved tree (~250 MB of checkouts) per test is slower on this disk than restoring it: the test's
    edits to the top-level files are undone, every checkout is reset to the commit it had, and the graph is
    resolved again if the manifest was changed.
    """
    root = resolved_template
    saved = {name: (root / name).read_bytes() for name in TOP_LEVEL}
    checkouts = {
        path: run(["git", "-C", path, "rev-parse", "HEAD"], check=True).stdout.strip()
        for path in sorted((root / ".build" / "checkouts").iterdir())
    }
    yield root
    manifest_changed = (root / "Package.swift").read_bytes() != saved["Package.swift"]
    for name, content in saved.items():
        (root / name).write_bytes(content)
    for path, head in checkouts.items():
        if not path.exists():  # dropped by a resolution during the test
            continue
        run(["git", "-C", path, "reset", "-q", "--hard", head], check=True)
        run(["git", "-C", path, "clean", "-qfdx"], check=True)
    if manifest_changed:
        run(["swift", "package", "resolve"], cwd=root, check=True)
