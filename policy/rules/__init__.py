"""The rules of the policy pack, one module per concern; ``policy.pack`` lists them."""
