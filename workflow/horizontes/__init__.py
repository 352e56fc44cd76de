"""A Secretaría's horizons: the calendar of each horizon."""
