"""Asana as one Asana user: a client with that user's token, refreshed when it expires.

The token comes from the Authentication URL popup (the user signed in with Asana). Asana
access tokens last an hour; refresh tokens are long-lived and do not rotate
(asana-app-components.md §7.2), so two workers refreshing at once both succeed and no
lease is needed (unlike Jira's OAuth 2.0, see ``credentials``).
"""

from __future__ import annotations

import datetime as dt

from ..asana import oauth
from ..asana.client import AsanaClient
from ..asana.errors import AsanaNeedsReconnect
from ..models import AsanaUser
from ..timeutil import utcnow
from .user_auth import ASANA_CALLBACK_PATH

REFRESH_AHEAD = dt.timedelta(minutes=2)


def client_for(user: AsanaUser, settings, cls: type[AsanaClient] = AsanaClient) -> AsanaClient:
    """An Asana client for ``user``; ``AsanaNeedsReconnect`` if the bridge holds no token."""
    if user is None or not user.access_token:
        raise AsanaNeedsReconnect()
    token = user.access_token
    if user.token_expires_at and user.token_expires_at - REFRESH_AHEAD <= utcnow():
        if not user.refresh_token or not settings.asana_client_id:
            raise AsanaNeedsReconnect()
        tokens = oauth.refresh(settings.asana_base_url, settings.asana_client_id,
                               settings.asana_client_secret, user.refresh_token,
                               (settings.public_url or "") + ASANA_CALLBACK_PATH,
                               timeout=settings.http_timeout)
        (AsanaUser.update(access_token=tokens.access_token,
                          refresh_token=tokens.refresh_token,
                          token_expires_at=tokens.expires_at, updated_at=utcnow())
         .where(AsanaUser.id == user.id).execute())
        token = tokens.access_token
    return cls(settings.asana_base_url, token, timeout=settings.http_timeout)
