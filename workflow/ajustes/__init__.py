"""Plan adjustments: changing an approved PMI during seguimiento (Guía 34 2026, issue 13).

``models`` (tables), ``machine`` (the adjustment's own small state machine), ``changes``
(proposing changes with a justification each), ``actions`` (send, approve, return) and
``apply`` (what an approval does to the plan).
"""
