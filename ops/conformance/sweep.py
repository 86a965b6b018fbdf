"""Find what earlier conformance runs left behind (an interrupted process, a kill): by name and tag.

A resource is the kit's when its name carries a run id (``iotmr-conf-<8 hex>-``, rules ``iotmr_conf_<8 hex>_``) and,
where the resource takes tags and they can be read, its ``iotmr:conformance-run`` tag names the same run; a named
resource whose tags say otherwise is left alone and reported. Things are found by their
``iotmr_conformance_run`` attribute, certificates through the run's IoT policies (every certificate the kit makes
has one attached) and its CAs. Listing needs only ``List*``/``Describe*`` permissions; a listing that is refused is
reported, not fatal.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ops.clients import error_code
from ops.conformance import resources as res
from ops.conformance.resources import TAG_KEY, Tracker, run_of
from ops.conformance.world import World


@dataclass
class Sweep:
    """What was found (a tracker holding its deletions, oldest dependency first) and what could not be looked at."""

    found: Tracker = field(default_factory=Tracker)
    runs: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)  # named like the kit's but tagged otherwise
    notes: list[str] = field(default_factory=list)  # listings that failed

    def add(self, run: str, kind: str, name: str, region: str, delete: Callable[[], None]) -> None:
        if any(r.kind == kind and r.name == name and r.region == region for r in self.found.items):
            return
        self.runs.add(run)
        self.found.add(kind, name, region, delete)


def _tag(tags: Any) -> str | None:
    """The run tag in any of the services' tag shapes (list of Key/Value or key/value, or a map)."""
    if isinstance(tags, dict):
        return tags.get(TAG_KEY)
    for tag in tags or []:
        if (tag.get("Key") or tag.get("key")) == TAG_KEY:
            return tag.get("Value") if "Value" in tag else tag.get("value")
    return None


def _mine(run: str, read_tags: Callable[[], Any]) -> bool:
    """The resource's tag names ``run``; tags that cannot be read leave the name to decide."""
    try:
        return _tag(read_tags()) == run
    except (ClientError, NotImplementedError, KeyError):
        return True


def _pages(client: Any, operation: str, key: str, **request: Any) -> Iterator[Any]:
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**request):
            yield from page.get(key, [])
    else:
        yield from getattr(client, operation)(**request).get(key, [])


def _common_name(pem: str) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        names = x509.load_pem_x509_certificate(pem.encode("ascii")).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    return str(names[0].value) if names else ""


def find(world: World, wanted: Callable[[str], bool]) -> Sweep:
    """Every kit resource of a run ``wanted(run id)`` accepts, in the run's region and partner region (IAM: global)."""
    sweep = Sweep()

    def listing(what: str, body: Callable[[], None]) -> None:
        try:
            body()
        except ClientError as error:
            sweep.notes.append(f"could not list {what}: {error_code(error)}")
        except NotImplementedError:
            sweep.notes.append(f"could not list {what}: not available here")

    def consider(kind: str, name: str, region: str, read_tags: Callable[[], Any] | None,
                 delete: Callable[[], None], shown: str | None = None) -> None:
        run = run_of(name)
        if run is None or not wanted(run):
            return
        if read_tags is not None and not _mine(run, read_tags):
            sweep.skipped.append(f"{kind} {name} ({region}): named like the kit's but not tagged {TAG_KEY}={run}")
            return
        sweep.add(run, kind, shown or name, region, delete)

    iam = world.client("iam")

    def roles() -> None:
        for role in _pages(iam, "list_roles", "Roles", PathPrefix=res.ROLE_PATH):
            name = role["RoleName"]
            consider("IAM role", name, "global", lambda n=name: iam.list_role_tags(RoleName=n)["Tags"],
                     lambda n=name: res.delete_role(world, n))

    listing("IAM roles", roles)
    for region in dict.fromkeys((world.region, world.partner_region)):
        _region(world, region, consider, listing, wanted, sweep)
    return sweep


def _region(world: World, region: str, consider: Any, listing: Any, wanted: Callable[[str], bool],
            sweep: Sweep) -> None:
    iot, lambda_ = world.client("iot", region), world.client("lambda", region)
    dynamodb, sqs = world.client("dynamodb", region), world.client("sqs", region)

    def iot_tags(arn: str) -> Callable[[], Any]:
        return lambda: iot.list_tags_for_resource(resourceArn=arn)["tags"]

    def functions() -> None:
        for function in _pages(lambda_, "list_functions", "Functions"):
            name, arn = function["FunctionName"], function["FunctionArn"]
            consider("Lambda function", name, region, lambda a=arn: lambda_.list_tags(Resource=a)["Tags"],
                     lambda n=name: lambda_.delete_function(FunctionName=n))

    def tables() -> None:
        for name in _pages(dynamodb, "list_tables", "TableNames"):
            if run_of(name) is None:
                continue
            consider("DynamoDB table", name, region,
                     lambda n=name: dynamodb.list_tags_of_resource(
                         ResourceArn=dynamodb.describe_table(TableName=n)["Table"]["TableArn"])["Tags"],
                     lambda n=name: dynamodb.delete_table(TableName=n))

    def queues() -> None:
        for url in sqs.list_queues(QueueNamePrefix=res.NAME_PREFIX).get("QueueUrls", []):
            consider("SQS queue", url.rsplit("/", 1)[-1], region,
                     lambda u=url: sqs.list_queue_tags(QueueUrl=u).get("Tags", {}),
                     lambda u=url: sqs.delete_queue(QueueUrl=u))

    def rules() -> None:
        for rule in _pages(iot, "list_topic_rules", "rules"):
            name = rule["ruleName"]
            consider("IoT topic rule", name, region, iot_tags(rule["ruleArn"]),
                     lambda n=name: iot.delete_topic_rule(ruleName=n))

    def domain_configurations() -> None:
        for configuration in _pages(iot, "list_domain_configurations", "domainConfigurations"):
            name = configuration["domainConfigurationName"]
            consider("IoT domain configuration", name, region, iot_tags(configuration["domainConfigurationArn"]),
                     lambda n=name: res.delete_domain_configuration(world, region, n))

    def templates() -> None:
        for name in world.provisioning_templates(region):
            consider("IoT provisioning template", name, region, None,
                     lambda n=name: world.delete_provisioning_template(region, n))

    def providers() -> None:
        for name in world.certificate_providers(region):
            consider("IoT certificate provider", name, region, None,
                     lambda n=name: world.delete_certificate_provider(region, n))

    def cas() -> None:  # a CA's id carries no name: its subject's CN does (ops.conformance.resources.ca_certificate)
        for ca_id, ca_arn in world.ca_certificates(region):
            pem = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["certificatePem"]
            consider("IoT CA certificate", _common_name(pem), region, iot_tags(ca_arn),
                     lambda c=ca_id: res.delete_ca_certificate(world, region, c), shown=ca_id)

    def policies() -> None:  # each policy, then the certificates it is attached to, then their things
        for policy in _pages(iot, "list_policies", "policies"):
            name = policy["policyName"]
            run = run_of(name)
            if run is None or not wanted(run):
                continue
            consider("IoT policy", name, region, iot_tags(policy["policyArn"]),
                     lambda n=name: res.delete_policy(world, region, n))
            for target in _pages(iot, "list_targets_for_policy", "targets", policyName=name):
                if ":cert/" not in target:
                    continue
                certificate_id = target.rsplit("/", 1)[-1]
                sweep.add(run, "IoT certificate", certificate_id, region,
                          lambda c=certificate_id: res.delete_certificate(world, region, c))
                for thing in _pages(iot, "list_principal_things", "things", principal=target):
                    if run_of(thing) == run:
                        sweep.add(run, "IoT thing", thing, region, lambda t=thing: res.delete_thing(world, region, t))

    def things() -> None:
        for thing in _pages(iot, "list_things", "things", attributeName=res.THING_ATTRIBUTE, attributeValue="run-",
                            usePrefixAttributeValue=True):
            run = (thing.get("attributes") or {}).get(res.THING_ATTRIBUTE, "")[len("run-"):]
            if run_of(thing["thingName"]) == run and wanted(run):
                sweep.add(run, "IoT thing", thing["thingName"], region,
                          lambda t=thing["thingName"]: res.delete_thing(world, region, t))

    for what, body in (("Lambda functions", functions), ("DynamoDB tables", tables), ("SQS queues", queues),
                       ("IoT topic rules", rules), ("IoT domain configurations", domain_configurations),
                       ("IoT provisioning templates", templates), ("IoT certificate providers", providers),
                       ("IoT CA certificates", cas), ("IoT policies", policies), ("IoT things", things)):
        listing(f"{what} in {region}", body)
