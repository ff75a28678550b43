"""The control plane: one operation table served as a JSON API, as MCP tools and as CLI commands."""
