import gc
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

# The cyclic collector's timing in the test processes (this file is imported by every xdist worker): the young
# generation is collected every 20,000 net allocations instead of 700, the figure localcloud.speedups.gc_tuning uses
# for the bench. Each deployed local cloud (moto's backends, parsed programs, clients) and the Pulumi SDK make a large
# heap that every older-generation collection re-scans; measured on tests/ops + three deployed-cloud modules, the
# suite's CPU time drops by about a quarter (74 s -> 56 s) for ~140 MB more per process. Only when cyclic garbage is
# freed changes, never what a test or the code under test computes (tests/localcloud/test_speedups.py's bulk_gc tests
# compare against the thresholds they find).
gc.set_threshold(20_000, *gc.get_threshold()[1:])


# ---- the shipped stacks deployed in the local cloud, shared by a test module ----------------------------------------
import pytest  # noqa: E402 - after the fake credentials above, before any AWS SDK import


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
import contextlib  # noqa: E402 - kept with the fixtures that use it


@pytest.fixture
def stubber_events():
    """``with stubber_events() as seen:`` collects the names of the botocore events that reach moto's stubber inside
    the block; the spy is undone at the block's end, before fixtures revert aws_calls' own patch of that method."""
    from moto.core.botocore_stubber import BotocoreStubber

    @contextlib.contextmanager
    def spy():
        seen: list[str] = []
        original = BotocoreStubber.__call__

        def call(self, event_name, request, **kwargs):
            seen.append(event_name)
            return original(self, event_name, request, **kwargs)

        with pytest.MonkeyPatch.context() as scoped:
            scoped.setattr(BotocoreStubber, "__call__", call)
            yield seen

    return spy


# ---- paho's reconnect wait, ended as soon as the client is stopped --------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def paho_stops_without_its_reconnect_sleep():
    """Test time only: when a server closes a paho connection (a refused first JITR connection, a CONNACK refusal),
    paho's network thread waits its reconnect delay (1 s at first) in ``Client._reconnect_wait``, in one
    ``time.sleep(1)`` that ``disconnect()``/``loop_stop()`` cannot cut short, so every refused ``device.session``
    attempt and every ``Session.close()`` after one took a full second. The same wait, to the same target time and
    on paho's own loop condition (stop when disconnecting, disconnected or told to terminate), checked every 10 ms
    instead of every second: nothing reconnects sooner, a stopped client just stops. Applied only to the paho
    version whose wait this mirrors (the source check); any other keeps its own."""
    import inspect
    import time

    from paho.mqtt import client as paho

    original = paho.Client._reconnect_wait
    if "time.sleep(min(remaining, 1))" not in inspect.getsource(original):
        yield
        return
    stopped = (paho._ConnectionState.MQTT_CS_DISCONNECTING, paho._ConnectionState.MQTT_CS_DISCONNECTED)

    def _reconnect_wait(self) -> None:
        now = paho.time_func()
        with self._reconnect_delay_mutex:
            if self._reconnect_delay is None:
                self._reconnect_delay = self._reconnect_min_delay
            else:
                self._reconnect_delay = min(self._reconnect_delay * 2, self._reconnect_max_delay)
            target_time = now + self._reconnect_delay
        remaining = target_time - now
        while self._state not in stopped and not self._thread_terminate and remaining > 0:
            time.sleep(min(remaining, 0.01))
            remaining = target_time - paho.time_func()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(paho.Client, "_reconnect_wait", _reconnect_wait)
        yield
