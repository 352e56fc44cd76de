"""The Plan de Mejoramiento Institucional (second stage): formulation, checks, versions, review."""
