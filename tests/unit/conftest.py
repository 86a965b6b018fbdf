import pytest

import pki
from localcloud.mockrun import run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pki")
    pki.init_pki(out, "iot.example.com")
    return out


@pytest.fixture(scope="session")
def primary_run(pki_dir):
    return run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir)})


@pytest.fixture(scope="session")
def secondary_run(pki_dir, primary_run):
    return run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir)},
                     stack_outputs={PRIMARY_REF: primary_run.outputs})
