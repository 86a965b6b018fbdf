"""The Pulumi policy pack of multi-region-iot.

``policy/__main__.py`` serves the pack to the Pulumi CLI (``pulumi preview --policy-pack policy``);
``policy.pack`` builds the policy list, ``policy.offline.evaluate`` runs it without the CLI.
"""
