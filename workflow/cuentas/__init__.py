"""Who uses Ruta: accounts, sessions, tokens, invitations, schools and their import."""
