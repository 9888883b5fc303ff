//! Hangar's example corpus, produced by code: the same regulation-style
//! content rendered as Markdown, HTML, GB18030 text, XML, JSON, CSV, DOCX
//! and PDF, with a near-duplicate revision, an exact copy and a broken file,
//! so every data operator has something to show on a fresh machine.

pub mod content;
pub mod docx;
pub mod pdf;

use content::{PART_99, PART_TITLE, Section, ZH_PART_99, ZH_PART_TITLE};
use docx::Part;
use pdf::Block;

/// A file of the corpus: path relative to the corpus folder, and bytes.
pub type File = (String, Vec<u8>);

fn markdown(sections: &[Section]) -> String {
    let mut out = String::from(
        "---\ntitle: Part 99 Example Airworthiness Standards\ncategory: Example regulations\n---\n\n# Part 99. Example airworthiness standards: light electric airplanes\n**4 min read**\n\n<div>\n\n",
    );
    for s in sections {
        out.push_str(&format!("### §{}   {}\n\n", s.number, s.title));
        for p in s.paragraphs {
            // Markdown exports escape the paragraph letters, as real ones do.
            let escaped = p.replacen('(', "\\(", 1).replacen(')', "\\)", 1);
            out.push_str(&format!("{escaped}\n\n"));
        }
    }
    out.push_str("</div>\n");
    out
}

fn html(sections: &[Section]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Part 99 — Subparts C to F (example)</title>\n<style>body { font-family: serif; }</style></head>\n<body><nav><a href=\"/\">Home</a> | <a href=\"/part99\">Part 99</a></nav>\n<h1>Part 99 — Example Airworthiness Standards, Subparts C to F</h1>\n",
    );
    out.push_str(&format!("<p>From {PART_TITLE}.</p>\n"));
    for s in sections {
        out.push_str(&format!("<h2>§ {} {}</h2>\n<ul>\n", s.number, s.title));
        for p in s.paragraphs {
            out.push_str(&format!("<li>{}</li>\n", p.replace('&', "&amp;")));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Load factors at a glance</h2>\n<table><tr><th>Condition</th><th>Limit load factor</th></tr><tr><td>Positive maneuvering</td><td>3.8</td></tr><tr><td>Negative maneuvering</td><td>1.5</td></tr></table>\n<script>console.log('analytics')</script></body></html>\n");
    out
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
            '.' => '．',
            _ => c,
        })
        .collect()
}

fn xml(sections: &[Section]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DIV5 N=\"99\" TYPE=\"PART\">\n<HEAD>PART 99&#x2014;EXAMPLE AIRWORTHINESS STANDARDS: LIGHT ELECTRIC AIRPLANES</HEAD>\n<AUTH><HED>Authority:</HED><PSPACE>Example Aviation Act, sections 1 to 12.</PSPACE></AUTH>\n<DIV6 N=\"A\" TYPE=\"SUBPART\"><HEAD>Subpart A&#x2014;General</HEAD>\n",
    );
    for s in sections {
        out.push_str(&format!("<DIV8 N=\"{0}\" TYPE=\"SECTION\"><HEAD>&#xA7; {0} {1}</HEAD>\n", s.number, s.title));
        for p in s.paragraphs {
            out.push_str(&format!("<P>{}</P>\n", p.replace('&', "&amp;")));
        }
        out.push_str("</DIV8>\n");
    }
    out.push_str("</DIV6>\n</DIV5>\n");
    out
}

fn amendment_history() -> String {
    let records: Vec<serde_json::Value> = PART_99
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({
                "designator": format!("99-{}", i + 1),
                "title_at_amendment": s.title,
                "effective_date": format!("2025-0{}-01", i + 1),
                "text": s.paragraphs.join(" "),
            })
        })
        .collect();
    let value = serde_json::json!({"authority": "EXAMPLE", "part": "99", "amendments": records});
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn clause_index() -> String {
    let mut out = String::from("\u{feff}standard,article,title\n");
    for s in ZH_PART_99 {
        out.push_str(&format!("CCAR-99,{},{}\n", s.number, s.title));
    }
    out
}

fn directive_pdf(revision: bool) -> Vec<u8> {
    let ad = content::directive(revision);
    let mut blocks =
        vec![Block::heading(format!("AD No.: {}", ad.number)), Block::body(format!("Issued: {}", ad.issued))];
    for (i, p) in ad.paragraphs.iter().enumerate() {
        blocks.push(if i <= 1 { Block::heading(*p) } else { Block::body(*p) });
    }
    pdf::write(
        &format!("Airworthiness Directive {}", ad.number),
        "Example Airworthiness Authority — AD",
        &blocks,
        false,
    )
}

fn part_pdf_zh() -> Vec<u8> {
    let mut blocks = vec![Block::heading(full_width(ZH_PART_TITLE))];
    for s in ZH_PART_99 {
        blocks.push(Block::heading(format!("第{}条 {}", full_width(s.number), s.title)));
        for p in s.paragraphs {
            blocks.push(Block::body(full_width(p)));
        }
    }
    pdf::write(ZH_PART_TITLE, "示例规章 CCAR-99", &blocks, true)
}

fn maintenance_docx() -> Vec<u8> {
    let mut parts = Vec::new();
    for (heading, paragraphs) in content::MAINTENANCE {
        parts.push(Part::Heading(1, (*heading).to_owned()));
        for p in *paragraphs {
            parts.push(Part::Bullet((*p).to_owned()));
        }
    }
    parts.push(Part::Table(vec![
        vec!["Item".to_owned(), "Interval".to_owned()],
        vec!["Battery module visual inspection".to_owned(), "100 hours".to_owned()],
        vec!["Capacity check".to_owned(), "12 months".to_owned()],
    ]));
    docx::write(content::MAINTENANCE_TITLE, &parts)
}

fn special_conditions_docx() -> Vec<u8> {
    let mut parts = Vec::new();
    for s in content::ZH_SPECIAL_CONDITIONS {
        parts.push(Part::Heading(1, format!("第{}条 {}", s.number, s.title)));
        for p in s.paragraphs {
            parts.push(Part::Paragraph((*p).to_owned()));
        }
    }
    docx::write(content::ZH_SPECIAL_CONDITIONS_TITLE, &parts)
}

fn guidance_gb18030() -> Vec<u8> {
    let text = format!("{}\n\n{}\n", content::ZH_GUIDANCE_TITLE, content::ZH_GUIDANCE.join("\n"));
    let (bytes, _, _) = encoding_rs::GB18030.encode(&text);
    bytes.into_owned()
}

/// Every file of the example corpus, in a stable order.
pub fn corpus() -> Vec<File> {
    let first: &[Section] = &PART_99[..5];
    let second: &[Section] = &PART_99[5..];
    let part_md = markdown(first);
    vec![
        ("en/part99-subparts-a-b.md".to_owned(), part_md.clone().into_bytes()),
        ("en/part99-subparts-c-f.html".to_owned(), html(second).into_bytes()),
        ("en/part99-amendment-history.json".to_owned(), amendment_history().into_bytes()),
        ("en/part99-subpart-a.xml".to_owned(), xml(&PART_99[..3]).into_bytes()),
        ("en/ad-2026-0042.pdf".to_owned(), directive_pdf(false)),
        ("en/ad-2026-0042R1.pdf".to_owned(), directive_pdf(true)),
        ("en/battery-maintenance-guidance.docx".to_owned(), maintenance_docx()),
        ("zh/ccar-99.pdf".to_owned(), part_pdf_zh()),
        ("zh/ccar-99-clause-index.csv".to_owned(), clause_index().into_bytes()),
        ("zh/energy-storage-guidance-gb18030.txt".to_owned(), guidance_gb18030()),
        ("zh/sc-99-001-distributed-propulsion.docx".to_owned(), special_conditions_docx()),
        // An exact copy kept in a mirror folder, and a file that is not a PDF.
        ("mirror/part99-subparts-a-b.md".to_owned(), part_md.into_bytes()),
        ("broken/scanned-page.pdf".to_owned(), pdf::broken()),
        ("README.txt".to_owned(), README.as_bytes().to_vec()),
    ]
}

const README: &str = "Hangar example corpus\n\nRegulation-style documents written for Hangar's examples and tests (an invented Part 99 for light electric airplanes, in English and Chinese), rendered in every format the ingest operator reads. Generated by `cargo run -p hangar-examples --bin generate-examples`; do not edit by hand.\n";

#[cfg(test)]
mod tests {
    #[test]
    fn the_corpus_is_deterministic() {
        let a = super::corpus();
        let b = super::corpus();
        assert_eq!(a, b);
        assert!(a.iter().any(|(p, _)| p.ends_with(".docx")));
        assert!(a.iter().any(|(p, _)| p.ends_with(".pdf")));
    }

    #[test]
    fn gb18030_text_is_not_utf8() {
        let (_, bytes) = super::corpus().into_iter().find(|(p, _)| p.ends_with("gb18030.txt")).expect("file");
        assert!(std::str::from_utf8(&bytes).is_err());
    }
}
