"""Release signatures: gatehouse-sign writes minisign prehashed signatures that the reference `minisign -V` and
`gatehouse verify-release` both accept, and both detect tampering. Keys are throwaway, in temporary folders."""

from __future__ import annotations

import base64
import os
import shutil
import stat

import pytest

from supply_chain_support import REPO_ROOT, run


@pytest.fixture()
def keypair(signer, tmp_path):
    secret, public = tmp_path / "keys" / "release.key", tmp_path / "keys" / "release.pub"
    secret.parent.mkdir()
    run([signer, "keygen", "--secret-key", secret, "--public-key", public], check=True)
    return secret, public


@pytest.fixture()
def signed_file(signer, keypair, tmp_path):
    secret, _ = keypair
    target = tmp_path / "artifact.bin"
    target.write_bytes(os.urandom(3000) + b"gatehouse")
    run([signer, "sign", "--secret-key", secret, target], check=True)
    return target


def test_keygen_writes_a_private_secret_key_and_a_minisign_public_key(keypair):
    secret, public = keypair
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    lines = public.read_text().splitlines()
    assert lines[0].startswith("untrusted comment: minisign public key ") and lines[1].startswith("RW")


def test_signature_is_prehashed_and_verifies_with_minisign_and_gatehouse(signed_file, keypair, minisign, gatehouse):
    _, public = keypair
    sig = signed_file.with_name(signed_file.name + ".minisig").read_text().splitlines()
    assert sig[1].startswith("RU")  # base64 of "ED": prehashed BLAKE2b-512
    assert sig[2] == "trusted comment: file:artifact.bin\thashed"
    reference = run([minisign, "-Vm", signed_file, "-p", public])
    assert reference.returncode == 0, reference.stderr
    assert "Signature and comment signature verified" in reference.stdout
    ours = run([gatehouse, "verify-release", "-p", public, signed_file])
    assert ours.returncode == 0, ours.stderr
    assert "signature OK" in ours.stdout


def test_a_changed_file_is_refused_by_both(signed_file, keypair, minisign, gatehouse):
    _, public = keypair
    data = bytearray(signed_file.read_bytes())
    data[1500] ^= 0x01
    signed_file.write_bytes(bytes(data))
    assert run([minisign, "-Vm", signed_file, "-p", public]).returncode != 0
    ours = run([gatehouse, "verify-release", "-p", public, signed_file])
    assert ours.returncode == 1
    assert "signature verification failed" in ours.stderr


def test_a_changed_trusted_comment_is_refused_by_both(signed_file, keypair, minisign, gatehouse):
    _, public = keypair
    sig = signed_file.with_name(signed_file.name + ".minisig")
    sig.write_text(sig.read_text().replace("file:artifact.bin", "file:other.bin"))
    assert run([minisign, "-Vm", signed_file, "-p", public]).returncode != 0
    ours = run([gatehouse, "verify-release", "-p", public, signed_file])
    assert ours.returncode == 1
    assert "trusted comment was altered" in ours.stderr


def test_another_key_is_refused(signed_file, signer, tmp_path, minisign, gatehouse):
    other_secret, other_public = tmp_path / "other.key", tmp_path / "other.pub"
    run([signer, "keygen", "--secret-key", other_secret, "--public-key", other_public], check=True)
    assert run([minisign, "-Vm", signed_file, "-p", other_public]).returncode != 0
    ours = run([gatehouse, "verify-release", "-p", other_public, signed_file])
    assert ours.returncode == 1 and "different key" in ours.stderr


def test_a_key_made_by_minisign_signs_from_an_environment_variable(signer, minisign, gatehouse, tmp_path):
    secret, public = tmp_path / "m.key", tmp_path / "m.pub"
    run([minisign, "-G", "-W", "-p", public, "-s", secret], check=True)
    target = tmp_path / "notes.txt"
    target.write_text("release notes\n")
    env = {"GATEHOUSE_TEST_RELEASE_KEY": secret.read_text()}
    proc = run([signer, "sign", "--secret-key-env", "GATEHOUSE_TEST_RELEASE_KEY", target], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "RW" not in proc.stdout + proc.stderr  # no key material echoed
    run([minisign, "-Vm", target, "-p", public], check=True)
    run([gatehouse, "verify-release", "-p", public, target], check=True)


def test_a_password_protected_key_is_refused_with_a_clear_message(signer, tmp_path):
    secret = tmp_path / "enc.key"
    # minisign's layout with the scrypt KDF tag ("Sc"), as `minisign -G` without -W writes it.
    body = base64.b64encode(b"EdScB2" + bytes(152)).decode()
    secret.write_text("untrusted comment: minisign encrypted secret key\n" + body + "\n")
    target = tmp_path / "f"
    target.write_text("x")
    proc = run([signer, "sign", "--secret-key", secret, target])
    assert proc.returncode != 0
    assert "password-protected" in proc.stderr


def test_release_script_packages_checksums_and_signs_a_binary(keypair, minisign, gatehouse, signer, tmp_path):
    secret, public = keypair
    out = tmp_path / "dist"
    # A small stand-in for the binary that runs the real one: hashing and signing a ~100 MB debug build with debug
    # BLAKE2b would dominate the suite, and packaging does not depend on the size.
    binary = tmp_path / "gatehouse"
    binary.write_text(f'#!/bin/sh\nexec "{gatehouse}" "$@"\n')
    binary.chmod(0o755)
    proc = run([REPO_ROOT / "scripts" / "release", "--secret-key", secret, "--binary", binary, "--signer", signer, "--out", out])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = sorted(p.name for p in out.iterdir())
    version = run([gatehouse, "version"], check=True).stdout.split()[1]
    base = f"gatehouse-{version}-linux-{os.uname().machine}"
    assert names == sorted(
        ["SHA256SUMS", "SHA256SUMS.minisig", base, base + ".minisig", base + ".cdx.json", base + ".cdx.json.minisig"]
    )
    for name in ("SHA256SUMS", base, base + ".cdx.json"):
        run([minisign, "-Vm", out / name, "-p", public], check=True)
    ours = run([gatehouse, "verify-release", "-p", public, out / "SHA256SUMS"], check=True)
    assert f"{base}: SHA-256 OK" in ours.stdout

    # A swapped binary still listed in a genuinely signed SHA256SUMS is caught by the sums check.
    shutil.copy(out / (base + ".cdx.json"), out / base)
    ours = run([gatehouse, "verify-release", "-p", public, out / "SHA256SUMS"])
    assert ours.returncode == 1 and f"{base}: FAILED" in ours.stderr
    assert secret.read_text() not in proc.stdout + proc.stderr


def test_release_script_refuses_a_secret_key_inside_the_repository(gatehouse, signer):
    proc = run([REPO_ROOT / "scripts" / "release", "--secret-key", REPO_ROOT / "Package.swift", "--binary", gatehouse])
    assert proc.returncode == 2 and "inside the repository" in proc.stderr
