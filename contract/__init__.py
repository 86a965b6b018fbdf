"""The contract: what several parts of the program must agree on, each fact in exactly one place.

Pure and dependency-free: the standard library only, nothing done at import. ``components/lambda_package.py`` ships
this package beside the functions at the root of every Lambda zip, so the same ``from contract import names`` works
in the Lambdas, the Pulumi program, the builders, ``ops``, ``pki``, ``device``, the local cloud and the tests.
Nothing here imports from the rest of the repository.

- ``names``: thing names (AWS IoT's rule), the thing-name prefixes the program keeps for itself, the ``application``
  setting's rule;
- ``resources``: every physical name derived from the application (tables, functions, machines, buckets, rules);
- ``items``: the DynamoDB items several writers share: the device inventory (and its conditional claim), the
  thing's owner attribute, the registration lease, the provisioning API's nonces;
- ``allow_list``: the allow-list entry and its conditional transitions (the provisioning API, fleet provisioning and
  ``ops allow-list`` move the same entries);
- ``registry``: provisioning a device in a region's IoT registry and undoing an attempt that did not commit (the
  provisioning API and ``ops allow-list reset`` run the same idempotent steps);
- ``proofs``: what a device signs to prove it holds its enrolled key (the provisioning API's request, the fleet
  CSR's enrolment proof);
- ``fleet``: the fleet provisioning markers (template parameter, the fleet-issued certificate's policy OID);
- ``events``: event sources and detail types on the buses;
- ``errors``: the error names the Lambdas raise and the state machines catch.

AWS calls (``allow_list``, ``registry``) take the boto3 client as an argument: this package imports no SDK.
"""
