"""Asana simulator: OAuth 2.0 provider, REST API subset, App Components host and demo page.

It behaves like Asana as documented in ``shared/reference/asana-app-components.md``; where the
reference is unsure, the choice made is noted next to the code.

In-process use (tests)::

    from bridge.sandbox.liveserver import LiveServer
    from bridge.sandbox.asana import create_asana_simulator

    server = LiveServer()
    server.app = create_asana_simulator(base_url=server.url)
    server.start()
    sim = server.app.sim                      # SimState
    sim.register_app(client_id="1", client_secret="s",
                     redirect_uris=["http://127.0.0.1:8080/oauth/asana/callback"],
                     bridge_url="http://127.0.0.1:8080")
    host = sim.host_for()                     # AppComponentsHost signing with "s"
    host.widget(workspace=..., task=..., user=..., attachment=..., resource_url=...)
    sim.clock.advance(121)                    # download URLs have expired now
    sim.reset()                               # back to the seed

Out of process: ``asana-jira-bridge sandbox asana --bridge-url ... --client-secret ...`` and
the ``/_sim/...`` endpoints (see :mod:`bridge.sandbox.asana.control`). Responses are checked
with :func:`bridge.sandbox.asana.validator.validate`.

The factory is imported lazily so that the validator can be used without loading Flask apps.
"""


def __getattr__(name):
    if name == "create_asana_simulator":
        from bridge.sandbox.asana.app import create_asana_simulator

        return create_asana_simulator
    raise AttributeError(name)


__all__ = ["create_asana_simulator"]
