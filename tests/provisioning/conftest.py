
import boto3
import pytest
from moto import mock_aws

import pki
from functions.provisioning_api import geolocation, issuer
from localcloud.services.kms.imported_key import signing_key
from tests.provisioning import kit


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    out = tmp_path_factory.mktemp("pki")
    pki.init_pki(out, "iot.example.com")
    return pki.load_ca(out)


@pytest.fixture(scope="session")
def geo_db(tmp_path_factory):
    return kit.build_geolocation_database(tmp_path_factory.mktemp("geo") / "test-city.mmdb")


@pytest.fixture
def account(ca, geo_db, monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": kit.REGION, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"iot": {"use_valid_cert": True}}):
        iot = boto3.client("iot", region_name=kit.REGION)
        ca_id = iot.register_ca_certificate(caCertificate=ca.intermediate_pem, setAsActive=True,
                                            certificateMode="SNI_ONLY")["certificateId"]
        iot.create_policy(policyName="app-device", policyDocument='{"Version": "2012-10-17", "Statement": []}')
        key_arn = signing_key(kit.REGION, ca.intermediate_key)
        signer = issuer.KmsSigner(boto3.client("kms", region_name=kit.REGION), key_arn, ca.intermediate_pem)
        chooser = geolocation.RegionChooser(geolocation.open_reader(geo_db), kit.REGIONS, kit.DEFAULT_REGION)
        yield kit.Account(kit.create_tables(), ca_id, ca, signer, chooser, iot,
                          boto3.client("dynamodb", region_name=kit.REGION))
