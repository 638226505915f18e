"""Agent console tests (a package, so that the server and browser fixtures end with it)."""
