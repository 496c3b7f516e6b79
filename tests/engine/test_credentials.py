"""The worker's Faust credentials come from the same TLS/SASL settings as the client's."""

from __future__ import annotations

import ssl

import faust

from streams.engine.app import faust_settings
from streams.settings import Settings


def credentials(**settings: str) -> object:
    return faust_settings(Settings(**settings))["broker_credentials"]


def test_plaintext_has_none() -> None:
    assert credentials() is None


def test_ssl_checks_certificates_and_hostnames() -> None:
    found = credentials(broker_security_protocol="SSL")
    assert isinstance(found, faust.SSLCredentials)
    assert found.context.verify_mode is ssl.CERT_REQUIRED
    assert found.context.check_hostname


def test_sasl_ssl_carries_the_mechanism_the_user_and_tls() -> None:
    found = credentials(
        broker_security_protocol="SASL_SSL",
        broker_sasl_mechanism="SCRAM-SHA-512",
        broker_sasl_username="svc",
        broker_sasl_password="s3cret",
    )
    assert isinstance(found, faust.SASLCredentials)
    assert (found.mechanism.value, found.username, found.password) == (
        "SCRAM-SHA-512",
        "svc",
        "s3cret",
    )
    assert found.ssl_context is not None and found.ssl_context.check_hostname
