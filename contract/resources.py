"""Every physical name derives from the one ``application`` setting (``contract/names.py`` has its rule).

The program names its resources with :class:`Names` (``components/``, ``__main__.py``), and ``ops``, the local cloud
and the tests find them by the same names: a name derived anywhere else would drift. Was ``components/naming.py``
(which still hands :class:`Names` to the components) with ``rule_name`` from ``builders/iot_rules.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: S3 general purpose bucket names: 3 to 63 characters, lower-case letters, digits, '.' and '-', beginning and ending
#: with a letter or digit, and not starting with these prefixes
#: (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). The application rule refuses an
#: ``application`` with a reserved prefix (``contract.names.application_refusal``), since every bucket name starts
#: with it.
S3_BUCKET_MAX_LENGTH = 63
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
#: IoT topic rule names: 1-128 of [a-zA-Z0-9_] (AWS IoT API Reference, CreateTopicRule, ``ruleName``:
#: https://docs.aws.amazon.com/iot/latest/apireference/API_CreateTopicRule.html).
RULE_NAME_MAX_LENGTH = 128


def rule_name(application: str, purpose: str) -> str:
    """IoT rule names allow only letters, digits and underscores."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{application}_{purpose}")
    return name[:RULE_NAME_MAX_LENGTH]


@dataclass(frozen=True)
class Names:
    application: str

    def __call__(self, suffix: str) -> str:
        """Logical (and, where we set one, physical) name: ``<application>-<suffix>``."""
        return f"{self.application}-{suffix}"

    # Global tables keep one name in every region.
    @property
    def inventory_table(self) -> str:
        return self("device-inventory")

    @property
    def data_table(self) -> str:
        return self("data")

    @property
    def allow_list_table(self) -> str:
        """Enrolled devices, one entry per thing name, for every way in (docs/design.md, "The allow-list")."""
        return self("allow-list")

    # The provisioning API (regional).
    @property
    def provisioning_function(self) -> str:
        return self("provisioning-api")

    @property
    def provisioning_nonce_table(self) -> str:
        """The provisioning API's remembered nonces (TTL), one table per region."""
        return self("provisioning-nonces")

    # Regional names: the same in every region, because each region has its own namespace.
    @property
    def registration_lease_table(self) -> str:
        """Regional: one JITR execution per certificate at a time (functions/certificate_inspector/lease.py)."""
        return self("registration-leases")

    @property
    def pacing_table(self) -> str:
        """Regional: one queue per throttled AWS API (functions/pacer/pacing.py)."""
        return self("api-pacing")

    @property
    def pacer_function(self) -> str:
        return self("pacer")

    @property
    def device_policy(self) -> str:
        return self("device")

    @property
    def event_bus(self) -> str:
        return self("devices")

    @property
    def event_source(self) -> str:
        """The `source` of every event our pipes and state machines put on the bus."""
        return f"{self.application}.devices"

    @property
    def jitr_state_machine(self) -> str:
        return self("jitr")

    @property
    def replication_state_machine(self) -> str:
        return self("replicate-device")

    @property
    def decommission_state_machine(self) -> str:
        return self("decommission-device")

    @property
    def inspector_function(self) -> str:
        return self("certificate-inspector")

    @property
    def domain_configuration(self) -> str:
        return self("endpoint")

    @property
    def pipe(self) -> str:
        return self("inventory-changes")

    @property
    def replication_dead_letter_queue(self) -> str:
        """What the pipe and the replicate/decommission rule targets give up on lands here."""
        return self("replication-dlq")

    @property
    def failed_executions_rule(self) -> str:
        """Default-bus rule moving failed replicate/decommission executions into the dead-letter queue."""
        return self("failed-executions")

    @property
    def jitr_failure_alarm(self) -> str:
        """In alarm while just-in-time registrations fail (their devices retry; someone should look)."""
        return self("jitr-failures")

    @property
    def replication_dead_letter_alarm(self) -> str:
        """In alarm while the replication dead-letter queue holds a message."""
        return self("replication-dead-letters")

    @property
    def telemetry_error_queue(self) -> str:
        """The telemetry rule's error action sends every message it could not store here."""
        return self("telemetry-errors")

    @property
    def telemetry_error_alarm(self) -> str:
        """In alarm while the telemetry error queue holds a message."""
        return self("telemetry-errors")

    def replication_lag_alarm(self, receiving_region: str) -> str:
        """In alarm while this region's inventory changes take long to reach ``receiving_region`` (a regional name)."""
        return self(f"replication-lag-{receiving_region}")

    def dashboard(self, region: str) -> str:
        """The region's CloudWatch dashboard. Dashboards are global in an account, so the name carries the region."""
        return self(region)

    @property
    def jitr_rule(self) -> str:
        return rule_name(self.application, "jitr")

    @property
    def telemetry_rule(self) -> str:
        return rule_name(self.application, "store_telemetry")

    def certificate_store_bucket(self, region: str, account_id: str) -> str:
        """S3 names are global: region and account make it unique."""
        return self._bucket("certs", region, account_id)

    def crl_bucket(self, region: str, account_id: str) -> str:
        """The region's certificate revocation list bucket (S3 names are global)."""
        return self._bucket("crl", region, account_id)

    def _bucket(self, kind: str, region: str, account_id: str) -> str:
        """``<application>-<kind>-<region>-<account>``; when that is longer than S3 allows, the application is cut
        and followed by 8 hex digits of the full name's SHA-256, so region and account (what makes the name unique)
        are always whole and the name still ends with a digit. Names that fit are unchanged."""
        full = f"{self.application}-{kind}-{region}-{account_id}"
        if len(full) <= S3_BUCKET_MAX_LENGTH:
            return full
        tail = f"-{hashlib.sha256(full.encode()).hexdigest()[:8]}-{kind}-{region}-{account_id}"
        return self.application[:S3_BUCKET_MAX_LENGTH - len(tail)].rstrip("-") + tail

    @staticmethod
    def state_machine_log_group(machine: str) -> str:
        return f"/aws/vendedlogs/states/{machine}"

    @staticmethod
    def function_log_group(function: str) -> str:
        return f"/aws/lambda/{function}"
