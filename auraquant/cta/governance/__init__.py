"""Governance: signed archive records, the lifecycle with a human gate, keys, and memory namespaces.

Modules (one concept each): `record` (ArchiveRecord, goal thresholds), `lifecycle` (the state machine),
`actors` (who acts; the human gate and agent sessions), `signing` (Ed25519 envelopes over RFC 8785 JSON),
`keys` (witness key and trust.json), `chain` (hash-chained lifecycle events), `approval` (the agent-facing
request/status surface), `archive` (the operations, fail closed and crash-safe), `memory` (namespaces),
`cli` (commands). Nothing here imports the engine or the experiment layer.
"""
