"""Helpers shared by the supply-chain tests (a module name of its own, so it never collides with tests/e2e)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / ".build" / "debug"
GATEHOUSE_BIN = Path(os.environ.get("GATEHOUSE_BIN", str(BUILD_DIR / "gatehouse")))
SIGN_BIN = Path(os.environ.get("GATEHOUSE_SIGN_BIN", str(GATEHOUSE_BIN.parent / "gatehouse-sign")))
GENERATED = Path("Sources/gatehouse/Generated/DependencyLock.swift")


def run(args, *, cwd=None, env=None, check=False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def check_deps(root: Path, deps_cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([root / "scripts" / "check-deps", "--package-path", root, *args], env={"GATEHOUSE_DEPS_CACHE": str(deps_cache)})


def update_lock(root: Path, deps_cache: Path) -> subprocess.CompletedProcess[str]:
    return run([root / "scripts" / "update-lock", "--package-path", root], env={"GATEHOUSE_DEPS_CACHE": str(deps_cache)})
