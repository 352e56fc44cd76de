"""The Guía 34 instruments (versioned catalogs) and the Secretaría's instrument rules.

- ``models``: the catalog tables, a Secretaría's ``InstrumentSettings`` and ``Ruta.catalog``.
- ``files``: the catalog file format: reading, validating (with lines) and writing it back.
- ``catalog``: storing, deriving and choosing catalogs; the shipped ones; the ``Rules``.
"""
