//! The deploy check ("golden path", MISSION §13): drives a running instance
//! the way Twilio, an operator and a caller would, and reports eight ✅/❌
//! lines.
//!
//! It touches only its own business (found or created through the admin
//! API by its dedicated phone number), so real businesses' settings are
//! never changed; the payment flags it toggles are put back to off.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use twilio::twiml::Element;
use url::Url;

/// The eight checks, in the order and with the names of MISSION §13.9.
pub const CHECKS: [&str; 8] = [
    "healthz",
    "readyz",
    "stream->action",
    "fallback record",
    "whisper pipeline",
    "payments flags (PP/TZ)",
    "no-legacy-imports",
    "turn_metrics logged (< 2500ms avg)",
];

/// Phone number of the business the check uses (never a real one).
pub const CHECK_PHONE: &str = "+97230000999";
const CHECK_NAME: &str = "AgentLocator deploy check";
/// Hebrew speech the simulated caller says in check 8.
const CALLER_WAV: &[u8] = include_bytes!("../../crates/voice/tests/fixtures/shalom.wav");

pub struct Options {
    pub base_url: Url,
    /// The instance's `PUBLIC_BASE_URL` (what Twilio signs); `base_url` when unset.
    pub public_url: Option<Url>,
    pub twilio_token: String,
    pub api_token: Option<String>,
    /// A source checkout to audit; when absent, the build's own record is used.
    pub source: Option<std::path::PathBuf>,
}

/// One check's outcome.
pub struct Outcome {
    pub name: &'static str,
    pub result: Result<String, String>,
}

impl Outcome {
    /// `✅ name` or `❌ name — why`.
    pub fn line(&self) -> String {
        match &self.result {
            Ok(_) => format!("✅ {}", self.name),
            Err(why) => format!("❌ {} — {why}", self.name),
        }
    }
}

struct Check {
    opts: Options,
    http: reqwest::Client,
    public: Url,
    business_id: Option<i64>,
    call_sid: String,
}

/// Runs every check; never stops at the first failure.
pub async fn run(opts: Options) -> Vec<Outcome> {
    let public = opts
        .public_url
        .clone()
        .unwrap_or_else(|| opts.base_url.clone());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut check = Check {
        opts,
        http,
        public,
        business_id: None,
        call_sid: fresh_sid("CA"),
    };
    let mut out = Vec::new();
    let mut record = |i: usize, r: anyhow::Result<String>| {
        out.push(Outcome {
            name: CHECKS[i],
            result: r.map_err(|e| format!("{e:#}")),
        })
    };
    record(0, check.healthz().await);
    record(1, check.readyz().await);
    let business = check.ensure_business().await;
    if let Err(e) = &business {
        tracing::warn!("check business unavailable: {e:#}");
    }
    record(2, check.stream_action().await);
    record(3, check.fallback_record().await);
    record(4, check.whisper_pipeline().await);
    record(5, check.payments().await);
    record(6, check.no_legacy_imports());
    record(7, check.turn_metrics().await);
    out
}

fn fresh_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl Check {
    fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.opts.base_url.as_str().trim_end_matches('/')
        )
    }

    async fn healthz(&self) -> anyhow::Result<String> {
        let res = self.http.get(self.url("/healthz")).send().await?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if status != 200 || body.trim() != "ok" {
            bail!("got {status} {body:?}");
        }
        Ok("200 ok".into())
    }

    async fn readyz(&self) -> anyhow::Result<String> {
        let res = self.http.get(self.url("/readyz")).send().await?;
        if res.status() != 200 {
            bail!("got {}", res.status());
        }
        let v: Value = res.json().await.context("not JSON")?;
        let ok = |x: &Value, allowed: &[&str]| x.as_str().is_some_and(|s| allowed.contains(&s));
        if !ok(&v["db"], &["ok", "fail"])
            || !ok(&v["openai"], &["ok", "disabled"])
            || !ok(&v["tts"], &["ok", "disabled"])
            || !ok(&v["payments"]["paypal"], &["enabled", "disabled"])
            || !ok(&v["payments"]["tranzila"], &["enabled", "disabled"])
        {
            bail!("unexpected shape {v}");
        }
        if v["db"] != "ok" {
            bail!("db: fail");
        }
        Ok(v.to_string())
    }

    fn api_token(&self) -> anyhow::Result<&str> {
        self.opts
            .api_token
            .as_deref()
            .ok_or_else(|| anyhow!("no admin API token (--api-token or DEPLOY_CHECK_API_TOKEN)"))
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.api_token()?);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// Finds the check business by its phone number, or creates it; makes
    /// sure streaming and the fallback are on and payments start off.
    async fn ensure_business(&mut self) -> anyhow::Result<i64> {
        let (status, list) = self
            .api(reqwest::Method::GET, "/api/admin/businesses", None)
            .await?;
        if status != 200 {
            bail!("admin API answered {status}");
        }
        let items = list.get("items").unwrap_or(&list);
        let existing = items
            .as_array()
            .and_then(|a| a.iter().find(|b| b["phone_number"] == CHECK_PHONE))
            .and_then(|b| b["id"].as_i64());
        let id = match existing {
            Some(id) => id,
            None => {
                let (status, created) = self
                    .api(
                        reqwest::Method::POST,
                        "/api/admin/businesses",
                        Some(json!({"name": CHECK_NAME, "phone_number": CHECK_PHONE})),
                    )
                    .await?;
                if !(200..300).contains(&status) {
                    bail!("creating the check business answered {status}: {created}");
                }
                created["id"]
                    .as_i64()
                    .ok_or_else(|| anyhow!("no id in {created}"))?
            }
        };
        self.set_flags(
            id,
            json!({"active": true, "enable_calls_stream": true,
            "enable_recording_fallback": true, "enable_payments_paypal": false,
            "enable_payments_tranzila": false}),
        )
        .await?;
        self.business_id = Some(id);
        Ok(id)
    }

    async fn set_flags(&self, id: i64, flags: Value) -> anyhow::Result<()> {
        let (status, body) = self
            .api(
                reqwest::Method::PATCH,
                &format!("/api/admin/businesses/{id}"),
                Some(flags),
            )
            .await?;
        if status != 200 {
            bail!("updating the check business answered {status}: {body}");
        }
        Ok(())
    }

    /// POSTs a webhook signed as Twilio would sign it.
    async fn webhook(
        &self,
        path: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(u16, String, Duration)> {
        let mut params: Vec<(String, String)> = [
            ("CallSid", self.call_sid.as_str()),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", "+972501234567"),
            ("To", CHECK_PHONE),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        for (k, v) in extra {
            match params.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = (*v).to_string(),
                None => params.push(((*k).to_string(), (*v).to_string())),
            }
        }
        let signed_url = format!("{}{path}", self.public.as_str().trim_end_matches('/'));
        let signature = twilio::signature::compute(&self.opts.twilio_token, &signed_url, &params);
        let started = Instant::now();
        let res = self
            .http
            .post(self.url(path))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await?;
        let took = started.elapsed();
        let status = res.status().as_u16();
        Ok((status, res.text().await.unwrap_or_default(), took))
    }

    async fn stream_action(&self) -> anyhow::Result<String> {
        let (status, body, _) = self
            .webhook("/webhook/incoming_call", &[("CallStatus", "ringing")])
            .await?;
        if status != 200 {
            bail!("incoming_call answered {status}");
        }
        let twiml = twilio::twiml::read(&body).ok();
        let connect = find_element(&twiml, "Connect").ok_or_else(|| anyhow!("no <Connect>"))?;
        if connect.attr("action") != Some("/webhook/stream_ended") {
            bail!("<Connect> action is not /webhook/stream_ended");
        }
        let stream = find_element(&twiml, "Stream").ok_or_else(|| anyhow!("no <Stream>"))?;
        let url = stream.attr("url").unwrap_or_default();
        if !url.starts_with("wss://") && !url.starts_with("ws://") {
            bail!("stream url {url:?} is not a WebSocket URL");
        }
        Ok(url.to_owned())
    }

    async fn fallback_record(&self) -> anyhow::Result<String> {
        let (status, body, _) = self.webhook("/webhook/stream_ended", &[]).await?;
        if status != 200 {
            bail!("stream_ended answered {status}");
        }
        let twiml = twilio::twiml::read(&body).ok();
        let record = find_element(&twiml, "Record").ok_or_else(|| anyhow!("no <Record>"))?;
        if record.attr("action") != Some("/webhook/handle_recording") {
            bail!("<Record> action is not /webhook/handle_recording");
        }
        Ok("record".into())
    }

    async fn whisper_pipeline(&self) -> anyhow::Result<String> {
        let recording = format!(
            "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/{}",
            fresh_sid("RE")
        );
        let (status, _, took) = self
            .webhook(
                "/webhook/handle_recording",
                &[("RecordingUrl", &recording), ("RecordingDuration", "3")],
            )
            .await?;
        if status != 200 && status != 204 {
            bail!("handle_recording answered {status}");
        }
        if took > Duration::from_secs(2) {
            bail!("answered in {} ms, over Twilio's budget", took.as_millis());
        }
        Ok(format!("{status} in {} ms; job queued", took.as_millis()))
    }

    async fn payments(&self) -> anyhow::Result<String> {
        let id = self
            .business_id
            .ok_or_else(|| anyhow!("no check business (admin API token needed)"))?;
        let mut seen = Vec::new();
        for (provider, flag) in [
            ("paypal", "enable_payments_paypal"),
            ("tranzila", "enable_payments_tranzila"),
        ] {
            let path = format!("/api/crm/payments/create?business_id={id}");
            let body = json!({"amount_agorot": 100, "currency": "ILS", "provider": provider,
                              "description": "deploy check"});
            let pay = || self.api(reqwest::Method::POST, &path, Some(body.clone()));
            self.set_flags(id, json!({ flag: false })).await?;
            let (off, _) = pay().await?;
            self.set_flags(id, json!({ flag: true })).await?;
            let on = pay().await;
            // Always put the flag back, whatever the answer was.
            self.set_flags(id, json!({ flag: false })).await?;
            let (on, body) = on?;
            if off != 403 && off != 501 {
                bail!("{provider} with the flag off answered {off}, not 403/501");
            }
            match on {
                501 if body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()) => {}
                200 if body["status"] == "stub_ready" => {}
                other => bail!("{provider} with the flag on answered {other}: {body}"),
            }
            seen.push(format!("{provider} {off}/{on}"));
        }
        Ok(seen.join(", "))
    }

    fn no_legacy_imports(&self) -> anyhow::Result<String> {
        let source = self
            .opts
            .source
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .filter(|dir| is_checkout(dir));
        match source {
            Some(dir) => {
                let found = super::import_audit::scan_tree(&dir);
                if let Some(first) = found.first() {
                    bail!("{} in the source tree, e.g. {first}", found.len());
                }
                Ok(format!("source tree scanned at {}", dir.display()))
            }
            None => match super::import_audit::build_record() {
                0 => Ok("no checkout here; the build's own record says none".into()),
                n => bail!("the build recorded {n} legacy imports"),
            },
        }
    }

    async fn turn_metrics(&self) -> anyhow::Result<String> {
        let id = self
            .business_id
            .ok_or_else(|| anyhow!("no check business (admin API token needed)"))?;
        let mut opts = callsim::SimOptions::new(
            self.opts.base_url.clone(),
            CHECK_PHONE,
            self.opts.twilio_token.clone(),
        );
        opts.public_base_url = Some(self.public.clone());
        opts.utterances =
            vec![voice::wav::to_mulaw_8k_mono(CALLER_WAV).map_err(|e| anyhow!("{e}"))?];
        opts.keep_heard = false;
        let report = callsim::simulate_call(&opts)
            .await
            .map_err(|e| anyhow!("simulated call failed: {e}"))?;
        if report.mode != callsim::SimMode::Stream {
            bail!("the call did not stream ({:?})", report.mode);
        }
        // The server's own turn_metrics, as stored with the call.
        let mut totals = Vec::new();
        for _ in 0..30 {
            totals = self.stored_turn_totals(id, &report.call_sid).await?;
            if !totals.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if totals.is_empty() {
            bail!("no turn recorded for {}", report.call_sid);
        }
        let avg = totals.iter().sum::<f64>() / totals.len() as f64;
        if avg >= 2500.0 {
            bail!("average t_total_ms {avg:.0} ms");
        }
        Ok(format!(
            "{} turn(s), average t_total_ms {avg:.0} ms",
            totals.len()
        ))
    }

    async fn stored_turn_totals(
        &self,
        business_id: i64,
        call_sid: &str,
    ) -> anyhow::Result<Vec<f64>> {
        let (_, list) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/crm/calls?business_id={business_id}&limit=50"),
                None,
            )
            .await?;
        let Some(call_id) = list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["call_sid"] == call_sid))
            .and_then(|c| c["id"].as_i64())
        else {
            return Ok(Vec::new());
        };
        let (_, detail) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/crm/calls/{call_id}?business_id={business_id}"),
                None,
            )
            .await?;
        Ok(detail["turns"]
            .as_array()
            .map(|turns| {
                turns
                    .iter()
                    .filter_map(|t| t["t_total_ms"].as_f64())
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn is_checkout(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("src").is_dir()
}

/// The first element named `name` in a document, if it was TwiML at all: an
/// answer that is not TwiML reads as one without the element.
fn find_element<'a>(twiml: &'a Option<Element>, name: &str) -> Option<&'a Element> {
    twiml.as_ref()?.find(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_and_attributes_are_read_from_twiml() {
        let xml = r#"<?xml version="1.0"?><Response><Connect action="/webhook/stream_ended"><Stream url="wss://h/ws/twilio-media"/></Connect></Response>"#;
        let twiml = twilio::twiml::read(xml).ok();
        let connect = find_element(&twiml, "Connect").unwrap();
        assert_eq!(connect.attr("action"), Some("/webhook/stream_ended"));
        let stream = find_element(&twiml, "Stream").unwrap();
        assert_eq!(stream.attr("url"), Some("wss://h/ws/twilio-media"));
        assert!(find_element(&twiml, "Record").is_none());
    }

    #[test]
    fn a_failed_check_says_why_on_its_line() {
        let ok = Outcome {
            name: CHECKS[0],
            result: Ok("fine".into()),
        };
        let bad = Outcome {
            name: CHECKS[5],
            result: Err("paypal with the flag off answered 200".into()),
        };
        assert_eq!(ok.line(), "✅ healthz");
        assert_eq!(
            bad.line(),
            "❌ payments flags (PP/TZ) — paypal with the flag off answered 200"
        );
    }
}
