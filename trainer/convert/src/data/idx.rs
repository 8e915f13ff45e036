//! IDX files (the MNIST format): big-endian magic `0x0000_08_NN` (unsigned bytes, NN
//! dimensions), NN big-endian u32 sizes, then the bytes.

use std::path::Path;

use anyhow::{bail, ensure, Result};

use super::{plain_or_gz, read_maybe_gz, Dataset};

/// Parses an IDX file of unsigned bytes: (dims, data).
pub(super) fn parse(bytes: &[u8]) -> Result<(Vec<usize>, &[u8])> {
    ensure!(bytes.len() >= 4, "too short for an IDX header");
    ensure!(
        bytes[0] == 0 && bytes[1] == 0,
        "bad IDX magic {:02x?}",
        &bytes[..4]
    );
    ensure!(
        bytes[2] == 0x08,
        "IDX element type 0x{:02x} is not unsigned bytes (0x08)",
        bytes[2]
    );
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    ensure!(bytes.len() >= header, "IDX header cut short");
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    let data = &bytes[header..];
    if data.len() != count {
        bail!(
            "IDX dims {dims:?} need {count} bytes, the file has {}",
            data.len()
        );
    }
    Ok((dims, data))
}

/// Loads `{prefix}-images-idx3-ubyte[.gz]` and `{prefix}-labels-idx1-ubyte[.gz]`.
pub(super) fn load_pair(dir: &Path, prefix: &str) -> Result<Dataset> {
    let images_path = plain_or_gz(dir, &format!("{prefix}-images-idx3-ubyte"));
    let labels_path = plain_or_gz(dir, &format!("{prefix}-labels-idx1-ubyte"));
    let images = read_maybe_gz(&images_path)?;
    let labels = read_maybe_gz(&labels_path)?;
    let (idims, pixels) =
        parse(&images).map_err(|e| e.context(format!("{}", images_path.display())))?;
    let (ldims, labels) =
        parse(&labels).map_err(|e| e.context(format!("{}", labels_path.display())))?;
    ensure!(
        idims.len() == 3,
        "{}: images must be [N, H, W], got {idims:?}",
        images_path.display()
    );
    ensure!(
        ldims == [idims[0]],
        "{} has {ldims:?} labels for {} images",
        labels_path.display(),
        idims[0]
    );
    let classes = usize::from(labels.iter().copied().max().unwrap_or(0)) + 1;
    Ok(Dataset {
        shape: [1, idims[1], idims[2]],
        pixels: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels: labels.to_vec(),
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_and_rejects_wrong_sizes() {
        let mut file = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        file.extend([1, 2, 3, 4, 5, 6]);
        let (dims, data) = parse(&file).unwrap();
        assert_eq!(dims, [2, 3]);
        assert_eq!(data, [1, 2, 3, 4, 5, 6]);
        file.pop();
        assert!(parse(&file)
            .unwrap_err()
            .to_string()
            .contains("need 6 bytes"));
        assert!(parse(&[0, 0, 0x0d, 1]).is_err(), "float IDX is refused");
        assert!(parse(&[0, 0, 8, 200]).is_err(), "header past the end");
    }
}
