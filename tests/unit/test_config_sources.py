"""One configuration model: the program (Pulumi runtime config) and the local cloud (the stack YAML plus its
overrides) read a stack through the same parser, so they get the same settings and the same errors."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from components import config
from components.config import ConfigError, parse_config
from localcloud import preview as preview_module
from localcloud.cloud import LocalCloud
from localcloud.mockrun import PROJECT_DIR, run_stack, stack_settings
from tests.unit.conftest import PRIMARY_REF

STACKS = ("eu-west-1", "us-west-2")


def program_settings(monkeypatch, stack: str, overrides: dict, outputs: dict | None = None):
    """The settings ``__main__.py`` reads through the Pulumi runtime while it runs under mocks."""
    seen = []

    def recording(project_dir):
        seen.append(read(project_dir))
        return seen[-1]

    read = config.read_settings
    monkeypatch.setattr(config, "read_settings", recording)
    run_stack(stack, config_overrides=overrides, stack_outputs=outputs)
    (settings,) = seen
    return settings


@pytest.fixture(scope="module")
def primary_outputs(pki_dir):
    return run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir)}).outputs


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_and_the_local_cloud_read_a_shipped_stack_alike(monkeypatch, pki_dir, primary_outputs, stack):
    overrides = {"pkiDir": str(pki_dir)}
    outputs = {PRIMARY_REF: primary_outputs} if stack != "eu-west-1" else None
    in_program = program_settings(monkeypatch, stack, overrides, outputs)
    assert stack_settings(stack, overrides=overrides) == in_program
    # The YAML's own values (lists, not the CLI's JSON strings) parse to the same settings.
    raw = {**yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"],
           **yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"], **overrides}
    raw = {k: v["default"] if isinstance(v, dict) else v for k, v in raw.items()}
    assert parse_config(raw, PROJECT_DIR) == in_program
    assert in_program.region == stack and in_program.is_primary == (stack == "eu-west-1")


def test_the_local_cloud_knows_the_shipped_stacks_from_the_same_settings():
    cloud = LocalCloud()
    assert [(s.name, s.settings) for s in cloud.stacks] == [(s, stack_settings(s)) for s in STACKS]
    assert (cloud.domain, cloud.configured_zone_id) == ("iot.example.com", "Z0123456789EXAMPLE")
    assert cloud.shared.regions == STACKS


@pytest.mark.parametrize("bad, message", [
    ({"logRetentionDays": "31"}, "logRetentionDays = '31' is not a retention CloudWatch Logs accepts"),
    ({"routingPolicy": "nearest"}, "routingPolicy = 'nearest' is not one of latency, geolocation; set it with "
                                   "`pulumi config set routingPolicy latency`"),
])
def test_a_bad_value_is_the_same_error_in_the_program_and_in_the_local_cloud(pki_dir, bad, message):
    overrides = {"pkiDir": str(pki_dir), **bad}
    with pytest.raises(ConfigError) as in_program:
        run_stack("eu-west-1", config_overrides=overrides)
    assert message in str(in_program.value)
    with pytest.raises(ConfigError) as parsed:
        stack_settings("eu-west-1", overrides=overrides)
    with pytest.raises(ConfigError) as cloud:
        LocalCloud(config_overrides=bad)
    assert str(parsed.value) == str(cloud.value) == str(in_program.value)
    out = io.StringIO()
    assert preview_module.preview("eu-west-1", pki_dir=pki_dir, config_overrides=bad, out=out) == \
        preview_module.EXIT_ERROR
    assert out.getvalue() == f"error: {in_program.value}\n"


def test_the_local_cloud_reads_no_config_key_but_through_the_one_adapter():
    adapter = PROJECT_DIR / "localcloud" / "mockrun.py"
    raw_reads = re.compile(r"multi-region-iot:|\{PROJECT\}:|[\"']aws:region[\"']")
    offenders = [f"{path.relative_to(PROJECT_DIR)}:{number}"
                 for path in sorted((PROJECT_DIR / "localcloud").rglob("*.py")) if path != adapter
                 for number, line in enumerate(path.read_text().splitlines(), 1) if raw_reads.search(line)]
    assert offenders == []


def test_every_key_the_parser_reads_is_one_the_program_hands_it():
    read = set(re.findall(r'get\("([A-Za-z]+)"\)', Path(config.__file__).read_text()))
    read -= {"continent", "country", "subdivision"}  # fields of a geolocation entry, not keys
    assert read <= set(config.CONFIG_KEYS)
