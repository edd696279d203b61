//! Load averages from `/proc/loadavg`.
//!
//! ```text
//! 2.12 1.10 0.46 3/96 6592     <- 1, 5 and 15 minute averages, then running/total, last pid
//! ```

use super::{CollectError, Paths, Sink, TextFile};

/// The load source: `<proc>/loadavg`, read into the same buffer every round.
#[derive(Debug)]
pub struct Load {
    loadavg: TextFile,
}

impl Load {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            loadavg: TextFile::new(paths.proc.join("loadavg")),
        }
    }

    /// Reads `<proc>/loadavg` and writes `node_load1`, `node_load5` and `node_load15`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.loadavg.read()?;
        let text = self.loadavg.text();
        let loads = parse(text).map_err(|reason| CollectError::Parse {
            path: self.loadavg.path().to_owned(),
            reason,
        })?;
        for (name, value) in ["node_load1", "node_load5", "node_load15"]
            .into_iter()
            .zip(loads)
        {
            sink.push(name, &[], value);
        }
        Ok(())
    }
}

/// The three averages of one `/proc/loadavg` text.
fn parse(text: &str) -> Result<[f64; 3], String> {
    let mut fields = text.split_ascii_whitespace();
    let mut loads = [0.0; 3];
    for load in &mut loads {
        let field = fields
            .next()
            .ok_or_else(|| format!("fewer than 3 fields in {text:?}"))?;
        *load = field
            .parse()
            .map_err(|_| format!("{field:?} is not a number"))?;
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_loadavg_gives_three_averages() {
        let mut sink = Sink::new();
        Load::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        assert_eq!(sink.value_of("node_load1", &[]), Some(2.12));
        assert_eq!(sink.value_of("node_load5", &[]), Some(1.10));
        assert_eq!(sink.value_of("node_load15", &[]), Some(0.46));
        assert_eq!(sink.len(), 3);
    }

    #[test]
    fn short_or_garbled_text_is_an_error() {
        assert!(parse("0.1 0.2\n").is_err());
        assert!(parse("0.1 x 0.3 1/2 3\n").is_err());
    }
}
