"""Which certificate authorities the bridge trusts for its outbound TLS, and what to say
when a server's certificate is refused.

A Jira Data Center inside a company is usually served with a certificate from the
company's own CA. ``BRIDGE_CA_BUNDLE`` names a PEM file of the CAs to trust for Jira
(``BRIDGE_ASANA_CA_BUNDLE`` the same for Asana, e.g. behind a TLS-inspecting proxy);
without it the operating system's trust store is used (``ssl.get_default_verify_paths``,
so an admin who added the CA to the system store needs no setting), and certifi's bundle
only where the system has none. There is deliberately no setting that turns verification
off: ``verify_for`` never returns ``False`` and ``GuardedSession`` passes its answer on
every call, whatever the caller asked for.

``configure`` is called by ``create_app`` (the CLI, the worker and gunicorn all go
through it); the values are read at each call, so a session made before stays right.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
from dataclasses import dataclass

_bundles: dict[str, str | None] = {"jira": None, "asana": None}


class BundleError(ValueError):
    """The file is not a PEM bundle with at least one certificate (message: a sentence)."""


def check_bundle(path: str) -> str:
    """Validate a CA bundle path at start-up: a readable PEM file with certificates
    (loaded the way the TLS calls will load it)."""
    path = os.path.abspath(path.strip())
    if not os.path.isfile(path):
        raise BundleError(f"names no file: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:  # before OSError, of which it is a kind
        raise BundleError(f"{path} is not a PEM file of CA certificates "
                          "(-----BEGIN CERTIFICATE-----)") from None
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    if not context.cert_store_stats().get("x509"):
        raise BundleError(f"{path} holds no certificate (a PEM file of the CA that signs "
                          "the server's certificate is needed)")
    return path


def configure(*, jira: str | None = None, asana: str | None = None) -> None:
    _bundles["jira"] = jira or None
    _bundles["asana"] = asana or None


def bundle_for(purpose: str | None) -> str | None:
    """The configured bundle for ``jira`` / ``asana``, or ``None`` (system trust store)."""
    return _bundles.get(purpose or "")


def system_store() -> str | bool:
    """The operating system's CA file (or directory); ``True`` (certifi) if it has none."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return paths.cafile
    if paths.capath and os.path.isdir(paths.capath):
        return paths.capath
    return True


def verify_for(purpose: str | None) -> str | bool:
    """What ``requests`` gets as ``verify``: a bundle path, the system store, never False."""
    return bundle_for(purpose) or system_store()


def describe_store(purpose: str | None) -> str:
    """The trust in use, as an admin would name it."""
    bundle = bundle_for(purpose)
    if bundle:
        setting = "BRIDGE_CA_BUNDLE" if purpose == "jira" else "BRIDGE_ASANA_CA_BUNDLE"
        return f"{bundle} ({setting})"
    store = system_store()
    return f"the system trust store ({store})" if isinstance(store, str) \
        else "certifi's bundle (the system has no trust store)"


@dataclass(frozen=True)
class Presented:
    """The certificate a server presented (leaf only), for a diagnosis."""

    subject: str
    issuer: str
    not_after: dt.datetime | None
    names: tuple[str, ...]

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


def fetch_presented(host: str, port: int, *, timeout: float = 8.0) -> Presented | None:
    """Read the certificate ``host:port`` presents, to *name* it in an error message.

    The handshake is not verified (that is what failed), and the connection is closed
    right after it: no request is sent, nothing read from it is trusted or used beyond
    the names printed for the admin. ``None`` when even that fails.
    """
    from cryptography import x509

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # diagnosis only: see the docstring
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        names = tuple(cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
        names += tuple(str(ip) for ip in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        names = ()
    return Presented(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                     not_after=cert.not_valid_after_utc, names=names)


def _names_host(name: str, host: str) -> bool:
    """Whether a certificate name covers ``host`` as the TLS check reads it (RFC 6125
    §6.4): letter case aside, and ``*`` for exactly one whole left-most label (Python's
    ssl takes no partial wildcards such as ``j*``)."""
    name, host = name.lower().rstrip("."), host.lower().rstrip(".")
    if name == host:
        return True
    label, dot, rest = name.partition(".")
    return (label == "*" and bool(dot) and "." in rest
            and host.partition(".")[2] == rest and bool(host.partition(".")[0]))


def refusal_sentence(url_host: str, port: int, purpose: str | None, *,
                     timeout: float = 8.0) -> tuple[str, list[str]]:
    """A sentence (and detail lines) for a certificate the bridge refused."""
    presented = fetch_presented(url_host, port, timeout=timeout)
    store = describe_store(purpose)
    setting = "BRIDGE_CA_BUNDLE" if purpose != "asana" else "BRIDGE_ASANA_CA_BUNDLE"
    if presented is None:
        return (f"TLS to {url_host}:{port} failed and its certificate could not be read; "
                f"trusted CAs: {store}.", [])
    details = [f"certificate: {presented.subject}", f"issued by: {presented.issuer}",
               f"trusted CAs: {store}"]
    if presented.names:
        details.append("names: " + ", ".join(presented.names))
    now = dt.datetime.now(dt.UTC)
    if presented.not_after is not None and presented.not_after < now:
        return (f"{url_host}'s certificate ({presented.subject}) expired on "
                f"{presented.not_after:%Y-%m-%d}.", details)
    if presented.names and not any(_names_host(n, url_host) for n in presented.names):
        return (f"{url_host}'s certificate ({presented.subject}) is not made out for that "
                f"name (it names {', '.join(presented.names)}).", details)
    if presented.self_signed:
        return (f"{url_host}'s certificate ({presented.subject}) is self-signed and not in the "
                f"CAs the bridge trusts ({store}). Put it in a PEM file and set {setting} to "
                "it.", details)
    return (f"{url_host}'s certificate ({presented.subject}, issued by {presented.issuer}) is "
            f"not signed by a CA the bridge trusts ({store}). Put your CA's certificate in a "
            f"PEM file and set {setting} to it.", details)
