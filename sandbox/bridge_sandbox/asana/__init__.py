"""Asana simulator: OAuth 2.0 provider, REST API subset, App Components host and demo page.

It behaves like Asana as documented in ``docs/asana-app-components.md``; where the
reference is unsure, the choice made is noted next to the code.

In-process use (tests)::

    from bridge_sandbox.liveserver import LiveServer
    from bridge_sandbox.asana import create_asana_simulator, get_state

    server = LiveServer()
    server.app = create_asana_simulator(base_url=server.url)
    server.start()
    sim = get_state(server.app)               # SimState (as bridge_sandbox.jira.get_state)
    sim.register_app(client_id="1", client_secret="s",
                     redirect_uris=["http://127.0.0.1:8080/oauth/asana/callback"],
                     bridge_url="http://127.0.0.1:8080")
    host = sim.host_for()                     # AppComponentsHost signing with "s"
    host.widget(workspace=..., task=..., user=..., attachment=..., resource_url=...)
    sim.clock.advance(121)                    # download URLs have expired now
    sim.reset()                               # back to the seed

    resp = host.widget(...)                   # ComponentResponse, validated against the spec
    resp.outcome                              # "ok" | "auth_required" (a 401 {"error"}) | "error"
    host.auth_flows                           # every 401 that asked for the Authentication URL
    host.authenticate = lambda url: True      # run the popup; on True the call goes again
    host.rule_run_deliveries(2, ...)          # two run_action deliveries at once, one key

    sim.add_generated(parent=task, name="big.iso", size=1024**3)   # bytes made on download
    seed.content_digest(gid, size)            # their sha256, to check what a receiver got
    sim.add_linked_file(parent=task, name="Slides", url="https://...", host="gdrive")
    sim.remove_attachment(gid)                # REST answers 404 for it from now on
    sim.attach_resource(task, {"resource_name", "resource_url"})   # what Asana does after attach
    sim.view_task(task, "bob@example.com")    # a widget call per matching attachment
    draft = sim.new_rule_action(project=seed.PROJECT)              # action id + action_type
    sim.save_rule(action=draft["action"], project=..., user=..., values={...})
    sim.run_rule(draft["action"], task, deliveries=2)              # from Asana's servers

Out of process: ``asana-jira-bridge sandbox asana --bridge-url ... --client-secret ...`` and
the ``/_sim/...`` endpoints (see :mod:`bridge_sandbox.asana.control`). Responses are checked
with :func:`bridge_sandbox.asana.validator.validate`.

The factory is imported lazily so that the validator can be used without loading Flask apps.
"""


def __getattr__(name):
    if name in ("create_asana_simulator", "get_state"):
        from bridge_sandbox.asana import app

        return getattr(app, name)
    raise AttributeError(name)


__all__ = ["create_asana_simulator", "get_state"]
