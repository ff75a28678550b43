"""Webhooks Lockgate sends: newly minted user tokens delivered to their host's webhook, signed as
Standard Webhooks specify."""
