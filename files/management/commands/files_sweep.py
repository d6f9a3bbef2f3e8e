"""`manage.py files_sweep [--hours H]`: delete the files no message references that are
older than H hours (default FILE_UNUSED_MAX_AGE_H), with their bytes, now."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from files.services import files_sweep


class Command(BaseCommand):
    help = "Delete uploaded files no message references, older than --hours, with their bytes."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=None,
                            help="Age in hours (default: the setting FILE_UNUSED_MAX_AGE_H).")

    def handle(self, *args, hours=None, **options):
        hours = settings.FILE_UNUSED_MAX_AGE_H if hours is None else hours
        if hours < 0:
            raise CommandError("--hours must be 0 or more.")
        deleted = asyncio.run(files_sweep(older_than_s=hours * 3600))
        self.stdout.write(f"Deleted {deleted} unused file{'s' if deleted != 1 else ''} older than {hours:g} h.")
