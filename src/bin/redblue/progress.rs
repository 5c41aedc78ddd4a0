//! A progress bar on a terminal (stderr), silence when piped.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Wraps an optional indicatif bar.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar labelled `what`, shown only if stderr is a terminal.
    pub fn new(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let pb = ProgressBar::new(1);
        let style = ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        pb.set_style(style);
        pb.set_prefix(what.to_string());
        Bar(Some(pb))
    }

    /// Sets position, length and message.
    pub fn update(&mut self, pos: usize, len: usize, msg: &str) {
        if let Some(pb) = &self.0 {
            pb.set_length(len as u64);
            pb.set_position(pos as u64);
            if !msg.is_empty() {
                pb.set_message(msg.to_string());
            }
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}
