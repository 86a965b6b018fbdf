"""Serve the policy pack to the Pulumi CLI. Only builds the PolicyPack (which blocks).

The CLI runs this file with policy/ as the working directory, in the virtualenv PulumiPolicy.yaml names
(../.venv), where the project is installed (`pip install -e '.[dev]'`, or `.[policy]`): so `policy` imports as the
package the tests import.
"""

from pulumi_policy import PolicyPack

from policy.pack import DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=DEFAULT_ENFORCEMENT_LEVEL)
