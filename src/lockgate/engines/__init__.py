"""Rule engines: how the gateway asks an outside service about a message (docs/rule-engines.md)."""
