"""Resource type tokens the rules inspect, as pulumi-aws 7.51.1 registers them.

Each token is copied from the resource class's ``super().__init__('aws:...')`` call in the
installed ``pulumi_aws`` package; property names used by the rules are the engine (camelCase)
names from the ``@pulumi.getter(name=...)`` decorators of the ``...Args`` classes.
"""

IOT_DOMAIN_CONFIGURATION = "aws:iot/domainConfiguration:DomainConfiguration"
IOT_POLICY = "aws:iot/policy:Policy"
IOT_TOPIC_RULE = "aws:iot/topicRule:TopicRule"

IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"

# Resources whose ``policy`` property is an identity-based permission document.
IAM_POLICY_DOCUMENT_TYPES = frozenset({IAM_ROLE_POLICY, IAM_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY})
# Resources whose ``policyArn`` property attaches a managed policy.
IAM_ATTACHMENT_TYPES = frozenset({
    IAM_ROLE_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT, IAM_USER_POLICY_ATTACHMENT, IAM_GROUP_POLICY_ATTACHMENT,
})

# pulumi-aws v7: ``Bucket`` is the current resource, ``BucketV2`` the deprecated alias kept for
# programs written against v6. Both are buckets for the stack rules.
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
S3_BUCKET_TYPES = frozenset({S3_BUCKET, S3_BUCKET_V2})
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_SSE_CONFIGURATION_TYPES = frozenset({
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
})

DYNAMODB_TABLE = "aws:dynamodb/table:Table"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
ALARM_TYPES = frozenset({METRIC_ALARM, COMPOSITE_ALARM})
SFN_STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
SQS_QUEUE = "aws:sqs/queue:Queue"

# Exclusive attachment resources (pulumi-aws v7): ``policyArns`` lists every managed policy of the
# role/user/group.
IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
IAM_USER_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive"
IAM_GROUP_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive"
IAM_EXCLUSIVE_ATTACHMENT_TYPES = frozenset({
    IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE, IAM_USER_POLICY_ATTACHMENTS_EXCLUSIVE, IAM_GROUP_POLICY_ATTACHMENTS_EXCLUSIVE,
})

IOT_PROVISIONING_TEMPLATE = "aws:iot/provisioningTemplate:ProvisioningTemplate"  # templateBody (JSON string)
IOT_ROLE_ALIAS = "aws:iot/roleAlias:RoleAlias"  # alias, roleArn
IOT_CA_CERTIFICATE = "aws:iot/caCertificate:CaCertificate"  # registrationConfig.roleArn (JITP)

# Resource-based policies: type -> the property holding the document. Inline ``policy`` properties
# of queues, topics, keys and buckets are the same documents as their separate policy resources.
RESOURCE_POLICY_PROPERTIES = {
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    SQS_QUEUE: "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:sns/topic:Topic": "policy",
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:kms/replicaKey:ReplicaKey": "policy",
    S3_BUCKET_POLICY: "policy",
    S3_BUCKET: "policy",
    S3_BUCKET_V2: "policy",
    "aws:dynamodb/resourcePolicy:ResourcePolicy": "policy",
}
# principal, sourceArn, sourceAccount, principalOrgId
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
