"""TLS for gRPC and REST: the server's certificate and key (optionally a CA its clients' certificates must be signed
by), and a client's CA (optionally its own certificate and key), read from PEM files and checked at start.

`ServerTls` serves both transports: `grpc_credentials()` for grpc.aio's secure port, `ssl_context()` for aiohttp. A
client CA makes both refuse a client without a certificate signed by it (gRPC require_client_auth, TLS
CERT_REQUIRED). `ClientTls` is what `ftvm call` and `ftvm gateway --target-tls-ca` connect with. A half or broken
configuration (a certificate without its key, a client CA without a certificate, an unreadable file, a key that
does not match its certificate) is a `TlsConfigError` naming the option and the file, before anything listens.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc  # imported where used: every `ftvm` command's parser adds these options


class TlsConfigError(ValueError):
    """A TLS option is missing its partner, or names a file that cannot be used; the message says which."""


def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TlsConfigError(f"{option} {path}: cannot read it: {e.strerror or e}") from None


def _load_pair(context: ssl.SSLContext, cert_option: str, cert: str, key_option: str, key: str) -> None:
    """The certificate chain and its key into `context`: both PEM, the key unencrypted (gRPC takes no passphrase)."""
    _read(cert_option, cert)  # an unreadable file is named as such, not as a TLS error
    _read(key_option, key)
    try:
        context.load_cert_chain(cert, key, password=b"")  # a passphrase-protected key fails instead of prompting
    except ssl.SSLError as e:
        if e.reason == "KEY_VALUES_MISMATCH":
            raise TlsConfigError(f"{key_option} {key} is not the key of {cert_option} {cert}") from None
        raise TlsConfigError(
            f"{cert_option} {cert} / {key_option} {key}: not a PEM certificate chain and its unencrypted PEM key "
            f"({e.reason or e})"
        ) from None


def _load_ca(context: ssl.SSLContext, option: str, path: str) -> None:
    _read(option, path)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as e:
        raise TlsConfigError(f"{option} {path}: not a PEM CA certificate ({e.reason or e})") from None


@dataclass(frozen=True)
class ServerTls:
    """Paths of PEM files, checked by `server_tls`; each process of `ftvm serve --workers N` reads them itself."""

    cert: str
    key: str
    client_ca: str | None = None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        import grpc

        client_ca = _read("--tls-client-ca", self.client_ca) if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(_read("--tls-key", self.key), _read("--tls-cert", self.cert))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        _load_pair(context, "--tls-cert", self.cert, "--tls-key", self.key)
        if self.client_ca:
            _load_ca(context, "--tls-client-ca", self.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def server_tls(cert: str | None, key: str | None, client_ca: str | None) -> ServerTls | None:
    """The server's TLS from its options (None: plaintext), or TlsConfigError."""
    if cert is None and key is None:
        if client_ca is not None:
            raise TlsConfigError("--tls-client-ca needs --tls-cert and --tls-key (clients are checked over TLS only)")
        return None
    if cert is None or key is None:
        raise TlsConfigError("--tls-cert and --tls-key go together (the server's certificate and its private key)")
    tls = ServerTls(cert, key, client_ca)
    tls.ssl_context()  # reads and checks every file
    return tls


@dataclass(frozen=True)
class ClientTls:
    """What a client trusts (`ca`) and, for a server that asks for one, its own certificate and key: PEM bytes."""

    ca: bytes
    cert: bytes | None = None
    key: bytes | None = None

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        import grpc

        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def client_tls(ca: str | None, cert: str | None, key: str | None, prefix: str = "--tls") -> ClientTls | None:
    """A client's TLS from its options `{prefix}-ca`, `{prefix}-cert`, `{prefix}-key` (None: plaintext)."""
    ca_option, cert_option, key_option = f"{prefix}-ca", f"{prefix}-cert", f"{prefix}-key"
    if ca is None:
        if cert is not None or key is not None:
            raise TlsConfigError(
                f"{cert_option} and {key_option} need {ca_option} (the CA the server's certificate is signed by)"
            )
        return None
    if (cert is None) != (key is None):
        raise TlsConfigError(f"{cert_option} and {key_option} go together (the client's certificate and its key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # only to check the files
    _load_ca(context, ca_option, ca)
    if cert is None or key is None:
        return ClientTls(_read(ca_option, ca))
    _load_pair(context, cert_option, cert, key_option, key)
    return ClientTls(_read(ca_option, ca), _read(cert_option, cert), _read(key_option, key))


def add_server_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """--tls-cert, --tls-key, --tls-client-ca of a command serving `what`."""
    p.add_argument("--tls-cert", metavar="FILE", help=f"serve {what} over TLS with this PEM certificate (chain)")
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's unencrypted PEM private key")
    p.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="PEM CA: clients must present a certificate signed by it (mutual TLS)",
    )


def add_client_arguments(p: argparse.ArgumentParser, prefix: str = "--tls", whom: str = "the server") -> None:
    """{prefix}-ca, {prefix}-cert, {prefix}-key of a command connecting to `whom`."""
    p.add_argument(f"{prefix}-ca", metavar="FILE", help=f"connect to {whom} over TLS, trusting this PEM CA")
    p.add_argument(f"{prefix}-cert", metavar="FILE", help=f"PEM client certificate, for {whom} asking for one")
    p.add_argument(f"{prefix}-key", metavar="FILE", help="the client certificate's unencrypted PEM private key")
