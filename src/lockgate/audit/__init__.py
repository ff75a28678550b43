"""The one writer of audit entries."""
