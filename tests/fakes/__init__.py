"""Real local HTTP servers that speak the wire formats of the services briefbot talks to."""
