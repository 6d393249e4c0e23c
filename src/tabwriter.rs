//! Go's text/tabwriter as kubeadm sets it up for its tables (minwidth 10, padding 3, padded with spaces,
//! no flags), so kinit's tables line up exactly as kubeadm's do, trailing spaces included.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Aligns `text`: cells end with a tab, lines with a newline. As in Go, the last cell of a line is not part
/// of any column, and a column block is a run of adjacent lines that all have a cell in that column, so a
/// line without tabs (an empty line) separates two tables.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format(&lines, &mut widths, 0, lines.len(), &mut out);
    out
}

/// Go's `Writer.format`: finds the blocks of the next column within lines `line0..line1`, sizes each,
/// and recurses for the columns to its right.
fn format(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut start = line0;
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, widths, start, this, out);
        start = this;
        let mut width = MIN_WIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format(lines, widths, start, this, out);
        widths.pop();
        start = this;
    }
    write_lines(lines, widths, start, line1, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], from: usize, to: usize, out: &mut String) {
    for (index, cells) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = widths.get(j) {
                let pad = width.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        if index + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_the_widest_cell_plus_padding_and_at_least_the_minimum() {
        let text = "A\tEXPIRES\tX\nlonger-name\tb\tc\n";
        assert_eq!(
            align(text),
            "A             EXPIRES   X\nlonger-name   b         c\n"
        );
    }

    #[test]
    fn an_empty_line_starts_a_new_table_and_empty_cells_still_pad() {
        let text = "wide-first-cell\tx\n!MISSING! a\t\t\n\nB\tY\n";
        assert_eq!(
            align(text),
            "wide-first-cell   x\n!MISSING! a                 \n\nB         Y\n"
        );
    }
}
