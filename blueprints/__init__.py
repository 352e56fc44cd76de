"""Thin Flask views, one blueprint per audience: load in scope, check, call one service,
commit once, redirect."""
