"""Governance: signed archive records, the lifecycle with a human gate, keys, and memory namespaces.

Modules (one concept each): `record` (ArchiveRecord, goal thresholds), `lifecycle` (the state machine),
`actors` (who acts; the human gate and agent sessions), `signing` (Ed25519 envelopes over RFC 8785 JSON),
`keys` (witness key and the signed trust.json), `approver` (the passphrase-protected human approver key and
its signed decisions), `userconfig` (the user config dir outside every workspace), `chain` (hash-chained
lifecycle events), `anchor` (the signed chain-head checkpoint), `evidence` (sha256 of what a record shows),
`approval` (the agent-facing request/status surface), `archive` (the operations, fail closed and
crash-safe), `memory` (namespaces), `cli` (commands). SECURITY.md at the repository root is the threat
model. Nothing here imports the engine or the experiment layer.
"""
