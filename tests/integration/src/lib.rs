//! Integration tests of the real controller against a fresh in-memory API server live in
//! `tests/integration/` (`cargo test -p tenant-operator-tests`); the controller benchmark is
//! `src/bin/provision_bench.rs`. Tenants for both come from `tenant_operator::samples`.
