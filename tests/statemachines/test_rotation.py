"""Certificate rotation: an operator authorises a successor; its JITR swaps it in; every region retires the old one.

A legitimate rotation is defined as: the inventory item's ``PendingCertificateId`` holds the new certificate's id
(written by an operator) when the new certificate's JITR runs. Any other certificate claiming the name is an impostor.
"""
from __future__ import annotations

import pytest

from localcloud.statemachines.harness import deliver, stream_record

EU, US = "eu-west-1", "us-west-2"
OTHER = {EU: US, US: EU}


def registered_in_both(cloud, ca, name):
    old = ca.device(name)
    assert cloud.jitr(EU, old).status == "SUCCEEDED"
    cloud.replicate_table(EU, US)
    assert [r.status for r in deliver(cloud, US, stream_record(US, cloud.item(US, name), "INSERT"))] == ["SUCCEEDED"]
    return old


def authorise(cloud, name, new):
    item = cloud.item(EU, name)
    item["PendingCertificateId"] = {"S": new.certificate_id}
    cloud.put_item(EU, item)
    cloud.replicate_table(EU, US)
    for region in (EU, US):  # the operator's change starts nothing
        assert deliver(cloud, region, stream_record(region, item, "MODIFY")) == []


@pytest.mark.parametrize("rotating_region", [EU, US])
def test_an_authorised_successor_replaces_the_old_certificate_in_every_region(cloud, ca, rotating_region):
    name = f"gateway-{rotating_region}"
    old = registered_in_both(cloud, ca, name)
    new = ca.device(name)
    authorise(cloud, name, new)

    run = cloud.jitr(rotating_region, new)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    item = cloud.item(rotating_region, name)
    assert item["CertificateId"]["S"] == new.certificate_id
    assert item["PreviousCertificateId"]["S"] == old.certificate_id
    assert item["PendingCertificateId"]["S"] == ""
    assert item["OriginRegion"]["S"] == rotating_region
    assert item["CertificatePem"]["S"] == new.pem

    # the rotation's stream record, in the rotating region's stream and (replicated) in the other one
    cloud.replicate_table(rotating_region, OTHER[rotating_region])
    for region in (EU, US):
        runs = deliver(cloud, region, stream_record(region, item, "MODIFY"))
        assert [r.status for r in runs] == ["SUCCEEDED"], region
        new_cert, old_cert = cloud.certificate(region, new.certificate_id), cloud.certificate(region, old.certificate_id)
        assert new_cert["status"] == "ACTIVE", region
        assert old_cert["status"] == "REVOKED", region
        assert cloud.principals(region, name) == [new_cert["certificateArn"]], region
        assert cloud.policies(region, new_cert["certificateArn"]) == ["iotmr-device"], region
        assert cloud.policies(region, old_cert["certificateArn"]) == [], region


def test_a_successor_that_was_not_authorised_is_an_impostor(cloud, ca):
    registered_in_both(cloud, ca, "gateway-x")
    run = cloud.jitr(US, ca.device("gateway-x"))
    assert (run.status, run.error) == ("FAILED", "ImpostorCertificateRejected")
