"""Threadline's domain: framework-free services, models and ports."""
