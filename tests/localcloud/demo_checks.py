"""What the demo's second deployment (provisioning jitr + fleet) must show, whoever runs it: the full demo
(tests/localcloud/test_e2e_commands.py) and its story with every speed-up off (test_demo_second_deployment.py)."""

from __future__ import annotations

from localcloud.demo import SECOND_PROVISIONING, DemoResult
from pki.claim import COMMON_NAME as CLAIM_CN

KINDS = {"fleet-sensor-01": "fleet by claim"}


def check_second_deployment(second: DemoResult | None) -> None:
    """One fleet device, ACTIVE in every region with their thing and the device policy, in the
    inventory under the same certificate everywhere; the claim registered everywhere but no device."""
    assert second is not None, "the demo ran no second deployment"
    assert second.provisioning == SECOND_PROVISIONING == ("jitr", "fleet")
    regions = sorted(second.regions)
    assert [(d.name, sorted(d.worked_in)) for d in second.devices] == [(name, regions) for name in KINDS], \
        [(d.name, d.results) for d in second.devices]
    for device in second.devices:
        assert device.role.startswith(KINDS[device.name]), device.role
    for name in KINDS:
        ids = set()
        for region in regions:
            (view,) = second.registered(region, name)
            assert (view.status, view.things, view.policies) == ("ACTIVE", (name,), (f"{second.application}-device",))
            assert second.inventory[region][name] == view.certificate_id
            ids.add(view.certificate_id)
        assert len(ids) == 1, f"{name}: one certificate, replicated to every region"
    for region in regions:
        (claim,) = second.registered(region, CLAIM_CN)
        assert (claim.status, claim.things, claim.policies) == ("ACTIVE", (), (f"{second.application}-fleet-claim",))
        assert set(second.inventory[region]) == set(KINDS)  # the claim is no device: not in the inventory
        assert claim.certificate_id not in second.inventory[region].values()
    assert second.dead_letters == {region: 0 for region in second.regions}
