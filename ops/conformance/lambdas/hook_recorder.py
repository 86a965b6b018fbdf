"""A pre-provisioning hook for the conformance kit: records that it was invoked, the keys of its event and the
template it was invoked for in the table ``RECORD_TABLE`` (item ``Id`` = ``<RECORD_AS>#<request id>``), then allows
provisioning (https://docs.aws.amazon.com/iot/latest/developerguide/pre-provisioning-hook.html)."""
import json
import os

import boto3


def handler(event, context):
    variant = os.environ.get("RECORD_AS", "hook")
    event = event if isinstance(event, dict) else {}
    boto3.client("dynamodb").put_item(TableName=os.environ["RECORD_TABLE"], Item={
        "Id": {"S": f"{variant}#{getattr(context, 'aws_request_id', '')}"},
        "Variant": {"S": variant},
        "EventKeys": {"S": json.dumps(sorted(event))},
        "TemplateArn": {"S": str(event.get("templateArn", ""))},
        "InvokedFunctionArn": {"S": str(getattr(context, "invoked_function_arn", ""))},
    })
    return {"allowProvisioning": True}
