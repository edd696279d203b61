//! The kernel's entropy pool from `/proc/sys/kernel/random`.
//!
//! ```text
//! entropy_avail   256     -> node_entropy_available_bits
//! poolsize        256     -> node_entropy_pool_size_bits
//! ```

use super::{CollectError, Paths, Sink, TextFile};

/// The entropy source: `entropy_avail` and `poolsize`, kept open and read every round.
#[derive(Debug)]
pub struct Entropy {
    available: TextFile,
    pool_size: TextFile,
}

impl Entropy {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        let random = paths.proc.join("sys/kernel/random");
        Self {
            available: TextFile::new(random.join("entropy_avail")),
            pool_size: TextFile::new(random.join("poolsize")),
        }
    }

    /// Writes `node_entropy_available_bits` and `node_entropy_pool_size_bits`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        for (file, name) in [
            (&mut self.available, "node_entropy_available_bits"),
            (&mut self.pool_size, "node_entropy_pool_size_bits"),
        ] {
            let value = read_number(file)?;
            sink.push(name, &[], value as f64);
        }
        Ok(())
    }
}

/// Reads `file` and parses the one unsigned number in it (a `/proc/sys` value).
pub(super) fn read_number(file: &mut TextFile) -> Result<u64, CollectError> {
    file.read()?;
    let text = file.text().trim();
    text.parse().map_err(|_| CollectError::Parse {
        path: file.path().to_owned(),
        reason: format!("{text:?} is not an unsigned number"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_pool_gives_both_gauges() {
        let mut sink = Sink::new();
        Entropy::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        assert_eq!(
            sink.value_of("node_entropy_available_bits", &[]),
            Some(256.0)
        );
        assert_eq!(
            sink.value_of("node_entropy_pool_size_bits", &[]),
            Some(256.0)
        );
        assert_eq!(sink.len(), 2);
    }
}
