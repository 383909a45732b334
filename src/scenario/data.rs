//! Data files of real samples for `devices.input.data` (docs/scenario.md, Inputs).
//!
//! CSV: a header row, then one sample a row; every column but the label
//! column holds one value of the sample, in order. `.npy`: an array of
//! `[rows, ...]` numbers (float or integer, little-endian, C order), with
//! labels, when there are any, in a second one-dimensional `.npy` file.

use std::path::Path;

use crate::plan::InputRows;

/// Values in one data file, at most (a gibibyte of float32).
pub const MAX_VALUES: usize = 1 << 28;

/// What is wrong with a data file, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct DataError {
    pub file: String,
    /// 1-based row (line) and column, when the fault has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

fn whole(file: &str, message: impl Into<String>) -> DataError {
    DataError { file: file.to_string(), at: None, message: message.into() }
}

fn read_bytes(path: &Path, shown: &str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| whole(shown, format!("cannot read it: {e}")))
}

/// Reads a CSV data file; `label` names the label column, which may be
/// absent unless `label_required`.
pub fn read_csv(path: &Path, shown: &str, label: &str, label_required: bool) -> Result<InputRows, DataError> {
    let bytes = read_bytes(path, shown)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| whole(shown, "not UTF-8 text"))?;
    let mut rows = parse_csv(text, shown, label, label_required)?;
    rows.sha256 = crate::digest::sha256_hex(&bytes);
    Ok(rows)
}

/// Parses a CSV data file's text; the digest is left empty.
pub fn parse_csv(text: &str, file: &str, label: &str, label_required: bool) -> Result<InputRows, DataError> {
    let at = |line: usize, column: usize, message: String| DataError {
        file: file.to_string(),
        at: Some((line, column)),
        message,
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(whole(file, "empty: expected a header row and at least one row of values"));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let label_at = names.iter().position(|n| *n == label);
    if label_at.is_none() && label_required {
        return Err(at(1, 1, format!("no column {label:?} for the labels; the header names {}", names.join(", "))));
    }
    if let Some(i) = names.iter().position(|n| !n.is_empty() && n.parse::<f64>().is_ok()) {
        return Err(at(
            1,
            i + 1,
            format!("the first row must be a header naming the columns, found the number {}", names[i]),
        ));
    }
    let width = names.len() - usize::from(label_at.is_some());
    if width == 0 {
        return Err(at(1, 1, "no value columns besides the label".into()));
    }
    let mut values = Vec::new();
    let mut labels = label_at.map(|_| Vec::new());
    for (i, raw) in lines {
        let line = i + 1;
        let cells: Vec<&str> = raw.split(',').collect();
        if cells.len() != names.len() {
            return Err(at(line, 1, format!("{} cells, the header names {}", cells.len(), names.len())));
        }
        if values.len() + width > MAX_VALUES {
            return Err(at(line, 1, format!("more than {MAX_VALUES} values")));
        }
        for (c, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            if Some(c) == label_at {
                let l: i64 = cell
                    .parse()
                    .map_err(|_| at(line, c + 1, format!("label {cell:?} in column {label:?} is not an integer")))?;
                if let Some(v) = labels.as_mut() {
                    v.push(l);
                }
                continue;
            }
            let x =
                cell.parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                    at(line, c + 1, format!("{cell:?} in column {:?} is not a finite number", names[c]))
                })?;
            values.push(x);
        }
    }
    if values.is_empty() {
        return Err(whole(file, "no rows after the header"));
    }
    Ok(InputRows { path: file.to_string(), sha256: String::new(), width, values, labels })
}

/// A `.npy` array: its shape and its values as f64.
#[derive(Debug)]
struct Npy {
    shape: Vec<usize>,
    values: Vec<f64>,
}

/// Reads a `.npy` data file and, when given, its labels file.
pub fn read_npy(path: &Path, shown: &str, labels: Option<(&Path, &str)>) -> Result<InputRows, DataError> {
    let bytes = read_bytes(path, shown)?;
    let npy = parse_npy(&bytes).map_err(|e| whole(shown, e.0))?;
    let (rows, width) = match npy.shape.split_first() {
        Some((rows, rest)) if !rest.is_empty() => (*rows, rest.iter().product::<usize>()),
        _ => {
            return Err(whole(
                shown,
                format!("shape {:?}: expected [rows, ...] with at least two dimensions", npy.shape),
            ))
        }
    };
    if rows == 0 || width == 0 {
        return Err(whole(shown, format!("shape {:?} holds no samples", npy.shape)));
    }
    let mut values = Vec::with_capacity(npy.values.len());
    for (i, x) in npy.values.iter().enumerate() {
        let f = *x as f32;
        if !f.is_finite() {
            return Err(whole(
                shown,
                format!("row {}, value {}: {x} is not a finite 32-bit number", i / width, i % width),
            ));
        }
        values.push(f);
    }
    let mut digest_input = bytes;
    let labels = match labels {
        None => None,
        Some((lpath, lshown)) => {
            let lbytes = read_bytes(lpath, lshown)?;
            let l = parse_npy(&lbytes).map_err(|e| whole(lshown, e.0))?;
            if l.shape != [rows] {
                return Err(whole(
                    lshown,
                    format!("shape {:?}: expected [{rows}], one label per row of {shown}", l.shape),
                ));
            }
            let mut out = Vec::with_capacity(rows);
            for (i, x) in l.values.iter().enumerate() {
                if x.fract() != 0.0 || !x.is_finite() {
                    return Err(whole(lshown, format!("label {i} is {x}, not an integer")));
                }
                out.push(*x as i64);
            }
            digest_input.extend_from_slice(&lbytes);
            Some(out)
        }
    };
    Ok(InputRows { path: shown.to_string(), sha256: crate::digest::sha256_hex(&digest_input), width, values, labels })
}

/// What is wrong with `.npy` bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
struct NpyError(String);

/// Reads one element's bytes as a value.
type ReadElement = fn(&[u8]) -> f64;

/// The size and reader of one element of a `.npy` dtype.
fn element(descr: &str) -> Result<(usize, ReadElement), NpyError> {
    Ok(match descr {
        "<f4" => (4, |b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
        "|u1" => (1, |b| f64::from(b[0])),
        "|i1" => (1, |b| f64::from(b[0] as i8)),
        "<i2" => (2, |b| f64::from(i16::from_le_bytes([b[0], b[1]]))),
        "<i4" => (4, |b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64),
        other => {
            return Err(NpyError(format!(
                "dtype {other:?} is not supported (little-endian f4, f8, i1, u1, i2, i4 or i8)"
            )))
        }
    })
}

/// Reads version 1–3 `.npy` bytes of little-endian floats or integers in C order.
fn parse_npy(bytes: &[u8]) -> Result<Npy, NpyError> {
    let no = |m: String| NpyError(m);
    const MAGIC: &[u8] = b"\x93NUMPY";
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(no("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(no(format!(".npy version {v} is not supported (1, 2 or 3)"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| no("truncated or unreadable .npy header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[at..].trim_start())
    };
    let descr = field("descr")
        .and_then(|d| d.strip_prefix('\''))
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| no("no descr in the .npy header".into()))?;
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(no("Fortran-ordered arrays are not supported; save it in C order (np.ascontiguousarray)".into()));
    }
    let shape_text = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| no("no shape in the .npy header".into()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L').parse().map_err(|_| no(format!("shape ({shape_text}) is not a list of sizes")))
        })
        .collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    if count > MAX_VALUES {
        return Err(no(format!("{count} values, more than {MAX_VALUES}")));
    }
    let body = &bytes[start + header_len..];
    let (size, read) = element(descr)?;
    if body.len() != count * size {
        return Err(no(format!(
            "the body holds {} bytes; shape {shape:?} of {descr} needs {}",
            body.len(),
            count * size
        )));
    }
    Ok(Npy { shape, values: body.chunks_exact(size).map(read).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn csv_rows_keep_their_label_column_apart() {
        let rows = parse_csv("a,label,b\n1,3,2\n\n-0.5,0,4e1\n", "d.csv", "label", false).unwrap();
        assert_eq!((rows.width, rows.rows()), (2, 2));
        assert_eq!(rows.values, [1.0, 2.0, -0.5, 40.0]);
        assert_eq!(rows.labels, Some(vec![3, 0]));
        let unlabelled = parse_csv("a,b\n1,2\n", "d.csv", "label", false).unwrap();
        assert_eq!(unlabelled.labels, None);
    }

    #[test]
    fn csv_faults_name_the_row_and_column() {
        let e = |text: &str| parse_csv(text, "d.csv", "label", false).unwrap_err().to_string();
        assert_eq!(e(""), "d.csv: empty: expected a header row and at least one row of values");
        assert_eq!(e("a,b\n"), "d.csv: no rows after the header");
        assert_eq!(e("a,b\n1,x\n"), "d.csv:2:2: \"x\" in column \"b\" is not a finite number");
        assert_eq!(e("a,b\n1,2,3\n"), "d.csv:2:1: 3 cells, the header names 2");
        assert_eq!(e("a,label\n1,0.5\n"), "d.csv:2:2: label \"0.5\" in column \"label\" is not an integer");
        assert!(e("1,2\n3,4\n").starts_with("d.csv:1:1: the first row must be a header"));
        assert_eq!(e("label\n1\n"), "d.csv:1:1: no value columns besides the label");
        let missing = parse_csv("a,b\n1,2\n", "d.csv", "digit", true).unwrap_err().to_string();
        assert_eq!(missing, "d.csv:1:1: no column \"digit\" for the labels; the header names a, b");
    }

    #[test]
    fn npy_arrays_of_floats_and_integers_read_back() {
        let body: Vec<u8> = [1.5f32, -2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let a = parse_npy(&npy("<f4", "(2, 3)", &body)).unwrap();
        assert_eq!((a.shape, a.values[..2].to_vec()), (vec![2, 3], vec![1.5, -2.0]));
        let l = parse_npy(&npy("<i8", "(2,)", &[7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])).unwrap();
        assert_eq!((l.shape, l.values), (vec![2], vec![7.0, 9.0]));
        assert!(parse_npy(&npy("<f4", "(2, 3)", &body[..20])).unwrap_err().0.contains("holds 20 bytes"));
        assert!(parse_npy(&npy(">f4", "(2, 3)", &body)).unwrap_err().0.contains("\">f4\" is not supported"));
        assert!(parse_npy(b"PK\x03\x04 not npy").unwrap_err().0.contains("magic"));
    }
}
