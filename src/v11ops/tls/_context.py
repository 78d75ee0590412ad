"""TLS contexts: the one the builtin router terminates TLS with, and v11ops's own client to it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from v11ops.tls._cert import CertificateError, CertificateValidity, certificate_validity

MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2


class TlsConfigError(Exception):
    """A certificate or key cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class TlsFiles:
    """A certificate (PEM, optionally with its chain) and its private key (PEM, unencrypted)."""

    cert: Path
    key: Path


def server_context() -> ssl.SSLContext:
    """A server context without a certificate yet (see `load_certificate`): TLS 1.2 and newer,
    the default context's ciphers (forward secrecy, AEAD first), ALPN http/1.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MIN_TLS_VERSION
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])
    return context


def pinned_client_context(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the certificate(s) in `cert`, whatever name it is
    reached by: for v11ops's own requests to the router it runs, over loopback, where the
    public name on the certificate does not resolve to the listener."""
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a CA-issued leaf as its own anchor
    return context


def load_certificate(context: ssl.SSLContext, files: TlsFiles) -> CertificateValidity:
    """Load (or replace, for connections accepted from now on) the context's certificate.

    Raises TlsConfigError for a missing, unreadable or malformed file, an encrypted key, or a
    key that does not belong to the certificate; the context is unchanged then.
    """
    try:
        validity = certificate_validity(files.cert)
    except CertificateError as exc:
        raise TlsConfigError(f"certificate: {exc}") from None
    _check_key(files)
    try:
        # A password callback, so that an encrypted key can never prompt on the terminal.
        context.load_cert_chain(files.cert, files.key, password=_no_password)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsConfigError(f"key: {files.key} cannot be loaded ({exc})") from None
    return validity


def _check_key(files: TlsFiles) -> None:
    """The key is a readable, unencrypted PEM private key of the certificate's public key."""
    try:
        data = files.key.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"key: cannot read {files.key}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsConfigError(f"key: {files.key} is encrypted; give an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsConfigError(f"key: {files.key} holds no PEM private key") from None
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise TlsConfigError(f"key: {files.key} does not belong to the certificate {files.cert}")


def _spki(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _no_password() -> str:
    raise ValueError("the key is encrypted")
