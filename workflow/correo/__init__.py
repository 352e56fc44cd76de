"""Mail that leaves: delivering the outbox, retrying it, and the calendar's reminders.

- ``delivery``: claims the queued rows, hands them to a transport, records each outcome;
  backoff and the administrators' retry.
- ``reminders``: the reminder rules and the daily pass that queues them.
"""
