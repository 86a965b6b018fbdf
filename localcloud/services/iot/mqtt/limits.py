"""How long the endpoints and the resolver wait, and how many connections they hold: AWS's numbers where AWS publishes
them, our judgement (said so) where it does not. One mutable :class:`Limits` is shared by every region's endpoint and
the resolver of an :class:`~localcloud.services.iot.mqtt.endpoints.MqttEndpoints`, read per connection, so a test can
lower a value for one case (``endpoints.limits.connect_timeout_s = 0.5``). docs/emulator.md, "MQTT endpoints".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    # Keep-alive (AWS IoT Core quotas, message broker limits, https://docs.aws.amazon.com/general/latest/gr/iot-core.html):
    # 0 or more than 1200 s means 1200 s, less than 30 s means 30 s (as quoted in re:Post QU_ER8srIYQRaZNNH9od_Q1g, and
    # "AWS IoT maxes out at (and defaults to) 1200 seconds", aws-c-mqtt v0.4.27); a client silent for 1.5 times its keep-alive is
    # disconnected (MQTT_KEEP_ALIVE_TIMEOUT, https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html;
    # MQTT 3.1.1 section 3.1.2.10).
    keep_alive_min_s: float = 30
    keep_alive_max_s: float = 1200
    keep_alive_factor: float = 1.5
    # Same page: at most 8 topic filters in one SUBSCRIBE and 50 subscriptions per connection (a SUBSCRIBE over 8
    # gets SUBACK 0x80 for every filter, a filter over 50 gets 0x80: our choice of how AWS's limit shows), and at most
    # 100 unacknowledged outbound QoS 1 messages per client ("no new messages are sent to the client until the client
    # acknowledges the in-flight messages"). Topic size and depth: IotCore (core.py, topic_limit_error).
    max_filters_per_subscribe: int = 8
    max_subscriptions: int = 50
    max_inflight_qos1: int = 100
    # Judgement (AWS publishes no number): the TLS handshake and then the CONNECT must each arrive within these, as
    # MQTT 3.1.1 section 3.1.4 asks ("within a reasonable amount of time ... SHOULD close").
    tls_handshake_timeout_s: float = 10
    connect_timeout_s: float = 10
    # Judgement: connections that are not yet sessions (handshaking, or waiting for CONNECT or IoT Core's verdict)
    # per endpoint; one more closes the oldest, so idle sockets cannot hold a device out or use up the process's
    # file descriptors. Sessions per endpoint are capped separately, a CONNECT over the cap refused (AWS's
    # per-account quota of concurrent connections is far larger, but here every session is a file descriptor of
    # this process, three through the resolver: 2 regions x (2,000 + 256) x 3 stays under a 20,000 descriptor limit).
    # Offline persistent sessions per endpoint are bounded by max_sessions too (judgement: AWS publishes no such
    # quota); one more ends the one that would expire first (RegionBroker._expire_later).
    max_pending: int = 256
    max_sessions: int = 2000
    # Judgement: the resolver (not AWS: Route 53 answers DNS and holds nothing) gives a client this long to finish
    # its SOCKS5 or HTTP CONNECT negotiation, and holds at most this many unfinished ones (one more closes the oldest).
    resolver_negotiation_timeout_s: float = 10
    resolver_max_pending: int = 256
    # Judgement: the largest control packet read (AWS's 128 KB payload limit plus a topic and headers); a larger
    # one closes the connection before it is buffered. A payload over 128 KB but under this is refused by
    # IotCore.publish with PAYLOAD_LIMIT_EXCEEDED, as AWS does.
    max_packet_bytes: int = 128 * 1024 + 64 * 1024
    # MQTT 5 (https://docs.aws.amazon.com/iot/latest/developerguide/mqtt.html#mqtt5 and the message broker limits):
    # the CONNACK's Topic Alias Maximum (aliases a client may set per connection) and Receive Maximum (QoS 1 publishes
    # a client may have unacknowledged), AWS's documented values as we read them: 8 and 100. A persistent session (MQTT
    # 3.1.1 clean session 0, or an MQTT 5 Session Expiry Interval) ends this long after its connection closed: AWS's
    # default of one hour ("The default persistent session expiration time of one hour", mqtt.html#mqtt-persistent-
    # sessions); an MQTT 5 client asking for longer gets this in its CONNACK (Session Expiry Interval).
    topic_alias_maximum: int = 8
    receive_maximum: int = 100
    session_expiry_max_s: float = 3600

    def keep_alive_s(self, requested: int) -> float:
        """The keep-alive IoT Core uses for a CONNECT asking for ``requested`` seconds."""
        if requested <= 0 or requested > self.keep_alive_max_s:
            return self.keep_alive_max_s
        return max(float(requested), self.keep_alive_min_s)

    def idle_timeout_s(self, requested: int) -> float:
        """How long a connected client may stay silent: 1.5 times its keep-alive."""
        return self.keep_alive_s(requested) * self.keep_alive_factor
