"""Seguimiento periódico (third stage): a report per checkpoint, and progress."""
