"""A Lambda function packaged from ``functions/``, with its role and a log group with retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from builders import arns
from components.context import RegionContext
from components.lambda_package import RUNTIME, build_code_dir
from components.naming import Names
from contract import metrics
from components.roles import service_role


@dataclass(frozen=True)
class FunctionArgs:
    function_name: str
    handler: str  # module.path.function inside functions/
    description: str
    context: RegionContext  # the region, its account, log retention and where functions are built
    # Given the function's log group ARN, returns its role's policy document.
    policy: Callable[[str], pulumi.Input[dict]]
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    timeout: int = 10
    memory_size: int = 256
    # Resources the function must not exist before (e.g. the object an environment variable names).
    depends_on: Sequence[pulumi.Resource] = ()
    # Concurrency kept for this function alone (None: it shares the region's unreserved pool).
    reserved_concurrency: int | None = None


class Function(pulumi.ComponentResource):
    function: aws.lambda_.Function
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Function", name, None, opts)
        log_group_name = Names.function_log_group(args.function_name)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=args.context.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = service_role(
            name,
            service="lambda",
            account_id=args.context.account_id,
            source_arn=None,  # Lambda sends no source ARN for execution roles
            policy=args.policy(arns.log_group(args.context.region, args.context.account_id, log_group_name)),
            parent=self,
            description=f"Runs the {args.function_name} function",
        )
        site = args.context
        code_dir = build_code_dir(site.functions_dir, site.functions_dir / "requirements.txt",
                                  site.lambda_architecture, site.build_cache_dir)
        self.function = aws.lambda_.Function(
            name,
            name=args.function_name,
            description=args.description,
            runtime=RUNTIME,
            architectures=[site.lambda_architecture],
            handler=args.handler,
            code=pulumi.FileArchive(str(code_dir)),
            role=role.arn,
            timeout=args.timeout,
            memory_size=args.memory_size,
            # Every function writes its metrics (contract/metrics.py) in the application's namespace.
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                **args.environment, metrics.NAMESPACE_VARIABLE: metrics.namespace(site.names.application)}),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            reserved_concurrent_executions=args.reserved_concurrency,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*role.ready(), log_group, *args.depends_on]),
        )
        self.arn = self.function.arn
        self.register_outputs({"arn": self.arn, "name": self.function.name})
