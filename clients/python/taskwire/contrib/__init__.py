"""Integrations with frameworks (Django)."""
