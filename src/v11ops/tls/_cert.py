"""Certificates: reading a PEM file's validity, and making a self-signed one for local use."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


class CertificateError(Exception):
    """A certificate file cannot be read or holds no PEM certificate."""


class CertificateExistsError(CertificateError):
    """A file would be overwritten without `force`."""


@dataclass(frozen=True)
class CertificateValidity:
    """When a PEM file's certificates (a whole chain, if it holds one) are valid together."""

    path: Path
    subject: str
    not_before: datetime
    not_after: datetime

    def days_left(self, now: datetime) -> float:
        """Days from `now` until the first certificate in the file expires."""
        return (self.not_after - now) / timedelta(days=1)


def certificate_validity(pem_path: Path) -> CertificateValidity:
    """Read a PEM file; a chain (fullchain.pem) is as valid as its shortest-lived certificate."""
    try:
        data = pem_path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read {pem_path}: {exc.strerror or exc}") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"{pem_path} holds no PEM certificate") from None
    return CertificateValidity(
        path=pem_path,
        subject=certs[0].subject.rfc4514_string(),
        not_before=max(c.not_valid_before_utc for c in certs),
        not_after=min(c.not_valid_after_utc for c in certs),
    )


@dataclass(frozen=True)
class SelfSigned:
    """What `write_self_signed` wrote."""

    cert: Path
    key: Path
    hosts: tuple[str, ...]
    not_after: datetime


def write_self_signed(
    cert_path: Path,
    key_path: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    days: int = 365,
    key_type: KeyType = "ec",
    force: bool = False,
) -> SelfSigned:
    """Write a self-signed server certificate for `hosts` (the first is the subject's CN) and its
    key (mode 0600). Refuses to replace either file unless `force`; on refusal nothing is written.
    """
    if not hosts:
        raise CertificateError("a certificate needs at least one host name or address")
    if days < 1:
        raise CertificateError(f"days must be at least 1, not {days}")
    if not force:
        for path in (cert_path, key_path):
            if path.exists():
                raise CertificateExistsError(f"{path} exists; pass --force to replace it")
    key = ec.generate_private_key(ec.SECP256R1()) if key_type == "ec" else _rsa_key()
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    cert = _certificate(key, tuple(hosts), not_after)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_file(key_path, key_pem, 0o600, force)
    _write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644, force)
    return SelfSigned(cert_path, key_path, tuple(hosts), not_after)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    hosts: tuple[str, ...],
    not_after: datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])])
    public = key.public_key()
    # An end-entity certificate (not a CA): browsers reject a CA certificate as a server's.
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=5))  # tolerate clock skew
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def _write_file(path: Path, data: bytes, mode: int, force: bool) -> None:
    """Write through a temporary file created with `mode`, so the key is never readable by
    others, not even for a moment; without `force` an existing file is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic and never clobbers: fails if `path` appeared
            except FileExistsError:
                raise CertificateExistsError(f"{path} exists; pass --force to replace it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
