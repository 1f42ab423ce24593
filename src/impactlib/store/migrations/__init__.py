"""Alembic migrations of the store's schema (``impactlib db upgrade``).

``versions/`` holds one frozen script per schema change; ``0001_baseline`` is every table of
``store/schema.py`` as it stood when migrations began. A later change to ``schema.CREATE``
needs a new script here too: ``tests/store/test_migrate.py`` fails while the two disagree.
A script may also clean records without changing the schema (``0003_mask_store_passwords``).
"""
