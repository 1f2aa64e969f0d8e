use std::collections::{HashMap, HashSet};
fn main() {
    let data = sv_data::DataDir::resolve(None).expect("data folder");
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    let st = store.strings();
    let total: usize = (0..st.len() as u32)
        .map(|i| st.get(sv_events::Sym(i)).len())
        .sum();
    println!("strings {} bytes {}", st.len(), total);
    let mut per_key: HashMap<String, (HashSet<u32>, usize)> = HashMap::new();
    for p in store.partitions() {
        for &k in p.keys() {
            let e = per_key.entry(st.get(k).to_string()).or_default();
            for c in p.column(k).unwrap().iter().flatten() {
                if e.0.insert(c.sym.0) {
                    e.1 += st.get(c.sym).len();
                }
            }
        }
    }
    let mut v: Vec<_> = per_key
        .into_iter()
        .map(|(k, (s, b))| (b, s.len(), k))
        .collect();
    v.sort();
    v.reverse();
    for (b, n, k) in v.iter().take(15) {
        println!("{k:30} distinct {n:7} bytes {b:9}");
    }
}
