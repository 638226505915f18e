"""Customers, accounts and their identifiers across channels."""
