//! Output files written atomically: into a temporary file beside the target, renamed over it
//! only when complete, so an interrupted or failed run leaves the previous file (or nothing),
//! never a truncated one.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::PipelineError;

/// An output being written (see the module docs). Dropped without [`Output::commit`], it
/// removes its temporary file.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    committed: bool,
}

/// The temporary name of `path`: `.NAME.fh-tmp-PID` in the same directory (so the rename
/// stays on one file system).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".{name}.fh-tmp-{}", std::process::id()))
}

impl Output {
    /// Creates the temporary file for `path` (the error names `path`).
    pub fn create(path: &Path) -> Result<Output, PipelineError> {
        let tmp = temp_path(path);
        let file = File::create(&tmp).map_err(|e| {
            PipelineError::new(format!("{}: {}", path.display(), crate::io_words(&e)))
        })?;
        Ok(Output {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            committed: false,
        })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A buffered writer on the temporary file (once; later calls give a writer to a sink).
    pub fn writer(&mut self) -> BufWriter<File> {
        let f = self
            .file
            .take()
            .or_else(|| File::create(&self.tmp).ok())
            .unwrap_or_else(|| {
                // Only reached if the temporary file vanished and cannot be recreated: write
                // to a sink whose errors are reported at commit.
                File::open("/dev/null").unwrap_or_else(|_| unreachable!("/dev/null opens"))
            });
        BufWriter::with_capacity(1 << 20, f)
    }

    /// An error about this output.
    pub fn error(&self, e: std::io::Error) -> PipelineError {
        PipelineError::new(format!("{}: {}", self.path.display(), crate::io_words(&e)))
    }

    /// Renames the finished temporary file over the target.
    pub fn commit(mut self) -> Result<(), PipelineError> {
        std::fs::rename(&self.tmp, &self.path).map_err(|e| self.error(e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn committed_outputs_replace_the_target_and_abandoned_ones_leave_it_alone() {
        let dir = std::env::temp_dir().join(format!("fh-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.csv");
        std::fs::write(&target, "old").unwrap();
        {
            let mut o = Output::create(&target).unwrap();
            o.writer().write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert!(!temp_path(&target).exists());
        let mut o = Output::create(&target).unwrap();
        let mut w = o.writer();
        w.write_all(b"new").unwrap();
        w.flush().unwrap();
        drop(w);
        o.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let e = Output::create(&dir.join("no/such/dir/x")).unwrap_err();
        assert!(e.0.ends_with("x: no such file or directory"), "{}", e.0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
