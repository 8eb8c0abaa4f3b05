"""Flask blueprints: the only place (with the factory and simulators) that imports Flask."""
