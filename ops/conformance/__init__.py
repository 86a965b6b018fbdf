"""The live conformance kit: ``python -m ops conformance REGION [--yes] [--json] [--local]``.

Probes, in a sandbox AWS account, every row of the assumptions register (docs/emulator.md) a live probe can settle,
and compares what AWS does with what the local cloud does; ``--local`` runs the same probes against the local cloud,
which must agree with every expectation (one list: ``expectations``).

| module | job |
|---|---|
| ``probes`` | the probes: register row, what each creates, ``run(ctx) -> observed`` |
| ``expectations`` | what the local cloud does per register row (the one list both runs are held to) |
| ``world`` | where probes run: ``LiveWorld`` (boto3, MQTT over TLS with ``device.session``) |
| ``local`` | ``LocalWorld``: the same probes against ``LocalCloud`` |
| ``resources`` | names, tags, creators that register each deletion first, the tracker that deletes |
| ``sweep`` | leftovers of earlier (aborted) runs, found by name and tag |
| ``runner`` | runs the probes, cleans up at the end, on failure, on Ctrl-C / SIGTERM |
| ``estimate`` | rough cost and time per probe |
| ``render`` | the plan, the verdicts, the cleanup (rich) |
| ``cli`` | the command and its exit statuses |
| ``certs`` | throw-away CA, certificates, CSRs |
| ``lambdas/`` | the Lambda code probes deploy (a recording pre-provisioning hook, a no-op) |
"""
