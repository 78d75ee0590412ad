"""`v11ops tls self-signed`: a certificate for local use, its key 0600, never overwritten
without --force."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from typer.testing import CliRunner

from v11ops.cli.main import app

runner = CliRunner()


def _self_signed(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["tls", "self-signed", *args])
    return result.exit_code, result.output if result.exit_code == 0 else result.stderr


def _sans(cert: x509.Certificate) -> list[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in names]


def test_defaults_cover_localhost_with_a_p256_key_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    cert_path, key_path = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    code, out = _self_signed("--cert", str(cert_path), "--key", str(key_path))
    assert code == 0, out
    assert "localhost, 127.0.0.1" in out
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert _sans(cert) == ["localhost", "127.0.0.1"]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.public_key() == key.public_key()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    left = cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=364) < left <= timedelta(days=365)


def test_hosts_days_and_an_rsa_key(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    code, out = _self_signed(
        "--cert", str(cert_path), "--key", str(key_path), "--host", "v11.test",
        "--host", "::1", "--days", "3", "--key-type", "rsa",
    )  # fmt: skip
    assert code == 0, out
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert _sans(cert) == ["v11.test", "::1"]
    assert cert.subject.rfc4514_string() == "CN=v11.test"
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    left = cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=2) < left <= timedelta(days=3)


@pytest.mark.parametrize("existing", ["cert", "key"])
def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path, existing: str) -> None:
    paths = {"cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    paths[existing].write_text("keep me\n")
    args = ("--cert", str(paths["cert"]), "--key", str(paths["key"]))
    code, err = _self_signed(*args)
    assert code == 2
    assert err.strip() == f"error: {paths[existing]} exists; pass --force to replace it"
    assert paths[existing].read_text() == "keep me\n"
    other = paths["key" if existing == "cert" else "cert"]
    assert not other.exists()  # nothing written at all
    assert sorted(p.name for p in tmp_path.iterdir()) == [paths[existing].name]

    code, out = _self_signed(*args, "--force")
    assert code == 0, out
    x509.load_pem_x509_certificate(paths["cert"].read_bytes())
    assert stat.S_IMODE(paths["key"].stat().st_mode) == 0o600


def test_force_gives_a_new_key_and_keeps_it_private(tmp_path: Path) -> None:
    args = ("--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem"))
    assert _self_signed(*args)[0] == 0
    first = (tmp_path / "k.pem").read_bytes()
    (tmp_path / "k.pem").chmod(0o644)
    assert _self_signed(*args, "--force")[0] == 0
    assert (tmp_path / "k.pem").read_bytes() != first
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key-type", "dsa"], "--key-type 'dsa' must be ec or rsa"),
        (["--days", "0"], "Invalid value for '--days'"),
    ],
)
def test_a_bad_option_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, err = _self_signed("--cert", str(tmp_path / "c"), "--key", str(tmp_path / "k"), *args)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []
