"""The Secretaría's consolidated view of every school, and its exports.

- ``consolidate``: where every school's Ruta is, the municipal perfil, metas by área.
- ``exports``: the Excel and CSV sheets, produced lazily in batches.
- ``models``: the table of background exports (``ExportJob``) and its status enum.
- ``export_jobs``: large exports prepared in the background by the scheduler.
"""
