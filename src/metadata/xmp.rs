//! The XMP packet that carries the declaration, and a tolerant reader for the
//! few properties earmark cares about in packets written by anyone.
//!
//! One `rdf:Description` holds `plus:DataMining`, `plus:OtherConstraints`,
//! `tdm:reservation`, `tdm:policy`, `xmpRights:Marked`,
//! `xmpRights:UsageTerms`, `xmpRights:WebStatement` and `dc:rights`, as the
//! IPTC PLUS, W3C TDMRep and XMP Rights specifications name them.

use super::Declaration;

/// The `id` every XMP packet wrapper carries (XMP part 1, 7.3.2).
const PACKET_ID: &str = "W5M0MpCehiHzreSzNTczkc9d";

/// Escapes text for XML character data and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped rather than written.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn lang_alt(name: &str, text: &str) -> String {
    format!(
        "   <{name}>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    </rdf:Alt>\n   </{name}>\n",
        escape(text)
    )
}

/// The complete XMP packet (UTF-8, with the `<?xpacket?>` wrapper and some
/// padding so editors can grow it in place).
pub fn packet(decl: &Declaration) -> String {
    let policy = &decl.policy;
    let mut body = String::new();
    body.push_str(&format!(
        "   <plus:DataMining>{}</plus:DataMining>\n",
        escape(&policy.plus_data_mining)
    ));
    body.push_str(&lang_alt("plus:OtherConstraints", &policy.notice));
    body.push_str(&format!(
        "   <tdm:reservation>{}</tdm:reservation>\n",
        policy.tdm_reservation
    ));
    if let Some(url) = &policy.terms_url {
        body.push_str(&format!("   <tdm:policy>{}</tdm:policy>\n", escape(url)));
        body.push_str(&format!(
            "   <xmpRights:WebStatement>{}</xmpRights:WebStatement>\n",
            escape(url)
        ));
    }
    body.push_str(&format!(
        "   <xmpRights:Marked>{}</xmpRights:Marked>\n",
        if policy.tdm_reservation == 1 || decl.copyright.is_some() {
            "True"
        } else {
            "False"
        }
    ));
    body.push_str(&lang_alt("xmpRights:UsageTerms", &policy.notice));
    body.push_str(&lang_alt("dc:rights", &decl.rights_text()));
    let padding = format!("{}\n", " ".repeat(99)).repeat(20);
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"{PACKET_ID}\"?>\n\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"earmark {version}\">\n\
         \x20<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
         \x20 <rdf:Description rdf:about=\"\"\n\
         \x20   xmlns:plus=\"http://ns.useplus.org/ldf/xmp/1.0/\"\n\
         \x20   xmlns:tdm=\"http://www.w3.org/ns/tdmrep/\"\n\
         \x20   xmlns:xmpRights=\"http://ns.adobe.com/xap/1.0/rights/\"\n\
         \x20   xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
         {body}\
         \x20 </rdf:Description>\n\
         \x20</rdf:RDF>\n\
         </x:xmpmeta>\n\
         {padding}<?xpacket end=\"w\"?>",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// What an XMP packet says, as far as the declaration goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmpFields {
    /// `plus:DataMining`.
    pub data_mining: Option<String>,
    /// `tdm:reservation`.
    pub tdm_reservation: Option<String>,
    /// `tdm:policy`.
    pub tdm_policy: Option<String>,
    /// `dc:rights` (first language alternative).
    pub rights: Option<String>,
    /// `plus:OtherConstraints` (first language alternative).
    pub notice: Option<String>,
}

/// Finds property `name` written either as an element (`<name>v</name>`,
/// possibly wrapping an `rdf:Alt`) or as an attribute (`name="v"`).
fn property(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    if let Some(start) = xml.find(&open) {
        let rest = &xml[start + open.len()..];
        let end = rest.find(&format!("</{name}>"))?;
        let inner = &rest[..end];
        // A language alternative: take the first rdf:li's text.
        let text = match inner.find("<rdf:li") {
            Some(li) => {
                let after = &inner[li..];
                let gt = after.find('>')?;
                let close = after.find("</rdf:li>")?;
                after.get(gt + 1..close)?.to_string()
            }
            None => inner.trim().to_string(),
        };
        return Some(unescape(text.trim()));
    }
    for quote in ['"', '\''] {
        let attr = format!("{name}={quote}");
        if let Some(start) = xml.find(&attr) {
            let rest = &xml[start + attr.len()..];
            let end = rest.find(quote)?;
            return Some(unescape(&rest[..end]));
        }
    }
    None
}

/// Reads the declaration properties from a packet (any writer's).
pub fn parse(packet: &str) -> XmpFields {
    XmpFields {
        data_mining: property(packet, "plus:DataMining"),
        tdm_reservation: property(packet, "tdm:reservation"),
        tdm_policy: property(packet, "tdm:policy"),
        rights: property(packet, "dc:rights"),
        notice: property(packet, "plus:OtherConstraints"),
    }
}

/// Whether `bytes` look like an XMP packet (or a bare `x:xmpmeta`).
pub fn looks_like_xmp(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    text.contains("<?xpacket") || text.contains("x:xmpmeta")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Policy, PolicyKind};

    #[test]
    fn packet_round_trips_through_the_reader() {
        let mut policy = Policy::from_kind(PolicyKind::SearchOnly);
        policy.terms_url = Some("https://example.org/terms?a=1&b=2".into());
        let decl = Declaration {
            policy: policy.clone(),
            copyright: Some("2026 A & B <Band>. All rights reserved.".into()),
        };
        let p = packet(&decl);
        assert!(p.starts_with("<?xpacket begin=\"\u{feff}\""));
        assert!(p.ends_with("<?xpacket end=\"w\"?>"));
        let f = parse(&p);
        assert_eq!(
            f.data_mining.as_deref(),
            Some(policy.plus_data_mining.as_str())
        );
        assert_eq!(f.tdm_reservation.as_deref(), Some("1"));
        assert_eq!(
            f.tdm_policy.as_deref(),
            Some("https://example.org/terms?a=1&b=2")
        );
        assert_eq!(f.rights, Some(decl.rights_text()));
        assert!(decl
            .rights_text()
            .starts_with("2026 A & B <Band>. All rights reserved. "));
        assert_eq!(f.notice.as_deref(), Some(policy.notice.as_str()));
    }

    #[test]
    fn reads_attribute_form_written_by_other_tools() {
        let xml = "<rdf:Description plus:DataMining='http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED' tdm:reservation=\"1\"/>";
        let f = parse(xml);
        assert_eq!(
            f.data_mining.as_deref(),
            Some("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED")
        );
        assert_eq!(f.tdm_reservation.as_deref(), Some("1"));
        assert_eq!(f.tdm_policy, None);
    }

    #[test]
    fn control_characters_are_not_written() {
        let policy = Policy {
            notice: "bad\u{1}text".into(),
            ..Policy::default()
        };
        let p = packet(&Declaration {
            policy,
            copyright: None,
        });
        assert!(!p.contains('\u{1}'));
        assert!(p.contains("badtext"));
    }
}
