//! Prometheus metrics, with the names and labels of `helm/contract.json`: HTTP requests by route,
//! method and status with a latency histogram; prompt fetches by source and cache hits; runs
//! uploaded; provider calls, tokens and cost by provider and model (fed by uploaded runs, since
//! the server makes no model calls of its own yet). Rendered as Prometheus text, no dependency.
//!
//! Every label value comes from a fixed set, so no client can grow the page and no tenant's names
//! reach it: routes are the route table's templates, methods the standard ones, providers the
//! provider kinds and models the built-in price table's families; anything else is `other`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use crate::config::ProviderKind;
use crate::provider::pricing::PriceTable;
use crate::store::ResultRecord;

/// The label value every unknown method, provider or model collapses to.
pub const OTHER: &str = "other";

/// The methods counted under their own name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

type Labels = Vec<(&'static str, String)>;

/// Every metric the server exposes.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
    fetches_cache: AtomicU64,
    fetches_store: AtomicU64,
    runs_uploaded: AtomicU64,
    provider: Mutex<BTreeMap<(String, String), ProviderTotals>>,
    gateway: Mutex<GatewayTotals>,
}

/// The gateway series' `prompt` label of a call through a managed prompt (empty otherwise).
pub const MANAGED_PROMPT: &str = "managed";

#[derive(Debug, Default)]
struct GatewayTotals {
    requests: BTreeMap<(String, String, String), u64>,
    latency: BTreeMap<String, Histogram>,
    ttft: BTreeMap<String, Histogram>,
    cost: BTreeMap<String, i64>,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (count, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default, Clone)]
struct ProviderTotals {
    ok: u64,
    error: u64,
    input: u64,
    output: u64,
    cached: u64,
    cost: i64,
}

/// The model calls of one uploaded run by provider and model, summed before the run is stored
/// (the store takes the results) and counted once it is.
#[derive(Debug, Default)]
pub struct RunUsage(BTreeMap<(String, String), ProviderTotals>);

impl RunUsage {
    /// Sums `results`, whose units index `providers` (named `id` or `id:model`).
    pub fn of(providers: &[String], results: &[ResultRecord]) -> Self {
        let mut totals: BTreeMap<(String, String), ProviderTotals> = BTreeMap::new();
        for result in results {
            let named = providers.get(result.unit.provider as usize).map_or("unknown", String::as_str);
            let (provider, model) = named.split_once(':').unwrap_or((named, ""));
            let entry = totals.entry((provider.to_owned(), model.to_owned())).or_default();
            if result.error.is_some() {
                entry.error += 1;
            } else {
                entry.ok += 1;
            }
            entry.input += result.input_tokens;
            entry.output += result.output_tokens;
            if result.cached {
                entry.cached += result.input_tokens;
            }
            entry.cost += result.cost.0;
        }
        Self(totals)
    }
}

/// Where a prompt fetch was answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchSource {
    /// The in-memory cache.
    Cache,
    /// The database.
    Store,
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = METHODS.into_iter().find(|m| *m == method).unwrap_or(OTHER);
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_owned(), method.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut durations) = self.durations.lock() {
            durations.entry((route.to_owned(), method.to_owned())).or_default().observe(elapsed.as_secs_f64());
        }
    }

    /// Counts one gateway request from its trace.
    pub fn gateway_request(&self, trace: &crate::store::TraceRecord) {
        // The model a client asks for and a managed prompt's name are a tenant's words: count
        // them like the provider series, by built-in model family, and only whether a prompt was used.
        let (_, model) = bounded("", &trace.model);
        let prompt = if trace.prompt.is_some() { MANAGED_PROMPT } else { "" }.to_owned();
        let Ok(mut totals) = self.gateway.lock() else { return };
        *totals.requests.entry((trace.status.clone(), model.clone(), prompt)).or_default() += 1;
        totals.latency.entry(model.clone()).or_default().observe(trace.latency_ms as f64 / 1000.0);
        if let Some(ttft) = trace.ttft_ms {
            totals.ttft.entry(model.clone()).or_default().observe(ttft as f64 / 1000.0);
        }
        *totals.cost.entry(model).or_default() += trace.cost.0;
    }

    /// Counts one prompt fetch.
    pub fn prompt_fetch(&self, source: FetchSource) {
        let counter = match source {
            FetchSource::Cache => &self.fetches_cache,
            FetchSource::Store => &self.fetches_store,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an uploaded run and the model calls its results made.
    pub fn run_uploaded(&self, usage: RunUsage) {
        self.runs_uploaded.fetch_add(1, Ordering::Relaxed);
        let Ok(mut totals) = self.provider.lock() else { return };
        for ((provider, model), add) in usage.0 {
            let entry = totals.entry(bounded(&provider, &model)).or_default();
            entry.ok += add.ok;
            entry.error += add.error;
            entry.input += add.input;
            entry.output += add.output;
            entry.cached += add.cached;
            entry.cost += add.cost;
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(&mut out, "promptops_build_info", "gauge", "Build information.");
        sample(&mut out, "promptops_build_info", &vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1);
        self.render_http(&mut out);
        header(
            &mut out,
            "promptops_prompt_fetches_total",
            "counter",
            "Prompt fetches by label, by where they were answered from.",
        );
        let cache_hits = self.fetches_cache.load(Ordering::Relaxed);
        sample(&mut out, "promptops_prompt_fetches_total", &vec![("source", "cache".to_owned())], cache_hits);
        let store = self.fetches_store.load(Ordering::Relaxed);
        sample(&mut out, "promptops_prompt_fetches_total", &vec![("source", "store".to_owned())], store);
        header(&mut out, "promptops_prompt_cache_hits_total", "counter", "Prompt fetches answered from memory.");
        sample(&mut out, "promptops_prompt_cache_hits_total", &Vec::new(), cache_hits);
        header(&mut out, "promptops_runs_uploaded_total", "counter", "Eval runs uploaded.");
        sample(&mut out, "promptops_runs_uploaded_total", &Vec::new(), self.runs_uploaded.load(Ordering::Relaxed));
        self.render_provider(&mut out);
        self.render_gateway(&mut out);
        header(&mut out, "promptops_budget_spent_microdollars", "gauge", "Spend in the current budget period.");
        header(&mut out, "promptops_budget_limit_microdollars", "gauge", "Budget limit of the period.");
        out
    }

    fn render_http(&self, out: &mut String) {
        header(out, "promptops_http_requests_total", "counter", "HTTP requests by route, method and status.");
        if let Ok(requests) = self.requests.lock() {
            for ((route, method, status), count) in requests.iter() {
                let labels = vec![("route", route.clone()), ("method", method.clone()), ("status", status.to_string())];
                sample(out, "promptops_http_requests_total", &labels, *count);
            }
        }
        let name = "promptops_http_request_duration_seconds";
        header(out, name, "histogram", "HTTP request latency by route and method.");
        if let Ok(durations) = self.durations.lock() {
            for ((route, method), histogram) in durations.iter() {
                render_histogram(out, name, &vec![("route", route.clone()), ("method", method.clone())], histogram);
            }
        }
    }

    fn render_gateway(&self, out: &mut String) {
        let Ok(totals) = self.gateway.lock() else { return };
        let name = "promptops_gateway_requests_total";
        header(out, name, "counter", "Gateway requests by status, model and prompt.");
        for ((status, model, prompt), count) in &totals.requests {
            let labels = vec![("status", status.clone()), ("model", model.clone()), ("prompt", prompt.clone())];
            sample(out, name, &labels, *count);
        }
        for (name, help, series) in [
            ("promptops_gateway_request_duration_seconds", "Gateway request latency by model.", &totals.latency),
            (
                "promptops_gateway_time_to_first_token_seconds",
                "Time to the first streamed token by model.",
                &totals.ttft,
            ),
        ] {
            header(out, name, "histogram", help);
            for (model, histogram) in series {
                render_histogram(out, name, &vec![("model", model.clone())], histogram);
            }
        }
        let name = "promptops_gateway_cost_microdollars_total";
        header(out, name, "counter", "Gateway spend in micro-dollars by model.");
        for (model, cost) in &totals.cost {
            let _ = writeln!(out, "{name}{} {cost}", format_labels(&vec![("model", model.clone())]));
        }
    }

    fn render_provider(&self, out: &mut String) {
        let totals = self.provider.lock().map(|t| t.clone()).unwrap_or_default();
        header(out, "promptops_provider_calls_total", "counter", "Model calls by provider, model and outcome.");
        for ((provider, model), t) in &totals {
            for (outcome, count) in [("ok", t.ok), ("error", t.error)] {
                let labels =
                    vec![("provider", provider.clone()), ("model", model.clone()), ("outcome", outcome.to_owned())];
                sample(out, "promptops_provider_calls_total", &labels, count);
            }
        }
        header(out, "promptops_provider_tokens_total", "counter", "Tokens by provider, model and kind.");
        for ((provider, model), t) in &totals {
            for (kind, count) in [("input", t.input), ("output", t.output), ("cached", t.cached)] {
                let labels = vec![("provider", provider.clone()), ("model", model.clone()), ("kind", kind.to_owned())];
                sample(out, "promptops_provider_tokens_total", &labels, count);
            }
        }
        header(
            out,
            "promptops_provider_cost_microdollars_total",
            "counter",
            "Cost in micro-dollars by provider and model.",
        );
        for ((provider, model), t) in &totals {
            let labels = vec![("provider", provider.clone()), ("model", model.clone())];
            let _ = writeln!(out, "promptops_provider_cost_microdollars_total{} {}", format_labels(&labels), t.cost);
        }
    }
}

/// The labels a provider and model are counted under: a provider kind (`openai`), else `other`;
/// the built-in price table's family of the model (`gpt-4o-mini` for `gpt-4o-mini-2024-07-18`),
/// else `other`, or nothing when no model was named. Custom provider ids and fine-tuned or
/// self-hosted model names are the tenants' own words, so they never become label values.
pub fn bounded(provider: &str, model: &str) -> (String, String) {
    let provider = ProviderKind::parse(provider).map_or(OTHER, ProviderKind::as_str);
    static PRICES: LazyLock<PriceTable> = LazyLock::new(PriceTable::built_in);
    let model = if model.is_empty() { "" } else { PRICES.family(model).unwrap_or(OTHER) };
    (provider.to_owned(), model.to_owned())
}

/// The gateway writer's losses: traces, settlements and usage rows the store refused (after
/// retries), and whether its last write failed.
pub fn render_writer_losses(out: &mut String, report: &crate::gateway::trace::LossReport) {
    let name = "promptops_gateway_lost_writes_total";
    header(out, name, "counter", "Gateway writes the store refused after retries, by kind.");
    for (kind, count) in [("trace", report.traces), ("settlement", report.settlements), ("usage", report.usage_rows)] {
        sample(out, name, &vec![("kind", kind.to_owned())], count);
    }
    let name = "promptops_gateway_writer_failing";
    header(out, name, "gauge", "1 while the store refuses the gateway's writes.");
    sample(out, name, &Vec::new(), u64::from(report.failing));
}

/// Server-side runs: units by state over every replica (`depth`, as the store counts them), and
/// this replica's workers.
pub fn render_runs(out: &mut String, depth: &[(String, u64)], workers: Option<crate::runs::worker::WorkerStats>) {
    let name = "promptops_run_units";
    header(out, name, "gauge", "Units of server-side runs waiting or running, over every replica.");
    for state in ["available", "running"] {
        let count = depth.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
        sample(out, name, &vec![("state", state.to_owned())], count);
    }
    let stats = workers.unwrap_or_default();
    header(out, "promptops_worker_slots", "gauge", "Units this replica's workers may run at once.");
    sample(out, "promptops_worker_slots", &Vec::new(), stats.slots);
    header(out, "promptops_worker_busy", "gauge", "Units this replica's workers run now.");
    sample(out, "promptops_worker_busy", &Vec::new(), stats.busy);
    for (name, help, value) in [
        ("promptops_run_units_claimed_total", "Units this replica claimed.", stats.claimed),
        ("promptops_run_units_completed_total", "Units whose results this replica wrote.", stats.completed),
        (
            "promptops_run_units_lost_total",
            "Units this replica lost to a rescue or a cancel before writing them.",
            stats.lost,
        ),
        ("promptops_run_units_rescued_total", "Expired units this replica gave back to the queue.", stats.rescued),
    ] {
        header(out, name, "counter", help);
        sample(out, name, &Vec::new(), value);
    }
    let name = "promptops_run_claim_seconds";
    header(out, name, "summary", "Time of this replica's claim statements.");
    let _ = writeln!(out, "{name}_sum {}", stats.claims.1 as f64 / 1e6);
    sample(out, &format!("{name}_count"), &Vec::new(), stats.claims.0);
}

fn render_histogram(out: &mut String, name: &str, base: &Labels, histogram: &Histogram) {
    for (count, bound) in histogram.counts.iter().zip(BUCKETS) {
        let mut labels = base.clone();
        labels.push(("le", bound.to_string()));
        sample(out, &format!("{name}_bucket"), &labels, *count);
    }
    let mut labels = base.clone();
    labels.push(("le", "+Inf".to_owned()));
    sample(out, &format!("{name}_bucket"), &labels, histogram.count);
    let _ = writeln!(out, "{name}_sum{} {}", format_labels(base), histogram.sum);
    sample(out, &format!("{name}_count"), base, histogram.count);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &Labels, value: u64) {
    let _ = writeln!(out, "{name}{} {value}", format_labels(labels));
}

fn format_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", inner.join(","))
}
