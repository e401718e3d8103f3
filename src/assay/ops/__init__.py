"""Server-side operations over the store: the cron scheduler, the webhook outbox sender,
retention, metrics. Each background loop is a small class with a ``run_once()`` that tests
drive on a simulated clock; ``assay server`` runs the loops in threads."""
