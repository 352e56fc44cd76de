"""Background jobs: thin functions that take ``now=`` explicitly and delegate to ``workflow``.

They run in the scheduler process or from the ``ruta jobs`` commands, never in web workers.
No module here creates an app at import time: callers pass theirs.
"""
