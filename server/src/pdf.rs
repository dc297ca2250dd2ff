//! The keying checklist as a PDF: one A4 page per person, Chinese text in a CJK font embedded as a
//! subset of the glyphs the document uses (so the file opens and prints anywhere). The font is
//! read from the server's disk: `DOORSTEP_PDF_FONT` names an OpenType/TrueType file or collection
//! (`.ttc`); by default the Noto CJK fonts of Debian's `fonts-noto-cjk`. Without a font the PDF is
//! refused with a clear message; the printable HTML checklist never needs one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::service::handover::{Checklist, ChecklistPage, beijing};

/// The setting naming the font file.
pub const FONT_SETTING: &str = "DOORSTEP_PDF_FONT";

/// Fonts tried, in order, when the setting is not given.
const DEFAULT_FONTS: [&str; 3] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
];

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "没有可用的中文字体，无法生成PDF：请安装 fonts-noto-cjk，或用 DOORSTEP_PDF_FONT 指定字体文件（{0}）；网页版核对单可直接打印 / \
         no CJK font for the PDF: install fonts-noto-cjk or set DOORSTEP_PDF_FONT to a font file ({0}); the HTML checklist prints without one"
    )]
    NoFont(String),
    #[error("字体文件无法使用：{0} / the font cannot be used: {0}")]
    BadFont(String),
}

/// A font read from disk: its bytes and the face index within a collection.
pub struct FontFile {
    data: Vec<u8>,
    index: u32,
}

impl FontFile {
    /// The font the setting names, else the first default found.
    ///
    /// # Errors
    /// No font file, or one that does not parse.
    pub fn load() -> Result<Self, PdfError> {
        let candidates: Vec<PathBuf> = match std::env::var_os(FONT_SETTING) {
            Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
            _ => DEFAULT_FONTS.iter().map(PathBuf::from).collect(),
        };
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            PdfError::NoFont(
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
        Self::read(path)
    }

    /// Reads a font file; in a collection, takes the Simplified Chinese face (else the first).
    ///
    /// # Errors
    /// An unreadable file, or one that is not a font.
    pub fn read(path: &Path) -> Result<Self, PdfError> {
        let data = std::fs::read(path)
            .map_err(|e| PdfError::NoFont(format!("{}: {e}", path.display())))?;
        let n = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
        let index = (0..n)
            .find(|&i| {
                ttf_parser::Face::parse(&data, i).is_ok_and(|f| {
                    f.names().into_iter().any(|name| {
                        name.name_id == ttf_parser::name_id::FAMILY
                            && name.to_string().is_some_and(|s| s.ends_with(" SC"))
                    })
                })
            })
            .unwrap_or(0);
        ttf_parser::Face::parse(&data, index)
            .map_err(|e| PdfError::BadFont(format!("{}: {e}", path.display())))?;
        Ok(Self { data, index })
    }

    fn face(&self) -> ttf_parser::Face<'_> {
        ttf_parser::Face::parse(&self.data, self.index).expect("checked when loaded")
    }
}

/// One piece of text placed on a page (points from the bottom left).
struct Run {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

/// A laid-out page: text runs and horizontal rules.
#[derive(Default)]
struct Layout {
    runs: Vec<Run>,
    rules: Vec<(f32, f32, f32)>,
}

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const LEFT: f32 = 36.0;
const RIGHT: f32 = WIDTH - 36.0;
/// Columns: number, wording, answer, code, change against last year, keyed tick.
const COLS: [(f32, f32); 6] = [
    (LEFT, 34.0),
    (LEFT + 36.0, 208.0),
    (LEFT + 248.0, 150.0),
    (LEFT + 402.0, 56.0),
    (LEFT + 462.0, 34.0),
    (LEFT + 502.0, 20.0),
];

/// Breaks text into lines no wider than `width` at `size` (CJK text breaks anywhere).
fn wrap(face: &ttf_parser::Face<'_>, text: &str, size: f32, width: f32) -> Vec<String> {
    let scale = size / f32::from(face.units_per_em());
    let mut lines = vec![String::new()];
    let mut used = 0.0;
    for ch in text.chars() {
        let w = advance(face, ch) * scale;
        if used + w > width && !lines.last().is_some_and(String::is_empty) {
            lines.push(String::new());
            used = 0.0;
        }
        lines.last_mut().expect("one line").push(ch);
        used += w;
    }
    lines
}

fn advance(face: &ttf_parser::Face<'_>, ch: char) -> f32 {
    let gid = face.glyph_index(ch).unwrap_or(ttf_parser::GlyphId(0));
    f32::from(face.glyph_hor_advance(gid).unwrap_or(0))
}

/// Lays out one person's page: the rows shrink to fit when there are many.
fn layout(face: &ttf_parser::Face<'_>, title: &str, numbering: &str, p: &ChecklistPage) -> Layout {
    let mut out = Layout::default();
    let mut text = |x: f32, y: f32, size: f32, t: &str| {
        out.runs.push(Run {
            x,
            y,
            size,
            text: t.to_string(),
        });
    };
    text(LEFT, 806.0, 11.0, title);
    text(
        LEFT,
        790.0,
        8.0,
        &format!("{numbering} · 录入国家系统核对单"),
    );
    text(
        LEFT,
        770.0,
        10.0,
        &format!(
            "姓名：{}    残疾人证号：{}    身份证号：{}",
            p.name, p.certificate, p.resident_id
        ),
    );
    text(
        LEFT,
        755.0,
        9.0,
        &format!(
            "社区（村）：{} {}    调查结果：{}    记录状态：{}",
            p.community, p.community_name, p.outcome, p.state
        ),
    );
    let top = 736.0;
    for (i, h) in ["编号", "指标", "回答", "代码", "与去年比", "已录"]
        .iter()
        .enumerate()
    {
        text(COLS[i].0, top, 8.0, h);
    }
    let bottom = 70.0;
    let avail = top - 6.0 - bottom;
    let cells = |size: f32| -> Vec<[Vec<String>; 5]> {
        p.lines
            .iter()
            .map(|l| {
                [
                    wrap(face, &l.number, size, COLS[0].1),
                    wrap(face, &l.wording, size, COLS[1].1),
                    wrap(face, &l.answer, size, COLS[2].1),
                    wrap(face, &l.code, size, COLS[3].1),
                    wrap(face, &l.change, size, COLS[4].1),
                ]
            })
            .collect()
    };
    let height = |rows: &[[Vec<String>; 5]], size: f32| -> f32 {
        rows.iter().map(|r| row_height(r, size)).sum::<f32>()
    };
    let mut size = 9.0;
    let mut rows = cells(size);
    let needed = height(&rows, size);
    if needed > avail {
        size = (size * avail / needed).max(4.0);
        rows = cells(size);
    }
    let mut y = top - 4.0;
    out.rules.push((LEFT, RIGHT, y));
    for r in &rows {
        let h = row_height(r, size);
        for (c, lines) in r.iter().enumerate() {
            for (n, line) in lines.iter().enumerate() {
                #[allow(clippy::cast_precision_loss)]
                let ly = y - size * (1.05 + 1.2 * n as f32);
                out.runs.push(Run {
                    x: COLS[c].0,
                    y: ly,
                    size,
                    text: line.clone(),
                });
            }
        }
        out.runs.push(Run {
            x: COLS[5].0,
            y: y - size * 1.05,
            size,
            text: "□".into(),
        });
        y -= h;
        out.rules.push((LEFT, RIGHT, y));
    }
    let keyed = match &p.keyed {
        Some(m) => format!("已录入国家系统：{}，{}", m.by, beijing(m.at)),
        None => "未录入国家系统".to_string(),
    };
    out.runs.push(Run {
        x: LEFT,
        y: 48.0,
        size: 9.0,
        text: format!("{keyed}    录入人：__________    日期：__________"),
    });
    out.runs.push(Run {
        x: LEFT,
        y: 34.0,
        size: 7.0,
        text: "代码以“?”开头者官方代码未知，请按文字选项录入；空白表示该项按跳转规则不填。".into(),
    });
    out
}

fn row_height(r: &[Vec<String>; 5], size: f32) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let lines = r.iter().map(Vec::len).max().unwrap_or(1) as f32;
    size * (0.5 + 1.2 * lines)
}

/// The checklist as PDF bytes: one page per person (an empty checklist gives one page saying so).
///
/// # Errors
/// A font the subsetter cannot read.
pub fn checklist_pdf(checklist: &Checklist, font: &FontFile) -> Result<Vec<u8>, PdfError> {
    let face = font.face();
    let mut layouts: Vec<Layout> = checklist
        .pages
        .iter()
        .map(|p| layout(&face, &checklist.title, &checklist.numbering, p))
        .collect();
    if layouts.is_empty() {
        layouts.push(Layout {
            runs: vec![Run {
                x: LEFT,
                y: 800.0,
                size: 11.0,
                text: "没有需要录入的人员 / nobody to key".into(),
            }],
            rules: vec![],
        });
    }
    // The glyphs used, renumbered for the subset (0 stays .notdef).
    let mut remapper = subsetter::GlyphRemapper::new();
    let mut to_unicode: BTreeMap<u16, char> = BTreeMap::new();
    let mut glyph = |ch: char| -> u16 {
        let old = face.glyph_index(ch).map_or(0, |g| g.0);
        let new = remapper.remap(old);
        if old != 0 {
            to_unicode.entry(new).or_insert(ch);
        }
        new
    };
    let encoded: Vec<Vec<(f32, f32, f32, Vec<u8>)>> = layouts
        .iter()
        .map(|l| {
            l.runs
                .iter()
                .map(|r| {
                    let bytes = r
                        .text
                        .chars()
                        .flat_map(|ch| glyph(ch).to_be_bytes())
                        .collect();
                    (r.x, r.y, r.size, bytes)
                })
                .collect()
        })
        .collect();
    let subset = subsetter::subset(&font.data, font.index, &remapper)
        .map_err(|e| PdfError::BadFont(format!("{e:?}")))?;
    let sub_face =
        ttf_parser::RawFace::parse(&subset, 0).map_err(|e| PdfError::BadFont(e.to_string()))?;
    let cff = sub_face.table(ttf_parser::Tag::from_bytes(b"CFF "));
    let program = deflate(cff.unwrap_or(&subset));

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let type0 = Ref::new(3);
    let cid = Ref::new(4);
    let descriptor = Ref::new(5);
    let file = Ref::new(6);
    let cmap_ref = Ref::new(7);
    let first_page = 10;
    let page_ids: Vec<Ref> = (0..layouts.len())
        .map(|i| Ref::new(first_page + 2 * i32::try_from(i).unwrap_or(0)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(i32::try_from(page_ids.len()).unwrap_or(i32::MAX));
    let font_name = Name(b"DoorstepCJK");
    for ((l, runs), id) in layouts.iter().zip(&encoded).zip(&page_ids) {
        let content_id = Ref::new(id.get() + 1);
        let mut page = pdf.page(*id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
        page.parent(tree);
        page.contents(content_id);
        page.resources().fonts().pair(Name(b"F1"), type0);
        page.finish();
        let mut c = Content::new();
        c.set_line_width(0.3);
        for (x1, x2, y) in &l.rules {
            c.move_to(*x1, *y);
            c.line_to(*x2, *y);
        }
        c.stroke();
        for (x, y, size, bytes) in runs {
            c.begin_text();
            c.set_font(Name(b"F1"), *size);
            c.next_line(*x, *y);
            c.show(Str(bytes));
            c.end_text();
        }
        pdf.stream(content_id, &c.finish());
    }
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(type0)
        .base_font(font_name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap_ref);
    let upem = f32::from(face.units_per_em());
    let widths: Vec<f32> = remapper
        .remapped_gids()
        .map(|old| {
            f32::from(
                face.glyph_hor_advance(ttf_parser::GlyphId(old))
                    .unwrap_or(0),
            ) * 1000.0
                / upem
        })
        .collect();
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(if cff.is_some() {
            CidFontType::Type0
        } else {
            CidFontType::Type2
        })
        .base_font(font_name)
        .system_info(system_info)
        .font_descriptor(descriptor)
        .default_width(1000.0);
    if cff.is_none() {
        cid_font.cid_to_gid_map_predefined(Name(b"Identity"));
    }
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();
    let bbox = face.global_bounding_box();
    let s = 1000.0 / upem;
    let mut fd = pdf.font_descriptor(descriptor);
    fd.name(font_name)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            f32::from(bbox.x_min) * s,
            f32::from(bbox.y_min) * s,
            f32::from(bbox.x_max) * s,
            f32::from(bbox.y_max) * s,
        ))
        .italic_angle(0.0)
        .ascent(f32::from(face.ascender()) * s)
        .descent(f32::from(face.descender()) * s)
        .cap_height(f32::from(face.capital_height().unwrap_or(face.ascender())) * s)
        .stem_v(80.0);
    if cff.is_some() {
        fd.font_file3(file);
    } else {
        fd.font_file2(file);
    }
    fd.finish();
    let mut stream = pdf.stream(file, &program);
    stream.filter(Filter::FlateDecode);
    if cff.is_some() {
        stream.pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
    }
    stream.finish();
    let mut cmap = UnicodeCmap::new(Name(b"Doorstep-UTF16"), system_info);
    for (g, ch) in &to_unicode {
        cmap.pair(*g, *ch);
    }
    pdf.cmap(cmap_ref, &cmap.finish());
    Ok(pdf.finish())
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::handover::ChecklistLine;

    fn page(name: &str, lines: usize) -> ChecklistPage {
        ChecklistPage {
            person: name.into(),
            name: name.into(),
            community: "430503001001".into(),
            community_name: "北旗社区".into(),
            certificate: "430503**********1752".into(),
            resident_id: "430503********9617".into(),
            outcome: "入户调查".into(),
            state: "已提交待审核".into(),
            lines: (0..lines)
                .map(|i| ChecklistLine {
                    number: format!("R{i}"),
                    wording: "是否享受城乡最低生活保障（低保）以及其他很长的指标用语".into(),
                    answer: "社区和家庭康复指导、康复训练、辅助器具适配".into(),
                    code: "?社区和家庭康复指导,3".into(),
                    change: "变更".into(),
                })
                .collect(),
            keyed: None,
        }
    }

    #[test]
    fn a_missing_font_is_said_in_both_languages() {
        let Err(e) = FontFile::read(Path::new("/nonexistent/font.ttc")) else {
            panic!("no font file, no font");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("中文字体") && msg.contains("DOORSTEP_PDF_FONT"),
            "{msg}"
        );
    }

    #[test]
    fn a_page_per_person_however_long_the_questionnaire() {
        // Debian's fonts-noto-cjk, which the build machine has (DEFAULT_FONTS[0]).
        let font = FontFile::read(Path::new(DEFAULT_FONTS[0])).expect("fonts-noto-cjk installed");
        let face = font.face();
        assert!(
            face.glyph_index('残').is_some(),
            "the Simplified Chinese face"
        );
        let list = Checklist {
            title: "2021年动态1表".into(),
            numbering: "动态1表，2017 年编号".into(),
            // 60 long lines do not fit at 9 pt: the rows shrink and stay on one page.
            pages: vec![page("张三", 60), page("李四", 5)],
        };
        let bytes = checklist_pdf(&list, &font).unwrap();
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 2);
        let text = doc.extract_text(&[2]).unwrap();
        assert!(text.contains("李四") && text.contains("康复训练"), "{text}");
        // Only the glyphs used are embedded: far below the 16 MB collection.
        assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
        // No run of the long page falls below the bottom margin.
        let face = font.face();
        let l = layout(&face, &list.title, &list.numbering, &list.pages[0]);
        assert!(l.runs.iter().all(|r| r.y >= 30.0), "text below the margin");
    }
}
