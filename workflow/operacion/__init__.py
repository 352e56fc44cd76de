"""What the people who run the service watch: the health of each part and the figures
/metricas exposes (``health``). The last stage: it reads the others' tables, none reads it."""
