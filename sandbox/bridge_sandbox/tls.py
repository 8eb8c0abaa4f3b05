"""A private certificate authority for serving a simulator over TLS.

Jira Data Center inside a company usually presents a certificate from the company's own
CA. Tests (and anyone trying ``BRIDGE_CA_BUNDLE``) make such a CA here, a leaf for
``127.0.0.1`` / ``localhost`` signed by it, and serve a simulator with the leaf through
``LiveServer(ssl_context=...)``. Keys are made fresh each time and never leave the folder
they are written to.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    cert_pem: Path
    key_pem: Path
    subject: str  # RFC 4514, as the bridge prints it
    issuer: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_pem), str(self.key_pem))
        return context


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class PrivateCA:
    """A self-signed root that issues server certificates."""

    def __init__(self, folder: Path, name: str = "Example Corp Internal Root CA"):
        self.folder = Path(folder)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name, "Example Corp")
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5))
                     .not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(
                         digital_signature=True, key_cert_sign=True, crl_sign=True,
                         content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, encipher_only=False,
                         decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                         self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.bundle, _ = _write(self.folder, "ca", self.cert, self.key)

    @property
    def subject(self) -> str:
        return self.name.rfc4514_string()

    def issue(self, common_name: str = "jira.example.internal",
              names: tuple[str, ...] = ("localhost", "127.0.0.1"),
              valid_days: int = 7, stem: str = "jira") -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        now = dt.datetime.now(dt.UTC)
        start = now - dt.timedelta(minutes=5) if valid_days > 0 else now + dt.timedelta(
            days=valid_days - 1)
        subject = _name(common_name, "Example Corp")
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self.name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(now + dt.timedelta(days=valid_days))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path, key_path = _write(self.folder, stem, cert, key)
        return Issued(cert_pem=cert_path, key_pem=key_path,
                      subject=subject.rfc4514_string(), issuer=self.subject)
