//! Progress on a terminal (a bar), or plain lines every few seconds otherwise; the counters.
#![allow(clippy::print_stderr, reason = "progress is reported on the terminal")]

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

#[derive(Default, Debug)]
pub struct Stats {
    /// Data rows read after the skipped ones, good and bad.
    pub read: u64,
    pub written: u64,
    pub rejected: u64,
    pub skipped: u64,
}

/// Progress on a terminal (a bar), or plain lines every few seconds otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    pub fn new(size: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match size {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if size.is_some() {
                "{bar:40} {bytes}/{total_bytes} {msg} eta {eta}"
            } else {
                "{spinner} {msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    pub fn update(&mut self, stats: &Stats, bytes: Option<u64>) {
        let rate = stats.read as f64 / self.started.elapsed().as_secs_f64().max(1e-6);
        let msg = format!(
            "{} rows read, {} written, {} rejected, {:.0} rows/s",
            stats.read, stats.written, stats.rejected, rate
        );
        match &self.bar {
            Some(bar) => {
                if let Some(b) = bytes {
                    bar.set_position(b);
                }
                bar.set_message(msg);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("dbcore-ingest: {msg}");
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
