//! Storage migrations: each runs once, in the first block executed by the spec version it
//! is written for (the executive asks the system pallet whether the version changed; see
//! `pallet_system::Pallet::note_runtime_upgrade`). A migration must be bounded: it runs
//! inside one block.
use menara_support::{storage_item, StorageValue};

storage_item!(UpgradeTestRunsPrefix: "UpgradeTest" / "MigrationRuns");
/// How many times the `upgrade-test` runtime's migration ran (exactly once per chain that
/// upgraded to it; tests read it).
type UpgradeTestRuns = StorageValue<UpgradeTestRunsPrefix, u32>;

/// The storage key of the `upgrade-test` migration's run counter (a SCALE `u32`).
pub fn upgrade_test_runs_key() -> alloc::vec::Vec<u8> {
    UpgradeTestRuns::key()
}

/// Query name (for `Query_call`) of `() -> u32`: the `upgrade-test` migration's runs. Only
/// the `upgrade-test` runtime answers it: what a test sees the new code add.
pub const UPGRADE_TEST_QUERY: &[u8] = b"upgradeTest_migrationRuns";

/// How many times the `upgrade-test` migration ran.
#[cfg(feature = "upgrade-test")]
pub fn upgrade_test_runs() -> u32 {
    UpgradeTestRuns::get_or_default()
}

/// A migration: the spec version it upgrades storage to, and what it does.
struct Migration {
    to: u32,
    run: fn(),
}

/// Every migration this runtime knows, oldest first.
fn migrations() -> alloc::vec::Vec<Migration> {
    #[allow(unused_mut)]
    let mut all = alloc::vec::Vec::new();
    #[cfg(feature = "upgrade-test")]
    all.push(Migration {
        to: crate::SPEC_VERSION,
        run: || UpgradeTestRuns::mutate(|n| *n = n.saturating_add(1)),
    });
    all
}

/// Runs the migrations written for versions after `from`, up to the running one.
pub fn run(from: u32) {
    for migration in migrations() {
        if from < migration.to && migration.to <= crate::SPEC_VERSION {
            (migration.run)();
        }
    }
}
