"""Webhooks: the address allow-list, Standard Webhooks signing, and sending one delivery."""
