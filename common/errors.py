"""Errors of the process as a whole, before any event is handled.

SettingsError    a ROUTER_* variable is missing, malformed or unsafe; the process stops
"""

from __future__ import annotations


class SettingsError(Exception):
    """A ROUTER_* setting is missing or invalid; the message names the variable to fix."""
