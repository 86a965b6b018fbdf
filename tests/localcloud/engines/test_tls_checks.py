"""localcloud.services.iot.tls_checks: the handshake refuses client certificates outside their validity window."""

from __future__ import annotations

import datetime

import pytest
from engine_support import make_ca, make_device

from localcloud.services.iot.core import ConnectionRefused
from localcloud.services.iot.tls_checks import HandshakeRefused, check_client_certificate

DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def certificate():
    return make_device(make_ca(), "dev-1").certificate  # valid from 1 day ago for 30 days


def test_a_certificate_inside_its_window_passes(certificate):
    check_client_certificate(certificate)
    check_client_certificate(certificate, certificate.not_valid_before_utc)
    check_client_certificate(certificate, certificate.not_valid_after_utc)


def test_an_expired_certificate_fails_the_handshake(certificate):
    with pytest.raises(HandshakeRefused, match=r"TLS handshake failed: .* expired on"):
        check_client_certificate(certificate, certificate.not_valid_after_utc + datetime.timedelta(seconds=1))


def test_a_not_yet_valid_certificate_fails_the_handshake(certificate):
    with pytest.raises(HandshakeRefused, match="is not valid before"):
        check_client_certificate(certificate, certificate.not_valid_before_utc - DAY)


def test_the_broker_chooses_the_error_it_raises(certificate):
    with pytest.raises(ConnectionRefused) as refused:
        check_client_certificate(certificate, certificate.not_valid_after_utc + DAY, error=ConnectionRefused)
    assert "expired on" in refused.value.reason
