"""What can go wrong talking to Asana, with one sentence each (asana-app-components.md §7-8).

Asana errors come as ``{"errors": [{"message": ...}]}``; OAuth errors as
``{"error": ..., "error_description": ...}``. Neither is echoed to users verbatim.
"""

from __future__ import annotations

from ..errors import BridgeError, retry_after_seconds


class AsanaError(BridgeError):
    status = 502
    code = "asana_error"
    public_message = "Asana could not complete the request."

    def __init__(self, public_message=None, *, http_status: int | None = None, **kwargs):
        super().__init__(public_message, **kwargs)
        self.http_status = http_status


class AsanaAuthDenied(AsanaError):
    status = 403
    code = "asana_denied"
    public_message = "Access to Asana was not allowed."


class AsanaNeedsReconnect(AsanaError):
    status = 401
    code = "asana_reconnect"
    public_message = "Your Asana authorization is no longer valid. Sign in to Asana again."


class AsanaMisconfigured(AsanaError):
    code = "asana_misconfigured"
    public_message = ("Asana rejected the bridge's app credentials. Check "
                      "BRIDGE_ASANA_CLIENT_ID and BRIDGE_ASANA_CLIENT_SECRET.")


class AsanaRateLimited(AsanaError):
    status = 429
    code = "asana_rate_limited"
    public_message = "Asana is limiting requests right now. Try again in a moment."


class AsanaUnavailable(AsanaError):
    status = 503
    code = "asana_unavailable"
    public_message = "Asana cannot be reached right now. Try again later."


class AsanaNotFound(AsanaError):
    status = 404
    code = "asana_not_found"
    public_message = "Asana has no such object, or it is not visible to you."


class AsanaDownloadExpired(AsanaUnavailable):
    code = "asana_download_expired"
    public_message = "Asana's download link expired before the file was read."


class AsanaDownloadRefused(AsanaError):
    code = "asana_download_refused"
    public_message = ("Asana gave a download link to a private or loopback address; the "
                      "bridge does not fetch it.")


def error_from_response(response) -> AsanaError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    oauth_error = body.get("error") if isinstance(body, dict) else None
    if oauth_error in ("invalid_client", "unauthorized_client"):
        return AsanaMisconfigured(http_status=status)
    if oauth_error == "invalid_grant" or status == 401:
        return AsanaNeedsReconnect(http_status=status)
    if status == 403:
        return AsanaAuthDenied(http_status=status)
    if status == 404:
        return AsanaNotFound(http_status=status)
    retry = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429:
        return AsanaRateLimited(retry_after=retry, http_status=status)
    if status >= 500:  # a 503 may say when to come back
        return AsanaUnavailable(http_status=status, retry_after=retry if status == 503 else None)
    return AsanaError(http_status=status)


# -- requests from Asana (App Components) that the bridge refuses (reference §4.1-4.2) ----


class AsanaRequestRejected(AsanaError):
    """An App Components request the bridge will not act on: 400, nothing changes."""

    status = 400
    code = "asana_request_rejected"
    public_message = "The request from Asana could not be read. Reload the task and try again."


class AsanaSignatureInvalid(AsanaRequestRejected):
    code = "asana_signature_invalid"
    public_message = ("The request's Asana signature does not match: it was not sent by Asana "
                      "for this app, or it was changed on the way.")


class AsanaRequestExpired(AsanaRequestRejected):
    code = "asana_request_expired"
    public_message = "The request from Asana has expired. Reload the task and try again."


class AsanaRequestMalformed(AsanaRequestRejected):
    code = "asana_request_malformed"
