"""Point tweepy at another X API host (the sandbox) through its public `session` seam."""

from __future__ import annotations

from typing import Any

import requests
import tweepy

X_HOSTS = ("https://api.twitter.com", "https://api.x.com")


class RedirectSession(requests.Session):
    """A requests session that sends X API calls to base_url instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        """Return the URL with X's host replaced by the base URL."""
        for host in X_HOSTS:
            if url == host or url.startswith(host + "/"):
                return self.base_url + url[len(host) :]
        return url

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send the request, rewritten to the base URL when it targets X."""
        if isinstance(url, bytes):
            url = url.decode()
        return super().request(method, self.rewrite(url), *args, **kwargs)


def point_client_at(client: tweepy.Client, base_url: str) -> None:
    """Make a tweepy Client (4.17 hard-codes api.twitter.com) talk to base_url."""
    # OAuth 1.0a signs the rewritten URL (auth is applied after the rewrite); the sandbox
    # accepts any signature and real X is never reached through this session.
    client.session = RedirectSession(base_url)
