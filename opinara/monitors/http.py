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
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from opinara.config import Settings
from opinara.monitors.connectors.base import SourceAuthError, SourceError, SourceRateLimited
from opinara.observability.metrics import MONITOR_HTTP_LATENCY

USER_AGENT = "Opinara/{version} (self-hosted review and social listening; +https://github.com/opinara)"
MAX_REDIRECTS = 5
TOTAL_TIMEOUTS = 4  # a whole answer may take this many monitor_timeout_seconds
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
        ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
        if any(ip in network for network in self.allowed):
            return True
        # Not only "private": shared address space (100.64.0.0/10, where some clouds keep their metadata
        # service, 100.100.100.200) and the other special-purpose ranges are not the public internet either.
        internal = (
            not ip.is_global
            or ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
        return self.allow_private or not internal


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4): where the packets really go."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour or ip


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


class PerThreadTransport(httpx.BaseTransport):
    """Guarded transports, one per thread, reused by every session on that thread. Building one loads
    the CA bundle into a TLS context (tens of milliseconds, most of a short run's time); closing this
    (a session ending) closes the calling thread's connections and keeps its transport for the next."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self._local = threading.local()

    def _own(self) -> _GuardedTransport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = _GuardedTransport(self.policy)
        return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._own().handle_request(request)

    def close(self) -> None:
        transport = getattr(self._local, "transport", None)
        if transport is not None:
            transport.close()  # httpcore's pool opens new connections after a close


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
        started = time.monotonic()
        try:
            with self._client.stream(method, url, **kwargs) as response:
                content = self._read(response, host, started)
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
        MONITOR_HTTP_LATENCY.labels(host).observe(time.monotonic() - started)
        page = Page(response.status_code, response.headers, content, str(response.url))
        self._respect_limits(host, page)
        return page

    def _read(self, response: httpx.Response, host: str, started: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceError(f"{host} sent {declared} bytes; the limit is {self.max_bytes}")
        # httpx's timeout bounds each read, so a server trickling a byte at a time could hold a run for
        # ever; the whole answer gets a few timeouts' worth, which a healthy slow server still meets.
        deadline = started + TOTAL_TIMEOUTS * self.settings.monitor_timeout_seconds
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceError(f"{host} sent more than {self.max_bytes} bytes, the limit")
            if time.monotonic() > deadline:
                raise SourceError(f"{host} did not finish its answer within {TOTAL_TIMEOUTS} timeouts")
            chunks.append(chunk)
        return b"".join(chunks)

    def _respect_limits(self, host: str, page: Page) -> None:
        exhausted = page.headers.get("x-ratelimit-remaining", "").startswith("0")
        wait = _reset_seconds(page.headers) if exhausted else None
        head = page.content[:4000].lower() if page.status >= 400 else b""
        # Google APIs (YouTube) answer a used-up quota or rate with 403, and GitHub-like APIs a 403 with an
        # exhausted X-RateLimit-Remaining: waiting helps there, new credentials do not.
        if page.status == 429 or (page.status == 403 and (exhausted or any(word in head for word in _SLOW_DOWN))):
            wait = retry_after(page.headers) or wait
            self.limiter.block(host, wait)
            raise SourceRateLimited(f"{host} asked to slow down ({page.status})", wait)
        if wait:
            self.limiter.block(host, wait)  # this answer counts; the next request waits for the reset
        if page.status in (401, 403) or (page.status == 400 and any(word in head for word in _BAD_KEY)):
            raise SourceAuthError(f"{host} refused the credentials ({page.status})")
        if page.status >= 400:
            raise SourceError(f"{host} answered {page.status}")


# Words of error bodies, lowercased: Google's error reasons (quotaExceeded, rateLimitExceeded,
# userRateLimitExceeded, dailyLimitExceeded; keyInvalid and API_KEY_INVALID come with a 400, not a 401).
_SLOW_DOWN = (b"quota", b"ratelimitexceeded", b"dailylimitexceeded")
_BAD_KEY = (b"keyinvalid", b"api_key_invalid")


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
