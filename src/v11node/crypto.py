"""Ed25519 verification with as little overhead per signature as possible.

PyNaCl's `crypto_sign_open` needs the signature and the message concatenated into one buffer and
copies the message out again. libsodium's `crypto_sign_verify_detached` takes them apart; PyNaCl
does not bind it, but its bundled libsodium exports it, so it is bound here through cffi in ABI
mode (no compiler needed). When the symbol is not there, PyNaCl's own binding is used.

This module imports nothing from the node so that verifier worker processes start quickly.
"""

from __future__ import annotations

import os
from collections.abc import Callable

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _load_detached() -> Callable[[bytes, bytes, bytes], bool] | None:
    try:
        import cffi  # type: ignore[import-untyped,unused-ignore]
        import nacl
        from nacl.bindings import sodium_init  # noqa: F401  (initialises libsodium once)

        ffi = cffi.FFI()
        ffi.cdef(
            "int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,"
            " unsigned long long mlen, const unsigned char *pk);"
        )
        folder = os.path.dirname(nacl.__file__)
        names = [n for n in os.listdir(folder) if n.startswith("_sodium") and n.endswith(".so")]
        if not names:
            return None
        lib = ffi.dlopen(os.path.join(folder, names[0]))
        fn = lib.crypto_sign_verify_detached
    except (ImportError, OSError, AttributeError):  # another build of PyNaCl: fall back
        return None

    def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
            return False
        return bool(fn(signature, message, len(message), public_key) == 0)

    return verify


def _pynacl_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError

    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, ValueError):
        return False
    return True


verify_detached: Callable[[bytes, bytes, bytes], bool] = _load_detached() or _pynacl_verify
