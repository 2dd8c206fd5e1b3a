"""`scoutly queue`: the jobqueues audit trail as a report and a health check."""
