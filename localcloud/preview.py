"""`python -m localcloud preview STACK [--policy-pack policy]`: `pulumi preview` without the CLI.

Runs the real program for the stack under Pulumi mocks (config from ``Pulumi.<STACK>.yaml``),
prints the resource plan as a tree (type, name, parent) and every policy violation as
``pulumi preview --policy-pack`` prints them, and exits non-zero on a mandatory violation.
A stack reference resolves to the exports of an earlier preview of the referenced stack, kept
under ``.localcloud/previews/``; if there is none, the referenced stack is previewed first.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Mapping

from components.config import ConfigError, StackSettings
from localcloud.mockrun import PROJECT_DIR, StackRun, run_stack, stack_names, stack_settings

STATE_DIR = PROJECT_DIR / ".localcloud"
PREVIEWS = STATE_DIR / "previews"
GENERATED_PKI = STATE_DIR / "pki"
EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2


def _issue_canary(pki_dir: Path, region: str) -> None:
    """The stack's canary certificate in the generated PKI, so the preview plans the canary and its health check."""
    import pki
    from builders.canary import thing_name
    from pki.layout import Layout

    if not Layout(pki_dir).device_cert(thing_name(region)).exists():
        pki.issue_device_certificates(pki_dir, [thing_name(region)])


def _pki_override(settings: StackSettings, pki_dir: Path | None, out: TextIO) -> dict[str, str]:
    """Use the configured PKI folder if it has material; else a generated one (a preview needs
    certificates to plan the CA and endpoint, not the real ones)."""
    if pki_dir is not None:
        return {"pkiDir": str(pki_dir)}
    configured = settings.pki_dir  # absolute: relative to the project
    if settings.pem_overrides is not None or (configured / "intermediate-ca.crt").exists():
        return {}
    domain = _domain_for(settings)
    import pki

    try:  # a PKI made for another domain is refused, never replaced: its CA may have signed devices
        pki.check_pki_domain(GENERATED_PKI, domain, start_over=f"remove it (`rm -rf {GENERATED_PKI}`) and preview again")
        if not (GENERATED_PKI / "root-ca.crt").exists():
            pki.init_pki(GENERATED_PKI, domain)
        _issue_canary(GENERATED_PKI, settings.region)
    except pki.PkiError as error:
        raise ConfigError(f"domainName = {domain!r}: {error}") from None
    out.write(f"note: pkiDir {configured} has no PKI; planning with a generated one in {GENERATED_PKI}\n")
    return {"pkiDir": str(GENERATED_PKI)}


def _domain_for(settings: StackSettings) -> str:
    if settings.shared is not None:
        return settings.shared.domain_name
    saved = PREVIEWS / f"{settings.primary_stack.rsplit('/', 1)[-1]}.json"
    if saved.exists():
        return json.loads(saved.read_text()).get("domainName", "iot.example.com")
    return "iot.example.com"


def _is_primary(stack: str) -> bool:
    try:
        return stack_settings(stack).is_primary
    except ConfigError:  # not a stack anyone can preview, so not the primary of any
        return False


def _primary_stacks() -> list[str]:
    """The project's stacks that are primaries (no primaryStack in their Pulumi.<stack>.yaml)."""
    return [n for n in stack_names() if _is_primary(n)]


def _referenced_outputs(settings: StackSettings, pki_dir: Path | None, out: TextIO) -> dict[str, Mapping[str, Any]]:
    """The exports of the stack ``primaryStack`` names (previewed first if never previewed); a name that
    is no stack of this project, or a secondary, is a ConfigError saying what was expected."""
    ref = settings.primary_stack
    if ref is None:
        return {}
    ref_stack = ref.rsplit("/", 1)[-1]
    expected = (f"expected org/multi-region-iot/<stack> naming this project's primary stack "
                f"({', '.join(_primary_stacks()) or 'none found'})")
    if ref_stack not in stack_names():
        raise ConfigError(f"primaryStack = {ref!r} names stack {ref_stack}, which does not exist (no "
                          f"Pulumi.{ref_stack}.yaml, no preview): {expected}.")
    try:
        referenced = stack_settings(ref_stack)
    except ConfigError as error:
        raise ConfigError(f"primaryStack = {ref!r}: the primary stack {ref_stack} could not be previewed (error: "
                          f"{error}); fix it first.") from None
    if not referenced.is_primary:
        raise ConfigError(f"primaryStack = {ref!r} names a secondary stack (it sets primaryStack itself): {expected}.")
    saved = PREVIEWS / f"{ref_stack}.json"
    if not saved.exists():
        out.write(f"note: no earlier preview of {ref}; previewing {ref_stack} first\n")
        log = io.StringIO()
        if preview(ref_stack, pki_dir=pki_dir, out=log) == EXIT_ERROR or not saved.exists():
            raise ConfigError(f"primaryStack = {ref!r}: the primary stack {ref_stack} could not be previewed "
                              f"({log.getvalue().strip()}); fix it first.")
    return {ref: json.loads(saved.read_text())}


def plan_tree(run: StackRun) -> list[str]:
    """The plan as ``pulumi preview`` draws it: one line per resource, children under parents."""
    children: dict[str | None, list] = {}
    for r in run.resources:
        children.setdefault(r.parent, []).append(r)
    roots = [p for p in children if p is None or not any(r.urn == p for r in run.resources)]
    lines = [f"     {'Type':<58} {'Name':<52} Plan"]

    def walk(parent: str | None, prefix: str) -> None:
        items = children.get(parent, [])
        for i, r in enumerate(items):
            last = i == len(items) - 1
            branch = ("└─ " if last else "├─ ") if prefix is not None else ""
            label = f"{prefix or ''}{branch}{r.type}"
            lines.append(f" +   {label:<58} {r.name:<52} create")
            walk(r.urn, (prefix or "") + ("   " if last else "│  ") if prefix is not None else "")

    for root in roots:
        stack_label = "pulumi:pulumi:Stack"
        lines.append(f" +   {stack_label:<58} {'multi-region-iot-' + run.stack:<52} create")
        walk(root, "")
    return lines


def _provisioning_key_override(settings: StackSettings) -> dict[str, str]:
    """The local cloud deploys the provisioning API (its own KMS key per region); previews plan it too, with a
    placeholder key ARN of the stack's region, unless the stack or the caller names a key."""
    if settings.provisioning_api is not None:
        return {}
    return {"provisioningSigningKeyArn": f"arn:aws:kms:{settings.region}:123456789012:key/mrk-{'0' * 32}"}


def preview(stack: str, *, policy_pack: str | None = None, policy_config: Mapping[str, Any] | None = None,
            pki_dir: Path | None = None, config_overrides: Mapping[str, Any] | None = None,
            out: TextIO = sys.stdout) -> int:
    """Preview one stack; return the exit code ``pulumi preview`` would."""
    try:
        # The program's own parser first: a bad value is the error the program would raise, said before anything runs.
        settings = stack_settings(stack, overrides=config_overrides)
        overrides = {**_provisioning_key_override(settings), **(config_overrides or {}),
                     **_pki_override(settings, pki_dir, out)}
        run = run_stack(stack, config_overrides=overrides,
                        stack_outputs=_referenced_outputs(settings, pki_dir, out))
    except (ConfigError, FileNotFoundError) as exc:  # PkiError is turned into ConfigError where it can arise
        out.write(f"error: {exc}\n")
        return EXIT_ERROR
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    (PREVIEWS / f"{stack}.json").write_text(json.dumps(run.outputs, indent=1, sort_keys=True))

    out.write(f"Previewing update ({stack}):\n")
    out.write("\n".join(plan_tree(run)) + "\n\n")
    code = EXIT_OK
    if policy_pack:
        from policy.offline import evaluate, format_report, has_mandatory

        violations = evaluate([r.as_policy_dict() for r in run.resources], policy_config)
        out.write(format_report(violations, pack_path=policy_pack) + "\n\n")
        if has_mandatory(violations):
            code = EXIT_VIOLATION
    count = sum(1 for r in run.resources) + 1
    out.write(f"Resources:\n    + {count} to create\n")
    return code


def main(stack: str, policy_pack: str | None = None, policy_config_file: str | None = None,
         pki_dir: str | None = None) -> int:
    config = json.loads(Path(policy_config_file).read_text()) if policy_config_file else None
    return preview(stack, policy_pack=policy_pack, policy_config=config,
                   pki_dir=Path(pki_dir) if pki_dir else None)
