"""Connection setup (TLS 1.3 handshake + CONNECT/CONNACK) and QoS 1 messages/s through one local endpoint.

    .venv/bin/python scripts/bench_mqtt.py [--connections 20] [--messages 500]

Deploys the local cloud, onboards one device (JITR), then measures with paho-mqtt (device.session) against
eu-west-1's endpoint directly (no resolver): each connection is a fresh TCP + TLS 1.3 handshake + CONNECT;
messages are published QoS 1 one after another, each waiting for its PUBACK (the rules engine has the message
before the PUBACK), then the cloud settles them into the data table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from device.endpoint import Endpoint
from device.session import Identity, Session, connect_with_backoff
from localcloud.cloud import LocalCloud
from localcloud.services.iot.mqtt.endpoints import MqttEndpoints


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, LocalCloud(state_dir=Path(folder) / "state") as cloud:
        cloud.deploy()
        issued = cloud.load_ca().issue_device("bench-0001")
        cert, key = Path(folder) / "d.crt", Path(folder) / "d.key"
        cert.write_text(issued.certificate_pem)
        key.write_text(issued.private_key_pem)
        identity = Identity("bench-0001", cert, key, cloud.pki_dir / "root-ca.crt")
        with MqttEndpoints(cloud, ports={r: 0 for r in cloud.regions}, resolver_port=0) as endpoints:
            endpoint = Endpoint("127.0.0.1", endpoints.port("eu-west-1"), cloud.domain)
            session, _ = connect_with_backoff(lambda: Session(endpoint, identity), base_s=0.05, cap_s=0.3)
            session.close()
            setups = []
            for _ in range(args.connections):
                session = Session(endpoint, identity)
                started = time.perf_counter()
                session.open()
                setups.append((time.perf_counter() - started) * 1000)
                session.close()
            session = Session(endpoint, identity)
            session.open()
            started = time.perf_counter()
            for n in range(args.messages):
                session.publish("i/bench-0001/m", json.dumps({"message": f"m{n}"}), qos=1)
            elapsed = time.perf_counter() - started
            session.close()
    print(json.dumps({"connection_setup_ms": {"median": round(statistics.median(setups), 1),
                                              "p90": round(sorted(setups)[int(0.9 * len(setups)) - 1], 1)},
                      "qos1_messages_per_s": round(args.messages / elapsed, 1),
                      "connections": args.connections, "messages": args.messages}))


if __name__ == "__main__":
    main()
