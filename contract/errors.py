"""Error names the Lambdas raise and the state machines catch (``ErrorEquals``) or end with (``Fail``).

A Python Lambda's error reaches Step Functions as the exception's class name (the ``errorType`` of the function's
error response: https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html), which a Catch or Retry
matches exactly (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). So each name
below is the name of an exception class in the function that raises it (tests/unit/test_contract.py checks every
one) and the string the machine in ``builders/asl`` matches: rename one side only and the catch silently stops
matching.
"""
from __future__ import annotations

# ---- the certificate inspector (functions/certificate_inspector: inspector.py, lease.py, checks.py, claim.py) ----
REGISTRATION_IN_PROGRESS = "RegistrationInProgress"  # a duplicate JITR execution (the lease is held)
INVALID_JITR_EVENT = "InvalidJitrEvent"  # refused before the lease is taken
CERTIFICATE_ID_MISMATCH = "CertificateIdMismatch"
THING_NAME_CLAIMED = "ThingNameClaimedByAnotherCertificate"  # an impostor
#: The impostor error's message (the Lambda error's ``errorMessage``, inside the Step Functions ``Cause``) is a JSON
#: object with these fields: the JITR machine reads the thing name back from it (builders/asl/jitr.py), since its
#: catch route has no inspector result; ``Reason`` says it in words.
IMPOSTOR_CLAIM_FIELDS = ("ThingName", "CertificateId", "OwnerCertificateId", "Reason")
INVALID_THING_NAME = "InvalidThingName"
UNEXPECTED_ISSUER = "UnexpectedIssuer"
DEVICE_DECOMMISSIONED = "DeviceDecommissioned"  # also the JITP recorder machine's Fail
FLEET_CERTIFICATE_NOT_ADMITTED = "FleetCertificateNotAdmitted"
CLAIM_LOST = "ClaimLost"
CERTIFICATE_NOT_VALID_NOW = "CertificateNotValidNow"
NOT_A_CLIENT_CERTIFICATE = "NotAClientCertificate"
CERTIFICATE_REVOKED_BY_CA = "CertificateRevokedByCa"

#: The certificate checks' verdicts (``checks.CertificateRefused`` subclasses).
CERTIFICATE_CHECK_REFUSALS = (CERTIFICATE_NOT_VALID_NOW, NOT_A_CLIENT_CERTIFICATE, CERTIFICATE_REVOKED_BY_CA)
#: Certificates that can never be registered: the JITR machine revokes them.
REJECTED = (INVALID_THING_NAME, UNEXPECTED_ISSUER, DEVICE_DECOMMISSIONED, *CERTIFICATE_CHECK_REFUSALS)
#: Every name the inspector raises on purpose, by the module that defines its class.
INSPECTOR = {
    "inspector": (INVALID_JITR_EVENT, CERTIFICATE_ID_MISMATCH, THING_NAME_CLAIMED, INVALID_THING_NAME,
                  UNEXPECTED_ISSUER, DEVICE_DECOMMISSIONED, FLEET_CERTIFICATE_NOT_ADMITTED),
    "lease": (REGISTRATION_IN_PROGRESS,),
    "claim": (CLAIM_LOST,),
    "checks": CERTIFICATE_CHECK_REFUSALS,
}

# ---- the pacer (functions/pacer/pacing.py) -------------------------------------------------------------------
PACING_CONTENTION = "PacingContention"  # worth a quick retry (builders/asl/pacing.py)

# ---- raised by the machines themselves (Fail states and Pass results) ----------------------------------------
IMPOSTOR_CERTIFICATE_REJECTED = "ImpostorCertificateRejected"
THING_OWNED_BY_ANOTHER_CERTIFICATE = "ThingOwnedByAnotherCertificate"
