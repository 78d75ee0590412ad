"""TLS: certificate files (validity, self-signed ones for local use) and the router's context.

Public API:

- `certificate_validity`, `CertificateValidity`, `CertificateError`: read a PEM file's expiry.
- `write_self_signed`, `SelfSigned`, `CertificateExistsError`: `v11ops tls self-signed`.
- `TlsFiles`, `server_context`, `load_certificate`, `TlsConfigError`: terminate TLS.
- `pinned_client_context`: v11ops's own requests to its router over loopback.
"""

from v11ops.tls._cert import (
    DEFAULT_HOSTS,
    CertificateError,
    CertificateExistsError,
    CertificateValidity,
    KeyType,
    SelfSigned,
    certificate_validity,
    write_self_signed,
)
from v11ops.tls._context import (
    MIN_TLS_VERSION,
    TlsConfigError,
    TlsFiles,
    load_certificate,
    pinned_client_context,
    server_context,
)

__all__ = [
    "DEFAULT_HOSTS",
    "MIN_TLS_VERSION",
    "CertificateError",
    "CertificateExistsError",
    "CertificateValidity",
    "KeyType",
    "SelfSigned",
    "TlsConfigError",
    "TlsFiles",
    "certificate_validity",
    "load_certificate",
    "pinned_client_context",
    "server_context",
    "write_self_signed",
]
