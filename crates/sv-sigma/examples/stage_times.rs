//! Per-stage timing of the reward path for given rule files: compile, evaluate, on one
//! thread (median of 7). `cargo run --release -p sv-sigma --example stage_times -- FILE...`
//! Used to find which stage dominates the p99 of `sv bench sigma`.

use std::time::Instant;
use sv_sigma::{Engine, EngineConfig};

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let data = sv_data::DataDir::resolve(None).expect("data folder");
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).expect("read");
        let (mut c, mut e, mut y) = (Vec::new(), Vec::new(), Vec::new());
        let mut n = 0;
        let reps: usize = std::env::var("SV_REPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8);
        for _ in 0..reps {
            let t = Instant::now();
            let docs = sv_sigma::yaml::load_documents(&text, &engine.config.limits);
            std::hint::black_box(docs.is_ok());
            y.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let rules = engine.compile_file(&text, &path).expect("compile").rules;
            c.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            n = 0;
            for r in &rules {
                n += r.evaluate(&store).expect("eval").len();
            }
            e.push(t.elapsed().as_secs_f64() * 1e6);
        }
        println!(
            "yaml {:>9.0} µs  compile {:>9.0} µs  eval {:>9.0} µs  matches {n:>4}  {}",
            med(y),
            med(c),
            med(e),
            path.rsplit('/').next().unwrap_or(&path)
        );
    }
}
