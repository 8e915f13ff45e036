//! A folder with one sub-folder per class (sorted by name: the first is class 0), each
//! holding `.npy` arrays (`[H, W]`, `[C, H, W]` or `[H, W, C]` when the last axis is 1 or 3;
//! float in `[0, 1]` or `u8`) or 8-bit PNG images (grey, grey+alpha, RGB, RGBA; alpha is
//! dropped).

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use super::Dataset;

fn read_npy(path: &Path) -> Result<([usize; 3], Vec<f32>)> {
    let bytes = std::fs::read(path)?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let values: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Uint && t.size_field() == 1 => {
            npy.into_vec::<u8>()?
                .into_iter()
                .map(|v| f32::from(v) / 255.0)
                .collect()
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>()?
        }
        other => bail!("unsupported .npy dtype {other:?} (use uint8 or float32)"),
    };
    let chw = match shape[..] {
        [h, w] => ([1, h, w], values),
        [h, w, c] if c == 1 || c == 3 => {
            let mut planar = vec![0.0; values.len()];
            for (i, v) in values.iter().enumerate() {
                let (p, ch) = (i / c, i % c);
                planar[ch * h * w + p] = *v;
            }
            ([c, h, w], planar)
        }
        [c, h, w] => ([c, h, w], values),
        _ => bail!("array shape {shape:?} is not an image"),
    };
    Ok(chw)
}

fn read_png(path: &Path) -> Result<([usize; 3], Vec<f32>)> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf)?;
    ensure!(
        info.bit_depth == png::BitDepth::Eight,
        "only 8-bit PNG is supported, this one is {:?}",
        info.bit_depth
    );
    let (h, w) = (info.height as usize, info.width as usize);
    let (stored, kept) = match info.color_type {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        other => bail!("PNG colour type {other:?} is not supported"),
    };
    let mut planar = vec![0.0; kept * h * w];
    for p in 0..h * w {
        for ch in 0..kept {
            planar[ch * h * w + p] = f32::from(buf[p * stored + ch]) / 255.0;
        }
    }
    Ok(([kept, h, w], planar))
}

pub(super) fn load(dir: &Path) -> Result<Dataset> {
    let mut classes: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    ensure!(
        !classes.is_empty(),
        "{} has no class sub-folders",
        dir.display()
    );
    ensure!(classes.len() <= 256, "more than 256 classes");
    let mut out = Dataset {
        shape: [0; 3],
        pixels: Vec::new(),
        labels: Vec::new(),
        classes: classes.len(),
    };
    for (label, class_dir) in classes.iter().enumerate() {
        let mut files: Vec<_> = std::fs::read_dir(class_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            let (shape, pixels) = match ext.to_ascii_lowercase().as_str() {
                "npy" => read_npy(&file),
                "png" => read_png(&file),
                _ => continue,
            }
            .with_context(|| format!("reading {}", file.display()))?;
            if out.labels.is_empty() {
                out.shape = shape;
            } else if shape != out.shape {
                bail!(
                    "{} is {shape:?}, earlier images are {:?}",
                    file.display(),
                    out.shape
                );
            }
            out.pixels.extend(pixels);
            out.labels.push(label as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    #[test]
    fn reads_npy_and_png_class_folders() {
        let dir = tempfile::tempdir().unwrap();
        for class in ["a", "b"] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
        }
        // Class "a": a 2x3 u8 array; class "b": a 2x3 grey PNG.
        let mut npy = Vec::new();
        {
            let mut w = npyz::WriteOptions::<u8>::new()
                .default_dtype()
                .shape(&[2, 3])
                .writer(&mut npy)
                .begin_nd()
                .unwrap();
            w.extend([0u8, 51, 102, 153, 204, 255]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(dir.path().join("a/x.npy"), npy).unwrap();
        let file = std::fs::File::create(dir.path().join("b/y.png")).unwrap();
        let mut enc = png::Encoder::new(file, 3, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[255, 0, 0, 0, 0, 0]).unwrap();
        w.finish().unwrap();

        let d = load(dir.path()).unwrap();
        assert_eq!(d.shape, [1, 2, 3]);
        assert_eq!(d.labels, [0, 1]);
        assert_eq!(d.classes, 2);
        assert!((d.image(0)[1] - 0.2).abs() < 1e-6);
        assert_eq!(d.image(1)[0], 1.0);
    }
}
