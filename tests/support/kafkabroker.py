"""A real single-node Apache Kafka broker (KRaft, broker + controller) on loopback, for tests and benchmarks.

The jars come from ``scripts/kafka.sh fetch`` (Maven Central, cached). ``Broker`` formats a fresh
storage directory, starts ``kafka.Kafka`` on free 127.0.0.1 ports, waits until the client port
accepts and a metadata request succeeds (bounded), and stops the JVM by its PID. With ``secure``, a
second listener speaks SASL_SSL (PLAIN over TLS with a certificate from a throwaway CA).

``python -m tests.support.kafkabroker [--port P]`` runs one in the foreground until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
LOG4J = "status = error\nappender.console.type = Console\nappender.console.name = console\n" + (
    "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = [%d] %p %m (%c)%n\n"
    "rootLogger.level = warn\nrootLogger.appenderRef.console.ref = console\n"
)


def libs() -> Path:
    """The broker's jar folder, resolved by scripts/kafka.sh (which downloads it only once)."""
    if os.environ.get("WARNROUTE_KAFKA_LIBS"):
        return Path(os.environ["WARNROUTE_KAFKA_LIBS"])
    out = subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "fetch"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class SaslTls:
    """The SASL_SSL listener's side of things: where it is, whom it accepts, which CA signed it."""

    bootstrap: str
    username: str
    password: str
    ca_file: Path


@dataclass
class Broker:
    directory: Path
    secure: bool = False
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    secure_port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    sasl: SaslTls | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Broker:
        """Format (first start only) and start the broker; returns once it answers a metadata request."""
        jars = libs()
        self.directory.mkdir(parents=True, exist_ok=True)
        properties = self.directory / "server.properties"
        if not properties.exists():
            properties.write_text(self._properties())
            (self.directory / "log4j2.properties").write_text(LOG4J)
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            fmt = [
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                f"--cluster-id={cluster}",
                "-c",
                str(properties),
            ]
            subprocess.run(
                [*self._java(jars, "-Xmx128m"), *fmt],
                check=True,
                capture_output=True,
            )
        with (self.directory / "broker.log").open("ab") as log:
            self.popen = subprocess.Popen(
                [*self._java(jars, "-Xms320m", "-Xmx320m"), "kafka.Kafka", str(properties)], stdout=log, stderr=log
            )
        asyncio.run(self._wait_ready(timeout))
        return self

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after 30 s; the data stays for a restart."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def log_tail(self) -> str:
        return (self.directory / "broker.log").read_text(errors="replace")[-3000:]

    def _java(self, jars: Path, *heap: str) -> list[str]:
        return [
            "java",
            *heap,
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
            "-cp",
            f"{jars}/*",
        ]

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        problem = "not started"
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"kafka broker exited: {self.log_tail()}")
            try:  # the client port opens only once the broker is up (then one real request)
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError as exc:
                problem = repr(exc)
                await asyncio.sleep(0.3)
                continue
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
            try:
                await admin.start()
                await admin.describe_cluster()
                return
            except Exception as exc:
                problem = repr(exc)
            finally:
                await admin.close()
            await asyncio.sleep(0.3)
        raise RuntimeError(f"kafka broker not ready in {timeout} s ({problem}): {self.log_tail()}")

    def _properties(self) -> str:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}", f"CONTROLLER://127.0.0.1:{self.controller_port}"]
        extra: list[str] = []
        if self.secure:
            listeners.append(f"SASL_SSL://127.0.0.1:{self.secure_port}")
            extra = self._secure_properties()
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                "listeners=" + ",".join(listeners),
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
                f"log.dirs={self.directory / 'data'}",
                "num.partitions=1",
                "num.network.threads=2",
                "num.io.threads=2",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "share.coordinator.state.topic.num.partitions=1",
                "group.initial.rebalance.delay.ms=0",
                "log.cleaner.dedupe.buffer.size=16777216",
                "auto.create.topics.enable=false",
                *extra,
                "",
            ]
        )

    def _secure_properties(self) -> list[str]:
        import trustme
        from cryptography.hazmat.primitives import serialization

        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        pem = self.directory / "broker.pem"
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        pkcs8 = key.private_bytes(  # Kafka's PEM keystore reads PKCS#8 only
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem.write_bytes(pkcs8 + b"".join(c.bytes() for c in leaf.cert_chain_pems))
        ca_file = self.directory / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        password = base64.urlsafe_b64encode(os.urandom(18)).decode()
        self.sasl = SaslTls(f"127.0.0.1:{self.secure_port}", "bureau", password, ca_file)
        return [
            "sasl.enabled.mechanisms=PLAIN",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={pem}",
            "listener.name.sasl_ssl.plain.sasl.jaas.config="
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_bureau="{password}";',
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a single-node Kafka broker on loopback until interrupted.")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--dir", type=Path, default=ROOT / ".kafka")
    args = parser.parse_args()
    broker = Broker(args.dir, port=args.port).start()
    print(f"kafka broker ready at {broker.bootstrap} (pid {broker.popen.pid if broker.popen else '?'})", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
