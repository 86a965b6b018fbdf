"""Refuses to create the account's certificate provider while another one exists.

AWS: "You can only create one certificate provider per AWS account. The signing behavior change applies to the
entire fleet that calls the CreateCertificateFromCsr MQTT API until you delete the certificate provider from your
AWS account" (https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html). So the primary
stack owns it (components/fleet_provisioning.py), and before it is created this dynamic resource's ``check`` lists
the certificate providers (``ListCertificateProviders``) in **every region of the partition where IoT exists**
(botocore's endpoint data, ``Session.get_available_regions("iot", partition)``, plus the deployment's regions) and
fails the preview (or the update) naming each other one it finds and what to do:

* ours in another region of the deployment: an earlier version of this program made one per regional stack;
  ``pulumi up`` that stack first (it deletes its own);
* any other (a region outside the deployment included): another deployment's, a removed region's or made by hand;
  every CreateCertificateFromCsr of the account goes through it, so it must be deleted
  (``aws iot delete-certificate-provider``) once nothing relies on it, or fleet turned off here.

A region outside the deployment that answers ``UnrecognizedClientException`` or ``InvalidClientTokenId`` is an
opt-in region not enabled for the account ("Regions launched after March 20, 2019 are disabled by default",
https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html; disabling one "will remove all IAM
access to any resources that reside in that Region", DisableRegion; a disabled region does not accept the account's
credentials) and holds nothing: it is skipped. Every other error fails closed, AccessDenied included
(a region-deny SCP must exempt ``iot:ListCertificateProviders``), and so does any error in the deployment's own
regions, whose answers prove the credentials valid.

It lists with the deploying principal's own credentials (boto3's default chain, or ``aws:profile``), which need
``iot:ListCertificateProviders``; nothing else is called, and its state holds only the names below. The calls run
8 at a time (about 25 regions in the aws partition: a second or two per preview). The provider class is made inside
a function so that dill serializes it by value (components/canary_key.py says why).
"""
from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi.dynamic import Resource, ResourceProvider


def guard_class() -> type[ResourceProvider]:
    from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, UpdateResult

    class CertificateProviderGuard(ResourceProvider):
        """check: no certificate provider but ours (``providerName`` in ``ownerRegion``) in any IoT region of the
        partition (``regions``: the deployment's, always listed; an error there is never skipped)."""

        #: Error codes of a region not enabled for the account (an opt-in region): it cannot hold a provider.
        NOT_ENABLED = ("UnrecognizedClientException", "InvalidClientTokenId")
        PARALLEL = 8

        @staticmethod
        def conflicts(found: dict, owner_region: str, provider_name: str, regions=None) -> list:
            """The problems in ``found`` (region -> provider names), each naming the provider and the fix.
            ``regions``: the deployment's (None: every region of ``found`` is the deployment's)."""
            problems = []
            for region, names in sorted(found.items()):
                for name in sorted(names):
                    if region == owner_region and name == provider_name:
                        continue
                    if name == provider_name and (regions is None or region in regions):
                        problems.append(
                            f"{name} in {region} was made by an earlier version of this program (one per regional "
                            f"stack): run `pulumi up --stack {region}` first, which deletes it")
                    else:
                        problems.append(
                            f"{name} in {region} is not this deployment's: every CreateCertificateFromCsr of the "
                            "account goes through it; delete it once nothing relies on it (`aws iot "
                            f"delete-certificate-provider --certificate-provider-name {name} --region {region}`), "
                            "or turn fleet off (`pulumi config set provisioning jitr`)")
            return problems

        @staticmethod
        def partition_regions(session, owner_region: str) -> list:
            """Every region of ``owner_region``'s partition where botocore's endpoint data has IoT."""
            from botocore.loaders import Loader

            partition = next(p["id"] for p in Loader().load_data("partitions")["partitions"]
                             if owner_region in p.get("regions", {}))
            return list(session.get_available_regions("iot", partition_name=partition))

        @classmethod
        def listing(cls, props: dict) -> dict:
            """region -> the certificate providers there (ListCertificateProviders, every page), for every IoT region
            of the partition; a region outside the deployment that is not enabled for the account is left out."""
            from concurrent.futures import ThreadPoolExecutor

            import boto3
            from botocore.exceptions import ClientError

            session = boto3.Session(profile_name=props.get("profile") or None)
            ours = list(props["regions"])
            regions = ours + sorted(set(cls.partition_regions(session, props["ownerRegion"])) - set(ours))
            clients = {region: session.client("iot", region_name=region) for region in regions}  # not thread-safe

            def names_in(region):
                client, names, token = clients[region], [], None
                try:
                    while True:
                        page = client.list_certificate_providers(**({"nextToken": token} if token else {}))
                        names += [p["certificateProviderName"] for p in page.get("certificateProviders", [])]
                        token = page.get("nextToken")
                        if not token:
                            return names
                except ClientError as error:
                    if region not in ours and error.response.get("Error", {}).get("Code") in cls.NOT_ENABLED:
                        return None  # an opt-in region the account has not enabled: nothing can be there
                    raise RuntimeError(f"{region}: {error}") from error
                except Exception as error:
                    raise RuntimeError(f"{region}: {error}") from error

            with ThreadPoolExecutor(max_workers=cls.PARALLEL) as pool:
                answers = dict(zip(regions, pool.map(names_in, regions), strict=True))
            return {region: names for region, names in answers.items() if names is not None}

        def check(self, _olds: dict, news: dict) -> CheckResult:
            try:
                found = self.listing(news)
            except Exception as error:  # noqa: BLE001 - any failure to list is reported, never ignored
                return CheckResult(news, [CheckFailure("regions", (
                    "cannot list the account's certificate providers (AWS allows one per account, so every region "
                    f"of the partition is listed) with the deploying principal's credentials: {error}; it needs "
                    "iot:ListCertificateProviders in every IoT region of the partition (a region-deny SCP must "
                    "exempt that action)"))])
            problems = self.conflicts(found, news["ownerRegion"], news["providerName"], news["regions"])
            if problems:
                return CheckResult(news, [CheckFailure("regions", (
                    "AWS allows one certificate provider per account "
                    "(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html) and "
                    f"{news['providerName']} would be a second: " + "; ".join(problems)))])
            return CheckResult(news, [])

        def create(self, props: dict) -> CreateResult:
            return CreateResult(id_=f"{props['ownerRegion']}/{props['providerName']}", outs=props)

        def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
            return DiffResult(changes=olds != news, replaces=[], stables=[], delete_before_replace=False)

        def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
            return UpdateResult(outs=news)

        def delete(self, _id: str, _props: dict) -> None:
            """Nothing: the guard creates nothing in AWS."""

    return CertificateProviderGuard


class CertificateProviderGuard(Resource, module="fleet", name="CertificateProviderGuard"):
    """Fails the deployment's check while a certificate provider other than ``provider_name`` in ``owner_region``
    exists in any IoT region of the partition (``regions``: the deployment's)."""

    def __init__(self, name: str, *, regions: Sequence[str], owner_region: str, provider_name: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(guard_class()(), name, {
            "regions": list(regions), "ownerRegion": owner_region, "providerName": provider_name,
            "profile": pulumi.Config("aws").get("profile")}, opts)
