"""«Pendientes»: what waits on the Secretaría (``desk``) and its weekly digest (``digest``)."""
