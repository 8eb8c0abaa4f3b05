"""Application links: admin HTML pages and the admin REST resources.

Reference jira-server.md §1.1 (Generic Application link + incoming OAuth 1.0a consumer,
form params ``key``, ``consumerName``, ``description``, ``publicKey``, ``callback``),
§2.1 (external incoming OAuth 2.0 link: name, redirect URL, permission → client id of
32 hex chars + secret, 8.22+) and §5.5 (``PUT /rest/applinks/3.0/applicationlink``,
``PUT /rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer``).
WebSudo is not modelled: an administrator's session or Basic auth is enough.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, render_template, request

from bridge_sandbox.jira.auth import has_scope
from bridge_sandbox.jira.keys import InvalidPublicKey
from bridge_sandbox.jira.webutil import error_json, local, login_redirect, not_authenticated, state

bp = Blueprint("applinks", __name__)

LIST_PATH = "/plugins/servlet/applinks/listApplicationLinks"
PERMISSIONS = ("READ", "WRITE", "ADMIN", "SYSTEM_ADMIN")


def _admin_page_guard():
    if g.user is None:
        return login_redirect()
    if not state().is_admin(g.user):
        return render_template("message.html", title="Access denied",
                               message="You must be a Jira administrator to manage "
                                       "application links."), 403
    return None


def _consumers_by_link(st) -> dict:
    out: dict = {}
    for c in st.consumers.values():
        out.setdefault(c.applink_id, []).append(c)
    return out


def _clients_by_link(st) -> dict:
    return {c.applink_id: c for c in st.oauth2_clients.values()}


@bp.route(LIST_PATH, methods=["GET", "POST"])
def list_links():
    st = state()
    denied = _admin_page_guard()
    if denied is not None:
        return denied
    error = None
    if request.method == "POST":
        action = request.form.get("action", "create")
        if action == "delete":
            st.delete_applink(request.form.get("id", ""))
            return Response(status=302, headers={"Location": local(LIST_PATH)})
        kind = request.form.get("type", "generic")
        name = request.form.get("name", "").strip()
        if kind == "generic":
            url = request.form.get("url", "").strip()
            if not name or not url:
                error = "Application Name and Application URL are required."
            else:
                link = st.create_applink(name, url)
                return Response(status=302, headers={"Location": local(
                    f"/plugins/servlet/applinks/auth/conf/oauth/add-consumer-manually/{link['id']}")})
        elif kind == "oauth2" and st.profile.has_oauth2_provider:
            redirect_url = request.form.get("redirect", "").strip()
            permission = request.form.get("permission", "").upper()
            if not name or not redirect_url or permission not in PERMISSIONS:
                error = "Name, Redirect URL and Permission are required."
            else:
                try:
                    client = st.add_oauth2_client(name, redirect_url, permission)
                except ValueError as exc:
                    error = str(exc)
                else:
                    return Response(status=302, headers={"Location": local(
                        f"/plugins/servlet/applinks/oauth2/credentials/{client.applink_id}")})
        else:
            error = "Unsupported application type."
    return render_template("applinks_list.html", links=list(st.applinks.values()),
                           consumers=_consumers_by_link(st), clients=_clients_by_link(st),
                           oauth2=st.profile.has_oauth2_provider, error=error), \
        (400 if error else 200)


@bp.route("/plugins/servlet/applinks/auth/conf/oauth/add-consumer-manually/<link_id>",
          methods=["GET", "POST"])
def add_consumer_page(link_id):
    """Incoming Authentication ▸ OAuth for a Generic Application link (§1.1)."""
    st = state()
    denied = _admin_page_guard()
    if denied is not None:
        return denied
    link = st.applinks.get(link_id)
    if link is None:
        abort(404)
    error = None
    form = request.form
    if request.method == "POST":
        if not form.get("key") or not form.get("consumerName") or not form.get("publicKey"):
            error = "Consumer Key, Consumer Name and Public Key are required."
        elif form["key"] in st.consumers and st.consumers[form["key"]].applink_id != link_id:
            error = "A consumer with this key already exists."
        else:
            try:
                st.add_consumer(form["key"], form["consumerName"], form["publicKey"],
                                callback=form.get("callback") or None,
                                description=form.get("description") or None,
                                applink_id=link_id, allow_certificate=True)
            except InvalidPublicKey:
                # i18n key auth.oauth.config.serviceprovider.invalid.public.key
                error = "The public key is invalid. Enter an X.509 public key (BEGIN PUBLIC " \
                        "KEY) or certificate."
            else:
                return Response(status=302, headers={"Location": local(LIST_PATH)})
    return render_template("applink_consumer.html", link=link, error=error, form=form,
                           consumers=_consumers_by_link(st).get(link_id, [])), \
        (400 if error else 200)


@bp.route("/plugins/servlet/applinks/oauth2/credentials/<link_id>", methods=["GET"])
def oauth2_credentials(link_id):
    st = state()
    denied = _admin_page_guard()
    if denied is not None:
        return denied
    client = _clients_by_link(st).get(link_id)
    if client is None or not st.profile.has_oauth2_provider:
        abort(404)
    return render_template("applink_oauth2_credentials.html", client=client)


# -- admin REST (§5.5) -------------------------------------------------------------------------

def _rest_admin_guard():
    if g.user is None:
        return not_authenticated()
    if not state().is_admin(g.user) or not has_scope("ADMIN"):
        return error_json(403, ["Client must be authenticated as an administrator to access "
                                "this resource."])
    return None


def _link_entity(st, link: dict, version: str) -> dict:
    return {"id": link["id"], "name": link["name"], "rpcUrl": link["rpcUrl"],
            "displayUrl": link["displayUrl"], "typeId": link["typeId"],
            "isPrimary": link["isPrimary"], "isSystem": link["isSystem"],
            "link": {"href": f"{st.base_url}/rest/applinks/{version}/applicationlink/{link['id']}",
                     "rel": "self"}}


_VERSIONS = "<any('1.0','2.0','3.0','latest'):version>"


@bp.route(f"/rest/applinks/{_VERSIONS}/applicationlink", methods=["GET", "PUT", "POST"])
def rest_links(version):
    st = state()
    denied = _rest_admin_guard()
    if denied is not None:
        return denied
    if request.method == "GET":
        return jsonify({"applicationLinks": [_link_entity(st, li, version)
                                             for li in st.applinks.values()]})
    body = request.get_json(silent=True) or {}
    missing = [f for f in ("name", "rpcUrl") if not body.get(f)]
    if missing:
        return error_json(400, [f"'{m}' is required." for m in missing])
    link = st.create_applink(body["name"], body["rpcUrl"], body.get("displayUrl"),
                             body.get("typeId") or "generic")
    href = f"{st.base_url}/rest/applinks/{version}/applicationlink/{link['id']}"
    resp = jsonify({"resources-created": [{"href": href}], "resources-updated": []})
    resp.status_code = 201
    resp.headers["Location"] = href
    return resp


@bp.route(f"/rest/applinks/{_VERSIONS}/applicationlink/<link_id>", methods=["GET", "DELETE"])
def rest_link(version, link_id):
    st = state()
    denied = _rest_admin_guard()
    if denied is not None:
        return denied
    link = st.applinks.get(link_id)
    if link is None:
        return error_json(404, [f"No application link with id {link_id}"])
    if request.method == "DELETE":
        st.delete_applink(link_id)
        return "", 204
    return jsonify(_link_entity(st, link, version))


def _consumer_entity(c) -> dict:
    from bridge_sandbox.jira.keys import parse_public_key

    pem = parse_public_key(c.public_key_pem)
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return {"key": c.key, "name": c.name, "description": c.description, "publicKey": body,
            "callback": c.callback, "outgoing": False, "twoLOAllowed": c.two_lo_allowed,
            "executingTwoLOUser": None, "twoLOImpersonationAllowed": False}


@bp.route("/rest/applinks-oauth/1.0/applicationlink/<link_id>/authentication/consumer",
          methods=["GET", "PUT", "POST"])
def rest_consumer(link_id):
    """ConsumerEntity registration; SPKI parser only — certificates are UI-only (§1.1)."""
    st = state()
    denied = _rest_admin_guard()
    if denied is not None:
        return denied
    if link_id not in st.applinks:
        return error_json(404, [f"No application link with id {link_id}"])
    if request.method == "GET":
        return jsonify([_consumer_entity(c) for c in st.consumers.values()
                        if c.applink_id == link_id])
    body = request.get_json(silent=True) or {}
    if not body.get("key") or not body.get("name"):
        return error_json(400, ["applinks.invalid.consumer"])
    if body.get("outgoing"):
        return error_json(400, ["Outgoing consumers are not simulated."])
    try:
        consumer = st.add_consumer(body["key"], body["name"], body.get("publicKey") or "",
                                   callback=body.get("callback") or None,
                                   description=body.get("description"), applink_id=link_id,
                                   allow_certificate=False)
    except InvalidPublicKey:
        return error_json(400, ["applinks.invalid.consumer.publickey"])
    resp = jsonify(_consumer_entity(consumer))
    resp.status_code = 201
    return resp
