#!/usr/bin/env python3
"""The studio's manage.py (Django's usual entry point)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
