"""One router per resource; each endpoint parses, calls a service, and shapes the answer."""
