"""Where every file lives under the PKI directory (the ``--out DIR`` of every command).

    DIR/root-ca.crt  root-ca.key  intermediate-ca.crt  intermediate-ca.key
    DIR/ca-chain.pem                 intermediate then root
    DIR/server/FQDN.crt  FQDN.key
    DIR/devices/NAME.crt NAME.key    (no NAME.key when signed from the device's CSR)
    DIR/index.json                   serials and issued certificates (see pki.index)
    DIR/crl.pem                      revoked serials, signed by the intermediate (see pki.revocation)
    DIR/.pki.lock                    serialises commands that write
    DIR/archive/<UTC time>/          what init --force moved aside
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INIT_HINT = "python -m pki init --out {dir} --domain FQDN"


@dataclass(frozen=True)
class Layout:
    """Paths of one PKI directory."""

    root: Path

    @property
    def root_cert(self) -> Path:
        return self.root / "root-ca.crt"

    @property
    def root_key(self) -> Path:
        return self.root / "root-ca.key"

    @property
    def intermediate_cert(self) -> Path:
        return self.root / "intermediate-ca.crt"

    @property
    def intermediate_key(self) -> Path:
        return self.root / "intermediate-ca.key"

    @property
    def chain(self) -> Path:
        return self.root / "ca-chain.pem"

    @property
    def index(self) -> Path:
        return self.root / "index.json"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def lock(self) -> Path:
        return self.root / ".pki.lock"

    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    @property
    def devices_dir(self) -> Path:
        return self.root / "devices"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    def ca_files(self) -> list[Path]:
        """The CA's files in the order init writes them."""
        return [self.root_key, self.root_cert, self.intermediate_key, self.intermediate_cert, self.chain]

    def server_cert(self, fqdn: str) -> Path:
        return self.server_dir / f"{fqdn}.crt"

    def server_key(self, fqdn: str) -> Path:
        return self.server_dir / f"{fqdn}.key"

    def device_cert(self, name: str) -> Path:
        return self.devices_dir / f"{name}.crt"

    def device_key(self, name: str) -> Path:
        return self.devices_dir / f"{name}.key"

    def relative(self, path: Path) -> str:
        """``path`` relative to the PKI directory, for the index and messages."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def init_hint(self) -> str:
        """The command that creates this PKI directory."""
        return INIT_HINT.format(dir=self.root)
