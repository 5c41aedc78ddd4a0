//! The one rule for every flag of every command: a flag the user typed that has no effect in
//! the combination given is an error naming the flag, never a silent no-op.
//!
//! Clap tells which flags came from the command line ([`ValueSource::CommandLine`]), so a
//! default value never trips a rule.

use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

/// The flags the user typed on one subcommand.
pub struct Given<'a> {
    matches: &'a ArgMatches,
}

/// The flag as typed: `no_random_start` -> `--no-random-start`.
pub fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

impl<'a> Given<'a> {
    /// Wraps a subcommand's matches.
    pub fn new(matches: &'a ArgMatches) -> Self {
        Given { matches }
    }

    /// Whether the user typed `id` (an argument id: the field name, e.g. `no_clip`).
    pub fn has(&self, id: &str) -> bool {
        self.matches.value_source(id) == Some(ValueSource::CommandLine)
    }

    /// Refuses the first of `ids` the user typed: "`--steps` has no effect `why`".
    pub fn refuse(&self, ids: &[&str], why: &str) -> Result<()> {
        if let Some(id) = ids.iter().find(|id| self.has(id)) {
            bail!("{} has no effect {why}", flag(id));
        }
        Ok(())
    }
}

/// The data-source flags that an explicit `--data-dir` makes meaningless.
pub const DATA_SOURCES: [&str; 4] = ["mirror", "no_download", "no_npm", "cache_dir"];

/// The attack-shape flags (steps, randomness, loss), meaningful only for PGD.
pub const PGD_ONLY: [&str; 7] = ["steps", "rel_step", "restarts", "no_random_start", "seed", "loss", "queries"];

/// Every attack flag (shape, randomness and the clip mode and norm).
pub const ATTACK_ALL: [&str; 12] = [
    "steps",
    "rel_step",
    "restarts",
    "no_random_start",
    "seed",
    "loss",
    "queries",
    "gradient",
    "no_clip",
    "clip",
    "norm",
    "target",
];

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every id a rule names is an argument of the commands it is applied to (clap would
    /// panic on an unknown id in debug builds and silently answer "absent" in release builds).
    #[test]
    fn rule_ids_are_real_arguments() {
        let cli = crate::args::Cli::command();
        let ids = |sub: &str| -> Vec<String> {
            let c = cli.find_subcommand(sub).unwrap_or_else(|| panic!("no subcommand {sub}"));
            c.get_arguments().map(|a| a.get_id().to_string()).collect()
        };
        for sub in ["attack", "eval"] {
            for id in ATTACK_ALL.iter().chain(&PGD_ONLY).chain(&DATA_SOURCES) {
                assert!(ids(sub).iter().any(|i| i == id), "{sub} has no argument {id}");
            }
        }
        for sub in ["train", "reproduce", "bench"] {
            for id in &DATA_SOURCES {
                assert!(ids(sub).iter().any(|i| i == id), "{sub} has no argument {id}");
            }
        }
        for (sub, id) in crate::EXTRA_RULE_IDS {
            assert!(ids(sub).iter().any(|i| i == id), "{sub} has no argument {id}");
        }
    }

    #[test]
    fn flag_names_are_as_typed() {
        assert_eq!(flag("no_random_start"), "--no-random-start");
        assert_eq!(flag("eps"), "--eps");
    }
}
