"""Who uses Ruta: accounts, sessions, tokens, invitations, schools and their import.

- ``accounts``: passwords (Argon2id), server-side sessions, login throttling, users.
- ``models``: the table of single-use links (``AccountToken``) and their purposes; the
  two-step verification tables (``MfaEnrolment``, ``MfaRecoveryCode``).
- ``mfa``: two-step verification (TOTP and recovery codes).
- ``tokens``: single-use links (invitation, password reset) stored as hashes.
- ``invitations``: the e-mails that carry those links.
- ``schools``: registering and editing schools (opening their Ruta).
- ``school_import``: the all-or-nothing CSV import of schools with their rectors.
"""
