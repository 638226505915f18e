"""Routing: teams, rules (core.routing.config, core.routing.rules), triage and corrections."""
