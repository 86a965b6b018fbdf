"""Pulumi components of the multi-region IoT system (one regional stack per AWS region)."""
