"""Ledger rules: transactions, blocks, the hash chain and account state."""
