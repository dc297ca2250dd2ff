//! Tables as files: a header and rows of text cells, written as CSV (UTF-8 with a BOM, cells a
//! spreadsheet would run as formulas made inert) or as XLSX (a bold header, numbers as numbers).
//! The API's exports, the console's and the CLI's write through here.

use rust_xlsxwriter::{Format, Workbook};

/// A table: header and rows of text cells.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// CSV bytes (UTF-8 with BOM so Excel opens Chinese text correctly).
///
/// # Errors
/// Never in practice (writing to memory).
pub fn to_csv(t: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record(t.header.iter().map(|c| inert(c).into_owned()))?;
    for r in &t.rows {
        w.write_record(r.iter().map(|c| inert(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return
/// first) is written as text, with a leading apostrophe, as OWASP advises for CSV exports. (XLSX
/// cells are written as strings or numbers, never as formulas.)
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    let looks_like_number = cell.parse::<f64>().is_ok();
    match cell.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        Some('-') if !looks_like_number => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// XLSX bytes with a bold header; numeric cells written as numbers.
///
/// # Errors
/// An XLSX writer error.
pub fn to_xlsx(t: &Table, sheet: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    for (c, h) in t.header.iter().enumerate() {
        ws.write_string_with_format(0, u16::try_from(c).unwrap_or(u16::MAX), h, &bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, v) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            // Numbers stay numbers, but never long digit strings such as ID numbers or codes.
            match v.parse::<u32>() {
                Ok(n) if v.len() < 9 => ws.write_number(r, c, f64::from(n))?,
                _ => ws.write_string(r, c, v)?,
            };
        }
    }
    wb.save_to_buffer()
}
