//! The per-rule reward latency of `sv bench sigma` (same library function, same rules and
//! corpus) without building the whole `sv` binary, plus the full-hunt detection count as a
//! result check. `cargo run --release -p sv-sigma --example reward_latency`

use sv_sigma::bench::{reward_latency, rule_files, LatencyConfig};
use sv_sigma::hunt::{self, HuntOptions};
use sv_sigma::{Engine, EngineConfig};

fn main() {
    let data = sv_data::DataDir::resolve(None).expect("data folder");
    let store = sv_sigma::bench::corpus_store(&data).unwrap();
    let engine = Engine::new(EngineConfig {
        data_dir: Some(data.root.clone()),
        ..EngineConfig::default()
    })
    .expect("engine");
    let dirs = data.sigma_rule_dirs().unwrap();
    let set = engine.load_paths(&dirs);
    let h = hunt::run(&store, &set, &HuntOptions::default(), None);
    println!("hunt rows: {}", h.rows(&store).len());
    let files = rule_files(&dirs);
    let r = reward_latency(
        &store,
        &engine,
        &files,
        &LatencyConfig::default(),
        &mut |_, _| {},
    );
    println!(
        "{} files, {} firing; median {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs, mean {:.1} µs",
        r.files, r.firing, r.median_us, r.p90_us, r.p99_us, r.max_us, r.mean_us
    );
    for x in r.rules.iter().take(12) {
        println!("{:>9.0} µs  {:>4}  {}", x.micros, x.matches, x.path);
    }
}
