"""Which `Host` headers the API answers: Starlette's TrustedHostMiddleware, the probes left out."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

#: Always allowed: the names of this machine's loopback interface.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def default_allowed_hosts(bind_host: str) -> list[str]:
    """The address `serve` listens on and localhost."""
    return list(dict.fromkeys([bind_host, *LOCAL_HOSTS]))


class TrustedHosts:
    """Answer 400 to a request whose `Host` is not in `allowed_hosts` (`*.example.com` and `*` allowed),
    except on the `exempt` paths: the kubelet's probes ask by the pod's IP, and say nothing of where."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str], exempt: Collection[str] = ()) -> None:
        self.app = app
        self._checked = TrustedHostMiddleware(app, allowed_hosts=list(allowed_hosts), www_redirect=False)
        self._exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._exempt:
            await self.app(scope, receive, send)
        else:
            await self._checked(scope, receive, send)
