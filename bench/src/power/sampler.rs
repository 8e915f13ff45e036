//! Samples a live source on its own thread while the benchmark runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};

use super::{PowerSource, Reading, Sample};

/// Wall-clock now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A running sampler; [`Sampler::stop`] returns the trace.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<Vec<Sample>>>,
}

impl Sampler {
    /// Starts sampling `source` every `source.interval()`.
    pub fn start(mut source: Box<dyn PowerSource>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || run(source.as_mut(), &flag));
        Sampler { stop, handle }
    }

    /// Stops sampling and returns the samples (or the error that stopped the sampler).
    pub fn stop(self) -> Result<Vec<Sample>> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(trace) => trace,
            Err(_) => Err(anyhow!("the power sampler thread panicked")),
        }
    }
}

fn run(source: &mut dyn PowerSource, stop: &AtomicBool) -> Result<Vec<Sample>> {
    let interval = source.interval();
    let mut samples = Vec::new();
    let mut previous: Option<(f64, f64)> = None; // (time, energy) of the last counter read
    let mut last_t = unix_now();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let reading = source.read()?;
        let t = unix_now();
        match reading {
            Reading::Energy(j) => {
                if let Some((t0, j0)) = previous {
                    if t > t0 {
                        // The mean power over the interval, stamped at its middle.
                        samples.push(Sample {
                            t: (t0 + t) / 2.0,
                            watts: (j - j0) / (t - t0),
                            weight: t - t0,
                        });
                    }
                }
                previous = Some((t, j));
            }
            Reading::Power(w) => {
                let weight = if samples.is_empty() {
                    interval.as_secs_f64()
                } else {
                    t - last_t
                };
                samples.push(Sample {
                    t,
                    watts: w,
                    weight,
                });
            }
        }
        last_t = t;
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
    Ok(samples)
}
