//! `agentlocator fake-providers`: serve fake OpenAI-compatible and Google
//! TTS APIs with fixed latencies, and Twilio's Messages API (printing each
//! owner's message), so a whole call runs offline. Prints the environment
//! that points an instance at them. The work lives in `callsim::fake`.

use std::path::PathBuf;

use anyhow::Context as _;
use callsim::FakeLatencies;

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// Port to listen on (0: any free port, printed).
    #[arg(long)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Transcription latency, ms.
    #[arg(long, default_value_t = 300)]
    pub stt_ms: u64,
    /// Chat latency to the first token, ms.
    #[arg(long, default_value_t = 300)]
    pub llm_ttft_ms: u64,
    /// Chat tokens per second after the first.
    #[arg(long, default_value_t = 30.0)]
    pub llm_tokens_per_s: f64,
    /// Synthesis latency, ms.
    #[arg(long, default_value_t = 150)]
    pub tts_ms: u64,
    /// Of every this many transcription requests, the first stalls for
    /// `--stall-ms` (0: none): a provider's stuck requests.
    #[arg(long, default_value_t = 0)]
    pub stt_stall_every: u64,
    /// The same for live chat requests: the first token comes after
    /// `--stall-ms` (a call's outcome is never stalled).
    #[arg(long, default_value_t = 0)]
    pub llm_stall_every: u64,
    /// The same for syntheses.
    #[arg(long, default_value_t = 0)]
    pub tts_stall_every: u64,
    /// How long a stalled request takes, ms.
    #[arg(long, default_value_t = 10_000)]
    pub stall_ms: u64,
    /// What the model says at every turn (default: a receptionist's
    /// answers, one per turn of the conversation). A benchmark beside a
    /// peer gives both fake models the same words.
    #[arg(long)]
    pub answer: Option<String>,
    /// Write a Google service-account file whose token_uri is this fake.
    #[arg(long)]
    pub write_credentials: Option<PathBuf>,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port))
        .await
        .with_context(|| format!("binding {}:{}", opts.host, opts.port))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    if let Some(path) = &opts.write_credentials {
        let token_uri = format!("{base}/token");
        let path = path.clone();
        let written = path.clone();
        // RSA key generation is a burst of CPU: off the runtime's threads.
        tokio::task::spawn_blocking(move || callsim::write_google_credentials(&path, &token_uri))
            .await?
            .with_context(|| format!("writing {}", written.display()))?;
    }
    println!("OPENAI_BASE_URL={base}/v1");
    println!("OPENAI_API_KEY=sk-fake");
    println!("GOOGLE_TTS_BASE_URL={base}");
    if let Some(path) = &opts.write_credentials {
        println!("GOOGLE_APPLICATION_CREDENTIALS={}", path.display());
    }
    // The fake takes any account SID and token and signs delivery updates
    // with the token it was sent, so these only need to look like Twilio's.
    println!("TWILIO_API_BASE_URL={base}");
    println!("TWILIO_ACCOUNT_SID=AC0000000000000000000000000000fake");
    println!("TWILIO_AUTH_TOKEN=local-token");
    let lat = FakeLatencies {
        stt_ms: opts.stt_ms,
        llm_ttft_ms: opts.llm_ttft_ms,
        llm_tokens_per_s: opts.llm_tokens_per_s,
        tts_ms: opts.tts_ms,
        stt_stall_every: opts.stt_stall_every,
        llm_stall_every: opts.llm_stall_every,
        tts_stall_every: opts.tts_stall_every,
        stall_ms: opts.stall_ms,
    };
    let script = callsim::fake::Script {
        answer: opts.answer,
        ..Default::default()
    };
    callsim::fake::serve_scripted(listener, lat, script)
        .await
        .context("serving the fake providers")
}
