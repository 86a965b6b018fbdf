"""The events on the buses: who puts them and who matches them must spell the source and detail type alike.

The device bus (``<application>-devices``; source ``<application>.devices``: ``contract.resources.Names.event_source``)
    - :data:`INVENTORY_CHANGE`: each region's pipe forwards an inventory stream record (``builders/inventory.py``
      routes it, ``components/replication.py`` sets it as the pipe target's detail type); the replicate and
      decommission rules match it.
    - :data:`IMPOSTOR_REJECTED`: the JITR and JITP recorder machines quarantined a certificate claiming a name that
      another certificate owns (``builders/asl/jitr.py``, ``builders/asl/provisioned.py``).
    - :data:`OWNERSHIP_CONFLICT`, :data:`OWNERSHIP_ENFORCED`, :data:`REPLICATION_FAILED`: the replicate machine
      (``builders/asl/replication.py``); :data:`DECOMMISSION_FAILED`: the decommission machine
      (``builders/asl/decommission.py``). Operators subscribe to these (docs/design.md, "Alarms and events").

The default bus (AWS's)
    Step Functions publishes a Standard workflow's status changes with source :data:`EXECUTION_STATUS_SOURCE` and
    detail type :data:`EXECUTION_STATUS_DETAIL_TYPE`
    (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html): the failed-executions rule matches them
    (``builders/failures.py``) and ``python -m ops dead-letters`` reads them back (``ops/dead_letters.py``).
"""
from __future__ import annotations

INVENTORY_CHANGE = "DeviceInventoryChange"
IMPOSTOR_REJECTED = "ImpostorCertificateRejected"
OWNERSHIP_CONFLICT = "DeviceOwnershipConflict"
OWNERSHIP_ENFORCED = "ThingOwnershipEnforced"
REPLICATION_FAILED = "DeviceReplicationFailed"
DECOMMISSION_FAILED = "DeviceDecommissionFailed"

EXECUTION_STATUS_SOURCE = "aws.states"
EXECUTION_STATUS_DETAIL_TYPE = "Step Functions Execution Status Change"
