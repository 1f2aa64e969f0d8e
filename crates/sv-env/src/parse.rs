//! Completion parsing shared by every environment: separate reasoning from the answer,
//! then take the answer's last fenced block of the expected language.
//!
//! Rules, in order:
//! 1. Inputs longer than [`FenceSpec::max_chars`] are rejected (bounded work).
//! 2. Reasoning is removed from the text: every `<think>…</think>` (also `<thinking>`),
//!    an unterminated `<think>` (everything after it is reasoning), and text before a
//!    lone `</think>` (templates that open the think block in the prompt). The removed
//!    text is joined with the message's `reasoning`/`reasoning_content` field.
//! 3. Fenced blocks are lines opening with three or more backticks or tildes (at most
//!    three spaces of indent) and closing with at least as many of the same character.
//!    The language is the first word of the info string, compared case-insensitively.
//! 4. The answer is the last block whose language is one of [`FenceSpec::languages`];
//!    failing that the last block with no language (when [`FenceSpec::accept_bare`]).
//!    Prose around it is ignored.
//! 5. Failing that: [`FenceSpec::accept_unfenced`] takes the whole answer text; otherwise
//!    a [`ParseError`] says what was seen.

use serde::Serialize;

/// What an environment expects its answer to look like.
#[derive(Debug, Clone)]
pub struct FenceSpec {
    /// Accepted fence languages, lowercase (e.g. `["yaml", "yml"]`).
    pub languages: Vec<String>,
    /// Accept a fence without a language. Default true.
    pub accept_bare: bool,
    /// With no usable fence, take the whole (reasoning-free) text. Default false.
    pub accept_unfenced: bool,
    /// Longest completion parsed, in bytes. Default 1 MiB.
    pub max_chars: usize,
}

impl FenceSpec {
    pub fn new(languages: &[&str]) -> Self {
        FenceSpec {
            languages: languages.iter().map(|l| l.to_ascii_lowercase()).collect(),
            accept_bare: true,
            accept_unfenced: false,
            max_chars: 1 << 20,
        }
    }

    /// ```` ```yaml ````, ```` ```yml ```` or a bare fence.
    pub fn yaml() -> Self {
        Self::new(&["yaml", "yml"])
    }

    /// ```` ```json ```` or a bare fence.
    pub fn json() -> Self {
        Self::new(&["json"])
    }
}

/// A parsed completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// The answer block's text (without the fence lines).
    pub body: String,
    /// The fence language as written (`None` for a bare fence or unfenced text).
    pub language: Option<String>,
    /// Reasoning from think tags and the separate field, joined by a blank line.
    pub reasoning: Option<String>,
    /// Fenced blocks seen in the answer text.
    pub blocks_seen: usize,
    /// True when the whole text was taken because no fence matched.
    pub unfenced: bool,
}

/// Why a completion has no answer. `Display` is the precise message for `info.error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("empty completion")]
    Empty,
    #[error("completion has {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the completion is only reasoning (inside <think>); no answer after it")]
    OnlyReasoning,
    #[error("no fenced block found; expected ```{expected}")]
    NoFence { expected: String },
    #[error("no ```{expected} block; saw fenced blocks tagged {seen}")]
    WrongLanguage { expected: String, seen: String },
    #[error("the ```{language} block opened on line {line} is never closed")]
    Unterminated { language: String, line: usize },
    #[error("the ```{language} block on line {line} is empty")]
    EmptyBlock { language: String, line: usize },
}

impl ParseError {
    /// A short machine-readable kind (`no_fence`, `too_large`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::TooLarge { .. } => "too_large",
            ParseError::OnlyReasoning => "only_reasoning",
            ParseError::NoFence { .. } => "no_fence",
            ParseError::WrongLanguage { .. } => "wrong_language",
            ParseError::Unterminated { .. } => "unterminated_fence",
            ParseError::EmptyBlock { .. } => "empty_block",
        }
    }

    /// `{"error": "...", "error_kind": "..."}` to merge into `Score::info`.
    pub fn to_info(&self) -> serde_json::Value {
        serde_json::json!({"error": self.to_string(), "error_kind": self.kind()})
    }
}

/// Splits reasoning from the answer text: `(answer, reasoning)`.
pub fn split_reasoning(text: &str) -> (String, Option<String>) {
    let mut answer = String::new();
    let mut reasoning: Vec<String> = Vec::new();
    let mut rest = text;
    // A lone closing tag before any opening one: everything before it is reasoning.
    if let Some(close) = find_tag(rest, true) {
        let open_before = find_tag(&rest[..close.0], false);
        if open_before.is_none() {
            push_nonempty(&mut reasoning, &rest[..close.0]);
            rest = &rest[close.1..];
        }
    }
    loop {
        match find_tag(rest, false) {
            None => {
                answer.push_str(rest);
                break;
            }
            Some((start, end)) => {
                answer.push_str(&rest[..start]);
                let after = &rest[end..];
                match find_tag(after, true) {
                    Some((cs, ce)) => {
                        push_nonempty(&mut reasoning, &after[..cs]);
                        rest = &after[ce..];
                    }
                    None => {
                        push_nonempty(&mut reasoning, after);
                        break;
                    }
                }
            }
        }
    }
    let reasoning = (!reasoning.is_empty()).then(|| reasoning.join("\n\n"));
    (answer, reasoning)
}

fn push_nonempty(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
}

/// Finds the first `<think>`/`<thinking>` (or the closing form), case-insensitively:
/// byte range of the tag.
fn find_tag(s: &str, closing: bool) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let prefix: &[u8] = if closing { b"</think" } else { b"<think" };
    let mut i = 0;
    while i + prefix.len() <= bytes.len() {
        let off = bytes[i..].iter().position(|&b| b == b'<')?;
        let at = i + off;
        if at + prefix.len() <= bytes.len()
            && bytes[at..at + prefix.len()].eq_ignore_ascii_case(prefix)
        {
            let mut end = at + prefix.len();
            if bytes.len() >= end + 3 && bytes[end..end + 3].eq_ignore_ascii_case(b"ing") {
                end += 3;
            }
            if bytes.get(end) == Some(&b'>') {
                return Some((at, end + 1));
            }
        }
        i = at + 1;
    }
    None
}

struct Block {
    language: Option<String>,
    body: String,
    line: usize,
    closed: bool,
}

/// Scans fenced blocks line by line (CommonMark-style fences).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize, Block)> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let indent = line.len() - line.trim_start_matches(' ').len();
        let trimmed = &line[indent..];
        let fence_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = fence_char.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match open.as_mut() {
            Some((c, n, block)) => {
                let closes = indent <= 3
                    && fence_char == Some(*c)
                    && run >= *n
                    && trimmed[run..].trim().is_empty();
                if closes {
                    if let Some((_, _, mut b)) = open.take() {
                        b.closed = true;
                        out.push(b);
                    }
                } else {
                    block.body.push_str(line);
                    block.body.push('\n');
                }
            }
            None => {
                if indent <= 3 && run >= 3 {
                    let c = fence_char.unwrap_or('`');
                    let info = trimmed[run..].trim();
                    if c == '`' && info.contains('`') {
                        continue; // inline code, not a fence
                    }
                    let language = info
                        .split(|ch: char| ch.is_whitespace() || ch == '{' || ch == ',')
                        .next()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string);
                    open = Some((
                        c,
                        run,
                        Block {
                            language,
                            body: String::new(),
                            line: idx + 1,
                            closed: false,
                        },
                    ));
                }
            }
        }
    }
    if let Some((_, _, b)) = open {
        out.push(b);
    }
    out
}

/// Parses `completion` (with the message's separate `reasoning` field, if any).
pub fn parse_completion(
    completion: &str,
    reasoning_field: Option<&str>,
    spec: &FenceSpec,
) -> Result<Parsed, ParseError> {
    if completion.len() > spec.max_chars {
        return Err(ParseError::TooLarge {
            len: completion.len(),
            max: spec.max_chars,
        });
    }
    let (answer, think) = split_reasoning(completion);
    let reasoning = match (
        reasoning_field.map(str::trim).filter(|s| !s.is_empty()),
        think,
    ) {
        (Some(f), Some(t)) => Some(format!("{f}\n\n{t}")),
        (Some(f), None) => Some(f.to_string()),
        (None, t) => t,
    };
    if answer.trim().is_empty() {
        return Err(if completion.trim().is_empty() {
            ParseError::Empty
        } else {
            ParseError::OnlyReasoning
        });
    }
    let expected = spec.languages.first().cloned().unwrap_or_default();
    let all = blocks(&answer);
    let matches_lang = |b: &Block| {
        b.language
            .as_deref()
            .is_some_and(|l| spec.languages.iter().any(|x| x.eq_ignore_ascii_case(l)))
    };
    let pick = all
        .iter()
        .rev()
        .find(|b| b.closed && matches_lang(b))
        .or_else(|| {
            spec.accept_bare
                .then(|| all.iter().rev().find(|b| b.closed && b.language.is_none()))
                .flatten()
        });
    if let Some(b) = pick {
        if b.body.trim().is_empty() {
            return Err(ParseError::EmptyBlock {
                language: b.language.clone().unwrap_or_default(),
                line: b.line,
            });
        }
        return Ok(Parsed {
            body: b.body.clone(),
            language: b.language.clone(),
            reasoning,
            blocks_seen: all.len(),
            unfenced: false,
        });
    }
    if spec.accept_unfenced && all.is_empty() {
        return Ok(Parsed {
            body: answer.trim().to_string(),
            language: None,
            reasoning,
            blocks_seen: 0,
            unfenced: true,
        });
    }
    // Explain what was there instead.
    if let Some(b) = all
        .iter()
        .rev()
        .find(|b| !b.closed && (matches_lang(b) || (spec.accept_bare && b.language.is_none())))
    {
        return Err(ParseError::Unterminated {
            language: b.language.clone().unwrap_or_default(),
            line: b.line,
        });
    }
    if all.is_empty() {
        return Err(ParseError::NoFence { expected });
    }
    let mut seen: Vec<String> = all
        .iter()
        .map(|b| b.language.clone().unwrap_or_else(|| "(none)".into()))
        .collect();
    seen.dedup();
    Err(ParseError::WrongLanguage {
        expected,
        seen: seen.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Result<Parsed, ParseError> {
        parse_completion(s, None, &FenceSpec::yaml())
    }

    #[test]
    fn takes_the_last_yaml_block_and_ignores_prose() {
        let p = yaml("Here is a draft:\n```yaml\na: 1\n```\nBetter:\n```yml\na: 2\n```\nDone.")
            .unwrap();
        assert_eq!(p.body, "a: 2\n");
        assert_eq!(p.language.as_deref(), Some("yml"));
        assert_eq!(p.blocks_seen, 2);
    }

    #[test]
    fn tagged_block_beats_a_later_bare_block() {
        let p = yaml("```yaml\nrule: 1\n```\nOutput looks like:\n```\nmatched 3\n```").unwrap();
        assert_eq!(p.body, "rule: 1\n");
        let p = yaml("```\nbare: 1\n```\n```python\nx=1\n```").unwrap();
        assert_eq!(p.body, "bare: 1\n");
        assert_eq!(p.language, None);
    }

    #[test]
    fn think_tags_are_reasoning() {
        let p = yaml("<think>try ```yaml\nwrong: 1\n```</think>\n```yaml\nright: 1\n```").unwrap();
        assert_eq!(p.body, "right: 1\n");
        assert_eq!(p.reasoning.as_deref(), Some("try ```yaml\nwrong: 1\n```"));
        // Field reasoning comes first, then think text.
        let p = parse_completion(
            "<THINKING>b</THINKING>```yaml\nx: 1\n```",
            Some("a"),
            &FenceSpec::yaml(),
        )
        .unwrap();
        assert_eq!(p.reasoning.as_deref(), Some("a\n\nb"));
    }

    #[test]
    fn unterminated_think_swallows_the_rest() {
        assert_eq!(
            yaml("<think>\n```yaml\nx: 1\n```"),
            Err(ParseError::OnlyReasoning)
        );
        let p = yaml("```yaml\nkept: 1\n```\n<think>more").unwrap();
        assert_eq!(p.body, "kept: 1\n");
        assert_eq!(p.reasoning.as_deref(), Some("more"));
    }

    #[test]
    fn lone_closing_tag_means_reasoning_before_it() {
        let p = yaml("I think that\n```yaml\nno: 1\n```\n</think>\n```yaml\nyes: 1\n```").unwrap();
        assert_eq!(p.body, "yes: 1\n");
        assert!(p.reasoning.unwrap().starts_with("I think that"));
    }

    #[test]
    fn precise_errors() {
        assert_eq!(yaml(""), Err(ParseError::Empty));
        assert_eq!(yaml("   \n"), Err(ParseError::Empty));
        assert_eq!(
            yaml("just prose, no rule"),
            Err(ParseError::NoFence {
                expected: "yaml".into()
            })
        );
        assert_eq!(
            yaml("```python\nx\n```\n```json\n{}\n```"),
            Err(ParseError::WrongLanguage {
                expected: "yaml".into(),
                seen: "python, json".into()
            })
        );
        assert_eq!(
            yaml("text\n```yaml\na: 1\nb: 2"),
            Err(ParseError::Unterminated {
                language: "yaml".into(),
                line: 2
            })
        );
        assert_eq!(
            yaml("```yaml\n\n  \n```"),
            Err(ParseError::EmptyBlock {
                language: "yaml".into(),
                line: 1
            })
        );
        let e = yaml("```yaml\na\n").unwrap_err();
        assert_eq!(e.to_info()["error_kind"], "unterminated_fence");
    }

    #[test]
    fn fence_details() {
        // Longer fences may contain shorter ones; tildes; CRLF; indented fences; info strings.
        let p = yaml("````yaml\na: |\n  ```\n  x\n  ```\n````").unwrap();
        assert_eq!(p.body, "a: |\n  ```\n  x\n  ```\n");
        assert_eq!(
            yaml("~~~YAML title=r\r\nk: v\r\n~~~\r\n").unwrap().body,
            "k: v\n"
        );
        assert_eq!(
            yaml("   ```yaml\n   k: v\n   ```").unwrap().body,
            "   k: v\n"
        );
        // Inline triple backticks are not fences.
        assert_eq!(
            yaml("use ```yaml``` fences"),
            Err(ParseError::NoFence {
                expected: "yaml".into()
            })
        );
    }

    #[test]
    fn unfenced_fallback_when_asked() {
        let spec = FenceSpec {
            accept_unfenced: true,
            ..FenceSpec::json()
        };
        let p = parse_completion("<think>x</think> {\"a\":1} ", None, &spec).unwrap();
        assert_eq!(p.body, "{\"a\":1}");
        assert!(p.unfenced);
    }

    #[test]
    fn garbage_and_huge_inputs_are_bounded() {
        let garbage: String = (0..5000u32)
            .map(|i| char::from_u32(0x20 + (i * 7919) % 0x2000).unwrap_or('?'))
            .collect();
        assert!(yaml(&garbage).is_err());
        assert!(yaml("<think<think></think</thinking>>```").is_err());
        assert!(yaml("\u{0}\u{1}```\u{0}").is_err());
        let huge = "a".repeat((1 << 20) + 1);
        assert_eq!(
            yaml(&huge),
            Err(ParseError::TooLarge {
                len: (1 << 20) + 1,
                max: 1 << 20
            })
        );
        // Many fences at the limit still parse in linear time.
        let many = "```yaml\nk: v\n```\n".repeat(50_000);
        assert_eq!(yaml(&many).unwrap().blocks_seen, 50_000);
        let opens = "<think>".repeat(100_000);
        assert_eq!(yaml(&opens), Err(ParseError::OnlyReasoning));
    }
}
