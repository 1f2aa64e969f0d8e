//! Running an evaluation: select tasks, run rollouts concurrently, append rows as they
//! finish, summarise; and resuming a run that stopped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sv_env::rng::{rollout_seed, SplitMix64};
use sv_env::{Environment, Episode, Registry, ReplayBook, Step, Task};
use sv_models::{ClientConfig, Sampling};
use tokio::task::JoinSet;

use crate::agent::{build_agent, Agent, AgentTurn, TurnRequest};
use crate::error::HarnessError;
use crate::progress::Progress;
use crate::rundir::{
    self, check_rows, drop_error_rows, git_meta, now_rfc3339, read_metadata, read_rows,
    run_dir_path, write_json_atomic, Counts, EnvMeta, HostMeta, Metadata, ModelMeta, ResumeMeta,
    Row, RowWriter, Selection, Tokens, METADATA, RESULTS, RUN_FORMAT, SUMMARY,
};
use crate::summary::{summarize, Summary};

/// What to run.
pub struct EvalSpec {
    pub env: Arc<dyn Environment>,
    /// The config file the environment's config came from, if any.
    pub config_source: Option<PathBuf>,
    pub agent: Arc<dyn Agent>,
    pub split: String,
    /// Keep the first `n` tasks of a seeded shuffle.
    pub n: Option<usize>,
    /// Exactly these task ids, in this order.
    pub tasks: Option<Vec<String>>,
    pub seed: u64,
    /// Rollouts per task; `None`: 1, or as many as a replay file holds.
    pub rollouts: Option<u32>,
    /// Rollouts in flight at once (at least 1).
    pub concurrency: usize,
    /// Parent of the `<env>--<model>` folders (default `outputs/evals`).
    pub out_dir: PathBuf,
    /// The command line, for the record.
    pub command: Vec<String>,
}

/// A finished (or interrupted) run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub summary: Summary,
    /// `complete` or `interrupted`.
    pub status: String,
}

/// Versions of the tools that produced a run.
fn tool_versions() -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    m.insert("sv-harness".into(), env!("CARGO_PKG_VERSION").into());
    if let Ok(out) = std::process::Command::new("rustc")
        .arg("--version")
        .output()
    {
        if out.status.success() {
            m.insert(
                "rustc".into(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            );
        }
    }
    m
}

/// The ordered task list of a run (rules in `docs/harness.md`).
pub fn select_tasks(
    env: &dyn Environment,
    split: &str,
    n: Option<usize>,
    ids: Option<&[String]>,
    seed: u64,
    replay: Option<&ReplayBook>,
) -> Result<Vec<Task>, HarnessError> {
    let pool = env.tasks(split)?;
    let by_id = |wanted: &[String]| -> Result<Vec<Task>, HarnessError> {
        let mut all: Vec<Task> = pool.clone();
        for s in env.splits() {
            if s != split {
                all.extend(env.tasks(&s)?);
            }
        }
        let index: std::collections::HashMap<&str, &Task> =
            all.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(wanted.len());
        for id in wanted {
            if !seen.insert(id.as_str()) {
                return Err(HarnessError::Selection(format!(
                    "task {id} is listed twice"
                )));
            }
            let t = index.get(id.as_str()).ok_or_else(|| {
                HarnessError::Selection(format!(
                    "no task {id} in {} (split {split} starts with: {})",
                    env.id(),
                    pool.iter()
                        .take(3)
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            out.push((*t).clone());
        }
        Ok(out)
    };
    if let Some(ids) = ids {
        if n.is_some() {
            return Err(HarnessError::Selection(
                "give --n or --tasks, not both".into(),
            ));
        }
        return by_id(ids);
    }
    if n.is_none() {
        if let Some(book) = replay {
            return by_id(&book.task_order);
        }
    }
    let mut tasks = pool;
    if tasks.is_empty() {
        return Err(HarnessError::Selection(format!(
            "split {split} of {} has no tasks",
            env.id()
        )));
    }
    if let Some(n) = n {
        if n == 0 {
            return Err(HarnessError::Selection("--n must be at least 1".into()));
        }
        SplitMix64::new(seed).shuffle(&mut tasks);
        tasks.truncate(n);
    }
    Ok(tasks)
}

struct Ctx {
    env: Arc<dyn Environment>,
    agent: Arc<dyn Agent>,
    run_id: String,
    seed: u64,
}

fn error_row(
    ctx: &Ctx,
    task: &Task,
    rollout: u32,
    prompt: Vec<sv_chat::Message>,
    error: String,
) -> Row {
    Row {
        run_id: ctx.run_id.clone(),
        task_id: task.id.clone(),
        rollout,
        split: task.split.clone(),
        category: task.category.clone(),
        prompt,
        completion: None,
        reasoning: None,
        transcript: Vec::new(),
        tool_calls: Vec::new(),
        turns: 0,
        stop: None,
        reward: 0.0,
        valid: false,
        components: Default::default(),
        metrics: Default::default(),
        confidence: None,
        tokens: Tokens::default(),
        latency_ms: 0.0,
        score_ms: 0.0,
        cost_usd: None,
        cached: false,
        error: Some(error),
        info: serde_json::Value::Object(Default::default()),
    }
}

/// Runs `f` where blocking is allowed: in place on a multi-threaded runtime when the
/// environment says its work is heavy, directly otherwise.
fn env_work<T>(heavy: bool, f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if heavy && multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// One rollout, start to row.
async fn rollout(ctx: Arc<Ctx>, task: Arc<Task>, r: u32) -> Row {
    let env: &dyn Environment = &*ctx.env;
    let heavy = env.cpu_heavy();
    let seed = rollout_seed(ctx.seed, &task.id, r);
    let mut ep = Episode::new(env, &task);
    let mut tokens = Tokens::default();
    let mut latency_ms = 0.0;
    let mut cost: Option<f64> = Some(0.0);
    let mut cached = true;
    let mut score_ms = 0.0;
    loop {
        let req = TurnRequest {
            env,
            task: &task,
            rollout: r,
            seed,
            episode: &ep,
        };
        // Built-in policies answer synchronously: no boxed future per turn.
        let turn: Result<AgentTurn, String> = match ctx.agent.as_builtin() {
            Some(b) => b.respond(&req),
            None => ctx.agent.turn(req).await,
        };
        let turn = match turn {
            Ok(t) => t,
            Err(e) => {
                let mut row = error_row(&ctx, &task, r, ep.trajectory().prompt.clone(), e);
                let traj = ep.finish();
                row.turns = traj.turns;
                row.transcript = traj.transcript;
                row.tokens = tokens;
                row.latency_ms = latency_ms;
                row.cost_usd = cost;
                return row;
            }
        };
        tokens.prompt += turn.tokens.prompt;
        tokens.completion += turn.tokens.completion;
        tokens.reasoning += turn.tokens.reasoning;
        latency_ms += turn.latency_ms;
        cost = match (cost, turn.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        cached &= turn.cached;
        let t0 = Instant::now();
        let step = env_work(heavy, || ep.step(turn.message));
        score_ms += t0.elapsed().as_secs_f64() * 1e3;
        if let Step::Done(_) = step {
            break;
        }
    }
    let traj = ep.finish();
    let t0 = Instant::now();
    let score = env_work(heavy, || env.score(&task, &traj));
    score_ms += t0.elapsed().as_secs_f64() * 1e3;
    let is_builtin = ctx.agent.as_builtin().is_some();
    let mut row = Row {
        run_id: ctx.run_id.clone(),
        task_id: task.id.clone(),
        rollout: r,
        split: task.split.clone(),
        category: task.category.clone(),
        completion: Some(traj.completion().to_string()),
        reasoning: traj.reasoning().map(str::to_string),
        tool_calls: traj.all_tool_calls().cloned().collect(),
        turns: traj.turns,
        stop: Some(traj.stop),
        reward: score.reward,
        valid: score.valid,
        components: Default::default(),
        metrics: Default::default(),
        confidence: score.confidence,
        tokens,
        latency_ms,
        score_ms,
        cost_usd: cost,
        cached: cached && !is_builtin,
        error: None,
        info: serde_json::Value::Null,
        prompt: traj.prompt,
        transcript: traj.transcript,
    };
    match score.check() {
        Ok(()) => {
            row.components = score.components;
            row.metrics = score.metrics;
            row.info = score.info;
        }
        Err(e) => {
            row.reward = 0.0;
            row.valid = false;
            row.confidence = None;
            row.error = Some(format!("environment returned an invalid score: {e}"));
            row.info = score.info;
        }
    }
    row
}

/// Runs `todo` with at most `concurrency` rollouts in flight, writing each row as it
/// finishes. Returns `(rows written, errors, interrupted)`.
async fn execute(
    ctx: Arc<Ctx>,
    todo: Vec<(Arc<Task>, u32)>,
    concurrency: usize,
    writer: &mut RowWriter,
    progress: &dyn Progress,
) -> Result<(usize, usize, bool), HarnessError> {
    let concurrency = concurrency.max(1);
    let mut pending = todo.into_iter();
    let mut set: JoinSet<Row> = JoinSet::new();
    let mut keys = std::collections::HashMap::new();
    let (mut written, mut errors) = (0usize, 0usize);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        while set.len() < concurrency {
            let Some((task, r)) = pending.next() else {
                break;
            };
            let key = (Arc::clone(&task), r);
            let handle = set.spawn(rollout(Arc::clone(&ctx), task, r));
            keys.insert(handle.id(), key);
        }
        let joined = tokio::select! {
            j = set.join_next_with_id() => j,
            _ = &mut ctrl_c => {
                set.abort_all();
                while set.join_next().await.is_some() {}
                return Ok((written, errors, true));
            }
        };
        let row = match joined {
            None => break,
            Some(Ok((id, row))) => {
                keys.remove(&id);
                row
            }
            Some(Err(e)) => {
                let Some((task, r)) = keys.remove(&e.id()) else {
                    continue;
                };
                let what = if e.is_panic() {
                    let p = e.into_panic();
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(non-text panic)".into())
                } else {
                    "cancelled".into()
                };
                error_row(
                    &ctx,
                    &task,
                    r,
                    Vec::new(),
                    format!("rollout panicked: {what}"),
                )
            }
        };
        writer.write(&row)?;
        written += 1;
        errors += usize::from(row.error.is_some());
        progress.row(row.reward, row.error.is_some());
    }
    Ok((written, errors, false))
}

fn finish(
    run_dir: &Path,
    mut meta: Metadata,
    status: &str,
    wall_s: f64,
) -> Result<RunOutcome, HarnessError> {
    let rows = read_rows(&run_dir.join(RESULTS), false)?.rows;
    meta.status = status.into();
    meta.finished_at = Some(now_rfc3339());
    meta.counts.done = rows.len();
    meta.counts.errors = rows.iter().filter(|r| r.error.is_some()).count();
    let summary = summarize(
        &meta.run_id,
        &meta.env.id,
        &meta.model.spec,
        &meta.model.slug,
        &rows,
        wall_s,
    );
    write_json_atomic(&run_dir.join(SUMMARY), &summary)?;
    write_json_atomic(&run_dir.join(METADATA), &meta)?;
    Ok(RunOutcome {
        run_dir: run_dir.to_path_buf(),
        summary,
        status: status.into(),
    })
}

fn plan(tasks: &[Task], rollouts: u32, done: &HashSet<(String, u32)>) -> Vec<(Arc<Task>, u32)> {
    let mut todo = Vec::with_capacity(tasks.len() * rollouts as usize);
    for t in tasks {
        let t = Arc::new(t.clone());
        for r in 0..rollouts {
            if !done.contains(&(t.id.clone(), r)) {
                todo.push((Arc::clone(&t), r));
            }
        }
    }
    todo
}

/// Starts a new run.
pub async fn run_eval(spec: EvalSpec, progress: &dyn Progress) -> Result<RunOutcome, HarnessError> {
    let started = Instant::now();
    let env = Arc::clone(&spec.env);
    let tasks = select_tasks(
        &*env,
        &spec.split,
        spec.n,
        spec.tasks.as_deref(),
        spec.seed,
        spec.agent.replay(),
    )?;
    let rollouts = spec
        .rollouts
        .or_else(|| spec.agent.replay().map(ReplayBook::rollouts))
        .unwrap_or(1);
    if rollouts == 0 {
        return Err(HarnessError::Selection(
            "--rollouts must be at least 1".into(),
        ));
    }
    let run_id = rundir::new_run_id();
    let slug = crate::agent::agent_slug(&*spec.agent);
    let run_dir = run_dir_path(&spec.out_dir, &env.id().name, &slug, &run_id);
    std::fs::create_dir_all(&run_dir).map_err(|e| HarnessError::io(&run_dir, e))?;
    let config = env.config().clone();
    let meta = Metadata {
        format: RUN_FORMAT.into(),
        run_id: run_id.clone(),
        status: "running".into(),
        env: EnvMeta {
            name: env.id().name.clone(),
            version: env.id().version,
            id: env.id().to_string(),
            description: env.description().to_string(),
            config_sha256: config.sha256(),
            config,
            config_source: spec.config_source.as_ref().map(|p| p.display().to_string()),
            dataset: env.dataset().clone(),
        },
        model: ModelMeta {
            spec: spec.agent.spec().to_string(),
            kind: spec.agent.kind().to_string(),
            name: spec.agent.name(),
            slug,
            sampling: spec.agent.sampling(),
        },
        selection: Selection {
            split: spec.split.clone(),
            n: spec.n,
            tasks: spec.tasks.clone(),
            seed: spec.seed,
            rollouts,
            task_ids: tasks.iter().map(|t| t.id.clone()).collect(),
        },
        concurrency: spec.concurrency.max(1),
        command: spec.command.clone(),
        git: git_meta(),
        tools: tool_versions(),
        host: HostMeta::current(),
        started_at: now_rfc3339(),
        finished_at: None,
        resumes: Vec::new(),
        counts: Counts {
            tasks: tasks.len(),
            planned: tasks.len() * rollouts as usize,
            done: 0,
            errors: 0,
        },
    };
    write_json_atomic(&run_dir.join(METADATA), &meta)?;
    let mut writer = RowWriter::open_append(&run_dir.join(RESULTS))?;
    let todo = plan(&tasks, rollouts, &HashSet::new());
    let ctx = Arc::new(Ctx {
        env,
        agent: spec.agent,
        run_id,
        seed: spec.seed,
    });
    progress.start(
        &format!("{} {}", meta.env.id, meta.model.spec),
        todo.len() as u64,
        0,
    );
    let (_, _, interrupted) = execute(ctx, todo, spec.concurrency, &mut writer, progress).await?;
    progress.finish();
    writer.sync()?;
    let status = if interrupted {
        "interrupted"
    } else {
        "complete"
    };
    finish(&run_dir, meta, status, started.elapsed().as_secs_f64())
}

/// How to rebuild what a resumed run needs.
pub struct ResumeSources<'a> {
    pub registry: &'a Registry,
    pub data_dir: Option<&'a Path>,
    pub client: &'a ClientConfig,
}

/// How to resume a run.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Rollouts in flight at once; `None` keeps the recorded value.
    pub concurrency: Option<usize>,
    /// Also run again the rollouts whose rows ended in an error (their rows are removed
    /// from `results.jsonl` first, so every rollout still has exactly one row).
    pub retry_errors: bool,
}

/// Resumes `run_dir`, building the environment from the registry (with the exact
/// recorded config) and the agent from the recorded model spec and sampling.
pub async fn resume_eval(
    run_dir: &Path,
    sources: &ResumeSources<'_>,
    options: &ResumeOptions,
    progress: &dyn Progress,
) -> Result<RunOutcome, HarnessError> {
    let meta = read_metadata(run_dir)?;
    let entry = sources.registry.get(&meta.env.id)?;
    let loaded = sources.registry.build_with(
        entry,
        meta.env.config.clone(),
        meta.env.config_source.as_deref().map(Path::new),
        sources.data_dir,
    )?;
    let sampling: Sampling = match &meta.model.sampling {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| HarnessError::Resume {
            dir: run_dir.to_path_buf(),
            reason: format!("recorded sampling is unreadable: {e}"),
        })?,
        None => Sampling::default(),
    };
    let agent = build_agent(&meta.model.spec, &sampling, sources.client)?;
    resume_with_options(run_dir, loaded.env, agent, options, progress).await
}

/// Resumes `run_dir` with an environment and agent the caller built.
pub async fn resume_with(
    run_dir: &Path,
    env: Arc<dyn Environment>,
    agent: Arc<dyn Agent>,
    concurrency: Option<usize>,
    progress: &dyn Progress,
) -> Result<RunOutcome, HarnessError> {
    let options = ResumeOptions {
        concurrency,
        retry_errors: false,
    };
    resume_with_options(run_dir, env, agent, &options, progress).await
}

/// [`resume_with`] with all the [`ResumeOptions`].
pub async fn resume_with_options(
    run_dir: &Path,
    env: Arc<dyn Environment>,
    agent: Arc<dyn Agent>,
    options: &ResumeOptions,
    progress: &dyn Progress,
) -> Result<RunOutcome, HarnessError> {
    let concurrency = options.concurrency;
    let started = Instant::now();
    let bad = |reason: String| HarnessError::Resume {
        dir: run_dir.to_path_buf(),
        reason,
    };
    let mut meta = read_metadata(run_dir)?;
    if env.id().to_string() != meta.env.id {
        return Err(bad(format!(
            "the run is {}, the environment is {}",
            meta.env.id,
            env.id()
        )));
    }
    if env.dataset().sha256 != meta.env.dataset.sha256 {
        return Err(bad(format!(
            "the dataset changed since the run started (sha256 {} then, {} now): rebuild the recorded data or start a new run",
            meta.env.dataset.sha256,
            env.dataset().sha256
        )));
    }
    if env.config().sha256() != meta.env.config_sha256 {
        return Err(bad(
            "the environment config differs from the recorded one".into()
        ));
    }
    if agent.spec() != meta.model.spec {
        return Err(bad(format!(
            "the run used model {}, not {}",
            meta.model.spec,
            agent.spec()
        )));
    }
    let mut back = read_rows(&run_dir.join(RESULTS), true)?;
    check_rows(&back.rows, &meta.selection).map_err(bad)?;
    let mut errors_retried = 0;
    if options.retry_errors {
        errors_retried = drop_error_rows(&run_dir.join(RESULTS))?;
        back.rows.retain(|r| r.error.is_none());
    }
    let done = check_rows(&back.rows, &meta.selection).map_err(bad)?;
    let ids: Vec<String> = meta.selection.task_ids.clone();
    let tasks = select_tasks(
        &*env,
        &meta.selection.split,
        None,
        Some(&ids),
        meta.selection.seed,
        None,
    )?;
    let todo = plan(&tasks, meta.selection.rollouts, &done);
    meta.resumes.push(ResumeMeta {
        at: now_rfc3339(),
        rows_kept: back.rows.len(),
        torn_bytes_dropped: back.torn_bytes,
        errors_retried,
    });
    meta.status = "running".into();
    meta.finished_at = None;
    if let Some(c) = concurrency {
        meta.concurrency = c.max(1);
    }
    write_json_atomic(&run_dir.join(METADATA), &meta)?;
    let mut writer = RowWriter::open_append(&run_dir.join(RESULTS))?;
    let ctx = Arc::new(Ctx {
        env,
        agent,
        run_id: meta.run_id.clone(),
        seed: meta.selection.seed,
    });
    progress.start(
        &format!("{} {}", meta.env.id, meta.model.spec),
        meta.counts.planned as u64,
        back.rows.len() as u64,
    );
    let (_, _, interrupted) = execute(ctx, todo, meta.concurrency, &mut writer, progress).await?;
    progress.finish();
    writer.sync()?;
    let status = if interrupted {
        "interrupted"
    } else {
        "complete"
    };
    finish(run_dir, meta, status, started.elapsed().as_secs_f64())
}
