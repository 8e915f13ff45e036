//! CIFAR-10 binary batches: records of 1 label byte and 3x32x32 pixel bytes (R, G, B
//! planes), in `data_batch_1.bin` .. `data_batch_5.bin` and `test_batch.bin`.

use std::path::Path;

use anyhow::{bail, Result};

use super::{read_maybe_gz, Dataset, Splits};

const RECORD: usize = 1 + 3 * 32 * 32;

fn parse(bytes: &[u8], into: &mut Dataset) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        bail!(
            "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
            bytes.len()
        );
    }
    for record in bytes.chunks_exact(RECORD) {
        if record[0] >= 10 {
            bail!("label {} out of CIFAR-10's 10 classes", record[0]);
        }
        into.labels.push(record[0]);
        into.pixels
            .extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok(())
}

pub(super) fn load_splits(dir: &Path) -> Result<Splits> {
    let empty = || Dataset {
        shape: [3, 32, 32],
        pixels: Vec::new(),
        labels: Vec::new(),
        classes: 10,
    };
    let mut train = empty();
    for i in 1..=5 {
        let path = dir.join(format!("data_batch_{i}.bin"));
        if path.exists() {
            parse(&read_maybe_gz(&path)?, &mut train)
                .map_err(|e| e.context(path.display().to_string()))?;
        }
    }
    let mut test = empty();
    let path = dir.join("test_batch.bin");
    parse(&read_maybe_gz(&path)?, &mut test).map_err(|e| e.context(path.display().to_string()))?;
    Ok(Splits { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_plane_major() {
        let mut bytes = vec![0u8; 2 * RECORD];
        bytes[0] = 3;
        bytes[1] = 255; // image 0, red plane, first pixel
        bytes[RECORD] = 9;
        let mut d = Dataset {
            shape: [3, 32, 32],
            pixels: vec![],
            labels: vec![],
            classes: 10,
        };
        parse(&bytes, &mut d).unwrap();
        assert_eq!(d.labels, [3, 9]);
        assert_eq!(d.image(0)[0], 1.0);
        assert!(parse(&bytes[..RECORD + 1], &mut d).is_err());
    }
}
