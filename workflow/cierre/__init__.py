"""The end of a Ruta: the final evaluation, closing, and the next horizon's Ruta."""
