"""The phone line's domain: flows, the call engine, routing and caller memory. Never imports Flask."""
