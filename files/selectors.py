"""Reads for files; nothing here writes."""
