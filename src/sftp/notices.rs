//! Reasons sent as text on the channel's stderr (SSH extended data 1).
//!
//! OpenSSH's `sftp` and PuTTY's `psftp` print only the status code of a
//! failed request ("Failure"), never its message, so a user whose upload
//! hit the quota would not learn why. The reason also goes out as one line
//! on stderr, which `sftp` prints to the terminal and other clients drop:
//! at most once per handle (the caller decides) and at most one line per
//! [`MIN_INTERVAL`] per session, the rest dropped, so a client that keeps
//! failing cannot turn stderr into a flood.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Shortest time between two lines of one session.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Lines waiting for the channel; more are dropped.
const QUEUED_LINES: usize = 4;

/// Longest line sent, in bytes; a longer reason is cut.
const MAX_LINE_BYTES: usize = 400;

/// The sending side, kept by the session.
pub struct Notices {
    lines: mpsc::Sender<String>,
    last: Mutex<Option<Instant>>,
}

impl Notices {
    /// Notices written to `stderr` by a task of their own, which ends when
    /// the returned `Notices` is dropped.
    pub fn spawn<E>(mut stderr: E) -> (Notices, tokio::task::JoinHandle<()>)
    where
        E: AsyncWrite + Unpin + Send + 'static,
    {
        let (lines, mut queue) = mpsc::channel::<String>(QUEUED_LINES);
        let task = tokio::spawn(async move {
            while let Some(line) = queue.recv().await {
                if stderr.write_all(line.as_bytes()).await.is_err() || stderr.flush().await.is_err()
                {
                    return;
                }
            }
        });
        (
            Notices {
                lines,
                last: Mutex::new(None),
            },
            task,
        )
    }

    /// Notices that go nowhere, for sessions without a stderr.
    pub fn discarded() -> Notices {
        let (lines, _) = mpsc::channel(1);
        Notices {
            lines,
            last: Mutex::new(None),
        }
    }

    /// Sends `reason` as one line, `sftpbox: reason`, unless a line went out
    /// less than [`MIN_INTERVAL`] ago. Never waits.
    pub fn tell(&self, reason: &str) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| now.duration_since(at) < MIN_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        let _ = self.lines.try_send(line(reason));
    }
}

/// `sftpbox: reason\n`, on one line and at most [`MAX_LINE_BYTES`].
fn line(reason: &str) -> String {
    let mut text: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    format!("sftpbox: {text}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_line_however_it_reads() {
        assert_eq!(line("quota exceeded"), "sftpbox: quota exceeded\n");
        assert_eq!(line("a\nb\r\u{1b}[2J"), "sftpbox: a b  [2J\n");
        let long = "é".repeat(400);
        let cut = line(&long);
        assert!(cut.len() <= MAX_LINE_BYTES + "sftpbox: \n".len());
        assert!(cut.ends_with('\n'));
    }

    #[tokio::test]
    async fn lines_closer_than_the_interval_are_dropped() {
        let (reader, writer) = tokio::io::duplex(4096);
        let (notices, task) = Notices::spawn(writer);
        notices.tell("first");
        notices.tell("second, too soon");
        drop(notices);
        task.await.unwrap();
        let mut text = String::new();
        let mut reader = reader;
        tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut text)
            .await
            .unwrap();
        assert_eq!(text, "sftpbox: first\n");
    }
}
