"""A catalog of bad inputs: each must produce exactly the listed violations of one policy.

Each entry drives the policy through real ``ResourceValidationArgs`` / ``StackValidationArgs``
and compares the full list of messages, so a changed, missing or extra message fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from policy_harness import ACCOUNT, allow, doc, iot_arn, run_resource, run_stack, stack_resource

THING = "${iot:Connection.Thing.ThingName}"
DOMAIN = "aws:iot/domainConfiguration:DomainConfiguration"
IOT_POLICY = "aws:iot/policy:Policy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED = "aws:iam/policy:Policy"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TABLE = "aws:dynamodb/table:Table"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
SFN = "aws:sfn/stateMachine:StateMachine"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LAMBDA = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"

TLS13 = "IoTSecurityPolicy_TLS13_1_3_2022_10"
SERVICE_TRUST = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
                 "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}


def trust(*statements: Any) -> dict:
    return {"assumeRolePolicy": doc(*statements)}


@dataclass
class Bad:
    id: str
    policy: str
    type: str
    props: dict
    expected: list[str]
    config: dict = field(default_factory=dict)


SOURCE_CONDITION_TAIL = ('aws:SourceArn condition that names one account or resource (a pattern such as "*" or '
                         'arn:aws:iot:*:*:* pins nothing); add "Condition": {"StringEquals": {"aws:SourceAccount": '
                         '"<account id>"}} (and aws:SourceArn where known) against the confused-deputy problem.')
FOREIGN = "999988887777"
TEMPLATE = "aws:iot/provisioningTemplate:ProvisioningTemplate"
FOREIGN_ROOT_TAIL = (f"which is not in this rule's trustedAccounts ({ACCOUNT}); a Condition does not make another "
                     "account's root safe to trust (that account decides who meets it): trust a service principal, "
                     "or list the account in trustedAccounts after a review.")
AWS_MANAGED_TAIL = ("write a customer managed or inline policy with the exact actions and resources instead (AWS "
                    "managed policies are broad and change without review).")


def template_body(*statements: Any) -> str:
    """A fleet provisioning template whose AWS::IoT::Policy has these statements (a JSON string)."""
    import json

    policy = {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": doc(*statements)}}
    thing = {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}}
    return json.dumps({"Parameters": {"SerialNumber": {"Type": "String"}},
                       "Resources": {"thing": thing, "DevicePolicy": policy}})


PUBLIC_TAIL = ('grants every principal ("*") with no condition naming the caller\'s account, organization or '
               "source; name the service or account, or add aws:SourceArn / aws:PrincipalAccount conditions.")
SERVICE_TAIL = ("an aws:SourceArn or aws:SourceAccount condition that names one resource or account, so the service "
                'acting for another account could use it; add "Condition": {"ArnEquals": {"aws:SourceArn": "<the '
                'resource that sends>"}} or {"StringEquals": {"aws:SourceAccount": "<account id>"}} naming one '
                "resource or account.")
UNTRUSTED_TAIL = (f"whose account is not in this rule's trustedAccounts ({ACCOUNT}); grant a service principal "
                  "pinned to its source, or list the account after a review.")
WILDCARD_RESOURCE_TAIL = ("(they are not in policy/data/wildcard_only_actions.json); name the resource ARNs and keep "
                          '"*" only for actions that support nothing narrower.')

CATALOG = [
    # --- IoT domain configuration -------------------------------------------------------------
    Bad("tls12-policy", "iot-domain-tls13", DOMAIN,
        {"tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}},
        ['The domain configuration uses security policy "IoTSecurityPolicy_TLS13_1_2_2022_10", which is not in '
         f'the allowed list ({TLS13}); set tls_config.security_policy to "{TLS13}".']),
    Bad("missing-tls-config", "iot-domain-tls13", DOMAIN, {"domainName": "iot.example.com"},
        ["The domain configuration sets no tls_config.security_policy, so AWS IoT applies its default, which "
         f'accepts TLS 1.2; set tls_config={{"security_policy": "{TLS13}"}}.']),
    Bad("empty-tls-config", "iot-domain-tls13", DOMAIN, {"tlsConfig": {}},
        ["The domain configuration sets no tls_config.security_policy, so AWS IoT applies its default, which "
         f'accepts TLS 1.2; set tls_config={{"security_policy": "{TLS13}"}}.']),
    Bad("lower-case-t-in-iot", "iot-domain-tls13", DOMAIN,
        {"tlsConfig": {"securityPolicy": "IotSecurityPolicy_TLS13_1_3_2022_10"}},
        ['The domain configuration uses security policy "IotSecurityPolicy_TLS13_1_3_2022_10", which is not in '
         f"the allowed list ({TLS13}) (names are case-sensitive: note the capital T in IoT); "
         f'set tls_config.security_policy to "{TLS13}".']),
    # --- IoT policies ---------------------------------------------------------------------------
    Bad("iot-star-action", "iot-policy-no-wildcard-actions", IOT_POLICY,
        {"policy": doc(allow("iot:*", iot_arn(f"client/{THING}")))},
        ['Statement 0 allows "iot:*"; list the exact device actions (iot:Connect, iot:Publish, iot:Subscribe, '
         "iot:Receive)."]),
    Bad("iot-all-actions", "iot-policy-no-wildcard-actions", IOT_POLICY,
        {"policy": doc(allow(["iot:Connect", "*"], iot_arn(f"client/{THING}"), Sid="Everything"))},
        ['Statement 0 ("Everything") allows "*"; list the exact device actions (iot:Connect, iot:Publish, '
         "iot:Subscribe, iot:Receive)."]),
    Bad("iot-action-pattern", "iot-policy-no-wildcard-actions", IOT_POLICY,
        {"policy": doc(allow("iot:Publish*", iot_arn(f"topic/i/{THING}/*")))},
        ['Statement 0 allows "iot:Publish*"; list the exact device actions (iot:Connect, iot:Publish, '
         "iot:Subscribe, iot:Receive)."]),
    Bad("iot-resource-star", "iot-policy-no-wildcard-resources", IOT_POLICY,
        {"policy": doc(allow(["iot:Connect", "iot:Publish"], "*"))},
        ['Statement 0 allows iot:Connect, iot:Publish on Resource "*"; scope it to ARNs of this account and region '
         f"that contain {THING}, e.g. arn:aws:iot:<region>:<account>:client/{THING}."]),
    Bad("iot-resource-arn-star", "iot-policy-no-wildcard-resources", IOT_POLICY,
        {"policy": doc(allow("iot:Receive", f"arn:aws:iot:eu-west-1:{ACCOUNT}:*"))},
        [f'Statement 0 allows iot:Receive on Resource "arn:aws:iot:eu-west-1:{ACCOUNT}:*"; scope it to ARNs '
         f"of this account and region that contain {THING}, e.g. arn:aws:iot:<region>:<account>:client/{THING}."]),
    Bad("unscoped-device-publish", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow("iot:Publish", iot_arn("topic/i/*")))},
        [f'Statement 0 allows iot:Publish on "{iot_arn("topic/i/*")}", which every device may use; include '
         f"{THING} in the resource (e.g. topic/i/{THING}/*)."]),
    Bad("unscoped-device-subscribe", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow(["iot:Subscribe"], [iot_arn(f"topicfilter/e/{THING}/*"), iot_arn("topicfilter/e/*")]))},
        [f'Statement 0 allows iot:Subscribe on "{iot_arn("topicfilter/e/*")}", which every device may use; '
         f"include {THING} in the resource (e.g. topic/i/{THING}/*)."]),
    Bad("connect-without-attached-condition", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow("iot:Connect", iot_arn(f"client/{THING}"), Sid="Connect"))},
        ['Statement 0 ("Connect") allows iot:Connect without the condition '
         '{"Bool": {"iot:Connection.Thing.IsAttached": "true"}}; add it so only a certificate attached to the '
         "thing can connect as that thing."]),
    Bad("topic-rule-without-error-action", "iot-topic-rule-error-action", "aws:iot/topicRule:TopicRule",
        {"enabled": True, "sql": "SELECT * FROM 'x'", "sqlVersion": "2016-03-23"},
        ["The topic rule has no error_action, so a failed action (e.g. starting the JITR state machine) is "
         "dropped without a trace; add error_action, e.g. cloudwatch_logs to a log group with retention."]),
    # --- IAM: wildcard actions ------------------------------------------------------------------
    Bad("iam-star-action", "iam-no-wildcard-actions", ROLE_POLICY,
        {"role": "r", "policy": doc(allow("*", "arn:aws:s3:::b"))},
        ['Statement 0 allows every action of every service ("*"); list the exact actions the role needs.']),
    Bad("iam-service-star", "iam-no-wildcard-actions", MANAGED,
        {"policy": doc(allow(["dynamodb:GetItem", "dynamodb:*"], "arn:aws:dynamodb:eu-west-1:1:table/t"))},
        ['Statement 0 allows every dynamodb action ("dynamodb:*"); list the exact dynamodb actions the role needs.']),
    Bad("iam-seed-logs-star-inline", "iam-no-wildcard-actions", ROLE,
        {"assumeRolePolicy": doc(SERVICE_TRUST),
         "inlinePolicies": [{"name": "logs", "policy": doc(allow("logs:*", "arn:aws:logs:eu-west-1:1:log-group:x"))}]},
        ['Inline policy "logs" statement 0 allows every logs action ("logs:*"); list the exact logs actions the '
         "role needs."]),
    Bad("iam-action-pattern", "iam-no-wildcard-actions", ROLE_POLICY,
        {"policy": doc(allow("iot:Create*", iot_arn("thing/*"), Sid="Things"))},
        ['Statement 0 ("Things") allows the wildcard pattern "iot:Create*", which also matches actions AWS adds '
         "later; list the exact actions instead."]),
    Bad("iam-question-mark-pattern", "iam-no-wildcard-actions", ROLE_POLICY,
        {"policy": doc(allow("iot:?escribeThing", iot_arn("thing/*")))},
        ['Statement 0 allows the wildcard pattern "iot:?escribeThing", which also matches actions AWS adds '
         "later; list the exact actions instead."]),
    Bad("iam-trust-sts-star", "iam-no-wildcard-actions", ROLE,
        {"assumeRolePolicy": doc(dict(SERVICE_TRUST, Action="sts:*"))},
        ['Trust policy statement 0 allows every sts action ("sts:*"); list the exact sts actions the role needs.']),
    Bad("iam-malformed-document", "iam-no-wildcard-actions", ROLE_POLICY, {"policy": '{"Statement": ['},
        ["The policy: the policy document is not valid JSON (Expecting value at line 1 column 16); give a JSON "
         "policy document so it can be reviewed."]),
    # --- IAM: NotAction / NotResource -------------------------------------------------------------
    Bad("not-action-with-allow", "iam-no-not-action-not-resource", ROLE_POLICY,
        {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        ["Statement 0 uses NotAction with Effect Allow, which grants every action except the listed ones; "
         "replace it with an Action list of the actions needed."]),
    Bad("not-resource-with-allow", "iam-no-not-action-not-resource", MANAGED,
        {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"})},
        ["Statement 0 uses NotResource with Effect Allow, which grants the actions on every resource except the "
         "listed ones; replace it with a Resource list of the ARNs needed."]),
    # --- IAM: Resource "*" ------------------------------------------------------------------------
    Bad("star-resource-for-scoped-action", "iam-wildcard-resource-only-when-required", ROLE_POLICY,
        {"policy": doc(allow(["iot:CreateThing", "iot:RegisterCertificate"], "*"))},
        ['Statement 0 grants iot:CreateThing on Resource "*", but this action supports resource-level permissions '
         + WILDCARD_RESOURCE_TAIL]),
    Bad("arn-star-resource", "iam-wildcard-resource-only-when-required", ROLE_POLICY,
        {"policy": doc(allow(["logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:*:*:*"))},
        ['Statement 0 grants logs:CreateLogStream, logs:PutLogEvents on Resource "arn:aws:logs:*:*:*", but these '
         "actions support resource-level permissions " + WILDCARD_RESOURCE_TAIL]),
    # --- IAM: PassRole ----------------------------------------------------------------------------
    Bad("passrole-on-star", "iam-passrole-named-roles", ROLE_POLICY,
        {"policy": doc(allow("iam:PassRole", "*"))},
        ['Statement 0 allows iam:PassRole on "*"; name the exact role ARNs the service needs '
         "(arn:aws:iam::<account>:role/<name>)."]),
    Bad("passrole-on-role-prefix", "iam-passrole-named-roles", ROLE_POLICY,
        {"policy": doc(allow(["iam:PassRole"], [f"arn:aws:iam::{ACCOUNT}:role/ok",
                                                f"arn:aws:iam::{ACCOUNT}:role/iot-*"], Sid="Pass"))},
        [f'Statement 0 ("Pass") allows iam:PassRole on "arn:aws:iam::{ACCOUNT}:role/iot-*"; name the exact role '
         "ARNs the service needs (arn:aws:iam::<account>:role/<name>)."]),
    Bad("passrole-through-iam-star", "iam-passrole-named-roles", MANAGED,
        {"policy": doc(allow("iam:*", f"arn:aws:iam::{ACCOUNT}:role/*"))},
        [f'Statement 0 allows iam:PassRole on "arn:aws:iam::{ACCOUNT}:role/*"; name the exact role ARNs the '
         "service needs (arn:aws:iam::<account>:role/<name>)."]),
    # --- IAM: trust policies ----------------------------------------------------------------------
    Bad("trust-star", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
        ['Trust policy statement 0 trusts every principal ("*"); trust only the AWS service that assumes this '
         'role, e.g. {"Service": "states.amazonaws.com"}.']),
    Bad("trust-aws-star", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
        ['Trust policy statement 0 trusts every principal ("*"); trust only the AWS service that assumes this '
         'role, e.g. {"Service": "states.amazonaws.com"}.']),
    Bad("trust-account-root-unconditioned", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}),
        [f'Trust policy statement 0 trusts the whole account "arn:aws:iam::{ACCOUNT}:root" without a Condition; '
         "trust a service principal instead, or add conditions that name who in that account may assume the "
         "role."], config={"trustedAccounts": [ACCOUNT]}),
    Bad("trust-bare-account-id", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}),
        [f'Trust policy statement 0 trusts the whole account "{ACCOUNT}" without a Condition; trust a service '
         "principal instead, or add conditions that name who in that account may assume the role."],
        config={"trustedAccounts": [ACCOUNT]}),
    Bad("trust-service-without-source-condition", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"Service": ["states.amazonaws.com", "ec2.amazonaws.com"]},
               "Action": "sts:AssumeRole"}),
        ["Trust policy statement 0 lets states.amazonaws.com assume the role without an aws:SourceAccount or "
         + SOURCE_CONDITION_TAIL]),
    Bad("trust-iot-with-unrelated-condition", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole",
               "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}),
        ["Trust policy statement 0 lets iot.amazonaws.com assume the role without an aws:SourceAccount or "
         + SOURCE_CONDITION_TAIL]),
    Bad("trust-role-principal", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"},
               "Action": "sts:AssumeRole"}),
        [f'Trust policy statement 0 trusts the AWS principal "arn:aws:iam::{ACCOUNT}:role/ci"; roles in this '
         "program may only be assumed by AWS service principals (or an account root with conditions)."]),
    Bad("trust-federated", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
               "Action": "sts:AssumeRoleWithWebIdentity"}),
        ['Trust policy statement 0 trusts the Federated principal "cognito-identity.amazonaws.com"; roles in '
         "this program may only be assumed by AWS service principals (or an account root with conditions)."]),
    # --- IAM: AWS managed policies ----------------------------------------------------------------
    Bad("aws-managed-lambda-basic", "iam-no-aws-managed-policies", ATTACH,
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
        ['Attaches the AWS managed policy "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"; '
         "write a customer managed or inline policy with the exact actions and resources instead (AWS managed "
         "policies are broad and change without review)."]),
    Bad("aws-managed-admin-on-role", "iam-no-aws-managed-policies", ROLE,
        {"assumeRolePolicy": doc(SERVICE_TRUST),
         "managedPolicyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
                               "arn:aws:iam::aws:policy/AdministratorAccess"]},
        ['Attaches the AWS managed policy "arn:aws:iam::aws:policy/AdministratorAccess"; write a customer managed '
         "or inline policy with the exact actions and resources instead (AWS managed policies are broad and "
         "change without review)."]),
    Bad("aws-managed-not-in-configured-list", "iam-no-aws-managed-policies", ATTACH,
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"},
        ['Attaches the AWS managed policy "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"; write a customer '
         "managed or inline policy with the exact actions and resources instead (AWS managed policies are broad "
         "and change without review)."],
        config={"allowedAwsManagedPolicies": []}),
    # --- Data at rest -----------------------------------------------------------------------------
    Bad("table-without-pitr", "dynamodb-point-in-time-recovery", TABLE,
        {"hashKey": "ThingName", "serverSideEncryption": {"enabled": True}},
        ['The table does not enable point-in-time recovery; set point_in_time_recovery={"enabled": True}.']),
    Bad("replica-without-pitr", "dynamodb-point-in-time-recovery", TABLE,
        {"pointInTimeRecovery": {"enabled": True},
         "replicas": [{"regionName": "us-west-2"}, {"regionName": "ap-southeast-1", "pointInTimeRecovery": True}]},
        ['Replica "us-west-2" does not enable point-in-time recovery; set point_in_time_recovery=True on that '
         "replica (each replica has its own setting)."]),
    Bad("table-without-sse", "dynamodb-server-side-encryption", TABLE,
        {"pointInTimeRecovery": {"enabled": True}, "serverSideEncryption": {"enabled": False}},
        ["The table is encrypted only with the AWS owned key (server_side_encryption is not enabled); set "
         'server_side_encryption={"enabled": True} (optionally with kms_key_arn) so the key is visible and '
         "auditable in the account."]),
    Bad("queue-without-encryption", "sqs-queue-encrypted", QUEUE, {"name": "dlq"},
        ["The queue does not declare encryption at rest; set sqs_managed_sse_enabled=True (SSE-SQS, which "
         "EventBridge can deliver to) or kms_master_key_id."]),
    Bad("queue-with-sse-switched-off", "sqs-queue-encrypted", QUEUE,
        {"name": "dlq", "sqsManagedSseEnabled": False, "kmsMasterKeyId": ""},
        ["The queue does not declare encryption at rest; set sqs_managed_sse_enabled=True (SSE-SQS, which "
         "EventBridge can deliver to) or kms_master_key_id."]),
    Bad("log-group-without-retention", "log-group-retention", LOGS, {"name": "/aws/lambda/x"},
        ["The log group keeps its events forever; set retention_in_days (e.g. 30)."]),
    Bad("log-group-retention-zero", "log-group-retention", LOGS, {"name": "/x", "retentionInDays": 0},
        ["The log group keeps its events forever; set retention_in_days (e.g. 30)."]),
    # --- Step Functions ---------------------------------------------------------------------------
    Bad("state-machine-without-logging", "sfn-logging-enabled", SFN, {"definition": "{}", "roleArn": "arn"},
        ['The state machine has no logging_configuration; set level "ERROR" (or "ALL") and log_destination '
         '"<log group ARN>:*".']),
    Bad("state-machine-logging-off", "sfn-logging-enabled", SFN,
        {"loggingConfiguration": {"level": "OFF", "logDestination": "arn:aws:logs:eu-west-1:1:log-group:x:*"}},
        ['The state machine logs at level "OFF"; set logging_configuration.level to "ERROR" or "ALL".']),
    Bad("state-machine-logging-without-destination", "sfn-logging-enabled", SFN,
        {"loggingConfiguration": {"level": "ALL"}},
        ["The state machine's logging_configuration has no log_destination; set it to \"<log group ARN>:*\" of "
         "a log group with retention."]),
    Bad("express-state-machine", "sfn-standard-workflow", SFN, {"type": "EXPRESS"},
        ['The state machine is an EXPRESS workflow, which runs at-least-once when started asynchronously; use '
         'type "STANDARD" (exactly-once), as the design requires.']),
    # --- Issue 11: wildcard resources beyond "*" and "...:*" ------------------------------------------
    Bad("iot-resource-any-account-any-path", "iot-policy-no-wildcard-resources", IOT_POLICY,
        {"policy": doc(allow("iot:Publish", "arn:aws:iot:*:*:*/*"))},
        ['Statement 0 allows iot:Publish on Resource "arn:aws:iot:*:*:*/*"; scope it to ARNs of this account and '
         f"region that contain {THING}, e.g. arn:aws:iot:<region>:<account>:client/{THING}."]),
    Bad("iot-resource-double-star", "iot-policy-no-wildcard-resources", IOT_POLICY,
        {"policy": doc(allow("iot:Subscribe", "arn:aws:iot:*:*:**"))},
        ['Statement 0 allows iot:Subscribe on Resource "arn:aws:iot:*:*:**"; scope it to ARNs of this account and '
         f"region that contain {THING}, e.g. arn:aws:iot:<region>:<account>:client/{THING}."]),
    Bad("iam-resource-iot-any-account-any-path", "iam-wildcard-resource-only-when-required", ROLE_POLICY,
        {"policy": doc(allow("iot:DescribeThing", "arn:aws:iot:*:*:*/*"))},
        ['Statement 0 grants iot:DescribeThing on Resource "arn:aws:iot:*:*:*/*", but this action supports '
         "resource-level permissions " + WILDCARD_RESOURCE_TAIL]),
    Bad("iam-resource-iot-double-star", "iam-wildcard-resource-only-when-required", ROLE_POLICY,
        {"policy": doc(allow("iot:DescribeThing", "arn:aws:iot:*:*:**"))},
        ['Statement 0 grants iot:DescribeThing on Resource "arn:aws:iot:*:*:**", but this action supports '
         "resource-level permissions " + WILDCARD_RESOURCE_TAIL]),
    Bad("iam-resource-every-table-of-every-account", "iam-wildcard-resource-only-when-required", ROLE_POLICY,
        {"policy": doc(allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/*"))},
        ['Statement 0 grants dynamodb:GetItem on Resource "arn:aws:dynamodb:*:*:table/*", but this action supports '
         "resource-level permissions " + WILDCARD_RESOURCE_TAIL]),
    Bad("iam-resource-every-object-of-every-bucket", "iam-wildcard-resource-only-when-required", MANAGED,
        {"policy": doc(allow("s3:GetObject", "arn:aws:s3:::*/*"))},
        ['Statement 0 grants s3:GetObject on Resource "arn:aws:s3:::*/*", but this action supports '
         "resource-level permissions " + WILDCARD_RESOURCE_TAIL]),
    # --- Issue 11: trust policies -------------------------------------------------------------------
    Bad("trust-foreign-root-with-condition", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"}, "Action": "sts:AssumeRole",
               "Condition": {"StringEquals": {"sts:ExternalId": "shared-secret"}}}),
        [f'Trust policy statement 0 trusts the account "arn:aws:iam::{FOREIGN}:root", ' + FOREIGN_ROOT_TAIL],
        config={"trustedAccounts": [ACCOUNT]}),
    Bad("trust-foreign-bare-id-with-condition", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"AWS": [FOREIGN]}, "Action": "sts:AssumeRole",
               "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
        [f'Trust policy statement 0 trusts the account "{FOREIGN}", ' + FOREIGN_ROOT_TAIL],
        config={"trustedAccounts": [ACCOUNT]}),
    Bad("trust-source-account-pattern-star", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole",
               "Condition": {"StringLike": {"aws:SourceAccount": "*"}}}),
        ["Trust policy statement 0 lets iot.amazonaws.com assume the role without an aws:SourceAccount or "
         + SOURCE_CONDITION_TAIL]),
    Bad("trust-source-arn-any-account", "iam-trust-service-principals", ROLE,
        trust({"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole",
               "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:iot:*:*:*"}}}),
        ["Trust policy statement 0 lets iot.amazonaws.com assume the role without an aws:SourceAccount or "
         + SOURCE_CONDITION_TAIL]),
    # --- Issue 11: AdministratorAccess through the exclusive attachments ---------------------------------
    Bad("admin-through-role-policy-attachments-exclusive", "iam-no-aws-managed-policies",
        "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        ['Attaches the AWS managed policy "arn:aws:iam::aws:policy/AdministratorAccess"; ' + AWS_MANAGED_TAIL]),
    Bad("admin-through-user-policy-attachments-exclusive", "iam-no-aws-managed-policies",
        "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
        {"userName": "u", "policyArns": [f"arn:aws:iam::{ACCOUNT}:policy/ours",
                                         "arn:aws:iam::aws:policy/AdministratorAccess"]},
        ['Attaches the AWS managed policy "arn:aws:iam::aws:policy/AdministratorAccess"; ' + AWS_MANAGED_TAIL]),
    # --- Issue 11: device policies ----------------------------------------------------------------------
    Bad("thing-variable-inside-wildcard", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow("iot:Publish", iot_arn(f"topic/*{THING}*")))},
        [f'Statement 0 allows iot:Publish on "{iot_arn(f"topic/*{THING}*")}", where {THING} is not a whole path '
         "segment after a fixed prefix, so the wildcards around it also match other things' resources; write it as "
         f".../{THING}/... with no wildcard before it."]),
    Bad("thing-variable-as-name-prefix", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow("iot:Receive", iot_arn(f"topic/e/{THING}-*")))},
        [f'Statement 0 allows iot:Receive on "{iot_arn(f"topic/e/{THING}-*")}", where {THING} is not a whole path '
         "segment after a fixed prefix, so the wildcards around it also match other things' resources; write it as "
         f".../{THING}/... with no wildcard before it."]),
    Bad("retained-messages-of-every-topic", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow("iot:GetRetainedMessage", iot_arn("topic/*")))},
        [f'Statement 0 allows iot:GetRetainedMessage on "{iot_arn("topic/*")}", which every device may use; include '
         f"{THING} in the resource (e.g. topic/i/{THING}/*)."]),
    Bad("job-executions-of-every-thing", "iot-policy-device-scoped", IOT_POLICY,
        {"policy": doc(allow(["iot:DescribeJobExecution", "iot:UpdateJobExecution"], iot_arn("thing/*")))},
        [f'Statement 0 allows iot:DescribeJobExecution, iot:UpdateJobExecution on "{iot_arn("thing/*")}", which '
         f"every device may use; include {THING} in the resource (e.g. topic/i/{THING}/*)."]),
    Bad("provisioning-template-iot-star", "iot-policy-no-wildcard-actions", TEMPLATE,
        {"name": "fleet", "provisioningRoleArn": f"arn:aws:iam::{ACCOUNT}:role/prov",
         "templateBody": template_body(allow("iot:*", iot_arn(f"client/{THING}")))},
        ['Provisioning template policy "DevicePolicy" statement 0 allows "iot:*"; list the exact device actions '
         "(iot:Connect, iot:Publish, iot:Subscribe, iot:Receive)."]),
    Bad("provisioning-template-unscoped-publish", "iot-policy-device-scoped", TEMPLATE,
        {"name": "fleet", "templateBody": template_body(allow("iot:Publish", iot_arn("topic/i/*")))},
        [f'Provisioning template policy "DevicePolicy" statement 0 allows iot:Publish on "{iot_arn("topic/i/*")}", '
         f"which every device may use; include {THING} in the resource (e.g. topic/i/{THING}/*)."]),
    # --- Issue 11: documents AWS would not read as the pack did ------------------------------------------
    Bad("lower-case-allow-effect", "iam-no-wildcard-actions", ROLE_POLICY,
        {"role": "r", "policy": doc({"Effect": "allow", "Action": "*", "Resource": "*"})},
        ['The policy: statement 0 has Effect "allow"; AWS accepts only "Allow" or "Deny" (the value is '
         "case-sensitive)."]),
    Bad("iot-lower-case-allow-effect", "iot-policy-no-wildcard-actions", IOT_POLICY,
        {"policy": doc({"Effect": "allow", "Action": "iot:*", "Resource": "*"})},
        ['The IoT policy: statement 0 has Effect "allow"; AWS accepts only "Allow" or "Deny" (the value is '
         "case-sensitive)."]),
    Bad("duplicate-condition-key", "iam-no-wildcard-actions", ROLE,
        {"assumeRolePolicy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": '
                             '"iot.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": '
                             f'{{"aws:SourceAccount": "{ACCOUNT}", "aws:SourceAccount": "*"}}}}}}]}}'},
        ['Trust policy: the policy document repeats the key "aws:SourceAccount" in one object; JSON parsers disagree '
         "on which copy wins, so the document reviewed may not be the one AWS enforces: keep one copy of each "
         "key."]),
    Bad("duplicate-effect-key", "iam-no-wildcard-actions", ROLE_POLICY,
        {"policy": '{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}]}'},
        ['The policy: the policy document repeats the key "Effect" in one object; JSON parsers disagree on which '
         "copy wins, so the document reviewed may not be the one AWS enforces: keep one copy of each key."]),
    Bad("duplicate-key-differing-in-case", "iam-no-wildcard-actions", ROLE_POLICY,
        {"policy": '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", '
                   '"Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1", "AWS:SourceVPC": "vpc-2"}}}]}'},
        ['The policy: the policy document repeats the key "aws:SourceVpc" (again as "AWS:SourceVPC") in one '
         "object; JSON parsers disagree on which copy wins, so the document reviewed may not be the one AWS enforces: keep one "
         "copy of each key."]),
    Bad("topic-rule-empty-error-action", "iot-topic-rule-error-action", "aws:iot/topicRule:TopicRule",
        {"enabled": True, "sql": "SELECT * FROM 'x'", "sqlVersion": "2016-03-23", "errorAction": {}},
        ["The topic rule's error_action configures no action, so a failed action is dropped without a trace as if "
         "there were none; set one action in it, e.g. cloudwatch_logs to a log group with retention."]),
    Bad("topic-rule-lookup-in-where", "iot-topic-rule-sql-lookups", "aws:iot/topicRule:TopicRule",
        {"sql": "SELECT * FROM '$aws/events/certificates/registered/abc' WHERE certificateStatus = "
                "'PENDING_ACTIVATION' AND isUndefined(CASE get_dynamodb('leases', 'CertificateId', certificateId, "
                "'arn:aws:iam::111122223333:role/r').ExpiresAt * 1000 > timestamp() WHEN true THEN 'held' END)",
         "sqlVersion": "2016-03-23"},
        ["The topic rule's SQL calls get_dynamodb() (1 call): for a key with no item AWS is reported to fail the "
         "function (FunctionExecution), so the rule matches nothing and runs no action, not even its error action "
         "(re:Post QUtmrQNjM4SkiP8mWy31_8Ew). Match on the message alone and read DynamoDB in the action (a Lambda "
         "function or a Step Functions workflow)."]),
    # --- Issue 11: resource policies (closed limits) -------------------------------------------------
    Bad("sqs-queue-policy-public", "resource-policy-principals", "aws:sqs/queuePolicy:QueuePolicy",
        {"queueUrl": "q", "policy": doc({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
                                         "Resource": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:dlq"})},
        ["Statement 0 " + PUBLIC_TAIL]),
    Bad("sqs-queue-policy-service-any-rule", "resource-policy-principals", QUEUE,
        {"name": "dlq", "policy": doc({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                       "Action": "sqs:SendMessage", "Resource": "*",
                                       "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/*"}}})},
        ["Statement 0 lets events.amazonaws.com act without " + SERVICE_TAIL]),
    Bad("kms-key-policy-foreign-account", "resource-policy-principals", "aws:kms/keyPolicy:KeyPolicy",
        {"keyId": "k", "policy": doc({"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                                      "Action": "kms:Decrypt", "Resource": "*"})},
        [f'Statement 0 ("Use") grants the AWS principal "arn:aws:iam::{FOREIGN}:root", ' + UNTRUSTED_TAIL],
        config={"trustedAccounts": [ACCOUNT]}),
    Bad("s3-bucket-policy-public-read", "resource-policy-principals", BUCKET_POLICY,
        {"bucket": "b", "policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
                                       "Resource": "arn:aws:s3:::b/*"})},
        ["Statement 0 " + PUBLIC_TAIL]),
    Bad("dynamodb-resource-policy-any-account", "resource-policy-principals",
        "aws:dynamodb/resourcePolicy:ResourcePolicy",
        {"resourceArn": "t", "policy": doc({"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem",
                                            "Resource": "*",
                                            "Condition": {"StringLike": {"aws:PrincipalAccount": "*"}}})},
        ["Statement 0 " + PUBLIC_TAIL]),
    Bad("sns-topic-policy-service-unpinned", "resource-policy-principals", "aws:sns/topicPolicy:TopicPolicy",
        {"arn": "t", "policy": doc({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                    "Action": "sns:Publish", "Resource": "*"})},
        ["Statement 0 lets cloudwatch.amazonaws.com act without " + SERVICE_TAIL]),
    Bad("sns-topic-inline-not-principal", "resource-policy-principals", "aws:sns/topic:Topic",
        {"name": "alarms", "policy": doc({"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                          "Action": "sns:Publish", "Resource": "*"})},
        ["Statement 0 uses NotPrincipal with Effect Allow, which grants everyone except the listed principals; "
         "name the principals in Principal instead."]),
    Bad("lambda-permission-public", "resource-policy-principals", "aws:lambda/permission:Permission",
        {"action": "lambda:InvokeFunction", "function": "f", "principal": "*"},
        ["The permission " + PUBLIC_TAIL]),
    Bad("lambda-permission-service-without-source", "resource-policy-principals", "aws:lambda/permission:Permission",
        {"action": "lambda:InvokeFunction", "function": "f", "principal": "iot.amazonaws.com"},
        ["The permission lets iot.amazonaws.com act without a source_arn or source_account that names one resource "
         "or account, so the service acting for another account could use it; set source_arn to the resource that "
         "invokes the function."]),
    Bad("lambda-permission-source-arn-any-account", "resource-policy-principals", "aws:lambda/permission:Permission",
        {"action": "lambda:InvokeFunction", "function": "f", "principal": "s3.amazonaws.com",
         "sourceArn": "arn:aws:s3:::*"},
        ["The permission lets s3.amazonaws.com act without a source_arn or source_account that names one resource "
         "or account, so the service acting for another account could use it; set source_arn to the resource that "
         "invokes the function."]),
]


def test_catalog_is_large_and_covers_every_resource_policy() -> None:
    from policy_harness import POLICIES
    from pulumi_policy import ResourceValidationPolicy

    assert len(CATALOG) + len(STACK_CATALOG) >= 30
    covered = {bad.policy for bad in CATALOG} | {policy for policy, *_ in STACK_CATALOG}
    assert covered == set(POLICIES), set(POLICIES) ^ covered
    assert all(isinstance(POLICIES[b.policy], ResourceValidationPolicy) for b in CATALOG)
    assert len({bad.id for bad in CATALOG}) == len(CATALOG)


@pytest.mark.parametrize("bad", CATALOG, ids=[b.id for b in CATALOG])
def test_bad_resource_reports_exact_violation(bad: Bad) -> None:
    assert run_resource(bad.policy, bad.type, bad.props, config=bad.config) == bad.expected


# --- stack-level ------------------------------------------------------------------------------

def _public_bucket():
    bucket = stack_resource(BUCKET, "store", {"bucket": "store-1", "acl": "public-read"})
    return [bucket], [
        ('Bucket "store-1" uses the public canned ACL "public-read"; remove acl (buckets are private by default).',
         bucket.urn),
        ('Bucket "store-1" has no public access block; add an aws.s3.BucketPublicAccessBlock for it with all four '
         "flags (block_public_acls, block_public_policy, ignore_public_acls, restrict_public_buckets) set to True.",
         bucket.urn),
    ]


def _half_blocked_bucket():
    bucket = stack_resource(BUCKET, "store", {"bucket": "store-1"})
    block = stack_resource(PAB, "store-pab", {"bucket": "store-1", "blockPublicAcls": True, "ignorePublicAcls": True,
                                              "blockPublicPolicy": False})
    return [bucket, block], [
        ("Bucket \"store-1\"'s public access block leaves blockPublicPolicy, restrictPublicBuckets unset or false; "
         "set all four flags to True.", bucket.urn),
    ]


def _unencrypted_bucket():
    bucket = stack_resource(BUCKET, "store", {"bucket": "store-1"})
    other = stack_resource(SSE, "other-sse", {"bucket": "other-bucket", "rules": [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]})
    return [bucket, other], [
        ('Bucket "store-1" has no default encryption configuration; add an '
         "aws.s3.BucketServerSideEncryptionConfiguration for it with apply_server_side_encryption_by_default "
         'sse_algorithm "aws:kms" (or "AES256").', bucket.urn),
    ]


def _bucket_policy_without_tls_deny():
    bucket = stack_resource("aws:s3/bucketV2:BucketV2", "store", {"bucket": "store-1"})
    policy = stack_resource(BUCKET_POLICY, "store-policy", {"bucket": "store-1", "policy": doc(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::store-1/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}})})
    return [bucket, policy], [
        ('Bucket "store-1" has a bucket policy without a statement denying plain-HTTP requests; add {"Effect": '
         '"Deny", "Principal": "*", "Action": "s3:*", "Resource": [<bucket ARN>, "<bucket ARN>/*"], "Condition": '
         '{"Bool": {"aws:SecureTransport": "false"}}}.', bucket.urn),
    ]


def _function_without_log_group():
    function = stack_resource(LAMBDA, "inspector", {"name": "inspector-1", "runtime": "python3.12"})
    other = stack_resource(LOGS, "other-logs", {"name": "/aws/lambda/other", "retentionInDays": 30})
    return [function, other], [
        ('Function "inspector-1" has no log group "/aws/lambda/inspector-1" in this stack, so Lambda creates one '
         "that never expires; create that log group with retention_in_days in the program (or point "
         "logging_config.log_group at one).", function.urn),
    ]


ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:iot-alarms"


def _alarm_without_action_beside_one_with():
    notified = stack_resource(ALARM, "dead-letters", {"name": "app-replication-dead-letters",
                                                      "alarmActions": [TOPIC], "okActions": [TOPIC]})
    forgotten = stack_resource(ALARM, "lag", {"name": "app-replication-lag-us-west-2", "alarmActions": []})
    return [notified, forgotten], [
        ('Alarm "app-replication-lag-us-west-2" has no alarm action, so it goes off without telling anyone, while 1 '
         f"other alarm(s) of this stack notify {TOPIC}; set alarm_actions (and ok_actions) to the same topic.",
         forgotten.urn),
    ]


def _external_customer_policy():
    role = stack_resource(ROLE, "worker", {"name": "worker", "assumeRolePolicy": doc(SERVICE_TRUST)})
    ours = stack_resource(MANAGED, "ours", {"name": "ours", "policy": doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))})
    attach = stack_resource(ATTACH, "worker-ops", {"role": "worker",
                                                   "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ops-everything"})
    own = stack_resource(ATTACH, "worker-ours", {"role": "worker", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ours"})
    return [role, ours, attach, own], [
        (f'worker-ops attaches the customer managed policy "arn:aws:iam::{ACCOUNT}:policy/ops-everything", which this '
         "stack does not define, so the pack can not review its document; define it in the program "
         "(aws.iam.Policy) or, after a review, list the ARN in allowedExternalPolicies.", attach.urn),
    ]


def _external_policy_in_exclusive_attachments():
    exclusive = stack_resource("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive", "worker-all",
                               {"roleName": "worker", "policyArns": [f"arn:aws:iam::{FOREIGN}:policy/shared"]})
    return [exclusive], [
        (f'worker-all attaches the customer managed policy "arn:aws:iam::{FOREIGN}:policy/shared", which this stack '
         "does not define, so the pack can not review its document; define it in the program (aws.iam.Policy) or, "
         "after a review, list the ARN in allowedExternalPolicies.", exclusive.urn),
    ]


THINGS_REGISTRATION = "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration"


def _things_registration_on_a_role_another_service_assumes():
    role = stack_resource(ROLE, "worker", {"name": "worker", "assumeRolePolicy": doc(SERVICE_TRUST)})
    attach = stack_resource(ATTACH, "worker-registration", {"role": "worker", "policyArn": THINGS_REGISTRATION})
    return [role, attach], [
        (f'worker-registration attaches "{THINGS_REGISTRATION}" to role "worker", which Service states.amazonaws.com '
         "may assume; AWS requires that policy on a role for iot.amazonaws.com only, and the pack allows it there "
         "alone: attach it to a role that trusts nothing but that service principal.", attach.urn),
    ]


def _things_registration_on_a_role_outside_the_stack():
    attach = stack_resource(ATTACH, "ops-registration", {"role": "ops-admin", "policyArn": THINGS_REGISTRATION})
    return [attach], [
        (f'ops-registration attaches "{THINGS_REGISTRATION}" to a role this stack does not define, so the pack cannot '
         "check who may assume it; the exception for it holds only for a role of the stack that iot.amazonaws.com "
         "alone may assume.", attach.urn),
    ]


def _iot_trusted_role(name: str, condition: dict) -> object:
    return stack_resource(ROLE, name, {"name": name, "assumeRolePolicy": doc({
        "Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": condition})})


def _things_registration_on_a_topic_rule_role():
    role = _iot_trusted_role("telemetry-rule-role", {"StringEquals": {
        "aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:iot:eu-west-1:{ACCOUNT}:rule/telemetry"}})
    attach = stack_resource(ATTACH, "telemetry-rule-registration",
                            {"role": "telemetry-rule-role", "policyArn": THINGS_REGISTRATION})
    rule = stack_resource("aws:iot/topicRule:TopicRule", "telemetry", {
        "name": "telemetry", "sql": "SELECT * FROM 'i/+/m'",
        "dynamodbv2s": [{"roleArn": f"arn:aws:iam::{ACCOUNT}:role/telemetry-rule-role"}]})
    return [role, attach, rule], [
        (f'telemetry-rule-registration attaches "{THINGS_REGISTRATION}" to role "telemetry-rule-role", which no '
         "provisioning template (provisioningRoleArn) or CA certificate (registrationConfig.roleArn) of this stack "
         "hands AWS IoT; AWS requires that policy on the provisioning role only, and the pack allows it there alone: "
         "give a topic rule's (or any other) role its own least-privilege policy.", attach.urn),
    ]


def test_things_registration_on_a_topic_rule_role_is_refused():
    """The exception is for the provisioning role; a topic rule's role (trusted by iot for one rule ARN) is refused
    (red team, issue 20)."""
    resources, expected = _things_registration_on_a_topic_rule_role()
    assert run_stack("iam-service-role-managed-policies", resources) == expected
    assert run_resource("iam-no-aws-managed-policies", ATTACH, resources[1].props) == []  # judged by the stack rule


def test_an_administrator_policy_cannot_ride_the_exception():
    attach = {"role": "provisioning-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert run_resource("iam-no-aws-managed-policies", ATTACH, attach)
    path_trick = {"role": "provisioning-role",
                  "policyArn": "arn:aws:iam::aws:policy/service-role/../AdministratorAccess"}
    assert run_resource("iam-no-aws-managed-policies", ATTACH, path_trick)


IOT_SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
PROVISIONING_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/provisioning-role"


@pytest.mark.parametrize("reference", ["template-arn", "template-dependency", "ca-registration", "unknown"])
def test_things_registration_on_the_role_a_template_or_ca_registration_hands_iot_passes(reference):
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    role = _iot_trusted_role("provisioning-role", IOT_SOURCE_ACCOUNT)
    attach = stack_resource(ATTACH, "provisioning-registration",
                            {"role": "provisioning-role", "policyArn": THINGS_REGISTRATION})
    if reference == "ca-registration":
        user = stack_resource("aws:iot/caCertificate:CaCertificate", "ca", {
            "active": True, "registrationConfig": {"roleArn": PROVISIONING_ROLE_ARN, "templateBody": "{}"}})
    else:
        arn = {"template-arn": PROVISIONING_ROLE_ARN, "template-dependency": UNKNOWN_STRING_VALUE,
               "unknown": UNKNOWN_STRING_VALUE}[reference]
        user = stack_resource("aws:iot/provisioningTemplate:ProvisioningTemplate", "fleet", {
            "name": "fleet", "provisioningRoleArn": arn, "templateBody": "{}"})
        if reference == "template-dependency":
            user.property_dependencies = {"provisioningRoleArn": [role]}
    assert run_stack("iam-service-role-managed-policies", [role, attach, user]) == []


def _role_alias_to_administrator():
    role = stack_resource(ROLE, "device-creds", {"name": "device-creds", "assumeRolePolicy": doc(SERVICE_TRUST)})
    attach = stack_resource(ATTACH, "device-creds-admin", {"role": "device-creds",
                                                           "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    alias = stack_resource("aws:iot/roleAlias:RoleAlias", "alias", {
        "alias": "device-uploads", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/device-creds"})
    return [role, attach, alias], [
        ('Role alias "device-uploads" hands devices the temporary credentials of role "device-creds", which is an '
         'administrator (it attaches "arn:aws:iam::aws:policy/AdministratorAccess"); point the alias at a role with '
         "only the actions the devices need.", alias.urn),
    ]


def _role_alias_to_star_star_role():
    role = stack_resource(ROLE, "device-creds", {"name": "device-creds", "assumeRolePolicy": doc(SERVICE_TRUST)})
    inline = stack_resource(ROLE_POLICY, "device-creds-policy", {"role": "device-creds",
                                                                 "policy": doc(allow("*:*", "*"))})
    alias = stack_resource("aws:iot/roleAlias:RoleAlias", "alias", {"alias": "device-uploads", "roleArn": "x"})
    alias.property_dependencies = {"roleArn": [role]}
    return [role, inline, alias], [
        ('Role alias "device-uploads" hands devices the temporary credentials of role "device-creds", which is an '
         'administrator (a policy of it allows "*" on every resource); point the alias at a role with only the '
         "actions the devices need.", alias.urn),
    ]


OPS_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/ops-admin"


def _role_alias_to_a_role_outside_the_stack():
    """The role (an administrator, say) is defined elsewhere: the pack cannot read it, so it refuses the alias unless
    the role is named in trustedRoles (the ARN's last segment matches no role of the stack, by name or ARN)."""
    role = stack_resource(ROLE, "device-creds", {"name": "device-creds", "assumeRolePolicy": doc(SERVICE_TRUST)})
    alias = stack_resource("aws:iot/roleAlias:RoleAlias", "alias", {"alias": "device-uploads", "roleArn": OPS_ADMIN})
    return [role, alias], [
        (f'Role alias "device-uploads" hands devices the temporary credentials of role "{OPS_ADMIN}", which this stack '
         "does not define, so the pack cannot check that it is not an administrator; define the role in the program "
         "(aws.iam.Role) with only the actions the devices need, or, after a review, list its ARN in this rule's "
         "trustedRoles.", alias.urn),
    ]


STACK_CATALOG = [
    ("iam-managed-policies-in-stack", "external-customer-policy", _external_customer_policy),
    ("iam-managed-policies-in-stack", "external-policy-in-exclusive-attachments",
     _external_policy_in_exclusive_attachments),
    ("iam-service-role-managed-policies", "things-registration-on-another-services-role",
     _things_registration_on_a_role_another_service_assumes),
    ("iam-service-role-managed-policies", "things-registration-on-a-role-outside-the-stack",
     _things_registration_on_a_role_outside_the_stack),
    ("iam-service-role-managed-policies", "things-registration-on-a-topic-rule-role",
     _things_registration_on_a_topic_rule_role),
    ("iot-role-alias-not-admin", "role-alias-to-administrator", _role_alias_to_administrator),
    ("iot-role-alias-not-admin", "role-alias-to-star-star-role", _role_alias_to_star_star_role),
    ("iot-role-alias-not-admin", "role-alias-to-a-role-outside-the-stack", _role_alias_to_a_role_outside_the_stack),
    ("s3-bucket-public-access-blocked", "public-bucket", _public_bucket),
    ("s3-bucket-public-access-blocked", "half-blocked-bucket", _half_blocked_bucket),
    ("s3-bucket-encrypted", "unencrypted-bucket", _unencrypted_bucket),
    ("s3-bucket-tls-only", "bucket-policy-without-tls-deny", _bucket_policy_without_tls_deny),
    ("lambda-log-group-retention", "function-without-log-group", _function_without_log_group),
    ("cloudwatch-alarm-actions", "alarm-without-action-beside-one-with", _alarm_without_action_beside_one_with),
]


@pytest.mark.parametrize("policy,case,build", STACK_CATALOG, ids=[c for _, c, _ in STACK_CATALOG])
def test_bad_stack_reports_exact_violation(policy: str, case: str, build) -> None:
    resources, expected = build()
    assert run_stack(policy, resources) == expected


def test_a_role_alias_to_a_role_named_in_trusted_roles_passes_and_an_unknown_arn_is_not_judged() -> None:
    """The refusal of a role outside the stack does not over-reach: a role listed in trustedRoles passes (and only
    that ARN: the same name in another account does not), and an ARN unknown in preview is judged on `pulumi up`."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    resources, expected = _role_alias_to_a_role_outside_the_stack()
    assert run_stack("iot-role-alias-not-admin", resources, {"trustedRoles": [OPS_ADMIN]}) == []
    assert run_stack("iot-role-alias-not-admin", resources,
                     {"trustedRoles": [OPS_ADMIN.replace(ACCOUNT, FOREIGN)]}) == expected
    unknown = stack_resource("aws:iot/roleAlias:RoleAlias", "later", {"alias": "later", "roleArn": UNKNOWN_STRING_VALUE})
    assert run_stack("iot-role-alias-not-admin", [unknown]) == []


def test_alarms_need_actions_only_where_the_stack_notifies_or_the_pack_requires_it() -> None:
    """No alarm with actions: the topic is not set, nothing to judge (the shipped stacks); with config
    requireAlarmActions every alarm needs one; an alarm whose actions are unknown in preview is judged on `pulumi up`."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    quiet = [stack_resource(ALARM, "a", {"name": "a"}), stack_resource(ALARM, "b", {"name": "b", "alarmActions": []})]
    assert run_stack("cloudwatch-alarm-actions", quiet) == []
    required = run_stack("cloudwatch-alarm-actions", quiet, {"requireAlarmActions": True})
    assert [urn for _, urn in required] == [r.urn for r in quiet]
    assert "config requireAlarmActions is set" in required[0][0]
    notified = stack_resource(ALARM, "n", {"name": "n", "alarmActions": [TOPIC]})
    composite = stack_resource("aws:cloudwatch/compositeAlarm:CompositeAlarm", "c", {"alarmName": "c"})
    assert [urn for _, urn in run_stack("cloudwatch-alarm-actions", [notified, composite])] == [composite.urn]
    later = stack_resource(ALARM, "later", {"name": "later", "alarmActions": [UNKNOWN_STRING_VALUE]})
    whole = stack_resource(ALARM, "whole", {"name": "whole", "alarmActions": UNKNOWN_STRING_VALUE})
    assert run_stack("cloudwatch-alarm-actions", [notified, later, whole]) == []
    assert run_stack("cloudwatch-alarm-actions", [notified, stack_resource(ALARM, "m", {
        "name": "m", "alarmActions": [TOPIC], "okActions": [TOPIC]})]) == []
