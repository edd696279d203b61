//! A small terminal chart of a forecast: history, then the predicted path, against the
//! threshold, in braille dots (2 × 4 dots per character).
//!
//! ```text
//!      0.93 ┤                                       ⢀⡠⠔⠊
//!  thr 0.9  ┤┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄⡠⠔⠉┄┄┄┄┄┄
//!           ┤                        ⣀⡠⠤⠒⠊┊
//!      0.41 ┤⣀⣀⡠⠤⠒⠒⠊⠉                   ┊
//!            2026-11-14 05:50         now            2026-11-28 05:50
//! ```
//!
//! Time runs left to right over the history and the horizon in proportion; a dot column
//! of history shows every value that fell in it (a daily sawtooth stays a sawtooth); the
//! forecast is the mean path. Empty cells on the threshold's row show `┄`, on the column
//! of `now` `┊`.

/// Rows of characters (each four dots high).
const ROWS: usize = 8;

/// Width of the value labels on the left.
const LABEL: usize = 10;

/// Dot bits of a braille cell by (column, row) within it.
const DOTS: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/// The chart's lines. `history` and `path` are (unix ms, value), oldest first; `now_ms`
/// splits them; `width` is the number of plot characters.
pub fn chart(
    history: &[(i64, f64)],
    path: &[(i64, f64)],
    threshold: f64,
    now_ms: i64,
    width: usize,
    format: fn(f64) -> String,
    format_time: fn(i64) -> String,
) -> Vec<String> {
    let points: Vec<(i64, f64)> = history
        .iter()
        .chain(path)
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (Some(&(t0, _)), Some(&(t1, _))) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let (mut low, mut high) = points
        .iter()
        .fold((threshold, threshold), |(lo, hi), &(_, v)| {
            (lo.min(v), hi.max(v))
        });
    if high == low {
        (low, high) = (low - 1.0, high + 1.0);
    }
    let (dots_x, dots_y) = (width * 2, ROWS * 4);
    let column = |t: i64| {
        let span = (t1 - t0).max(1) as f64;
        (((t - t0) as f64 / span) * (dots_x - 1) as f64).round() as usize
    };
    // Dot row 0 is the top.
    let row = |v: f64| {
        let scaled = (high - v) / (high - low) * (dots_y - 1) as f64;
        scaled.round().clamp(0.0, (dots_y - 1) as f64) as usize
    };
    let mut cells = vec![vec![0u32; width]; ROWS];
    let mut plot = |x: usize, y: usize| {
        cells[y / 4][x / 2] |= DOTS[x % 2][y % 4];
    };
    // History: every value in its column, joined to the next point's row.
    for pair in points.windows(2) {
        let ((ta, va), (tb, vb)) = (pair[0], pair[1]);
        let (xa, xb) = (column(ta), column(tb));
        let (ya, yb) = (row(va), row(vb));
        for x in xa..=xb {
            let y = if xb == xa {
                yb
            } else {
                (ya as f64 + (yb as f64 - ya as f64) * (x - xa) as f64 / (xb - xa) as f64).round()
                    as usize
            };
            plot(x, y);
        }
        if xa == xb {
            for y in ya.min(yb)..=ya.max(yb) {
                plot(xa, y);
            }
        }
    }
    let threshold_row = row(threshold) / 4;
    let now_column = column(now_ms) / 2;
    let mut lines = Vec::with_capacity(ROWS + 1);
    for (r, cells) in cells.iter().enumerate() {
        let label = if r == threshold_row {
            format!("thr {}", format(threshold))
        } else if r == 0 {
            format(high)
        } else if r == ROWS - 1 {
            format(low)
        } else {
            String::new()
        };
        let mut line = format!("{label:>LABEL$} ┤");
        for (c, &bits) in cells.iter().enumerate() {
            line.push(match bits {
                0 if r == threshold_row => '┄',
                0 if c == now_column => '┊',
                0 => ' ',
                bits => char::from_u32(0x2800 + bits).unwrap_or(' '),
            });
        }
        lines.push(line);
    }
    let (start, now, end) = (format_time(t0), "now", format_time(t1));
    let mut axis = " ".repeat(LABEL + 2);
    axis.push_str(&start);
    let now_at = LABEL + 2 + now_column.saturating_sub(1);
    while axis.chars().count() + 1 < now_at {
        axis.push(' ');
    }
    if axis.chars().count() < now_at {
        axis.push(' ');
        axis.push_str(now);
    } else {
        axis.push_str("  now");
    }
    let end_at = LABEL + 2 + width - end.chars().count();
    while axis.chars().count() < end_at {
        axis.push(' ');
    }
    axis.push(' ');
    axis.push_str(&end);
    lines.push(axis);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_line_crosses_the_threshold_row() {
        let history: Vec<(i64, f64)> = (0..=40).map(|i| (i * 1_000, i as f64)).collect();
        let path: Vec<(i64, f64)> = (40..=60).map(|i| (i * 1_000, i as f64)).collect();
        let lines = chart(
            &history,
            &path,
            50.0,
            40_000,
            30,
            |v| format!("{v}"),
            |t| format!("t{}", t / 1_000),
        );
        assert_eq!(lines.len(), ROWS + 1);
        // The line from bottom left to top right, the threshold's row dashed where the
        // line is not, now's column dotted where nothing else is.
        assert_eq!(lines[0], "        60 ┤                   ┊      ⢀⡠⠔⠊");
        assert_eq!(lines[1], "    thr 50 ┤┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄⢀⡠⠔⠊⠁┄┄┄");
        assert_eq!(
            lines[ROWS - 1],
            "         0 ┤⡠⠔⠊⠁               ┊          "
        );
        assert_eq!(lines[ROWS], "            t0                now       t60");
        // Every plot row is 30 characters after the label.
        for line in &lines[..ROWS] {
            assert_eq!(line.chars().count(), LABEL + 2 + 30, "{line}");
        }
    }
}
