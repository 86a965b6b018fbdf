"""The region's IoT Core configurable endpoint on the custom domain, and its DNS record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from components.config import GeoLocation
from components.context import RegionContext
from components.material import EndpointMaterial


@dataclass(frozen=True)
class EndpointArgs:
    context: RegionContext
    domain_name: str
    hosted_zone_id: str
    routing_policy: str  # "latency" | "geolocation"
    geolocation: GeoLocation | None
    tls_security_policy: str
    material: EndpointMaterial
    # None: this stack (the primary) owns the ACM validation record. Otherwise the record FQDNs the primary
    # exports (`validationRecordFqdns`): ACM asks for the same CNAME in every region of the account, so a
    # secondary only waits for its certificate to be validated through the primary's record.
    validation_record_fqdns: pulumi.Input[Sequence[str]] | None = None
    # The region's canary health check (components/canary.py): Route 53 skips this record while it is unhealthy.
    health_check_id: pulumi.Input[str] | None = None


class Endpoint(pulumi.ComponentResource):
    """ACM import of the server certificate, an ACM validation certificate proven through Route 53 (the
    primary writes the validation record; secondaries wait on it),
    the IoT domain configuration (DATA, TLS policy from config), and this region's CNAME
    (TTL 60, set identifier = region) with latency or geolocation routing."""

    domain_configuration: aws.iot.DomainConfiguration
    validation_record_fqdns: pulumi.Output[Sequence[str]]
    record: aws.route53.Record | None
    iot_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: EndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Endpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        m = args.material

        server = aws.acm.Certificate(
            f"{name}-server-certificate",
            certificate_body=m.server_certificate_pem,
            private_key=pulumi.Output.secret(m.server_private_key_pem),
            certificate_chain=m.chain_pem,
            opts=child,
        )

        # IoT requires proof of domain ownership: an Amazon-issued certificate for the domain.
        validation = aws.acm.Certificate(
            f"{name}-validation-certificate",
            domain_name=args.domain_name,
            validation_method="DNS",
            opts=child,
        )
        if args.validation_record_fqdns is None:
            self.validation_record_fqdns = self._validation_records(name, args.hosted_zone_id, validation)
        else:
            self.validation_record_fqdns = pulumi.Output.from_input(args.validation_record_fqdns)
        # Waits until ACM has issued the certificate; the provider also checks that the FQDNs are the
        # certificate's validation records.
        validated = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=validation.arn,
            validation_record_fqdns=self.validation_record_fqdns,
            opts=child,
        )

        self.domain_configuration = aws.iot.DomainConfiguration(
            f"{name}-domain-configuration",
            name=args.context.names.domain_configuration,
            domain_name=args.domain_name,
            service_type="DATA",
            server_certificate_arns=[server.arn],
            validation_certificate_arn=validated.certificate_arn,
            tls_config=aws.iot.DomainConfigurationTlsConfigArgs(security_policy=args.tls_security_policy),
            status="ENABLED",
            opts=child,
        )

        self.iot_endpoint = aws.iot.get_endpoint_output(
            endpoint_type="iot:Data-ATS", opts=pulumi.InvokeOptions(parent=self)).endpoint_address

        routing: dict = {}
        if args.routing_policy == "geolocation":
            if args.geolocation is None:
                raise ValueError("geolocation routing needs this region's location")
            geo = args.geolocation
            routing["geolocation_routing_policies"] = [aws.route53.RecordGeolocationRoutingPolicyArgs(
                continent=geo.continent, country=geo.country, subdivision=geo.subdivision)]
        else:
            routing["latency_routing_policies"] = [
                aws.route53.RecordLatencyRoutingPolicyArgs(region=args.context.region)]
        # No record while the region retires (config `retiring`): DNS sends no device here.
        self.record = None if args.context.retiring else aws.route53.Record(
            f"{name}-record",
            zone_id=args.hosted_zone_id,
            name=args.domain_name,
            type="CNAME",
            ttl=60,
            set_identifier=args.context.region,
            records=[self.iot_endpoint],
            health_check_id=args.health_check_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.domain_configuration]),
            **routing,
        )
        self.register_outputs({
            "validationRecordFqdns": self.validation_record_fqdns,
            "domainConfigurationName": self.domain_configuration.name,
            "iotEndpoint": self.iot_endpoint,
            "recordFqdn": self.record.fqdn if self.record is not None else "",
        })

    def _validation_records(self, name: str, hosted_zone_id: str,
                            validation: aws.acm.Certificate) -> pulumi.Output[list[str]]:
        """The primary's CNAME record(s) proving the domain to ACM, one per validation option.

        One owner, no ``allow_overwrite``: every region's certificate renews through these records
        (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html: the record is created for the
        domain and the account, and "the CNAME validation token works for any AWS Region"), so only the primary,
        destroyed last, may delete them. Our certificate names one domain, hence one record."""
        option = validation.domain_validation_options.apply(lambda opts: opts[0])
        record = aws.route53.Record(
            f"{name}-validation-record",
            zone_id=hosted_zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            # Typed optional, always set for a DNS-validated certificate.
            records=[cast("pulumi.Output[str]", option.apply(lambda o: o.resource_record_value))],
            ttl=300,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.all(record.fqdn).apply(list)
