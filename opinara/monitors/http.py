"""Outbound HTTP for connectors: guarded, bounded, counted, and polite to each service host.

- No private, loopback, link-local or otherwise internal address is reached, checked on the address
  the host resolves to at connect time (the connection goes to the checked address, so a name that
  resolves differently a moment later cannot slip through; redirects are checked the same way),
  unless ``monitor_allow_private`` or ``monitor_allowed_networks`` says so.
- Timeouts, a cap on response size, a clear User-Agent.
- One limiter per service host, shared by every monitor that calls it (in Redis when configured):
  a request rate, and a "wait until" that a 429, a quota answer or an exhausted ``X-RateLimit-*``
  sets for everyone.
- Error messages name the host and the status, never the URL (a query may hold an API key).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from opinara.config import Settings
from opinara.monitors.connectors.base import SourceAuthError, SourceError, SourceRateLimited

USER_AGENT = "Opinara/{version} (self-hosted review and social listening; +https://github.com/opinara)"
MAX_REDIRECTS = 5
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(SourceError):
    """The host resolves to an address outgoing requests may not reach."""

    code = "E603"


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkPolicy:
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.monitor_allowed_networks)
        return cls(settings.monitor_allow_private, networks)

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return True
        internal = (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
        return self.allow_private or not internal


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host, refuses internal addresses, and connects to the address it checked."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise SourceError(f"cannot resolve {host}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [address for address in addresses if self.policy.permits(address)]
        if not allowed:
            raise BlockedAddress(
                f"{host} resolves to an internal address ({addresses[0]}); outgoing requests may not reach it "
                "(OPINARA_MONITOR_ALLOW_PRIVATE or OPINARA_MONITOR_ALLOWED_NETWORKS allow it)"
            )
        return super().connect_tcp(allowed[0], port, timeout, local_address, socket_options)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool on the guarded network backend."""

    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__()
        ssl_context = self._pool._ssl_context  # the context httpx configured (certifi, verification on)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=20, network_backend=_GuardedBackend(policy)
        )


@dataclass
class Page:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"{httpx.URL(self.url).host} sent a malformed JSON body") from exc


class HttpSession:
    """One run's HTTP: counts its calls; every request goes through the host limiter and the guard."""

    def __init__(
        self,
        settings: Settings,
        limiter: Any,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
    ) -> None:
        from importlib.metadata import version

        self.settings = settings
        self.limiter = limiter
        self.max_bytes = settings.monitor_max_response_bytes
        self.calls = 0
        self._client = httpx.Client(
            transport=transport or _GuardedTransport(NetworkPolicy.from_settings(settings)),
            timeout=httpx.Timeout(settings.monitor_timeout_seconds),
            headers={"User-Agent": user_agent or USER_AGENT.format(version=version("opinara"))},
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Page:
        return self.request("GET", url, params=params, headers=headers)

    def request(self, method: str, url: str, **kwargs: Any) -> Page:
        host = httpx.URL(url).host
        self.limiter.acquire(host)
        self.calls += 1
        try:
            with self._client.stream(method, url, **kwargs) as response:
                content = self._read(response, host)
        except SourceError:
            raise
        except httpx.TooManyRedirects as exc:
            raise SourceError(f"{host} redirected more than {MAX_REDIRECTS} times") from exc
        except httpx.TimeoutException as exc:
            raise SourceError(f"{host} did not answer within {self.settings.monitor_timeout_seconds:g} s") from exc
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, SourceError):
                raise cause from exc
            raise SourceError(f"cannot reach {host} ({type(exc).__name__})") from exc
        page = Page(response.status_code, response.headers, content, str(response.url))
        self._respect_limits(host, page)
        return page

    def _read(self, response: httpx.Response, host: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceError(f"{host} sent {declared} bytes; the limit is {self.max_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceError(f"{host} sent more than {self.max_bytes} bytes; the limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _respect_limits(self, host: str, page: Page) -> None:
        wait = _reset_seconds(page.headers) if page.headers.get("x-ratelimit-remaining", "").startswith("0") else None
        if page.status == 429 or (page.status == 403 and "quota" in page.content[:2000].decode("utf-8", "replace")):
            wait = retry_after(page.headers) or wait
            self.limiter.block(host, wait)
            raise SourceRateLimited(f"{host} asked to slow down ({page.status})", wait)
        if wait:
            self.limiter.block(host, wait)  # this answer counts; the next request waits for the reset
        if page.status in (401, 403):
            raise SourceAuthError(f"{host} refused the credentials ({page.status})")
        if page.status >= 400:
            raise SourceError(f"{host} answered {page.status}")


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime

        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _reset_seconds(headers: httpx.Headers) -> float | None:
    """``X-RateLimit-Reset``: seconds to wait (Reddit) or the moment of the reset (Mastodon's ISO time)."""
    value = headers.get("x-ratelimit-reset")
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
    return number - time.time() if number > 1e9 else number  # an epoch time, or seconds
