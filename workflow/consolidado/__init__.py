"""The Secretaría's consolidated view of every school, and its exports."""
