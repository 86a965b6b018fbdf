"""ACM: imported or requested certificates (with the DNS validation options the program writes) and validations."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:acm/certificate:Certificate")
def certificate(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    acm = client("acm", region)
    if inputs.get("certificateBody"):
        request = {"Certificate": inputs["certificateBody"].encode(), "PrivateKey": inputs["privateKey"].encode()}
        if inputs.get("certificateChain"):
            request["CertificateChain"] = inputs["certificateChain"].encode()
        arn = acm.import_certificate(**request)["CertificateArn"]
        return arn, {**inputs, "arn": arn, "status": "ISSUED"}
    if not inputs.get("domainName"):
        raise UnsupportedResource(f"aws:acm/certificate:Certificate {args.name!r}: neither an import "
                                  "(certificateBody) nor a request (domainName); the local cloud makes only these")
    arn = acm.request_certificate(DomainName=inputs["domainName"],
                                  ValidationMethod=inputs.get("validationMethod", "DNS"))["CertificateArn"]
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    options = []
    for option in described.get("DomainValidationOptions", []):
        record = option.get("ResourceRecord") or {}
        options.append({"domainName": option["DomainName"], "resourceRecordName": record.get("Name", ""),
                        "resourceRecordType": record.get("Type", "CNAME"),
                        "resourceRecordValue": record.get("Value", "")})
    return arn, {**inputs, "arn": arn, "domainValidationOptions": options, "status": described.get("Status")}


@creates("aws:acm/certificateValidation:CertificateValidation")
def certificate_validation(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                           region: str) -> Result:
    arn = inputs["certificateArn"]
    client("acm", region).describe_certificate(CertificateArn=arn)  # must exist
    return arn, {**inputs}
