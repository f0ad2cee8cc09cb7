"""The dependency review gate (scripts/check-deps) fails on every kind of unreviewed change.

Each test mutates a private, resolved copy of the package (never the real tree) and checks that the gate fails
with a message naming the package and what changed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from supply_chain_support import GENERATED, check_deps, run, update_lock


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def add_dependency(root: Path, line: str) -> None:
    edit(root / "Package.swift", "    dependencies: [\n", f"    dependencies: [\n        {line},\n")


def failure_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 1, f"gate should fail:\n{proc.stdout}\n{proc.stderr}"
    return [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("- ")]


def test_passes_on_an_unmodified_copy(package_copy, deps_cache):
    proc = check_deps(package_copy, deps_cache)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"OK: \d+ packages \(\d+ direct, \d+ transitive\)", proc.stdout)


def test_fails_when_a_package_is_re_versioned(package_copy, deps_cache):
    edit(package_copy / "Package.swift", 'swift-nio.git", exact: "2.101.3"', 'swift-nio.git", exact: "2.101.2"')
    lines = failure_lines(check_deps(package_copy, deps_cache))
    assert "- swift-nio: re-versioned: 2.101.3 in the lock, 2.101.2 resolved" in lines
    assert any(line.startswith("- swift-nio: tree hash differs") for line in lines)


def test_fails_when_a_package_is_added_then_passes_once_locked_then_fails_when_removed(package_copy, deps_cache):
    manifest = (package_copy / "Package.swift").read_text()
    add_dependency(package_copy, '.package(url: "https://github.com/mxcl/Version.git", exact: "2.2.1")')
    lines = failure_lines(check_deps(package_copy, deps_cache))
    assert any(line.startswith("- version: added: https://github.com/mxcl/Version.git 2.2.1") for line in lines)

    # Reviewed on purpose: update-lock records it (and regenerates the SBOM source), and the gate passes.
    assert update_lock(package_copy, deps_cache).returncode == 0
    locked = json.loads((package_copy / "dependencies.lock.json").read_text())
    entry = next(p for p in locked["packages"] if p["identity"] == "version")
    assert entry["version"] == "2.2.1" and re.fullmatch(r"[0-9a-f]{40}", entry["tree"])
    assert 'purl: "pkg:swift/github.com/mxcl/Version@2.2.1"' in (package_copy / GENERATED).read_text()
    assert check_deps(package_copy, deps_cache).returncode == 0

    (package_copy / "Package.swift").write_text(manifest)
    lines = failure_lines(check_deps(package_copy, deps_cache))
    assert "- version: removed: https://github.com/mxcl/Version.git 2.2.1 is in dependencies.lock.json but no longer resolved" in lines


def test_fails_when_a_tree_hash_differs(package_copy, deps_cache):
    # Same version, different source: what a moved tag or a tampered mirror looks like.
    checkout = package_copy / ".build" / "checkouts" / "swift-log"
    (checkout / "README.md").write_text("tampered\n")
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert any(line.startswith("- swift-log: checkout differs from its commit (README.md)") for line in lines)

    git = ["git", "-C", checkout, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    run([*git, "commit", "-qam", "tamper"], check=True)
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert any(
        re.match(r"- swift-log: tree hash differs: [0-9a-f]{40} in the lock, [0-9a-f]{40} checked out \(version 1\.16\.2\)", line)
        for line in lines
    ), lines


def test_fails_on_a_plugin_that_is_not_allowlisted(package_copy, deps_cache):
    allowlist = package_copy / "dependencies.allowlist.json"
    allowlist.write_text(json.dumps({"buildTimeCode": []}))
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert (
        "- swift-argument-parser: declares command-plugin target 'GenerateManual' (code that runs at build time or "
        "arrives prebuilt) and is not in dependencies.allowlist.json"
    ) in lines

    # An allowlist entry needs a reason.
    allowlist.write_text(
        json.dumps({"buildTimeCode": [{"package": "swift-argument-parser", "targets": ["GenerateManual", "GenerateDoccReference"], "reason": " "}]})
    )
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert "- swift-argument-parser: dependencies.allowlist.json entry has no reason" in lines


def make_git_package(folder: Path, manifest: str) -> str:
    """A local git repository tagged 1.0.0, reachable by a file:// URL like a remote package."""
    folder.mkdir(parents=True)
    (folder / "Package.swift").write_text(manifest)
    for target in ("Lib", "Macros", "Gen"):
        (folder / "Sources" / target).mkdir(parents=True)
        (folder / "Sources" / target / "Stub.swift").write_text("")
    (folder / "Plugins" / "Gen").mkdir(parents=True)
    (folder / "Plugins" / "Gen" / "Plugin.swift").write_text("")
    git = ["git", "-C", folder, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    run(["git", "init", "-q", folder], check=True)
    run([*git, "add", "."], check=True)
    run([*git, "commit", "-qm", "v1"], check=True)
    run([*git, "tag", "1.0.0"], check=True)
    return f"file://{folder}"


def test_fails_on_a_new_package_with_a_macro_and_a_build_tool_plugin(package_copy, deps_cache, tmp_path):
    url = make_git_package(
        tmp_path / "sneaky",
        """// swift-tools-version:5.9
import PackageDescription
import CompilerPluginSupport

let package = Package(
    name: "sneaky",
    products: [.library(name: "Lib", targets: ["Lib"])],
    targets: [
        .target(name: "Lib", plugins: ["Gen"]),
        .macro(name: "Macros", path: "Sources/Macros"),
        .plugin(name: "Gen", capability: .buildTool()),
    ]
)
""",
    )
    add_dependency(package_copy, f'.package(url: "{url}", exact: "1.0.0")')
    lines = failure_lines(check_deps(package_copy, deps_cache))
    assert any(line.startswith("- sneaky: added: ") and " 1.0.0 (tree " in line for line in lines), lines
    assert any(line.startswith("- sneaky: declares macro target 'Macros'") for line in lines), lines
    assert any(line.startswith("- sneaky: declares build-tool-plugin target 'Gen'") for line in lines), lines


def test_fails_when_the_generated_sbom_source_drifts_from_the_lock(package_copy, deps_cache):
    edit(package_copy / GENERATED, 'version: "1.16.2"', 'version: "1.16.3"')
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert any(line.startswith(f"- {GENERATED}: does not match dependencies.lock.json") for line in lines)


def test_fails_on_a_pin_that_is_not_exact(package_copy, deps_cache):
    edit(package_copy / "Package.swift", 'swift-log.git", exact: "1.16.2"', 'swift-log.git", from: "1.16.2"')
    lines = failure_lines(check_deps(package_copy, deps_cache, "--no-resolve"))
    assert any(line.startswith("- swift-log: is not pinned with exact: in Package.swift") for line in lines), lines
