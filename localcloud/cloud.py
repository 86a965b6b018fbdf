"""``LocalCloud``: one offline AWS account in this process, with the real program deployed into it.

A session

1. sets the environment moto and botocore need (fake credentials, account-id endpoints off),
2. applies ``localcloud.fixes`` (Step Functions, IoT, Lambda fixes) and starts ``mock_aws``
   with Step Functions execution on,
3. switches the speed-ups on (``localcloud.speedups``, unless ``speedups=False``) and activates the
   engines of ``localcloud.services`` (IoT Core data plane, global tables, pipes, EventBridge delivery),
4. prepares what a real account would already have: a Route 53 hosted zone for the domain and
   a PKI folder (``.localcloud/pki``, made with ``pki.init_pki`` if absent),
5. deploys the shipped stacks, primary first, each through ``run_stack`` with a ``Deployer`` so
   every resource of ``__main__.py`` is really created in moto; a secondary stack gets the
   primary's exports through its stack reference.

Use it as a context manager::

    with LocalCloud() as cloud:
        cloud.deploy()
        connection = cloud.connect("eu-west-1", device.certificate_pem, device.name)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

import pki
from components.config import StackSettings
from localcloud import fixes, speedups
from localcloud.assumptions import AWS_AS_REPORTED, Assumptions
from localcloud.deploy import Deployer
from localcloud.mockrun import DEFAULT_ACCOUNT, PROJECT_DIR, StackRun, run_stack, stack_names, stack_settings
from localcloud.services import Engines, connect_with_backoff
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.services.iot.core import Connection

ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    # A shell that exported AWS_ENDPOINT_URL for `up --serve`'s AWS endpoint must not send this process's own calls
    # there (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html): they are answered in-process.
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "iot": {"use_valid_cert": True}}


class LocalCloudError(Exception):
    """The local cloud cannot be prepared or deployed; the message says what to do."""


@dataclass(frozen=True)
class ShippedStack:
    """A ``Pulumi.<stack>.yaml`` of the project: its name and its settings, read as the program reads them."""

    name: str
    settings: StackSettings

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def primary_stack(self) -> str | None:  # fully qualified, for secondaries
        return self.settings.primary_stack

    @property
    def is_primary(self) -> bool:
        return self.settings.is_primary


def shipped_stacks(project_dir: Path = PROJECT_DIR,
                   overrides: Mapping[str, Any] | None = None) -> list[ShippedStack]:
    """The project's stacks, primaries first (the order they must be deployed in); a bad value in one raises the
    program's ``ConfigError``."""
    stacks = [ShippedStack(name, stack_settings(name, project_dir, overrides)) for name in stack_names(project_dir)]
    if not stacks:
        raise LocalCloudError(f"no Pulumi.<stack>.yaml in {project_dir}; nothing to deploy")
    return sorted(stacks, key=lambda s: not s.is_primary)


@dataclass
class Deployment:
    """What one stack's deploy made: the program run (resources, exports) and its region."""

    stack: ShippedStack
    run: StackRun

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs


@dataclass
class LocalCloud:
    """An offline account: moto + fixes + speed-ups + engines, and the shipped stacks deployed into it."""

    project_dir: Path = PROJECT_DIR
    state_dir: Path | None = None  # default: <project>/.localcloud
    retry_time_scale: float = 0.0
    execution_timeout_s: float = 60.0
    # every speed-up (localcloud.speedups): they change no result, so all of them can be switched off
    # (tests/localcloud/test_speedups.py runs the demo without any)
    speedups: bool = True
    quiet_moto: bool = True  # moto logs every failed execution at ERROR; failures are data here
    config_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"provisioning": "jitp"}, every stack
    # where AWS is undocumented, the outcome worse for the design (localcloud.assumptions; docs/emulator.md)
    assumptions: Assumptions = AWS_AS_REPORTED
    engines: Engines = field(init=False)
    deployments: dict[str, Deployment] = field(default_factory=dict, init=False)
    hosted_zone_id: str = field(default="", init=False)
    _exit: ExitStack | None = field(default=None, init=False)
    _saved_environment: dict[str, str | None] = field(default_factory=dict, init=False)
    _saved_settings: tuple[float, bool] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.project_dir = Path(self.project_dir)
        if self.state_dir is None:
            self.state_dir = self.project_dir / ".localcloud"
        self.state_dir = Path(self.state_dir)
        self.stacks = shipped_stacks(self.project_dir, self.config_overrides)
        primary = [s for s in self.stacks if s.is_primary]
        if len(primary) != 1:
            raise LocalCloudError(f"expected exactly one primary stack (one without primaryStack), found "
                                  f"{[s.name for s in primary]}")
        self.primary = primary[0]
        assert self.primary.settings.shared is not None  # the parser requires them on a primary
        self.shared = self.primary.settings.shared  # domain, zone, regions, routing: the program's SharedSettings
        self.domain = self.shared.domain_name
        self.configured_zone_id = self.shared.hosted_zone_id

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "pki"

    @property
    def regions(self) -> list[str]:
        return [s.region for s in self.stacks]

    def start(self) -> LocalCloud:
        """Environment, fixes, moto, speed-ups, engines, hosted zone, PKI (nothing deployed yet)."""
        if self._exit is not None:
            return self
        from localcloud.compat.moto.core import mock_aws

        for key, value in ENVIRONMENT.items():
            self._saved_environment[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved_settings = (fixes.SETTINGS.retry_time_scale, fixes.SETTINGS.synchronous_executions)
        fixes.SETTINGS.retry_time_scale = self.retry_time_scale
        fixes.SETTINGS.synchronous_executions = True
        if self.quiet_moto:
            logging.getLogger("moto").setLevel(logging.CRITICAL)
        stack = ExitStack()
        try:
            stack.enter_context(fixes.patched())
            stack.enter_context(mock_aws(config=MOTO_CONFIG))
            if self.speedups:
                stack.enter_context(speedups.switched_on())
            self.engines = stack.enter_context(Engines(execution_timeout_s=self.execution_timeout_s,
                                                          assumptions=self.assumptions))
            self._exit = stack
            self.ensure_pki()
            self.hosted_zone_id = self._create_hosted_zone()
        except BaseException:
            stack.close()
            self._exit = None
            self._restore()
            raise
        return self

    def stop(self) -> None:
        if self._exit is None:
            return
        try:
            self._exit.close()
        finally:
            self._exit = None
            lambda_inprocess.unregister_all()
            self._restore()

    def _restore(self) -> None:
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment.clear()
        if self._saved_settings is not None:
            fixes.SETTINGS.retry_time_scale, fixes.SETTINGS.synchronous_executions = self._saved_settings
            self._saved_settings = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- preparation ----------------------------------------------------------------------------
    def ensure_pki(self) -> Path:
        """``.localcloud/pki`` with a CA and a server certificate for the domain (made if absent)."""
        directory = self.pki_dir
        if directory.exists() and any(directory.iterdir()):
            try:
                pki.load_endpoint_material(directory, self.domain)
            except pki.PkiError as error:
                raise LocalCloudError(f"the local PKI in {directory} is unusable ({error}); delete the folder "
                                      f"(`rm -rf {directory}`) and run again to recreate it") from None
        else:
            directory.parent.mkdir(parents=True, exist_ok=True)
            pki.init_pki(directory, self.domain)
        self._ensure_canaries(directory)
        return directory

    def _ensure_canaries(self, directory: Path) -> None:
        """Each region's canary certificate (`python -m pki issue-device canary-<region>`), so every region deploys
        its canary and its record's health check (components/canary.py)."""
        from builders.canary import thing_name
        from pki.layout import Layout

        layout = Layout(directory)
        missing = [thing_name(r) for r in self.regions if not layout.device_cert(thing_name(r)).exists()]
        if missing:
            pki.issue_device_certificates(directory, missing)

    def _create_hosted_zone(self) -> str:
        """The domain's hosted zone, under the id the primary stack is configured with.

        moto invents ids that are not Route 53 shaped (no leading ``Z``) and the program checks
        the shape; re-keying the zone in moto's backend keeps the shipped config unchanged."""
        from localcloud.compat.moto.services import route53_backends

        route53 = boto3.client("route53", region_name="us-east-1")
        zone = route53.create_hosted_zone(Name=self.domain, CallerReference=f"localcloud-{self.domain}")
        moto_id = zone["HostedZone"]["Id"].split("/")[-1]
        wanted = self.configured_zone_id or moto_id
        if wanted != moto_id:
            backend = route53_backends[DEFAULT_ACCOUNT]["aws"]
            fake = backend.zones.pop(moto_id)
            fake.resource_id = wanted
            backend.zones[wanted] = fake
        return wanted

    def load_ca(self) -> pki.CertificateAuthority:
        """The local CA (issue device certificates with ``issue_device(name)``)."""
        return pki.load_ca(self.pki_dir)

    # -- deploy ----------------------------------------------------------------------------------
    def deploy(self, on_stack: Callable[[ShippedStack, StackRun], None] | None = None) -> dict[str, Deployment]:
        """Deploy every shipped stack, primary first; returns deployments by stack name."""
        if self._exit is None:
            raise LocalCloudError("start the local cloud first (`with LocalCloud() as cloud:` or cloud.start())")
        for shipped in self.stacks:
            if shipped.name in self.deployments:
                continue
            overrides: dict[str, Any] = {"pkiDir": str(self.pki_dir),
                                         "provisioningSigningKeyArn": self._provisioning_key(shipped.region),
                                         **self.config_overrides}
            references: dict[str, dict[str, Any]] = {}
            if shipped.is_primary:
                overrides["hostedZoneId"] = self.hosted_zone_id
            else:
                primary = self._deployment_for(shipped.primary_stack)
                references[shipped.primary_stack] = primary.outputs
            deployer = Deployer(on_global_table=self._global_table)
            run = run_stack(shipped.name, mocks=deployer, project_dir=self.project_dir,
                            config_overrides=overrides, stack_outputs=references)
            self.deployments[shipped.name] = Deployment(shipped, run)
            if on_stack is not None:
                on_stack(shipped, run)
        return self.deployments

    def _provisioning_key(self, region: str) -> str:
        """The provisioning API's CA key in this region's KMS: the PKI's intermediate key, as an import would put it."""
        from localcloud.services.kms.imported_key import signing_key

        return signing_key(region, self.load_ca().intermediate_key)

    def _deployment_for(self, qualified: str | None) -> Deployment:
        name = (qualified or "").split("/")[-1]
        if name not in self.deployments:
            raise LocalCloudError(f"stack reference {qualified!r} names no deployed stack; deploy {name} first")
        return self.deployments[name]

    def _global_table(self, name: str, home: str, replicas: list[str]) -> None:
        self.engines.global_tables.register(name, [home, *replicas], home_region=home)

    def outputs(self, region: str) -> dict[str, Any]:
        """The exports of the stack deployed in ``region``."""
        for deployment in self.deployments.values():
            if deployment.stack.region == region:
                return deployment.outputs
        raise LocalCloudError(f"no stack deployed in {region}; deployed: {self.regions}")

    @property
    def primary_outputs(self) -> dict[str, Any]:
        return self.deployments[self.primary.name].outputs

    def provisioning_api(self, region: str, **options: Any) -> Any:
        """The region's deployed provisioning API served over HTTP on loopback (a context manager with ``url``)."""
        from localcloud.services.apigatewayv2.http_api import ProvisioningHttpApi, lambda_invoker

        functions = boto3.client("lambda", region_name=region).list_functions()["Functions"]
        names = [f["FunctionName"] for f in functions if f["FunctionName"].endswith("-provisioning-api")]
        if not names:
            raise LocalCloudError(f"no provisioning API deployed in {region}; deploy first")
        return ProvisioningHttpApi(lambda_invoker(region, names[0]), region=region, **options)

    def run_canaries(self, endpoints: Any = None, missed: Any = ()) -> dict[str, Any]:
        """Run every region's canary once and turn its alarm into its record's health (``localcloud/canaries.py``);
        with served ``endpoints`` the canaries speak MQTT/TLS to them and the DNS answer follows. The canaries of the
        regions in ``missed`` do not run (a minute without a datapoint)."""
        from localcloud.canaries import run_canaries

        return run_canaries(self, endpoints, missed)

    @contextmanager
    def assuming(self, assumptions: Assumptions) -> Iterator[Assumptions]:
        """Run the block under ``assumptions`` (docs/emulator.md, "Assumptions register"), then the cloud's own again:
        one deployed cloud runs the design under both outcomes of a register row."""
        previous = self.engines.assume(assumptions)
        self.assumptions = assumptions
        try:
            yield assumptions
        finally:
            self.engines.assume(previous)
            self.assumptions = previous

    # -- device side -------------------------------------------------------------------------------
    def settle(self) -> Any:
        return self.engines.settle()

    def connect(self, region: str, certificate_pem: str, client_id: str, *, attempts: int = 5) -> Connection:
        """A device connecting with backoff (refused first, JITR, reconnect)."""
        return connect_with_backoff(self.engines.iot, region, certificate_pem, client_id,
                                    settle=self.engines.settle, attempts=attempts)

    def executions(self, region: str) -> Iterator[dict[str, Any]]:
        """Every execution of every state machine in ``region`` (with ``stateMachineName``)."""
        sfn = boto3.client("stepfunctions", region_name=region)
        for machine in sfn.list_state_machines()["stateMachines"]:
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
                for execution in page["executions"]:
                    yield {**execution, "stateMachineName": machine["name"]}
