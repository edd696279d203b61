//! Open file handles from `/proc/sys/fs/file-nr`.
//!
//! ```text
//! 626<TAB>0<TAB>2466290     <- allocated, free (always 0 since Linux 2.6), maximum
//! ```

use super::{CollectError, Paths, Sink, TextFile};

/// The filefd source: `<proc>/sys/fs/file-nr`, kept open and read every round.
#[derive(Debug)]
pub struct Filefd {
    file_nr: TextFile,
}

impl Filefd {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            file_nr: TextFile::new(paths.proc.join("sys/fs/file-nr")),
        }
    }

    /// Writes `node_filefd_allocated` and `node_filefd_maximum`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.file_nr.read()?;
        let [allocated, maximum] =
            parse(self.file_nr.text()).map_err(|reason| CollectError::Parse {
                path: self.file_nr.path().to_owned(),
                reason,
            })?;
        sink.push("node_filefd_allocated", &[], allocated);
        sink.push("node_filefd_maximum", &[], maximum);
        Ok(())
    }
}

/// The first and third of the tab-separated numbers.
fn parse(text: &str) -> Result<[f64; 2], String> {
    let mut fields = text.trim().split('\t');
    let (Some(allocated), Some(_), Some(maximum)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("fewer than 3 tab-separated fields in {text:?}"));
    };
    let number = |field: &str| {
        field
            .parse::<f64>()
            .map_err(|_| format!("{field:?} is not a number"))
    };
    Ok([number(allocated)?, number(maximum)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_file_nr_gives_allocated_and_maximum() {
        let mut sink = Sink::new();
        Filefd::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        assert_eq!(sink.value_of("node_filefd_allocated", &[]), Some(626.0));
        assert_eq!(sink.value_of("node_filefd_maximum", &[]), Some(2466290.0));
        assert_eq!(sink.len(), 2);
    }

    #[test]
    fn short_or_garbled_text_is_an_error() {
        assert!(parse("626\t0\n").is_err());
        assert!(parse("626 0 2466290\n").is_err());
        assert!(parse("x\t0\t1\n").is_err());
    }
}
