"""The mock's RSA key pair for card cryptograms: made on first use, kept in the store, served as PEM.

Where the key comes from, in order: a PEM file the settings name (`rsa_key_file`), the one the
store already keeps (so a durable sandbox keeps its key across restarts), or a new 2048-bit
pair, derived from `--seed` when there is one (the same seed always gives the same key) and
random otherwise. Nothing happens at start-up: `cryptography` is imported only when a key is
first needed, so start-up time and idle memory stay what they were.
"""

from __future__ import annotations

import functools
import random
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

SECRET_NAME = "rsa_private_key"
KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = tuple(p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))


class SecretStore(Protocol):
    """The part of the store contract that keeps the key (store/base.py `SecretStore`)."""

    def get_secret(self, name: str) -> str | None: ...

    def put_secret(self, name: str, value: str) -> str: ...


class KeyFileError(ValueError):
    """The configured PEM file cannot be read as an RSA private key."""


def _probably_prime(n: int, rng: random.Random, rounds: int = 40) -> bool:
    """Miller-Rabin with bases from `rng` (deterministic for a seeded `rng`)."""
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _seeded_prime(rng: random.Random, bits: int) -> int:
    """The first prime of a seeded search: top two bits set (so p*q has all `2*bits` bits)."""
    while True:
        candidate = rng.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        if (candidate - 1) % PUBLIC_EXPONENT and _probably_prime(candidate, rng):
            return candidate


@functools.lru_cache(maxsize=8)
def seeded_private_key(seed: int, bits: int = KEY_BITS) -> RSAPrivateKey:
    """The RSA key a seed stands for: primes from a seeded search, built from its numbers.

    Kept per process (the search takes about a second in pure Python; its result never changes)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random(f"mock-epay rsa {seed}")
    p = _seeded_prime(rng, bits // 2)
    q = _seeded_prime(rng, bits // 2)
    while q == p:
        q = _seeded_prime(rng, bits // 2)
    p, q = max(p, q), min(p, q)
    d = pow(PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p, q=q, d=d, dmp1=rsa.rsa_crt_dmp1(d, p), dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q), public_numbers=rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
    )
    return numbers.private_key()


def _random_private_key() -> RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)


def private_pem(key: RSAPrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def load_private_pem(text: str | bytes) -> RSAPrivateKey:
    """An RSA private key from PEM text; `KeyFileError` when it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyFileError("the PEM key is not an RSA key")
    return key


class KeyRing:
    """The sandbox's one key pair, made or loaded the first time it is asked for."""

    def __init__(self, store: SecretStore, seed: int | None = None,
                 key_file: Path | str | None = None) -> None:
        self._store = store
        self._seed = seed
        self._key_file = Path(key_file) if key_file else None
        self._key: Any = None
        self._lock = threading.Lock()

    def private_key(self) -> RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = self._load()
            return self._key  # type: ignore[no-any-return]

    def _load(self) -> RSAPrivateKey:
        if self._key_file is not None:
            try:
                return load_private_pem(self._key_file.read_bytes())
            except OSError as exc:
                raise KeyFileError(f"cannot read rsa_key_file {self._key_file}: {exc}") from exc
        kept = self._store.get_secret(SECRET_NAME)
        if kept is None:
            fresh = seeded_private_key(self._seed) if self._seed is not None else _random_private_key()
            kept = self._store.put_secret(SECRET_NAME, private_pem(fresh))  # first writer wins
        return load_private_pem(kept)

    def public_pem(self) -> str:
        """The public half as PEM (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`)."""
        from cryptography.hazmat.primitives import serialization

        return self.private_key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def decrypt(self, ciphertext: bytes) -> bytes | None:
        """The PKCS#1 v1.5 plaintext, or None when this key cannot open `ciphertext`."""
        from cryptography.hazmat.primitives.asymmetric import padding

        key = self.private_key()
        if len(ciphertext) != key.key_size // 8:
            return None
        try:
            return key.decrypt(ciphertext, padding.PKCS1v15())
        except ValueError:
            return None


def encrypt_with_public_pem(public_pem: str, plaintext: bytes) -> bytes:
    """RSA PKCS#1 v1.5 encryption with a PEM public key (what merchants do to build a cryptogram)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the PEM key is not an RSA public key")
    return key.encrypt(plaintext, padding.PKCS1v15())
