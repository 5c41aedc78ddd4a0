//! A progress bar on a terminal (stderr), silence when piped.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Wraps an optional indicatif bar.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar labelled `what`, shown only if stderr is a terminal.
    pub fn new(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let pb = ProgressBar::new(1);
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
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

/// One bar per model on a terminal (thread-safe); plain lines on stderr otherwise.
pub struct Multi {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Multi {
    /// Bars only if stderr is a terminal.
    pub fn new() -> Self {
        let multi = std::io::stderr().is_terminal().then(MultiProgress::new);
        Multi { multi, bars: Mutex::new(HashMap::new()) }
    }

    /// Prints a line above the bars (or plainly to stderr).
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Starts a bar of `len` epochs for `name`.
    pub fn start(&self, name: &str, len: usize) {
        if let Some(m) = &self.multi {
            let pb = m.add(ProgressBar::new(len as u64));
            let style = ProgressStyle::with_template("{prefix:>32} [{bar:25}] epoch {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            pb.set_style(style);
            pb.set_prefix(name.to_string());
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert(name.to_string(), pb);
            }
        }
    }

    /// Moves `name`'s bar to `pos`.
    pub fn set(&self, name: &str, pos: usize) {
        if let Some(pb) = self.bars.lock().ok().and_then(|b| b.get(name).cloned()) {
            pb.set_position(pos as u64);
        }
    }

    /// Removes `name`'s bar.
    pub fn finish(&self, name: &str) {
        if let Some(pb) = self.bars.lock().ok().and_then(|mut b| b.remove(name)) {
            pb.finish_and_clear();
        }
    }
}
