"""``asana-jira-bridge``: run, set up and administer the bridge from a shell.

Every command reads the same ``BRIDGE_*`` settings as the service (through
``create_app``), so what works here works in production. Errors are printed as one
sentence and a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__


def _app():
    from . import create_app
    from .config import ConfigError
    from .sealing import SealingError

    try:
        return create_app()
    except (ConfigError, SealingError) as exc:
        raise click.ClickException(str(exc)) from None


def _plugins() -> dict:
    """Commands other distributions add through the ``asana_jira_bridge.commands`` entry
    point group (the sandbox adds ``demo`` and ``sandbox``), as Flask's CLI loads
    ``flask.commands``: the bridge never imports them by name, and a production install
    without the sandbox simply lacks them."""
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group="asana_jira_bridge.commands")}


class _BridgeGroup(click.Group):
    """Database failures end as one sentence, not a traceback; plugin commands load lazily."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(_plugins()))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        entry = _plugins().get(name)
        if entry is not None:
            return entry.load()
        if name in ("demo", "sandbox"):
            raise click.UsageError(
                f"'{name}' comes with the sandbox (the simulators), which is not installed: "
                "pip install -e ./sandbox from a clone (scripts/bootstrap does)")
        return None

    def invoke(self, ctx):
        import peewee

        try:
            return super().invoke(ctx)
        except peewee.DatabaseError as exc:
            from .logs import redact

            text = str(exc).strip().splitlines()
            detail = redact(text[0]) if text else type(exc).__name__
            raise click.ClickException(
                f"the database is not usable ({detail}). Check BRIDGE_DATABASE_URL; a new "
                "database needs: asana-jira-bridge init-db") from None


@click.group(cls=_BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asana-jira-bridge")
def main():
    """Self-hosted bridge between Asana App Components and Jira Server / Data Center.

    Settings come from BRIDGE_* environment variables; see the README.
    """




@main.command("init-db")
def init_db():
    """Create the database schema or bring it up to date (safe to run again)."""
    from . import migrations
    from .db import describe

    app = _app()
    with app.app_context():
        db = app.extensions["bridge.db"]
        applied = migrations.migrate(db)
        version = migrations.current_version(db)
        db.close()
    where = describe(app.config["BRIDGE"].database_url)
    if applied:
        click.echo(f"Database {where}: applied migrations {applied}; schema version {version}.")
    else:
        click.echo(f"Database {where} is up to date (schema version {version}).")


@main.command()
@click.option("--threads", type=click.IntRange(1, 32), default=None,
              help="Copy threads (default: BRIDGE_WORKER_THREADS).")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Stop when this process is gone (serve's own worker).")
def worker(threads, parent_pid):
    """Run a queue worker: copies attachments to Jira, recovers interrupted copies.

    `serve` starts one itself; run this separately with `serve --no-worker` (another
    service, another node). Stop with SIGINT to finish running copies first, or SIGTERM
    to stop at once (interrupted copies are taken up again, never uploaded twice).
    """
    from . import logs, migrations
    from . import worker as worker_mod

    app = _app()
    settings = app.config["BRIDGE"]
    logs.configure(settings.log_level, settings.log_format)
    with app.app_context():
        db = app.extensions["bridge.db"]
        if migrations.current_version(db) != migrations.LATEST:
            db.close()
            raise click.ClickException("the database schema is not up to date; run: "
                                       "asana-jira-bridge init-db")
        db.close()
    worker_mod.run(threads or settings.worker_threads, parent_pid=parent_pid)


def _start_worker_process():
    """``serve``'s companion worker, kept running and stopped with serve
    (``bridge.supervisor``)."""
    import os
    import sys

    from .supervisor import QueueWorkerSupervisor

    command = [sys.executable, "-c", "from bridge.cli import main; main()",
               "worker", "--parent-pid", str(os.getpid())]
    return QueueWorkerSupervisor(command, lambda line: click.echo(line, err=True)).start()


@main.command()
@click.option("--bind", "-b", default="127.0.0.1:8080", show_default=True,
              help="Address and port to listen on (HOST:PORT).")
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (widget requests wait on Jira).")
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn.")
@click.option("--no-migrate", is_flag=True, help="Do not bring the schema up to date first.")
@click.option("--no-worker", is_flag=True,
              help="Do not start a queue worker (run `asana-jira-bridge worker` elsewhere).")
def serve(bind, workers, threads, dev, no_migrate, no_worker):
    """Run the bridge (gunicorn with workers; --dev for Flask's server)."""
    from . import logs, migrations

    app = _app()
    settings = app.config["BRIDGE"]
    logs.configure(settings.log_level, settings.log_format)
    if not no_migrate:
        with app.app_context():
            migrations.migrate(app.extensions["bridge.db"])
            app.extensions["bridge.db"].close()
    _announce_setup_token(app)
    pooled = app.extensions["bridge.db"]
    if hasattr(pooled, "close_all"):  # no pooled connection may cross the fork
        pooled.close_all()
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:8080", param_hint="--bind")
    click.echo(f"asana-jira-bridge {__version__} listening on http://{bind}", err=True)
    supervisor = None if no_worker else _start_worker_process()
    on_stop = supervisor.shutting_down if supervisor else (lambda: None)
    try:
        if dev:
            _stop_on_sigterm(on_stop)
            app.run(host=host.strip("[]"), port=int(port), debug=False, threaded=True)
            return
        _serve_gunicorn(bind, workers, threads, settings, on_stop)
    finally:
        if supervisor is not None:
            supervisor.stop()  # does nothing in a forked gunicorn worker


def _stop_on_sigterm(on_stop):
    """Flask's server dies on SIGTERM without unwinding; make it unwind (and stop the
    queue worker) as on Ctrl-C."""
    import signal
    import sys

    def handler(signum, frame):
        on_stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, handler)


def _serve_gunicorn(bind, workers, threads, settings, on_stop=lambda: None):
    _gunicorn_app({
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        # Asana gives up on a request after 10 s: finishing one for longer helps no one.
        "graceful_timeout": 10,
        "accesslog": None,
        "proc_name": "asana-jira-bridge",
        # gunicorn's control socket defaults to one path per user; keep ours with this
        # bridge's other state so two bridges on one machine do not collide.
        "control_socket": str(settings.instance_path / "gunicorn.ctl"),
    }, on_stop).run()


def _announce_setup_token(app) -> None:
    """Print the one-time setup token while no admin exists (ARCHITECTURE §8)."""
    from .migrations import LATEST, current_version
    from .services.admins import ensure_setup_token

    settings = app.config["BRIDGE"]
    with app.app_context():
        db = app.extensions["bridge.db"]
        if current_version(db) != LATEST:
            db.close()
            return
        token = ensure_setup_token(settings.instance_path, settings.admins)
        db.close()
    if token:
        click.echo(
            "\nNo administrator yet. The first admin signs in with Asana at /jira/connect or "
            f"/setup and enters this one-time setup token:\n\n    {token}\n\n(It is also "
            f"in {settings.instance_path / 'setup_token'}.)\n", err=True)


def _gunicorn_app(options: dict, on_stop=lambda: None):
    """gunicorn with the bridge built by ``create_app`` in each worker (after fork).

    ``on_stop`` is called from the arbiter's signal handler on SIGTERM, SIGINT and SIGQUIT,
    so the queue worker stops together with the web workers, not after them.
    """
    import signal
    import sys

    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class BridgeArbiter(Arbiter):
        def signal(self, sig, frame):
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                on_stop()
            super().signal(sig, frame)

    class BridgeApplication(BaseApplication):
        def run(self):  # BaseApplication.run with our arbiter
            try:
                BridgeArbiter(self).run()
            except RuntimeError as e:
                print(f"\nError: {e}\n", file=sys.stderr)
                sys.exit(1)

        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings:  # e.g. control_socket exists from gunicorn 25.1
                    self.cfg.set(key, value)

        def load(self):
            import logging

            from . import create_app, logs

            app = create_app()
            settings = app.config["BRIDGE"]
            logs.configure(settings.log_level, settings.log_format)
            for name in ("gunicorn.error", "gunicorn.access"):
                for handler in logging.getLogger(name).handlers:
                    handler.addFilter(logs.RedactingFilter())
            return app

    return BridgeApplication()


@main.command("rotate-key")
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the new key from this file (mode 0600). Without it a new key is "
                   "generated.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def rotate_key(new_key_file, yes):
    """Re-seal every stored secret under a new key, in one transaction.

    When the current key lives in the instance folder (the default), the new key replaces
    it there. When it comes from BRIDGE_SECRET_KEY or BRIDGE_SECRET_KEY_FILE, the new key
    is written to --new-key-file (or instance/secret_key.new) and you must point the
    setting at it before restarting.
    """
    from . import rekey, sealing

    app = _app()
    settings = app.config["BRIDGE"]
    old = app.extensions["bridge.sealer"]
    instance_key = settings.instance_path / "secret_key"
    from_instance = settings.sources["SECRET_KEY"] == "default"

    if new_key_file and new_key_file.exists():
        new_secret = new_key_file.read_text().strip()
        target = new_key_file
    else:
        new_secret = sealing.generate_secret()
        target = new_key_file or settings.instance_path / "secret_key.new"
        sealing.write_secret_file(target, new_secret)
    try:
        new = sealing.Sealer(new_secret)
    except ValueError as exc:
        raise click.ClickException(f"{target}: {exc}") from None
    if new.key_id == old.key_id:
        raise click.ClickException("the new key is the current key")
    if not yes:
        click.confirm(f"Re-seal every secret from key {old.key_id} to key {new.key_id}? Stop "
                      "every bridge node first: a node still running would keep writing with "
                      "the old key.", abort=True)
    with app.app_context():
        db = app.extensions["bridge.db"]
        try:
            moved = rekey.rotate(db, old, new)
        except sealing.SealingError as exc:
            raise click.ClickException(f"nothing changed: {exc}") from None
        finally:
            db.close()
    if from_instance:
        target.replace(instance_key)
        where = f"{instance_key} (replaced)"
    else:
        where = f"{target}: set BRIDGE_SECRET_KEY_FILE to it (or its content as " \
                "BRIDGE_SECRET_KEY) and restart every node"
    click.echo(f"Re-sealed {moved} secrets under key {new.key_id}. New key: {where}.")


@main.command()
@click.option("--instance", "instance_ids", type=click.IntRange(1, 2**31 - 1), multiple=True,
              help="Check only this Jira instance id (repeatable). Default: all.")
def doctor(instance_ids):
    """Diagnose the set-up: Jira reachability, TLS, version and auth path, clock skew, a
    signed test call, CORS for Asana, and whether rule actions can reach the bridge.

    Exits non-zero when any check fails.
    """
    from urllib.parse import urlsplit

    from .models import JiraInstance
    from .services import doctor as checks

    app = _app()
    settings = app.config["BRIDGE"]
    public_url = settings.public_url
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    failed = False

    def show(finding):
        nonlocal failed
        failed |= finding.status == "fail"
        click.echo(f"  [{marks[finding.status]}] {finding.check}: {finding.message}")
        for line in finding.details:
            click.echo(f"         {line}")

    with app.app_context():
        query = JiraInstance.select().order_by(JiraInstance.id)
        if instance_ids:
            query = query.where(JiraInstance.id.in_(instance_ids))
        found = list(query)
        if instance_ids and len(found) != len(set(instance_ids)):
            raise click.ClickException("no such Jira instance (see: asana-jira-bridge jira "
                                       "list)")
        click.echo("Bridge")
        parts = urlsplit(settings.asana_base_url)
        show(checks.check_cors(public_url, f"{parts.scheme}://{parts.netloc}",
                               timeout=settings.http_timeout))
        show(checks.check_rule_actions(public_url))
        for instance in found:
            click.echo(f"Jira instance {instance.id}: {instance.base_url} ({instance.auth_mode})")
            for finding in checks.check_instance(instance, public_url,
                                                 timeout=settings.http_timeout):
                show(finding)
        app.extensions["bridge.db"].close()
    if not found:
        click.echo("No Jira instances registered yet.")
    if failed:
        raise SystemExit(1)


@main.group()
def admins():
    """Grant, list and revoke administration of the bridge (besides BRIDGE_ADMINS)."""


@admins.command("add")
@click.argument("email")
def admins_add(email):
    """Let the Asana user with EMAIL administer the bridge."""
    from .services import admins as service

    app = _app()
    with app.app_context():
        service.grant(email, by="cli")
        app.extensions["bridge.db"].close()
    click.echo(f"{email.lower()} administers the bridge.")


@admins.command("list")
def admins_list():
    """List the admins: from BRIDGE_ADMINS and granted ones."""
    from .models import BridgeAdmin

    app = _app()
    with app.app_context():
        granted = list(BridgeAdmin.select().order_by(BridgeAdmin.email))
        app.extensions["bridge.db"].close()
    for email in app.config["BRIDGE"].admins:
        click.echo(f"{email}  (BRIDGE_ADMINS)")
    for admin in granted:
        click.echo(f"{admin.email}  (granted by {admin.granted_by or '?'})")


@admins.command("remove")
@click.argument("email")
def admins_remove(email):
    """Revoke a granted admin (those in BRIDGE_ADMINS are changed in the environment)."""
    from .services import admins as service

    app = _app()
    with app.app_context():
        removed = service.revoke(email, by="cli")
        app.extensions["bridge.db"].close()
    if not removed:
        raise click.ClickException(f"{email} is not a granted admin")
    click.echo(f"{email.lower()} no longer administers the bridge.")


@admins.command("setup-token")
def admins_setup_token():
    """Mint a fresh one-time setup token for the first admin; earlier tokens stop working."""
    from .services import admins as service

    app = _app()
    settings = app.config["BRIDGE"]
    with app.app_context():
        try:
            if service.admins_exist(settings.admins):
                raise click.ClickException(
                    "the bridge already has administrators; grant another with: "
                    "asana-jira-bridge admins add EMAIL")
            token = service.mint_setup_token(settings.instance_path)
        finally:
            app.extensions["bridge.db"].close()
    click.echo(f"New setup token (earlier ones no longer work):\n\n    {token}\n\n"
               f"(also in {settings.instance_path / 'setup_token'})")


@main.group()
def jira():
    """Add, list and remove the Jira instances the bridge talks to."""


@jira.command("add")
@click.argument("base_url")
@click.option("--workspace", required=True, help="Asana workspace gid the instance serves.")
@click.option("--auth", "auth_mode", type=click.Choice(["oauth1", "oauth2"]), default=None,
              help="oauth1: application link (any version); oauth2: incoming link (8.22+). "
                   "Default: what the Jira's version recommends.")
@click.option("--client-id", help="OAuth 2.0 client id (with --auth oauth2).")
@click.option("--client-secret-file", type=click.Path(exists=True, dir_okay=False),
              help="File holding the OAuth 2.0 client secret (else you are prompted).")
def jira_add(base_url, workspace, auth_mode, client_id, client_secret_file):
    """Register the Jira Server / Data Center at BASE_URL for an Asana workspace.

    The bridge first asks Jira for its version (so Jira must be reachable). For oauth1 it
    makes a fresh RSA key pair and prints what to enter in Jira's Application Link
    (Incoming Authentication); for oauth2 it stores the incoming link's id and secret.
    """
    from .errors import BridgeError
    from .services import instances

    app = _app()
    settings = app.config["BRIDGE"]
    with app.app_context():
        db = app.extensions["bridge.db"]
        try:
            found = instances.probe(base_url, timeout=settings.http_timeout)
            mode = auth_mode or found.recommended_auth
            if mode == "oauth2":
                instances.require_oauth2(found)
                client_secret = _read_client_secret(client_id, client_secret_file)
                instance = instances.save_oauth2_instance(workspace, found, client_id,
                                                          client_secret, actor="cli")
            else:
                from .models import AsanaWorkspace, JiraInstance

                ws = AsanaWorkspace.get_or_none(AsanaWorkspace.gid == workspace)
                if ws and JiraInstance.get_or_none(workspace=ws, base_url=found.base_url):
                    raise click.ClickException(f"{found.base_url} is already registered for "
                                               f"workspace {workspace}")
                instance = instances.create_oauth1_instance(workspace, found, actor="cli")
        except BridgeError as exc:
            raise click.ClickException(exc.public_message) from None
        finally:
            db.close()
    click.echo(f"Added Jira instance {instance.id}: {instance.base_url} (Jira {found.version}, "
               f"{instance.auth_mode}) for workspace {workspace}.")
    if instance.auth_mode == "oauth1":
        values = instances.applink_values(instance,
                                          settings.public_url or "<BRIDGE_PUBLIC_URL>")
        click.echo(
            "\nIn Jira: Administration > Applications > Application links > create a link to "
            f"{values['application_url']} (Generic Application), then Incoming "
            "Authentication:\n"
            f"  Consumer Key:  {values['consumer_key']}\n"
            f"  Consumer Name: {values['consumer_name']}\n"
            f"  Callback URL:  {values['callback_url']}\n"
            f"  Public Key:\n{values['public_key']}")


def _read_client_secret(client_id: str | None, path: str | None) -> str:
    if not client_id:
        raise click.UsageError("--client-id is required for OAuth 2.0")
    secret = Path(path).read_text().strip() if path else click.prompt(
        "OAuth 2.0 client secret", hide_input=True)
    if not secret:
        raise click.UsageError("the client secret is empty")
    return secret


@jira.command("list")
def jira_list():
    """List the registered Jira instances."""
    from .models import AsanaWorkspace, JiraInstance

    app = _app()
    with app.app_context():
        rows = list(JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
                    .order_by(JiraInstance.id))
        app.extensions["bridge.db"].close()
    if not rows:
        click.echo("No Jira instances. Add one with: asana-jira-bridge jira add URL "
                   "--workspace GID")
        return
    click.echo(f"{'ID':>4}  {'WORKSPACE':<18} {'AUTH':<7} {'VERSION':<9} BASE URL")
    for row in rows:
        click.echo(f"{row.id:>4}  {row.workspace.gid:<18} {row.auth_mode:<7} "
                   f"{row.version or '-':<9} {row.base_url}")


@jira.command("remove")
@click.argument("instance_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def jira_remove(instance_id, yes):
    """Remove Jira instance INSTANCE_ID with its users' authorizations and issue links."""
    from .models import IssueLink, JiraCredential, JiraInstance
    from .services import instances

    app = _app()
    with app.app_context():
        db = app.extensions["bridge.db"]
        instance = JiraInstance.get_or_none(id=instance_id)
        if instance is None:
            raise click.ClickException(f"no Jira instance with id {instance_id} "
                                       "(see: asana-jira-bridge jira list)")
        links = IssueLink.select().where(IssueLink.instance == instance).count()
        creds = JiraCredential.select().where(JiraCredential.instance == instance).count()
        if not yes:
            click.confirm(f"Remove {instance.base_url} with {creds} user authorizations and "
                          f"{links} issue links?", abort=True)
        instances.remove(instance, actor="cli")
        db.close()
    click.echo(f"Removed Jira instance {instance_id} ({instance.base_url}).")
