"""Pipe filters, bus rule patterns and the input transformer: which region does what for which change."""
from __future__ import annotations

import json

import pytest

from builders import inventory as inv

from localcloud.statemachines.harness import render_input, routed_machines, stream_record

EU, US = "eu-west-1", "us-west-2"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\"quoted\"\\x\n-----END CERTIFICATE-----\n"


def item(**overrides):
    values = dict(thing_name="t-1", certificate_id="a" * 64, certificate_pem=PEM, ca_certificate_id="c" * 64,
                  origin_region=EU, registered_at="2025-01-01T00:00:00Z")
    values.update(overrides)
    return inv.item(**values)


def test_a_new_device_is_replicated_everywhere_but_its_origin():
    record = stream_record(EU, item(), "INSERT")
    assert routed_machines(EU, record)[0] == []  # the origin region does no work
    machines, payload = routed_machines(US, record)
    assert machines == ["replication"]
    assert payload == inv.flat_item(item(), "INSERT")


def test_the_same_record_seen_in_the_other_replicas_stream_is_routed_the_same():
    # a replica's stream also carries writes replicated from elsewhere: routing depends on OriginRegion only
    assert routed_machines(US, stream_record(US, item(origin_region=EU), "INSERT"))[0] == ["replication"]
    assert routed_machines(EU, stream_record(EU, item(origin_region=US), "MODIFY"))[0] == ["replication"]


def test_an_operator_authorising_a_rotation_starts_nothing():
    record = stream_record(EU, item(pending_certificate_id="b" * 64), "MODIFY")
    assert routed_machines(EU, record)[0] == [] and routed_machines(US, record)[0] == []


def test_a_rotation_is_replicated_elsewhere_and_retired_at_its_origin_too():
    record = stream_record(US, item(origin_region=US, certificate_id="b" * 64, previous_certificate_id="a" * 64), "MODIFY")
    assert routed_machines(EU, record)[0] == ["replication"]
    assert routed_machines(US, record)[0] == ["replication"]


def test_a_decommission_runs_in_every_region_including_the_origin():
    record = stream_record(EU, item(status="REVOKED"), "MODIFY")
    for region in (EU, US):
        assert routed_machines(region, record)[0] == ["decommission"]


def test_deletes_and_revoked_inserts_start_nothing():
    assert routed_machines(US, stream_record(US, item(), "REMOVE"))[0] == []
    assert routed_machines(US, stream_record(US, item(status="REVOKED"), "INSERT"))[0] == []


@pytest.mark.parametrize("region", [EU, US, "ap-southeast-2"])
def test_pipe_filters_respect_the_pipes_limits(region):
    filters = inv.pipe_filters(region)
    assert 1 <= len(filters) <= 5
    assert all(len(json.dumps(f)) <= 4096 for f in filters)


def test_the_input_transformer_yields_the_flat_item_with_pem_newlines_intact():
    paths, template = inv.item_input_transformer()
    assert set(paths) == set(inv.ATTRIBUTES) | {"EventName", "OldCertificateId"}
    assert '"<' not in template  # placeholders unquoted: EventBridge inserts JSON-escaped strings
    flat = render_input({"detail": stream_record(EU, item(), "INSERT")})
    assert flat["CertificatePem"] == PEM
    assert flat.pop("OldCertificateId") is None  # an INSERT has no old image: EventBridge renders null
    assert all(isinstance(value, str) for value in flat.values())
    modified = render_input({"detail": stream_record(EU, item(), "MODIFY", old=item(certificate_id="c" * 64))})
    assert modified["OldCertificateId"] == "c" * 64


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="region"):
        inv.pipe_filters("")
    with pytest.raises(ValueError, match="source"):
        inv.replicate_rule_pattern(" ")
    with pytest.raises(ValueError, match="status"):
        item(status="DELETED")
