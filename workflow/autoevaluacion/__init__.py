"""The autoevaluación institucional (first stage): identity, equipo de gestión, valoraciones,
perfil."""
