"""The pacer Lambda: a slot on this region's queue for a throttled AWS call (``handler.handler``)."""
