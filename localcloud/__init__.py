"""The offline cloud: moto, named fixes to it (``fixes``), the AWS behaviour it lacks (``services``), speed-ups that
change no result (``speedups``), and the program deployed into it. Three seams hold them together: ``compat`` (the
only door to moto's and Pulumi's internals, with the moto version it was written for), ``patching`` (the one patch
mechanism, refusing any other moto) and ``interception`` (every call recorded; gates, faults, observers).

botocore signs with awscrt whenever awscrt is importable (the AWS IoT Device SDK, a device-side client the tests use,
brings it). The local cloud keeps botocore's own SigV4 signer, which moto ignores and
``localcloud.speedups.sigv4_in_process`` short-circuits; so ``BOTO_DISABLE_CRT`` is set before botocore is imported
through this package (a process that imported botocore earlier keeps whatever it chose).
"""

import os

os.environ.setdefault("BOTO_DISABLE_CRT", "true")
