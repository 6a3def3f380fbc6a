"""Plain functions behind each chapter's interactive figures and experiments (one module per
chapter topic)."""
