"""Run the real Pulumi program (``__main__.py``) for one stack under Pulumi mocks, in-process.

Config comes from ``Pulumi.yaml`` defaults and ``Pulumi.<stack>.yaml`` (plus overrides): ``stack_config`` is the
local cloud's one reader of the stack YAML, and ``stack_settings`` parses it with the program's own parser
(``components.config.parse_config``), so the local cloud reads every setting as the program does. Stack
references resolve to outputs the caller hands in (from an earlier run of the referenced stack).
Every registered resource is recorded with its type, name, parent, inputs (engine camelCase
names, as policies see them) and outputs. What the resources "return" is up to a ``CloudMocks``
implementation: ``FakeCloud`` invents plausible ids and ARNs for previews and unit tests; the
local cloud's deployer creates each resource in moto instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Mapping

import pulumi
import yaml
from google.protobuf import empty_pb2

from components.config import PROJECT, REGION_KEY, StackSettings, parse_config, qualified
from localcloud.compat.pulumi import (
    MockEngine,
    MockMonitor,
    MockSettings,
    configure,
    deserialize_properties,
    reset_options,
    run_in_stack,
    secret_value,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_ACCOUNT = "123456789012"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass
class Resource:
    """One registered resource as the engine would see it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)  # URNs it explicitly depends on (depends_on)
    protect: bool = False  # the `protect` resource option: `pulumi destroy` refuses to delete it
    retain_on_delete: bool = False  # `retain_on_delete`: destroy forgets it and leaves it in AWS
    import_id: str = ""  # the `import_` resource option: adopt this existing resource instead of creating one

    def as_policy_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "urn": self.urn, "props": self.inputs,
                "parent": self.parent, "id": self.id}


@dataclass
class StackRun:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


class UnknownStackReference(Exception):
    pass


class CloudMocks(pulumi.runtime.Mocks):
    """Base mocks: stack references from a map, everything else left to ``create``/``invoke``."""

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
                 account_id: str = DEFAULT_ACCOUNT, region: str = "eu-west-1"):
        self.stack_outputs = dict(stack_outputs or {})
        self.account_id = account_id
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == STACK_REFERENCE:
            name = args.inputs.get("name") or args.name
            return name, {"name": name, "outputs": dict(self.stack_outputs.get(name, {})),
                          "secretOutputNames": []}
        if not args.custom:
            return "", {}
        args.inputs = _plain(args.inputs)
        return self.create(args)

    def call(self, args: pulumi.runtime.MockCallArgs):  # pyright: ignore[reportIncompatibleMethodOverride]  # pulumi also takes a bare dict
        return self.invoke(args.token, dict(args.args))

    # -- to override ----------------------------------------------------------------------
    def create(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        raise NotImplementedError

    def invoke(self, token: str, args: dict) -> dict:
        raise NotImplementedError


def session_context(arn: str) -> dict[str, str]:
    """``aws.iam.get_session_context``: for an STS assumed-role ARN, the role's IAM ARN (what ``aws:PrincipalArn``
    carries; roles with a path are not resolved here, AWS's provider asks IAM); any other ARN passes through."""
    head, _, resource = arn.partition(":assumed-role/")
    if not resource:
        return {"arn": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": "", "id": arn}
    role, _, session = resource.partition("/")
    issuer = head.replace(":sts::", ":iam::", 1) + f":role/{role}"
    return {"arn": arn, "issuerArn": issuer, "issuerId": "", "issuerName": role, "sessionName": session, "id": arn}


def _hex(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


class FakeCloud(CloudMocks):
    """Plausible, deterministic outputs without any backend: for previews and wiring tests."""

    def invoke(self, token: str, args: dict) -> dict:
        region = args.get("region") or self.region
        match token:
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:user/preview",
                        "userId": "AIDAPREVIEW", "id": self.account_id}
            case "aws:iam/getSessionContext:getSessionContext":
                return session_context(args["arn"])
            case "aws:iot/getEndpoint:getEndpoint":
                return {"endpointAddress": f"a{_hex(self.account_id, n=13)}-ats.iot.{region}.amazonaws.com",
                        "id": region}
        raise NotImplementedError(f"the mock cloud does not answer the invoke {token}")

    def create(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        region, account = self.region, self.account_id
        service = args.typ.split(":")[1].split("/")[0]
        name = inputs.get("name") or f"{args.name}-{_hex(args.name, n=7)}"
        state: dict[str, Any] = {**inputs, "name": name}
        id_ = name
        arn = f"arn:aws:{service}:{region}:{account}:{args.name}"
        if args.typ == "aws:dynamodb/table:Table":
            stream = f"arn:aws:dynamodb:{region}:{account}:table/{name}/stream/2026-01-01T00:00:00.000"
            state["streamArn"] = stream
            state["replicas"] = [{**r, "streamArn": stream.replace(f":{region}:", f":{r['regionName']}:"),
                                  "arn": f"arn:aws:dynamodb:{r['regionName']}:{account}:table/{name}"}
                                 for r in inputs.get("replicas", [])]
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        elif args.typ == "aws:iot/caCertificate:CaCertificate":
            id_ = _certificate_id(inputs["caCertificatePem"])
            arn = f"arn:aws:iot:{region}:{account}:cacert/{id_}"
        elif args.typ == "aws:acm/certificate:Certificate":
            id_ = _hex(args.name, n=32)
            arn = f"arn:aws:acm:{region}:{account}:certificate/{id_}"
            if inputs.get("domainName"):
                state["domainValidationOptions"] = [{
                    "domainName": inputs["domainName"],
                    "resourceRecordName": f"_{_hex(inputs['domainName'])}.{inputs['domainName']}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{_hex(inputs['domainName'], 'v')}.acm-validations.aws.",
                }]
        elif args.typ == "aws:acm/certificateValidation:CertificateValidation":
            id_ = "validation"
        elif args.typ == "aws:sfn/stateMachine:StateMachine":
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            id_ = arn
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        elif args.typ == "aws:iam/role:Role":
            arn = f"arn:aws:iam::{account}:role/{name}"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{region}:{account}:log-group:{name}"
        elif args.typ == "aws:cloudwatch/eventBus:EventBus":
            arn = f"arn:aws:events:{region}:{account}:event-bus/{name}"
        elif args.typ == "aws:s3/bucket:Bucket":
            name = inputs.get("bucket") or name
            state["bucket"] = name
            id_ = name
            arn = f"arn:aws:s3:::{name}"
        elif args.typ == "aws:sqs/queue:Queue":
            arn = f"arn:aws:sqs:{region}:{account}:{name}"
            id_ = state["url"] = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        elif args.typ == "aws:sqs/queuePolicy:QueuePolicy":
            id_ = inputs.get("queueUrl") or name
        elif args.typ == "aws:route53/record:Record":
            state["fqdn"] = inputs.get("name", "").rstrip(".")
        state.setdefault("arn", arn)
        return id_, state


def _certificate_id(pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping parents, inputs and the stack's exports."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[Resource] = []
        self.stack_urn: str | None = None
        self.stack_outputs_struct = None

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        inputs = deserialize_properties(request.object)
        registration = self.resources.get(response.urn)
        self.records.append(Resource(
            type=request.type, name=request.name, urn=response.urn,
            parent=request.parent or None, custom=bool(request.custom), inputs=_plain(inputs),
            id=registration.id if registration else "", outputs=_plain(registration.state) if registration else {},
            dependencies=list(request.dependencies), protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete), import_id=request.importId))
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn == self.stack_urn:
            self.stack_outputs_struct = request.outputs
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    """Drop SDK wrappers (secrets, unknowns) so records are plain JSON-like data."""
    if isinstance(value, dict):
        secret, plain = secret_value(value)
        if secret:
            return _plain(plain)
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The project's stacks: one ``Pulumi.<stack>.yaml`` each, by name."""
    return [p.name[len("Pulumi."):-len(".yaml")] for p in sorted(project_dir.glob("Pulumi.*.yaml"))]


def stack_config(stack: str, project_dir: Path = PROJECT_DIR,
                 overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Fully qualified config for a stack, as the CLI would hand it to the program."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    config: dict[str, Any] = {}
    for key, spec in (project.get("config") or {}).items():
        default = spec.get("default") if isinstance(spec, dict) else spec
        if default is not None:
            config[qualified(key)] = default
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file.name}: create it (`pulumi stack init {stack}`) "
                                "or pick one of the shipped stacks")
    for key, value in ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).items():
        config[qualified(key)] = value
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(qualified(key), None)
        else:
            config[qualified(key)] = value
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def stack_settings(stack: str, project_dir: Path = PROJECT_DIR,
                   overrides: Mapping[str, Any] | None = None) -> StackSettings:
    """The stack's settings as the program reads them: ``stack_config`` parsed by the program's parser (a bad value
    raises the program's ``ConfigError``)."""
    return parse_config(stack_config(stack, project_dir, overrides), project_dir)


def _configure(mocks: pulumi.runtime.Mocks, monitor: MockMonitor, stack: str) -> None:
    """What ``pulumi.runtime.set_mocks`` does, minus creating a root stack on a loop that never
    runs: ``run_in_stack`` creates the root stack on our loop, as the CLI's language host does."""
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
    reset_options()
    configure(MockSettings(
        monitor=monitor, monitor_features=features, engine=MockEngine(None),
        project=PROJECT, stack=stack, dry_run=False, organization=None, callbacks=None))


def run_stack(stack: str, *, mocks: CloudMocks | None = None, project_dir: Path = PROJECT_DIR,
              config_overrides: Mapping[str, Any] | None = None,
              stack_outputs: Mapping[str, Mapping[str, Any]] | None = None) -> StackRun:
    """Run ``__main__.py`` for ``stack`` under mocks and return what it registered and exported.

    Raises whatever the program raises (e.g. ``ConfigError``) after the runtime has settled.
    """
    config = stack_config(stack, project_dir, config_overrides)
    # Only for the mocks' invented ARNs: the program checks the region itself (and raises ConfigError for a bad one).
    region = json.loads(config[REGION_KEY]) if config.get(REGION_KEY, "").startswith('"') \
        else config.get(REGION_KEY, "eu-west-1")
    if mocks is None:
        mocks = FakeCloud(stack_outputs, region=region)
    else:
        mocks.region = region
        mocks.stack_outputs.update(stack_outputs or {})

    program = project_dir / "__main__.py"
    sys_path_added = str(project_dir) not in sys.path
    if sys_path_added:
        sys.path.insert(0, str(project_dir))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = _RecordingMonitor(mocks)
    try:
        _configure(mocks, monitor, stack)
        pulumi.runtime.set_all_config(config)
        loop.run_until_complete(run_in_stack(
            lambda: runpy.run_path(str(program), run_name="__main__")))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        reset_options()
        if sys_path_added:
            sys.path.remove(str(project_dir))
    outputs = {}
    if monitor.stack_outputs_struct is not None:
        outputs = _plain(deserialize_properties(monitor.stack_outputs_struct))
    return StackRun(stack, monitor.records, outputs)
