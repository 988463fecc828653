//! C's `fgets`, for reading pgpass lines exactly where libpq splits (and truncates) them.

/// C's `fgets` over a buffered reader: at most `size - 1` bytes, stopping after a newline;
/// sets `eof` only when a read runs into the end, as stdio does. Streaming keeps memory to one
/// line however large the file is.
pub(super) struct FgetsReader<R> {
    inner: R,
    pub(super) eof: bool,
}

impl<R: std::io::BufRead> FgetsReader<R> {
    pub(super) fn new(inner: R) -> Self {
        Self { inner, eof: false }
    }

    /// Appends the next read to `out`; `Ok(false)` when nothing was left to read.
    pub(super) fn fgets(&mut self, size: usize, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let mut limit = size.saturating_sub(1);
        let mut read_any = false;
        while limit > 0 {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.eof = true;
                break;
            }
            let window = &available[..available.len().min(limit)];
            let (take, newline) = match window.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (window.len(), false),
            };
            out.extend_from_slice(&window[..take]);
            self.inner.consume(take);
            limit -= take;
            read_any = true;
            if newline {
                break;
            }
        }
        Ok(read_any)
    }
}
