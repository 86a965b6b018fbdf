"""Import code as the Lambda runtime sees our archive (components/lambda_package.py): the archive's folder first on
``sys.path``, and neither the repository root nor an editable install of it anywhere on the path.

The archive's wheels are built for Lambda's platform (python3.12 on arm64 or x86_64), not necessarily this
machine's, so this venv's copies of them are imported first (``python -S``: the venv's site-packages is put on the
path without its ``.pth`` files, which could put the repository root back). Everything of ours (the function folders,
``contract/``) can then only come from the archive's folder: a module of the repository imported from anywhere else
fails the run.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from components.lambda_package import SHARED_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def handler_modules() -> list[str]:
    """The module of every Lambda handler the program deploys (``handler="certificate_inspector.handler.handler"``
    in components/*.py)."""
    found = set()
    for source in sorted((ROOT / "components").glob("*.py")):
        found |= {m.rsplit(".", 1)[0] for m in re.findall(r'handler="([A-Za-z_][\w.]*)"', source.read_text())}
    return sorted(found)


_RUN = r'''
import importlib, json, os, sys
code_dir, ours, site_dirs, root, modules, code = (sys.argv[1], set(json.loads(sys.argv[2])), json.loads(sys.argv[3]),
                                                  sys.argv[4], json.loads(sys.argv[5]), sys.argv[6])
sys.path.extend(site_dirs)
for entry in sorted(os.listdir(code_dir)):  # the archive's wheels: this machine's builds of them first
    name = entry.split(".")[0]
    if name in ours or not name.isidentifier():
        continue
    try:
        importlib.import_module(name)
    except Exception:  # not in this venv (or not importable alone): the handler imports will tell
        pass
sys.path.insert(0, code_dir)
loaded = {name: importlib.import_module(name) for name in modules}
exec(code, {"loaded": loaded})
inside = lambda path, folder: os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)
strays = sorted(f"{name} ({module.__file__})" for name, module in list(sys.modules.items())
                if getattr(module, "__file__", None) and inside(module.__file__, root)
                and not inside(module.__file__, code_dir) and not any(inside(module.__file__, s) for s in site_dirs))
print(json.dumps({"strays": strays, "contract": sys.modules["contract"].__file__ if "contract" in sys.modules else None,
                  "functions": "functions" in sys.modules}))
'''


def run(code_dir: Path, modules: list[str], code: str = "") -> dict:
    """Import ``modules`` (then run ``code`` with them as ``loaded``) in a fresh interpreter laid out as the Lambda's;
    returns what was imported from where (``strays``: repository modules from outside ``code_dir``)."""
    ours = ({p.name for p in FUNCTIONS.iterdir() if p.is_dir()} | {p.stem for p in FUNCTIONS.glob("*.py")}
            | {p.name for p in SHARED_PACKAGES})
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _RUN, str(code_dir), json.dumps(sorted(ours)), json.dumps(site_dirs),
         str(ROOT), json.dumps(modules), code],
        cwd=code_dir, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"AWS_DEFAULT_REGION": "eu-west-1"})
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.strip().splitlines()
    return {**json.loads(last), "stdout": "\n".join(printed)}
