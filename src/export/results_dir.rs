//! The results folder of one run: `<out>/<scenario>/<run-id>/`.
//!
//! Whole files are written under a temporary name and renamed, so a file that
//! exists is complete. Samples are appended point by point to
//! `samples.csv.partial`, renamed to `samples.csv` when the run ends; an
//! interrupted run keeps the points it finished there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const SAMPLES_PARTIAL: &str = "samples.csv.partial";
/// The files of a results folder.
pub const SAMPLES_CSV: &str = "samples.csv";
pub const SUMMARY_CSV: &str = "summary.csv";
pub const MANIFEST_JSON: &str = "manifest.json";
pub const RESULTS_JSON: &str = "results.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";
pub const SCENARIO_YAML: &str = "scenario.yaml";
/// Subfolder of serialized HDR histograms, one per (point, repetition, tier).
pub const HISTOGRAMS: &str = "histograms";

/// Subfolder of the report's SVG plots (`export::plot`).
pub const PLOTS: &str = "plots";

/// A created results folder.
#[derive(Debug)]
pub struct ResultsDir {
    dir: PathBuf,
}

impl ResultsDir {
    /// Creates the folder (and its parents). Fails fast on an unwritable output.
    pub fn create(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(dir.join(HISTOGRAMS))?;
        fs::create_dir_all(dir.join(PLOTS))?;
        Ok(Self { dir })
    }

    /// Opens the samples file in progress for appending, buffered.
    pub fn samples_writer(&self) -> io::Result<io::BufWriter<File>> {
        let f = OpenOptions::new().create(true).append(true).open(self.dir.join(SAMPLES_PARTIAL))?;
        Ok(io::BufWriter::with_capacity(256 * 1024, f))
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `name` atomically: a temporary file, synced, then renamed.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let target = self.dir.join(name);
        let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = target.with_file_name(format!(".{file_name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        Ok(target)
    }

    /// Appends to the samples file in progress.
    pub fn append_samples(&self, bytes: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new().create(true).append(true).open(self.dir.join(SAMPLES_PARTIAL))?;
        f.write_all(bytes)?;
        f.sync_data()
    }

    /// Opens an existing results folder, to resume the run in it.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(dir.join(HISTOGRAMS))?;
        fs::create_dir_all(dir.join(PLOTS))?;
        Ok(Self { dir })
    }

    /// Bytes in the samples file in progress.
    pub fn samples_len(&self) -> io::Result<u64> {
        Ok(fs::metadata(self.dir.join(SAMPLES_PARTIAL))?.len())
    }

    /// Cuts the samples in progress back to `len` bytes: drops the rows of an
    /// execution that did not finish.
    pub fn truncate_samples(&self, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.dir.join(SAMPLES_PARTIAL))?;
        f.set_len(len)?;
        f.sync_data()
    }

    /// Back to `samples.csv.partial`, keeping the header and the rows whose
    /// execution `keep` holds for (found by the header's `point` and
    /// `repetition` columns; `None` for a row without them): a resumed run
    /// drops whatever an unfinished execution left, even if the process was
    /// killed mid-write.
    pub fn reopen_samples(&self, keep: impl Fn(Option<crate::report::Execution>) -> bool) -> io::Result<()> {
        let done = self.dir.join(SAMPLES_CSV);
        let partial = self.dir.join(SAMPLES_PARTIAL);
        let source = if partial.is_file() { partial.clone() } else { done.clone() };
        let tmp = self.dir.join(".samples.csv.resume.tmp");
        {
            let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(&source)?;
            let mut writer = ::csv::Writer::from_writer(io::BufWriter::new(File::create(&tmp)?));
            let mut records = reader.records().filter_map(Result::ok);
            let Some(header) = records.next() else { return Err(io::Error::other("samples have no header")) };
            // By name, as the file's own header lays it out.
            let column = |name: &str| header.iter().position(|c| c == name);
            let (point, repetition) = (column("point"), column("repetition"));
            writer.write_record(&header)?;
            for record in records {
                let field = |i: Option<usize>| i.and_then(|i| record.get(i)).and_then(|v| v.parse::<u64>().ok());
                let execution = match (field(point), field(repetition)) {
                    (Some(p), Some(r)) => Some(crate::report::Execution { point: p as usize, repetition: r as u32 }),
                    _ => None,
                };
                if keep(execution) {
                    writer.write_record(&record)?;
                }
            }
            let f = writer.into_inner().map_err(|e| e.into_error())?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        fs::rename(&tmp, &partial)?;
        if source == done {
            fs::remove_file(done)?;
        }
        Ok(())
    }

    /// Renames the samples in progress to `samples.csv`.
    pub fn finish_samples(&self) -> io::Result<PathBuf> {
        let target = self.dir.join(SAMPLES_CSV);
        fs::rename(self.dir.join(SAMPLES_PARTIAL), &target)?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_appends_samples() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(tmp.path().join("a/b")).unwrap();
        dir.write("x.txt", b"one").unwrap();
        dir.write("x.txt", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("x.txt")).unwrap(), b"two");
        dir.append_samples(b"h\n").unwrap();
        dir.append_samples(b"r\n").unwrap();
        assert!(!dir.path().join("samples.csv").exists());
        dir.finish_samples().unwrap();
        assert_eq!(fs::read(dir.path().join("samples.csv")).unwrap(), b"h\nr\n");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 4, "no temporary files left: {names:?}");
    }

    #[test]
    fn reopening_keeps_the_rows_of_finished_executions_found_by_column_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(tmp.path().to_path_buf()).unwrap();
        // Columns in another order than today's, and a row cut off mid-write.
        dir.append_samples(b"repetition,tier,point\n0,edge,0\n0,edge,1\n1,cloud,0\n0,ed").unwrap();
        let done = crate::report::Execution { point: 0, repetition: 0 };
        dir.reopen_samples(|e| e == Some(done)).unwrap();
        let kept = fs::read_to_string(dir.path().join(SAMPLES_PARTIAL)).unwrap();
        assert_eq!(kept, "repetition,tier,point\n0,edge,0\n");
    }
}
