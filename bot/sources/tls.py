"""The TLS context every HTTP client of briefbot shares."""

from __future__ import annotations

import ssl

import httpx2

_TLS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """The TLS context every client shares, made once per CA setting (``SSL_CERT_FILE``,
    ``SSL_CERT_DIR``): loading the CA store takes tens of milliseconds, too long to repeat
    on the event loop for every gather. Call it from a worker thread the first time."""
    paths = ssl.get_default_verify_paths()  # SSL_CERT_FILE and SSL_CERT_DIR, if set
    key = (paths.cafile, paths.capath)
    context = _TLS.get(key)
    if context is None:
        context = _TLS[key] = httpx2.create_ssl_context()
    return context
