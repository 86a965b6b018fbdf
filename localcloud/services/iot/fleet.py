"""Fleet provisioning by claim over the emulated IoT Core: the device provisioning MQTT API
(https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html) as AWS runs it.

``FleetProvisioning(core).fleet_provision(region, claim_pem, csr_pem, parameters)`` is one device's first
connection with the claim: CONNECT (the claim must be registered and ACTIVE, and its policy must allow
``iot:Connect`` as the client id, which defaults to a new ``builders.fleet.claim_client_id()``); SUBSCRIBE to the four reply
topics and PUBLISH the two requests, each checked against the claim's policy as the broker does; then

* **CreateCertificateFromCsr**: with a certificate provider in the region (``fleet_resources``), its
  Lambda is invoked with ``{"certificateSigningRequest", "requestId", "principalId"}`` and returns
  ``certificatePem``; the certificate is registered ``PENDING_ACTIVATION`` (with the registered CA that signed it)
  and a ``certificateOwnershipToken`` is issued. A provider failure is a rejection. Without a provider AWS would sign
  with its own CA: not emulated (refused, naming why);
* **CreateKeysAndCertificate** (``$aws/certificates/create/json``, request ``{}``): AWS makes a 2048-bit RSA key pair
  and a certificate signed by its own CA, never by a certificate provider (which replaces CreateCertificateFromCsr's
  signing only); here the stand-in for that CA (``amazon_ca``) signs it. The certificate is registered
  ``PENDING_ACTIVATION`` without a CA of the account, and ``{"certificateId", "certificatePem", "privateKey",
  "certificateOwnershipToken"}`` is the answer. Whether a device so made is provisioned is then the template's and its
  pre-provisioning hook's decision at RegisterThing, as in AWS (ours refuses it: not our CA, docs/design.md);
* **RegisterThing**: the token must be this region's; the template must exist and be enabled; its pre-provisioning
  hook gets ``claimCertificateId``, ``certificateId``, ``certificatePem``, ``templateArn``, ``clientId``,
  ``parameters`` and must answer ``allowProvisioning: true`` (a failure or refusal is ``AccessDenied``, as AWS's
  ACCESS_DENIED); ``parameterOverrides`` are merged; the template is applied (``provisioning.apply_template``) with
  ``AWS::IoT::Certificate::Id``. The answer is ``{"thingName", "deviceConfiguration"}``.

``FleetProvisioning.answer(connection, topic, payload)`` is the same API as the served MQTT endpoints see it
(``localcloud.services.iot.mqtt.broker``): a PUBLISH to one of the two request topics, checked like any publish (``iot:Publish``;
a refusal disconnects) but never given to the rules engine, answered by ``(reply topic, reply payload)`` for the
requesting connection only: ``<request topic>/accepted`` with the operation's answer, or ``/rejected`` with
``{"statusCode", "errorCode", "errorMessage"}``. ``is_request(topic)`` says which publishes it takes (JSON only).

A rejection raises ``ProvisioningRejected`` with the ``statusCode``/``errorCode``/``errorMessage`` AWS publishes on
``.../rejected``. The provisioning role's permissions are not evaluated (IAM is not emulated here); the assumptions
register's rows decide whether the role must carry ``AWSIoTThingsRegistration``, what IoT presents to the hook's
resource policy, and which regions the account's certificate provider signs for (``localcloud.assumptions``).
"""
from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

import boto3

from builders.fleet import CREATE_FROM_CSR, TEMPLATE_NAME, claim_client_id, provision_topic, reply_topics

from . import fleet_resources, provisioning
from .amazon_ca import amazon_ca
from .ca_link import signing_ca
from .core import Connection, IotCore


#: CreateKeysAndCertificate's request topic (JSON payloads; ``/cbor`` is not emulated).
CREATE_KEYS_AND_CERTIFICATE = "$aws/certificates/create/json"
#: How long a certificateOwnershipToken is good for RegisterThing (AWS: one hour). Expired tokens are dropped when
#: the next one is issued; the PENDING_ACTIVATION certificates they were for are kept, as AWS keeps them.
TOKEN_LIFETIME_S = 3600.0


class ProvisioningRejected(Exception):
    """What AWS publishes on a ``.../rejected`` topic."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(f"{status_code} {error_code}: {message}")
        self.status_code, self.error_code, self.error_message = status_code, error_code, message


@dataclass(frozen=True)
class Provisioned:
    certificate_id: str
    certificate_pem: str
    thing_name: str
    device_configuration: dict[str, Any]


class FleetProvisioning:
    def __init__(self, core: IotCore) -> None:
        self.core = core
        self._tokens: dict[str, tuple[str, str, float]] = {}  # ownership token -> (region, certificate id, expiry)
        self.token_lifetime_s = TOKEN_LIFETIME_S
        self.mqtt_requests = 0  # requests answered through answer() (the served endpoints)

    # the device side -----------------------------------------------------------------------------------
    def fleet_provision(self, region: str, claim_pem: str, csr_pem: str, parameters: Mapping[str, str], *,
                        client_id: str | None = None, template_name: str | None = None) -> Provisioned:
        client_id = client_id or claim_client_id()
        template_name = template_name or self._only_template(region)
        connection = self.core.connect(region, claim_pem, client_id)
        for topic in reply_topics(template_name):
            self.core.subscribe(connection, topic)
        self.core.publish(connection, CREATE_FROM_CSR, {"certificateSigningRequest": csr_pem})
        created = self.create_certificate_from_csr(connection, csr_pem)
        request = {"certificateOwnershipToken": created["certificateOwnershipToken"], "parameters": dict(parameters)}
        self.core.publish(connection, provision_topic(template_name), request)
        answer = self.register_thing(connection, template_name, request)
        connection.open = False  # the device disconnects and reconnects with its own certificate
        return Provisioned(created["certificateId"], created["certificatePem"], answer["thingName"],
                           answer["deviceConfiguration"])

    # the MQTT API, as the served endpoints call it ------------------------------------------------------
    @staticmethod
    def is_request(topic: str) -> bool:
        """Whether ``topic`` is one of the API's request topics (``.../json``; CBOR is not emulated)."""
        return _template_of(topic) is not None or topic in (CREATE_FROM_CSR, CREATE_KEYS_AND_CERTIFICATE)

    def answer(self, connection: Connection, topic: str, payload: bytes | str) -> tuple[str, dict[str, Any]]:
        """One request PUBLISH of ``connection``: ``(reply topic, reply payload)`` for that connection only.

        Raises ``PublishRefused`` (the connection is closed) when the publish itself is not allowed."""
        raw = self.core.check_publish(connection, topic, payload)
        self.mqtt_requests += 1
        try:
            try:
                request = json.loads(raw)
            except ValueError:
                raise ProvisioningRejected(400, "InvalidPayload", "the request is not JSON") from None
            if not isinstance(request, dict):
                raise ProvisioningRejected(400, "InvalidPayload", "the request is not a JSON object")
            template_name = _template_of(topic)
            if topic == CREATE_KEYS_AND_CERTIFICATE:  # the request is "{}": any other field is ignored
                reply: dict[str, Any] = self.create_keys_and_certificate(connection)
            elif template_name is None:
                csr_pem = request.get("certificateSigningRequest")
                if not isinstance(csr_pem, str) or not csr_pem.strip():
                    raise ProvisioningRejected(400, "InvalidPayload", "certificateSigningRequest is missing")
                reply = self.create_certificate_from_csr(connection, csr_pem)
            else:
                if not isinstance(request.get("parameters", {}), dict):
                    raise ProvisioningRejected(400, "InvalidPayload", "parameters is not an object")
                reply = self.register_thing(connection, template_name, request)
            return f"{topic}/accepted", reply
        except ProvisioningRejected as rejected:
            return f"{topic}/rejected", {"statusCode": rejected.status_code, "errorCode": rejected.error_code,
                                         "errorMessage": rejected.error_message}

    # the service side ----------------------------------------------------------------------------------
    def create_certificate_from_csr(self, connection: Connection, csr_pem: str) -> dict[str, str]:
        region, account = connection.region, self.core.account_id
        provider_region, provider = region, fleet_resources.certificate_provider(account, region)
        if provider is None and self.core.assumptions.certificate_provider_serves == "every_region":
            provider_region, provider = fleet_resources.account_certificate_provider(account)
        if provider is None:
            raise ProvisioningRejected(400, "InvalidRequest", f"no certificate provider serves {region}: AWS would sign "
                                       "with the Amazon CA (not emulated), whose certificates our hook refuses "
                                       "(assumptions register fleet.certificate-provider-regions)")
        answer = _invoke(provider_region, provider["lambdaFunctionArn"], {
            "certificateSigningRequest": csr_pem, "requestId": str(uuid.uuid4()),
            "principalId": connection.certificate_id})
        if answer is None or not isinstance(answer.get("certificatePem"), str):
            raise ProvisioningRejected(400, "InvalidCsr", "the certificate provider did not certify the CSR")
        pem = answer["certificatePem"]
        backend = self.core.backend(region)
        ca = signing_ca(backend, self.core._parse(pem).certificate)
        certificate = backend.register_certificate(pem, ca.certificate_pem if ca else None, False,
                                                   "PENDING_ACTIVATION")
        token = self._issue_token(region, certificate.certificate_id)
        return {"certificateId": certificate.certificate_id, "certificatePem": pem,
                "certificateOwnershipToken": token}

    def _issue_token(self, region: str, certificate_id: str) -> str:
        """A new ownership token for ``certificate_id``, good for ``token_lifetime_s``; expired ones are dropped."""
        now = time.monotonic()
        for stale in [t for t, (_, _, expiry) in self._tokens.items() if expiry <= now]:
            del self._tokens[stale]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (region, certificate_id, now + self.token_lifetime_s)
        return token

    def create_keys_and_certificate(self, connection: Connection) -> dict[str, str]:
        """A new key pair and a certificate of AWS's own CA (the stand-in), registered PENDING_ACTIVATION without a CA
        of the account in the connection's region, with an ownership token good there."""
        issued = amazon_ca().create_keys_and_certificate()
        certificate = self.core.backend(connection.region).register_certificate(issued.certificate_pem, None, False,
                                                                                "PENDING_ACTIVATION")
        token = self._issue_token(connection.region, certificate.certificate_id)
        return {"certificateId": certificate.certificate_id, "certificatePem": issued.certificate_pem,
                "privateKey": issued.private_key_pem, "certificateOwnershipToken": token}

    def register_thing(self, connection: Connection, template_name: str, request: Mapping[str, Any]) -> dict[str, Any]:
        region, account = connection.region, self.core.account_id
        owned = self._tokens.get(str(request.get("certificateOwnershipToken")))
        if owned is not None and owned[2] <= time.monotonic():
            del self._tokens[str(request.get("certificateOwnershipToken"))]
            raise ProvisioningRejected(400, "InvalidCertificateOwnershipToken", "the certificateOwnershipToken "
                                       f"expired ({self.token_lifetime_s:g} s after it was issued)")
        if owned is None or owned[0] != region:
            raise ProvisioningRejected(400, "InvalidCertificateOwnershipToken", "unknown certificateOwnershipToken")
        template = fleet_resources.templates(account, region).get(template_name)
        if template is None or not template["enabled"]:
            raise ProvisioningRejected(404, "NotFound", f"no enabled provisioning template {template_name!r}")
        backend = self.core.backend(region)
        certificate = backend.certificates[owned[1]]
        parameters = {str(k): str(v) for k, v in (request.get("parameters") or {}).items()}
        refused = provisioning.role_refusal(account, template.get("provisioningRoleArn"), self.core.assumptions)
        if refused is not None:  # AWS cannot run the template with this role (assumptions register)
            raise ProvisioningRejected(400, "InvalidRequest", refused)
        hook = template["preProvisioningHook"]
        if hook:
            denied = hook_invoke_refusal(region, account, hook["targetArn"], template["templateArn"],
                                         self.core.assumptions.hook_invoke_source)
            if denied is not None:  # "If the Lambda function fails, the provisioning request fails with ACCESS_DENIED"
                raise ProvisioningRejected(403, "AccessDenied", denied)
            answer = _invoke(region, hook["targetArn"], {
                "claimCertificateId": connection.certificate_id, "certificateId": certificate.certificate_id,
                "certificatePem": certificate.certificate_pem, "templateArn": template["templateArn"],
                "clientId": connection.client_id, "parameters": parameters})
            if not answer or answer.get("allowProvisioning") is not True:
                raise ProvisioningRejected(403, "AccessDenied", "the pre-provisioning hook refused the request")
            parameters.update({str(k): str(v) for k, v in (answer.get("parameterOverrides") or {}).items()})
        parameters["AWS::IoT::Certificate::Id"] = certificate.certificate_id
        try:
            applied = provisioning.apply_template(backend, json.loads(template["templateBody"]), parameters,
                                                  certificate)
        except provisioning.TemplateError as error:
            raise ProvisioningRejected(400, "InvalidRequest", str(error)) from None
        del self._tokens[str(request["certificateOwnershipToken"])]
        return {"thingName": applied["thingName"], "deviceConfiguration": {}}

    def _only_template(self, region: str) -> str:
        names = list(fleet_resources.templates(self.core.account_id, region))
        if len(names) != 1:
            raise ValueError(f"{region} has {len(names)} provisioning templates; name one (template_name=...)")
        return names[0]


def _template_of(topic: str) -> str | None:
    """The template named by a RegisterThing request topic, else None."""
    prefix, suffix = "$aws/provisioning-templates/", "/provision/json"
    if not (topic.startswith(prefix) and topic.endswith(suffix)):
        return None
    name = topic[len(prefix):-len(suffix)]
    return name if TEMPLATE_NAME.fullmatch(name) else None


def hook_invoke_refusal(region: str, account: str, function_arn: str, template_arn: str, source: str) -> str | None:
    """Why Lambda would refuse IoT's invoke of the pre-provisioning hook, or None: its resource policy must have an
    Allow statement for ``iot.amazonaws.com`` and ``lambda:InvokeFunction`` whose conditions hold for what IoT
    presents. What IoT presents is not documented (the guide asks for "source-arn or source-account" conditions):
    ``account_only`` (the default, worse for a permission pinned to an ARN) gives ``AWS:SourceAccount`` and no
    ``AWS:SourceArn``; ``template_arn`` gives both, the ARN being the template's (docs/emulator.md, assumptions
    register ``fleet.hook-invoke-source``)."""
    context = {"aws:sourceaccount": account}
    if source == "template_arn":
        context["aws:sourcearn"] = template_arn
    try:
        policy = json.loads(boto3.client("lambda", region_name=region).get_policy(FunctionName=function_arn)["Policy"])
    except Exception as error:  # noqa: BLE001 - no policy at all: nothing allows IoT
        return f"the hook {function_arn} has no resource policy allowing iot.amazonaws.com ({type(error).__name__})"
    if allows_iot_invoke(policy, context):
        return None
    presented = ", ".join(f"{k}={v}" for k, v in sorted(context.items()))
    return (f"no statement of {function_arn}'s resource policy allows iot.amazonaws.com to invoke it with what IoT "
            f"presents ({presented}; assumptions register fleet.hook-invoke-source)")


def allows_iot_invoke(policy: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Whether a Lambda resource policy has an Allow statement for ``iot.amazonaws.com`` and ``lambda:InvokeFunction``
    whose conditions hold for ``context`` (lower-case global condition keys: ``aws:sourceaccount``, ...)."""
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal") or {}
        service = principal.get("Service") if isinstance(principal, dict) else principal
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else list(actions or [])
        if statement.get("Effect") != "Allow" or "iot.amazonaws.com" not in ([service] if isinstance(service, str)
                                                                              else list(service or [])):
            continue
        if not {"lambda:InvokeFunction", "lambda:*", "*"} & set(actions):
            continue
        if all(_condition_holds(operator, key.lower(), expected, context)
               for operator, conditions in (statement.get("Condition") or {}).items()
               for key, expected in conditions.items()):
            return True
    return False


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    """One IAM condition on a key IoT may present; a key it does not present fails (no ...IfExists is used here)."""
    import fnmatch

    if key not in context:
        return operator.endswith("IfExists")
    value = context[key]
    wanted = [expected] if isinstance(expected, str) else list(expected)
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "ArnEquals"):
        return value in wanted
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted)
    return False  # an operator this check does not know: not assumed to hold


def _invoke(region: str, function_arn: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Invoke a Lambda in-process; None when it failed (AWS treats a failing function as a rejection)."""
    response = boto3.client("lambda", region_name=region).invoke(FunctionName=function_arn,
                                                                 Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    return None if response.get("FunctionError") else payload
