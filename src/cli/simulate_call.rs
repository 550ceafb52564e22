//! `agentlocator simulate-call`: call a running instance as Twilio would,
//! with WAV files as the caller, and print what the caller felt.
//!
//! Stdout is JSON lines: one `{"event":"turn",…}` per caller turn with its
//! caller-felt latency, then one `{"event":"call",…}`; with `--calls N`, one
//! `{"event":"summary",…}` instead, which also says how punctually the
//! simulator itself sent (send lateness, its CPU). With `--duration-s D`
//! each call keeps talking for D seconds, going round its `--audio` files.
//! Each turn and call line gives the longest silence the caller heard, and
//! the summary its median and p95. When the agent transfers the call,
//! `--human` says whether the dialled human answers; the call line then
//! carries the transfer (whisper heard, dial status, what came after).
//! The work lives in `callsim`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use callsim::{CallReport, HumanAnswer, SimMode, SimOptions, simulate_call, simulate_many};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use serde_json::json;
use url::Url;

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// Where the instance listens, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: Url,
    /// The dialled number (picks the business), E.164. Repeat it to spread
    /// `--calls` over several numbers: call i dials the i-th, round.
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The caller's number.
    #[arg(long, default_value = "+972501234567")]
    pub from: String,
    /// A WAV file per caller turn, in order (any rate and channels;
    /// converted to 8 kHz mono mu-law).
    #[arg(long = "audio", required = true)]
    pub audio: Vec<PathBuf>,
    /// A WAV file of where the caller is (a café, a street), looped under
    /// the whole of the caller's line from the stream's first frame,
    /// greeting and pauses included.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Where to write what the caller heard (8 kHz mu-law WAV).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The Twilio auth token the instance validates signatures with.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: String,
    /// The base URL the instance believes it has, which Twilio signs
    /// (default: --url).
    #[arg(long = "public-url", env = "PUBLIC_BASE_URL")]
    pub public_url: Option<Url>,
    /// A fixed CallSid for a single call (default: a fresh CA…).
    #[arg(long)]
    pub call_sid: Option<String>,
    /// How many calls to make at once (load test).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub calls: u32,
    /// Delay between the starts of successive calls, ms (the arrival rate:
    /// 10 ms is 100 calls a second).
    #[arg(long, default_value_t = 50)]
    pub stagger_ms: u64,
    /// How long to wait for the greeting or a reply to start, ms.
    #[arg(long, default_value_t = 10_000)]
    pub wait_reply_ms: u64,
    /// Silence after which the agent has finished speaking, ms.
    #[arg(long, default_value_t = 700)]
    pub reply_quiet_ms: u64,
    /// Barge in: say the next turn this many ms after each reply starts.
    #[arg(long)]
    pub barge_in_ms: Option<u64>,
    /// Keep each call talking this many seconds from its stream's start,
    /// going round the --audio files (each waits for its reply), then hang
    /// up. Default: say each file once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_s: Option<u64>,
    /// When the agent transfers the call: whether the dialled human
    /// answers (and hears the whisper), or lets it ring (no-answer), or is
    /// busy; the last two leave a message instead.
    #[arg(long, default_value_t = HumanAnswer::Answers,
          value_parser = PossibleValuesParser::new(["answers", "no-answer", "busy"])
              .try_map(|s| s.parse::<HumanAnswer>()))]
    pub human: HumanAnswer,
}

/// A WAV file of any rate and channels, as 8 kHz mono mu-law.
fn read_mulaw(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let wav = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    voice::wav::to_mulaw_8k_mono(&wav)
        .with_context(|| format!("{} is not a usable WAV file", path.display()))
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut numbers = opts.to.into_iter();
    let to = numbers.next().unwrap_or_default();
    let mut sim = SimOptions::new(opts.url, to, opts.auth_token);
    sim.also_to = numbers.collect();
    sim.from = opts.from;
    sim.call_sid = opts.call_sid;
    sim.public_base_url = opts.public_url;
    sim.wait_reply_timeout = Duration::from_millis(opts.wait_reply_ms);
    sim.reply_quiet = Duration::from_millis(opts.reply_quiet_ms);
    sim.barge_in_after = opts.barge_in_ms.map(Duration::from_millis);
    sim.duration = opts.duration_s.map(Duration::from_secs);
    sim.human = opts.human;
    for path in &opts.audio {
        sim.utterances.push(read_mulaw(path)?);
    }
    if let Some(path) = &opts.background {
        sim.background = read_mulaw(path)?;
    }

    if opts.calls > 1 {
        // Many calls' audio would only fill memory; the counters are kept.
        sim.keep_heard = false;
        if opts.out.is_some() {
            eprintln!("note: --out is ignored with --calls > 1");
        }
        let calls = opts.calls as usize;
        let summary = simulate_many(&sim, calls, Duration::from_millis(opts.stagger_ms)).await;
        let mut line = serde_json::to_value(&summary)?;
        line["event"] = json!("summary");
        println!("{line}");
        if !summary.failures.is_empty() {
            bail!("{} of {calls} calls failed", summary.failures.len());
        }
        return Ok(());
    }

    let report = simulate_call(&sim).await?;
    for turn in &report.turns {
        let mut line = serde_json::to_value(turn)?;
        line["event"] = json!("turn");
        line["call_sid"] = json!(report.call_sid);
        println!("{line}");
    }
    let mut line = serde_json::to_value(&report)?;
    line["event"] = json!("call");
    println!("{line}");
    if let Some(out) = &opts.out {
        std::fs::write(out, voice::wav::write_mulaw_8k(&report.heard))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    verdict(&report)
}

/// Exit status: success for a streamed call whose every turn was answered
/// (the agent may end it, or transfer it), or a call the instance sent
/// straight to recording (streaming off).
fn verdict(report: &CallReport) -> anyhow::Result<()> {
    match report.mode {
        SimMode::Record => Ok(()),
        SimMode::RecordFallback => bail!("the instance closed the stream: failover to recording"),
        SimMode::Stream if report.server_closed && !report.ended_by_agent => {
            bail!("the instance closed the stream")
        }
        SimMode::Stream | SimMode::Transfer => {
            let unanswered = report
                .turns
                .iter()
                .filter(|t| t.caller_felt_ms.is_none())
                .count();
            if unanswered > 0 {
                bail!("{unanswered} caller turn(s) got no reply");
            }
            Ok(())
        }
    }
}
