"""Dependency lock, review gate and generated Swift sources for Gatehouse (Python 3 stdlib only).

Used by ``scripts/update-lock`` (writes the lock on purpose) and ``scripts/check-deps`` (the CI
gate). The lock lists every package in the resolved graph with the git *tree* hash of the source
SwiftPM checked out: a content address that does not depend on where the repository was cloned
from (a mirror's commit ids differ from GitHub's; its trees do not).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = "dependencies.lock.json"
ALLOWLIST_FILE = "dependencies.allowlist.json"
GENERATED_LOCK_SWIFT = Path("Sources/gatehouse/Generated/DependencyLock.swift")
LOCK_VERSION = 1
LOCK_COMMENT = (
    "Written by scripts/update-lock, checked by scripts/check-deps (run by .ci/run). "
    "Regenerate on purpose after reviewing a dependency change; never edit by hand."
)

# Target kinds whose code runs at build time (or arrives prebuilt, outside the tree hash).
BUILD_TIME_KINDS = ("build-tool-plugin", "command-plugin", "macro", "binary")


class GateError(Exception):
    """A failure of a tool the gate runs (SwiftPM, git), as opposed to a finding."""


@dataclass(frozen=True)
class Finding:
    """One reason the gate fails, naming the package and what changed."""

    package: str
    message: str

    def __str__(self) -> str:
        return f"{self.package}: {self.message}"


def run(args: list[str], cwd: Path | None = None) -> str:
    """Runs a command and returns its stdout; raises GateError with its stderr on failure."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise GateError(f"`{' '.join(args)}` failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
    return proc.stdout


def resolve(package_path: Path) -> None:
    """Resolves the package graph with SwiftPM (exact pins; no Package.resolved is committed)."""
    run(["swift", "package", "--package-path", str(package_path), "resolve"])


def root_manifest(package_path: Path) -> dict[str, Any]:
    return json.loads(run(["swift", "package", "--package-path", str(package_path), "dump-package"]))


def non_exact_pins(manifest: dict[str, Any]) -> list[Finding]:
    """Direct dependencies of the root manifest that are not pinned with `exact:`."""
    findings = []
    for dep in manifest.get("dependencies", []):
        for kind, entries in dep.items():
            for entry in entries:
                identity = entry.get("identity", "?")
                if kind != "sourceControl":
                    findings.append(Finding(identity, f"is a {kind} dependency; only exact remote pins are allowed"))
                    continue
                requirement = entry.get("requirement", {})
                if set(requirement) != {"exact"}:
                    findings.append(
                        Finding(identity, f"is not pinned with exact: in Package.swift (requirement {requirement})")
                    )
    return findings


def resolved_graph(package_path: Path) -> list[dict[str, Any]]:
    """Every package in the resolved graph: identity, name, url, version, path, direct, dependencies."""
    tree = json.loads(
        run(["swift", "package", "--package-path", str(package_path), "show-dependencies", "--format", "json"])
    )
    packages: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], is_direct: bool) -> None:
        for child in node.get("dependencies", []):
            entry = packages.setdefault(
                child["identity"],
                {
                    "identity": child["identity"],
                    "name": child["name"],
                    "url": child["url"],
                    "version": child["version"],
                    "path": child["path"],
                    "direct": False,
                    "dependencies": sorted({d["identity"] for d in child.get("dependencies", [])}),
                },
            )
            entry["direct"] = entry["direct"] or is_direct
            walk(child, False)

    walk(tree, True)
    return [packages[k] for k in sorted(packages)]


def git_tree(checkout: Path) -> str:
    """The git tree hash of the checked-out commit: a content address of the package's source."""
    return run(["git", "-C", str(checkout), "rev-parse", "HEAD^{tree}"]).strip()


def git_dirty(checkout: Path) -> list[str]:
    """Files in the checkout that differ from its commit (modified, untracked or ignored)."""
    out = run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=all", "--ignored"])
    return [line for line in out.splitlines() if line.strip()]


def build_time_targets(checkout: Path, tree: str, cache_dir: Path) -> list[dict[str, str]]:
    """Targets of the package whose code runs at build time: plugins and macros (and binary targets).

    Read from the package's own manifest with `swift package dump-package`; cached by tree hash,
    which addresses the manifest's content too.
    """
    cache_file = cache_dir / f"{tree}.json"
    if cache_file.is_file():
        try:
            return json.loads(cache_file.read_text())
        except (OSError, ValueError):
            pass
    scratch = cache_dir / "scratch" / tree
    manifest = json.loads(
        run(
            [
                "swift", "package",
                "--package-path", str(checkout), "--scratch-path", str(scratch), "dump-package",
            ]
        )
    )
    found = []
    for target in manifest.get("targets", []):
        kind = target.get("type")
        if kind == "plugin":
            capability = target.get("pluginCapability") or {}
            if "buildTool" in capability:
                found.append({"target": target["name"], "kind": "build-tool-plugin"})
            else:
                found.append({"target": target["name"], "kind": "command-plugin"})
        elif kind in ("macro", "binary"):
            found.append({"target": target["name"], "kind": kind})
    found.sort(key=lambda t: (t["target"], t["kind"]))
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(found))
    return found


def default_cache_dir(package_path: Path) -> Path:
    override = os.environ.get("GATEHOUSE_DEPS_CACHE")
    return Path(override) if override else package_path / ".build" / "gatehouse-deps-cache"


def current_lock(package_path: Path, findings: list[Finding] | None = None) -> dict[str, Any]:
    """Builds the lock document for the graph as resolved now in `package_path`.

    A checkout whose working tree differs from its commit is reported in `findings` (its tree hash
    would not describe what gets compiled).
    """
    graph = resolved_graph(package_path)
    cache_dir = default_cache_dir(package_path)

    def describe(pkg: dict[str, Any]) -> dict[str, Any]:
        checkout = Path(pkg["path"])
        tree = git_tree(checkout)
        dirty = git_dirty(checkout)
        if dirty and findings is not None:
            shown = ", ".join(line[3:] for line in dirty[:5]) + (" …" if len(dirty) > 5 else "")
            findings.append(Finding(pkg["identity"], f"checkout differs from its commit ({shown})"))
        return {
            "identity": pkg["identity"],
            "name": pkg["name"],
            "url": pkg["url"],
            "version": pkg["version"],
            "tree": tree,
            "direct": pkg["direct"],
            "dependencies": pkg["dependencies"],
            "buildTimeTargets": build_time_targets(checkout, tree, cache_dir),
        }

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        packages = list(pool.map(describe, graph))
    return {"comment": LOCK_COMMENT, "lockVersion": LOCK_VERSION, "packages": packages}


def dump_lock(lock: dict[str, Any]) -> str:
    return json.dumps(lock, indent=2, sort_keys=False) + "\n"


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise GateError(f"{path}: {what} is missing") from error
    except ValueError as error:
        raise GateError(f"{path}: {what} is not valid JSON: {error}") from error


def compare(locked: dict[str, Any], current: dict[str, Any]) -> list[Finding]:
    """Findings for every package added, removed, re-versioned, re-homed or changed in content."""
    findings = []
    old = {p["identity"]: p for p in locked.get("packages", [])}
    new = {p["identity"]: p for p in current.get("packages", [])}
    for identity in sorted(new.keys() - old.keys()):
        p = new[identity]
        findings.append(
            Finding(identity, f"added: {p['url']} {p['version']} (tree {p['tree']}) is not in {LOCK_FILE}")
        )
    for identity in sorted(old.keys() - new.keys()):
        p = old[identity]
        findings.append(Finding(identity, f"removed: {p['url']} {p['version']} is in {LOCK_FILE} but no longer resolved"))
    for identity in sorted(old.keys() & new.keys()):
        a, b = old[identity], new[identity]
        if a.get("version") != b.get("version"):
            findings.append(Finding(identity, f"re-versioned: {a.get('version')} in the lock, {b['version']} resolved"))
        if a.get("url") != b.get("url"):
            findings.append(Finding(identity, f"URL changed: {a.get('url')} in the lock, {b['url']} resolved"))
        if a.get("tree") != b.get("tree"):
            findings.append(
                Finding(
                    identity,
                    f"tree hash differs: {a.get('tree')} in the lock, {b['tree']} checked out "
                    f"(version {b['version']}): the source changed under the same or a new version",
                )
            )
        for key in ("name", "direct", "dependencies", "buildTimeTargets"):
            if a.get(key) != b.get(key):
                findings.append(Finding(identity, f"{key} changed: {a.get(key)!r} in the lock, {b.get(key)!r} now"))
    return findings


def unallowed_build_time_code(current: dict[str, Any], allowlist: dict[str, Any]) -> list[Finding]:
    """Plugins, macros and binary targets in the graph that the allowlist does not name with a reason."""
    allowed: dict[str, set[str]] = {}
    findings = []
    for entry in allowlist.get("buildTimeCode", []):
        package = entry.get("package", "?")
        if not str(entry.get("reason", "")).strip():
            findings.append(Finding(package, f"{ALLOWLIST_FILE} entry has no reason"))
            continue
        allowed.setdefault(package, set()).update(entry.get("targets", []))
    for p in current.get("packages", []):
        for t in p.get("buildTimeTargets", []):
            if t["target"] not in allowed.get(p["identity"], set()):
                findings.append(
                    Finding(
                        p["identity"],
                        f"declares {t['kind']} target '{t['target']}' (code that runs at build time or arrives "
                        f"prebuilt) and is not in {ALLOWLIST_FILE}",
                    )
                )
    return findings


def stale_allowlist_entries(current: dict[str, Any], allowlist: dict[str, Any]) -> list[str]:
    declared = {(p["identity"], t["target"]) for p in current["packages"] for t in p.get("buildTimeTargets", [])}
    stale = []
    for entry in allowlist.get("buildTimeCode", []):
        for target in entry.get("targets", []):
            if (entry.get("package"), target) not in declared:
                stale.append(f"{entry.get('package')}: allowlisted target '{target}' is no longer declared")
    return stale


# MARK: - Generated Swift


def purl(url: str, version: str) -> str:
    """Package URL of a Swift package: pkg:swift/HOST/OWNER/NAME@VERSION (purl's `swift` type)."""
    match = re.match(r"^(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+?)(?:\.git)?/?$", url)
    if match:
        host, path = match.group(1).lower(), match.group(2)
    else:
        host, path = "localhost", url.strip("/").removesuffix(".git")
    namespace, _, name = path.rpartition("/")
    namespace = f"{host}/{namespace}" if namespace else host
    return f"pkg:swift/{namespace}/{name}@{version}"


def swift_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def generated_swift(lock: dict[str, Any]) -> str:
    """The Swift source embedding the lock, so the binary's SBOM is built from the lock's data."""
    lines = [
        "// Generated by scripts/update-lock from dependencies.lock.json. Do not edit:",
        "// scripts/check-deps fails when this file and the lock disagree.",
        "import GatehouseSupplyChain",
        "",
        "/// The packages compiled into this binary, exactly as `dependencies.lock.json` lists them.",
        "enum GeneratedDependencyLock {",
        "    /// Every resolved package, direct and transitive, sorted by identity.",
        "    static let packages: [LockedPackage] = [",
    ]
    for p in lock["packages"]:
        deps = ", ".join(swift_string(d) for d in p["dependencies"])
        build_time = ", ".join(
            f".init(target: {swift_string(t['target'])}, kind: {swift_string(t['kind'])})"
            for t in p["buildTimeTargets"]
        )
        lines += [
            "        LockedPackage(",
            f"            identity: {swift_string(p['identity'])},",
            f"            name: {swift_string(p['name'])},",
            f"            url: {swift_string(p['url'])},",
            f"            version: {swift_string(p['version'])},",
            f"            purl: {swift_string(purl(p['url'], p['version']))},",
            f"            tree: {swift_string(p['tree'])},",
            f"            isDirect: {'true' if p['direct'] else 'false'},",
            f"            dependencies: [{deps}],",
            f"            buildTimeTargets: [{build_time}]",
            "        ),",
        ]
    lines += ["    ]", "}", ""]
    return "\n".join(lines)


def fail(findings: list[Finding], header: str) -> None:
    print(header, file=sys.stderr)
    for finding in findings:
        print(f"  - {finding}", file=sys.stderr)
