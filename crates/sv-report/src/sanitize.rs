//! Making model output safe to show: HTML escaping, defanging indicators, redaction and
//! truncation.
//!
//! Completions are hostile input (a red-team env asks for them to be). They only ever reach
//! the page through [`escape_html`], never as markup; and on top of that the page's
//! Content-Security-Policy allows only the report's own script (by hash), so even a missed
//! escape could not run code.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
/// C0 control characters other than tab/newline/carriage return become U+FFFD.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(https?|ftp|wss?)://([^\s/?#<>\x22']+)").expect("static regex")
    })
}

fn ipv4_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})\b").expect("static regex")
    })
}

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b")
            .expect("static regex")
    })
}

/// Defangs network indicators so they cannot be clicked or pasted by accident:
/// `http://evil.example/x` → `hxxp://evil[.]example/x`, `https` → `hxxps`, `ftp` → `fxp`,
/// `1.2.3.4` → `1.2.3[.]4`, `a@b.com` → `a[@]b[.]com`.
pub fn defang(s: &str) -> String {
    let s = url_re().replace_all(s, |c: &regex::Captures| {
        let scheme = &c[1];
        let lower = scheme.to_ascii_lowercase();
        let fanged = match lower.as_str() {
            "http" => "hxxp".to_string(),
            "https" => "hxxps".to_string(),
            "ftp" => "fxp".to_string(),
            other => format!("{other}[x]"),
        };
        let host = c[2].replace('.', "[.]");
        format!("{fanged}://{host}")
    });
    let s = email_re().replace_all(&s, |c: &regex::Captures| {
        format!("{}[@]{}", &c[1], c[2].replace('.', "[.]"))
    });
    // IPv4 addresses that the URL pass did not already touch.
    ipv4_re().replace_all(&s, "$1[.]$2").into_owned()
}

/// What to do with a row's text, from its `info` and the report's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Treatment {
    /// Hide the text (`info.redact: true`).
    pub redact: bool,
    /// Defang indicators (`info.defang: true`, the run's metadata, or `--defang`).
    pub defang: bool,
}

impl Treatment {
    /// `info.redact` / `info.defang` (booleans) decide, `force_defang` adds defanging.
    pub fn for_info(info: &Value, force_defang: bool) -> Treatment {
        let flag = |k: &str| info.get(k).and_then(Value::as_bool).unwrap_or(false);
        Treatment {
            redact: flag("redact"),
            defang: force_defang || flag("defang"),
        }
    }

    /// Applies redaction/defanging and truncation to `text` (not yet HTML-escaped).
    pub fn apply(&self, text: &str, max_chars: usize) -> String {
        if self.redact {
            return format!(
                "[redacted by the environment: {} characters]",
                text.chars().count()
            );
        }
        let t = truncate(text, max_chars);
        if self.defang {
            defang(&t)
        } else {
            t
        }
    }
}

/// The first `max_chars` characters of `s`, with a note of how much was cut.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((i, _)) => {
            let rest = s[i..].chars().count();
            format!("{}\n… [{rest} more characters]", &s[..i])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&\"\u{0}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\u{fffd}"
        );
    }

    #[test]
    fn defangs_urls_ips_emails() {
        assert_eq!(
            defang("get http://evil.example.com/a.b?x=1.2 now"),
            "get hxxp://evil[.]example[.]com/a.b?x=1.2 now"
        );
        assert_eq!(defang("HTTPS://x.org"), "hxxps://x[.]org");
        assert_eq!(defang("c2 at 10.0.13.37:443"), "c2 at 10.0.13[.]37:443");
        assert_eq!(defang("http://1.2.3.4/p"), "hxxp://1[.]2[.]3[.]4/p");
        assert_eq!(defang("mail bob@corp.example"), "mail bob[@]corp[.]example");
        assert_eq!(defang("version 1.2 of file.txt"), "version 1.2 of file.txt");
    }

    #[test]
    fn treatment_from_info() {
        let t = Treatment::for_info(&json!({"redact": true}), false);
        assert_eq!(
            t.apply("secret payload", 100),
            "[redacted by the environment: 14 characters]"
        );
        let t = Treatment::for_info(&json!({"defang": true}), false);
        assert_eq!(t.apply("see http://a.b", 100), "see hxxp://a[.]b");
        let t = Treatment::for_info(&Value::Null, false);
        assert_eq!(t.apply("see http://a.b", 100), "see http://a.b");
        assert_eq!(truncate("héllo wörld", 5), "héllo\n… [6 more characters]");
    }
}
