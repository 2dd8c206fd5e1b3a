"""TLS material for the local API server, made with the openssl command line (no extra Python deps)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scoutly.testing.procs import ComponentError


@dataclass(frozen=True)
class Certs:
    dir: Path

    ca_crt = property(lambda self: self.dir / "ca.crt")
    ca_key = property(lambda self: self.dir / "ca.key")
    serving_crt = property(lambda self: self.dir / "apiserver.crt")
    serving_key = property(lambda self: self.dir / "apiserver.key")
    admin_crt = property(lambda self: self.dir / "admin.crt")
    admin_key = property(lambda self: self.dir / "admin.key")
    sa_key = property(lambda self: self.dir / "sa.key")
    sa_pub = property(lambda self: self.dir / "sa.pub")


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ComponentError(f"certificates: openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def make_certs(directory: Path, extra_ips: list[str] | None = None) -> Certs:
    """A CA, an API server serving cert for 127.0.0.1/localhost (and `extra_ips`: a real node's bridge
    address and the `kubernetes` Service IP its pods use), an admin client cert, an SA key pair."""
    if shutil.which("openssl") is None:
        raise ComponentError(
            "certificates: the openssl command is missing; install it (apt-get install openssl)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    c = Certs(directory)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=scoutly-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=directory,
    )
    ext = directory / "serving.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:10.0.0.1,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
        + "".join(f",IP:{ip}" for ip in extra_ips or [])
        + "\n"
    )
    client_ext = directory / "client.ext"
    client_ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
    )
    for name, subj, extfile in (
        ("apiserver", "/CN=kube-apiserver", ext),
        ("admin", "/O=system:masters/CN=admin", client_ext),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subj,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            str(extfile),
            "-out",
            f"{name}.crt",
            cwd=directory,
        )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return c
