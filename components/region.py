"""Everything one region runs: endpoint, registration, replication, telemetry, test kit."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

import quotas
from components.canary import Canary, CanaryArgs, find_canary_material
from components.config import SharedSettings, StackSettings
from components.context import RegionContext
from components.endpoint import Endpoint, EndpointArgs
from components.fleet_provisioning import FleetProvisioning, FleetProvisioningArgs
from components.material import EndpointMaterial
from components.monitoring import Monitoring, MonitoringArgs
from components.pacing import Pacing, PacingArgs
from components.provisioning_api import ProvisioningApi, ProvisioningApiArgs
from components.provisioned_recorder import ProvisionedRecorder, ProvisionedRecorderArgs
from components.provisioning_role import ProvisioningRole, ProvisioningRoleArgs
from components.registration import Registration, RegistrationArgs
from components.replication import Replication, ReplicationArgs
from components.revocation_list import find_revocation_list
from components.telemetry import Telemetry, TelemetryArgs
from components.test_resources import TestResources, TestResourcesArgs


@dataclass(frozen=True)
class RegionArgs:
    settings: StackSettings
    shared: SharedSettings
    context: RegionContext  # made from the settings (RegionContext.of), handed to every component
    material: EndpointMaterial
    inventory_table_name: pulumi.Input[str]
    data_table_name: pulumi.Input[str]
    inventory_stream_arn: pulumi.Input[str]  # this region's own replica stream
    # Secondaries: the primary's ACM validation record FQDNs (None on the primary, which writes the record).
    validation_record_fqdns: pulumi.Input[Sequence[str]] | None = None
    allow_list_table_name: pulumi.Input[str] | None = None  # the global allow-list (None: an older primary)
    # Secondaries: the primary's ACM validation record FQDNs for provision.<domain>.
    provisioning_validation_record_fqdns: pulumi.Input[Sequence[str]] | None = None


class Region(pulumi.ComponentResource):
    outputs: dict[str, pulumi.Input]

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Region", name, None, opts)
        s, shared, ctx = args.settings, args.shared, args.context
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)

        canary_material = find_canary_material(s.pki_dir, s.region)  # docs/design.md, "Health-checked failover"
        canary = Canary(f"{name}-canary", CanaryArgs(
            context=ctx, domain_name=shared.domain_name,
            endpoint_address=aws.iot.get_endpoint_output(endpoint_type="iot:Data-ATS",
                                                         opts=pulumi.InvokeOptions(parent=self)).endpoint_address,
            material=canary_material, reserved_concurrency=s.canary_reserved_concurrency),
            opts=child) if canary_material is not None else None

        endpoint = Endpoint(f"{name}-endpoint", EndpointArgs(
            context=ctx, domain_name=shared.domain_name, hosted_zone_id=shared.hosted_zone_id,
            routing_policy=shared.routing_policy, geolocation=shared.geolocation.get(s.region),
            tls_security_policy=s.tls_security_policy, material=args.material,
            validation_record_fqdns=args.validation_record_fqdns,
            health_check_id=canary.health_check.id if canary is not None else None), opts=child)

        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=names.event_bus, opts=child)

        provisioning = s.provisioning  # docs/design.md, "Provisioning modes"
        provisioning_role = ProvisioningRole(f"{name}-provisioning", ProvisioningRoleArgs(ctx), opts=child) \
            if provisioning.jitp or provisioning.fleet else None

        # One queue per throttled IoT API, shared by this region's JITR and replication (docs/design.md,
        # "Onboarding storms"), spaced at the account's quotas here (quotasFile, else AWS's defaults).
        pacing = Pacing(f"{name}-pacing", PacingArgs(
            context=ctx, rates=quotas.load(s.quotas_file).rates("iot", s.region)), opts=child)

        registration = Registration(f"{name}-registration", RegistrationArgs(
            context=ctx, ca_certificate_pem=args.material.ca_certificate_pem,
            inventory_table_name=args.inventory_table_name, event_bus_name=names.event_bus,
            crl_file=find_revocation_list(s.pki_dir, args.material.ca_certificate_pem),
            registration_config=provisioning_role.jitp_registration_config()
            if provisioning.jitp and provisioning_role is not None else None,
            jitr=provisioning.jitr, pacing=pacing),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bus]))
        recorder = ProvisionedRecorder(f"{name}-jitp", ProvisionedRecorderArgs(
            context=ctx, ca_certificate_id=registration.ca_certificate.id,
            inventory_table_name=args.inventory_table_name, event_bus_name=names.event_bus),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bus, registration.device_policy])) \
            if provisioning.jitp else None

        fleet = FleetProvisioning(f"{name}-fleet", FleetProvisioningArgs(
            context=ctx, device_policy_name=registration.device_policy.name,
            provisioning_role_arn=provisioning_role.arn,
            allow_list_table_name=args.allow_list_table_name, inventory_table_name=args.inventory_table_name,
            ca_certificate_id=registration.ca_certificate.id, ca_certificate_pem=args.material.ca_certificate_pem,
            signing_key_arn=s.provisioning_api.signing_key_arn if s.provisioning_api else None,
            claim_certificate_file=s.pki_dir / "claim" / "claim.crt",
            # One certificate provider per AWS account: the primary owns it (docs/design.md).
            certificate_provider_regions=shared.regions if s.is_primary else (),
            allow_list_region=shared.primary_region),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registration.device_policy])) \
            if provisioning.fleet and provisioning_role is not None else None

        replication = Replication(f"{name}-replication", ReplicationArgs(
            context=ctx, event_bus=bus, inventory_stream_arn=args.inventory_stream_arn, pacing=pacing),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registration.device_policy]))

        telemetry = Telemetry(f"{name}-telemetry", TelemetryArgs(context=ctx, data_table_name=args.data_table_name),
                              opts=child)

        test_bucket: pulumi.Input[str] = ""
        if s.test_resources:
            kit = TestResources(f"{name}-test", TestResourcesArgs(ctx), opts=child)
            test_bucket = kit.bucket.bucket

        provisioning = None
        if s.provisioning_api is not None:
            chain = args.material.chain_pem
            provisioning = ProvisioningApi(f"{name}-provisioning", ProvisioningApiArgs(
                context=ctx, settings=s.provisioning_api,
                regions=shared.regions, primary_region=shared.primary_region, domain_name=shared.domain_name,
                hosted_zone_id=shared.hosted_zone_id, inventory_table_name=args.inventory_table_name,
                allow_list_table_name=args.allow_list_table_name, device_policy_name=registration.device_policy.name,
                ca_certificate_id=registration.ca_certificate.id,
                trust_anchor_pem=chain[chain.rindex("-----BEGIN CERTIFICATE-----"):],
                validation_record_fqdns=None if s.is_primary else args.provisioning_validation_record_fqdns),
                opts=child)

        # The region's dashboard and its replication lag alarm; every alarm of the region on the dashboard.
        jitr, jitp = s.provisioning.jitr, recorder is not None
        machines = {"JITR": registration.state_machine.arn, "replicate": replication.replicate.arn,
                    "decommission": replication.decommission.arn}
        if recorder is not None:
            machines["JITP recorder"] = recorder.state_machine.arn
        functions = [names.inspector_function, pacing.function.function.name]
        if canary is not None:
            functions.append(canary.function.function.name)
        if provisioning is not None:
            functions.append(names.provisioning_function)
        if fleet is not None:
            functions += [fleet.hook.function.name] + (
                [fleet.provider_function.function.name] if fleet.provider_function is not None else [])
        monitoring = Monitoring(f"{name}-monitoring", MonitoringArgs(
            context=ctx, other_regions=[r for r in shared.regions if r != s.region],
            inventory_table=names.inventory_table,
            global_tables=[names.inventory_table, names.data_table]
            + ([names.allow_list_table] if args.allow_list_table_name is not None else []),
            paced_apis=sorted(pacing.rates), state_machines=machines,
            onboarding_machines=(["JITR"] if jitr else []) + (["JITP recorder"] if jitp else []),
            topic_rules=[rule.name for rule in (registration.topic_rule, telemetry.topic_rule,
                                                recorder.topic_rule if recorder is not None else None) if rule is not None],
            telemetry_rule=telemetry.topic_rule.name, dead_letter_queue=replication.dead_letter_queue.name,
            telemetry_error_queue=telemetry.error_queue.name, functions=functions,
            alarms=[registration.failure_alarm, replication.dead_letter_alarm, telemetry.error_alarm]
            + ([canary.alarm] if canary is not None else []),
            inspector=jitr, provisioning_api=provisioning is not None, fleet_hook=fleet is not None,
            certificate_provider=fleet is not None and fleet.provider_function is not None,
            canary=canary is not None, health_check_id=canary.health_check.id if canary is not None else None),
            opts=child)

        self.outputs = {
            "region": s.region,
            "iotEndpoint": endpoint.iot_endpoint,
            "domainConfigurationName": endpoint.domain_configuration.name,
            "caCertificateId": registration.ca_certificate.id,
            "devicePolicyName": registration.device_policy.name,
            "jitrStateMachineArn": registration.state_machine.arn,
            "replicationStateMachineArn": replication.replicate.arn,
            "decommissionStateMachineArn": replication.decommission.arn,
            "replicationDeadLetterQueueUrl": replication.dead_letter_queue.url,
            "replicationDeadLetterQueueArn": replication.dead_letter_queue.arn,
            "telemetryErrorQueueUrl": telemetry.error_queue.url,
            "telemetryErrorQueueArn": telemetry.error_queue.arn,
            "eventBusName": bus.name,
            "certificateStoreBucket": test_bucket,
            "crlBucket": registration.revocation_list.bucket.bucket,
            "dashboardName": monitoring.dashboard.dashboard_name,
        }
        if canary is not None:
            self.outputs["canaryHealthCheckId"] = canary.health_check.id
            self.outputs["canaryAlarmName"] = canary.alarm.name
        if fleet is not None:
            self.outputs["fleetTemplateName"] = fleet.template.name
        if recorder is not None:
            self.outputs["jitpRecorderStateMachineArn"] = recorder.state_machine.arn
        if provisioning is not None:
            self.outputs["provisioningApiUrl"] = provisioning.url
            if s.is_primary:
                self.outputs["provisioningValidationRecordFqdns"] = provisioning.validation_record_fqdns
        if s.is_primary:  # the stack reference contract: secondaries validate through the primary's record
            self.outputs["validationRecordFqdns"] = endpoint.validation_record_fqdns
        self.register_outputs(self.outputs)
