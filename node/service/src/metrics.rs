//! Prometheus metrics and their HTTP endpoint.
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    block_height: Family<Vec<(String, String)>, Gauge>,
    txpool_ready: Gauge,
    txpool_future: Gauge,
    block_execution: Histogram,
    transactions_applied: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("menara");
        let block_height = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "block_height",
            "Block height by status (best, finalized)",
            block_height.clone(),
        );
        let txpool_ready = Gauge::default();
        registry.register(
            "txpool_ready",
            "Transactions ready for the next block",
            txpool_ready.clone(),
        );
        let txpool_future = Gauge::default();
        registry.register(
            "txpool_future",
            "Transactions waiting for earlier nonces",
            txpool_future.clone(),
        );
        let block_execution = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "block_execution_seconds",
            "Time to build or import a block",
            block_execution.clone(),
        );
        let transactions_applied = Counter::default();
        registry.register(
            "transactions_applied",
            "Transactions included in blocks",
            transactions_applied.clone(),
        );
        Metrics {
            registry,
            block_height,
            txpool_ready,
            txpool_future,
            block_execution,
            transactions_applied,
        }
    }

    /// Records the best and finalized heights.
    pub fn set_heights(&self, best: u64, finalized: u64) {
        self.block_height
            .get_or_create(&vec![("status".into(), "best".into())])
            .set(best as i64);
        self.block_height
            .get_or_create(&vec![("status".into(), "finalized".into())])
            .set(finalized as i64);
    }

    /// Records the pool's size.
    pub fn set_pool(&self, ready: usize, future: usize) {
        self.txpool_ready.set(ready as i64);
        self.txpool_future.set(future as i64);
    }

    /// Records one block's execution time and transaction count.
    pub fn observe_block(&self, seconds: f64, transactions: u64) {
        self.block_execution.observe(seconds);
        self.transactions_applied.inc_by(transactions);
    }

    /// Transactions included so far.
    pub fn transactions_applied(&self) -> u64 {
        self.transactions_applied.get()
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let response = if req.uri().path() == "/metrics" {
                        Response::builder()
                            .header(
                                "content-type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .body(Full::new(Bytes::from(metrics.encode())))
                    } else {
                        Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found; try /metrics\n")))
                    };
                    response.map_err(|e| e.to_string())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
