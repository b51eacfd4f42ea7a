//! `sftpbox sessions`: the table of sessions and their open transfers as
//! people read it, `--watch`'s screen redrawn in place once a second (plain
//! ANSI in crossterm's raw mode, left on `q` or Ctrl-C), and `--json`'s
//! array as scripts read it.

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::{cursor, execute, terminal};

use crate::control::{SessionInfo, TransferInfo};

/// How often `--watch` asks the server again.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Width of a progress bar, between its brackets.
const BAR_WIDTH: usize = 20;

/// The table: one row per session, its transfers indented under it.
pub fn table(sessions: &[SessionInfo]) -> Vec<String> {
    if sessions.is_empty() {
        return vec!["no sessions".to_owned()];
    }
    let header = ["ID", "ACCOUNT", "PEER", "SINCE", "CHANNELS"];
    let rows: Vec<[String; 5]> = sessions
        .iter()
        .map(|s| {
            [
                s.id.to_string(),
                s.account.clone(),
                s.peer.clone(),
                s.started.clone(),
                if s.channels.is_empty() {
                    "-".to_owned()
                } else {
                    s.channels.join(",")
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text
    };
    let mut lines = vec![line(&header.map(str::to_owned))];
    for (session, row) in sessions.iter().zip(&rows) {
        lines.push(line(row));
        for transfer in &session.transfers {
            lines.push(format!("    {}", transfer_line(transfer)));
        }
    }
    lines
}

/// One open transfer: direction, path, bytes (of size), rate, and a bar
/// with the percentage when the size is known.
fn transfer_line(t: &TransferInfo) -> String {
    let arrow = if t.direction == "upload" {
        "↑"
    } else {
        "↓"
    };
    let amount = match t.size {
        Some(size) => format!("{} / {}", human(t.bytes), human(size)),
        None => human(t.bytes),
    };
    let mut text = format!(
        "{arrow} {:<8} {}  {}  {}/s",
        t.direction,
        t.path,
        amount,
        human(t.rate)
    );
    if let Some(size) = t.size {
        text.push_str("  ");
        text.push_str(&bar(t.bytes, size));
    }
    text
}

/// `[#######.............]  35%`
fn bar(bytes: u64, size: u64) -> String {
    let fraction = if size == 0 {
        1.0
    } else {
        (bytes as f64 / size as f64).clamp(0.0, 1.0)
    };
    let filled = ((fraction * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        (fraction * 100.0).floor() as u64
    )
}

/// Bytes with a binary unit, one decimal: `12.5 MiB`.
fn human(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = "KiB";
    for next in ["MiB", "GiB", "TiB", "PiB"] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Redraws the table from `fetch` once a second until `q` or Ctrl-C;
/// an error from `fetch` is shown in place of the table (the server may
/// come back).
pub fn watch(mut fetch: impl FnMut() -> Result<Vec<SessionInfo>, String>) -> std::io::Result<()> {
    let mut out = std::io::stdout();
    terminal::enable_raw_mode()?;
    let drawn = (|| -> std::io::Result<()> {
        execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
        loop {
            let (lines, count) = match fetch() {
                Ok(sessions) => (table(&sessions), sessions.len()),
                Err(message) => (vec![message], 0),
            };
            let now = crate::listing::calendar::rfc3339(crate::listing::calendar::now());
            let mut screen =
                format!("sftpbox sessions  {now}  {count} session(s)  (q to quit)\r\n\r\n");
            for line in lines {
                screen.push_str(&line);
                screen.push_str("\r\n");
            }
            execute!(
                out,
                cursor::MoveTo(0, 0),
                terminal::Clear(terminal::ClearType::All)
            )?;
            out.write_all(screen.as_bytes())?;
            out.flush()?;
            let next = Instant::now() + WATCH_INTERVAL;
            while let Some(left) = next.checked_duration_since(Instant::now()) {
                if !event::poll(left)? {
                    break;
                }
                if let Event::Key(key) = event::read()?
                    && is_quit(&key)
                {
                    return Ok(());
                }
            }
        }
    })();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    drawn
}

fn is_quit(key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(transfers: Vec<TransferInfo>) -> SessionInfo {
        SessionInfo {
            id: 7,
            account: "alice".into(),
            peer: "127.0.0.1:40000".into(),
            started: "2026-12-01T14:00:00Z".into(),
            channels: vec!["sftp".into()],
            transfers,
        }
    }

    #[test]
    fn a_session_row_has_its_transfers_under_it_with_a_bar_where_the_size_is_known() {
        let lines = table(&[session(vec![
            TransferInfo {
                path: "/big.bin".into(),
                direction: "upload".into(),
                bytes: 3 << 20,
                size: None,
                rate: 1 << 20,
            },
            TransferInfo {
                path: "/iso".into(),
                direction: "download".into(),
                bytes: 50,
                size: Some(200),
                rate: 10,
            },
        ])]);
        assert_eq!(
            lines[0],
            "ID  ACCOUNT  PEER             SINCE                 CHANNELS"
        );
        assert_eq!(
            lines[1],
            "7   alice    127.0.0.1:40000  2026-12-01T14:00:00Z  sftp"
        );
        assert_eq!(lines[2], "    ↑ upload   /big.bin  3.0 MiB  1.0 MiB/s");
        assert_eq!(
            lines[3],
            "    ↓ download /iso  50 B / 200 B  10 B/s  [#####...............]  25%"
        );
    }

    #[test]
    fn no_sessions_says_so() {
        assert_eq!(table(&[]), vec!["no sessions"]);
    }

    #[test]
    fn sizes_take_the_largest_unit_below_1024() {
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(200 << 20), "200.0 MiB");
        assert_eq!(bar(0, 0), format!("[{}] 100%", "#".repeat(BAR_WIDTH)));
    }
}
