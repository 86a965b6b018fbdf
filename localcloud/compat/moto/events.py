"""moto's EventBridge and EventBridge Pipes: the backends, rules and their pattern matcher, pipes."""
from __future__ import annotations

from . import internals

with internals():
    from moto.events.models import EventPattern, Rule, events_backends
    from moto.pipes.models import EventBridgePipesBackend, Pipe, pipes_backends

__all__ = ["EventBridgePipesBackend", "EventPattern", "Pipe", "Rule", "events_backends", "pipes_backends"]
