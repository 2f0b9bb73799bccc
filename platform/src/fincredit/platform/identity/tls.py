"""HTTPS served by uvicorn itself, with TLS client authentication for staff (R§18).

uvicorn's ``ssl_cert_reqs``/``ssl_ca_certs`` make the handshake ask for (and check) a client certificate of
the staff CA, but uvicorn does not hand the certificate to the application. These protocol classes add the
ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``) to every request of a connection
whose peer presented one, which :func:`~fincredit.platform.identity.certificates.presented_certificate`
reads. ``CERT_OPTIONAL``: borrowers, who have no certificate, still connect; the staff sign-in refuses an
institution account without one.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from fincredit.platform.core.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class _WithClientCertificate:
    """The app, for one connection, with that connection's client certificate in each request's scope."""

    def __init__(self, app: Any, pem: str) -> None:
        self.app = app
        self.pem = pem

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {"client_cert_chain": [self.pem], "client_cert_error": None}
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


def _wrap(protocol: Any, transport: asyncio.Transport) -> None:
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der:
        protocol.app = _WithClientCertificate(protocol.app, ssl.DER_cert_to_PEM_cert(der))


class ClientCertH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _wrap(self, transport)


if HttpToolsProtocol is not None:

    class ClientCertHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _wrap(self, transport)

    PROTOCOL = "fincredit.platform.identity.tls:ClientCertHttpToolsProtocol"
else:  # pragma: no cover
    PROTOCOL = "fincredit.platform.identity.tls:ClientCertH11Protocol"


def uvicorn_tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options to serve HTTPS with the staff CA asking for client certificates; {} without a
    server certificate configured (plain HTTP, as behind a TLS-terminating proxy)."""
    if settings.tls_cert_file is None:
        return {}
    from fincredit.platform.identity.certificates import load_staff_ca

    ca = load_staff_ca(settings)
    return {
        "ssl_certfile": str(settings.tls_cert_file),
        "ssl_keyfile": str(settings.tls_key_file) if settings.tls_key_file else None,
        "ssl_ca_certs": str(ca.cert_path),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": PROTOCOL,
    }


def demo_server_certificate(settings: Settings) -> tuple[Path, Path]:
    """A server certificate from the staff CA for ``serve --tls`` on one's own machine (127.0.0.1,
    localhost and the configured host), made once under ``<var_dir>/keys``."""
    from fincredit.platform.identity.certificates import issue_server_certificate, load_staff_ca

    keys = (settings.var_dir / "keys").resolve()
    cert, key = keys / "server.crt.pem", keys / "server.key.pem"
    if not cert.exists() or not key.exists():
        ca = load_staff_ca(settings)
        hosts = list(dict.fromkeys([settings.host, "127.0.0.1", "localhost"]))
        cert_pem, key_pem = issue_server_certificate(ca, hosts)
        keys.mkdir(parents=True, exist_ok=True)
        key.write_text(key_pem)
        key.chmod(0o600)
        cert.write_text(cert_pem + ca.certificate_pem)
    return cert, key
