//! Starting and stopping: ports, URLs, shutdown, and the blocking stub for non-async tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use promptops_test_support::stub::{Fault, SHUTDOWN_GRACE, Stub, StubConfig};

use crate::{client, openai_body};

#[tokio::test]
async fn each_stub_gets_its_own_loopback_port() {
    let first = Stub::start(StubConfig::new().reply("first")).await;
    let second = Stub::start(StubConfig::new().reply("second")).await;
    assert_ne!(first.addr().port(), second.addr().port());
    assert!(first.addr().ip().is_loopback());
    assert_eq!(first.url(), format!("http://127.0.0.1:{}", first.addr().port()));
    assert_eq!(first.openai_base(), format!("{}/v1", first.url()));
}

#[tokio::test]
async fn shutdown_stops_accepting_connections() {
    let stub = Stub::start(StubConfig::new()).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    assert_eq!(client().post(&url).json(&openai_body("x")).send().await.expect("sent").status(), 200);
    stub.shutdown().await;
    let result = client().post(&url).json(&openai_body("x")).send().await;
    assert!(result.is_err_and(|error| error.is_connect()));
}

#[tokio::test]
async fn a_handle_keeps_working_after_moving_into_a_task() {
    let stub = Stub::start(StubConfig::new()).await;
    let handle = stub.handle();
    let url = stub.openai_base();
    let task = tokio::spawn(async move {
        client().post(format!("{url}/chat/completions")).json(&openai_body("x")).send().await.expect("sent");
        handle.request_count()
    });
    assert_eq!(task.await.expect("task"), 1);
}

/// A plain HTTP/1.1 exchange on a std socket: what a non-async test (or another process) does.
fn post_blocking(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout set");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("written");
    let mut response = Vec::new();
    // A connection the server drops mid-request ends the read early; what arrived is the answer.
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn blocking_stub_serves_plain_tests_and_stops_on_drop() {
    let stub = Stub::start_blocking(StubConfig::new().reply("from a thread"));
    let addr = stub.addr();
    let body = openai_body("hi").to_string();
    let response = post_blocking(addr, "/v1/chat/completions", &body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("from a thread"));
    stub.reconfigure(|config| config.reply("changed"));
    assert!(post_blocking(addr, "/v1/chat/completions", &body).contains("changed"));
    assert_eq!(stub.requests().len(), 2);
    drop(stub);
    assert!(TcpStream::connect(addr).is_err(), "the port is closed after drop");
}

#[test]
fn dropping_a_blocking_stub_does_not_wait_out_a_slow_request() {
    let stub = Stub::start_blocking(StubConfig::new().fault(Fault::Slow(Duration::from_secs(30))));
    let addr = stub.addr();
    let body = openai_body("hi").to_string();
    let client = std::thread::spawn(move || post_blocking(addr, "/v1/chat/completions", &body));
    let deadline = Instant::now() + Duration::from_secs(5);
    while stub.in_flight() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(stub.in_flight(), 1);
    let dropping = Instant::now();
    drop(stub);
    assert!(dropping.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(1), "{:?}", dropping.elapsed());
    let response = client.join().expect("client thread");
    assert!(!response.contains("200 OK"), "the slow request was cut off: {response}");
}
