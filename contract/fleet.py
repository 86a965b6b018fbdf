"""Fleet provisioning's markers: what the template, the device, the certificate provider, the pre-provisioning hook
and the JITR inspector must agree on (docs/design.md, "Fleet provisioning by claim").

- :data:`SERIAL_NUMBER`: the template parameter naming the device (= the thing name = the allow-list's
  ``ThingName``): the template names the thing from it (``builders/fleet.py``), the device sends it with
  RegisterThing (``device/fleet.py``), the hook admits it (``functions/fleet_provisioning/hook.py``).
- :data:`FLEET_POLICY_OID`: the certificate policy every certificate the fleet certificate provider issues carries
  (``functions/fleet_provisioning/proof.py`` adds it). An OID in the UUID arc 2.25 (ITU-T X.667), which needs no
  registration. The JITR inspector refuses to activate such a certificate unless the inventory already names it
  (``functions/certificate_inspector/inspector.py``), and the hook admits no other (:func:`is_fleet_issued`).
- The claim's MQTT client ids start with ``contract.names.CLAIM_PREFIX`` (reserved for it).

The claim, the CSR proof's wire format and the provisioning template are otherwise AWS's
(https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html) or ``contract/proofs.py``.
"""
from __future__ import annotations

from typing import Any

SERIAL_NUMBER = "SerialNumber"
#: The certificate policy of every certificate the fleet certificate provider issues (2.25 = UUID arc, X.667).
FLEET_POLICY_OID = "2.25.23466982737251781874461193425899130476"
#: id-ce-certificatePolicies (RFC 5280 section 4.2.1.4).
CERTIFICATE_POLICIES_OID = "2.5.29.32"


def is_fleet_issued(certificate: Any) -> bool:
    """Whether the fleet certificate provider issued ``certificate`` (a ``cryptography.x509.Certificate``; read
    through its ``extensions``, so this package imports no cryptography): it carries :data:`FLEET_POLICY_OID`."""
    for extension in certificate.extensions:
        if extension.oid.dotted_string == CERTIFICATE_POLICIES_OID:
            return any(policy.policy_identifier.dotted_string == FLEET_POLICY_OID for policy in extension.value)
    return False
