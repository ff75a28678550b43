"""Pure decisions: who may do what."""
