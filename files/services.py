"""Writes for files."""
