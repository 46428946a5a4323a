"""The credentials Secrets, read by name and cached briefly.

Secrets are never listed or watched (the operator must not hold every Secret
of the cluster in memory): the one a connection names is read by name from
the DrsJob's own namespace, its ``data`` decoded
(:func:`drs_operator.domain.credentials.decode_secret_data`) and kept for
``ttl`` seconds, so a rotated Secret takes effect on a following refresh.
:meth:`SecretCache.forget` drops one entry (after an auth error);
:meth:`SecretCache.sweep` drops expired entries and their locks. Concurrent
reads of one Secret share a single request. Nothing here logs a value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from drs_operator.domain.conditions import REASON_CREDENTIALS_UNAVAILABLE
from drs_operator.domain.credentials import CredentialsError, decode_secret_data
from drs_operator.engine.kube import KubeApi, KubeError

__all__ = ["SecretCache", "SecretKey", "SecretValues"]

SecretKey = tuple[str, str]  # (namespace, name)
SecretValues = dict[str, str] | None  # decoded data; None: the Secret does not exist


class SecretCache:
    def __init__(
        self, *, kube: KubeApi, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[SecretKey, tuple[float, SecretValues]] = {}
        self._locks: dict[SecretKey, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def fresh(self, key: SecretKey) -> tuple[SecretValues] | None:
        """``(values,)`` while the cached entry is fresh (values None: no such Secret)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return (entry[1],)

    async def values(self, namespace: str, name: str) -> SecretValues:
        """The Secret's decoded data, None when it does not exist.

        Raises :class:`CredentialsError` (``CredentialsUnavailable``) when it
        cannot be read, (``CredentialsInvalid``) when a known key is not base64.
        """
        key = (namespace, name)
        cached = self.fresh(key)
        if cached is not None:
            return cached[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self.fresh(key)
            if cached is not None:
                return cached[0]
            try:
                secret = await self._kube.get_secret(namespace, name)
            except KubeError as exc:
                raise CredentialsError(
                    f"Secret {namespace}/{name} could not be read: HTTP {exc.status or '-'}"
                    f" {exc.reason or ''}".rstrip(),
                    reason=REASON_CREDENTIALS_UNAVAILABLE,
                ) from None
            values = (
                None
                if secret is None
                else decode_secret_data(secret.get("data") or {}, secret_name=name)
            )
            self._entries[key] = (self._clock() + self._ttl, values)
            return values

    def forget(self, namespace: str, name: str) -> None:
        """Re-read this Secret on next use (after an auth error)."""
        self._entries.pop((namespace, name), None)

    def sweep(self, *, older_than: float) -> None:
        """Drop entries expired for more than ``older_than`` seconds, and idle locks."""
        now = self._clock()
        for key, (expires, _) in list(self._entries.items()):
            if expires < now - older_than:
                del self._entries[key]
        for key, lock in list(self._locks.items()):
            if key not in self._entries and not lock.locked():
                del self._locks[key]
