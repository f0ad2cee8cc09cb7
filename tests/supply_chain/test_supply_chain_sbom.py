"""`gatehouse sbom` is valid CycloneDX 1.6, matches the lock, and `gatehouse version --verbose` names its digest."""

from __future__ import annotations

import hashlib
import json
import re

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from supply_chain_support import REPO_ROOT, run


def sbom_bytes(gatehouse) -> bytes:
    proc = run([gatehouse, "sbom"], check=True)
    return proc.stdout.encode()


def test_sbom_validates_against_the_cyclonedx_1_6_schema(gatehouse):
    text = sbom_bytes(gatehouse).decode()
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(text) is None
    # The validator does reject what the schema forbids (so the check above is not vacuous).
    broken = json.loads(text)
    broken["components"][0]["type"] = "not-a-type"
    assert validator.validate_str(json.dumps(broken)) is not None


def test_sbom_lists_every_locked_package_with_version_purl_and_tree_hash(gatehouse):
    sbom = json.loads(sbom_bytes(gatehouse))
    lock = json.loads((REPO_ROOT / "dependencies.lock.json").read_text())
    assert sbom["specVersion"] == "1.6"
    app = sbom["metadata"]["component"]
    assert app["type"] == "application" and app["name"] == "gatehouse"
    version = run([gatehouse, "version"], check=True).stdout.split()[1]
    assert app["version"] == version
    components = {c["name"]: c for c in sbom["components"]}
    assert len(components) == len(lock["packages"])
    for package in lock["packages"]:
        component = components[package["name"]]
        assert component["version"] == package["version"]
        owner_repo = re.sub(r"^https://github\.com/|\.git$", "", package["url"])
        assert component["purl"] == f"pkg:swift/github.com/{owner_repo}@{package['version']}"
        properties = {p["name"]: p["value"] for p in component["properties"]}
        assert properties["gatehouse:git:tree"] == package["tree"]
        assert component["externalReferences"] == [{"type": "vcs", "url": package["url"]}]
    graph = {d["ref"]: set(d["dependsOn"]) for d in sbom["dependencies"]}
    direct = {components[p["name"]]["purl"] for p in lock["packages"] if p["direct"]}
    assert graph[app["bom-ref"]] == direct


def test_version_verbose_ties_the_process_to_its_sbom_digest(gatehouse):
    out = run([gatehouse, "version", "--verbose"], check=True).stdout
    digest = hashlib.sha256(sbom_bytes(gatehouse)).hexdigest()
    assert re.search(r"^gatehouse \d+\.\d+\.\d+$", out, re.M)
    assert f"sbom: sha256:{digest} " in out
    assert re.search(r"^commit: (unknown \(dev build\)|[0-9a-f]{40})$", out, re.M)
    assert re.search(r"^build date: (unknown \(dev build\)|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$", out, re.M)
    plain = run([gatehouse, "version"], check=True).stdout
    assert plain.count("\n") == 1
