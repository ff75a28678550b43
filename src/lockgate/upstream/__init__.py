"""How the gateway reaches servers: one module per transport behind the ``Upstream`` protocol."""
