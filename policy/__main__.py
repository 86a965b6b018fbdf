"""Serve the policy pack to the Pulumi CLI. Only builds the PolicyPack (which blocks)."""

import sys
from pathlib import Path

# The CLI runs this file with policy/ as the working directory; import the pack as the
# `policy` package, as the tests do.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.pack import DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME, build_policies  # noqa: E402

PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=DEFAULT_ENFORCEMENT_LEVEL)
