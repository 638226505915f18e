"""The only place vendor SDKs are imported; container.py wires them to core/."""
