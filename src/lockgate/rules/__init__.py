"""Gateway rules: pure decisions over tool traffic (regex engine first)."""
