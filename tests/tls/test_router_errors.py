"""`v11ops router run` with an unusable certificate or key: one line naming the file, exit 2,
before anything listens."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.tls.routers import make_cert
from v11ops.cli.main import app
from v11ops.runtime import free_port

runner = CliRunner()


def _run(folder: Path, *args: str) -> tuple[int, str]:
    port = free_port()
    result = runner.invoke(
        app,
        [
            "router", "run", "--listen", f"127.0.0.1:{port}",
            "--admin-socket", str(folder / "a.sock"), "--state-file", str(folder / "s.json"),
            *args,
        ],
    )  # fmt: skip
    return result.exit_code, result.stderr


@pytest.fixture
def files(short_dir: Path) -> dict[str, Path]:
    good = make_cert(short_dir / "good")
    other = make_cert(short_dir / "other")
    garbage = short_dir / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    encrypted = short_dir / "encrypted.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(good.key), "-aes256", "-passout", "pass:x",
         "-out", str(encrypted)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return {
        "cert": good.cert,
        "key": good.key,
        "other_key": other.key,
        "garbage": garbage,
        "encrypted": encrypted,
        "absent": short_dir / "absent.pem",
    }


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("absent", "key", "TLS certificate: cannot read {absent}: No such file or directory"),
        ("garbage", "key", "TLS certificate: {garbage} holds no PEM certificate"),
        ("key", "key", "TLS certificate: {key} holds no PEM certificate"),
        ("cert", "absent", "TLS key: cannot read {absent}: No such file or directory"),
        ("cert", "cert", "TLS key: {cert} holds no PEM private key"),
        ("cert", "other_key", "TLS key: {other_key} does not belong to the certificate {cert}"),
        ("cert", "encrypted", "TLS key: {encrypted} is encrypted; give an unencrypted key"),
    ],
)
def test_an_unusable_certificate_or_key_is_one_line_and_exit_2(
    short_dir: Path, files: dict[str, Path], cert: str, key: str, message: str
) -> None:
    code, err = _run(short_dir, "--tls-cert", str(files[cert]), "--tls-key", str(files[key]))
    assert code == 2
    assert err.strip() == "error: " + message.format(**{k: str(v) for k, v in files.items()})
    assert not (short_dir / "a.sock").exists()  # refused before any listener opened
