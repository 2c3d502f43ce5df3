"""A real `redis-server` process on a free TCP port, for the Redis contract run.

Always a real server, never a stand-in, never the machine's own Redis on 6379: each one is a
child process of the test run, with no persistence, in a private temporary directory. `stop()` and
`start()` again on the same port let a test take Redis down and bring it back. Made with
`tls=True`, it also serves TLS on a port of its own, with a certificate from a throwaway CA; with
`tls_auth_clients=True` that port also demands a client certificate the CA signed (mutual TLS).
"""

from __future__ import annotations

import collections
import datetime
import ipaddress
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final
from uuid import uuid4

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

READY_LINE: Final = "Ready to accept connections"
MISSING_MESSAGE: Final = "redis-server not found: run `make test`, which installs it"


class RedisServerMissing(RuntimeError):
    """No `redis-server` executable on PATH."""


class RedisServerFailed(RuntimeError):
    """The process exited, or did not say it was ready in time; its output is in the message."""


def find_redis_server() -> str:
    """The path of the `redis-server` executable; RedisServerMissing if there is none."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RedisServerMissing(MISSING_MESSAGE)
    return exe


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_prefix() -> str:
    """A Redis key prefix (`Settings.redis_prefix`) no other test uses."""
    return f"t{uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: a throwaway CA, a server certificate it signed for 127.0.0.1 and localhost
    with its key, and a client certificate it signed with its key."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a new CA, a server and a client certificate (EC P-256, valid for a day) into
    `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Huddle test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    signs_certificates = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(signs_certificates, critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    server_names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
    )
    client_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "huddle-node")])
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for subject, names, usage, cert_path, key_path in (
        (server_name, server_names, ExtendedKeyUsageOID.SERVER_AUTH, files.cert, files.key),
        (client_name, None, ExtendedKeyUsageOID.CLIENT_AUTH, files.client_cert, files.client_key),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if names is not None:
            builder = builder.add_extension(names, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


class _OutputPump:
    """Drains the server's stdout on a thread, so a chatty server never blocks on a full pipe,
    and signals once the ready line, or the end of the output, has been seen."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.ready = False
        self._settled = threading.Event()  # set on the ready line or at the end of output
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                if READY_LINE in line:
                    self.ready = True
                    self._settled.set()
        finally:
            self._settled.set()
            stream.close()

    def wait(self, timeout: float) -> bool:
        """True once ready; False if the output ended or `timeout` passed first."""
        self._settled.wait(timeout)
        return self.ready

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        return "\n".join(self.lines)


class RedisServer:
    """One `redis-server` child process on 127.0.0.1:`port`.

    `start()` launches it and returns once it logged that it accepts connections; `stop()`
    terminates it and waits for the exit. After `stop()`, `start()` brings up an empty server
    on the same port (nothing is persisted), as a Redis restart that lost its data would; made
    with `appendonly=True`, every write is in an fsynced AOF and a restart keeps all of it.
    With `tls_auth_clients=True` (implies `tls`), the TLS port refuses a client without a
    certificate signed by the CA (`tls-auth-clients yes`).
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 10.0,
        appendonly: bool = False,
        tls: bool = False,
        tls_auth_clients: bool = False,
    ) -> None:
        self._exe = find_redis_server()
        self._dir = Path(tempfile.mkdtemp(prefix="hd-redis-"))
        self._startup_timeout = startup_timeout
        self._appendonly = appendonly
        self._proc: subprocess.Popen[str] | None = None
        self._pump: _OutputPump | None = None
        self.port = 0
        self._tls_auth_clients = tls_auth_clients
        tls = tls or tls_auth_clients
        self.tls: TlsFiles | None = make_tls_files(self._dir / "tls") if tls else None
        """The CA and server certificate of the TLS port (None: no TLS port)."""
        self.tls_port = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def tls_url(
        self, db: int = 0, *, ca: bool = True, client_cert: bool = False, cert_reqs: str = ""
    ) -> str:
        """The `rediss://` URL of the TLS port; with `ca`, it names the CA to verify with; with
        `client_cert`, the client certificate and key to present; `cert_reqs` is passed as
        `ssl_cert_reqs` when given."""
        assert self.tls is not None, "made without tls=True"
        query = []
        if ca:
            query.append(f"ssl_ca_certs={self.tls.ca}")
        if client_cert:
            query += [f"ssl_certfile={self.tls.client_cert}", f"ssl_keyfile={self.tls.client_key}"]
        if cert_reqs:
            query.append(f"ssl_cert_reqs={cert_reqs}")
        url = f"rediss://127.0.0.1:{self.tls_port}/{db}"
        return f"{url}?{'&'.join(query)}" if query else url

    @property
    def socket_path(self) -> Path:
        """The server's unix socket, beside its TCP port."""
        return self._dir / "r.sock"

    def unix_url(self, db: int = 0) -> str:
        return f"unix://{self.socket_path}?db={db}"

    def start(self) -> None:
        """Start the server; on its first start, on a free port (retried if one is taken)."""
        if self.running:
            raise RuntimeError(f"redis-server already running on port {self.port}")
        if self.port:
            self._launch(self.port, self.tls_port)
            return
        for attempt in range(5):
            # The port is free when picked, but another process may take it before Redis
            # binds it; then Redis exits at once and another port is tried.
            try:
                self._launch(free_port(), free_port() if self.tls else 0)
                return
            except RedisServerFailed:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, port: int, tls_port: int = 0) -> None:
        command = [
            self._exe,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self._appendonly else "no",
            "--appendfsync", "always",
            "--dir", str(self._dir),
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--daemonize", "no",
        ]  # fmt: skip
        if self.tls is not None:
            command += [
                "--tls-port", str(tls_port),
                "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "yes" if self._tls_auth_clients else "no",
            ]  # fmt: skip
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        pump = _OutputPump(proc.stdout)
        if not pump.wait(self._startup_timeout):
            self._terminate(proc, pump)
            raise RedisServerFailed(
                f"redis-server on port {port} did not report {READY_LINE!r} within "
                f"{self._startup_timeout} s (exit code {proc.returncode}):\n{pump.text()}"
            )
        self._proc, self._pump, self.port, self.tls_port = proc, pump, port, tls_port

    def freeze(self) -> None:
        """Suspend the process (SIGSTOP): connections stay open but nothing answers."""
        assert self._proc is not None, "redis-server is not running"
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen process (SIGCONT)."""
        assert self._proc is not None, "redis-server is not running"
        self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would: no shutdown save, no goodbye to clients."""
        if self._proc is not None and self._pump is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._pump.join(timeout=10)
        self._proc = self._pump = None

    def stop(self) -> None:
        """Terminate the server and wait for it to exit; a no-op when it is not running."""
        if self._proc is not None and self._pump is not None:
            self._terminate(self._proc, self._pump)
        self._proc = self._pump = None

    @staticmethod
    def _terminate(proc: subprocess.Popen[str], pump: _OutputPump) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen server handles SIGTERM only once resumed
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        pump.join(timeout=10)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
