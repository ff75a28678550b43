"""The credential vault: secrets encrypted at rest under envelope encryption (AES-256-GCM)."""

from lockgate.vault.envelope import KeyRing, VaultError, new_key
from lockgate.vault.sealing import Vault, place

__all__ = ["KeyRing", "Vault", "VaultError", "new_key", "place"]
