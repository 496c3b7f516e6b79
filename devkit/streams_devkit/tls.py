"""A throwaway certificate authority and server certificate for loopback TLS tests.

Made with the ``openssl`` command line (present wherever Python's ``ssl`` module was built;
no Python dependency for it): a self-signed CA, and a server certificate it signs for
``127.0.0.1`` and ``localhost`` (subject alternative names, so clients that check host names
accept it on loopback). Keys are EC P-256, unencrypted PKCS#8, valid for two days: test
material, never a secret worth protecting. The server's key and certificate chain are also
written as one PEM *key store*, the form Kafka's ``ssl.keystore.type=PEM`` reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

__all__ = ["TestPki", "TlsError", "make_test_pki"]

_DAYS = "2"


class TlsError(RuntimeError):
    """The certificates could not be made (no ``openssl``, or it failed: its output quoted)."""


@dataclass(frozen=True)
class TestPki:
    """Where one authority's files are: PEM everywhere."""

    __test__ = False  # not a pytest test class, despite the name

    ca_file: Path
    """The CA certificate: what clients trust (``STREAMS_BROKER_CA_FILE``)."""
    cert_file: Path
    """The server certificate, signed by the CA."""
    key_file: Path
    """The server's private key (unencrypted PKCS#8)."""
    keystore_file: Path
    """Key, then certificate and CA: a PEM key store for Kafka (``ssl.keystore.type=PEM``)."""


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise TlsError("making test certificates needs the `openssl` command on the PATH")
    done = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [binary, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def _san(hosts: Sequence[str]) -> str:
    entries = []
    for host in hosts:
        try:
            ip_address(host)
        except ValueError:
            entries.append(f"DNS:{host}")
        else:
            entries.append(f"IP:{host}")
    return ",".join(entries)


def make_test_pki(
    directory: str | os.PathLike[str],
    *,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    name: str = "streams test CA",
) -> TestPki:
    """Make a CA and a server certificate for ``hosts`` in ``directory`` (created if needed).

    Two calls with different directories make two unrelated authorities: a client trusting
    one rejects the other's server certificate (the "untrusted certificate" case).
    """
    if not hosts:
        raise TlsError("a server certificate needs at least one host")
    home = Path(directory)
    home.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", _DAYS,
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=home,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={hosts[0]}",
        cwd=home,
    )  # fmt: skip
    (home / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={_san(hosts)}\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-set_serial", "0x" + os.urandom(16).hex(), "-days", _DAYS,
        "-extfile", "server.ext", "-out", "server.crt",
        cwd=home,
    )  # fmt: skip
    keystore = home / "server-keystore.pem"
    keystore.write_bytes(
        b"".join((home / part).read_bytes() for part in ("server.key", "server.crt", "ca.crt"))
    )
    return TestPki(
        ca_file=home / "ca.crt",
        cert_file=home / "server.crt",
        key_file=home / "server.key",
        keystore_file=keystore,
    )
