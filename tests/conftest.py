import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# moto and botocore must never reach AWS, and DescribeStream needs region endpoints in moto.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
# awscrt is installed for the AWS IoT Device SDK (a device-side client); botocore would then sign with it instead of
# its own signer, which the local cloud's sigv4_in_process speed-up and its test expect (localcloud/__init__.py).
os.environ.setdefault("BOTO_DISABLE_CRT", "true")


# ---- the shipped stacks deployed in the local cloud, shared by a test module ----------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    """Both shipped stacks deployed into one local cloud for the module (folders that need another kind of cloud
    define their own ``cloud``, which takes precedence)."""
    from localcloud.cloud import LocalCloud

    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud")) as deployed:
        deployed.deploy()
        yield deployed


@pytest.fixture(scope="module")
def ca(cloud):
    """The deployed cloud's own CA (``pki``), to issue device certificates from."""
    return cloud.load_ca()


# ---- which SDK calls went down moto's stubber path (rather than speedups.direct_sdk) --------------------------------
import contextlib  # noqa: E402


@pytest.fixture
def stubber_events():
    """``with stubber_events() as seen:`` collects the names of the botocore events that reach moto's stubber inside
    the block; the spy is undone at the block's end, before fixtures revert aws_calls' own patch of that method."""
    from moto.core.botocore_stubber import BotocoreStubber

    @contextlib.contextmanager
    def spy():
        seen: list[str] = []
        original = BotocoreStubber.__call__

        def call(self, event_name, request, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(event_name)
            return original(self, event_name, request, **kwargs)

        with pytest.MonkeyPatch.context() as scoped:
            scoped.setattr(BotocoreStubber, "__call__", call)
            yield seen

    return spy
