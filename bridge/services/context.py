"""Who acts, where, with which settings: the one value every service takes.

Built once per App Components request by the signed blueprint (``web.app_components``),
from the verified call, and once per worker for background work (``bridge.tasks``). It
carries the settings and the app's memory (``ctx.cache``, ``services.process_cache``), so
no service reads a module global or Flask's config, and it makes the clients:
``jira_for(instance)`` acts as the calling user on a Jira instance (``jira_as_user``
keeps the credential rules), ``asana()`` as an Asana user (``asana_users``). The acting
user's row, and their credential on each instance, are read once per context, however
many services ask for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..asana.client import AsanaClient
from ..asana.signing import AsanaCall
from ..jira.client import JiraClient
from ..models import AsanaUser, JiraCredential, JiraInstance
from . import asana_users, instances, jira_as_user
from .process_cache import ProcessCache

_UNREAD = object()


@dataclass
class Context:
    """``settings``: the bridge's ``config.Config``. ``cache``: the app's
    ``ProcessCache`` (one per app, shared by all its contexts). ``user``, ``workspace``, ``task``:
    Asana gids of the acting user, the workspace and the task (``None`` in background
    work, where the row being worked on says who acts). ``call``: the verified App
    Components message, for the views; services take what they need from it as
    arguments."""

    settings: Any
    cache: ProcessCache = field(repr=False)
    user: str | None = None
    workspace: str | None = None
    task: str | None = None
    call: AsanaCall | None = field(default=None, repr=False)
    _asana_user: Any = field(default=_UNREAD, repr=False)
    _credentials: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of_call(cls, settings, cache: ProcessCache, call: AsanaCall) -> Context:
        return cls(settings=settings, cache=cache, user=call.user, workspace=call.workspace,
                   task=call.task, call=call)

    @classmethod
    def background(cls, settings, cache: ProcessCache) -> Context:
        return cls(settings=settings, cache=cache)

    @classmethod
    def of_user(cls, settings, cache: ProcessCache, user: AsanaUser) -> Context:
        """A page's context for an Asana user signed in there (not through Asana's call)."""
        return cls(settings=settings, cache=cache, user=user.gid, _asana_user=user)

    # -- who --------------------------------------------------------------------------

    def asana_user(self) -> AsanaUser | None:
        """The acting user's row (``None``: never signed in), read once."""
        if self._asana_user is _UNREAD:
            self._asana_user = (AsanaUser.get_or_none(AsanaUser.gid == str(self.user))
                                if self.user else None)
        return self._asana_user

    def credential(self, instance: JiraInstance) -> JiraCredential:
        """The acting user's usable credential on ``instance``, read once;
        ``JiraNotConnected`` (401) when there is none."""
        cred = self._credentials.get(instance.id)
        if cred is None:
            cred = jira_as_user.credential_for(self.asana_user() or self.user or "", instance)
            cred.instance = instance  # loaded already: spare a query
            self._credentials[instance.id] = cred
        return cred

    def instances(self) -> list[JiraInstance]:
        """The Jira instances connected to the workspace, oldest first."""
        return instances.for_workspace(self.workspace) if self.workspace else []

    # -- clients ----------------------------------------------------------------------

    def jira_for(self, instance: JiraInstance, *, user: AsanaUser | str | None = None,
                 timeout: float | None = None) -> JiraClient:
        """Jira as ``user`` (default: the acting user) on ``instance``;
        ``JiraNotConnected`` (401) when that user must authorize first. ``timeout``
        overrides the setting for background work only (a large upload)."""
        if user is None:
            return self.jira_with(self.credential(instance), timeout=timeout)
        return jira_as_user.jira_for(user, instance, self.settings, timeout=timeout)

    def jira_with(self, credential: JiraCredential, *,
                  timeout: float | None = None) -> JiraClient:
        """Jira with one given credential (the widget tries its linkers' in turn)."""
        return jira_as_user.client_for(credential, self.settings, timeout=timeout)

    def asana(self, user: AsanaUser | None = None, *,
              cls: type[AsanaClient] = AsanaClient) -> AsanaClient:
        """Asana as ``user`` (default: the acting user); ``AsanaNeedsReconnect`` when the
        bridge holds no usable token for them. ``cls``: a client with more calls."""
        return asana_users.client_for(user if user is not None else self.asana_user(),
                                      self.settings, cls=cls)

    # -- where ------------------------------------------------------------------------

    def public_url(self) -> str:
        """``BRIDGE_PUBLIC_URL`` without its trailing slash; a 503 sentence if unset."""
        return jira_as_user.public_url(self.settings)
