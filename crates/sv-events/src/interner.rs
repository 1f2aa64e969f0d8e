//! The string arena: every key and value text is stored once and named by a [`Sym`].
//!
//! Beside each string it keeps, precomputed so matching never allocates:
//! - its case-folded form (`str::to_lowercase`, full Unicode), itself interned, so
//!   folded comparisons are symbol comparisons too;
//! - its numeric reading ([`Interner::number`]).

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use rayon::prelude::*;

use crate::value::Sym;

/// Interned strings with case-folded copies and numeric readings.
#[derive(Default, Clone)]
pub struct Interner {
    /// All strings back to back.
    pub(crate) text: String,
    /// `ends[i]` is the end offset of string `i` in `text` (its start is `ends[i-1]`).
    pub(crate) ends: Vec<u32>,
    /// `fold[i]` is the symbol of the lowercased form of string `i`.
    pub(crate) fold: Vec<u32>,
    /// Numeric reading of string `i`, `NaN` when it has none.
    pub(crate) numbers: Vec<f64>,
    /// Symbols by the hash of their text (the text itself lives only in `text`).
    pub(crate) table: HashTable<u32>,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("strings", &self.ends.len())
            .field("text_bytes", &self.text.len())
            .finish()
    }
}

fn str_at<'a>(text: &'a str, ends: &[u32], i: u32) -> &'a str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

fn hash(s: &str) -> u64 {
    xxh3_64(s.as_bytes())
}

impl Interner {
    /// The text of `s`. Panics only on a symbol from another store.
    pub fn get(&self, s: Sym) -> &str {
        str_at(&self.text, &self.ends, s.0)
    }

    /// The lowercased text of `s` (full Unicode lowercasing), for case-insensitive matching.
    pub fn folded(&self, s: Sym) -> &str {
        self.get(self.folded_sym(s))
    }

    /// The symbol of the lowercased text of `s` (equal to `s` when already lowercase).
    pub fn folded_sym(&self, s: Sym) -> Sym {
        Sym(self.fold[s.0 as usize])
    }

    /// The symbol of `text` if it occurs in the store (as a key, a value, or a folded form).
    pub fn lookup(&self, text: &str) -> Option<Sym> {
        self.table
            .find(hash(text), |&i| self.get(Sym(i)) == text)
            .map(|&i| Sym(i))
    }

    /// Every string back to back, and the end offset of each (string `i` spans
    /// `ends[i-1]..ends[i]`, the first starts at 0). For scanning all strings in one pass
    /// (a keyword search runs one automaton over the arena instead of one call per value).
    pub fn arena(&self) -> (&str, &[u32]) {
        (&self.text, &self.ends)
    }

    /// The number of interned strings (folded forms included).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The numeric reading of the text of `s`, precomputed: a decimal integer or a decimal
    /// float (optional sign, optional fraction and exponent, no surrounding spaces, finite),
    /// as Rust's `f64` parser reads it. Hexadecimal text such as `0x10` is **not** a
    /// number here (Sigma compares numbers by decimal value; hex fields such as `Keywords`
    /// or `Status` are matched as strings); use [`Interner::hex`] for those.
    pub fn number(&self, s: Sym) -> Option<f64> {
        let n = self.numbers[s.0 as usize];
        (!n.is_nan()).then_some(n)
    }

    /// The exact integer reading of a decimal integer text (`-12`, `4688`).
    pub fn integer(&self, s: Sym) -> Option<i128> {
        let t = self.get(s);
        is_decimal_integer(t).then(|| t.parse().ok()).flatten()
    }

    /// The value of a `0x`/`0X` hexadecimal text (`0x8020000000000000`), if it is one.
    pub fn hex(&self, s: Sym) -> Option<u64> {
        let t = self.get(s);
        let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
        if digits.is_empty() || digits.len() > 16 {
            return None;
        }
        u64::from_str_radix(digits, 16).ok()
    }

    /// Interns `text`, returning its symbol (existing or new).
    pub(crate) fn intern(&mut self, text: &str) -> Sym {
        if let Some(s) = self.lookup(text) {
            return s;
        }
        let id = self.push(text);
        let folded = fold(text);
        let f = match folded {
            None => id,
            Some(lower) => match self.lookup(&lower) {
                Some(j) => j.0,
                None => self.push(&lower),
            },
        };
        self.fold[id as usize] = f;
        Sym(id)
    }

    fn push(&mut self, text: &str) -> u32 {
        let id = self.ends.len() as u32;
        self.text.push_str(text);
        self.ends.push(self.text.len() as u32);
        self.fold.push(id);
        self.numbers.push(parse_number(text).unwrap_or(f64::NAN));
        let (all, ends) = (&self.text, &self.ends);
        self.table
            .insert_unique(hash(text), id, |&i| hash(str_at(all, ends, i)));
        id
    }

    /// Rebuilds the derived tables (numbers, lookup table) after a snapshot load.
    pub(crate) fn rebuild_derived(&mut self) {
        let n = self.ends.len();
        let (text, ends) = (&self.text, &self.ends);
        let (hashes, numbers): (Vec<u64>, Vec<f64>) = (0..n as u32)
            .into_par_iter()
            .map(|i| {
                let t = str_at(text, ends, i);
                (hash(t), parse_number(t).unwrap_or(f64::NAN))
            })
            .unzip();
        let mut table = HashTable::with_capacity(n);
        for (i, &h) in hashes.iter().enumerate() {
            table.insert_unique(h, i as u32, |&j| hashes[j as usize]);
        }
        self.table = table;
        self.numbers = numbers;
    }

    /// Bytes of heap memory held (approximate: capacities of the tables).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * 4
            + self.fold.capacity() * 4
            + self.numbers.capacity() * 8
            + self.table.capacity() * 5
    }
}

/// The lowercased form when it differs from `text`.
fn fold(text: &str) -> Option<String> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            Some(text.to_ascii_lowercase())
        } else {
            None
        }
    } else {
        let lower = text.to_lowercase();
        (lower != text).then_some(lower)
    }
}

fn is_decimal_integer(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Decimal integers and floats only: `[+-]digits[.digits][(e|E)[+-]digits]`.
pub(crate) fn parse_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut ndigits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        ndigits += i - frac_start;
    }
    if ndigits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_decimal_only() {
        assert_eq!(parse_number("4688"), Some(4688.0));
        assert_eq!(parse_number("-1.5e3"), Some(-1500.0));
        assert_eq!(parse_number("007"), Some(7.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        for bad in [
            "", "-", "0x10", "1e", "1.2.3", " 1", "1 ", "inf", "NaN", "1e999", ".",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fold_and_lookup() {
        let mut i = Interner::default();
        let a = i.intern("C:\\Windows\\CMD.exe");
        let b = i.intern("c:\\windows\\cmd.exe");
        assert_ne!(a, b);
        assert_eq!(i.folded_sym(a), b);
        assert_eq!(i.folded(a), "c:\\windows\\cmd.exe");
        assert_eq!(i.folded_sym(b), b);
        assert_eq!(i.lookup("C:\\Windows\\CMD.exe"), Some(a));
        assert_eq!(i.lookup("nope"), None);
        let u = i.intern("ÄÖ");
        assert_eq!(i.folded(u), "äö");
        let h = i.intern("0x8020000000000000");
        assert_eq!(i.hex(h), Some(0x8020000000000000));
        assert_eq!(i.number(h), None);
        let n = i.intern("-42");
        assert_eq!(i.integer(n), Some(-42));
        assert_eq!(i.number(n), Some(-42.0));
    }
}
