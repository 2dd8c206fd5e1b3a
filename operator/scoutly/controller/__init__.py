"""kopf wiring: handlers, due-queue dispatcher, Job builder, status writer."""
