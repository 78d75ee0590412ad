"""`router.tls:` the builtin router terminates TLS with these files."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from v11ops.config._base import HostPort, Model
from v11ops.tls import TlsFiles


class RouterTls(Model):
    """Certificate and key of the router's listener; all unset: plain HTTP."""

    cert: str | None = Field(
        default=None,
        description="PEM certificate (with its chain); relative to the config file",
    )
    key: str | None = Field(
        default=None, description="PEM private key, unencrypted; relative to the config file"
    )
    redirect_http_listen: HostPort | None = Field(
        default=None,
        description="host:port of a plain-HTTP listener answering 308 to https; null: off",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> RouterTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together: set both, or neither")
        if self.redirect_http_listen is not None and self.cert is None:
            raise ValueError("redirect_http_listen needs cert and key (it redirects to https)")
        return self

    @property
    def enabled(self) -> bool:
        """True when the router serves HTTPS."""
        return self.cert is not None

    def files(self, config_dir: Path) -> TlsFiles | None:
        """The certificate and key, resolved against `config_dir`; None without TLS."""
        if self.cert is None or self.key is None:
            return None
        return TlsFiles(cert=config_dir / self.cert, key=config_dir / self.key)
