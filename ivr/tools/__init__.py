"""Phones for admins and tests: offline, over HTTP, and call scripts."""
