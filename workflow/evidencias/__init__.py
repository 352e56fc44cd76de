"""Evidence files: uploads checked, counted against a quota, stored locally or in S3.

- ``models``: the ``EvidenceFile`` table and the file types a file may be.
- ``storage``: limits and checks, the local storage, storing and fetching a file. Each stage
  attaches files in its own ``evidence`` module.
- ``s3``: the S3-compatible storage (``EVIDENCE_STORAGE=s3``).
"""
