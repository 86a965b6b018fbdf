"""moto's core: the mock itself, the default account, the botocore stubber, the response base class, utilities."""
from __future__ import annotations

from . import internals

with internals():
    from moto import mock_aws
    from moto import settings as moto_settings
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core import responses as core_responses
    from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
    from moto.core.exceptions import HTTPException
    from moto.core.models import botocore_stubber
    from moto.core.responses import ActionResult, BaseResponse, EmptyResult
    from moto.core.utils import utcnow
    from moto.moto_api._internal import mock_random
    from moto.utilities.utils import get_partition

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "ActionResult",
    "BaseResponse",
    "BotocoreStubber",
    "EmptyResult",
    "HTTPException",
    "MockRawResponse",
    "botocore_stubber",
    "core_responses",
    "get_partition",
    "mock_aws",
    "mock_random",
    "moto_settings",
    "utcnow",
]
