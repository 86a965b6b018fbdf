"""A function that does nothing: the conformance kit names it as a certificate provider's Lambda, never invoked."""


def handler(event, context):
    return None
