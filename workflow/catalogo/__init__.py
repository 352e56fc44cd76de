"""The Guía 34 instruments (versioned catalogs) and the Secretaría's instrument rules."""
