"""The guard in front of the account's one certificate provider: its check lists the providers in every IoT region
of the partition (ListCertificateProviders, checked against botocore's model by a Stubber), skips an opt-in region
the account has not enabled, fails closed on any other error, and refuses, naming the fix, any provider but ours in
the owner's region."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from components.certificate_provider_guard import guard_class

OURS = "multi-region-iot-certificate-provider"
PROPS = {"regions": ["eu-west-1", "us-west-2"], "ownerRegion": "eu-west-1", "providerName": OURS, "profile": None}


def test_our_own_provider_in_the_owners_region_is_no_conflict():
    assert guard_class().conflicts({"eu-west-1": [OURS], "us-west-2": []}, "eu-west-1", OURS) == []


def test_ours_left_in_another_region_by_an_earlier_version_says_to_update_that_stack_first():
    (problem,) = guard_class().conflicts({"eu-west-1": [OURS], "us-west-2": [OURS]}, "eu-west-1", OURS)
    assert "us-west-2" in problem and "pulumi up --stack us-west-2" in problem


def test_anyone_elses_provider_is_named_with_the_command_that_deletes_it():
    (problem,) = guard_class().conflicts({"eu-west-1": ["legacy-signer"]}, "eu-west-1", OURS)
    assert "legacy-signer in eu-west-1" in problem
    assert "aws iot delete-certificate-provider --certificate-provider-name legacy-signer --region eu-west-1" in problem


def _stubbed_client(region: str, answer) -> object:
    """An IoT client whose calls are answered by a Stubber (which checks every request against botocore's model)."""
    client = boto3.client("iot", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    answer(stubber)
    stubber.activate()
    return client


def _pages(region: str, pages):
    def answer(stubber):
        for expected, names, token in pages:
            stubber.add_response("list_certificate_providers", {
                "certificateProviders": [{
                    "certificateProviderName": n,
                    "certificateProviderArn": f"arn:aws:iot:{region}:123456789012:certificateprovider/{n}"}
                    for n in names], **({"nextToken": token} if token else {})}, expected)
    return _stubbed_client(region, answer)


def _sessions(monkeypatch, clients: dict) -> list:
    """Sessions whose IoT clients are ``clients``; every other region of the partition answers an empty page."""
    asked = []

    class Session:
        def __init__(self, profile_name=None, region_name=None):
            pass

        def client(self, service, region_name=None):
            assert service == "iot"
            asked.append(region_name)
            return clients[region_name] if region_name in clients else _pages(region_name, [({}, [], None)])

        def get_available_regions(self, service, partition_name="aws"):
            return boto3.session.Session().get_available_regions(service, partition_name)

    monkeypatch.setattr(boto3, "Session", Session)
    return asked


def _error(region: str, code: str) -> object:
    return _stubbed_client(region, lambda stubber: stubber.add_client_error("list_certificate_providers", code, "no"))


def test_check_lists_every_page_of_every_region_and_refuses_a_second_provider(monkeypatch):
    _sessions(monkeypatch, {
        "eu-west-1": _pages("eu-west-1", [({}, [OURS], "page-2"), ({"nextToken": "page-2"}, [], None)]),
        "us-west-2": _pages("us-west-2", [({}, ["legacy-signer"], None)])})
    result = guard_class()().check({}, PROPS)
    assert [f.property for f in result.failures] == ["regions"]
    assert "one certificate provider per account" in result.failures[0].reason
    assert "legacy-signer in us-west-2" in result.failures[0].reason


def test_check_passes_when_only_ours_exists(monkeypatch):
    _sessions(monkeypatch, {"eu-west-1": _pages("eu-west-1", [({}, [OURS], None)]),
                            "us-west-2": _pages("us-west-2", [({}, [], None)])})
    assert guard_class()().check({}, PROPS).failures == []


def test_a_principal_that_cannot_list_gets_a_failure_naming_the_permission(monkeypatch):
    denied = lambda region: _stubbed_client(region, lambda stubber: stubber.add_client_error(
        "list_certificate_providers", "AccessDeniedException", "not allowed"))
    _sessions(monkeypatch, {"eu-west-1": denied("eu-west-1"), "us-west-2": denied("us-west-2")})
    result = guard_class()().check({}, PROPS)
    assert "iot:ListCertificateProviders" in result.failures[0].reason


def test_the_guard_finds_a_provider_in_a_region_outside_the_deployment(monkeypatch):
    """AWS: "one certificate provider per AWS account", so a provider in any region of the partition conflicts, not
    only in the deployment's regions (red team, issue 20)."""
    elsewhere = _pages("ap-southeast-2", [({}, ["another-teams-provider"], None)])
    asked = _sessions(monkeypatch, {"ap-southeast-2": elsewhere})
    result = guard_class()().check({}, PROPS)
    assert "another-teams-provider in ap-southeast-2" in result.failures[0].reason
    assert "--region ap-southeast-2" in result.failures[0].reason
    assert set(boto3.session.Session().get_available_regions("iot")) <= set(asked)
    assert not any(r.startswith(("cn-", "us-gov-")) for r in asked)


def test_ours_in_a_region_outside_the_deployment_is_not_called_an_earlier_versions():
    (problem,) = guard_class().conflicts({"eu-west-1": [OURS], "ap-southeast-2": [OURS]}, "eu-west-1", OURS,
                                         ["eu-west-1", "us-west-2"])
    assert "pulumi up --stack" not in problem and "delete-certificate-provider" in problem


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "InvalidClientTokenId"])
def test_an_opt_in_region_the_account_has_not_enabled_is_skipped(monkeypatch, code):
    _sessions(monkeypatch, {"ap-east-1": _error("ap-east-1", code), "me-south-1": _error("me-south-1", code)})
    assert guard_class()().check({}, PROPS).failures == []


def test_a_deployment_region_that_rejects_the_credentials_fails_closed(monkeypatch):
    _sessions(monkeypatch, {"us-west-2": _error("us-west-2", "UnrecognizedClientException")})
    (failure,) = guard_class()().check({}, PROPS).failures
    assert "us-west-2" in failure.reason and "iot:ListCertificateProviders" in failure.reason


def test_access_denied_outside_the_deployment_fails_closed_naming_the_scp(monkeypatch):
    _sessions(monkeypatch, {"sa-east-1": _error("sa-east-1", "AccessDeniedException")})
    (failure,) = guard_class()().check({}, PROPS).failures
    assert "sa-east-1" in failure.reason and "region-deny SCP" in failure.reason
