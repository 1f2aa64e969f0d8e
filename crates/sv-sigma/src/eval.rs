//! Evaluation over the columnar event store.
//!
//! For each partition (Channel, EventID) that a rule's logsource branch selects, each
//! field matcher is run over the partition's column once per *distinct* interned value
//! (memoised), giving a row bitset; the condition then combines bitsets. Under Chainsaw
//! semantics the bitsets are three-valued (true / false / unknown-because-missing) so that
//! `not` over a missing field stays false, as in Chainsaw's tau engine.

use crate::engine::{CBranch, CExpr, CompiledRule};
use crate::error::EvalError;
use crate::keyword_scan::{self, SymSet};
use crate::matcher::{FieldMatcher, RefKind, Test, Val};
use crate::Semantics;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::time::Instant;
use sv_events::{EventIdx, EventStore, Partition, Sym, Value, ValueKind};

/// A fixed-size row bitset.
#[derive(Clone, Debug)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    fn zeros(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn ones(n: usize) -> Bits {
        let mut b = Bits(vec![u64::MAX; n.div_ceil(64)]);
        b.trim(n);
        b
    }
    fn trim(&mut self, n: usize) {
        let r = n % 64;
        if r != 0 {
            if let Some(last) = self.0.last_mut() {
                *last &= (1u64 << r) - 1;
            }
        }
    }
    #[inline]
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn and(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn or(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    fn andnot(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= !b);
    }
    fn not(&mut self, n: usize) {
        self.0.iter_mut().for_each(|a| *a = !*a);
        self.trim(n);
    }
    fn any(&self) -> bool {
        self.0.iter().any(|w| *w != 0)
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let t = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + t)
            })
        })
    }
}

/// Three-valued row set: `t` rows are true, `u` rows unknown (Chainsaw only), others false.
#[derive(Clone, Debug)]
pub(crate) struct Tri {
    t: Bits,
    u: Option<Bits>,
}

impl Tri {
    fn f(&self, n: usize) -> Bits {
        let mut f = self.t.clone();
        if let Some(u) = &self.u {
            f.or(u);
        }
        f.not(n);
        f
    }
}

/// `and` as tau-engine evaluates it, left to right: the first operand that is not true
/// decides (false or missing); with Sigma semantics nothing is ever missing and this is a
/// plain conjunction.
struct AndAcc {
    undecided: Bits,
    missing: Bits,
    any_missing: bool,
}

impl AndAcc {
    fn new(n: usize) -> AndAcc {
        AndAcc {
            undecided: Bits::ones(n),
            missing: Bits::zeros(n),
            any_missing: false,
        }
    }
    /// Adds an operand; true when the result can no longer change.
    fn push(&mut self, r: &Tri) -> bool {
        if let Some(u) = &r.u {
            let mut x = self.undecided.clone();
            x.and(u);
            self.missing.or(&x);
            self.any_missing = true;
        }
        self.undecided.and(&r.t);
        !self.undecided.any()
    }
    fn finish(self) -> Tri {
        Tri {
            t: self.undecided,
            u: self.any_missing.then_some(self.missing),
        }
    }
}

/// `or` as tau-engine evaluates it: true if any operand is true, missing only when every
/// operand is missing, false otherwise.
struct OrAcc {
    t: Bits,
    all_missing: Option<Bits>,
    first: bool,
}

impl OrAcc {
    fn new(n: usize) -> OrAcc {
        OrAcc {
            t: Bits::zeros(n),
            all_missing: None,
            first: true,
        }
    }
    fn push(&mut self, r: &Tri) {
        self.t.or(&r.t);
        if self.first {
            self.all_missing = r.u.clone();
            self.first = false;
        } else if let Some(m) = &mut self.all_missing {
            match &r.u {
                Some(u) => m.and(u),
                None => self.all_missing = None,
            }
        }
    }
    fn finish(self) -> Tri {
        let mut u = self.all_missing;
        if let Some(m) = &mut u {
            m.andnot(&self.t);
        }
        Tri { t: self.t, u }
    }
}

pub(crate) struct Budget {
    steps: u64,
    max_steps: u64,
    start: Instant,
    max_ms: u64,
}

impl Budget {
    pub(crate) fn new(max_steps: u64, max_ms: u64) -> Budget {
        Budget {
            steps: 0,
            max_steps,
            start: Instant::now(),
            max_ms,
        }
    }
    #[inline]
    fn step(&mut self) -> Result<(), EvalError> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(EvalError::StepBudget(self.max_steps));
        }
        if self.steps.is_multiple_of(1024) && self.start.elapsed().as_millis() as u64 > self.max_ms
        {
            return Err(EvalError::TimeBudget(self.max_ms));
        }
        Ok(())
    }
}

struct Ctx<'a> {
    store: &'a EventStore,
    part: &'a Partition,
    branch: &'a CBranch,
    rule: &'a CompiledRule,
    n: usize,
    budget: Budget,
    cache: HashMap<usize, Tri>,
    memos: Memos,
    /// Keyword searches use the arena scan (see [`prefer_arena_scan`]).
    arena_scan: bool,
}

/// Per-matcher answers for distinct values, kept for the whole evaluation of a rule (all
/// partitions): a dense table indexed by interned symbol, 2 bits per value class
/// (0 = not yet tested, 1 = no match, 2 = match). A test's answer depends only on the
/// value's symbol and class ([`val`]), so it is computed once per rule evaluation
/// instead of once per partition, and the lookup is an array index, not a hash.
///
/// Keyword searches over most of the store are answered instead by one scan of the
/// string arena per matcher ([`crate::keyword_scan`]), also kept for the whole evaluation.
#[derive(Default)]
struct Memos {
    values: HashMap<usize, Vec<u8>>,
    scans: HashMap<usize, Option<SymSet>>,
}

impl Memos {
    fn table(&mut self, m: &FieldMatcher, n_strings: usize) -> &mut Vec<u8> {
        self.values
            .entry(m as *const FieldMatcher as usize)
            .or_insert_with(|| vec![0; n_strings])
    }

    fn keyword_hits(&mut self, m: &FieldMatcher, store: &EventStore) -> Option<&SymSet> {
        self.scans
            .entry(m as *const FieldMatcher as usize)
            .or_insert_with(|| keyword_scan::folded_substring_hits(store.strings().arena(), m))
            .as_ref()
    }
}

/// True when a keyword search over these partitions is cheaper as one scan of the whole
/// string arena than as one test per distinct value. Measured on the shared corpus: a
/// per-value automaton call costs about as much as scanning 125 bytes of arena, and
/// partitions hold roughly one distinct value per 4 (row, key) cells.
fn prefer_arena_scan(store: &EventStore, parts: &[&Partition]) -> bool {
    let cells: usize = parts.iter().map(|p| p.len() * p.keys().len()).sum();
    cells * 32 >= store.strings().arena().0.len()
}

/// The value class that [`val`] distinguishes (number, string, null, other).
#[inline]
fn class(kind: ValueKind) -> u32 {
    match kind {
        ValueKind::Str => 0,
        ValueKind::Null => 1,
        k if k.is_number() => 2,
        _ => 3,
    }
}

#[inline]
fn memo_get(table: &[u8], v: Value) -> Option<bool> {
    let c = table.get(v.sym.0 as usize)? >> (2 * class(v.kind)) & 3;
    match c {
        0 => None,
        c => Some(c == 2),
    }
}

#[inline]
fn memo_set(table: &mut [u8], v: Value, r: bool) {
    if let Some(x) = table.get_mut(v.sym.0 as usize) {
        *x |= (1 + r as u8) << (2 * class(v.kind));
    }
}

fn val<'s>(store: &'s EventStore, v: Value) -> Val<'s> {
    let st = store.strings();
    Val {
        raw: st.get(v.sym),
        folded: st.folded(v.sym),
        number: st.number(v.sym),
        is_number: v.kind.is_number(),
        is_string: matches!(v.kind, ValueKind::Str | ValueKind::Null),
        is_null: v.kind == ValueKind::Null,
    }
}

impl CompiledRule {
    /// The (Channel, EventID) partitions of `store` that this rule's logsource selects
    /// (before the detection runs). `None` channel/EventID are events without them.
    pub fn partitions<'s>(&self, store: &'s EventStore) -> Vec<&'s Partition> {
        store
            .partitions()
            .filter(|p| self.branches.iter().any(|b| branch_selects(store, p, b)))
            .collect()
    }

    /// The events of `store` the logsource selects (before the detection runs), with the
    /// branch's extra conditions applied.
    pub fn logsource_events(&self, store: &EventStore) -> Result<RoaringBitmap, EvalError> {
        self.run(store, true)
    }

    /// Evaluates the rule: the set of matching (deduplicated) events.
    pub fn evaluate(&self, store: &EventStore) -> Result<RoaringBitmap, EvalError> {
        self.run(store, false)
    }

    fn run(&self, store: &EventStore, logsource_only: bool) -> Result<RoaringBitmap, EvalError> {
        let mut out = RoaringBitmap::new();
        let mut budget = Budget::new(self.limits.max_eval_steps, self.limits.max_eval_ms);
        let mut memos = Memos::default();
        let arena_scan = self.matchers.iter().any(|m| m.field.is_none())
            && prefer_arena_scan(store, &self.partitions(store));
        for part in store.partitions() {
            for b in &self.branches {
                if !branch_selects(store, part, b) {
                    continue;
                }
                let n = part.len();
                let mut ctx = Ctx {
                    store,
                    part,
                    branch: b,
                    rule: self,
                    n,
                    budget,
                    cache: HashMap::new(),
                    memos,
                    arena_scan,
                };
                let mut base = Bits::ones(n);
                for m in &b.extra {
                    let r = ctx.matcher(m, Semantics::Sigma)?;
                    base.and(&r.t);
                }
                if base.any() {
                    if !logsource_only {
                        let r = ctx.expr(&self.cond)?;
                        base.and(&r.t);
                    }
                    let ids = part.row_ids();
                    for i in base.iter() {
                        out.insert(ids[i].0);
                    }
                }
                budget = ctx.budget;
                memos = ctx.memos;
            }
        }
        Ok(out)
    }
}

fn branch_selects(store: &EventStore, p: &Partition, b: &CBranch) -> bool {
    if let Some(ids) = &b.branch.event_ids {
        match p.event_id {
            Some(id) if ids.contains(&id) => {}
            _ => return false,
        }
    }
    if let Some(chs) = &b.branch.channels {
        let Some(c) = p.channel else { return false };
        let name = store.strings().get(c);
        if !chs.iter().any(|x| x.eq_ignore_ascii_case(name)) {
            return false;
        }
    }
    true
}

impl Ctx<'_> {
    fn expr(&mut self, e: &CExpr) -> Result<Tri, EvalError> {
        match e {
            CExpr::Search(i) => self.search(*i),
            CExpr::Not(x) => {
                // tau: not(missing) is false.
                let r = self.expr(x)?;
                Ok(Tri {
                    t: r.f(self.n),
                    u: None,
                })
            }
            CExpr::And(xs) => {
                let mut acc = AndAcc::new(self.n);
                for x in xs {
                    let r = self.expr(x)?;
                    if acc.push(&r) {
                        break;
                    }
                }
                Ok(acc.finish())
            }
            CExpr::Or(xs) => {
                let mut acc = OrAcc::new(self.n);
                for x in xs {
                    let r = self.expr(x)?;
                    acc.push(&r);
                }
                Ok(acc.finish())
            }
        }
    }

    fn search(&mut self, i: usize) -> Result<Tri, EvalError> {
        let rule = self.rule;
        let mut or = OrAcc::new(self.n);
        for g in &rule.searches[i].groups {
            let mut and = AndAcc::new(self.n);
            for &mi in g {
                let r = self.matcher_cached(mi)?;
                if and.push(&r) {
                    break;
                }
            }
            or.push(&and.finish());
        }
        Ok(or.finish())
    }

    fn matcher_cached(&mut self, mi: usize) -> Result<Tri, EvalError> {
        if let Some(r) = self.cache.get(&mi) {
            return Ok(r.clone());
        }
        let rule = self.rule;
        let r = self.matcher(&rule.matchers[mi], rule.semantics)?;
        self.cache.insert(mi, r.clone());
        Ok(r)
    }

    /// Resolves a rule field name to the store key for this branch.
    fn key(&self, field: &str) -> Option<Sym> {
        let mut name = field;
        for (from, to) in &self.branch.branch.renames {
            if from == field {
                name = to;
            }
        }
        if let Some(map) = &self.rule.field_map {
            let to = map.iter().find(|(f, _)| f == name)?;
            return self.store.key(&to.1);
        }
        self.store.key(name)
    }

    fn matcher(&mut self, m: &FieldMatcher, sem: Semantics) -> Result<Tri, EvalError> {
        let n = self.n;
        let store = self.store;
        let part = self.part;
        let ids = part.row_ids();
        let mut t = Bits::zeros(n);
        let mut missing = Bits::zeros(n);
        let Some(field) = &m.field else {
            // Keyword search: any value of the event.
            if self.arena_scan {
                if let Some(hits) = self.memos.keyword_hits(m, store) {
                    let st = store.strings();
                    for (row, ev) in ids.iter().enumerate() {
                        let hit = store
                            .fields(*ev)
                            .iter()
                            .any(|(_, v)| hits.contains(st.folded_sym(v.sym).0) != m.neq);
                        if hit {
                            t.set(row);
                        }
                    }
                    return Ok(Tri { t, u: None });
                }
            }
            let memo = self.memos.table(m, store.strings().len());
            for (row, ev) in ids.iter().enumerate() {
                let mut hit = false;
                for (_, v) in store.fields(*ev) {
                    let r = match memo_get(memo, *v) {
                        Some(r) => r,
                        None => {
                            self.budget.step()?;
                            let r = m.match_value(&val(store, *v));
                            memo_set(memo, *v, r);
                            r
                        }
                    };
                    if r {
                        hit = true;
                        break;
                    }
                }
                if hit {
                    t.set(row);
                }
            }
            return Ok(Tri { t, u: None });
        };
        let key = self.key(field);
        let col = key.and_then(|k| part.column(k));
        let miss_val = m.match_missing(sem);
        let sem_missing = sem;
        let Some(col) = col else {
            return Ok(missing_all(n, miss_val, sem_missing));
        };
        let multi = key.is_some_and(|k| part.is_multi_valued(k));
        let fieldref = m.has_fieldref();
        let n_strings = store.strings().len();
        for (row, cell) in col.iter().enumerate() {
            let Some(v) = cell else {
                missing.set(row);
                continue;
            };
            let hit = if fieldref {
                self.budget.step()?;
                self.fieldref_row(m, ids[row], *v)
            } else if multi {
                let mut hit = false;
                for v in store.values(ids[row], key.unwrap_or(v.sym)) {
                    self.budget.step()?;
                    if m.match_value(&val(store, v)) {
                        hit = true;
                        break;
                    }
                }
                hit
            } else {
                let memo = self.memos.table(m, n_strings);
                match memo_get(memo, *v) {
                    Some(r) => r,
                    None => {
                        self.budget.step()?;
                        let r = m.match_value(&val(store, *v));
                        memo_set(memo, *v, r);
                        r
                    }
                }
            };
            if hit {
                t.set(row);
            }
        }
        if !missing.any() {
            return Ok(Tri { t, u: None });
        }
        if miss_val {
            t.or(&missing);
            return Ok(Tri { t, u: None });
        }
        match sem {
            Semantics::Sigma => Ok(Tri { t, u: None }),
            Semantics::Chainsaw => Ok(Tri {
                t,
                u: Some(missing),
            }),
        }
    }

    fn fieldref_row(&self, m: &FieldMatcher, ev: EventIdx, v: Value) -> bool {
        let store = self.store;
        let mine = val(store, v);
        let r = m.groups.iter().any(|g| {
            g.iter().any(|t| match t {
                Test::FieldRef { field, kind, cased } => {
                    let Some(k) = self.key(field) else {
                        return false;
                    };
                    let Some(o) = store.value(ev, k) else {
                        return false;
                    };
                    let other = val(store, o);
                    let (a, b) = if *cased {
                        (mine.raw, other.raw)
                    } else {
                        (mine.folded, other.folded)
                    };
                    match kind {
                        RefKind::Eq => a == b,
                        RefKind::Starts => a.starts_with(b),
                        RefKind::Ends => a.ends_with(b),
                        RefKind::Contains => a.contains(b),
                    }
                }
                other => other.matches(&mine),
            })
        });
        r != m.neq
    }
}

fn missing_all(n: usize, miss_val: bool, sem: Semantics) -> Tri {
    if miss_val {
        return Tri {
            t: Bits::ones(n),
            u: None,
        };
    }
    match sem {
        Semantics::Sigma => Tri {
            t: Bits::zeros(n),
            u: None,
        },
        Semantics::Chainsaw => Tri {
            t: Bits::zeros(n),
            u: Some(Bits::ones(n)),
        },
    }
}
