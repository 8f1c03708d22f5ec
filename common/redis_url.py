"""ROUTER_REDIS_URL: one Redis, or a primary found through Redis Sentinel — and a client for it.

    redis://[[USER]:PASSWORD@]HOST:6379/0
    rediss://…[?ssl_ca_certs=/path/ca.pem]      (TLS: the certificate and its host name verified)
    unix:///path/to/redis.sock
    redis+sentinel://[[USER]:PASSWORD@]HOST:26379[,HOST:26379…]/SERVICE[/DB][?sentinel_password=…]
    rediss+sentinel://…                         (TLS to the sentinels and to Redis)

With Sentinel, the client asks the sentinels for the current primary of SERVICE (e.g.
`mymaster`) and asks again whenever its connection fails or the server answers READONLY (a
demoted primary): a failover is followed without a restart. The password before `@` (or
`?password=`) is Redis's; `sentinel_password` is the sentinels' own, when they require one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, overload
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
SENTINEL_TIMEOUT_S = 2.0  # a sentinel that does not answer within this is skipped for the next

R = TypeVar("R", bound=Redis)


@dataclass(frozen=True)
class SentinelTarget:
    """A Redis reached through its sentinels."""

    sentinels: tuple[tuple[str, int], ...]
    service: str  # the primary's name the sentinels monitor
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def is_sentinel(url: str) -> bool:
    """Whether `url` names sentinels rather than one Redis."""
    return url.split("://", 1)[0] in SENTINEL_SCHEMES


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:26379
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError("names a sentinel without a host, e.g. redis+sentinel://s1:26379/mymaster")
    if not port_text:
        return host, SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("has a sentinel port that is not a number from 1 to 65535")
    return host, int(port_text)


def parse_sentinel(url: str) -> SentinelTarget:
    """The sentinels, service, database and credentials of a `redis+sentinel://` URL.

    Raises:
        ValueError: the URL is malformed (the message never repeats a password).
    """
    scheme, _, rest = url.partition("://")
    netloc, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = tuple(_host_port(h.strip()) for h in hosts.split(",") if h.strip())
    if not sentinels:
        raise ValueError("names no sentinel, e.g. redis+sentinel://s1:26379,s2:26379/mymaster/0")
    segments = [s for s in path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ValueError("must name the service and optionally the database: …/mymaster/0")
    if len(segments) == 2 and not segments[1].isdigit():
        raise ValueError("has a database that is not a number: …/mymaster/0")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    unknown = set(options) - {"password", "sentinel_password"}
    if unknown:
        raise ValueError(f"has unknown options {sorted(unknown)}: only password, sentinel_password")
    return SentinelTarget(
        sentinels=sentinels,
        service=unquote(segments[0]),
        db=int(segments[1]) if len(segments) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or options.get("password") or None,
        sentinel_password=options.get("sentinel_password") or None,
        tls=scheme == "rediss+sentinel",
    )


def secrets(url: str) -> list[str | None]:
    """The credentials in `url`, to be masked wherever the router writes text."""
    if is_sentinel(url):
        target = parse_sentinel(url)
        found = [target.password, target.sentinel_password]
    else:
        parts = urlsplit(url)
        found = [parts.password, *parse_qs(parts.query).get("password", [])]
        # As written (percent-encoded) and as sent: both may show up in a message.
        found += [unquote(parts.password or "")]
        found += [
            p[len("password=") :] for p in parts.query.split("&") if p.startswith("password=")
        ]
    return list(dict.fromkeys(found))


class _PrimaryPool(SentinelConnectionPool):
    """The primary's connections; closing them closes the sentinels' too (redis-py leaves
    those open, one client per sentinel, for as long as the process lives).

    redis-py also calls `disconnect(inuse_connections=False)` when the primary moves, to drop
    idle connections: the sentinels' in-use ones are then left alone too — another coroutine
    may be asking that sentinel for the primary at that moment.
    """

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        for sentinel in self.sentinel_manager.sentinels:
            await sentinel.connection_pool.disconnect(inuse_connections)


@overload
def client(url: str, **options: Any) -> Redis: ...


@overload
def client(url: str, redis_class: type[R], **options: Any) -> R: ...


def client(url: str, redis_class: type[Redis] = Redis, **options: Any) -> Redis:
    """A client of the Redis `url` names; `options` as `Redis.from_url` takes them (timeouts).

    With Sentinel, the client finds the primary at its first command and again after any
    connection error or READONLY answer (redis-py's `SentinelConnectionPool`).
    """
    if url.startswith("rediss"):
        # The certificate must be valid and name the host (redis-py checks only the chain by
        # default); `?ssl_check_hostname=false` in the URL turns the name check off.
        options.setdefault("ssl_check_hostname", True)
    if not is_sentinel(url):
        plain: Redis = redis_class.from_url(url, **options)
        return plain
    target = parse_sentinel(url)
    timeouts = {"socket_connect_timeout": SENTINEL_TIMEOUT_S, "socket_timeout": SENTINEL_TIMEOUT_S}
    tls = {"ssl": True} if target.tls else {}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={"password": target.sentinel_password, **timeouts, **tls},
        username=target.username,
        password=target.password,
        db=target.db,
        **tls,
        **options,
    )
    primary: Redis = sentinel.master_for(
        target.service, redis_class=redis_class, connection_pool_class=_PrimaryPool
    )
    return primary


def address(redis: Redis) -> str:
    """Where a client's Redis is, for people: `host:port`, a socket path, or the Sentinel
    service — never a password."""
    settings = redis.connection_pool.connection_kwargs
    if settings.get("host"):
        return f"{settings['host']}:{settings.get('port', 6379)}"
    if settings.get("path"):
        return str(settings["path"])
    service = getattr(redis.connection_pool, "service_name", None)
    return f"the primary of Sentinel service {service}" if service else "its address"
