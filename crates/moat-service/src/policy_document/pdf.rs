//! The policy as a PDF (`pdf-writer`): A4 pages in the standard Helvetica and Courier
//! fonts (every PDF reader has them, so nothing is embedded), each statement wrapped to
//! the page with its configuration key under it. Text is written in WinAnsiEncoding:
//! Latin-1 letters and common punctuation as themselves, anything else as `?`.

use super::Document;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY: f32 = 10.0;
const KEY: f32 = 8.0;
const HEADING: f32 = 13.0;
const TITLE: f32 = 17.0;

const REGULAR: Name = Name(b"F1");
const BOLD: Name = Name(b"F2");
const MONO: Name = Name(b"F3");

/// Helvetica's advance widths (thousandths of the font size) for ' ' to '~'.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

fn width(text: &str, size: f32, font: Name) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match font {
            MONO => 600,
            _ => {
                let base = match c {
                    ' '..='~' => u32::from(HELVETICA[c as usize - 32]),
                    _ => 556,
                };
                // Helvetica-Bold runs a little wider than the regular face.
                if font == BOLD { base * 11 / 10 } else { base }
            }
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `text` in WinAnsiEncoding.
pub(super) fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '\u{2019}' => 0x92,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            '\u{2022}' => 0x95,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// Lines of at most `room` points, broken between words (a word longer than a line
/// is broken where it must be).
fn wrap(text: &str, size: f32, font: Name, room: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size, font) <= room {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut rest = word.to_string();
        while width(&rest, size, font) > room {
            let mut cut = rest.len();
            while cut > 1 && width(&rest[..cut], size, font) > room {
                cut = rest[..cut - 1]
                    .char_indices()
                    .last()
                    .map_or(1, |(i, c)| i + c.len_utf8());
            }
            lines.push(rest[..cut].to_string());
            rest = rest[cut..].to_string();
        }
        line = rest;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text laid out page by page.
struct Pages {
    pages: Vec<Content>,
    y: f32,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            pages: vec![Content::new()],
            y: HEIGHT - MARGIN,
        }
    }

    fn line(&mut self, text: &str, size: f32, font: Name, indent: f32) {
        let leading = size * 1.35;
        if self.y - leading < MARGIN {
            self.pages.push(Content::new());
            self.y = HEIGHT - MARGIN;
        }
        self.y -= leading;
        let content = self.pages.last_mut().expect("a page");
        content
            .begin_text()
            .set_font(font, size)
            .next_line(MARGIN + indent, self.y)
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    fn paragraph(&mut self, text: &str, size: f32, font: Name, indent: f32) {
        for line in wrap(text, size, font, WIDTH - 2.0 * MARGIN - indent) {
            self.line(&line, size, font, indent);
        }
    }

    fn gap(&mut self, points: f32) {
        self.y -= points;
    }
}

pub fn render(document: &Document) -> Vec<u8> {
    let title = format!("{}: AI coding-tool policy", document.org);
    let mut pages = Pages::new();
    pages.paragraph(&title, TITLE, BOLD, 0.0);
    pages.gap(6.0);
    pages.paragraph(&super::render::provenance(document), BODY, REGULAR, 0.0);
    pages.paragraph(super::render::PREAMBLE, BODY, REGULAR, 0.0);
    for (number, section) in document.sections.iter().enumerate() {
        pages.gap(10.0);
        pages.paragraph(
            &format!("{}. {}", number + 1, section.title),
            HEADING,
            BOLD,
            0.0,
        );
        pages.gap(2.0);
        for statement in &section.statements {
            pages.gap(4.0);
            let text = statement.text.replace('`', "");
            let mut lines = wrap(&text, BODY, REGULAR, WIDTH - 2.0 * MARGIN - 12.0).into_iter();
            if let Some(first) = lines.next() {
                pages.line(&format!("\u{2022}  {first}"), BODY, REGULAR, 0.0);
            }
            for line in lines {
                pages.line(&line, BODY, REGULAR, 12.0);
            }
            pages.paragraph(&format!("[{}]", statement.key), KEY, MONO, 12.0);
        }
    }

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    let fonts = [
        (REGULAR, Ref::new(4), "Helvetica"),
        (BOLD, Ref::new(5), "Helvetica-Bold"),
        (MONO, Ref::new(6), "Courier"),
    ];
    let first_page = 7;
    let count = pages.pages.len() as i32;
    let page_ids: Vec<Ref> = (0..count).map(|i| Ref::new(first_page + 2 * i)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(count);
    pdf.document_info(info)
        .title(TextStr(&title))
        .creator(TextStr("Moat (moat policy render)"));
    for (name, id, base) in fonts {
        let _ = name;
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (i, content) in pages.pages.into_iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .contents(content_id);
        let mut resources = page.resources();
        let mut font_map = resources.fonts();
        for (name, id, _) in fonts {
            font_map.pair(name, id);
        }
        font_map.finish();
        resources.finish();
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}
