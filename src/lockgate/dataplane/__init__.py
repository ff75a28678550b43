"""MCP Streamable HTTP facing hosts, both protocol eras: sessions, routing, forwarding."""
