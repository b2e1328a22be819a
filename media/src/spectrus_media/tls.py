"""The voice WebSocket's certificate for one-machine installs: a private CA and a server
certificate it signs, made once under the data dir.

Voice clients (discord.py among them) only dial ``wss://``. Trusting the CA file rather
than the server certificate lets the server certificate be reissued (a new host name or
address) without asking anyone to trust something new.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=825)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Spectrus"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def ensure_certificate(directory: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """``(ca.crt, tls.crt, tls.key)`` under ``directory``; the server certificate is
    reissued when it no longer names every host in ``hosts`` or is about to expire."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_crt, ca_key, crt, key = (directory / n for n in ("ca.crt", "ca.key", "tls.crt", "tls.key"))
    now = datetime.datetime.now(datetime.UTC)
    if not (ca_crt.exists() and ca_key.exists()):
        authority_key = ec.generate_private_key(ec.SECP256R1())
        authority = (
            x509.CertificateBuilder()
            .subject_name(_name("Spectrus local voice CA"))
            .issuer_name(_name("Spectrus local voice CA"))
            .public_key(authority_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + 10 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(authority_key, hashes.SHA256())
        )
        _write_key(ca_key, authority_key)
        ca_crt.write_bytes(authority.public_bytes(serialization.Encoding.PEM))
        crt.unlink(missing_ok=True)
    if crt.exists() and key.exists():
        current = x509.load_pem_x509_certificate(crt.read_bytes())
        named = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if named == _san(hosts) and current.not_valid_after_utc - now > datetime.timedelta(days=30):
            return ca_crt, crt, key
    authority = x509.load_pem_x509_certificate(ca_crt.read_bytes())
    loaded = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(authority.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(loaded, hashes.SHA256())
    )
    _write_key(key, server_key)
    crt.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    return ca_crt, crt, key
