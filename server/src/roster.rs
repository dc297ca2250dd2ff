//! The district's roster file (调查底册): its column layout, and reading and writing it as CSV or
//! Excel (.xlsx).
//!
//! Reading validates every row before anything is returned: a file with any problem yields
//! [`RosterError`] listing all of them, with line numbers as the user sees them in Excel (the
//! header is line 1). Messages never quote a whole ID number.
//!
//! Reading is forgiving about layout: columns are found by header (any order, extra columns
//! ignored, 序号 optional, ASCII parentheses accepted), title rows above the header and blank rows
//! are skipped, and an empty 护理补贴 / 生活补贴 cell means 否.

use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Write};

use calamine::{Data, DataRef, Reader, Xlsx};
use doorstep_shared::demo::DemoDistrict;
use doorstep_shared::{CertificateNumber, DivisionCode, Person, PersonKeys, ResidentId};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use uuid::Uuid;

/// The roster's column headers, in file order.
pub const HEADERS: [&str; 11] = [
    "序号",
    "姓名",
    "身份证号",
    "残疾证号",
    "街道（乡镇）",
    "社区（村）",
    "社区代码",
    "住址",
    "联系电话",
    "护理补贴",
    "生活补贴",
];

/// The worksheet name written to, and preferred when reading.
pub const SHEET: &str = "调查底册";

// Positions in `HEADERS`.
const SEQ: usize = 0;
const NAME: usize = 1;
const ID: usize = 2;
const CERT: usize = 3;
const STREET: usize = 4;
const COMMUNITY_NAME: usize = 5;
const CODE: usize = 6;
const ADDRESS: usize = 7;
const PHONE: usize = 8;
const NURSING: usize = 9;
const LIVING: usize = 10;

/// How many leading rows are searched for the header row (title rows may sit above it).
const HEADER_SEARCH_ROWS: usize = 10;
/// How many problems [`RosterError`]'s `Display` lists.
const SHOWN_PROBLEMS: usize = 20;

/// One person on the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The line in the file, as Excel numbers it (header = 1). Writers ignore it: they number
    /// entries in order, so an entry at index `i` is written on line `i + 2`.
    pub line: usize,
    pub name: String,
    pub resident_id: ResidentId,
    pub certificate: CertificateNumber,
    pub street_name: String,
    pub community_name: String,
    /// The community's 12-digit division code.
    pub community: DivisionCode,
    pub address: String,
    pub phone: String,
    pub nursing_subsidy: bool,
    pub living_subsidy: bool,
}

impl RosterEntry {
    /// The roster person for a campaign whose keys are made by `keys` (its key is stable
    /// across re-imports).
    #[must_use]
    pub fn to_person(&self, campaign_id: Uuid, keys: &PersonKeys) -> Person {
        Person {
            id: keys.key(campaign_id, &self.resident_id),
            name: self.name.clone(),
            resident_id: self.resident_id.clone(),
            certificate: self.certificate.clone(),
            community: self.community.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            nursing_subsidy: self.nursing_subsidy,
            living_subsidy: self.living_subsidy,
        }
    }
}

/// The roster entries of a demo district, in its order (lines numbered from 2).
#[must_use]
pub fn entries_from_demo(demo: &DemoDistrict) -> Vec<RosterEntry> {
    let streets: HashMap<&DivisionCode, &str> = demo
        .streets
        .iter()
        .map(|s| (&s.code, s.name.as_str()))
        .collect();
    let places: HashMap<&DivisionCode, (&str, &str)> = demo
        .communities
        .iter()
        .map(|c| {
            let street = streets.get(&c.street).copied().unwrap_or_default();
            (&c.code, (street, c.name.as_str()))
        })
        .collect();
    demo.persons
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (street, community) = places.get(&p.community).copied().unwrap_or_default();
            RosterEntry {
                line: i + 2,
                name: p.name.clone(),
                resident_id: p.resident_id.clone(),
                certificate: p.certificate.clone(),
                street_name: street.to_string(),
                community_name: community.to_string(),
                community: p.community.clone(),
                address: p.address.clone(),
                phone: p.phone.clone(),
                nursing_subsidy: p.nursing_subsidy,
                living_subsidy: p.living_subsidy,
            }
        })
        .collect()
}

/// One problem in a roster file. `line` 0 means the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: usize,
    /// The column header concerned, or empty.
    pub column: String,
    pub message: String,
}

impl RowProblem {
    fn new(line: usize, column: &str, message: impl Into<String>) -> Self {
        Self {
            line,
            column: column.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column.is_empty()) {
            (0, _) => f.write_str(&self.message),
            (line, true) => write!(f, "第 {line} 行: {}", self.message),
            (line, false) => write!(f, "第 {line} 行 {}: {}", self.column, self.message),
        }
    }
}

/// Why a roster file was refused: every problem found, in line order. Nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterError {
    pub problems: Vec<RowProblem>,
}

impl RosterError {
    fn file(message: impl Into<String>) -> Self {
        Self {
            problems: vec![RowProblem::new(0, "", message)],
        }
    }
}

impl fmt::Display for RosterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "调查底册有 {} 处问题，未导入任何数据：",
            self.problems.len()
        )?;
        for p in self.problems.iter().take(SHOWN_PROBLEMS) {
            write!(f, "\n{p}")?;
        }
        if self.problems.len() > SHOWN_PROBLEMS {
            write!(
                f,
                "\n……另有 {} 处问题",
                self.problems.len() - SHOWN_PROBLEMS
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RosterError {}

fn yes_no(b: bool) -> &'static str {
    if b { "是" } else { "否" }
}

/// The cells of an entry's row, in [`HEADERS`] order; `seq` is its 序号.
fn row_cells(seq: usize, e: &RosterEntry) -> [String; 11] {
    [
        seq.to_string(),
        e.name.clone(),
        e.resident_id.to_string(),
        e.certificate.to_string(),
        e.street_name.clone(),
        e.community_name.clone(),
        e.community.to_string(),
        e.address.clone(),
        e.phone.clone(),
        yes_no(e.nursing_subsidy).to_string(),
        yes_no(e.living_subsidy).to_string(),
    ]
}

/// Writes the roster as UTF-8 CSV, with a BOM so that Excel opens it in the right encoding.
///
/// # Errors
/// Writing to `out` failed.
pub fn write_csv(entries: &[RosterEntry], mut out: impl Write) -> std::io::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADERS)?;
    for (i, e) in entries.iter().enumerate() {
        w.write_record(row_cells(i + 1, e))?;
    }
    w.flush()
}

/// Writes the roster as an Excel workbook: sheet 调查底册, bold header row, number columns
/// (IDs, codes, phones) formatted as text so Excel keeps every digit.
///
/// # Errors
/// More rows than a worksheet holds (1,048,575 entries).
pub fn write_xlsx(entries: &[RosterEntry]) -> Result<Vec<u8>, XlsxError> {
    const WIDTHS: [f64; 11] = [
        7.0, 10.0, 21.0, 23.0, 14.0, 14.0, 15.0, 40.0, 13.0, 9.0, 9.0,
    ];
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let sheet = workbook.add_worksheet();
    sheet.set_name(SHEET)?;
    for (col, (header, width)) in (0u16..).zip(HEADERS.iter().zip(WIDTHS)) {
        sheet.write_string_with_format(0, col, *header, &bold)?;
        sheet.set_column_width(col, width)?;
    }
    for col in [ID, CERT, CODE, PHONE] {
        sheet.set_column_format(xlsx_col(col), &text)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, e) in entries.iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        let cells = row_cells(i + 1, e);
        sheet.write_number(row, xlsx_col(SEQ), f64::from(row))?;
        for (col, cell) in cells.into_iter().enumerate().skip(1) {
            sheet.write_string(row, xlsx_col(col), cell)?;
        }
    }
    workbook.save_to_buffer()
}

fn xlsx_col(i: usize) -> u16 {
    u16::try_from(i).expect("roster has 11 columns")
}

/// Reads a roster file, choosing the format by the name's extension (`.csv` or `.xlsx`).
///
/// # Errors
/// Another extension, or any problem [`read_csv`] / [`read_xlsx`] finds.
pub fn read_file(name: &str, bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterError> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => read_csv(bytes),
        "xlsx" => read_xlsx(bytes),
        "xls" => Err(RosterError::file(
            "不支持旧版 Excel 文件（.xls），请在 Excel 中另存为 .xlsx 后再导入",
        )),
        _ => Err(RosterError::file(format!(
            "不支持的文件类型“{name}”：调查底册须为 .xlsx 或 .csv 文件"
        ))),
    }
}

/// One cell as read: its trimmed text, and whether the spreadsheet held it as a number.
#[derive(Clone)]
struct Cell {
    text: String,
    numeric: bool,
}

/// A row as read, with its line number in the file.
struct RawRow {
    line: usize,
    cells: Vec<Cell>,
}

/// Reads a UTF-8 CSV roster (a leading BOM is accepted).
///
/// # Errors
/// Every problem found; see the module docs.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        return Err(RosterError {
            problems: vec![RowProblem::new(
                line,
                "",
                "文件不是 UTF-8 编码（可能是 GBK）：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”，或直接导入 .xlsx",
            )],
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for record in reader.records() {
        // Lines are counted from the byte offset, as an editor shows them: the csv crate's own
        // line count misses Windows (CRLF) and old Mac (CR) line ends and blank lines.
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(bytes, p.byte()));
            RosterError {
                problems: vec![RowProblem::new(line, "", format!("CSV 格式错误：{e}"))],
            }
        })?;
        let line = record
            .position()
            .map_or(rows.len() + 1, |p| line_at(bytes, p.byte()));
        let cells = record
            .iter()
            .map(|s| Cell {
                text: s.trim().to_string(),
                numeric: false,
            })
            .collect();
        rows.push(RawRow { line, cells });
    }
    parse_rows(rows)
}

/// Reads an Excel (.xlsx) roster from the sheet 调查底册, or else the first sheet.
///
/// # Errors
/// Every problem found; see the module docs.
pub fn read_xlsx(bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterError> {
    let mut workbook = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| RosterError::file(format!("无法读取 Excel 文件：{e}")))?;
    let names = workbook.sheet_names();
    let sheet = names
        .iter()
        .find(|n| n.trim() == SHEET)
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| RosterError::file("Excel 文件中没有工作表"))?;
    // Cells are streamed, never laid out as a dense range: a file with one cell in A1 and one in
    // XFD1048576 would otherwise ask for billions of cells. Only the roster's columns are kept.
    let mut reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| RosterError::file(format!("无法读取工作表“{sheet}”：{e}")))?;
    let mut by_row: std::collections::BTreeMap<u32, Vec<(u32, Cell)>> =
        std::collections::BTreeMap::new();
    let mut cells = 0usize;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| RosterError::file(format!("无法读取工作表“{sheet}”：{e}")))?
    {
        let (row, col) = cell.get_position();
        let c = cell_of_ref(cell.get_value());
        if c.text.is_empty() || col >= MAX_COLUMNS {
            continue;
        }
        if row >= MAX_ROWS {
            return Err(RosterError::file(format!(
                "工作表“{sheet}”超过 {MAX_ROWS} 行，不像调查底册（第 {} 行有内容） / more than {MAX_ROWS} rows",
                row + 1
            )));
        }
        cells += 1;
        if cells > MAX_CELLS {
            return Err(RosterError::file(format!(
                "工作表“{sheet}”的单元格超过 {MAX_CELLS} 个 / more than {MAX_CELLS} cells"
            )));
        }
        by_row.entry(row).or_default().push((col, c));
    }
    let rows = by_row
        .into_iter()
        .map(|(row, cols)| {
            let width = cols.iter().map(|(c, _)| *c as usize + 1).max().unwrap_or(0);
            let mut dense = vec![
                Cell {
                    text: String::new(),
                    numeric: false,
                };
                width
            ];
            for (c, cell) in cols {
                dense[c as usize] = cell;
            }
            RawRow {
                line: row as usize + 1,
                cells: dense,
            }
        })
        .collect();
    parse_rows(rows)
}

/// The 1-based line of a byte offset: `\r\n`, `\n` and a lone `\r` each end a line.
fn line_at(bytes: &[u8], offset: u64) -> usize {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let head = &bytes[..end];
    let breaks = head
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && head.get(i + 1) != Some(&b'\n')))
        .count();
    1 + breaks
}

fn cell_of_ref(d: &DataRef<'_>) -> Cell {
    let (text, numeric) = match d {
        DataRef::Int(i) => (i.to_string(), true),
        // Whole numbers print without a decimal point or exponent.
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => (format!("{f:.0}"), true),
        DataRef::Float(f) => (f.to_string(), true),
        DataRef::Bool(b) => (yes_no(*b).to_string(), false),
        DataRef::Empty => (String::new(), false),
        DataRef::String(s) => (s.clone(), false),
        DataRef::SharedString(s) => ((*s).to_string(), false),
        other => (Data::from(other.clone()).to_string(), false),
    };
    Cell {
        text: text.trim().to_string(),
        numeric,
    }
}

/// A roster sheet's limits: beyond them a file is not a roster (and is refused, clearly).
const MAX_ROWS: u32 = 200_000;
const MAX_COLUMNS: u32 = 64;
const MAX_CELLS: usize = 2_000_000;

/// A header as compared: no spaces, full-width parentheses.
fn normalise_header(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            c => c,
        })
        .collect()
}

/// Finds the header row and checks every data row.
fn parse_rows(rows: Vec<RawRow>) -> Result<Vec<RosterEntry>, RosterError> {
    let rows: Vec<RawRow> = rows
        .into_iter()
        .filter(|r| r.cells.iter().any(|c| !c.text.is_empty()))
        .collect();
    let id_header = normalise_header(HEADERS[ID]);
    let header_at = rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| {
            r.cells
                .iter()
                .any(|c| normalise_header(&c.text) == id_header)
        })
        .unwrap_or(0);
    let Some(header) = rows.get(header_at) else {
        return Err(RosterError::file("文件是空的：没有表头，也没有数据行"));
    };

    // Column index in the file for each of HEADERS (序号 is optional).
    let mut columns = [None; HEADERS.len()];
    let mut problems = Vec::new();
    for (k, wanted) in HEADERS.iter().enumerate() {
        let wanted = normalise_header(wanted);
        columns[k] = header
            .cells
            .iter()
            .position(|c| normalise_header(&c.text) == wanted);
        if columns[k].is_none() && k != SEQ {
            problems.push(RowProblem::new(header.line, HEADERS[k], "缺少这一列"));
        }
    }
    if !problems.is_empty() {
        return Err(RosterError { problems });
    }
    let data = &rows[header_at + 1..];
    if data.is_empty() {
        return Err(RosterError::file("文件中没有数据行"));
    }

    let mut entries = Vec::with_capacity(data.len());
    let mut first_line_of: HashMap<ResidentId, usize> = HashMap::with_capacity(data.len());
    for row in data {
        let cell = |k: usize| columns[k].and_then(|i| row.cells.get(i));
        let text = |k: usize| cell(k).map_or("", |c| c.text.as_str());
        let mut problem = |k: usize, message: String| {
            problems.push(RowProblem::new(row.line, HEADERS[k], message))
        };
        // A long number stored as a spreadsheet number has lost its last digits.
        let numeric_hint = |k: usize| {
            if cell(k).is_some_and(|c| c.numeric) {
                "（该单元格是数字格式，长号码已丢失末几位：请把这一列设为文本格式后重新录入）"
            } else {
                ""
            }
        };

        let name = text(NAME);
        if name.is_empty() {
            problem(NAME, "姓名为空".into());
        }
        let resident_id = match ResidentId::parse(text(ID)) {
            Ok(id) => Some(id),
            Err(e) => {
                problem(ID, format!("{e}{}", numeric_hint(ID)));
                None
            }
        };
        let certificate = match CertificateNumber::parse(text(CERT)) {
            Ok(c) => Some(c),
            Err(e) => {
                problem(CERT, format!("{e}{}", numeric_hint(CERT)));
                None
            }
        };
        if let (Some(id), Some(cert)) = (&resident_id, &certificate)
            && cert.resident_id() != id
        {
            problem(CERT, "残疾证号的前 18 位与身份证号不一致".into());
        }
        let community = match DivisionCode::parse(text(CODE)) {
            Ok(code) if code.as_str().len() == 12 => Some(code),
            _ => {
                problem(
                    CODE,
                    format!(
                        "社区代码须为 12 位数字（统计用区划代码），实为“{}”",
                        text(CODE)
                    ),
                );
                None
            }
        };
        let mut flag = |k: usize| match text(k) {
            "是" => Some(true),
            "否" | "" => Some(false),
            other => {
                problem(k, format!("只能填“是”或“否”，实为“{other}”"));
                None
            }
        };
        let nursing_subsidy = flag(NURSING);
        let living_subsidy = flag(LIVING);
        if let Some(id) = &resident_id {
            if let Some(first) = first_line_of.get(id) {
                problem(ID, format!("与第 {first} 行的身份证号重复"));
            } else {
                first_line_of.insert(id.clone(), row.line);
            }
        }

        if let (
            Some(resident_id),
            Some(certificate),
            Some(community),
            Some(nursing_subsidy),
            Some(living_subsidy),
        ) = (
            resident_id,
            certificate,
            community,
            nursing_subsidy,
            living_subsidy,
        ) {
            entries.push(RosterEntry {
                line: row.line,
                name: name.to_string(),
                resident_id,
                certificate,
                street_name: text(STREET).to_string(),
                community_name: text(COMMUNITY_NAME).to_string(),
                community,
                address: text(ADDRESS).to_string(),
                phone: text(PHONE).to_string(),
                nursing_subsidy,
                living_subsidy,
            });
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(RosterError { problems })
    }
}

#[cfg(test)]
mod tests {
    use doorstep_shared::demo;

    use super::*;

    const CAMPAIGN: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_2025);

    fn demo_entries() -> Vec<RosterEntry> {
        entries_from_demo(&demo::generate(2025, CAMPAIGN))
    }

    fn csv_of(entries: &[RosterEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        write_csv(entries, &mut out).unwrap();
        out
    }

    /// A small valid CSV (no BOM) whose lines the tests then spoil.
    fn small_csv_lines() -> Vec<String> {
        let text = String::from_utf8(csv_of(&demo_entries()[..5])).unwrap();
        text.trim_start_matches('\u{feff}')
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn join(lines: &[String]) -> Vec<u8> {
        (lines.join("\n") + "\n").into_bytes()
    }

    #[test]
    fn demo_round_trips_through_csv_and_xlsx() {
        let entries = demo_entries();
        assert_eq!(entries.len(), 6_800);
        assert_eq!(entries[0].street_name, "城南街道");
        let from_csv = read_file("底册.csv", &csv_of(&entries)).unwrap();
        let from_xlsx = read_file("底册.XLSX", &write_xlsx(&entries).unwrap()).unwrap();
        assert_eq!(from_csv, entries);
        assert_eq!(from_xlsx, entries);
        let person = from_xlsx[0].to_person(CAMPAIGN, &PersonKeys::Derived);
        assert_eq!(person, demo::generate(2025, CAMPAIGN).persons[0]);
    }

    #[test]
    fn xlsx_has_the_sheet_the_headers_and_text_ids() {
        let entries = demo_entries();
        let bytes = write_xlsx(&entries[..3]).unwrap();
        let mut wb = Xlsx::new(Cursor::new(bytes)).unwrap();
        assert_eq!(wb.sheet_names(), vec![SHEET.to_string()]);
        let range = wb.worksheet_range(SHEET).unwrap();
        let header: Vec<String> = range
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(header, HEADERS);
        let id = range.get_value((1, ID as u32)).unwrap();
        assert_eq!(id, &Data::String(entries[0].resident_id.to_string()));
    }

    #[test]
    fn lines_are_the_lines_an_editor_shows_whatever_the_line_ends() {
        let mut lines = small_csv_lines();
        let id = demo_entries()[1].resident_id.to_string();
        let last = if id.ends_with('0') { '1' } else { '0' };
        // The third line of the file is bad.
        lines[2] = lines[2].replacen(&id, &format!("{}{last}", &id[..17]), 1);
        for end in ["\n", "\r\n", "\r"] {
            let text = lines.join(end) + end;
            let err = read_csv(text.as_bytes()).unwrap_err();
            assert_eq!(err.problems[0].line, 3, "{end:?}: {err}");
            // A blank line before it moves it down one.
            let mut with_blank = lines.clone();
            with_blank.insert(1, String::new());
            let text = with_blank.join(end) + end;
            let err = read_csv(text.as_bytes()).unwrap_err();
            assert_eq!(err.problems[0].line, 4, "{end:?} with a blank line: {err}");
        }
        let ok = read_csv((lines[..2].join("\r\n") + "\r\n").as_bytes()).unwrap();
        assert_eq!(ok[0].line, 2);
    }

    #[test]
    fn csv_with_a_bom_is_read_and_without_one_too() {
        let bytes = csv_of(&demo_entries()[..5]);
        assert!(bytes.starts_with("\u{feff}".as_bytes()));
        let with = read_csv(&bytes).unwrap();
        let without = read_csv(&bytes[3..]).unwrap();
        assert_eq!(with, without);
        assert_eq!(with.len(), 5);
        assert_eq!(with[4].line, 6);
    }

    #[test]
    fn one_bad_row_names_that_line_and_nothing_else() {
        let mut lines = small_csv_lines();
        // Line 4 of the file: break the resident ID's check character.
        let good = lines[3].clone();
        let id = demo_entries()[2].resident_id.to_string();
        let last = if id.ends_with('0') { '1' } else { '0' };
        let bad_id = format!("{}{last}", &id[..17]);
        lines[3] = good.replacen(&format!(",{id},"), &format!(",{bad_id},"), 1);
        let err = read_csv(&join(&lines)).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let p = &err.problems[0];
        assert_eq!((p.line, p.column.as_str()), (4, "身份证号"));
        assert!(p.message.contains("check character"), "{}", p.message);
        assert!(err.to_string().contains("第 4 行 身份证号: "), "{err}");
        assert!(
            !err.to_string().contains(&bad_id),
            "messages never quote an ID"
        );
    }

    #[test]
    fn every_kind_of_row_problem_is_reported() {
        let mut lines = small_csv_lines();
        let entries = demo_entries();
        let cell_swap = |line: &str, from: &str, to: &str| line.replacen(from, to, 1);
        // Line 2: empty name.
        lines[1] = cell_swap(&lines[1], &format!(",{},", entries[0].name), ",,");
        // Line 3: certificate of someone else, and a 9-digit community code.
        let other_cert = entries[4].certificate.to_string();
        lines[2] = cell_swap(&lines[2], &entries[1].certificate.to_string(), &other_cert);
        let code = entries[1].community.to_string();
        lines[2] = cell_swap(&lines[2], &code, &code[..9]);
        // Line 5: a bad certificate (category 9) and a bad 是/否.
        let cert = entries[3].certificate.to_string();
        lines[4] = cell_swap(
            &lines[4],
            &cert,
            &format!("{}9{}", &cert[..18], &cert[19..]),
        );
        let tail = if lines[4].ends_with(",是") {
            ",是"
        } else {
            ",否"
        };
        lines[4] = format!("{},有", lines[4].strip_suffix(tail).unwrap());
        let err = read_csv(&join(&lines)).unwrap_err();
        let got: Vec<(usize, &str)> = err
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "姓名"),
                (3, "残疾证号"),
                (3, "社区代码"),
                (5, "残疾证号"),
                (5, "生活补贴")
            ],
            "{err}"
        );
        assert!(err.problems[1].message.contains("不一致"));
        assert!(err.problems[4].message.contains("“有”"));
    }

    #[test]
    fn duplicate_ids_name_both_lines() {
        let mut lines = small_csv_lines();
        lines.push(lines[2].clone());
        let err = read_csv(&join(&lines)).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        let p = &err.problems[0];
        assert_eq!((p.line, p.column.as_str()), (7, "身份证号"));
        assert!(p.message.contains("第 3 行"), "{}", p.message);
    }

    #[test]
    fn missing_headers_are_listed() {
        let mut lines = small_csv_lines();
        lines[0] = lines[0].replace("社区代码", "代码").replace("姓名", "名字");
        let err = read_csv(&join(&lines)).unwrap_err();
        let cols: Vec<&str> = err.problems.iter().map(|p| p.column.as_str()).collect();
        assert_eq!(cols, vec!["姓名", "社区代码"]);
        assert!(err.problems.iter().all(|p| p.line == 1));
        assert!(read_csv(b"").is_err());
        let header_only = read_csv(&join(&small_csv_lines()[..1])).unwrap_err();
        assert_eq!(
            header_only.to_string(),
            "调查底册有 1 处问题，未导入任何数据：\n文件中没有数据行"
        );
    }

    #[test]
    fn title_rows_blank_rows_and_ascii_parentheses_are_tolerated() {
        let mut lines = small_csv_lines();
        lines[0] = lines[0].replace('（', "(").replace('）', ")");
        lines.insert(0, "大祥区残疾人动态更新调查底册,,,".into());
        lines.insert(3, ",,,,".into());
        let entries = read_csv(&join(&lines)).unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(
            entries.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 5, 6, 7, 8]
        );
    }

    #[test]
    fn numeric_id_cells_get_a_hint() {
        let mut wb = Workbook::new();
        let sheet = wb.add_worksheet();
        for (col, h) in (0u16..).zip(HEADERS) {
            sheet.write_string(0, col, h).unwrap();
        }
        let e = &demo_entries()[0];
        let cells = row_cells(1, e);
        for (col, cell) in (0u16..).zip(cells) {
            sheet.write_string(1, col, cell).unwrap();
        }
        let as_number: f64 = e.resident_id.as_str()[..17].parse().unwrap();
        sheet
            .write_number(1, xlsx_col(ID), as_number * 10.0)
            .unwrap();
        let err = read_xlsx(&wb.save_to_buffer().unwrap()).unwrap_err();
        let id_problem = err
            .problems
            .iter()
            .find(|p| p.column == "身份证号")
            .unwrap();
        assert_eq!(id_problem.line, 2);
        assert!(
            id_problem.message.contains("文本格式"),
            "{}",
            id_problem.message
        );
    }

    #[test]
    fn wrong_extension_and_bad_bytes_are_clear() {
        let err = read_file("底册.pdf", b"%PDF").unwrap_err();
        assert!(err.to_string().contains(".xlsx 或 .csv"), "{err}");
        assert!(
            read_file("底册.xls", b"")
                .unwrap_err()
                .to_string()
                .contains(".xls")
        );
        assert!(read_file("底册", b"").is_err());
        assert!(read_xlsx(b"not a zip").is_err());
        // GBK "姓名" is not UTF-8.
        let err = read_csv(b"\xd0\xd5\xc3\xfb\n").unwrap_err();
        assert_eq!(err.problems[0].line, 1);
        assert!(err.to_string().contains("UTF-8"));
    }

    #[test]
    fn display_lists_at_most_twenty_problems() {
        let problems = (2..40)
            .map(|line| RowProblem::new(line, "姓名", "姓名为空"))
            .collect();
        let text = RosterError { problems }.to_string();
        assert_eq!(text.lines().count(), 1 + 20 + 1);
        assert!(text.starts_with("调查底册有 38 处问题"));
        assert!(text.ends_with("……另有 18 处问题"));
    }
}
