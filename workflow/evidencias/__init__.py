"""Evidence files: uploads checked, counted against a quota, stored locally or in S3.

- ``storage``: the ``EvidenceFile`` table, limits and checks, the local storage, storing and
  fetching a file. Each stage attaches files in its own ``evidence`` module.
- ``s3``: the S3-compatible storage (``EVIDENCE_STORAGE=s3``).
"""
